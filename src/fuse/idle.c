/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The idle thread (see idle.h).  It sleeps on a condition variable for a
 * quarter of the timeout (at least 100 ms, at most 5 s), so an archive is
 * closed between one timeout and one timeout plus two ticks after its last
 * use: one tick to ask the kernel to forget its inodes, one to free it once
 * forgotten.  It holds no lock of its own while it notifies, and blocks
 * every signal, which are for the session loop's thread.
 *
 * The kernel drops a notified entry from its hash even when the directory
 * is in use (a process's cwd), and getcwd() there then fails with ENOENT.
 * So the entry is looked up again at once, through the mount: a directory
 * still in use is put back in place (the kernel moves its one alias), and
 * one that is not costs a cached dentry.  An archive's directory needs no
 * open archive, so this reopens nothing.
 */
#include "fuse/idle.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/clock.h"

#define NS_PER_S    1000000000LL
#define TICK_MIN_NS (NS_PER_S / 10)
#define TICK_MAX_NS (5 * NS_PER_S)
#define JOIN_WAIT_S 5 /* for a thread stuck in a notification */

struct ckfs_idle {
	struct fuse_session *se;
	struct ckfs_multi *m;
	char *mountpoint;
	int64_t idle_ns;
	int64_t tick_ns;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC */
	bool stop;	     /* under lock; also read atomically */
	pthread_t thread;
};

/* A stopped loop answers no request the kernel may be waiting on. */
static bool stopping(struct ckfs_idle *idle)
{
	return __atomic_load_n(&idle->stop, __ATOMIC_ACQUIRE) ||
	       fuse_session_exited(idle->se);
}

/* Ask the kernel to drop the root's entry @name and all below it. */
static void inval(void *arg, const char *name)
{
	struct ckfs_idle *idle = arg;
	char *path;
	struct stat st;

	if (stopping(idle))
		return;
	/* -ENOENT: not cached (any more); anything else: tried next time */
	if (fuse_lowlevel_notify_inval_entry(idle->se, FUSE_ROOT_ID, name,
					     strlen(name)) != 0)
		return;
	/* by path: an fd of the mount's own would keep it busy */
	if (stopping(idle) ||
	    asprintf(&path, "%s/%s", idle->mountpoint, name) < 0)
		return;
	(void)lstat(path, &st);
	free(path);
}

static void *run(void *arg)
{
	struct ckfs_idle *idle = arg;

	pthread_mutex_lock(&idle->lock);
	while (!idle->stop) {
		int64_t until = ckfs_now_ns() + idle->tick_ns;
		struct timespec ts = {
			.tv_sec = until / NS_PER_S,
			.tv_nsec = until % NS_PER_S,
		};

		while (!idle->stop &&
		       pthread_cond_timedwait(&idle->cond, &idle->lock, &ts) !=
			       ETIMEDOUT)
			;
		if (idle->stop)
			break;
		pthread_mutex_unlock(&idle->lock);
		ckfs_multi_idle(idle->m, ckfs_now_ns(), idle->idle_ns, inval,
				idle);
		pthread_mutex_lock(&idle->lock);
	}
	pthread_mutex_unlock(&idle->lock);
	return NULL;
}

int ckfs_idle_start(struct fuse_session *se, struct ckfs_multi *m,
		    const char *mountpoint, unsigned timeout_s,
		    struct ckfs_idle **out)
{
	struct ckfs_idle *idle = calloc(1, sizeof(*idle));
	pthread_condattr_t ca;
	sigset_t all, old;
	int r;

	*out = NULL;
	if (!idle || !(idle->mountpoint = strdup(mountpoint))) {
		free(idle);
		return -ENOMEM;
	}
	idle->se = se;
	idle->m = m;
	idle->idle_ns = (int64_t)timeout_s * NS_PER_S;
	idle->tick_ns = idle->idle_ns / 4;
	if (idle->tick_ns < TICK_MIN_NS)
		idle->tick_ns = TICK_MIN_NS;
	if (idle->tick_ns > TICK_MAX_NS)
		idle->tick_ns = TICK_MAX_NS;
	pthread_mutex_init(&idle->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&idle->cond, &ca);
	pthread_condattr_destroy(&ca);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&idle->thread, NULL, run, idle);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		pthread_cond_destroy(&idle->cond);
		pthread_mutex_destroy(&idle->lock);
		free(idle->mountpoint);
		free(idle);
		return r;
	}
	*out = idle;
	return 0;
}

void ckfs_idle_stop(struct ckfs_idle *idle)
{
	if (!idle)
		return;
	pthread_mutex_lock(&idle->lock);
	__atomic_store_n(&idle->stop, true, __ATOMIC_RELEASE);
	pthread_cond_signal(&idle->cond);
	pthread_mutex_unlock(&idle->lock);
}

bool ckfs_idle_join(struct ckfs_idle *idle)
{
	struct timespec until;

	if (!idle)
		return true;
	ckfs_idle_stop(idle);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += JOIN_WAIT_S;
	if (pthread_timedjoin_np(idle->thread, NULL, &until) != 0)
		return false; /* stuck in the kernel: left to the exit */
	pthread_cond_destroy(&idle->cond);
	pthread_mutex_destroy(&idle->lock);
	free(idle->mountpoint);
	free(idle);
	return true;
}
