/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The monotonic clock, for intervals (idle time, progress, rates). */
#ifndef CKFS_BASE_CLOCK_H
#define CKFS_BASE_CLOCK_H

#include <stdint.h>

/* ckfs_now_ns() - CLOCK_MONOTONIC in nanoseconds. */
int64_t ckfs_now_ns(void);

#endif /* CKFS_BASE_CLOCK_H */
