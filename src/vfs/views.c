/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the tree holds: the ops table of every kind of node and the
 * populate function of every directory.
 *
 *   metadata.json  memory  archive/...  images/<image>.json
 *   proc/<pid>/{cmdline,environ,comm,status,maps,core,fd/,fdinfo/,cwd,
 *   root,exe,task/<tid>/{comm,status},metadata.json}, plus the memory
 *   files of memviews.c (mem, vma/, smaps, pagemap, ...)
 *   and of task.c, net.c, saved.c (limits, stat, ns/, net/, saved/,
 *   cgroup, mountinfo, task/<tid>/{regs,stat,cgroup})
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "vfs/task_i.h"
#include "vfs/engine_i.h"
#include "vfs/views_i.h"

#define MODE_DIR (S_IFDIR | 0555)
#define MODE_FILE (S_IFREG | 0444)
#define MODE_SECRET (S_IFREG | 0400) /* memory and environment */
#define MODE_LINK (S_IFLNK | 0777)

static struct ckfs_ckpt *ckpt_of(struct ckfs_tree *t)
{
	return ckfs_tree_ckpt(t);
}

/* ---- archive/ ---- */

static const struct ckfs_node_ops archive_dir_ops;
static const struct ckfs_node_ops archive_file_ops;
static const struct ckfs_node_ops archive_link_ops;
static const struct ckfs_node_ops archive_other_ops;

static int member_size(struct ckfs_node *n, uint64_t *size)
{
	*size = ((const struct ckfs_member *)n->ptr)->size;
	return 0;
}

static ssize_t member_read(struct ckfs_node *n, void *buf, size_t len,
			   uint64_t off)
{
	struct ckfs_archive *ar = (struct ckfs_archive *)(uintptr_t)n->arg;

	return ckfs_archive_pread(ar, n->ptr, buf, len, off);
}

static ssize_t member_segs(struct ckfs_node *n, struct ckfs_seg *seg,
			   size_t *nseg, size_t len, uint64_t off)
{
	struct ckfs_archive *ar = (struct ckfs_archive *)(uintptr_t)n->arg;
	const struct ckfs_member *m = n->ptr;
	size_t k = 0, done = 0;

	if (off >= m->size || len == 0) {
		*nseg = 0;
		return 0;
	}
	if (len > m->size - off)
		len = (size_t)(m->size - off);
	while (done < len) {
		int64_t r;

		if (k == *nseg)
			return -ENOTSUP; /* in too many pieces: copy it */
		r = ckfs_archive_locate(ar, m, off + done, len - done,
					&seg[k++]);
		if (r < 0)
			return (ssize_t)r;
		done += (size_t)r;
	}
	*nseg = k;
	return (ssize_t)len;
}

/*
 * A symlink whose target stays inside the archive is shown as it is; one
 * that would leave it (absolute, or too many '..') reads as EIO, so no
 * tool is led out of the evidence.
 */
static int member_link(struct ckfs_node *n, struct ckfs_sb *out)
{
	const struct ckfs_member *m = n->ptr;
	const char *p = m->link, *s;
	int depth = 0;

	for (s = m->name; *s; s++)
		depth += *s == '/';
	if (!p || p[0] == '/' || !p[0])
		return -EIO;
	while (*p) {
		const char *end = strchrnul(p, '/');

		if (end - p == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return -EIO;
		} else if (end - p > 0 && !(end - p == 1 && p[0] == '.')) {
			depth++;
		}
		p = *end ? end + 1 : end;
	}
	ckfs_sb_puts(out, m->link);
	return 0;
}

static ssize_t eio_read(struct ckfs_node *n, void *buf, size_t len,
			uint64_t off)
{
	return -EIO;
}

struct comp {
	char *name;
	const struct ckfs_member *m; /* NULL for an implicit directory */
};

static int comp_cmp(const void *a, const void *b)
{
	const struct comp *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return (x->m == NULL) - (y->m == NULL); /* explicit member first */
}

static int archive_populate(struct ckfs_tree *t, struct ckfs_node *dir)
{
	struct ckfs_archive *ar = ckfs_ckpt_archive(ckpt_of(t));
	const char *path = dir->data ? dir->data : "";
	size_t plen = strlen(path), lo = 0, hi = ckfs_archive_count(ar), i;
	_cleanup_free_ struct comp *c = NULL;
	size_t nc = 0, cap = 0;
	int r = 0;

	/* all names under "path/" are contiguous in the sorted index */
	while (plen && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *nm = ckfs_archive_member(ar, mid)->name;
		int cmp = strncmp(nm, path, plen);

		if (cmp < 0 || (cmp == 0 && nm[plen] < '/'))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < ckfs_archive_count(ar); i++) {
		const struct ckfs_member *m = ckfs_archive_member(ar, i);
		const char *rest, *slash;

		if (plen) {
			if (strncmp(m->name, path, plen) != 0 ||
			    m->name[plen] > '/')
				break;
			if (m->name[plen] != '/')
				continue; /* the directory's own entry */
			rest = m->name + plen + 1;
		} else {
			rest = m->name;
		}
		slash = strchr(rest, '/');
		if (nc == cap) {
			struct comp *n;

			cap = cap ? cap * 2 : 32;
			n = reallocarray(c, cap, sizeof(*c));
			if (!n) {
				r = -ENOMEM;
				goto out;
			}
			c = n;
		}
		c[nc].m = slash ? NULL : m;
		c[nc].name = slash ? strndup(rest, (size_t)(slash - rest)) :
				     strdup(rest);
		if (!c[nc].name) {
			r = -ENOMEM;
			goto out;
		}
		nc++;
	}
	if (nc)
		qsort(c, nc, sizeof(*c), comp_cmp);
	for (i = 0; i < nc; i++) {
		const struct ckfs_member *m = c[i].m;
		struct ckfs_node *n;

		if (i > 0 && strcmp(c[i].name, c[i - 1].name) == 0)
			continue;
		if (!m || m->type == CKFS_MEMBER_DIR) {
			n = ckfs_tree_add(t, dir, c[i].name, MODE_DIR,
					  &archive_dir_ops);
			if (n && asprintf(&n->data, "%s%s%s", path,
					  plen ? "/" : "", c[i].name) < 0)
				n->data = NULL;
			if (n && !n->data)
				n = NULL;
		} else if (m->type == CKFS_MEMBER_REG) {
			n = ckfs_tree_add(t, dir, c[i].name, MODE_FILE,
					  &archive_file_ops);
		} else if (m->type == CKFS_MEMBER_SYMLINK) {
			n = ckfs_tree_add(t, dir, c[i].name, MODE_LINK,
					  &archive_link_ops);
		} else {
			n = ckfs_tree_add(t, dir, c[i].name, MODE_FILE,
					  &archive_other_ops);
		}
		if (!n) {
			r = -ENOMEM;
			goto out;
		}
		n->ptr = m;
		n->arg = (uintptr_t)ar;
		if (m)
			n->mtime = m->mtime;
	}
out:
	for (i = 0; i < nc; i++)
		free(c[i].name);
	return r;
}

static const struct ckfs_node_ops archive_dir_ops = {
	.populate = archive_populate,
};
static const struct ckfs_node_ops archive_file_ops = {
	.size = member_size,
	.read = member_read,
	.segs = member_segs,
};
static const struct ckfs_node_ops archive_link_ops = {
	.render = member_link,
};
static int zero_size(struct ckfs_node *n, uint64_t *size)
{
	*size = 0;
	return 0;
}
static const struct ckfs_node_ops archive_other_ops = {
	.size = zero_size,
	.read = eio_read,
};

/* ---- proc/<pid>/ files ---- */

static int r_cmdline(struct ckfs_node *n, struct ckfs_sb *o)
{
	return ckfs_render_cmdline(n->proc, o);
}
static int r_environ(struct ckfs_node *n, struct ckfs_sb *o)
{
	return ckfs_render_environ(n->proc, o);
}
static int r_comm(struct ckfs_node *n, struct ckfs_sb *o)
{
	return ckfs_render_comm(n->proc, ckfs_node_tid(n), o);
}
static int r_status(struct ckfs_node *n, struct ckfs_sb *o)
{
	return ckfs_render_status(n->proc, ckfs_node_tid(n), o);
}
static int r_maps(struct ckfs_node *n, struct ckfs_sb *o)
{
	return ckfs_render_maps(n->proc, o);
}
static int r_meta(struct ckfs_node *n, struct ckfs_sb *o)
{
	return ckfs_render_meta_proc(n->proc, o);
}

static int r_link(struct ckfs_node *n, struct ckfs_sb *o)
{
	const struct ckfs_proc_files *pf;
	const char *s;
	int r = ckfs_proc_files(n->proc, &pf);

	if (r < 0)
		return r;
	s = n->arg == 0 ? pf->cwd : n->arg == 1 ? pf->root : pf->exe;
	if (!s)
		return -ENOENT;
	ckfs_sb_puts(o, s);
	return 0;
}

static int r_fd_link(struct ckfs_node *n, struct ckfs_sb *o)
{
	ckfs_sb_puts(o, ((const struct ckfs_fd *)n->ptr)->target);
	return 0;
}

static int r_fdinfo(struct ckfs_node *n, struct ckfs_sb *o)
{
	return ckfs_render_fdinfo(n->ptr, o);
}

static const struct ckfs_node_ops cmdline_ops = { .render = r_cmdline };
static const struct ckfs_node_ops environ_ops = { .render = r_environ };
static const struct ckfs_node_ops comm_ops = { .render = r_comm };
static const struct ckfs_node_ops status_ops = { .render = r_status };
static const struct ckfs_node_ops maps_ops = { .render = r_maps };
static const struct ckfs_node_ops pmeta_ops = { .render = r_meta };
static const struct ckfs_node_ops link_ops = { .render = r_link };
static const struct ckfs_node_ops fd_link_ops = { .render = r_fd_link };
static const struct ckfs_node_ops fdinfo_ops = { .render = r_fdinfo };

static int fd_populate(struct ckfs_tree *t, struct ckfs_node *dir)
{
	const struct ckfs_proc_files *pf;
	size_t i;
	int r = ckfs_proc_files(dir->proc, &pf);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	for (i = 0; i < pf->nfds; i++) {
		char name[16];
		struct ckfs_node *n;

		snprintf(name, sizeof(name), "%u", pf->fds[i].fd);
		n = ckfs_tree_add(t, dir, name, dir->arg ? MODE_FILE : MODE_LINK,
				  dir->arg ? &fdinfo_ops : &fd_link_ops);
		if (!n)
			return -ENOMEM;
		n->ptr = &pf->fds[i];
	}
	return 0;
}
static const struct ckfs_node_ops fd_dir_ops = { .populate = fd_populate };

struct entry {
	const char *name;
	mode_t mode;
	const struct ckfs_node_ops *ops;
	uint64_t arg;
};

static int add_entries(struct ckfs_tree *t, struct ckfs_node *dir,
		       const struct entry *e, size_t n, uint64_t tid)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct ckfs_node *c = ckfs_tree_add(t, dir, e[i].name,
						    e[i].mode, e[i].ops);

		if (!c)
			return -ENOMEM;
		c->arg = e[i].arg ? e[i].arg : tid;
	}
	return 0;
}

static int thread_populate(struct ckfs_tree *t, struct ckfs_node *dir)
{
	static const struct entry e[] = {
		{ "comm", MODE_FILE, &comm_ops, 0 },
		{ "status", MODE_FILE, &status_ops, 0 },
	};

	int r = add_entries(t, dir, e, CKFS_ARRAY_SIZE(e), dir->arg);

	return r < 0 ? r : ckfs_task_populate_tid(t, dir);
}
static const struct ckfs_node_ops thread_dir_ops = {
	.populate = thread_populate,
};

static int task_populate(struct ckfs_tree *t, struct ckfs_node *dir)
{
	const struct ckfs_pstree_ent *ps = ckfs_proc_pstree(dir->proc);
	size_t i;

	for (i = 0; i < ps->ntids; i++) {
		char name[16];
		struct ckfs_node *n;

		snprintf(name, sizeof(name), "%u", ps->tids[i]);
		n = ckfs_tree_add(t, dir, name, MODE_DIR, &thread_dir_ops);
		if (!n)
			return -ENOMEM;
		n->arg = ps->tids[i];
	}
	return 0;
}
static const struct ckfs_node_ops task_dir_ops = { .populate = task_populate };

/* arg of cwd/root/exe: 0/1/2; of fd/ and fdinfo/: 0/1 */
static int pid_populate(struct ckfs_tree *t, struct ckfs_node *dir)
{
	static const struct entry e[] = {
		{ "cmdline", MODE_FILE, &cmdline_ops, 0 },
		{ "comm", MODE_FILE, &comm_ops, 0 },
		{ "core", MODE_SECRET, &ckfs_core_ops, 0 },
		{ "cwd", MODE_LINK, &link_ops, 0 },
		{ "environ", MODE_SECRET, &environ_ops, 0 },
		{ "exe", MODE_LINK, &link_ops, 2 },
		{ "fd", MODE_DIR, &fd_dir_ops, 0 },
		{ "fdinfo", MODE_DIR, &fd_dir_ops, 1 },
		{ "maps", MODE_FILE, &maps_ops, 0 },
		{ "metadata.json", MODE_FILE, &pmeta_ops, 0 },
		{ "root", MODE_LINK, &link_ops, 1 },
		{ "status", MODE_FILE, &status_ops, 0 },
		{ "task", MODE_DIR, &task_dir_ops, 0 },
	};
	int r = add_entries(t, dir, e, CKFS_ARRAY_SIZE(e), 0);

	if (r >= 0)
		r = ckfs_task_populate_pid(t, dir);
	return r < 0 ? r : ckfs_memviews_add(t, dir);
}
static const struct ckfs_node_ops pid_dir_ops = { .populate = pid_populate };

static int proc_populate(struct ckfs_tree *t, struct ckfs_node *dir)
{
	struct ckfs_ckpt *ck = ckpt_of(t);
	size_t i;

	for (i = 0; i < ckfs_ckpt_nprocs(ck); i++) {
		struct ckfs_proc *p = ckfs_ckpt_proc(ck, i);
		struct ckfs_node *n;
		char name[16];

		snprintf(name, sizeof(name), "%u", ckfs_proc_pstree(p)->pid);
		n = ckfs_tree_add(t, dir, name, MODE_DIR, &pid_dir_ops);
		if (!n)
			return -ENOMEM;
		n->proc = p;
	}
	return 0;
}
static const struct ckfs_node_ops proc_dir_ops = { .populate = proc_populate };

/* ---- / ---- */

static int r_meta_top(struct ckfs_node *n, struct ckfs_sb *o)
{
	return ckfs_render_meta_top((struct ckfs_ckpt *)n->ptr, o);
}
static const struct ckfs_node_ops meta_top_ops = { .render = r_meta_top };

static int root_populate(struct ckfs_tree *t, struct ckfs_node *dir)
{
	struct ckfs_node *n;

	n = ckfs_tree_add(t, dir, "metadata.json", MODE_FILE, &meta_top_ops);
	if (!n)
		return -ENOMEM;
	n->ptr = ckpt_of(t);
	n = ckfs_tree_add(t, dir, "info", MODE_FILE, &ckfs_info_ops);
	if (!n)
		return -ENOMEM;
	n->ptr = ckpt_of(t);
	if (ckfs_rootfs_diff_add(t, dir) < 0) /* engine_i.h */
		return -ENOMEM;
	if (!ckfs_tree_add(t, dir, "archive", MODE_DIR, &archive_dir_ops))
		return -ENOMEM;
	if (!ckfs_tree_add(t, dir, "images", MODE_DIR, &ckfs_images_ops))
		return -ENOMEM;
	if (!ckfs_tree_add(t, dir, "proc", MODE_DIR, &proc_dir_ops))
		return -ENOMEM;
	n = ckfs_tree_add(t, dir, "memory", MODE_FILE, &ckfs_memory_ops);
	if (!n)
		return -ENOMEM;
	n->ptr = ckpt_of(t);
	return 0;
}

const struct ckfs_node_ops ckfs_root_ops = { .populate = root_populate };
