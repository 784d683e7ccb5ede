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
/* one maps line of @v named @name ("" for none), kernel layout */
void ckfs_render_maps_line(const struct ckfs_vma *v, const char *name,
			   struct ckfs_sb *out);

/*
 * memviews.c: the memory files of proc/<pid>/ (mem, vma/, smaps, pagemap,
 * memmap, mem.hexdump, auxv), added by pid_populate; and the top-level
 * `memory` table.  With ckfs_tree_opts()->strict_mem, mem has /proc
 * semantics (direct I/O, size 0, EIO outside mappings, no SEEK_DATA).
 */
int ckfs_memviews_add(struct ckfs_tree *t, struct ckfs_node *dir);
extern const struct ckfs_node_ops ckfs_memory_ops;

/*
 * core.c: proc/<pid>/core, an ELF64 core file streamed from the model.
 * Its size is 0 for a zombie; stat and read fail with EIO when no core
 * can be written (see ckfs_core_check()).
 */
extern const struct ckfs_node_ops ckfs_core_ops;
/*
 * ckfs_core_check() - whether @p's core can be written: 0, -ENOENT for a
 * zombie (an empty core), -EIO for a broken unit or a refusal (32-bit or
 * non-x86_64 task, a thread without registers), in which case a one-line
 * reason is put in @why (@len bytes; "" for a broken unit, whose reason is
 * ckfs_proc_error()).  Thread-safe.
 */
int ckfs_core_check(struct ckfs_proc *p, char *why, size_t len);

/* images.c: images/, each CRIU image as `crit decode --pretty` prints it */
extern const struct ckfs_node_ops ckfs_images_ops;

/* meta.c: JSON */
int ckfs_render_meta_top(struct ckfs_ckpt *ck, struct ckfs_sb *out);
int ckfs_render_meta_proc(struct ckfs_proc *p, struct ckfs_sb *out);

#endif /* CKFS_VFS_VIEWS_I_H */
