/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The address-space reader (criu-format.md §3.3).  For an address, the VMA
 * and the pagemap run holding it are found by binary search; a PRESENT run
 * is served by pread from its pages image at the run's prefix-sum offset.
 * Shared anonymous and memfd mappings are served from the object's
 * pagemap-shmem-<id>.img at the mapping's object offset.  PE_PARENT runs
 * are looked up in the parent dumps (sources.c), and file-backed pages
 * the checkpoint lacks in the rootfs, if one was given.  Everything else
 * reads as zeros.  No per-page loop: each step
 * covers the largest range that has one source.  ckfs_proc_mem_segs()
 * walks the same steps but says where the bytes lie instead of reading
 * them.
 */
#include "model/model_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fdio.h"
#include "base/mem.h"

static uint64_t run_end(const struct ckfs_pm_run *r, uint64_t ps)
{
	return r->vaddr + r->npages * ps; /* checked at decode */
}

/*
 * The run containing @a, or NULL; *@next is the start of the first run
 * after @a (UINT64_MAX if none).
 */
static const struct ckfs_pm_run *find_run(const struct ckfs_pagemap *pm,
					  uint64_t ps, uint64_t a,
					  uint64_t *next)
{
	size_t lo = 0, hi = pm->n;

	while (lo < hi) { /* first run with vaddr > a */
		size_t mid = lo + (hi - lo) / 2;

		if (pm->runs[mid].vaddr <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	*next = lo < pm->n ? pm->runs[lo].vaddr : UINT64_MAX;
	if (lo > 0 && a < run_end(&pm->runs[lo - 1], ps))
		return &pm->runs[lo - 1];
	return NULL;
}

/* The VMA containing @a, or NULL with *@next = the next VMA's start. */
static const struct ckfs_vma *find_vma(const struct ckfs_mm *mm, uint64_t a,
				       uint64_t *next)
{
	size_t lo = 0, hi = mm->nvmas;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mm->vmas[mid].start <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	*next = lo < mm->nvmas ? mm->vmas[lo].start : UINT64_MAX;
	if (lo > 0 && a < mm->vmas[lo - 1].end)
		return &mm->vmas[lo - 1];
	return NULL;
}

/* ---- shared memory objects ---- */

void ckfs_shm_free_all(struct ckfs_ckpt *ck)
{
	size_t i;

	for (i = 0; i < ck->nshm; i++) {
		ckfs_pagemap_fini(&ck->shm[i]->pm);
		free(ck->shm[i]);
	}
	free(ck->shm);
	ck->shm = NULL;
	ck->nshm = ck->capshm = 0;
}

/* The shmem object id behind a shared VMA, or 0 if it has none. */
static uint32_t shm_id_of(struct ckfs_ckpt *ck, const struct ckfs_vma *v)
{
	if (v->status & CKFS_VMA_MEMFD) {
		const struct ckfs_files *fl = ckfs_ckpt_files(ck);
		const struct ckfs_file *f;
		size_t i;

		if (!fl || !(f = ckfs_files_find(fl, (uint32_t)v->shmid)))
			return 0;
		for (i = 0; i < ck->nmemfds; i++)
			if (ck->memfds[i].inode_id == f->inode_id)
				return ck->memfds[i].shmid;
		return 0;
	}
	if (v->status & (CKFS_VMA_ANON_SHARED | CKFS_VMA_SYSVIPC))
		return (uint32_t)v->shmid;
	return 0;
}

static int shm_get(struct ckfs_ckpt *ck, uint32_t id, uint64_t ps,
		   const struct ckfs_shm **out)
{
	struct ckfs_shm *s = NULL;
	size_t i;
	int r;

	pthread_mutex_lock(&ck->lock);
	for (i = 0; i < ck->nshm; i++)
		if (ck->shm[i]->key == id)
			s = ck->shm[i];
	if (!s) {
		struct ckfs_err err = { 0 };
		char name[CKFS_ARCHIVE_NAME_MAX];

		if (ck->nshm == ck->capshm) {
			size_t cap = ck->capshm ? ck->capshm * 2 : 8;
			struct ckfs_shm **n = reallocarray(ck->shm, cap,
							   sizeof(*n));

			if (!n) {
				pthread_mutex_unlock(&ck->lock);
				return -ENOMEM;
			}
			ck->shm = n;
			ck->capshm = cap;
		}
		s = calloc(1, sizeof(*s));
		if (!s) {
			pthread_mutex_unlock(&ck->lock);
			return -ENOMEM;
		}
		s->key = id;
		ck->shm[ck->nshm++] = s;
		snprintf(name, sizeof(name), "%spagemap-shmem-%u.img", ck->dir,
			 id);
		if (!ckfs_archive_find(ck->ar, name)) {
			s->u.state = 1; /* never dumped: all zeros */
		} else if (ckfs_img_read_pagemap(ck->ar, name, ps, &s->pm,
						 &err) < 0) {
			ckfs_unit_fail(&s->u, &err);
		} else {
			snprintf(name, sizeof(name), "%spages-%u.img", ck->dir,
				 s->pm.pages_id);
			s->pages = ckfs_archive_find(ck->ar, name);
			if (s->pm.pages_bytes &&
			    (!s->pages || s->pm.pages_bytes > s->pages->size)) {
				ckfs_err_set(&err, -EBADMSG,
					     "%s: its pages image %s is missing or short",
					     name, name);
				ckfs_unit_fail(&s->u, &err);
			} else {
				s->u.state = 1;
			}
		}
	}
	r = s->u.state;
	pthread_mutex_unlock(&ck->lock);
	if (r < 0)
		return r;
	*out = s;
	return 0;
}

/*
 * Read @len bytes at @a from pagemap @pm / @pages; bytes outside PRESENT
 * runs are zeros.  Returns the count handled (> 0) or -EIO.
 */
static ssize_t read_runs(struct ckfs_archive *ar, const struct ckfs_pagemap *pm,
			 const struct ckfs_member *pages, uint64_t ps,
			 char *buf, size_t len, uint64_t a)
{
	uint64_t next, n;
	const struct ckfs_pm_run *run = find_run(pm, ps, a, &next);

	if (!run) {
		n = next - a < len ? next - a : len;
		memset(buf, 0, n);
		return (ssize_t)n;
	}
	n = run_end(run, ps) - a;
	if (n > len)
		n = len;
	if (run->flags & CKFS_PE_PRESENT) {
		ssize_t got;

		if (!pages)
			return -EIO;
		got = ckfs_archive_pread(ar, pages, buf, n,
					 run->pages_off + (a - run->vaddr));
		if (got < 0 || (uint64_t)got != n)
			return -EIO;
	} else {
		memset(buf, 0, n); /* lazy, or in a parent image */
	}
	return (ssize_t)n;
}

/* ---- sources ---- */

/*
 * Fill @e for the bytes at @a (below @lim) from pagemap @pm, layer @depth
 * of image @fname: returns 1 when a run holds @a (PAGES, LAZY, or LOST;
 * PE_PARENT runs are followed down the parent chain), 0 when none does,
 * e->len then reaching the next run (at most @lim).
 */
static int pm_lookup(struct ckfs_ckpt *ck, const char *fname,
		     const struct ckfs_pagemap *pm,
		     const struct ckfs_member *pages, unsigned int depth,
		     uint64_t ps, uint64_t a, uint64_t lim,
		     struct ckfs_mem_ext *e)
{
	uint64_t next, end;
	const struct ckfs_pm_run *run = find_run(pm, ps, a, &next);
	struct ckfs_pm_layer l;

	if (!run) {
		e->len = (next < lim ? next : lim) - a;
		return 0;
	}
	end = run_end(run, ps);
	e->len = (end < lim ? end : lim) - a;
	e->depth = depth;
	if (run->flags & CKFS_PE_PRESENT) {
		e->src = pages ? CKFS_MEM_PAGES : CKFS_MEM_LOST;
		e->member = pages;
		e->off = run->pages_off + (a - run->vaddr);
		e->why = pages ? NULL : "the pages image is missing";
		return 1;
	}
	if (!(run->flags & CKFS_PE_PARENT)) {
		e->src = CKFS_MEM_LAZY; /* lazy-only: served by a page server */
		return 1;
	}
	e->src = CKFS_MEM_LOST;
	e->depth = depth + 1;
	if (ckfs_parent_layer(ck, fname, depth + 1, ps, &l, &e->why) < 0)
		return 1;
	if (!pm_lookup(ck, fname, l.pm, l.pages, depth + 1, ps, a,
		       a + e->len, e)) {
		e->src = CKFS_MEM_LOST;
		e->depth = depth + 1;
		e->why = "the parent dump does not hold the page";
	}
	return 1;
}

static bool file_backed(const struct ckfs_vma *v)
{
	return (v->status & (CKFS_VMA_FILE_PRIVATE | CKFS_VMA_FILE_SHARED)) &&
	       !(v->status & CKFS_VMA_MEMFD);
}

/* @e for [a, lim) of @v when the task's pagemap has nothing there. */
static int mapping_source(struct ckfs_proc *p, const struct ckfs_proc_mm *m,
			  const struct ckfs_vma *v, uint64_t a, uint64_t lim,
			  struct ckfs_mem_ext *e)
{
	uint64_t ps = m->page_size, size, eof;
	uint32_t id = shm_id_of(p->ck, v);
	char fname[64];
	int fd;

	e->len = lim - a;
	e->src = CKFS_MEM_ZERO;
	e->depth = 0;
	if (id) {
		const struct ckfs_shm *s;
		uint64_t obj = v->pgoff + (a - v->start);

		if (shm_get(p->ck, id, ps, &s) < 0)
			return -EIO;
		snprintf(fname, sizeof(fname), "pagemap-shmem-%u.img", id);
		e->shmem = pm_lookup(p->ck, fname, &s->pm, s->pages, 0, ps,
				     obj, obj + (lim - a), e) == 1;
		if (!e->shmem)
			e->src = CKFS_MEM_ZERO;
		return 0;
	}
	if (!file_backed(v))
		return 0;
	e->src = CKFS_MEM_NOFILE;
	if (ckfs_rootfs_file(p->ck, (uint32_t)v->shmid, &fd, &size,
			     &e->why) < 0)
		return 0;
	e->off = v->pgoff + (a - v->start);
	eof = size + (ps - size % ps) % ps; /* a partial last page is whole */
	if (e->off >= eof) {
		e->why = "past the end of the rootfs file";
		return 0;
	}
	if (eof - e->off < e->len)
		e->len = eof - e->off;
	e->src = CKFS_MEM_FILE;
	e->fd = fd;
	return 0;
}

static void ext_init(struct ckfs_mem_ext *e, uint64_t va)
{
	memset(e, 0, sizeof(*e));
	e->va = va;
	e->fd = -1;
}

int ckfs_proc_mem_extent(struct ckfs_proc *p, uint64_t va,
			 struct ckfs_mem_ext *e)
{
	const struct ckfs_proc_mm *m;
	const struct ckfs_vma *v;
	uint64_t next;
	char fname[32];
	int r = ckfs_proc_mm(p, &m);

	if (r < 0)
		return r == -ENOENT ? r : -EIO;
	ext_init(e, va);
	v = find_vma(&m->mm, va, &next);
	if (!v) {
		e->src = CKFS_MEM_UNMAPPED;
		e->len = next - va; /* UINT64_MAX - va after the last one */
		return 0;
	}
	e->vma = v;
	/* the task's own pages (COW copies included) win */
	snprintf(fname, sizeof(fname), "pagemap-%u.img", p->pst.pid);
	if (pm_lookup(p->ck, fname, &m->pm, m->pages, 0, m->page_size, va,
		      v->end, e))
		return 0;
	return mapping_source(p, m, v, va, va + e->len, e);
}

int ckfs_proc_pagemap_extent(struct ckfs_proc *p, uint64_t va,
			     struct ckfs_mem_ext *e)
{
	const struct ckfs_proc_mm *m;
	char fname[32];
	int r = ckfs_proc_mm(p, &m);

	if (r < 0)
		return r == -ENOENT ? r : -EIO;
	ext_init(e, va);
	snprintf(fname, sizeof(fname), "pagemap-%u.img", p->pst.pid);
	if (!pm_lookup(p->ck, fname, &m->pm, m->pages, 0, m->page_size, va,
		       UINT64_MAX, e))
		e->src = CKFS_MEM_ZERO;
	return 0;
}

ssize_t ckfs_mem_ext_read(struct ckfs_ckpt *ck, const struct ckfs_mem_ext *e,
			  void *vbuf, size_t len, uint64_t va)
{
	uint64_t at = e->off + (va - e->va);
	char *buf = vbuf;
	ssize_t got;

	switch (e->src) {
	case CKFS_MEM_PAGES:
		got = ckfs_archive_pread(ck->ar, e->member, buf, len, at);
		if (got < 0 || (size_t)got != len)
			return -EIO;
		break;
	case CKFS_MEM_FILE:
		got = ckfs_pread_full(e->fd, buf, len, at);
		if (got < 0)
			return -EIO;
		/* zeros past the file's end */
		memset(buf + got, 0, len - (size_t)got);
		break;
	case CKFS_MEM_LOST:
		return -EIO;
	default:
		memset(buf, 0, len);
		break;
	}
	return (ssize_t)len;
}

ssize_t ckfs_proc_mem_read(struct ckfs_proc *p, void *vbuf, size_t len,
			   uint64_t va)
{
	char *buf = vbuf;
	size_t done = 0;

	if (va > UINT64_MAX - len)
		len = (size_t)(UINT64_MAX - va);
	while (done < len) {
		struct ckfs_mem_ext e;
		uint64_t a = va + done;
		size_t n;
		ssize_t got;

		if (ckfs_proc_mem_extent(p, a, &e) < 0 || e.len == 0)
			return -EIO;
		n = e.len < len - done ? (size_t)e.len : len - done;
		got = ckfs_mem_ext_read(p->ck, &e, buf + done, n, a);
		if (got < 0)
			return got;
		done += n;
	}
	return (ssize_t)done;
}

int ckfs_proc_mem_segs(struct ckfs_proc *p, uint64_t va, uint64_t len,
		       struct ckfs_seg *seg, size_t *nseg)
{
	size_t cap = *nseg, k = 0;
	uint64_t done = 0;

	if (va > UINT64_MAX - len)
		return -ENOTSUP;
	while (done < len) {
		struct ckfs_mem_ext e;
		struct ckfs_seg s = { .fd = -1 };
		uint64_t a = va + done;
		int64_t r;

		if (ckfs_proc_mem_extent(p, a, &e) < 0 || e.len == 0)
			return -EIO;
		s.len = e.len < len - done ? e.len : len - done;
		switch (e.src) {
		case CKFS_MEM_PAGES:
			/* s.len: what it places, maybe less (a raw block) */
			r = ckfs_archive_locate(p->ck->ar, e.member,
						e.off + (a - e.va), s.len, &s);
			if (r < 0)
				return (int)r;
			break;
		case CKFS_MEM_FILE: /* zeros past the file's end */
		case CKFS_MEM_LOST:
			return -ENOTSUP;
		default:
			break;
		}
		done += s.len;
		if (k && seg[k - 1].fd == s.fd &&
		    (s.fd < 0 || seg[k - 1].off + seg[k - 1].len == s.off)) {
			seg[k - 1].len += s.len;
			continue;
		}
		if (k == cap)
			return -ENOTSUP;
		seg[k++] = s;
	}
	*nseg = k;
	return 0;
}

int ckfs_proc_mem_seek(struct ckfs_proc *p, uint64_t va, uint64_t end,
		       bool data, unsigned int srcs, uint64_t *out)
{
	while (va < end) {
		struct ckfs_mem_ext e;

		if (ckfs_proc_mem_extent(p, va, &e) < 0 || e.len == 0)
			return -EIO;
		if (!!(srcs & (1u << e.src)) == data) {
			*out = va;
			return 0;
		}
		va = e.len < end - va ? va + e.len : end;
	}
	*out = data ? UINT64_MAX : end;
	return 0;
}

int ckfs_proc_mem_next_data(struct ckfs_proc *p, uint64_t va, uint64_t *out)
{
	const struct ckfs_proc_mm *m;

	*out = UINT64_MAX;
	if (ckfs_proc_mm(p, &m) < 0)
		return -EIO;
	return ckfs_proc_mem_seek(p, va, m->mem_size, true, CKFS_MEM_DATA_SRCS,
				  out);
}

int ckfs_proc_mem_data_end(struct ckfs_proc *p, uint64_t va, uint64_t *out)
{
	const struct ckfs_proc_mm *m;

	*out = va;
	if (ckfs_proc_mm(p, &m) < 0)
		return -EIO;
	return ckfs_proc_mem_seek(p, va, m->mem_size, false,
				  CKFS_MEM_DATA_SRCS, out);
}

int ckfs_proc_mem_has_pages(struct ckfs_proc *p, uint64_t start,
			    uint64_t end)
{
	const struct ckfs_proc_mm *m;
	size_t lo = 0, hi;
	int r;

	r = ckfs_proc_mm(p, &m);
	if (r < 0)
		return r == -ENOENT ? r : -EIO;
	hi = m->pm.n;
	while (lo < hi) { /* the first run that ends after @start */
		size_t mid = lo + (hi - lo) / 2;

		if (run_end(&m->pm.runs[mid], m->page_size) <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < m->pm.n && m->pm.runs[lo].vaddr < end; lo++)
		if (m->pm.runs[lo].flags & CKFS_PE_PRESENT)
			return 1;
	return 0;
}

int ckfs_proc_mem_range(struct ckfs_proc *p, uint64_t start, uint64_t end,
			size_t max, char **out, size_t *len)
{
	_cleanup_free_ char *buf = NULL;
	size_t n;
	ssize_t got;

	*out = NULL;
	*len = 0;
	if (end <= start)
		return 0;
	n = end - start > max ? max : (size_t)(end - start);
	buf = malloc(n + 1);
	if (!buf)
		return -ENOMEM;
	got = ckfs_proc_mem_read(p, buf, n, start);
	if (got < 0)
		return (int)got;
	buf[n] = '\0';
	*out = steal_ptr(&buf);
	*len = n;
	return 0;
}

ssize_t ckfs_ckpt_shm_read(struct ckfs_ckpt *ck, uint32_t shmid,
			   uint64_t page_size, void *vbuf, size_t len,
			   uint64_t off)
{
	const struct ckfs_shm *s;
	char *buf = vbuf;
	size_t done = 0;

	if (off > UINT64_MAX - len)
		return -EINVAL;
	if (shm_get(ck, shmid, page_size, &s) < 0)
		return -EIO;
	while (done < len) {
		ssize_t n = read_runs(ck->ar, &s->pm, s->pages, page_size,
				      buf + done, len - done, off + done);

		if (n < 0)
			return n;
		done += (size_t)n;
	}
	return (ssize_t)done;
}
