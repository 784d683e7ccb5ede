/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Closing the idle archives of a directory of archives (vfs/multi.h): a
 * thread of its own calls ckfs_multi_idle() a few times per timeout, and
 * asks the kernel, through the session, to drop the directory of an
 * archive whose inodes it still holds, so that they are forgotten and the
 * archive can be closed.  Never from a request handler: the kernel takes
 * the root directory's lock for such a notification, which a lookup in
 * the root may hold while it waits for its reply.  For the same reason the
 * thread is told to stop as soon as the session loop returns, and joined
 * only once the session is unmounted (which fails any request left).
 */
#ifndef CKFS_FUSE_IDLE_H
#define CKFS_FUSE_IDLE_H

#include <fuse_lowlevel.h>
#include <stdbool.h>

#include "vfs/multi.h"

struct ckfs_idle;

/*
 * ckfs_idle_start() - close the archives of @m idle for @timeout_s
 * seconds (> 0), notifying through @se, mounted at @mountpoint (an
 * absolute path); call it after any fork.  Returns 0, or -errno if the
 * thread cannot be started.
 */
int ckfs_idle_start(struct fuse_session *se, struct ckfs_multi *m,
		    const char *mountpoint, unsigned timeout_s,
		    struct ckfs_idle **out);

/* ckfs_idle_stop() - tell the thread to stop (it may still be running). */
void ckfs_idle_stop(struct ckfs_idle *idle);

/*
 * ckfs_idle_join() - stop the thread, wait for it and free it (before the
 * session and @m are freed); NULL is a no-op.  Returns false when the
 * thread is still blocked in a notification after a few seconds (a lookup
 * in the root pending when the loop ended can hold the lock the kernel
 * wants for it): then nothing is freed, and the caller should _exit(),
 * which ends the thread and the connection with it.
 */
bool ckfs_idle_join(struct ckfs_idle *idle);

#endif /* CKFS_FUSE_IDLE_H */
