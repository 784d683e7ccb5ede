/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A compressed tar, decoded once, by two background threads in a pipeline:
 * the decoder reads the file sequentially (pread, so the file offset is
 * nobody's business) and decodes it with zlib (gzip), libzstd (zstd) or
 * libarchive's filters (xz, bzip2) into a small ring of fixed buffers; the
 * writer appends each full buffer to the cache file and publishes how far
 * it has got ("ready").  Writing the cache (a copy, and page allocation)
 * costs about as much as decoding; on two threads the two overlap, so the
 * decode runs at about the decompressor's own speed.  Readers wait on a
 * condition variable only until their own range is ready; the fast path is
 * one atomic load.
 *
 * Failures: a truncated or corrupt stream stops the decode; what was
 * decoded before stays readable, anything after fails with -EIO.  A
 * checksum mismatch (gzip CRC-32/ISIZE, zstd XXH64) poisons the whole
 * cache: no read succeeds afterwards, since the data cannot be trusted.
 * The cache never grows past its limit: the decode stops there (-EOVERFLOW).
 *
 * Raw zstd blocks (what zstd stores of incompressible data, such as
 * random or encrypted memory) are not copied into the cache: their bytes
 * are the archive's own, so a read is served from the archive file there
 * (and spliced from it).  The decoder finds them by walking the block
 * headers a little ahead of itself (zwalk.c); it feeds libzstd up to a raw
 * block's content, notes where in the decoded stream that content starts,
 * feeds the content, and checks the bytes that came out against the file
 * before the writer skips them.  Where the walk and the decoder disagree,
 * the walk stops and everything is cached as before.  This halves the
 * cost of an incompressible stream and keeps it out of memory.  The map
 * of raw extents is the one thing that grows with the archive (24 bytes a
 * block of at least RAW_MIN, RAW_EXTS_MAX of them at most: 6 MiB, for 32
 * GiB of raw data); past that, raw blocks are cached too.
 *
 * Memory is fixed: the input buffer and RING_SLOTS output buffers, plus
 * the decoder's own state (for zstd at most a 128 MiB window,
 * ZSTD_d_windowLogMax 27; Podman's is 8 MiB), plus that map.
 *
 * All decoder and writer state lives in struct ckfs_stream, never on a
 * thread's stack between chunks, so both threads can be stopped at a chunk
 * boundary and started again later (across a fork()).
 */
#include "archive/archive_i.h"
#include "archive/zwalk.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "base/clock.h"
#include "base/fdio.h"
#include "base/mem.h"
#include "base/strbuf.h"

#define IN_BUF		  (1u << 20)
#define IN_SLOTS	  3
#define OUT_BUF		  (1u << 20)
#define RING_SLOTS	  4
#define DEC_WINDOWLOG_MAX 27
#define PROGRESS_NS	  250000000ull
#define RAW_MIN		  (16u << 10) /* a raw block worth leaving in place */
#define RAW_NONE	  UINT64_MAX
#define SLOT_RAW_MAX	  (OUT_BUF / RAW_MIN)
#define RMAP_CHUNK	  4096
#define RMAP_CHUNKS	  64
#define RAW_EXTS_MAX	  (RMAP_CHUNK * RMAP_CHUNKS)

/* Decoded bytes [out, out + len) are the archive's bytes [in, in + len). */
struct raw_ext {
	uint64_t out, in;
	uint64_t len;
};

struct ckfs_stream {
	/* set at creation, then read-only */
	int in_fd;
	uint64_t in_size;
	char *path;
	enum ckfs_compression comp;
	int cache_fd;
	uint64_t limit;
	char limit_why[96];
	ckfs_archive_progress_fn progress;
	void *progress_arg;

	/* decoder state: only the decoder thread touches it */
	unsigned char *in;     /* the input slot being decoded, or NULL */
	unsigned char *out;    /* the output slot being filled */
	size_t in_len, in_off; /* valid bytes in @in, and consumed */
	uint64_t in_pos;       /* file offset of the end of @in */
	bool in_eof;
	ZSTD_DCtx *zd;
	size_t zret; /* last ZSTD_decompressStream() result */
	z_stream zs;
	bool zs_init;
	struct archive *la;    /* xz, bzip2 */
	uint64_t dec_out;      /* decoded bytes before the slot being filled */
	struct ring_slot *cur; /* that slot */
	/* raw zstd blocks: the walk, and the next one (raw_in RAW_NONE) */
	struct ckfs_zwalk *zw; /* NULL once stopped */
	uint64_t raw_in, raw_out;
	uint32_t raw_len;
	bool raw_inside;     /* its content is being fed */
	uint64_t nraw;	     /* raw extents noted, at most RAW_EXTS_MAX */
	unsigned char *vbuf; /* a raw block read back, to check it */
	int pend_err;	     /* an error to report after the last bytes */
	char pend_msg[CKFS_ERR_MSG_MAX - 64];
	uint64_t t0, last_report; /* the writer's */
	bool reported;

	/*
	 * The ring between the threads: slot i % RING_SLOTS is filled by the
	 * decoder while i < head, then written out by the writer while
	 * tail <= i; a slot of 0 bytes is the last (its err says how the
	 * stream ended).
	 */
	struct ring_slot {
		unsigned char *buf;
		size_t n;
		/* the bytes of @buf that are raw zstd blocks, in order */
		struct raw_ext raw[SLOT_RAW_MAX];
		size_t nraw;
		int err;
		uint64_t in_done;
		char msg[CKFS_ERR_MSG_MAX - 64];
	} ring[RING_SLOTS];
	pthread_mutex_t ring_lock; /* guards head, tail, dec_done, dead */
	pthread_cond_t ring_cond;  /* a slot filled or freed, or stop */
	uint64_t head, tail;
	bool dec_done; /* the decoder filled its last slot */
	bool dead;     /* the writer ended the stream: decode no more */

	/*
	 * The input ring, the same way round: the reader preads the file into
	 * slot i % IN_SLOTS while i < in_head, the decoder decodes it while
	 * in_tail <= i; a slot of 0 bytes (or an error) is the last.  So the
	 * copy out of the page cache overlaps the decode too.
	 */
	struct in_slot {
		unsigned char *buf;
		size_t len;
		int err; /* -errno of the pread */
	} in_ring[IN_SLOTS];
	uint64_t in_head, in_tail; /* under ring_lock */
	uint64_t rpos; /* the reader's: file offset of its next pread */
	bool rdone;    /* the reader filled its last slot */
	bool rstop;    /* atomic: the reader should return */
	bool in_held;  /* the decoder holds slot in_tail */
	int in_err;    /* the decoder's: a pread failed */

	pthread_t thread, wthread, rthread;
	bool thread_live, wthread_live, rthread_live;

	/*
	 * The raw extents, in order: appended by the writer before it
	 * publishes the bytes they are in, read by anyone after (rmap_n is
	 * stored with release, loaded with acquire).  Chunks never move.
	 */
	struct raw_ext *rmap[RMAP_CHUNKS];
	uint64_t rmap_n;

	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t cond;  /* ready moved, or the decode ended */
	uint64_t ready;	      /* decoded bytes in the cache (atomic reads) */
	uint64_t in_done;     /* compressed bytes consumed, for progress */
	int state;	      /* 0 running, 1 ended well, < 0 -errno */
	bool poisoned;	      /* atomic reads: a checksum failed */
	bool stop;	      /* the thread should return at a safe point */
	unsigned waiters;
	char msg[CKFS_ERR_MSG_MAX];
};

const char *ckfs_stream_comp_name(enum ckfs_compression comp)
{
	switch (comp) {
	case CKFS_COMP_GZIP:
		return "gzip";
	case CKFS_COMP_ZSTD:
		return "zstd";
	case CKFS_COMP_XZ:
		return "xz";
	case CKFS_COMP_BZIP2:
		return "bzip2";
	default:
		return NULL;
	}
}

int ckfs_stream_sniff(int fd)
{
	unsigned char h[6] = { 0 };
	ssize_t n = pread(fd, h, sizeof(h), 0);

	if (n < 0)
		return -errno;
	if (n >= 2 && h[0] == 0x1f && h[1] == 0x8b)
		return CKFS_COMP_GZIP;
	if (n >= 4 && !memcmp(h, "\x28\xb5\x2f\xfd", 4))
		return CKFS_COMP_ZSTD;
	/* a zstd skippable frame first, as pzstd writes */
	if (n >= 4 && (h[0] & 0xf0) == 0x50 &&
	    !memcmp(h + 1, "\x2a\x4d\x18", 3))
		return CKFS_COMP_ZSTD;
	if (n >= 6 && !memcmp(h, "\xfd\x37\x7a\x58\x5a\x00", 6))
		return CKFS_COMP_XZ;
	if (n >= 3 && !memcmp(h, "BZh", 3))
		return CKFS_COMP_BZIP2;
	return CKFS_COMP_NONE;
}

/* ---- input ---- */

/*
 * Refill @in when it is used up, with the next slot of the input ring;
 * sets in_eof at the end of the file.
 */
static int refill(struct ckfs_stream *st)
{
	struct in_slot *sl;

	if (st->in_err)
		return st->in_err;
	if (st->in_off < st->in_len || st->in_eof)
		return 0;
	pthread_mutex_lock(&st->ring_lock);
	if (st->in_held) {
		st->in_tail++; /* done with it: the reader may fill it again */
		st->in_held = false;
		pthread_cond_broadcast(&st->ring_cond);
	}
	/* the reader runs until the decoder stopped: this always ends */
	while (st->in_head == st->in_tail)
		pthread_cond_wait(&st->ring_cond, &st->ring_lock);
	sl = &st->in_ring[st->in_tail % IN_SLOTS];
	st->in_held = true;
	pthread_mutex_unlock(&st->ring_lock);
	if (sl->err)
		return st->in_err = sl->err; /* the reader has stopped */
	st->in = sl->buf;
	st->in_len = sl->len;
	st->in_off = 0;
	st->in_pos += (uint64_t)sl->len;
	if (sl->len == 0)
		st->in_eof = true;
	return 0;
}

/* The reader: fills input slots from the file until its end (or rstop). */
static void *reader_main(void *arg)
{
	struct ckfs_stream *st = arg;

	for (;;) {
		struct in_slot *sl;
		uint64_t i;
		ssize_t n;

		pthread_mutex_lock(&st->ring_lock);
		while (st->in_head - st->in_tail == IN_SLOTS &&
		       !__atomic_load_n(&st->rstop, __ATOMIC_ACQUIRE))
			pthread_cond_wait(&st->ring_cond, &st->ring_lock);
		i = st->in_head;
		if (__atomic_load_n(&st->rstop, __ATOMIC_ACQUIRE)) {
			pthread_mutex_unlock(&st->ring_lock);
			return NULL;
		}
		pthread_mutex_unlock(&st->ring_lock);

		sl = &st->in_ring[i % IN_SLOTS];
		do {
			n = pread(st->in_fd, sl->buf, IN_BUF, (off_t)st->rpos);
		} while (n < 0 && errno == EINTR);
		sl->err = n < 0 ? -errno : 0;
		sl->len = n > 0 ? (size_t)n : 0;
		st->rpos += sl->len;

		pthread_mutex_lock(&st->ring_lock);
		st->in_head = i + 1;
		if (n <= 0)
			st->rdone = true;
		pthread_cond_broadcast(&st->ring_cond);
		pthread_mutex_unlock(&st->ring_lock);
		if (n <= 0)
			return NULL;
	}
}

/*
 * Each decoder fills @st->out with up to OUT_BUF bytes and returns the
 * count; 0 only at the end of the stream or on an error.  An error is
 * stored in *@err (-errno; -EILSEQ for a checksum mismatch) with @msg; the
 * bytes decoded before it are still returned, and count.
 */
typedef size_t (*decode_fn)(struct ckfs_stream *st, int *err, char *msg,
			    size_t msz);

/* ---- raw zstd blocks ---- */

static void raw_stop(struct ckfs_stream *st)
{
	free(st->zw);
	st->zw = NULL;
	st->raw_in = RAW_NONE;
	st->raw_inside = false;
}

/*
 * Walk on to the next raw block worth leaving in place whose content the
 * decoder, now at file offset @at, has not reached: a few units past @at
 * at a time, so the decoder is never held up long; raw_in stays RAW_NONE
 * until one is found (the decoder asks again once it has passed the walk).
 */
static void raw_next(struct ckfs_stream *st, uint64_t at)
{
	struct ckfs_zunit u;

	st->raw_in = RAW_NONE;
	st->raw_inside = false;
	for (int i = 0; st->zw && (i < 64 || st->zw->pos <= at); i++) {
		switch (ckfs_zwalk_next(st->zw, &u)) {
		case CKFS_ZU_BLOCK:
			if (u.type != CKFS_ZB_RAW || u.size < RAW_MIN ||
			    u.data_off < at)
				continue;
			st->raw_in = u.data_off;
			st->raw_len = u.size;
			return;
		case CKFS_ZU_SKIPPABLE:
		case CKFS_ZU_FRAME:
			continue;
		default:
			raw_stop(st); /* the end, or framing the walk doubts */
			return;
		}
	}
}

/*
 * The decoded bytes of a raw block are the file's bytes: checked against
 * the input slot when the block is all in it (the decoder has just fed it
 * from there), else against the file.
 */
static bool raw_same(struct ckfs_stream *st, const unsigned char *out)
{
	uint64_t in0 = st->in_pos - st->in_len;

	if (st->raw_in >= in0 && st->raw_in + st->raw_len <= st->in_pos)
		return memcmp(out, st->in + (st->raw_in - in0), st->raw_len) ==
		       0;
	return ckfs_pread_full(st->in_fd, st->vbuf, st->raw_len, st->raw_in) ==
		       (ssize_t)st->raw_len &&
	       memcmp(out, st->vbuf, st->raw_len) == 0;
}

/*
 * After a decode step that consumed the input up to @at (a file offset),
 * with @out as it now is.  Returns true when the slot must end here, so
 * that the raw block coming next starts a slot (it must fit in one).
 */
static bool raw_step(struct ckfs_stream *st, const ZSTD_outBuffer *out,
		     uint64_t at)
{
	uint64_t lim;

	if (!st->zw)
		return false;
	if (st->raw_in == RAW_NONE) {
		if (at >= st->zw->pos)
			raw_next(st, at); /* the decoder caught up */
		return false;
	}
	lim = st->raw_inside ? st->raw_in + st->raw_len : st->raw_in;
	if (at < lim)
		return false;
	if (at > lim) {
		raw_stop(st); /* it went past: the walk is not its framing */
		return false;
	}
	if (!st->raw_inside) {
		/* all before the block is out unless the slot is full */
		if (out->pos == out->size)
			return false;
		if (out->size - out->pos < st->raw_len)
			return true;
		st->raw_out = st->dec_out + out->pos;
		st->raw_inside = true;
		return false;
	}
	/* the content was fed: its bytes must all be out, in this slot */
	if (st->dec_out + out->pos == st->raw_out + st->raw_len &&
	    st->cur->nraw < SLOT_RAW_MAX && st->nraw < RAW_EXTS_MAX &&
	    raw_same(st, (const unsigned char *)out->dst +
				 (st->raw_out - st->dec_out))) {
		st->cur->raw[st->cur->nraw++] = (struct raw_ext){
			.out = st->raw_out,
			.in = st->raw_in,
			.len = st->raw_len,
		};
		st->nraw++;
		raw_next(st, at);
		return false;
	}
	raw_stop(st);
	return false;
}

static size_t decode_zstd(struct ckfs_stream *st, int *err, char *msg,
			  size_t msz)
{
	ZSTD_outBuffer out = { st->out, OUT_BUF, 0 };

	unsigned stalls = 0; /* calls in a row that moved nothing, limited */

	while (out.pos < out.size) {
		ZSTD_inBuffer in;
		size_t before = out.pos, in_before, ret;
		uint64_t in0; /* the file offset of st->in[0] */
		bool limited = false;
		int r = refill(st);

		if (r < 0) {
			snprintf(msg, msz, "cannot read: %s", strerror(-r));
			*err = r;
			break;
		}
		in = (ZSTD_inBuffer){ st->in, st->in_len, st->in_off };
		if (in.pos == in.size && st->zret == 0)
			break; /* every frame complete, no more input */
		in0 = st->in_pos - st->in_len;
		if (st->raw_in != RAW_NONE) {
			/* stop at the raw block's content, or at its end */
			uint64_t lim = st->raw_inside ? st->raw_in + st->raw_len
						      : st->raw_in;

			if (lim >= in0 + in.pos && lim - in0 < in.size) {
				in.size = (size_t)(lim - in0);
				limited = true;
			}
		}
		in_before = in.pos;
		ret = ZSTD_decompressStream(st->zd, &out, &in);
		st->in_off = in.pos;
		if (ZSTD_isError(ret)) {
			ZSTD_ErrorCode c = ZSTD_getErrorCode(ret);

			if (c == ZSTD_error_frameParameter_windowTooLarge)
				snprintf(
					msg, msz,
					"zstd stream needs a window larger than %u MiB; refusing it",
					1u << (DEC_WINDOWLOG_MAX - 20));
			else
				snprintf(msg, msz, "corrupt zstd stream: %s",
					 ZSTD_getErrorName(ret));
			*err = c == ZSTD_error_checksum_wrong ? -EILSEQ
							      : -EBADMSG;
			break;
		}
		st->zret = ret;
		if (raw_step(st, &out, in0 + in.pos))
			break;
		/*
		 * libzstd takes any input it is given, but should it not, at
		 * a limit the walk set: no more limits, rather than a hang
		 */
		if (limited && in.pos == in_before && out.pos == before &&
		    ++stalls > 4)
			raw_stop(st);
		else if (in.pos != in_before || out.pos != before)
			stalls = 0;
		if (in.pos == in.size && st->in_eof && ret != 0 &&
		    out.pos == before) {
			snprintf(
				msg, msz,
				"truncated zstd stream: it ends inside a frame");
			*err = -EBADMSG;
			break;
		}
	}
	return out.pos;
}

/* After a gzip member: another one follows, or the stream is over. */
static int gzip_next_member(struct ckfs_stream *st, bool *more)
{
	int r;

	*more = false;
	for (;;) {
		r = refill(st);
		if (r < 0)
			return r;
		if (st->in_off == st->in_len)
			return 0; /* the end of the file */
		if (st->in[st->in_off] != 0x1f)
			return 0; /* trailing bytes that are no member: ignored */
		if (st->in_len - st->in_off >= 2 &&
		    st->in[st->in_off + 1] != 0x8b)
			return 0;
		*more = true;
		return inflateReset(&st->zs) == Z_OK ? 0 : -ENOMEM;
	}
}

static size_t decode_gzip(struct ckfs_stream *st, int *err, char *msg,
			  size_t msz)
{
	st->zs.next_out = st->out;
	st->zs.avail_out = OUT_BUF;
	while (st->zs.avail_out && !*err) {
		int r = refill(st), zr;
		bool more;

		if (r < 0) {
			snprintf(msg, msz, "cannot read: %s", strerror(-r));
			*err = r;
			break;
		}
		if (st->zret == 0)
			break; /* ended after the last member */
		st->zs.next_in = st->in + st->in_off;
		st->zs.avail_in = (uInt)(st->in_len - st->in_off);
		zr = inflate(&st->zs, Z_NO_FLUSH);
		st->in_off = st->in_len - st->zs.avail_in;
		switch (zr) {
		case Z_OK:
			break;
		case Z_STREAM_END:
			r = gzip_next_member(st, &more);
			if (r < 0) {
				snprintf(msg, msz, "cannot read: %s",
					 strerror(-r));
				*err = r;
			}
			if (!more)
				st->zret = 0;
			break;
		case Z_BUF_ERROR:
			if (st->in_eof && st->in_off == st->in_len) {
				snprintf(
					msg, msz,
					"truncated gzip stream: it ends inside a member");
				*err = -EBADMSG;
			}
			break;
		case Z_MEM_ERROR:
			snprintf(msg, msz, "out of memory");
			*err = -ENOMEM;
			break;
		default:
			if (st->zs.msg && strstr(st->zs.msg, "check")) {
				/* "incorrect data check" / "length check" */
				snprintf(
					msg, msz,
					"corrupt gzip stream: %s (CRC-32 or size mismatch)",
					st->zs.msg);
				*err = -EILSEQ;
				break;
			}
			snprintf(msg, msz, "corrupt gzip stream: %s",
				 st->zs.msg ? st->zs.msg : "bad data");
			*err = -EBADMSG;
			break;
		}
	}
	return OUT_BUF - st->zs.avail_out;
}

static ssize_t la_read(struct archive *a, void *data, const void **buf)
{
	struct ckfs_stream *st = data;
	int r;

	st->in_off = st->in_len; /* libarchive took the whole buffer */
	r = refill(st);
	if (r < 0) {
		archive_set_error(a, -r, "cannot read: %s", strerror(-r));
		return -1;
	}
	*buf = st->in;
	st->in_off = st->in_len;
	return (ssize_t)st->in_len;
}

static size_t decode_la(struct ckfs_stream *st, int *err, char *msg, size_t msz)
{
	size_t got = 0;

	while (got < OUT_BUF) {
		la_ssize_t n =
			archive_read_data(st->la, st->out + got, OUT_BUF - got);

		if (n < 0) {
			/* the library's words for a stream cut short vary */
			snprintf(msg, msz, "%s %s stream: %s",
				 st->in_eof ? "truncated" : "corrupt",
				 ckfs_stream_comp_name(st->comp),
				 archive_error_string(st->la)
					 ? archive_error_string(st->la)
					 : "decoding failed");
			*err = -EBADMSG;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return got;
}

static decode_fn decoder_of(enum ckfs_compression comp)
{
	switch (comp) {
	case CKFS_COMP_ZSTD:
		return decode_zstd;
	case CKFS_COMP_GZIP:
		return decode_gzip;
	default:
		return decode_la;
	}
}

/* ---- the thread ---- */

static void report(struct ckfs_stream *st, bool finished, int error)
{
	struct ckfs_archive_progress p = {
		.path = st->path,
		.compression = ckfs_stream_comp_name(st->comp),
		.in_total = st->in_size,
		.finished = finished,
		.error = error,
	};
	uint64_t t = (uint64_t)ckfs_now_ns();

	if (!st->progress)
		return;
	if (!finished && t - st->last_report < PROGRESS_NS)
		return;
	if (finished && !st->reported)
		return; /* a decode too short to show */
	p.in_done = __atomic_load_n(&st->in_done, __ATOMIC_RELAXED);
	p.out_done = __atomic_load_n(&st->ready, __ATOMIC_RELAXED);
	p.elapsed_ns = t - st->t0;
	if (finished && error)
		p.message = st->msg[0] ? st->msg : strerror(-error);
	st->last_report = t;
	st->reported = true;
	st->progress(st->progress_arg, &p);
}

static void finish(struct ckfs_stream *st, int state, const char *msg)
{
	pthread_mutex_lock(&st->lock);
	if (msg)
		snprintf(st->msg, sizeof(st->msg), "%s: %s", st->path, msg);
	if (state == -EILSEQ) {
		__atomic_store_n(&st->poisoned, true, __ATOMIC_RELEASE);
		state = -EBADMSG;
	}
	st->state = state;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	report(st, true, state < 0 ? state : 0);
}

/* An error met after some bytes: reported once those are published. */
static void keep_error(struct ckfs_stream *st, int err, const char *msg)
{
	st->pend_err = err;
	snprintf(st->pend_msg, sizeof(st->pend_msg), "%s", msg);
}

static bool derr_pending(struct ckfs_stream *st, int *err, char *msg,
			 size_t msz)
{
	if (!st->pend_err)
		return false;
	*err = st->pend_err;
	snprintf(msg, msz, "%s", st->pend_msg);
	return true;
}

static bool stopping(struct ckfs_stream *st)
{
	return __atomic_load_n(&st->stop, __ATOMIC_ACQUIRE);
}

/* The decoder: fills ring slots until the stream ends (or stop). */
static void *decoder_main(void *arg)
{
	struct ckfs_stream *st = arg;
	decode_fn decode = decoder_of(st->comp);

	for (;;) {
		struct ring_slot *sl;
		uint64_t i;

		pthread_mutex_lock(&st->ring_lock);
		while (st->head - st->tail == RING_SLOTS && !st->dead &&
		       !stopping(st))
			pthread_cond_wait(&st->ring_cond, &st->ring_lock);
		i = st->head;
		if (st->dead || stopping(st)) {
			pthread_mutex_unlock(&st->ring_lock);
			return NULL;
		}
		pthread_mutex_unlock(&st->ring_lock);

		sl = &st->ring[i % RING_SLOTS];
		st->out = sl->buf;
		st->cur = sl;
		sl->nraw = 0;
		sl->err = 0;
		sl->msg[0] = '\0';
		sl->n = derr_pending(st, &sl->err, sl->msg, sizeof(sl->msg))
				? 0
				: decode(st, &sl->err, sl->msg,
					 sizeof(sl->msg));
		sl->in_done = st->in_pos - (st->in_len - st->in_off);
		st->dec_out += sl->n;
		if (sl->n && sl->err) {
			/* for after these bytes: the next slot is the last */
			keep_error(st, sl->err, sl->msg);
			sl->err = 0;
		}

		pthread_mutex_lock(&st->ring_lock);
		st->head = i + 1;
		if (sl->n == 0)
			st->dec_done = true;
		pthread_cond_broadcast(&st->ring_cond);
		pthread_mutex_unlock(&st->ring_lock);
		if (sl->n == 0)
			return NULL;
	}
}

/* The writer ended the stream: the decoder must not wait for it. */
static void writer_end(struct ckfs_stream *st, int state, const char *msg)
{
	pthread_mutex_lock(&st->ring_lock);
	st->dead = true;
	pthread_cond_broadcast(&st->ring_cond);
	pthread_mutex_unlock(&st->ring_lock);
	finish(st, state, msg);
}

/* Publish @n more bytes at @ready, and how much input they took. */
static void publish(struct ckfs_stream *st, uint64_t ready, size_t n,
		    uint64_t in_done)
{
	pthread_mutex_lock(&st->lock);
	__atomic_store_n(&st->ready, ready + (uint64_t)n, __ATOMIC_RELEASE);
	__atomic_store_n(&st->in_done, in_done, __ATOMIC_RELAXED);
	if (st->waiters)
		pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
}

/* Note a raw extent in the map; false if it cannot be (then cache it). */
static bool map_add(struct ckfs_stream *st, const struct raw_ext *e)
{
	uint64_t n = st->rmap_n; /* only the writer stores it */
	struct raw_ext **chunk = &st->rmap[n / RMAP_CHUNK];

	if (n >= RAW_EXTS_MAX)
		return false;
	if (!*chunk && !(*chunk = malloc(RMAP_CHUNK * sizeof(**chunk))))
		return false;
	(*chunk)[n % RMAP_CHUNK] = *e;
	__atomic_store_n(&st->rmap_n, n + 1, __ATOMIC_RELEASE);
	return true;
}

/*
 * Write the first @n bytes of slot @sl, decoded bytes [@ready, @ready +
 * @n), to the cache, but for its raw blocks, which go to the map instead.
 */
static int write_slot(struct ckfs_stream *st, const struct ring_slot *sl,
		      size_t n, uint64_t ready)
{
	size_t at = 0;
	int r;

	for (size_t i = 0; i < sl->nraw; i++) {
		struct raw_ext e = sl->raw[i];
		size_t from = (size_t)(e.out - ready);

		if (from >= n)
			break;
		if (e.len > n - from)
			e.len = n - from; /* cut by the cache limit */
		if (!map_add(st, &e))
			continue; /* its bytes are written with the rest */
		if (from > at) {
			r = ckfs_cache_write(st->cache_fd, sl->buf + at,
					     from - at, ready + at);
			if (r < 0)
				return r;
		}
		at = from + (size_t)e.len;
	}
	/* (ending in a raw block, the file still grows to the decoded size) */
	return ckfs_cache_write(st->cache_fd, sl->buf + at, n - at, ready + at);
}

/* The writer: empties ring slots into the cache file, in order. */
static void *writer_main(void *arg)
{
	struct ckfs_stream *st = arg;
	char msg[CKFS_ERR_MSG_MAX - 64];

	for (;;) {
		uint64_t ready = st->ready;
		struct ring_slot *sl;
		size_t n;
		int r;

		pthread_mutex_lock(&st->ring_lock);
		while (st->tail == st->head && !stopping(st))
			pthread_cond_wait(&st->ring_cond, &st->ring_lock);
		if (st->tail == st->head || stopping(st)) {
			pthread_mutex_unlock(&st->ring_lock);
			return NULL;
		}
		sl = &st->ring[st->tail % RING_SLOTS];
		pthread_mutex_unlock(&st->ring_lock);

		n = sl->n;
		if (n == 0) {
			writer_end(st, sl->err ? sl->err : 1,
				   sl->err ? sl->msg : NULL);
			return NULL;
		}
		if ((uint64_t)n > st->limit - ready) {
			char a[32], b[32];

			/* fill up to the limit: members below it stay whole */
			n = (size_t)(st->limit - ready);
			ckfs_human_size(a, sizeof(a), st->limit);
			ckfs_human_size(b, sizeof(b), ready + (uint64_t)n);
			snprintf(
				msg, sizeof(msg),
				"decompresses to more than the cache limit of %s (%s); stopped after %s",
				a, st->limit_why, b);
			r = n ? write_slot(st, sl, n, ready) : 0;
			if (r == 0)
				publish(st, ready, n, sl->in_done);
			writer_end(st, -EOVERFLOW, msg);
			return NULL;
		}
		r = write_slot(st, sl, n, ready);
		if (r < 0) {
			snprintf(msg, sizeof(msg), "cannot write the cache: %s",
				 strerror(-r));
			writer_end(st, r == -ENOSPC ? -EOVERFLOW : -EIO, msg);
			return NULL;
		}
		publish(st, ready, n, sl->in_done);
		pthread_mutex_lock(&st->ring_lock);
		st->tail++;
		pthread_cond_broadcast(&st->ring_cond);
		pthread_mutex_unlock(&st->ring_lock);
		report(st, false, 0);
	}
}

static void stop_thread(struct ckfs_stream *st);

static int start_reader(struct ckfs_stream *st)
{
	int r;

	if (st->rdone || st->rthread_live)
		return 0;
	__atomic_store_n(&st->rstop, false, __ATOMIC_RELEASE);
	r = pthread_create(&st->rthread, NULL, reader_main, st);
	if (r)
		return -r;
	st->rthread_live = true;
	return 0;
}

/* Start whichever of the three threads still has work. */
static int start_thread(struct ckfs_stream *st)
{
	int r;

	__atomic_store_n(&st->stop, false, __ATOMIC_RELEASE);
	r = start_reader(st);
	if (r == 0 && !st->dec_done && !st->thread_live) {
		r = -pthread_create(&st->thread, NULL, decoder_main, st);
		st->thread_live = r == 0;
	}
	if (r == 0 && !st->wthread_live) {
		r = -pthread_create(&st->wthread, NULL, writer_main, st);
		st->wthread_live = r == 0;
	}
	if (r < 0)
		stop_thread(st);
	return r;
}

/*
 * The decoder first (it may need input to end its slot, so the reader
 * runs until it has returned), then the reader and the writer.
 */
static void stop_thread(struct ckfs_stream *st)
{
	pthread_mutex_lock(&st->ring_lock);
	__atomic_store_n(&st->stop, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&st->ring_cond);
	pthread_mutex_unlock(&st->ring_lock);
	if (st->thread_live)
		pthread_join(st->thread, NULL);
	pthread_mutex_lock(&st->ring_lock);
	__atomic_store_n(&st->rstop, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&st->ring_cond);
	pthread_mutex_unlock(&st->ring_lock);
	if (st->rthread_live)
		pthread_join(st->rthread, NULL);
	if (st->wthread_live)
		pthread_join(st->wthread, NULL);
	st->thread_live = st->wthread_live = st->rthread_live = false;
}

/* ---- sizes known before decoding ---- */

/* A lower bound of the decoded size, or 0 when nothing is known. */
static uint64_t known_size(struct ckfs_stream *st, const char **how)
{
	unsigned char b[18]; /* ZSTD_FRAMEHEADERSIZE_MAX */
	ssize_t n;

	if (st->comp == CKFS_COMP_ZSTD) {
		unsigned long long fcs;

		n = pread(st->in_fd, b, sizeof(b), 0);
		if (n <= 0)
			return 0;
		fcs = ZSTD_getFrameContentSize(b, (size_t)n);
		if (fcs == ZSTD_CONTENTSIZE_UNKNOWN ||
		    fcs == ZSTD_CONTENTSIZE_ERROR)
			return 0;
		*how = "by its zstd frame header";
		return fcs; /* more frames only add to it */
	}
	if (st->comp == CKFS_COMP_GZIP && st->in_size >= 18) {
		/* ISIZE is the size mod 2^32: the real size is never less */
		n = pread(st->in_fd, b, 4, (off_t)(st->in_size - 4));
		if (n != 4)
			return 0;
		*how = "at least, by its gzip trailer";
		return (uint64_t)b[0] | (uint64_t)b[1] << 8 |
		       (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24;
	}
	return 0;
}

static int init_decoder(struct ckfs_stream *st, struct ckfs_err *err)
{
	const char *name = ckfs_stream_comp_name(st->comp);
	struct archive_entry *ent;
	int r;

	st->zret = 1; /* a frame or member is expected */
	switch (st->comp) {
	case CKFS_COMP_ZSTD:
		st->zd = ZSTD_createDCtx();
		if (!st->zd ||
		    ZSTD_isError(ZSTD_DCtx_setParameter(
			    st->zd, ZSTD_d_windowLogMax, DEC_WINDOWLOG_MAX)))
			return ckfs_err_set(err, -ENOMEM, "out of memory");
		/* without these, raw blocks are simply cached */
		st->zw = malloc(sizeof(*st->zw));
		st->vbuf = malloc(ZSTD_BLOCKSIZE_MAX);
		if (st->zw && st->vbuf) {
			ckfs_zwalk_init(st->zw, st->in_fd, st->in_size, 0);
			raw_next(st, 0);
		} else {
			raw_stop(st);
		}
		return 0;
	case CKFS_COMP_GZIP:
		/* 15 + 16: a gzip wrapper, with its CRC-32 and ISIZE checked */
		if (inflateInit2(&st->zs, 15 + 16) != Z_OK)
			return ckfs_err_set(err, -ENOMEM, "out of memory");
		st->zs_init = true;
		return 0;
	default:
		st->la = archive_read_new();
		if (!st->la)
			return ckfs_err_set(err, -ENOMEM, "out of memory");
		r = st->comp == CKFS_COMP_XZ
			    ? archive_read_support_filter_xz(st->la)
			    : archive_read_support_filter_bzip2(st->la);
		if (r != ARCHIVE_OK)
			return ckfs_err_set(
				err, -ENOTSUP,
				"%s: %s-compressed, and this build cannot decompress %s: %s",
				st->path, name, name,
				archive_error_string(st->la));
		archive_read_support_format_raw(st->la);
		if (archive_read_open(st->la, st, NULL, la_read, NULL) !=
			    ARCHIVE_OK ||
		    archive_read_next_header(st->la, &ent) != ARCHIVE_OK)
			return ckfs_err_set(
				err, -EBADMSG, "%s: corrupt %s stream: %s",
				st->path, name, archive_error_string(st->la));
		return 0;
	}
}

int ckfs_stream_new(int fd, uint64_t size, const char *path,
		    enum ckfs_compression comp,
		    const struct ckfs_archive_opts *opts,
		    struct ckfs_stream **out, struct ckfs_err *err)
{
	struct ckfs_stream *st;
	const char *how = NULL;
	struct ckfs_cache_limit lim;
	uint64_t known;
	int r;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	st->in_fd = fd;
	st->in_size = size;
	st->comp = comp;
	st->cache_fd = -1;
	st->raw_in = RAW_NONE;
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	pthread_mutex_init(&st->ring_lock, NULL);
	pthread_cond_init(&st->ring_cond, NULL);
	st->path = strdup(path);
	if (!st->path) {
		r = ckfs_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < RING_SLOTS; i++) {
		st->ring[i].buf = malloc(OUT_BUF);
		if (!st->ring[i].buf) {
			r = ckfs_err_set(err, -ENOMEM, "out of memory");
			goto fail;
		}
	}
	for (size_t i = 0; i < IN_SLOTS; i++) {
		st->in_ring[i].buf = malloc(IN_BUF);
		if (!st->in_ring[i].buf) {
			r = ckfs_err_set(err, -ENOMEM, "out of memory");
			goto fail;
		}
	}
	r = ckfs_cache_open(opts, &lim, err);
	if (r < 0) {
		ckfs_err_prefix(err, r, "%s: %s-compressed: ", path,
				ckfs_stream_comp_name(comp));
		goto fail;
	}
	st->cache_fd = r;
	st->limit = lim.bytes;
	snprintf(st->limit_why, sizeof(st->limit_why), "%s", lim.why);
	known = known_size(st, &how);
	if (known > st->limit) {
		char a[32], b[32];

		ckfs_human_size(a, sizeof(a), known);
		ckfs_human_size(b, sizeof(b), st->limit);
		r = ckfs_err_set(
			err, -EOVERFLOW,
			"%s: decompresses to %s (%s), more than the cache limit of %s (%s)",
			path, a, how, b, st->limit_why);
		goto fail;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	/* first: libarchive's filters read their first bytes right away */
	r = start_reader(st);
	if (r < 0) {
		ckfs_err_set(err, r, "cannot start the reader: %s",
			     strerror(-r));
		goto fail;
	}
	r = init_decoder(st, err);
	if (r < 0)
		goto fail;
	st->t0 = (uint64_t)ckfs_now_ns();
	st->last_report = st->t0;
	st->progress = opts->progress;
	st->progress_arg = opts->progress_arg;
	r = start_thread(st);
	if (r < 0) {
		ckfs_err_set(err, r, "cannot start the decoder: %s",
			     strerror(-r));
		goto fail;
	}
	*out = st;
	return 0;
fail:
	ckfs_stream_free(st);
	return r;
}

void ckfs_stream_free(struct ckfs_stream *st)
{
	if (!st)
		return;
	stop_thread(st);
	if (st->state == 0)
		report(st, true, -ECANCELED); /* clears a progress line */
	if (st->zd)
		ZSTD_freeDCtx(st->zd);
	if (st->zs_init)
		inflateEnd(&st->zs);
	if (st->la)
		archive_read_free(st->la);
	free(st->zw);
	free(st->vbuf);
	for (size_t i = 0; i < RMAP_CHUNKS; i++)
		free(st->rmap[i]);
	if (st->cache_fd >= 0)
		close(st->cache_fd);
	pthread_cond_destroy(&st->ring_cond);
	pthread_mutex_destroy(&st->ring_lock);
	pthread_cond_destroy(&st->cond);
	pthread_mutex_destroy(&st->lock);
	for (size_t i = 0; i < IN_SLOTS; i++)
		free(st->in_ring[i].buf);
	for (size_t i = 0; i < RING_SLOTS; i++)
		free(st->ring[i].buf);
	free(st->path);
	free(st);
}

/*
 * Where decoded byte @pos lies (it must be published): the archive file
 * in a raw extent, else the cache; and how many bytes from there on, up to
 * @len, lie the same way.
 */
static uint64_t map_find(const struct ckfs_stream *st, uint64_t pos,
			 uint64_t len, int *fd, uint64_t *off)
{
	uint64_t n = __atomic_load_n(&st->rmap_n, __ATOMIC_ACQUIRE);
	uint64_t lo = 0, hi = n;
	const struct raw_ext *e;

	/* the first extent that ends after @pos */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		e = &st->rmap[mid / RMAP_CHUNK][mid % RMAP_CHUNK];
		if (e->out + e->len <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n) {
		e = &st->rmap[lo / RMAP_CHUNK][lo % RMAP_CHUNK];
		if (e->out <= pos) {
			*fd = st->in_fd;
			*off = e->in + (pos - e->out);
			return len < e->out + e->len - pos
				       ? len
				       : e->out + e->len - pos;
		}
		if (len > e->out - pos)
			len = e->out - pos;
	}
	*fd = st->cache_fd;
	*off = pos;
	return len;
}

ssize_t ckfs_stream_pread(struct ckfs_stream *st, void *buf, size_t len,
			  uint64_t pos)
{
	int64_t got = ckfs_stream_wait(st, pos, len);
	size_t done = 0;

	if (got < 0 || (uint64_t)got < len)
		return -EIO;
	while (done < len) {
		uint64_t off;
		int fd;
		size_t run =
			(size_t)map_find(st, pos + done, len - done, &fd, &off);

		if (ckfs_pread_full(fd, (char *)buf + done, run, off) !=
		    (ssize_t)run)
			return -EIO;
		done += run;
	}
	return (ssize_t)done;
}

int64_t ckfs_stream_locate(struct ckfs_stream *st, uint64_t pos, uint64_t len,
			   struct ckfs_seg *seg)
{
	int64_t got = ckfs_stream_wait(st, pos, len);

	if (got < 0 || (uint64_t)got < len)
		return -EIO;
	seg->len = map_find(st, pos, len, &seg->fd, &seg->off);
	return (int64_t)seg->len;
}

int64_t ckfs_stream_wait(struct ckfs_stream *st, uint64_t pos, uint64_t want)
{
	uint64_t end = pos + want < pos ? UINT64_MAX : pos + want;
	uint64_t ready = __atomic_load_n(&st->ready, __ATOMIC_ACQUIRE);
	int64_t r;

	if (ready >= end && !__atomic_load_n(&st->poisoned, __ATOMIC_ACQUIRE))
		return (int64_t)(ready - pos);
	pthread_mutex_lock(&st->lock);
	st->waiters++;
	while (st->ready < end && st->state == 0)
		pthread_cond_wait(&st->cond, &st->lock);
	st->waiters--;
	if (st->poisoned || (st->ready < end && st->state < 0))
		r = -EIO;
	else
		r = st->ready > pos ? (int64_t)(st->ready - pos) : 0;
	pthread_mutex_unlock(&st->lock);
	return r;
}

void ckfs_stream_wait_end(struct ckfs_stream *st)
{
	pthread_mutex_lock(&st->lock);
	st->waiters++;
	while (st->state == 0)
		pthread_cond_wait(&st->cond, &st->lock);
	st->waiters--;
	pthread_mutex_unlock(&st->lock);
}

int ckfs_stream_status(const struct ckfs_stream *cst, struct ckfs_err *err)
{
	struct ckfs_stream *st = (struct ckfs_stream *)cst;
	int r = 0;

	pthread_mutex_lock(&st->lock);
	if (st->state < 0)
		r = ckfs_err_set(err, st->state, "%s", st->msg);
	pthread_mutex_unlock(&st->lock);
	return r;
}

void ckfs_stream_pause(struct ckfs_stream *st)
{
	stop_thread(st);
}

void ckfs_stream_resume(struct ckfs_stream *st)
{
	int r;

	if (st->wthread_live || st->state != 0)
		return;
	r = start_thread(st);
	if (r < 0) {
		char msg[128];

		snprintf(msg, sizeof(msg), "cannot restart the decoder: %s",
			 strerror(-r));
		finish(st, -EIO, msg);
	}
}
