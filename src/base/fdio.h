/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading a file at an offset, whole. */
#ifndef CKFS_BASE_FDIO_H
#define CKFS_BASE_FDIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * ckfs_pread_full() - read @len bytes of @fd at @off, going on after a
 * short read or EINTR.  Returns how many were read: @len, or fewer where
 * the file ends; or -errno.
 */
ssize_t ckfs_pread_full(int fd, void *buf, size_t len, uint64_t off);

#endif /* CKFS_BASE_FDIO_H */
