/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Cleanup attributes and ownership hand-off.  A local that owns memory or
 * an fd is declared with _cleanup_free_ / _cleanup_close_ and handed out
 * with steal_ptr() / steal_fd().
 */
#ifndef CKFS_BASE_MEM_H
#define CKFS_BASE_MEM_H

#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(ckfs_freep)
#define _cleanup_close_ _cleanup_(ckfs_closep)

static inline void ckfs_freep(void *p)
{
	free(*(void **)p);
}

static inline void ckfs_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void *ckfs_steal_ptr(void *pp)
{
	void **p = pp;
	void *v = *p;

	*p = NULL;
	return v;
}
#define steal_ptr(pp) ckfs_steal_ptr(pp)

static inline int steal_fd(int *fd)
{
	int v = *fd;

	*fd = -1;
	return v;
}

#define CKFS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif /* CKFS_BASE_MEM_H */
