/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The home of the net/saved/task units (extra_i.h) and the blob reader
 * shared by saved files and socket queues.
 */
#include "model/extra_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ckfs_xunits *ckfs_xunits_get(struct ckfs_ckpt *ck)
{
	struct ckfs_xunits *x;

	pthread_mutex_lock(&ck->lock);
	x = ck->x;
	if (!x) {
		x = calloc(1, sizeof(*x));
		if (x)
			x->procs = calloc(ck->nprocs ? ck->nprocs : 1,
					  sizeof(*x->procs));
		if (x && !x->procs) {
			free(x);
			x = NULL;
		}
		if (x) {
			pthread_mutex_init(&x->lock, NULL);
			ck->x = x;
		}
	}
	pthread_mutex_unlock(&ck->lock);
	return x;
}

struct ckfs_xproc *ckfs_xproc_of(struct ckfs_xunits *x, struct ckfs_proc *p)
{
	return &x->procs[p - p->ck->procs];
}

void ckfs_blob_fini(struct ckfs_blob *b)
{
	free(b->error);
	free(b->ext);
	memset(b, 0, sizeof(*b));
}

void ckfs_xunits_free(struct ckfs_ckpt *ck)
{
	struct ckfs_xunits *x = ck->x;
	size_t i;

	if (!x)
		return;
	for (i = 0; i < ck->nprocs; i++) {
		ckfs_xnet_fini(&x->procs[i].net);
		ckfs_xsaved_fini(&x->procs[i].saved);
	}
	free(x->procs);
	free(x->skq);
	free(x->pipes);
	free(x->fifos);
	free(x->filters);
	ckfs_cg_sets_free(x->sets, x->nsets);
	for (i = 0; i < x->nmnts; i++)
		ckfs_mnts_free(x->mnts[i].m, x->mnts[i].n);
	free(x->mnts);
	pthread_mutex_destroy(&x->lock);
	free(x);
	ck->x = NULL;
}

const char *ckfs_proc_x_error(struct ckfs_proc *p)
{
	const struct ckfs_proc_net *net;
	const struct ckfs_proc_saved *sv;
	struct ckfs_xunits *x;
	struct ckfs_xproc *xp;

	/* load both first, so the answer does not depend on what ran before */
	(void)ckfs_proc_net(p, &net);
	(void)ckfs_proc_saved(p, &sv);
	x = p->ck->x;
	if (!x)
		return "";
	xp = ckfs_xproc_of(x, p);
	if (xp->net_u.state < 0)
		return xp->net_u.msg;
	if (xp->net_u.state > 0 && xp->net.queues_error)
		return xp->net.queues_error;
	if (xp->saved_u.state < 0)
		return xp->saved_u.msg;
	return "";
}

/* The extent holding @off, or NULL with *@next = the next one's start. */
static const struct ckfs_extent *find_ext(const struct ckfs_blob *b,
					  uint64_t off, uint64_t *next)
{
	size_t lo = 0, hi = b->n;

	while (lo < hi) { /* first extent starting after off */
		size_t mid = lo + (hi - lo) / 2;

		if (b->ext[mid].off <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	*next = lo < b->n ? b->ext[lo].off : b->size;
	if (lo > 0 && off - b->ext[lo - 1].off < b->ext[lo - 1].len)
		return &b->ext[lo - 1];
	return NULL;
}

ssize_t ckfs_blob_read(struct ckfs_ckpt *ck, const struct ckfs_blob *b,
		       void *vbuf, size_t len, uint64_t off)
{
	char *buf = vbuf;
	size_t done = 0;

	if (b->error)
		return -EIO;
	if (off >= b->size)
		return 0;
	if (len > b->size - off)
		len = (size_t)(b->size - off);
	if (b->shm)
		return ckfs_ckpt_shm_read(ck, b->shmid, b->page_size, buf, len,
					  off) < 0
			       ? -EIO
			       : (ssize_t)len;
	while (done < len) {
		uint64_t a = off + done, next, n;
		const struct ckfs_extent *e = find_ext(b, a, &next);

		if (!e) {
			n = next - a < len - done ? next - a : len - done;
			memset(buf + done, 0, (size_t)n);
		} else {
			ssize_t got;

			n = e->off + e->len - a;
			if (n > len - done)
				n = len - done;
			got = ckfs_archive_pread(ck->ar, b->m, buf + done,
						 (size_t)n,
						 e->src + (a - e->off));
			if (got < 0 || (uint64_t)got != n)
				return -EIO;
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}
