/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The address-space reader (criu-format.md §3.3).  For an address, the VMA
 * and the pagemap run holding it are found by binary search; a PRESENT run
 * is served by pread from its pages image at the run's prefix-sum offset.
 * Shared anonymous and memfd mappings are served from the object's
 * pagemap-shmem-<id>.img at the mapping's object offset.  Everything the
 * checkpoint does not hold reads as zeros.  No per-page loop: each step
 * covers the largest range that has one source.
 */
#include "model/model_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

/* PE_PARENT runs (incremental dumps) are read as zeros for now. */

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

ssize_t ckfs_proc_mem_read(struct ckfs_proc *p, void *vbuf, size_t len,
			   uint64_t va)
{
	const struct ckfs_proc_mm *m;
	char *buf = vbuf;
	size_t done = 0;
	int r;

	r = ckfs_proc_mm(p, &m);
	if (r < 0)
		return -EIO;
	if (va > UINT64_MAX - len)
		len = (size_t)(UINT64_MAX - va);
	while (done < len) {
		uint64_t a = va + done, next, lim;
		size_t want = len - done;
		const struct ckfs_vma *v = find_vma(&m->mm, a, &next);
		uint64_t rnext;
		const struct ckfs_pm_run *run;
		ssize_t n;

		if (!v) {
			lim = next - a < want ? next - a : want;
			memset(buf + done, 0, lim);
			done += lim;
			continue;
		}
		lim = v->end - a < want ? v->end - a : want;
		run = find_run(&m->pm, m->page_size, a, &rnext);
		if (run || !shm_id_of(p->ck, v)) {
			/* the task's own pages (COW copies included) win */
			n = read_runs(p->ck->ar, &m->pm, m->pages,
				      m->page_size, buf + done, lim, a);
		} else {
			const struct ckfs_shm *s;
			uint64_t obj = v->pgoff + (a - v->start);

			if (rnext - a < lim)
				lim = rnext - a;
			if (shm_get(p->ck, shm_id_of(p->ck, v), m->page_size,
				    &s) < 0)
				return -EIO;
			n = read_runs(p->ck->ar, &s->pm, s->pages,
				      m->page_size, buf + done, lim, obj);
		}
		if (n < 0)
			return n;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int ckfs_proc_mem_next_data(struct ckfs_proc *p, uint64_t va, uint64_t *out)
{
	const struct ckfs_proc_mm *m;
	size_t i;
	int r;

	*out = UINT64_MAX;
	r = ckfs_proc_mm(p, &m);
	if (r < 0)
		return -EIO;
	for (;;) {
		uint64_t next, best = UINT64_MAX;
		const struct ckfs_pm_run *run = find_run(&m->pm, m->page_size,
							 va, &next);

		if (run && (run->flags & CKFS_PE_PRESENT)) {
			*out = va;
			return 0;
		}
		if (run) {
			va = run_end(run, m->page_size);
			continue;
		}
		/* the next private run, or data in a shared mapping first */
		best = next;
		for (i = 0; i < m->mm.nvmas; i++) {
			const struct ckfs_vma *v = &m->mm.vmas[i];
			const struct ckfs_shm *s;
			uint64_t from, obj, snext;
			const struct ckfs_pm_run *sr;

			if (v->end <= va || v->start >= best ||
			    !shm_id_of(p->ck, v))
				continue;
			if (shm_get(p->ck, shm_id_of(p->ck, v), m->page_size,
				    &s) < 0)
				continue;
			from = va > v->start ? va : v->start;
			obj = v->pgoff + (from - v->start);
			sr = find_run(&s->pm, m->page_size, obj, &snext);
			if (!(sr && (sr->flags & CKFS_PE_PRESENT))) {
				if (snext == UINT64_MAX ||
				    snext - v->pgoff >= v->end - v->start)
					continue;
				obj = snext;
			}
			from = v->start + (obj - v->pgoff);
			if (from < best)
				best = from;
		}
		if (best == next && next != UINT64_MAX) {
			va = next;
			continue; /* re-check the run's flags */
		}
		*out = best;
		return 0;
	}
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
