/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A task's surroundings: its mount table (when CRIU dumped the mount
 * namespace), its cgroup set, and the length of its seccomp filter
 * chain.  Lazy, cached, thread-safe, pointers valid until
 * ckfs_ckpt_free(), like model.h.
 */
#ifndef CKFS_MODEL_TASK_H
#define CKFS_MODEL_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include "image/task.h"
#include "model/model.h"

/*
 * ckfs_proc_has_mounts() - whether mountpoints-<mnt_ns_id>.img exists
 * for @p; only the member is looked up (and @p's files unit loaded).
 */
bool ckfs_proc_has_mounts(struct ckfs_proc *p);

/*
 * ckfs_proc_mounts() - @p's mount table in image order.  Returns 0,
 * -ENOENT when the mount namespace was not dumped (or @p is a zombie),
 * -EIO when the image cannot be decoded.
 */
int ckfs_proc_mounts(struct ckfs_proc *p, const struct ckfs_mnt **out,
		     size_t *n);

/*
 * ckfs_proc_cg_set() - the cgroup set of thread @tid.  Returns 0, -ENOENT
 * when cgroup.img or the set is missing (the task was in CRIU's own
 * cgroups), -EIO when an image cannot be decoded.
 */
int ckfs_proc_cg_set(struct ckfs_proc *p, uint32_t tid,
		     const struct ckfs_cg_set **out);

/*
 * ckfs_proc_seccomp_filters() - how many seccomp filters apply to thread
 * @tid (0 without a filter).  Returns 0 or -EIO.
 */
int ckfs_proc_seccomp_filters(struct ckfs_proc *p, uint32_t tid, uint32_t *out);

#endif /* CKFS_MODEL_TASK_H */
