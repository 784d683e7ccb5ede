/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private to vfs/: the per-task views of task.c (limits, stat, regs, ns/,
 * cgroup, mountinfo), net.c (net/) and saved.c (saved/), hooked into the
 * directories views.c makes.
 */
#ifndef CKFS_VFS_TASK_I_H
#define CKFS_VFS_TASK_I_H

#include "base/strbuf.h"
#include "vfs/tree.h"

struct json_object;

#define CKFS_MODE_DIR	 (S_IFDIR | 0555)
#define CKFS_MODE_FILE	 (S_IFREG | 0444)
#define CKFS_MODE_SECRET (S_IFREG | 0400)
#define CKFS_MODE_LINK	 (S_IFLNK | 0777)

/*
 * ckfs_task_populate_pid() - (populate only) add to proc/<pid>/: limits,
 * stat, ns/, net/, saved/, and cgroup and mountinfo where the checkpoint
 * has them.  Returns 0 or -ENOMEM.
 */
int ckfs_task_populate_pid(struct ckfs_tree *t, struct ckfs_node *dir);

/* The same for proc/<pid>/task/<tid>/ (dir->arg = tid): regs, stat, cgroup. */
int ckfs_task_populate_tid(struct ckfs_tree *t, struct ckfs_node *dir);

/* net.c: the ops of proc/<pid>/net/ */
extern const struct ckfs_node_ops ckfs_net_dir_ops;

/* saved.c: the ops of proc/<pid>/saved/ */
extern const struct ckfs_node_ops ckfs_saved_dir_ops;

/*
 * ckfs_meta_saved() - the "saved" list of proc/<pid>/metadata.json: one
 * object per saved/ file {name, kind, fd, path, size, ...}.  A new json
 * array (empty when nothing was saved or the unit is broken).
 */
struct json_object *ckfs_meta_saved(struct ckfs_proc *p);

#endif /* CKFS_VFS_TASK_I_H */
