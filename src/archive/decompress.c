/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A compressed tar, decoded once: one background thread reads the file
 * sequentially (pread, so the file offset is nobody's business), decodes
 * it with zlib (gzip), libzstd (zstd) or libarchive's filters (xz, bzip2)
 * into fixed buffers and appends the output to the cache file, publishing
 * how far it has got ("ready").  Readers wait on a condition variable only
 * until their own range is ready; the fast path is one atomic load.
 *
 * Failures: a truncated or corrupt stream stops the decode; what was
 * decoded before stays readable, anything after fails with -EIO.  A
 * checksum mismatch (gzip CRC-32/ISIZE, zstd XXH64) poisons the whole
 * cache: no read succeeds afterwards, since the data cannot be trusted.
 * The cache never grows past its limit: the decode stops there (-EOVERFLOW).
 *
 * Memory is fixed: two buffers, plus the decoder's own state (for zstd at
 * most a 128 MiB window, ZSTD_d_windowLogMax 27; Podman's is 8 MiB).
 *
 * All decoder state lives in struct ckfs_stream, never on the thread's
 * stack between chunks, so the thread can be stopped at a chunk boundary
 * and started again later (across a fork()).
 */
#include "archive/archive_i.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "base/mem.h"

#define IN_BUF		   (256u << 10)
#define OUT_BUF		   (512u << 10)
#define ZSTD_WINDOWLOG_MAX 27
#define PROGRESS_NS	   250000000ull

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
	unsigned char *in, *out;
	size_t in_len, in_off; /* valid bytes in @in, and consumed */
	uint64_t in_pos;       /* file offset of the next refill */
	bool in_eof;
	ZSTD_DCtx *zd;
	size_t zret; /* last ZSTD_decompressStream() result */
	z_stream zs;
	bool zs_init;
	struct archive *la; /* xz, bzip2 */
	int pend_err;	    /* an error to report after the last bytes */
	char pend_msg[CKFS_ERR_MSG_MAX - 64];
	uint64_t t0, last_report;
	bool reported;

	pthread_t thread;
	bool thread_live;

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

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

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
	if (n >= 6 && !memcmp(h, "\xfd\x37\x7a\x58\x5a\x00", 6))
		return CKFS_COMP_XZ;
	if (n >= 3 && !memcmp(h, "BZh", 3))
		return CKFS_COMP_BZIP2;
	return CKFS_COMP_NONE;
}

static void human(char *buf, size_t sz, uint64_t v)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double d = (double)v;
	int u = 0;

	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, sz, "%llu B", (unsigned long long)v);
	else
		snprintf(buf, sz, "%.1f %s", d, unit[u]);
}

/* ---- input ---- */

/* Refill @in when it is used up; sets in_eof at the end of the file. */
static int refill(struct ckfs_stream *st)
{
	ssize_t n;

	if (st->in_off < st->in_len || st->in_eof)
		return 0;
	do {
		n = pread(st->in_fd, st->in, IN_BUF, (off_t)st->in_pos);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	st->in_len = (size_t)n;
	st->in_off = 0;
	st->in_pos += (uint64_t)n;
	if (n == 0)
		st->in_eof = true;
	return 0;
}

/*
 * Each decoder fills @st->out with up to OUT_BUF bytes and returns the
 * count; 0 only at the end of the stream or on an error.  An error is
 * stored in *@err (-errno; -EILSEQ for a checksum mismatch) with @msg; the
 * bytes decoded before it are still returned, and count.
 */
typedef size_t (*decode_fn)(struct ckfs_stream *st, int *err, char *msg,
			    size_t msz);

static size_t decode_zstd(struct ckfs_stream *st, int *err, char *msg,
			  size_t msz)
{
	ZSTD_outBuffer out = { st->out, OUT_BUF, 0 };

	while (out.pos < out.size) {
		ZSTD_inBuffer in;
		size_t before = out.pos, ret;
		int r = refill(st);

		if (r < 0) {
			snprintf(msg, msz, "cannot read: %s", strerror(-r));
			*err = r;
			break;
		}
		in = (ZSTD_inBuffer){ st->in, st->in_len, st->in_off };
		if (in.pos == in.size && st->zret == 0)
			break; /* every frame complete, no more input */
		ret = ZSTD_decompressStream(st->zd, &out, &in);
		st->in_off = in.pos;
		if (ZSTD_isError(ret)) {
			ZSTD_ErrorCode c = ZSTD_getErrorCode(ret);

			if (c == ZSTD_error_frameParameter_windowTooLarge)
				snprintf(
					msg, msz,
					"zstd stream needs a window larger than %u MiB; refusing it",
					1u << (ZSTD_WINDOWLOG_MAX - 20));
			else
				snprintf(msg, msz, "corrupt zstd stream: %s",
					 ZSTD_getErrorName(ret));
			*err = c == ZSTD_error_checksum_wrong ? -EILSEQ
							      : -EBADMSG;
			break;
		}
		st->zret = ret;
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
	uint64_t t = now_ns();

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

static void *decoder_main(void *arg)
{
	struct ckfs_stream *st = arg;
	decode_fn decode = decoder_of(st->comp);
	char msg[CKFS_ERR_MSG_MAX - 64];

	for (;;) {
		uint64_t ready = st->ready;
		size_t n;
		int r, derr = 0;

		if (__atomic_load_n(&st->stop, __ATOMIC_ACQUIRE))
			return NULL;
		msg[0] = '\0';
		n = derr_pending(st, &derr, msg, sizeof(msg))
			    ? 0
			    : decode(st, &derr, msg, sizeof(msg));
		if (n == 0) {
			finish(st, derr ? derr : 1, derr ? msg : NULL);
			return NULL;
		}
		if (derr)
			keep_error(st, derr, msg); /* for after these bytes */
		if ((uint64_t)n > st->limit - ready) {
			char a[32], b[32];

			/* fill up to the limit: members below it stay whole */
			n = (size_t)(st->limit - ready);
			human(a, sizeof(a), st->limit);
			human(b, sizeof(b), ready + (uint64_t)n);
			snprintf(
				msg, sizeof(msg),
				"decompresses to more than the cache limit of %s (%s); stopped after %s",
				a, st->limit_why, b);
			r = n ? ckfs_cache_write(st->cache_fd, st->out, n,
						 ready)
			      : 0;
			if (r == 0) {
				pthread_mutex_lock(&st->lock);
				__atomic_store_n(&st->ready,
						 ready + (uint64_t)n,
						 __ATOMIC_RELEASE);
				pthread_mutex_unlock(&st->lock);
			}
			finish(st, -EOVERFLOW, msg);
			return NULL;
		}
		r = ckfs_cache_write(st->cache_fd, st->out, n, ready);
		if (r < 0) {
			snprintf(msg, sizeof(msg), "cannot write the cache: %s",
				 strerror(-r));
			finish(st, r == -ENOSPC ? -EOVERFLOW : -EIO, msg);
			return NULL;
		}
		pthread_mutex_lock(&st->lock);
		__atomic_store_n(&st->ready, ready + (uint64_t)n,
				 __ATOMIC_RELEASE);
		__atomic_store_n(&st->in_done,
				 st->in_pos - (st->in_len - st->in_off),
				 __ATOMIC_RELAXED);
		if (st->waiters)
			pthread_cond_broadcast(&st->cond);
		pthread_mutex_unlock(&st->lock);
		report(st, false, 0);
	}
}

static int start_thread(struct ckfs_stream *st)
{
	int r;

	__atomic_store_n(&st->stop, false, __ATOMIC_RELEASE);
	r = pthread_create(&st->thread, NULL, decoder_main, st);
	if (r)
		return -r;
	st->thread_live = true;
	return 0;
}

static void stop_thread(struct ckfs_stream *st)
{
	if (!st->thread_live)
		return;
	__atomic_store_n(&st->stop, true, __ATOMIC_RELEASE);
	pthread_join(st->thread, NULL);
	st->thread_live = false;
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
			    st->zd, ZSTD_d_windowLogMax, ZSTD_WINDOWLOG_MAX)))
			return ckfs_err_set(err, -ENOMEM, "out of memory");
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
	uint64_t dflt, known;
	int r;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	st->in_fd = fd;
	st->in_size = size;
	st->comp = comp;
	st->cache_fd = -1;
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	st->path = strdup(path);
	st->in = malloc(IN_BUF);
	st->out = malloc(OUT_BUF);
	if (!st->path || !st->in || !st->out) {
		r = ckfs_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	r = ckfs_cache_open(opts->cache_dir, &dflt, err);
	if (r < 0) {
		ckfs_err_prefix(err, r, "%s: %s-compressed: ", path,
				ckfs_stream_comp_name(comp));
		goto fail;
	}
	st->cache_fd = r;
	if (opts->cache_max) {
		char a[32];

		st->limit = opts->cache_max;
		human(a, sizeof(a), st->limit);
		snprintf(st->limit_why, sizeof(st->limit_why), "cache_max=%s",
			 a);
	} else {
		st->limit = dflt;
		snprintf(
			st->limit_why, sizeof(st->limit_why),
			opts->cache_dir
				? "the free space in cache_dir; set -o cache_max=SIZE"
				: "half of the RAM; set -o cache_dir=DIR or -o cache_max=SIZE");
	}
	known = known_size(st, &how);
	if (known > st->limit) {
		char a[32], b[32];

		human(a, sizeof(a), known);
		human(b, sizeof(b), st->limit);
		r = ckfs_err_set(
			err, -EOVERFLOW,
			"%s: decompresses to %s (%s), more than the cache limit of %s (%s)",
			path, a, how, b, st->limit_why);
		goto fail;
	}
	r = init_decoder(st, err);
	if (r < 0)
		goto fail;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	st->t0 = now_ns();
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
	if (st->cache_fd >= 0)
		close(st->cache_fd);
	pthread_cond_destroy(&st->cond);
	pthread_mutex_destroy(&st->lock);
	free(st->in);
	free(st->out);
	free(st->path);
	free(st);
}

int ckfs_stream_fd(const struct ckfs_stream *st)
{
	return st->cache_fd;
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

	if (st->thread_live || st->state != 0)
		return;
	r = start_thread(st);
	if (r < 0) {
		char msg[128];

		snprintf(msg, sizeof(msg), "cannot restart the decoder: %s",
			 strerror(-r));
		finish(st, -EIO, msg);
	}
}
