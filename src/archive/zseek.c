/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A zstd file made of many frames, read by frame: no cache file, and no
 * background decode but a frame or two ahead of a sequential reader.  At
 * open, a frame table (where each frame starts in the file and in the
 * decoded stream, and how long it is in both) is built from the seek table
 * of the zstd seekable format when the file ends with a sound one, or else
 * by walking the frame and block headers with pread() (a few bytes per
 * block, never the data).  A read then decodes only the frames it
 * overlaps, each one whole with ZSTD_decompressDCtx(), which also checks
 * the frame's XXH64 checksum when it has one.
 *
 * The file is read this way only when every frame with data says how big
 * it decodes (its header, or the seek table), no frame decodes to more
 * than ZS_FRAME_MAX, there are at least two such frames and at most
 * ZS_FRAMES_MAX (24 bytes of table each).  Anything else (one frame, a
 * frame without a content size as pzstd writes them, big frames, a frame
 * or block header that makes no sense, a file cut inside a frame) is left
 * to the streaming decoder (decompress.c), which tells the story.  A seek
 * table that does not match the file (sizes that do not add up to where
 * the table starts, counts larger than the file, reserved bits, frames
 * whose header disagrees) is ignored: the frames are walked instead.
 *
 * Decoded frames live in a few cache slots, least recently used first out:
 * as many as fit in ZS_CACHE_BYTES, counting each slot's buffers for the
 * largest frame stored and decoded, but two at least (so up to 2 x 16 MiB
 * with 8 MiB frames of incompressible data) and ZS_SLOTS_MAX at most.
 * Nothing else grows with the archive but the frame table.  One mutex
 * guards the slots' bookkeeping only: a frame is decoded into its slot
 * with no lock held, and whoever wants the same frame meanwhile waits for
 * that decode rather than starting another.  A frame that fails to decode
 * (corrupt, bad checksum, a size that disagrees) fails the reads that
 * touch it with a one-line reason, and only them; it is not kept, so a
 * later read tries again.
 *
 * Read-ahead: the reads are told apart in a few streams, a read joining
 * the stream it starts near the end of (ZS_SEQ_SLACK either side: the
 * kernel's readahead requests may arrive a little out of order).  Once a
 * stream has run over two frames (ZS_SEQ_MIN at least: a big random read
 * comes as several requests in order too), each read that joins it asks
 * for the next frame or two after the last one it touches to be decoded in
 * the background, by one thread per open file, started on the first such
 * request.  It decodes into the same cache slots, as any reader would
 * (whoever wants that frame meanwhile waits for it), but only into a slot
 * nobody holds that is not between a sequential reader and the frame
 * decoded ahead for it, and it gives up rather than wait for one: memory
 * stays within the same budget.  A frame it fails to decode is dropped,
 * not kept as failed: a reader waiting for it, and any later one, decodes
 * it itself and tells why; the read-ahead does not try that frame again
 * until a reader decoded it.  ckfs_zseek_pause() joins the thread between
 * two frames (around a fork()); the next request after ckfs_zseek_resume()
 * starts it again.
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getFrameHeader() */

#include "archive/archive_i.h"
#include "archive/zwalk.h"
#include "base/fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#define ZS_FRAME_MAX	   (8u << 20) /* decoded bytes of one frame */
#define ZS_CFRAME_MAX	   (ZS_FRAME_MAX + (64u << 10)) /* its stored bytes */
#define ZS_FRAMES_MAX	   (1u << 20)
#define ZS_CACHE_BYTES	   (16u << 20)
#define ZS_SLOTS_MIN	   2
#define ZS_SLOTS_MAX	   8
#define ZS_WINDOWLOG_MAX   27 /* as the streaming decoder */
#define ZS_SEEKABLE_MAGIC  0x8F92EAB1u
#define ZS_SEEKTABLE_MAGIC 0x184D2A5Eu
#define ZS_FOOTER	   9
#define ZS_AHEAD	   2 /* frames decoded ahead (1 with fewer than 4 slots) */
#define ZS_STREAMS	   8 /* sequential readers told apart */
#define ZS_SEQ_SLACK	   (256u << 10)
#define ZS_SEQ_MIN	   (2u << 20) /* a stream's run before read-ahead */
#define ZS_JOBS		   4	      /* read-ahead requests queued at most */

struct zs_frame {
	uint64_t coff;	/* where it starts in the file */
	uint64_t doff;	/* where its bytes start in the decoded stream */
	uint32_t csize; /* stored bytes */
	uint32_t dsize; /* decoded bytes, > 0 */
};

enum { SLOT_EMPTY, SLOT_LOADING, SLOT_READY, SLOT_FAILED };

/* Reads in order: the bytes they covered. */
struct zs_stream {
	uint64_t start, end;
	uint64_t used; /* for LRU; 0: no stream */
};

/* Decode frame @frame ahead, for a reader now at frame @from. */
struct zs_job {
	size_t frame, from;
};

struct zs_slot {
	size_t frame; /* valid unless SLOT_EMPTY */
	int state;
	unsigned refs; /* readers copying out of it, or its decoder */
	uint64_t used; /* for LRU */
	bool ahead;    /* decoded by the read-ahead, not read since */
	/* only its decoder touches these, while SLOT_LOADING */
	unsigned char *in, *out;
	ZSTD_DCtx *dctx;
	/* why it failed (SLOT_FAILED) */
	int err;
	char msg[CKFS_ERR_MSG_MAX];
};

struct ckfs_zseek {
	int fd; /* borrowed */
	uint64_t fsize, total;
	char *path;
	struct zs_frame *f;
	size_t n, cap;
	uint32_t dmax, cmax; /* largest frame, decoded and stored */
	bool seek_table;

	pthread_mutex_t lock; /* guards the slots' frame, state, refs, used */
	pthread_cond_t cond;  /* a decode ended, or a slot was let go */
	unsigned waiters;
	uint64_t clock;
	unsigned nslots;
	struct zs_slot slot[ZS_SLOTS_MAX];

	/* the read-ahead, under lock too */
	struct zs_stream stream[ZS_STREAMS];
	uint64_t sclock;
	uint64_t seq_min; /* the run of a stream that gets read-ahead */
	struct zs_job job[ZS_JOBS]; /* oldest first */
	unsigned njobs;
	struct zs_job cur; /* being decoded, if busy */
	bool busy;
	bool has_bad; /* bad: a frame the read-ahead failed to decode */
	size_t bad;
	pthread_t thread;
	bool live;   /* the thread runs (join it) */
	bool stop;   /* it should return */
	bool paused; /* do not start it (paused, or it could not start) */
	pthread_cond_t job_cond; /* a job queued, or stop */
	uint64_t prefetched, prefetch_used, prefetch_failed; /* (atomic) */
};

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n = ckfs_pread_full(fd, buf, len, off);

	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -ENODATA; /* the file is shorter */
}

/* ---- the frame table ---- */

static int add_frame(struct ckfs_zseek *zs, uint64_t coff, uint64_t csize,
		     uint64_t dsize)
{
	struct zs_frame *f;

	if (dsize == 0)
		return 1; /* nothing to read in it */
	if (dsize > ZS_FRAME_MAX || csize > ZS_CFRAME_MAX ||
	    zs->n >= ZS_FRAMES_MAX)
		return 0;
	if (zs->n == zs->cap) {
		size_t cap = zs->cap ? 2 * zs->cap : 256;

		f = reallocarray(zs->f, cap, sizeof(*f));
		if (!f)
			return -ENOMEM;
		zs->f = f;
		zs->cap = cap;
	}
	zs->f[zs->n++] = (struct zs_frame){
		.coff = coff,
		.doff = zs->total,
		.csize = (uint32_t)csize,
		.dsize = (uint32_t)dsize,
	};
	zs->total += dsize;
	if (dsize > zs->dmax)
		zs->dmax = (uint32_t)dsize;
	if (csize > zs->cmax)
		zs->cmax = (uint32_t)csize;
	return 1;
}

static void reset_table(struct ckfs_zseek *zs)
{
	zs->n = 0;
	zs->total = 0;
	zs->dmax = zs->cmax = 0;
}

/* A frame we can decode alone: no dictionary, a window we accept. */
static bool usable(const ZSTD_frameHeader *fh)
{
	return fh->dictID == 0 && fh->windowSize <= (1ull << ZS_WINDOWLOG_MAX);
}

/*
 * Walk the frames from the start.  Returns 1 when the table is complete,
 * 0 when the file is not one to read by frame, or -ENOMEM.
 */
static int walk_frames(struct ckfs_zseek *zs)
{
	struct ckfs_zwalk *w = malloc(sizeof(*w));
	struct ckfs_zunit u;
	uint64_t start = 0, nblk = 0, blkmax = 0, dsize = 0;
	int r = 0;

	if (!w)
		return -ENOMEM;
	ckfs_zwalk_init(w, zs->fd, zs->fsize, 0);
	for (;;) {
		switch (ckfs_zwalk_next(w, &u)) {
		case CKFS_ZU_END:
			r = 1;
			goto out;
		case CKFS_ZU_BAD:
			goto out;
		case CKFS_ZU_SKIPPABLE:
			continue;
		case CKFS_ZU_FRAME:
			if (!usable(&u.fh) ||
			    u.fh.frameContentSize == ZSTD_CONTENTSIZE_UNKNOWN ||
			    u.fh.frameContentSize > ZS_FRAME_MAX)
				goto out;
			start = u.off;
			dsize = u.fh.frameContentSize;
			nblk = 0;
			blkmax = 2 + dsize / 512;
			continue;
		case CKFS_ZU_BLOCK:
			if (++nblk > blkmax)
				goto out;
			if (!u.last)
				continue;
			r = add_frame(zs, start, u.end - start, dsize);
			if (r <= 0)
				goto out;
			r = 0;
			continue;
		}
	}
out:
	free(w);
	return r;
}

/*
 * The seek table at the end of the file, if there is one and it matches
 * the file.  Returns 1 when the table is complete, 0 when there is none or
 * it does not match, or -ENOMEM.
 */
static int read_seek_table(struct ckfs_zseek *zs)
{
	struct ckfs_zwalk *w = NULL;
	unsigned char foot[ZS_FOOTER], head[8], *ent = NULL;
	uint64_t tsize, tstart, coff = 0, i;
	uint32_t nframes;
	size_t esz, chunk = 4096, got = 0, at = 0;
	int r = 0;

	if (zs->fsize < 8 + ZS_FOOTER ||
	    pread_full(zs->fd, foot, sizeof(foot), zs->fsize - ZS_FOOTER) < 0 ||
	    le32(foot + 5) != ZS_SEEKABLE_MAGIC)
		return 0;
	nframes = le32(foot);
	if (foot[4] & 0x7c) /* reserved bits */
		return 0;
	esz = foot[4] & 0x80 ? 12 : 8;
	tsize = 8 + (uint64_t)nframes * esz + ZS_FOOTER;
	if (nframes == 0 || nframes > ZS_FRAMES_MAX || tsize > zs->fsize)
		return 0;
	tstart = zs->fsize - tsize;
	if (pread_full(zs->fd, head, sizeof(head), tstart) < 0 ||
	    le32(head) != ZS_SEEKTABLE_MAGIC || le32(head + 4) != tsize - 8)
		return 0;
	ent = malloc(chunk * esz);
	w = malloc(sizeof(*w));
	if (!ent || !w) {
		r = -ENOMEM;
		goto out;
	}
	ckfs_zwalk_init(w, zs->fd, zs->fsize, 0);
	for (i = 0; i < nframes; i++) {
		uint64_t csize, dsize;
		struct ckfs_zunit u;

		if (at == got) {
			got = nframes - i < chunk ? (size_t)(nframes - i)
						  : chunk;
			at = 0;
			if (pread_full(zs->fd, ent, got * esz,
				       tstart + 8 + i * esz) < 0)
				goto out;
		}
		csize = le32(ent + at * esz);
		dsize = le32(ent + at * esz + 4);
		at++;
		if (csize == 0 || csize > tstart - coff)
			goto out; /* runs past the table */
		/* each entry must describe the frame that is really there */
		ckfs_zwalk_seek(w, coff);
		switch (ckfs_zwalk_next(w, &u)) {
		case CKFS_ZU_SKIPPABLE: /* nothing to read in it */
			if (dsize != 0 || u.end - u.off != csize)
				goto out;
			break;
		case CKFS_ZU_FRAME:
			/* (a frame said to be empty must say so itself) */
			if (!usable(&u.fh) || u.fh.headerSize + 3 > csize ||
			    (u.fh.frameContentSize !=
				     ZSTD_CONTENTSIZE_UNKNOWN &&
			     u.fh.frameContentSize != dsize) ||
			    (dsize == 0 && u.fh.frameContentSize != 0))
				goto out;
			r = add_frame(zs, coff, csize, dsize);
			if (r <= 0)
				goto out;
			r = 0;
			break;
		default:
			goto out;
		}
		coff += csize;
	}
	/* the frames end exactly where the table starts */
	r = coff == tstart;
out:
	free(w);
	free(ent);
	if (r <= 0)
		reset_table(zs);
	return r;
}

/* ---- opening ---- */

void ckfs_zseek_free(struct ckfs_zseek *zs)
{
	unsigned i;

	if (!zs)
		return;
	ckfs_zseek_pause(zs);
	for (i = 0; i < zs->nslots; i++) {
		free(zs->slot[i].in);
		free(zs->slot[i].out);
		ZSTD_freeDCtx(zs->slot[i].dctx);
	}
	pthread_cond_destroy(&zs->job_cond);
	pthread_cond_destroy(&zs->cond);
	pthread_mutex_destroy(&zs->lock);
	free(zs->f);
	free(zs->path);
	free(zs);
}

int ckfs_zseek_open(int fd, uint64_t size, const char *path,
		    struct ckfs_zseek **out, struct ckfs_err *err)
{
	struct ckfs_zseek *zs;
	struct zs_frame *f;
	uint64_t per_slot;
	int r;

	*out = NULL;
	zs = calloc(1, sizeof(*zs));
	if (!zs || !(zs->path = strdup(path))) {
		free(zs);
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	}
	zs->fd = fd;
	zs->fsize = size;
	pthread_mutex_init(&zs->lock, NULL);
	pthread_cond_init(&zs->cond, NULL);
	pthread_cond_init(&zs->job_cond, NULL);
	r = read_seek_table(zs);
	zs->seek_table = r > 0;
	if (r == 0) {
		/* only headers are read: no readahead of the data between */
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
		r = walk_frames(zs);
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_NORMAL);
	}
	if (r < 0) {
		ckfs_zseek_free(zs);
		return ckfs_err_set(err, r, "out of memory");
	}
	if (r == 0 || zs->n < 2) {
		ckfs_zseek_free(zs);
		return 0; /* stream it */
	}
	f = reallocarray(zs->f, zs->n, sizeof(*f)); /* no slack */
	if (f)
		zs->f = f;
	per_slot = (uint64_t)zs->dmax + zs->cmax;
	zs->nslots = (unsigned)(ZS_CACHE_BYTES / per_slot);
	if (zs->nslots < ZS_SLOTS_MIN)
		zs->nslots = ZS_SLOTS_MIN;
	if (zs->nslots > ZS_SLOTS_MAX)
		zs->nslots = ZS_SLOTS_MAX;
	zs->seq_min = 2 * (uint64_t)zs->dmax;
	if (zs->seq_min < ZS_SEQ_MIN)
		zs->seq_min = ZS_SEQ_MIN;
	*out = zs;
	return 1;
}

uint64_t ckfs_zseek_size(const struct ckfs_zseek *zs)
{
	return zs->total;
}

void ckfs_zseek_info(const struct ckfs_zseek *zs, struct ckfs_zseek_info *info)
{
	*info = (struct ckfs_zseek_info){
		.frames = zs->n,
		.size = zs->total,
		.frame_max = zs->dmax,
		.slots = zs->nslots,
		.seek_table = zs->seek_table,
		.prefetched =
			__atomic_load_n(&zs->prefetched, __ATOMIC_RELAXED),
		.prefetch_used =
			__atomic_load_n(&zs->prefetch_used, __ATOMIC_RELAXED),
		.prefetch_failed =
			__atomic_load_n(&zs->prefetch_failed, __ATOMIC_RELAXED),
	};
}

/* ---- reading ---- */

/* Decode frame @i into @s, which its caller owns (SLOT_LOADING). */
static int decode_frame(struct ckfs_zseek *zs, struct zs_slot *s, size_t i)
{
	const struct zs_frame *f = &zs->f[i];
	size_t ret;
	int r;

	if (!s->out)
		s->out = malloc(zs->dmax);
	if (!s->in)
		s->in = malloc(zs->cmax);
	if (!s->dctx) {
		s->dctx = ZSTD_createDCtx();
		if (s->dctx)
			(void)ZSTD_DCtx_setParameter(
				s->dctx, ZSTD_d_windowLogMax, ZS_WINDOWLOG_MAX);
	}
	if (!s->out || !s->in || !s->dctx)
		return ckfs_err_set(NULL, -ENOMEM, "out of memory");
	r = pread_full(zs->fd, s->in, f->csize, f->coff);
	if (r < 0) {
		snprintf(s->msg, sizeof(s->msg),
			 "%s: cannot read zstd frame %zu at byte %llu: %s",
			 zs->path, i, (unsigned long long)f->coff,
			 r == -ENODATA ? "the file is shorter than it was"
				       : strerror(-r));
		return -EIO;
	}
	ret = ZSTD_decompressDCtx(s->dctx, s->out, f->dsize, s->in, f->csize);
	if (ZSTD_isError(ret)) {
		snprintf(
			s->msg, sizeof(s->msg),
			"%s: corrupt zstd frame %zu (bytes %llu-%llu of the file): %s",
			zs->path, i, (unsigned long long)f->coff,
			(unsigned long long)(f->coff + f->csize - 1),
			ZSTD_getErrorName(ret));
		return -EBADMSG;
	}
	if (ret != f->dsize) {
		snprintf(
			s->msg, sizeof(s->msg),
			"%s: zstd frame %zu decodes to %zu bytes, not the %u its %s says",
			zs->path, i, ret, f->dsize,
			zs->seek_table ? "seek table" : "header");
		return -EBADMSG;
	}
	/* one frame exactly: a seek table cannot join or split frames */
	if (ZSTD_findFrameCompressedSize(s->in, f->csize) != f->csize) {
		snprintf(
			s->msg, sizeof(s->msg),
			"%s: zstd frame %zu is not the %u bytes long its seek table says",
			zs->path, i, f->csize);
		return -EBADMSG;
	}
	return 0;
}

/*
 * Claim free slot @s for frame @i (under zs->lock, which is dropped
 * while it decodes and held again on return) and decode it; the state
 * after it (READY, FAILED, EMPTY) is the caller's to set.  Returns what
 * decode_frame() does.
 */
static int load_slot(struct ckfs_zseek *zs, struct zs_slot *s, size_t i)
{
	int r;

	s->frame = i;
	s->state = SLOT_LOADING;
	s->refs = 1;
	s->used = ++zs->clock;
	s->ahead = false;
	pthread_mutex_unlock(&zs->lock);
	s->msg[0] = '\0';
	r = decode_frame(zs, s, i);
	pthread_mutex_lock(&zs->lock);
	return r;
}

static void slot_put(struct ckfs_zseek *zs, struct zs_slot *s)
{
	pthread_mutex_lock(&zs->lock);
	if (--s->refs == 0) {
		if (s->state == SLOT_FAILED)
			s->state = SLOT_EMPTY; /* a later read tries again */
		if (zs->waiters)
			pthread_cond_broadcast(&zs->cond);
	}
	pthread_mutex_unlock(&zs->lock);
}

static void wait_locked(struct ckfs_zseek *zs)
{
	zs->waiters++;
	pthread_cond_wait(&zs->cond, &zs->lock);
	zs->waiters--;
}

/* The slot that holds frame @i, or is decoding it, or NULL (under lock). */
static struct zs_slot *slot_of(struct ckfs_zseek *zs, size_t i)
{
	unsigned k;

	for (k = 0; k < zs->nslots; k++)
		if (zs->slot[k].state != SLOT_EMPTY && zs->slot[k].frame == i)
			return &zs->slot[k];
	return NULL;
}

/*
 * The slot holding frame @i decoded, held (slot_put() when done), or NULL
 * with the reason in @err.
 */
static struct zs_slot *slot_get(struct ckfs_zseek *zs, size_t i, int *errp,
				struct ckfs_err *err)
{
	struct zs_slot *s, *victim;
	unsigned k;
	int r;

	pthread_mutex_lock(&zs->lock);
	for (;;) {
		s = slot_of(zs, i);
		if (s) {
			s->refs++;
			s->used = ++zs->clock;
			while (s->state == SLOT_LOADING)
				wait_locked(zs);
			if (s->state != SLOT_EMPTY)
				goto check;
			/* the read-ahead failed on it: decode it here */
			if (--s->refs == 0 && zs->waiters)
				pthread_cond_broadcast(&zs->cond);
			continue;
		}
		victim = NULL;
		for (k = 0; k < zs->nslots; k++) {
			s = &zs->slot[k];
			if (s->refs == 0 &&
			    (!victim || s->state == SLOT_EMPTY ||
			     (victim->state != SLOT_EMPTY &&
			      s->used < victim->used)))
				victim = s;
		}
		if (victim)
			break;
		wait_locked(zs); /* every slot is in use: wait for one */
	}
	s = victim;
	r = load_slot(zs, s, i);
	s->state = r < 0 ? SLOT_FAILED : SLOT_READY;
	s->err = r;
	if (r == 0 && zs->has_bad && zs->bad == i)
		zs->has_bad = false; /* the read-ahead may try it again */
	if (zs->waiters)
		pthread_cond_broadcast(&zs->cond);
check:
	if (s->state == SLOT_READY) {
		if (s->ahead) {
			s->ahead = false;
			__atomic_fetch_add(&zs->prefetch_used, 1,
					   __ATOMIC_RELAXED);
		}
		pthread_mutex_unlock(&zs->lock);
		return s;
	}
	*errp = s->err;
	ckfs_err_set(err, s->err, "%s", s->msg[0] ? s->msg : "out of memory");
	pthread_mutex_unlock(&zs->lock);
	slot_put(zs, s);
	return NULL;
}

/* The frame that holds decoded byte @off (< total). */
static size_t frame_of(const struct ckfs_zseek *zs, uint64_t off)
{
	size_t lo = 0, hi = zs->n;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (zs->f[mid].doff <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* ---- the read-ahead ---- */

static bool in_job(const struct zs_job *j, size_t i)
{
	return i >= j->from && i <= j->frame;
}

/*
 * Whether frame @i is one the read-ahead must not evict: between a
 * sequential reader and a frame wanted ahead of it (under lock).
 */
static bool wanted(const struct ckfs_zseek *zs, size_t i)
{
	unsigned k;

	if (zs->busy && in_job(&zs->cur, i))
		return true;
	for (k = 0; k < zs->njobs; k++)
		if (in_job(&zs->job[k], i))
			return true;
	return false;
}

/* A slot for the frame of zs->cur, or NULL (under lock, busy set). */
static struct zs_slot *ahead_victim(struct ckfs_zseek *zs)
{
	struct zs_slot *s, *victim = NULL;
	unsigned k;

	for (k = 0; k < zs->nslots; k++) {
		s = &zs->slot[k];
		if (s->refs || (s->state != SLOT_EMPTY && wanted(zs, s->frame)))
			continue;
		if (!victim || s->state == SLOT_EMPTY ||
		    (victim->state != SLOT_EMPTY && s->used < victim->used))
			victim = s;
	}
	return victim;
}

/* The read-ahead thread: decodes the queued frames, oldest request first. */
static void *ahead_main(void *arg)
{
	struct ckfs_zseek *zs = arg;
	struct zs_slot *s;
	size_t i;
	int r;

	pthread_mutex_lock(&zs->lock);
	for (;;) {
		while (!zs->stop && zs->njobs == 0)
			pthread_cond_wait(&zs->job_cond, &zs->lock);
		if (zs->stop)
			break;
		zs->cur = zs->job[0];
		zs->njobs--;
		memmove(zs->job, zs->job + 1, zs->njobs * sizeof(zs->job[0]));
		i = zs->cur.frame;
		if (slot_of(zs, i))
			continue; /* decoded, or being decoded */
		zs->busy = true;
		s = ahead_victim(zs);
		if (!s) {
			/* every slot is needed: no read-ahead this time */
			zs->busy = false;
			continue;
		}
		r = load_slot(zs, s, i);
		zs->busy = false;
		s->refs--;
		if (r < 0) {
			/* not kept: whoever reads it decodes it and says why */
			s->state = SLOT_EMPTY;
			zs->bad = i;
			zs->has_bad = true;
			__atomic_fetch_add(&zs->prefetch_failed, 1,
					   __ATOMIC_RELAXED);
		} else {
			s->state = SLOT_READY;
			s->ahead = true;
			__atomic_fetch_add(&zs->prefetched, 1,
					   __ATOMIC_RELAXED);
		}
		if (zs->waiters)
			pthread_cond_broadcast(&zs->cond);
	}
	pthread_mutex_unlock(&zs->lock);
	return NULL;
}

static bool queued(const struct ckfs_zseek *zs, size_t i)
{
	unsigned k;

	if (zs->busy && zs->cur.frame == i)
		return true;
	for (k = 0; k < zs->njobs; k++)
		if (zs->job[k].frame == i)
			return true;
	return false;
}

/*
 * A read of decoded bytes [@off, @end) is starting: when it continues a
 * stream, queue the frames after the last one it touches and start the
 * thread if need be (under lock).
 */
static void ahead_locked(struct ckfs_zseek *zs, uint64_t off, uint64_t end)
{
	struct zs_stream *st = NULL, *lru = NULL;
	uint64_t best = 0;
	unsigned k, depth = zs->nslots >= 4 ? ZS_AHEAD : 1, added = 0;
	size_t first, last, i;
	sigset_t all, old;
	int r;

	/* the stream that ends nearest, if near enough, or the oldest */
	for (k = 0; k < ZS_STREAMS; k++) {
		struct zs_stream *t = &zs->stream[k];
		uint64_t gap = off > t->end ? off - t->end : t->end - off;

		if (t->used && gap <= ZS_SEQ_SLACK && (!st || gap < best)) {
			st = t;
			best = gap;
		}
		if (!lru || t->used < lru->used)
			lru = t;
	}
	if (!st) {
		/* a new stream, maybe: take the place of the oldest */
		*lru = (struct zs_stream){ .start = off,
					   .end = end,
					   .used = ++zs->sclock };
		return;
	}
	st->used = ++zs->sclock;
	if (off < st->start)
		st->start = off;
	if (end > st->end)
		st->end = end;
	if (st->end - st->start < zs->seq_min || zs->paused)
		return;
	first = frame_of(zs, off);
	last = frame_of(zs, end - 1);
	for (i = last + 1; i <= last + depth && i < zs->n; i++) {
		if (slot_of(zs, i) || queued(zs, i) ||
		    (zs->has_bad && zs->bad == i))
			continue;
		if (zs->njobs == ZS_JOBS) { /* the oldest request is stale */
			zs->njobs--;
			memmove(zs->job, zs->job + 1,
				zs->njobs * sizeof(zs->job[0]));
		}
		zs->job[zs->njobs++] =
			(struct zs_job){ .frame = i, .from = first };
		added++;
	}
	if (!added)
		return;
	if (zs->live) {
		pthread_cond_signal(&zs->job_cond);
		return;
	}
	/* signals are for the other threads */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&zs->thread, NULL, ahead_main, zs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		/* no read-ahead until ckfs_zseek_resume(): reads still work */
		zs->paused = true;
		zs->njobs = 0;
		return;
	}
	zs->live = true;
}

void ckfs_zseek_pause(struct ckfs_zseek *zs)
{
	bool live;

	pthread_mutex_lock(&zs->lock);
	zs->paused = true;
	zs->stop = true;
	zs->njobs = 0;
	live = zs->live;
	pthread_cond_broadcast(&zs->job_cond);
	pthread_mutex_unlock(&zs->lock);
	if (live)
		pthread_join(zs->thread, NULL);
	pthread_mutex_lock(&zs->lock);
	zs->live = false;
	zs->stop = false;
	pthread_mutex_unlock(&zs->lock);
}

void ckfs_zseek_resume(struct ckfs_zseek *zs)
{
	pthread_mutex_lock(&zs->lock);
	zs->paused = false;
	pthread_mutex_unlock(&zs->lock);
}

ssize_t ckfs_zseek_pread(struct ckfs_zseek *zs, void *buf, size_t len,
			 uint64_t off, struct ckfs_err *err)
{
	size_t done = 0, i;

	if (off >= zs->total)
		return 0;
	if (len > zs->total - off)
		len = (size_t)(zs->total - off);
	if (len == 0)
		return 0;
	pthread_mutex_lock(&zs->lock);
	ahead_locked(zs, off, off + len);
	pthread_mutex_unlock(&zs->lock);
	for (i = frame_of(zs, off); done < len; i++) {
		const struct zs_frame *f = &zs->f[i];
		uint64_t in = off + done - f->doff;
		size_t n = f->dsize - in < len - done ? (size_t)(f->dsize - in)
						      : len - done;
		struct zs_slot *s;
		int r = -EIO;

		s = slot_get(zs, i, &r, err);
		if (!s)
			return r;
		memcpy((char *)buf + done, s->out + in, n);
		slot_put(zs, s);
		done += n;
	}
	return (ssize_t)done;
}
