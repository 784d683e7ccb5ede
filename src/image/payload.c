/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Walkers for images with raw bytes after their records.  The generic
 * framing in image.c cannot index these (it would read the raw bytes as
 * the next record's size), so each record is read here with pread: the
 * u32 size, the protobuf payload (bounded by CKFS_IMG_RECORD_MAX), then
 * the raw bytes are skipped after checking they lie inside the member.
 */
#include "image/payload.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "image/image.h"

#include "ghost.pb-c.h"
#include "pipe-data.pb-c.h"
#include "sk-packet.pb-c.h"
#include "tcp-stream.pb-c.h"

struct walk {
	struct ckfs_archive *ar;
	const struct ckfs_member *m;
	const char *name;
	uint64_t pos; /* next unread byte of the member */
	size_t nrec;  /* records read so far */
	uint8_t *buf; /* the current record's payload */
	uint32_t len;
	size_t cap;
};

static void walk_fini(struct walk *w)
{
	free(w->buf);
	w->buf = NULL;
}

static int read_at(struct walk *w, void *buf, size_t len, uint64_t off,
		   struct ckfs_err *err)
{
	ssize_t got = ckfs_archive_pread(w->ar, w->m, buf, len, off);

	if (got < 0)
		return ckfs_err_set(err, -EIO, "%s: cannot be read", w->name);
	if ((size_t)got != len)
		return ckfs_err_set(err, -EBADMSG, "%s: truncated at byte %llu",
				    w->name, (unsigned long long)off);
	return 0;
}

static int read_u32(struct walk *w, uint64_t off, uint32_t *v,
		    struct ckfs_err *err)
{
	return read_at(w, v, sizeof(*v), off, err); /* host order, as CRIU */
}

/*
 * Find member @name and check its magic.  -ENOENT (with @err unset) when
 * the member is missing, so optional images can be told apart.
 */
static int walk_open(struct walk *w, struct ckfs_archive *ar, const char *name,
		     uint32_t magic, struct ckfs_err *err)
{
	uint32_t a;
	int r;

	memset(w, 0, sizeof(*w));
	w->ar = ar;
	w->name = name;
	w->m = ckfs_archive_find(ar, name);
	if (!w->m)
		return -ENOENT;
	if (w->m->type != CKFS_MEMBER_REG)
		return ckfs_err_set(err, -EBADMSG, "%s: not a regular file",
				    name);
	if (w->m->size < 8)
		return ckfs_err_set(err, -EBADMSG, "%s: too short for a magic",
				    name);
	if ((r = read_u32(w, 0, &a, err)) < 0)
		return r;
	w->pos = 4;
	if (a == CKFS_MAGIC_COMMON || a == CKFS_MAGIC_SERVICE) {
		if ((r = read_u32(w, 4, &a, err)) < 0)
			return r;
		w->pos = 8;
	}
	if (a != magic)
		return ckfs_err_set(
			err, -EBADMSG,
			"%s: unknown magic 0x%08x (expected 0x%08x)", name, a,
			magic);
	return 0;
}

/* Read the next record's payload into w->buf: 1, or 0 at the end. */
static int walk_next(struct walk *w, struct ckfs_err *err)
{
	uint32_t size;
	int r;

	if (w->pos == w->m->size)
		return 0;
	if (w->m->size - w->pos < 4)
		return ckfs_err_set(err, -EBADMSG,
				    "%s: truncated record header at byte %llu",
				    w->name, (unsigned long long)w->pos);
	if ((r = read_u32(w, w->pos, &size, err)) < 0)
		return r;
	if (size > CKFS_IMG_RECORD_MAX)
		return ckfs_err_set(err, -EOVERFLOW,
				    "%s: record %zu is %u bytes (limit %u)",
				    w->name, w->nrec, size,
				    CKFS_IMG_RECORD_MAX);
	if (size > w->m->size - w->pos - 4)
		return ckfs_err_set(err, -EBADMSG,
				    "%s: record %zu runs past the end", w->name,
				    w->nrec);
	if (w->nrec >= CKFS_PAYLOAD_RECORDS_MAX)
		return ckfs_err_set(err, -EOVERFLOW, "%s: more than %u records",
				    w->name, CKFS_PAYLOAD_RECORDS_MAX);
	if (size > w->cap) {
		uint8_t *n = realloc(w->buf, size);

		if (!n)
			return ckfs_err_set(err, -ENOMEM, "out of memory");
		w->buf = n;
		w->cap = size;
	}
	if (size && (r = read_at(w, w->buf, size, w->pos + 4, err)) < 0)
		return r;
	w->len = size;
	w->pos += 4 + (uint64_t)size;
	w->nrec++;
	return 1;
}

/* Step over @len raw bytes after the record; *@src = where they start. */
static int walk_skip(struct walk *w, uint64_t len, uint64_t *src,
		     struct ckfs_err *err)
{
	if (len > w->m->size - w->pos)
		return ckfs_err_set(
			err, -EBADMSG,
			"%s: record %zu: its %llu bytes of data run past the end",
			w->name, w->nrec - 1, (unsigned long long)len);
	*src = w->pos;
	w->pos += len;
	return 0;
}

static int bad_record(struct walk *w, struct ckfs_err *err, const char *what)
{
	return ckfs_err_set(err, -EBADMSG, "%s: record %zu is not a valid %s",
			    w->name, w->nrec - 1, what);
}

/* Make room for one more element of @size bytes in *@arr. */
static int grow(void *arr, size_t n, size_t *cap, size_t size)
{
	void **p = arr;
	void *nw;
	size_t c;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 16;
	nw = reallocarray(*p, c, size);
	if (!nw)
		return -ENOMEM;
	*p = nw;
	*cap = c;
	return 0;
}

/* ---- pipes-data.img, fifo-data.img ---- */

int ckfs_img_read_pipe_data(struct ckfs_archive *ar, const char *name,
			    uint32_t magic, struct ckfs_pipe_data **out,
			    size_t *n, struct ckfs_err *err)
{
	struct walk w;
	_cleanup_free_ struct ckfs_pipe_data *pd = NULL;
	size_t cnt = 0, cap = 0;
	int r;

	*out = NULL;
	*n = 0;
	r = walk_open(&w, ar, name, magic, err);
	if (r == -ENOENT)
		return 0;
	while (r >= 0 && (r = walk_next(&w, err)) > 0) {
		PipeDataEntry *e = pipe_data_entry__unpack(NULL, w.len, w.buf);

		if (!e) {
			r = bad_record(&w, err, "pipe_data_entry");
			break;
		}
		if (grow(&pd, cnt, &cap, sizeof(*pd)) < 0) {
			pipe_data_entry__free_unpacked(e, NULL);
			r = ckfs_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		pd[cnt].pipe_id = e->pipe_id;
		pd[cnt].bytes = e->bytes;
		pipe_data_entry__free_unpacked(e, NULL);
		r = walk_skip(&w, pd[cnt].bytes, &pd[cnt].src, err);
		cnt++;
	}
	walk_fini(&w);
	if (r < 0)
		return r;
	*out = steal_ptr(&pd);
	*n = cnt;
	return 0;
}

/* ---- sk-queues.img ---- */

int ckfs_img_read_sk_queues(struct ckfs_archive *ar, const char *name,
			    struct ckfs_sk_packet **out, size_t *n,
			    struct ckfs_err *err)
{
	struct walk w;
	_cleanup_free_ struct ckfs_sk_packet *pk = NULL;
	size_t cnt = 0, cap = 0;
	int r;

	*out = NULL;
	*n = 0;
	r = walk_open(&w, ar, name, CKFS_MAGIC_SK_QUEUES, err);
	if (r == -ENOENT)
		return 0;
	while (r >= 0 && (r = walk_next(&w, err)) > 0) {
		SkPacketEntry *e = sk_packet_entry__unpack(NULL, w.len, w.buf);

		if (!e) {
			r = bad_record(&w, err, "sk_packet_entry");
			break;
		}
		if (grow(&pk, cnt, &cap, sizeof(*pk)) < 0) {
			sk_packet_entry__free_unpacked(e, NULL);
			r = ckfs_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		pk[cnt].id_for = e->id_for;
		pk[cnt].length = e->length;
		sk_packet_entry__free_unpacked(e, NULL);
		r = walk_skip(&w, pk[cnt].length, &pk[cnt].src, err);
		cnt++;
	}
	walk_fini(&w);
	if (r < 0)
		return r;
	*out = steal_ptr(&pk);
	*n = cnt;
	return 0;
}

/* ---- tcp-stream-<ino>.img ---- */

int ckfs_img_read_tcp_stream(struct ckfs_archive *ar, const char *name,
			     struct ckfs_tcp_stream *out, struct ckfs_err *err)
{
	struct walk w;
	TcpStreamEntry *e;
	int r;

	memset(out, 0, sizeof(*out));
	r = walk_open(&w, ar, name, CKFS_MAGIC_TCP_STREAM, err);
	if (r == -ENOENT)
		return ckfs_err_set(err, -ENOENT, "%s: missing", name);
	if (r >= 0)
		r = walk_next(&w, err);
	if (r == 0)
		r = ckfs_err_set(err, -EBADMSG, "%s: holds no tcp_stream_entry",
				 name);
	if (r < 0)
		goto out;
	e = tcp_stream_entry__unpack(NULL, w.len, w.buf);
	if (!e) {
		r = bad_record(&w, err, "tcp_stream_entry");
		goto out;
	}
	out->inq_len = e->inq_len;
	out->inq_seq = e->inq_seq;
	out->outq_len = e->outq_len;
	out->outq_seq = e->outq_seq;
	out->unsq_len = e->unsq_len;
	tcp_stream_entry__free_unpacked(e, NULL);
	r = walk_skip(&w, out->inq_len, &out->inq_src, err);
	if (r >= 0)
		r = walk_skip(&w, out->outq_len, &out->outq_src, err);
out:
	walk_fini(&w);
	return r < 0 ? r : 0;
}

/* ---- ghost-file-<id>.img ---- */

void ckfs_ghost_fini(struct ckfs_ghost *g)
{
	free(g->symlnk_target);
	free(g->ext);
	memset(g, 0, sizeof(*g));
}

static int ghost_chunks(struct walk *w, struct ckfs_ghost *g,
			struct ckfs_err *err)
{
	size_t cap = 0;
	uint64_t end = 0;
	int r;

	while ((r = walk_next(w, err)) > 0) {
		GhostChunkEntry *c =
			ghost_chunk_entry__unpack(NULL, w->len, w->buf);
		uint64_t off, len, stop;

		if (!c)
			return bad_record(w, err, "ghost_chunk_entry");
		off = c->off;
		len = c->len;
		ghost_chunk_entry__free_unpacked(c, NULL);
		if (__builtin_add_overflow(off, len, &stop) || off < end ||
		    stop > g->size)
			return ckfs_err_set(
				err, -EBADMSG,
				"%s: chunk %zu [%llu, +%llu) overlaps another or lies past the file size %llu",
				w->name, w->nrec - 1, (unsigned long long)off,
				(unsigned long long)len,
				(unsigned long long)g->size);
		if (grow(&g->ext, g->n, &cap, sizeof(*g->ext)) < 0)
			return ckfs_err_set(err, -ENOMEM, "out of memory");
		g->ext[g->n].off = off;
		g->ext[g->n].len = len;
		r = walk_skip(w, len, &g->ext[g->n].src, err);
		if (r < 0)
			return r;
		if (len)
			g->n++;
		end = stop;
	}
	return r;
}

int ckfs_img_read_ghost(struct ckfs_archive *ar, const char *name,
			struct ckfs_ghost *out, struct ckfs_err *err)
{
	struct walk w;
	GhostFileEntry *e;
	bool chunks;
	int r;

	memset(out, 0, sizeof(*out));
	r = walk_open(&w, ar, name, CKFS_MAGIC_GHOST_FILE, err);
	if (r == -ENOENT)
		return ckfs_err_set(err, -ENOENT, "%s: missing", name);
	if (r >= 0)
		r = walk_next(&w, err);
	if (r == 0)
		r = ckfs_err_set(err, -EBADMSG, "%s: holds no ghost_file_entry",
				 name);
	if (r < 0)
		goto out;
	e = ghost_file_entry__unpack(NULL, w.len, w.buf);
	if (!e) {
		r = bad_record(&w, err, "ghost_file_entry");
		goto out;
	}
	out->uid = e->uid;
	out->gid = e->gid;
	out->mode = e->mode;
	out->mtime = e->mtim ? e->mtim->tv_sec : 0;
	chunks = e->has_chunks && e->chunks;
	out->size = e->size;
	if (e->symlnk_target &&
	    !(out->symlnk_target = strdup(e->symlnk_target)))
		r = ckfs_err_set(err, -ENOMEM, "out of memory");
	if (!chunks && !e->has_size)
		out->size = w.m->size - w.pos; /* the raw data runs to EOF */
	ghost_file_entry__free_unpacked(e, NULL);
	if (r < 0)
		goto out;
	if (chunks) {
		r = ghost_chunks(&w, out, err);
	} else if (w.m->size > w.pos && out->size) {
		uint64_t len = w.m->size - w.pos;

		out->ext = calloc(1, sizeof(*out->ext));
		if (!out->ext) {
			r = ckfs_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		out->ext[0].len = len < out->size ? len : out->size;
		out->ext[0].src = w.pos;
		out->n = 1;
	}
out:
	walk_fini(&w);
	if (r < 0) {
		ckfs_ghost_fini(out);
		return r;
	}
	return 0;
}
