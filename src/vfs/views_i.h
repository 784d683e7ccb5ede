/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Private to vfs/: renderers shared by the view tables in views.c. */
#ifndef CKFS_VFS_VIEWS_I_H
#define CKFS_VFS_VIEWS_I_H

#include "base/strbuf.h"
#include "vfs/tree.h"

/* Thread of a task/<tid>/ node (arg), or the process leader. */
static inline uint32_t ckfs_node_tid(const struct ckfs_node *n)
{
	return n->arg ? (uint32_t)n->arg : ckfs_proc_pstree(n->proc)->pid;
}

#define CKFS_ARGV_MAX (16u << 20)

/* render.c: /proc formats */
int ckfs_render_cmdline(struct ckfs_proc *p, struct ckfs_sb *out);
int ckfs_render_environ(struct ckfs_proc *p, struct ckfs_sb *out);
int ckfs_render_comm(struct ckfs_proc *p, uint32_t tid, struct ckfs_sb *out);
int ckfs_render_status(struct ckfs_proc *p, uint32_t tid, struct ckfs_sb *out);
int ckfs_render_maps(struct ckfs_proc *p, struct ckfs_sb *out);
int ckfs_render_fdinfo(const struct ckfs_fd *fd, struct ckfs_sb *out);
/* the name column of a maps line; malloc'ed, "" for none */
char *ckfs_vma_name(struct ckfs_proc *p, const struct ckfs_proc_mm *m,
		    const struct ckfs_vma *v);

/* meta.c: JSON */
int ckfs_render_meta_top(struct ckfs_ckpt *ck, struct ckfs_sb *out);
int ckfs_render_meta_proc(struct ckfs_proc *p, struct ckfs_sb *out);

#endif /* CKFS_VFS_VIEWS_I_H */
