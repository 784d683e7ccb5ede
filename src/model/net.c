/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The net unit of a process: its sockets (one entry per socket however
 * many fds hold it) and the queues CRIU saved for them.  A TCP socket's
 * queues come from tcp-stream-<ino hex>.img (receive queue, then send
 * queue); any other socket's receive queue is the concatenation, in image
 * order, of the sk-queues.img packets whose id_for is its file id.
 */
#include "model/extra_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

#define IPPROTO_TCP_ 6

void ckfs_xnet_fini(struct ckfs_proc_net *n)
{
	size_t i;

	for (i = 0; i < n->nqueues; i++)
		ckfs_blob_fini(&n->queues[i].blob);
	free(n->queues);
	free(n->socks);
	free(n->queues_error);
	memset(n, 0, sizeof(*n));
}

static bool is_socket(uint32_t type)
{
	return type == CKFS_FD_INETSK || type == CKFS_FD_UNIXSK ||
	       type == CKFS_FD_PACKETSK || type == CKFS_FD_NETLINKSK;
}

/* by socket, then image order (the order the packets were queued) */
static int packet_cmp(const void *a, const void *b)
{
	const struct ckfs_sk_packet *x = a, *y = b;

	if (x->id_for != y->id_for)
		return x->id_for < y->id_for ? -1 : 1;
	return x->src < y->src ? -1 : x->src > y->src;
}

/* sk-queues.img, once, sorted by packet_cmp; x->lock held. */
static int skq_locked(struct ckfs_ckpt *ck, struct ckfs_xunits *x,
		      struct ckfs_err *err)
{
	if (x->skq_u.state == 0) {
		char name[CKFS_ARCHIVE_NAME_MAX];
		struct ckfs_err e = { 0 };

		snprintf(name, sizeof(name), "%ssk-queues.img", ck->dir);
		if (ckfs_img_read_sk_queues(ck->ar, name, &x->skq, &x->nskq,
					    &e) < 0) {
			ckfs_unit_fail(&x->skq_u, &e);
		} else {
			if (x->nskq)
				qsort(x->skq, x->nskq, sizeof(*x->skq),
				      packet_cmp);
			x->skq_u.state = 1;
		}
	}
	if (x->skq_u.state < 0)
		return ckfs_err_set(err, -EIO, "%s", x->skq_u.msg);
	return 0;
}

static struct ckfs_queue *new_queue(struct ckfs_proc_net *n, size_t *cap,
				    uint64_t ino, bool send)
{
	struct ckfs_queue *q;

	if (n->nqueues == *cap) {
		size_t c = *cap ? *cap * 2 : 8;

		q = reallocarray(n->queues, c, sizeof(*q));
		if (!q)
			return NULL;
		n->queues = q;
		*cap = c;
	}
	q = &n->queues[n->nqueues++];
	memset(q, 0, sizeof(*q));
	q->ino = ino;
	q->send = send;
	return q;
}

/* A one-extent blob of @len bytes at @src of member @m. */
static int span_blob(struct ckfs_blob *b, const struct ckfs_member *m,
		     uint64_t len, uint64_t src)
{
	b->m = m;
	b->size = len;
	if (!len)
		return 0;
	b->ext = calloc(1, sizeof(*b->ext));
	if (!b->ext)
		return -ENOMEM;
	b->ext[0].len = len;
	b->ext[0].src = src;
	b->n = 1;
	return 0;
}

/*
 * The two queues of a TCP socket that has a tcp-stream image; when the
 * image is broken, both are listed with the reason and fail on read.
 */
static int tcp_queues(struct ckfs_ckpt *ck, struct ckfs_proc_net *n,
		      size_t *cap, struct ckfs_sock *s, struct ckfs_err *err)
{
	const struct ckfs_member *m;
	struct ckfs_err why = { 0 };
	char name[CKFS_ARCHIVE_NAME_MAX];
	int send;

	snprintf(name, sizeof(name), "%stcp-stream-%llx.img", ck->dir,
		 (unsigned long long)s->file->ino);
	m = ckfs_archive_find(ck->ar, name);
	if (!m)
		return 0; /* a listener, or not established at dump time */
	if (ckfs_img_read_tcp_stream(ck->ar, name, &s->tcp, &why) == 0) {
		s->has_tcp = true;
		s->rqueue = s->tcp.inq_len;
		s->wqueue = s->tcp.outq_len;
	}
	for (send = 0; send <= 1; send++) {
		struct ckfs_queue *q = new_queue(n, cap, s->file->ino, send);

		if (!q)
			return ckfs_err_set(err, -ENOMEM, "out of memory");
		if (!s->has_tcp) {
			q->blob.error = strdup(why.msg);
			if (!q->blob.error)
				return ckfs_err_set(err, -ENOMEM,
						    "out of memory");
		} else if (span_blob(&q->blob, m,
				     send ? s->tcp.outq_len : s->tcp.inq_len,
				     send ? s->tcp.outq_src : s->tcp.inq_src) <
			   0) {
			return ckfs_err_set(err, -ENOMEM, "out of memory");
		}
	}
	return 0;
}

static int packet_queue(struct ckfs_ckpt *ck, struct ckfs_xunits *x,
			struct ckfs_proc_net *n, size_t *cap,
			struct ckfs_sock *s, struct ckfs_err *err)
{
	char name[CKFS_ARCHIVE_NAME_MAX];
	struct ckfs_queue *q;
	size_t i, lo = 0, hi = x->nskq, cnt = 0;
	uint64_t off = 0;

	if (!s->file->ino)
		return 0; /* no name for its queue (a packet socket) */
	while (lo < hi) { /* the socket's first packet */
		size_t mid = lo + (hi - lo) / 2;

		if (x->skq[mid].id_for < s->file->id)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < x->nskq && x->skq[i].id_for == s->file->id; i++)
		cnt++;
	if (!cnt)
		return 0;
	snprintf(name, sizeof(name), "%ssk-queues.img", ck->dir);
	q = new_queue(n, cap, s->file->ino, false);
	if (!q || !(q->blob.ext = calloc(cnt, sizeof(*q->blob.ext))))
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	q->blob.m = ckfs_archive_find(ck->ar, name);
	for (i = lo; i < lo + cnt; i++) {
		const struct ckfs_sk_packet *pk = &x->skq[i];

		if (!pk->length)
			continue;
		q->blob.ext[q->blob.n].off = off;
		q->blob.ext[q->blob.n].len = pk->length;
		q->blob.ext[q->blob.n].src = pk->src;
		q->blob.n++;
		off += pk->length; /* u32 lengths: no overflow below 2^32 packets */
	}
	q->blob.size = off;
	s->rqueue = off;
	return 0;
}

static int queue_cmp(const void *a, const void *b)
{
	const struct ckfs_queue *x = a, *y = b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return (int)x->send - (int)y->send;
}

static int build_net(struct ckfs_ckpt *ck, struct ckfs_xunits *x,
		     const struct ckfs_proc_files *pf, struct ckfs_proc_net *n,
		     struct ckfs_err *err)
{
	const struct ckfs_files *fl = &ck->files; /* loaded with pf */
	_cleanup_free_ bool *seen = NULL;
	size_t i, cap = 0;
	int r;

	n->socks = calloc(pf->nfds ? pf->nfds : 1, sizeof(*n->socks));
	seen = calloc(fl->n ? fl->n : 1, sizeof(*seen));
	if (!n->socks || !seen)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < pf->nfds; i++) {
		const struct ckfs_fd *fd = &pf->fds[i];

		if (!is_socket(fd->type) || !fd->file)
			continue;
		if (seen[fd->file - fl->f])
			continue; /* a dup of a socket already listed */
		seen[fd->file - fl->f] = true;
		n->socks[n->nsocks].fd = fd->fd;
		n->socks[n->nsocks].type = fd->type;
		n->socks[n->nsocks].file = fd->file;
		n->nsocks++;
	}
	if (!n->nsocks)
		return 0;
	if (skq_locked(ck, x, err) < 0) {
		/* which sockets had packets is unknown: queues/ fails */
		n->queues_error = strdup(err->msg);
		if (!n->queues_error)
			return ckfs_err_set(err, -ENOMEM, "out of memory");
	}
	for (i = 0; i < n->nsocks; i++) {
		struct ckfs_sock *s = &n->socks[i];
		bool tcp = s->type == CKFS_FD_INETSK &&
			   s->file->sk_proto == IPPROTO_TCP_;

		r = tcp ? tcp_queues(ck, n, &cap, s, err) : 0;
		if (r >= 0 && !tcp && !n->queues_error)
			r = packet_queue(ck, x, n, &cap, s, err);
		if (r < 0)
			return r;
	}
	if (n->nqueues)
		qsort(n->queues, n->nqueues, sizeof(*n->queues), queue_cmp);
	return 0;
}

int ckfs_proc_net(struct ckfs_proc *p, const struct ckfs_proc_net **out)
{
	const struct ckfs_proc_files *pf;
	struct ckfs_xunits *x;
	struct ckfs_xproc *xp;
	int r;

	r = ckfs_proc_files(p, &pf);
	if (r < 0)
		return r;
	x = ckfs_xunits_get(p->ck);
	if (!x)
		return -ENOMEM;
	xp = ckfs_xproc_of(x, p);
	pthread_mutex_lock(&x->lock);
	if (xp->net_u.state == 0) {
		struct ckfs_err err = { 0 };

		if (build_net(p->ck, x, pf, &xp->net, &err) < 0) {
			ckfs_xnet_fini(&xp->net);
			ckfs_unit_fail(&xp->net_u, &err);
		} else {
			xp->net_u.state = 1;
		}
	}
	r = xp->net_u.state;
	pthread_mutex_unlock(&x->lock);
	if (r < 0)
		return r;
	*out = &xp->net;
	return 0;
}
