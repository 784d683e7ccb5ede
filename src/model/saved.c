/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The saved unit of a process: for each fd, the contents CRIU kept (a
 * ghost file's bytes, a memfd's pages, a pipe's or fifo's buffer), then
 * the tmpfs mounts of its mount namespace.  Nothing is read here but the
 * images' records; the bytes are served later through ckfs_blob_read().
 */
#include "model/extra_i.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "image/image.h"

#define REMAP_GHOST_	1
#define REMAP_GHOST_BIT (1u << 31) /* old images mark ghosts in the id */
#define FSTYPE_TMPFS	5
#define NS_MNT		4

const char *ckfs_saved_kind_name(enum ckfs_saved_kind k)
{
	switch (k) {
	case CKFS_SAVED_GHOST:
		return "ghost";
	case CKFS_SAVED_MEMFD:
		return "memfd";
	case CKFS_SAVED_PIPE:
		return "pipe";
	case CKFS_SAVED_FIFO:
		return "fifo";
	case CKFS_SAVED_TMPFS:
		return "tmpfs";
	}
	return "?";
}

void ckfs_xsaved_fini(struct ckfs_proc_saved *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->items[i].name);
		free(s->items[i].path);
		ckfs_blob_fini(&s->items[i].blob);
	}
	free(s->items);
	memset(s, 0, sizeof(*s));
}

static int pipe_cmp(const void *a, const void *b)
{
	const struct ckfs_pipe_data *x = a, *y = b;

	if (x->pipe_id != y->pipe_id)
		return x->pipe_id < y->pipe_id ? -1 : 1;
	return x->src < y->src ? -1 : x->src > y->src; /* image order */
}

/* pipes-data.img and fifo-data.img, once (sorted by pipe_id); x->lock held. */
static int pipes_locked(struct ckfs_ckpt *ck, struct ckfs_xunits *x,
			struct ckfs_err *err)
{
	if (x->pipes_u.state == 0) {
		char name[CKFS_ARCHIVE_NAME_MAX];
		struct ckfs_err e = { 0 };
		int r;

		snprintf(name, sizeof(name), "%spipes-data.img", ck->dir);
		r = ckfs_img_read_pipe_data(ck->ar, name, CKFS_MAGIC_PIPES_DATA,
					    &x->pipes, &x->npipes, &e);
		if (r >= 0) {
			snprintf(name, sizeof(name), "%sfifo-data.img",
				 ck->dir);
			r = ckfs_img_read_pipe_data(ck->ar, name,
						    CKFS_MAGIC_FIFO_DATA,
						    &x->fifos, &x->nfifos, &e);
		}
		if (r < 0) {
			ckfs_unit_fail(&x->pipes_u, &e);
		} else {
			if (x->npipes)
				qsort(x->pipes, x->npipes, sizeof(*x->pipes),
				      pipe_cmp);
			if (x->nfifos)
				qsort(x->fifos, x->nfifos, sizeof(*x->fifos),
				      pipe_cmp);
			x->pipes_u.state = 1;
		}
	}
	if (x->pipes_u.state < 0)
		return ckfs_err_set(err, -EIO, "%s", x->pipes_u.msg);
	return 0;
}

/* A new item named @fmt; NULL on ENOMEM. */
static struct ckfs_saved *new_item(struct ckfs_proc_saved *s, size_t *cap,
				   enum ckfs_saved_kind kind, const char *path,
				   const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static struct ckfs_saved *new_item(struct ckfs_proc_saved *s, size_t *cap,
				   enum ckfs_saved_kind kind, const char *path,
				   const char *fmt, ...)
{
	struct ckfs_saved *it;
	va_list ap;
	int r;

	if (s->n == *cap) {
		size_t c = *cap ? *cap * 2 : 8;

		it = reallocarray(s->items, c, sizeof(*it));
		if (!it)
			return NULL;
		s->items = it;
		*cap = c;
	}
	it = &s->items[s->n];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	va_start(ap, fmt);
	r = vasprintf(&it->name, fmt, ap);
	va_end(ap);
	if (r < 0) {
		it->name = NULL;
		return NULL;
	}
	it->path = strdup(path ? path : "");
	if (!it->path) {
		free(it->name);
		return NULL;
	}
	s->n++;
	return it;
}

static int fd_item(struct ckfs_proc_saved *s, size_t *cap,
		   const struct ckfs_fd *fd, enum ckfs_saved_kind kind,
		   const char *path, struct ckfs_saved **out,
		   struct ckfs_err *err)
{
	*out = new_item(s, cap, kind, path, "%u", fd->fd);
	if (!*out)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	(*out)->has_fd = true;
	(*out)->fd = fd->fd;
	return 0;
}

static const struct ckfs_remap *ghost_of(const struct ckfs_ckpt *ck,
					 uint32_t id)
{
	size_t i;

	for (i = 0; i < ck->nremaps; i++)
		if (ck->remaps[i].orig_id == id &&
		    ck->remaps[i].remap_type == REMAP_GHOST_)
			return &ck->remaps[i];
	return NULL;
}

static int add_ghost(struct ckfs_ckpt *ck, struct ckfs_proc_saved *s,
		     size_t *cap, const struct ckfs_fd *fd,
		     const struct ckfs_remap *rm, struct ckfs_err *err)
{
	char name[CKFS_ARCHIVE_NAME_MAX];
	struct ckfs_err why = { 0 };
	struct ckfs_ghost g;
	struct ckfs_saved *it;
	int r;

	snprintf(name, sizeof(name), "%sghost-file-%x.img", ck->dir,
		 rm->remap_id & ~REMAP_GHOST_BIT);
	r = fd_item(s, cap, fd, CKFS_SAVED_GHOST, fd->file->name, &it, err);
	if (r < 0)
		return r;
	if (ckfs_img_read_ghost(ck->ar, name, &g, &why) < 0) {
		/* listed, and reads fail with the reason in metadata.json */
		it->blob.error = strdup(why.msg);
		return it->blob.error
			       ? 0
			       : ckfs_err_set(err, -ENOMEM, "out of memory");
	}
	it->mode = g.mode;
	it->mtime = (int64_t)g.mtime;
	it->blob.m = ckfs_archive_find(ck->ar, name);
	it->blob.size = g.size;
	it->blob.n = g.n;
	it->blob.ext = steal_ptr(&g.ext);
	ckfs_ghost_fini(&g);
	return 0;
}

static int add_memfd(struct ckfs_ckpt *ck, struct ckfs_proc_saved *s,
		     size_t *cap, const struct ckfs_fd *fd, uint64_t ps,
		     struct ckfs_err *err)
{
	const struct ckfs_memfd_inode *mi = NULL;
	_cleanup_free_ char *path = NULL;
	struct ckfs_saved *it;
	size_t i;
	int r;

	for (i = 0; i < ck->nmemfds; i++)
		if (ck->memfds[i].inode_id == fd->file->inode_id)
			mi = &ck->memfds[i];
	if (!mi)
		return 0;
	if (asprintf(&path, "%s%s",
		     mi->name && mi->name[0] == '/' ? "" : "/memfd:",
		     mi->name ? mi->name : "") < 0) {
		path = NULL;
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	}
	r = fd_item(s, cap, fd, CKFS_SAVED_MEMFD, path, &it, err);
	if (r < 0)
		return r;
	it->blob.shm = true;
	it->blob.shmid = mi->shmid;
	it->blob.size = mi->size;
	it->blob.page_size = ps;
	return 0;
}

static int add_pipe(struct ckfs_ckpt *ck, struct ckfs_xunits *x,
		    struct ckfs_proc_saved *s, size_t *cap,
		    const struct ckfs_fd *fd, struct ckfs_err *err)
{
	bool fifo = fd->type == CKFS_FD_FIFO;
	const struct ckfs_pipe_data *pd = fifo ? x->fifos : x->pipes;
	size_t n = fifo ? x->nfifos : x->npipes, i, lo = 0, hi = n;
	uint32_t id = (uint32_t)fd->file->ino;
	struct ckfs_saved *it;
	int r;

	while (lo < hi) { /* the pipe's first entry */
		size_t mid = lo + (hi - lo) / 2;

		if (pd[mid].pipe_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < n && pd[i].pipe_id == id; i++)
		if (pd[i].bytes)
			break;
	if (i == n || pd[i].pipe_id != id)
		return 0; /* empty, or nothing saved */
	r = fd_item(s, cap, fd, fifo ? CKFS_SAVED_FIFO : CKFS_SAVED_PIPE,
		    fd->target, &it, err);
	if (r < 0)
		return r;
	it->blob.m =
		ckfs_ckpt_member(ck, fifo ? "fifo-data.img" : "pipes-data.img");
	it->blob.size = pd[i].bytes;
	it->blob.ext = calloc(1, sizeof(*it->blob.ext));
	if (!it->blob.ext)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	it->blob.ext[0].len = pd[i].bytes;
	it->blob.ext[0].src = pd[i].src;
	it->blob.n = 1;
	return 0;
}

/*
 * pipes-data.img or fifo-data.img is broken: whether this pipe had data
 * is unknown, so it is listed with the reason and reads fail.
 */
static int broken_pipe(struct ckfs_proc_saved *s, size_t *cap,
		       const struct ckfs_fd *fd, struct ckfs_err *err)
{
	struct ckfs_saved *it;
	char *why = strdup(err->msg);
	int r;

	if (!why)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	r = fd_item(s, cap, fd,
		    fd->type == CKFS_FD_FIFO ? CKFS_SAVED_FIFO
					     : CKFS_SAVED_PIPE,
		    fd->target, &it, err);
	if (r < 0) {
		free(why);
		return r;
	}
	it->blob.error = why;
	return 0;
}

static bool is_tmpfs(const struct ckfs_mnt *m)
{
	return m->fstype == FSTYPE_TMPFS ||
	       (m->fsname && strcmp(m->fsname, "tmpfs") == 0);
}

struct tmpfs_cand {
	const struct ckfs_member *mb;
	const struct ckfs_mnt *m;
	int old_name; /* tmpfs-<mnt_id>, not tmpfs-dev-<dev> */
};

/* by member, then mount id: the first of each member is its first mount */
static int cand_cmp(const void *a, const void *b)
{
	const struct tmpfs_cand *x = a, *y = b;

	if (x->mb != y->mb)
		return (uintptr_t)x->mb < (uintptr_t)y->mb ? -1 : 1;
	return x->m->mnt_id < y->m->mnt_id ? -1 : x->m->mnt_id > y->m->mnt_id;
}

static int mnt_id_cmp(const void *a, const void *b)
{
	const struct ckfs_saved *x = a, *y = b;

	return x->mnt_id < y->mnt_id ? -1 : x->mnt_id > y->mnt_id;
}

/*
 * One item per tmpfs CRIU archived (tmpfs-dev-<dev>, or old tmpfs-<id>),
 * named after its first mount (bind mounts share one archive), by mount
 * id.
 */
static int add_tmpfs(struct ckfs_ckpt *ck, struct ckfs_xunits *x,
		     const struct ckfs_proc_files *pf,
		     struct ckfs_proc_saved *s, size_t *cap,
		     struct ckfs_err *err)
{
	_cleanup_free_ struct tmpfs_cand *c = NULL;
	const struct ckfs_xmnt *xm;
	size_t i, nc = 0, first = s->n;
	int r;

	if (!pf->ids.ns[NS_MNT])
		return 0;
	r = ckfs_xmnts_locked(ck, x, pf->ids.ns[NS_MNT], &xm);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return ckfs_err_set(err, -EIO, "%s", xm->u.msg);
	c = calloc(xm->n ? xm->n : 1, sizeof(*c));
	if (!c)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < xm->n; i++) {
		const struct ckfs_mnt *m = &xm->m[i];

		if (!is_tmpfs(m))
			continue;
		c[nc].m = m;
		c[nc].mb = ckfs_ckpt_member(ck, "tmpfs-dev-%u.tar.gz.img",
					    m->root_dev);
		if (!c[nc].mb) {
			c[nc].mb = ckfs_ckpt_member(ck, "tmpfs-%u.tar.gz.img",
						    m->mnt_id);
			c[nc].old_name = 1;
		}
		if (c[nc].mb)
			nc++;
	}
	qsort(c, nc, sizeof(*c), cand_cmp);
	for (i = 0; i < nc; i++) {
		const struct ckfs_mnt *m = c[i].m;
		struct ckfs_saved *it;

		if (i > 0 && c[i].mb == c[i - 1].mb)
			continue;
		it = c[i].old_name
			     ? new_item(s, cap, CKFS_SAVED_TMPFS, m->mountpoint,
					"tmpfs-%u.tar.gz", m->mnt_id)
			     : new_item(s, cap, CKFS_SAVED_TMPFS, m->mountpoint,
					"tmpfs-dev-%u.tar.gz", m->root_dev);
		if (!it)
			return ckfs_err_set(err, -ENOMEM, "out of memory");
		it->mnt_id = m->mnt_id;
		it->blob.m = c[i].mb;
		it->blob.size = c[i].mb->size;
		it->blob.ext = calloc(1, sizeof(*it->blob.ext));
		if (!it->blob.ext)
			return ckfs_err_set(err, -ENOMEM, "out of memory");
		it->blob.ext[0].len = c[i].mb->size;
		it->blob.n = 1;
	}
	if (s->n > first)
		qsort(s->items + first, s->n - first, sizeof(*s->items),
		      mnt_id_cmp);
	return 0;
}

static int build_saved(struct ckfs_ckpt *ck, struct ckfs_xunits *x,
		       const struct ckfs_proc_files *pf, uint64_t ps,
		       struct ckfs_proc_saved *s, struct ckfs_err *err)
{
	size_t i, cap = 0;
	int r = 0;

	for (i = 0; i < pf->nfds && r >= 0; i++) {
		const struct ckfs_fd *fd = &pf->fds[i];
		const struct ckfs_remap *rm;

		if (!fd->file)
			continue;
		switch (fd->type) {
		case CKFS_FD_REG:
			rm = ghost_of(ck, fd->file->id);
			if (rm)
				r = add_ghost(ck, s, &cap, fd, rm, err);
			break;
		case CKFS_FD_MEMFD:
			r = add_memfd(ck, s, &cap, fd, ps, err);
			break;
		case CKFS_FD_PIPE:
		case CKFS_FD_FIFO:
			if (pipes_locked(ck, x, err) < 0)
				r = broken_pipe(s, &cap, fd, err);
			else
				r = add_pipe(ck, x, s, &cap, fd, err);
			break;
		default:
			break;
		}
	}
	if (r >= 0)
		r = add_tmpfs(ck, x, pf, s, &cap, err);
	return r;
}

int ckfs_proc_saved(struct ckfs_proc *p, const struct ckfs_proc_saved **out)
{
	const struct ckfs_proc_files *pf;
	const struct ckfs_proc_mm *mm;
	struct ckfs_xunits *x;
	struct ckfs_xproc *xp;
	uint64_t ps = 4096;
	int r;

	r = ckfs_proc_files(p, &pf);
	if (r < 0)
		return r;
	if (ckfs_proc_mm(p, &mm) == 0)
		ps = mm->page_size;
	x = ckfs_xunits_get(p->ck);
	if (!x)
		return -ENOMEM;
	xp = ckfs_xproc_of(x, p);
	pthread_mutex_lock(&x->lock);
	if (xp->saved_u.state == 0) {
		struct ckfs_err err = { 0 };

		if (build_saved(p->ck, x, pf, ps, &xp->saved, &err) < 0) {
			ckfs_xsaved_fini(&xp->saved);
			ckfs_unit_fail(&xp->saved_u, &err);
		} else {
			xp->saved_u.state = 1;
		}
	}
	r = xp->saved_u.state;
	pthread_mutex_unlock(&x->lock);
	if (r < 0)
		return r;
	*out = &xp->saved;
	return 0;
}
