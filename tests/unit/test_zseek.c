/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * archive/zseek.c: zstd files of many frames, written here frame by frame
 * with libzstd (content sizes, checksums, skippable and empty frames, RLE
 * and raw blocks, a seek table of the seekable format), then read back by
 * frame: the frame table, every byte at random offsets by several threads
 * at once, and what is left to the streaming decoder (one frame, a frame
 * without a content size, big frames, a file cut inside a frame).  Crafted
 * seek tables are ignored; a corrupt frame fails only the reads that touch
 * it.  The read-ahead: sequential readers get the next frames decoded in
 * the background (waited for, never timed), byte-identical, with random
 * readers at once, with two cache slots only, across
 * ckfs_zseek_pause()/resume() and a fork(); a corrupt frame ahead of a
 * sequential reader fails exactly the reads that touch it.  Last, a
 * multi-frame tar through ckfs_archive_open(), read in order too.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "archive/archive.h"
#include "archive/archive_i.h"
#include "tap.h"

#define DATA_LEN (6u << 20)
#define RUN	 (2u << 20) /* read in order before the read-ahead starts */
#define THREADS	 4
#define READS	 400

static char tmpdir[] = "/tmp/ckfs-test-zseek-XXXXXX";
static unsigned char *data;

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* 4 KiB pages: zeros (RLE blocks), random (raw blocks), text, a word. */
static void make_data(void)
{
	size_t i;

	data = malloc(DATA_LEN);
	for (i = 0; i < DATA_LEN; i++) {
		uint64_t page = i >> 12;

		switch (splitmix(page) & 3) {
		case 0:
			data[i] = 0;
			break;
		case 1:
			data[i] = (unsigned char)splitmix(i);
			break;
		case 2:
			data[i] = (unsigned char)('a' + splitmix(i) % 16);
			break;
		default:
			data[i] = (unsigned char)(splitmix(page) >>
						  (8 * (i & 7)));
		}
	}
	/* 512 KiB of one byte and 256 KiB of noise: RLE and raw blocks */
	memset(data + (1u << 20), 'A', 512u << 10);
	for (i = 0; i < (256u << 10); i++)
		data[(3u << 20) + i] = (unsigned char)splitmix(i * 31);
}

/* ---- writing multi-frame files ---- */

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void put32(struct buf *b, uint32_t v)
{
	unsigned char x[4] = { (unsigned char)v, (unsigned char)(v >> 8),
			       (unsigned char)(v >> 16),
			       (unsigned char)(v >> 24) };

	put(b, x, 4);
}

enum {
	W_NO_SIZE = 1,	   /* frames without a content size */
	W_SKIPPABLE = 2,   /* a skippable frame and an empty frame between */
	W_TABLE = 4,	   /* a seek table at the end */
	W_TABLE_SUMS = 8,  /* ... with the (unchecked) checksum field */
	W_ONE_NO_SIZE = 16 /* only the second frame without a content size */
};

struct entry {
	uint32_t c, d;
};

static struct entry entries[4096];
static size_t nentries;
static size_t frame_at[4096]; /* where data frame i starts */

/* @len bytes of data in frames of @chunk, as @flags says. */
static void write_frames(struct buf *b, size_t len, size_t chunk, int flags,
			 int level)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t off, cap = ZSTD_compressBound(chunk), k = 0;
	unsigned char *tmp = malloc(cap);

	b->len = 0;
	nentries = 0;
	for (off = 0; off < len; off += chunk, k++) {
		size_t n = len - off < chunk ? len - off : chunk, c;
		bool nosize = (flags & W_NO_SIZE) ||
			      ((flags & W_ONE_NO_SIZE) && k == 1);

		ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
		ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level);
		ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
		ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, !nosize);
		if (nosize) {
			/* streamed: the size is not known up front */
			ZSTD_outBuffer o = { tmp, cap, 0 };
			ZSTD_inBuffer in = { data + off, n, 0 };

			while (ZSTD_compressStream2(cc, &o, &in, ZSTD_e_end))
				;
			c = o.pos;
		} else {
			c = ZSTD_compress2(cc, tmp, cap, data + off, n);
		}
		frame_at[k] = b->len;
		put(b, tmp, c);
		entries[nentries++] =
			(struct entry){ (uint32_t)c, (uint32_t)n };
		if ((flags & W_SKIPPABLE) && k == 0) {
			size_t e;

			put32(b, 0x184D2A53);
			put32(b, 5);
			put(b, "junk!", 5);
			entries[nentries++] = (struct entry){ 13, 0 };
			e = ZSTD_compress2(cc, tmp, cap, "", 0);
			put(b, tmp, e);
			entries[nentries++] = (struct entry){ (uint32_t)e, 0 };
		}
	}
	if (flags & W_TABLE) {
		size_t esz = flags & W_TABLE_SUMS ? 12 : 8, i;

		put32(b, 0x184D2A5E);
		put32(b, (uint32_t)(nentries * esz + 9));
		for (i = 0; i < nentries; i++) {
			put32(b, entries[i].c);
			put32(b, entries[i].d);
			if (esz == 12)
				put32(b, 0x12345678);
		}
		put32(b, (uint32_t)nentries);
		put(b, flags & W_TABLE_SUMS ? "\x80" : "\0", 1);
		put32(b, 0x8F92EAB1);
	}
	free(tmp);
	ZSTD_freeCCtx(cc);
}

static int to_file(const char *name, const void *p, size_t n)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, p, n) != (ssize_t)n)
		abort();
	return fd;
}

/* Open @b as a file; *@zs when read by frame. */
static int zopen(const char *name, const struct buf *b, size_t n,
		 struct ckfs_zseek **zs, int *fdp)
{
	struct ckfs_err err = { 0 };
	int fd = to_file(name, b->p, n), r;

	r = ckfs_zseek_open(fd, n, name, zs, &err);
	if (r < 0)
		diag("%s: %s", name, err.msg);
	*fdp = fd;
	return r;
}

/* ---- reading back ---- */

static bool read_range(struct ckfs_zseek *zs, uint64_t off, size_t len,
		       size_t total)
{
	unsigned char *got = malloc(len ? len : 1);
	size_t want = off >= total ? 0 : total - off < len ? total - off : len;
	ssize_t n = ckfs_zseek_pread(zs, got, len, off, NULL);
	bool good = n == (ssize_t)want && memcmp(got, data + off, want) == 0;

	free(got);
	return good;
}

struct rd {
	struct ckfs_zseek *zs;
	size_t total;
	uint64_t seed;
	int bad;
};

static void *reader(void *arg)
{
	struct rd *r = arg;
	int i;

	for (i = 0; i < READS; i++) {
		uint64_t x = splitmix(r->seed + (uint64_t)i);
		uint64_t off = x % r->total;
		size_t len = (size_t)(splitmix(x) % (600u << 10)) + 1;

		if (i % 8 == 0)
			len = 1;
		if (!read_range(r->zs, off, len, r->total))
			r->bad++;
	}
	return NULL;
}

static void check_reads(struct ckfs_zseek *zs, size_t total, const char *what)
{
	struct rd rd[THREADS];
	pthread_t th[THREADS];
	bool all, edges = true;
	int i, bad = 0;
	size_t k;

	all = read_range(zs, 0, total, total);
	ok(all, "%s: the whole stream in one read", what);
	for (k = 1; k < 64; k++) {
		uint64_t at = (uint64_t)k * (256u << 10);

		if (at < total)
			edges &= read_range(zs, at - 1, 2, total) &&
				 read_range(zs, at - 3000, 7000, total);
	}
	edges &= read_range(zs, total - 1, 10, total) &&
		 read_range(zs, total, 10, total);
	ok(edges, "%s: reads across frame edges and at the end", what);
	for (i = 0; i < THREADS; i++) {
		rd[i] = (struct rd){ zs, total, 77 * (uint64_t)(i + 1), 0 };
		pthread_create(&th[i], NULL, reader, &rd[i]);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		bad += rd[i].bad;
	}
	ok(bad == 0, "%s: %d random reads by %d threads at once are right",
	   what, THREADS * READS, THREADS);
	if (bad)
		diag("  %d wrong", bad);
}

static void test_walk(void)
{
	struct buf b = { 0 };
	struct ckfs_zseek *zs = NULL;
	struct ckfs_zseek_info info;
	int fd, r;

	write_frames(&b, DATA_LEN, 256u << 10, 0, 3);
	r = zopen("walk.zst", &b, b.len, &zs, &fd);
	if (ok(r == 1, "256 KiB frames with content sizes: read by frame")) {
		ckfs_zseek_info(zs, &info);
		is_int(info.frames, DATA_LEN / (256u << 10),
		       "walk: one table entry per frame");
		is_int(info.size, DATA_LEN, "walk: the decoded size");
		ok(!info.seek_table, "walk: no seek table used");
		ok(info.slots >= 2 && info.slots <= 8 &&
			   (uint64_t)info.slots * info.frame_max <= (16u << 20),
		   "walk: %u frames kept at most, %u bytes each", info.slots,
		   info.frame_max);
		check_reads(zs, DATA_LEN, "walk");
	}
	ckfs_zseek_free(zs);
	close(fd);

	/* skippable and empty frames between; odd frame sizes; level 19 */
	write_frames(&b, DATA_LEN - 12345, 100000, W_SKIPPABLE, 19);
	r = zopen("skip.zst", &b, b.len, &zs, &fd);
	if (ok(r == 1, "skippable and empty frames between: read by frame")) {
		ckfs_zseek_info(zs, &info);
		is_int(info.frames, (DATA_LEN - 12345 + 99999) / 100000,
		       "skippable: empty frames take no table entry");
		check_reads(zs, DATA_LEN - 12345, "skippable");
	}
	ckfs_zseek_free(zs);
	close(fd);
	free(b.p);
}

static void test_table(void)
{
	struct buf b = { 0 };
	struct ckfs_zseek *zs = NULL;
	struct ckfs_zseek_info info;
	int fd, r;

	write_frames(&b, DATA_LEN, 1u << 20, W_TABLE | W_SKIPPABLE, 1);
	r = zopen("table.zst", &b, b.len, &zs, &fd);
	if (ok(r == 1, "a seek table: read by frame")) {
		ckfs_zseek_info(zs, &info);
		ok(info.seek_table && info.frames == 6,
		   "seek table: used, 6 frames with data (%zu)", info.frames);
		check_reads(zs, DATA_LEN, "seek table");
	}
	ckfs_zseek_free(zs);
	close(fd);

	/* frames without content sizes: only the table tells them */
	write_frames(&b, DATA_LEN, 1u << 20, W_TABLE | W_TABLE_SUMS | W_NO_SIZE,
		     1);
	r = zopen("table-nosize.zst", &b, b.len, &zs, &fd);
	if (ok(r == 1,
	       "no content sizes, a seek table with checksums: read by frame")) {
		ckfs_zseek_info(zs, &info);
		ok(info.seek_table, "no content sizes: the table was used");
		check_reads(zs, DATA_LEN, "seek table, no content sizes");
	}
	ckfs_zseek_free(zs);
	close(fd);
	r = zopen("nosize.zst", &b, b.len - (nentries * 12 + 17), &zs, &fd);
	ok(r == 0 && !zs,
	   "no content sizes and no seek table: left to the stream decoder");
	ckfs_zseek_free(zs);
	close(fd);
	free(b.p);
}

/* A crafted table: @edit changes it; the file is still walkable. */
static void crafted(const char *what, void (*edit)(struct buf *b),
		    bool walkable)
{
	struct buf b = { 0 };
	struct ckfs_zseek *zs = NULL;
	struct ckfs_zseek_info info;
	int fd, r;

	write_frames(&b, DATA_LEN, 1u << 20,
		     W_TABLE | (walkable ? 0 : W_NO_SIZE), 1);
	edit(&b);
	r = zopen("crafted.zst", &b, b.len, &zs, &fd);
	if (walkable) {
		if (ok(r == 1, "crafted table (%s): ignored, frames walked",
		       what)) {
			ckfs_zseek_info(zs, &info);
			ok(!info.seek_table && info.frames == 6 &&
				   read_range(zs, 0, DATA_LEN, DATA_LEN),
			   "crafted table (%s): every byte right", what);
		}
	} else {
		ok(r == 0, "crafted table (%s), no content sizes: streamed",
		   what);
	}
	ckfs_zseek_free(zs);
	close(fd);
	free(b.p);
}

static void set32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* entry i of the table at the end of @b (8-byte entries) */
static unsigned char *entry(struct buf *b, size_t i)
{
	return b->p + b->len - 9 - nentries * 8 + i * 8;
}

static void e_sum(struct buf *b)
{
	set32(entry(b, 2), get32(entry(b, 2)) + 1);
}

static void e_count(struct buf *b)
{
	set32(b->p + b->len - 9, 0xFFFFFFFF);
}

static void e_count_small(struct buf *b)
{
	set32(b->p + b->len - 9, (uint32_t)nentries - 1);
}

static void e_reserved(struct buf *b)
{
	b->p[b->len - 5] = 0x04;
}

static void e_swap(struct buf *b)
{
	/* sizes that add up, but frames 0 and 1 disagree with them */
	set32(entry(b, 0) + 4, get32(entry(b, 0) + 4) + 100);
	set32(entry(b, 1) + 4, get32(entry(b, 1) + 4) - 100);
}

static void e_split(struct buf *b)
{
	/* frame 0 said to be two frames: the second half starts mid-frame */
	uint32_t c = get32(entry(b, 0));

	set32(entry(b, 0), c / 2);
	set32(entry(b, 1), get32(entry(b, 1)) + (c - c / 2));
}

static void test_crafted(void)
{
	struct buf b = { 0 };
	struct ckfs_zseek *zs = NULL;
	struct ckfs_err err = { 0 };
	unsigned char *got = malloc(DATA_LEN);
	int fd, r;

	crafted("sizes do not add up", e_sum, true);
	crafted("count 2^32-1", e_count, true);
	crafted("count one short", e_count_small, true);
	crafted("reserved bits", e_reserved, true);
	crafted("decoded sizes swapped", e_swap, true);
	crafted("a frame split in two", e_split, true);
	crafted("sizes do not add up", e_sum, false);
	crafted("count 2^32-1", e_count, false);

	/* no content sizes to check against: the lie shows at read time */
	write_frames(&b, DATA_LEN, 1u << 20, W_TABLE | W_NO_SIZE, 1);
	e_swap(&b);
	r = zopen("lying.zst", &b, b.len, &zs, &fd);
	if (ok(r == 1, "a seek table lying about decoded sizes: opened")) {
		ssize_t n = ckfs_zseek_pread(zs, got, 10, 5, &err);

		ok(n == -EBADMSG &&
			   strstr(err.msg,
				  "lying.zst: zstd frame 0 decodes to 1048576 bytes, not the 1048676 its seek table says"),
		   "lying table: a read of frame 0 fails, saying why");
		diag("  %s", err.msg);
		n = ckfs_zseek_pread(zs, got, 1000, (2u << 20) + 5, NULL);
		ok(n == 1000 && !memcmp(got, data + (2u << 20) + 5, 1000),
		   "lying table: frame 2 still reads");
	}
	ckfs_zseek_free(zs);
	close(fd);
	free(b.p);
	free(got);
}

static void test_streamed(void)
{
	struct buf b = { 0 };
	struct ckfs_zseek *zs = NULL;
	struct ckfs_zseek_info info;
	int fd, r;

	write_frames(&b, 4u << 20, 4u << 20, 0, 1);
	r = zopen("one.zst", &b, b.len, &zs, &fd);
	ok(r == 0 && !zs, "a single frame: streamed");
	close(fd);

	write_frames(&b, DATA_LEN, 1u << 20, W_ONE_NO_SIZE, 1);
	r = zopen("one-nosize.zst", &b, b.len, &zs, &fd);
	ok(r == 0, "one frame without a content size among others: streamed");
	close(fd);

	write_frames(&b, DATA_LEN, (9u << 20) / 2, 0, 1);
	r = zopen("big.zst", &b, b.len, &zs, &fd);
	ok(r == 1, "4.5 MiB frames: read by frame");
	ckfs_zseek_free(zs);
	zs = NULL;
	close(fd);
	{
		unsigned char *big = malloc(18u << 20);

		memcpy(big, data, DATA_LEN);
		memcpy(big + DATA_LEN, data, DATA_LEN);
		memcpy(big + 2 * DATA_LEN, data, DATA_LEN);
		free(data);
		data = big;
		write_frames(&b, 18u << 20, 9u << 20, 0, 1);
		r = zopen("huge.zst", &b, b.len, &zs, &fd);
		ok(r == 0, "9 MiB frames (over the 8 MiB cap): streamed");
		close(fd);
	}

	write_frames(&b, DATA_LEN, 1u << 20, 0, 1);
	r = zopen("cut.zst", &b, frame_at[3] + 1000, &zs, &fd);
	ok(r == 0, "cut inside a frame: streamed (which reports the cut)");
	close(fd);
	r = zopen("cut-edge.zst", &b, frame_at[3], &zs, &fd);
	if (ok(r == 1, "cut at a frame's start: read by frame")) {
		ckfs_zseek_info(zs, &info);
		ok(info.frames == 3 && info.size == (3u << 20) &&
			   read_range(zs, 0, 3u << 20, 3u << 20),
		   "cut at a frame's start: the 3 frames before, whole");
	}
	ckfs_zseek_free(zs);
	zs = NULL;
	close(fd);
	put(&b, "trailing", 8);
	r = zopen("trailing.zst", &b, b.len, &zs, &fd);
	ok(r == 0, "trailing bytes that are no frame: streamed");
	close(fd);
	free(b.p);
}

static void test_corrupt(void)
{
	struct buf b = { 0 };
	struct ckfs_zseek *zs = NULL;
	struct ckfs_err err = { 0 };
	unsigned char *got = malloc(3u << 20);
	int fd, r, i, good = 0;
	ssize_t n;

	write_frames(&b, DATA_LEN, 1u << 20, 0, 1);
	/* a byte in the middle of frame 2, past its headers */
	b.p[frame_at[2] + (frame_at[3] - frame_at[2]) / 2 + 1] ^= 0x5a;
	r = zopen("corrupt.zst", &b, b.len, &zs, &fd);
	if (!ok(r == 1, "a corrupt byte inside frame 2: opened by frame"))
		goto out;
	for (i = 0; i < 2; i++) {
		n = ckfs_zseek_pread(zs, got, 4096, (2u << 20) + 100000, &err);
		ok(n == -EBADMSG &&
			   strstr(err.msg,
				  "corrupt.zst: corrupt zstd frame 2 (bytes "),
		   "corrupt frame: a read inside it fails (%s time), saying which",
		   i ? "second" : "first");
	}
	diag("  %s", err.msg);
	n = ckfs_zseek_pread(zs, got, 2u << 20, (1u << 20) + 10, NULL);
	ok(n < 0, "corrupt frame: a read that ends inside it fails too");
	for (i = 0; i < 6; i++) {
		uint64_t off = ((uint64_t)i << 20) + 500; /* frame i */

		if (i != 2 && read_range(zs, off, 4096, DATA_LEN))
			good++;
	}
	ok(good == 5,
	   "corrupt frame: reads of the other frames are right (%d/5)", good);
	ok(read_range(zs, 0, 2u << 20, DATA_LEN) &&
		   read_range(zs, 3u << 20, 3u << 20, DATA_LEN),
	   "corrupt frame: everything before and after it reads");
out:
	ckfs_zseek_free(zs);
	close(fd);
	free(b.p);
	free(got);
}

/* ---- the read-ahead ---- */

/*
 * Wait until the read-ahead has decoded @done frames and failed @failed
 * (polled, up to a minute: a slow machine only waits longer).
 */
static bool wait_ahead(struct ckfs_zseek *zs, uint64_t done, uint64_t failed)
{
	struct ckfs_zseek_info info;
	int i;

	for (i = 0; i < 6000; i++) {
		ckfs_zseek_info(zs, &info);
		if (info.prefetched >= done && info.prefetch_failed >= failed)
			return true;
		usleep(10000);
	}
	return false;
}

static uint64_t prefetched(struct ckfs_zseek *zs)
{
	struct ckfs_zseek_info info;

	ckfs_zseek_info(zs, &info);
	return info.prefetched;
}

/* [@from, @to) read in order, @chunk bytes at a time: the wrong reads. */
static int seq_read(struct ckfs_zseek *zs, uint64_t from, uint64_t to,
		    size_t chunk, size_t total)
{
	uint64_t off;
	int bad = 0;

	for (off = from; off < to; off += chunk)
		if (!read_range(zs, off,
				to - off < chunk ? (size_t)(to - off) : chunk,
				total))
			bad++;
	return bad;
}

struct sq {
	struct ckfs_zseek *zs;
	size_t total;
	uint64_t from; /* a pass reads [from, total), then [0, from) */
	size_t chunk;
	int passes, bad;
};

static void *seq_reader(void *arg)
{
	struct sq *q = arg;
	int i;

	for (i = 0; i < q->passes; i++) {
		q->bad +=
			seq_read(q->zs, q->from, q->total, q->chunk, q->total);
		q->bad += seq_read(q->zs, 0, q->from, q->chunk, q->total);
	}
	return NULL;
}

/* 2 sequential readers and 2 random ones at once: the wrong reads. */
static int mixed_readers(struct ckfs_zseek *zs, size_t total)
{
	struct sq sq[2];
	struct rd rd[2];
	pthread_t th[4];
	int i, bad = 0;

	for (i = 0; i < 2; i++) {
		sq[i] = (struct sq){ zs,
				     total,
				     i * (total / 2) + 12345,
				     i ? 131072 : 65536 - 100,
				     3,
				     0 };
		rd[i] = (struct rd){ zs, total, 1000 + 7 * (uint64_t)i, 0 };
		pthread_create(&th[i], NULL, seq_reader, &sq[i]);
		pthread_create(&th[2 + i], NULL, reader, &rd[i]);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 2; i++)
		bad += sq[i].bad + rd[i].bad;
	return bad;
}

static void test_ahead(void)
{
	const size_t fsz = 256u << 10; /* 24 frames */
	struct buf b = { 0 };
	struct ckfs_zseek *zs = NULL;
	struct ckfs_zseek_info info;
	uint64_t before;
	int fd, r, bad, status;
	pid_t pid;

	write_frames(&b, DATA_LEN, fsz, 0, 3);
	r = zopen("ahead.zst", &b, b.len, &zs, &fd);
	if (!ok(r == 1, "read-ahead: 256 KiB frames, read by frame"))
		goto out;
	ok(prefetched(zs) == 0, "read-ahead: nothing decoded ahead before");
	/* 2 MiB in order (frames 0-7): frames 8 and 9 are wanted next */
	bad = seq_read(zs, 0, RUN, 64u << 10, DATA_LEN);
	ok(bad == 0 && wait_ahead(zs, 1, 0),
	   "read-ahead: a sequential reader gets the next frames decoded in the background");
	bad = seq_read(zs, RUN, DATA_LEN, 64u << 10, DATA_LEN);
	ckfs_zseek_info(zs, &info);
	ok(bad == 0 && info.prefetch_used >= 1,
	   "read-ahead: the whole stream in 64 KiB reads in order, every byte right (%llu of %zu frames decoded ahead and read)",
	   (unsigned long long)info.prefetch_used, info.frames);
	ok(seq_read(zs, 0, DATA_LEN, 100000, DATA_LEN) == 0 &&
		   seq_read(zs, 1, DATA_LEN, 4096, DATA_LEN) == 0,
	   "read-ahead: in order again, 100000-byte reads, and 4 KiB reads off by one");
	bad = mixed_readers(zs, DATA_LEN);
	ok(bad == 0,
	   "read-ahead: 2 sequential readers (3 passes each) and 2 random ones at once, every read right");
	if (bad)
		diag("  %d wrong", bad);

	/* paused: reads work, nothing is decoded ahead; twice is harmless */
	ckfs_zseek_pause(zs);
	ckfs_zseek_pause(zs);
	before = prefetched(zs);
	bad = seq_read(zs, 0, DATA_LEN, 64u << 10, DATA_LEN);
	ok(bad == 0 && prefetched(zs) == before,
	   "pause: a sequential read is right, and nothing is decoded ahead");
	ckfs_zseek_resume(zs);
	ckfs_zseek_resume(zs);
	/* the cache holds the last frames: 8 and 9 are not there */
	bad = seq_read(zs, 0, RUN, 64u << 10, DATA_LEN);
	ok(bad == 0 && wait_ahead(zs, before + 1, 0),
	   "resume: the next sequential read starts the read-ahead again");
	ok(seq_read(zs, RUN, DATA_LEN, 64u << 10, DATA_LEN) == 0,
	   "resume: the rest of the stream in order, right");
	ckfs_zseek_free(zs); /* with the thread running */
	close(fd);

	/* around a fork(), as the daemon does: each side starts its own */
	r = zopen("ahead-fork.zst", &b, b.len, &zs, &fd);
	if (!ok(r == 1 && seq_read(zs, 0, RUN, 64u << 10, DATA_LEN) == 0 &&
			wait_ahead(zs, 1, 0),
		"fork: the read-ahead runs before"))
		goto out;
	ckfs_zseek_pause(zs);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		/* frames 12-19 in order: 20 and 21 are not cached */
		ckfs_zseek_resume(zs);
		before = prefetched(zs);
		bad = seq_read(zs, 12 * fsz, 12 * fsz + RUN, 64u << 10,
			       DATA_LEN);
		r = bad == 0 && wait_ahead(zs, before + 1, 0) &&
		    seq_read(zs, 0, DATA_LEN, 64u << 10, DATA_LEN) == 0;
		ckfs_zseek_free(zs);
		_exit(r ? 0 : 1);
	}
	ckfs_zseek_resume(zs);
	before = prefetched(zs);
	bad = seq_read(zs, 12 * fsz, 12 * fsz + RUN, 64u << 10, DATA_LEN);
	ok(bad == 0 && wait_ahead(zs, before + 1, 0) &&
		   seq_read(zs, 0, DATA_LEN, 64u << 10, DATA_LEN) == 0,
	   "fork: after resume, the parent's read-ahead starts again, reads right");
	ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		   WEXITSTATUS(status) == 0,
	   "fork: so does the child's");
out:
	ckfs_zseek_free(zs);
	close(fd);
	free(b.p);
}

/* A corrupt frame ahead of a sequential reader: only its reads fail. */
static void test_ahead_corrupt(void)
{
	const size_t fsz = 256u << 10, chunk = 100000;
	const uint64_t lo = 10 * fsz, hi = 11 * fsz; /* frame 10 */
	struct buf b = { 0 };
	struct ckfs_zseek *zs = NULL;
	struct ckfs_zseek_info info;
	struct ckfs_err err = { 0 };
	unsigned char *got = malloc(chunk);
	int fd, r, pass, fails, wrong;
	uint64_t off;

	write_frames(&b, DATA_LEN, fsz, 0, 3);
	b.p[frame_at[10] + (frame_at[11] - frame_at[10]) / 2 + 1] ^= 0x5a;
	r = zopen("ahead-corrupt.zst", &b, b.len, &zs, &fd);
	if (!ok(r == 1, "corrupt frame ahead: opened by frame"))
		goto out;
	/* in order up to frame 10: it is wanted ahead, and fails there */
	ok(seq_read(zs, 0, lo, 64u << 10, DATA_LEN) == 0 &&
		   wait_ahead(zs, 0, 1),
	   "corrupt frame ahead: the reads before it are right; the read-ahead failed on it");
	for (pass = 0; pass < 2; pass++) {
		fails = wrong = 0;
		for (off = 0; off < DATA_LEN; off += chunk) {
			size_t len = DATA_LEN - off < chunk
					     ? (size_t)(DATA_LEN - off)
					     : chunk;
			bool touches = off < hi && off + len > lo;
			ssize_t n = ckfs_zseek_pread(zs, got, len, off, &err);

			if (touches && n == -EBADMSG &&
			    strstr(err.msg, "corrupt zstd frame 10 "))
				fails++;
			else if (touches || n != (ssize_t)len ||
				 memcmp(got, data + off, len))
				wrong++;
		}
		ok(fails == 3 && wrong == 0,
		   "corrupt frame ahead, %s pass in order: the 3 reads that touch it fail saying why, no other (%d wrong)",
		   pass ? "second" : "first", wrong);
	}
	ckfs_zseek_info(zs, &info);
	ok(info.prefetch_failed == 1,
	   "corrupt frame ahead: the read-ahead tried it once (%llu)",
	   (unsigned long long)info.prefetch_failed);
out:
	ckfs_zseek_free(zs);
	close(fd);
	free(b.p);
	free(got);
}

/* Frames so big that two slots only fit: one frame ahead. */
static void test_ahead_two_slots(void)
{
	const size_t total = 18u << 20, fsz = (9u << 20) / 2;
	struct buf b = { 0 };
	struct ckfs_zseek *zs = NULL;
	struct ckfs_zseek_info info;
	int fd, r, bad;

	write_frames(&b, total, fsz, 0, 1);
	r = zopen("ahead-two.zst", &b, b.len, &zs, &fd);
	if (!ok(r == 1, "4.5 MiB frames: read by frame"))
		goto out;
	ckfs_zseek_info(zs, &info);
	if (info.slots != 2)
		diag("  %u slots, not 2", info.slots);
	/* two frames in order: the third is wanted */
	bad = seq_read(zs, 0, 2 * fsz, 128u << 10, total);
	ok(bad == 0 && wait_ahead(zs, 1, 0),
	   "%u slots: a sequential reader gets the next frame decoded ahead",
	   info.slots);
	ok(seq_read(zs, 2 * fsz, total, 128u << 10, total) == 0,
	   "%u slots: the whole stream in order, right", info.slots);
	bad = mixed_readers(zs, total);
	ok(bad == 0,
	   "%u slots: 2 sequential readers and 2 random ones at once, every read right",
	   info.slots);
out:
	ckfs_zseek_free(zs);
	close(fd);
	free(b.p);
}

/* ---- through the archive layer ---- */

static void add(struct archive *a, const char *name, const void *p, size_t n)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)n);
	archive_write_header(a, e);
	archive_write_data(a, p, n);
	archive_entry_free(e);
}

static void test_archive(void)
{
	struct archive *a = archive_write_new();
	unsigned char *tar = malloc(DATA_LEN + (1u << 20)), *saved = data;
	size_t used = 0, i;
	struct buf b = { 0 };
	struct ckfs_archive *ar = NULL;
	struct ckfs_err err = { 0 };
	const struct ckfs_member *m;
	char path[4096], small[100];
	int r, fd;

	archive_write_set_format_pax_restricted(a);
	archive_write_open_memory(a, tar, DATA_LEN + (1u << 20), &used);
	for (i = 0; i < 40; i++) {
		snprintf(small, sizeof(small), "small member %zu\n", i);
		snprintf(path, sizeof(path), "dir/small-%02zu", i);
		add(a, path, small, strlen(small));
	}
	add(a, "dir/big", data, DATA_LEN - (64u << 10));
	add(a, "z-last", "the end\n", 8);
	archive_write_close(a);
	archive_write_free(a);

	data = tar; /* frames of the tar, 64 KiB each */
	write_frames(&b, used, 64u << 10, 0, 3);
	data = saved;
	fd = to_file("mf.tar.zst", b.p, b.len);
	close(fd);
	snprintf(path, sizeof(path), "%s/mf.tar.zst", tmpdir);
	r = ckfs_archive_open(path, &ar, &err);
	if (!ok(r == 0, "a multi-frame tar.zst opens")) {
		diag("  %s", err.msg);
		goto out;
	}
	is_str(ckfs_archive_compression(ar), "zstd", "multi-frame: zstd");
	is_int(ckfs_archive_count(ar), 42, "multi-frame: every member");
	m = ckfs_archive_find(ar, "dir/small-17");
	{
		char *all = NULL;
		size_t len = 0;

		ok(m && ckfs_archive_read_all(ar, m, 100, &all, &len) == 0 &&
			   !strcmp(all, "small member 17\n"),
		   "multi-frame: a small member");
		free(all);
	}
	m = ckfs_archive_find(ar, "dir/big");
	if (ok(m && m->size == DATA_LEN - (64u << 10),
	       "multi-frame: the big member")) {
		unsigned char *got = malloc(m->size);
		bool same = ckfs_archive_pread(ar, m, got, m->size, 0) ==
				    (ssize_t)m->size &&
			    !memcmp(got, data, m->size);

		ok(same, "multi-frame: the big member, every byte");
		same = ckfs_archive_pread(ar, m, got, 70000, 3333333) ==
			       70000 &&
		       !memcmp(got, data + 3333333, 70000);
		ok(same, "multi-frame: a read in the middle");
		free(got);
	}
	m = ckfs_archive_find(ar, "z-last");
	ok(m && m->size == 8, "multi-frame: the member after the big one");
	ok(ckfs_archive_status(ar, &err) == 0, "multi-frame: status sound");
	ckfs_archive_free(ar);
	ar = NULL;

	/* a byte of the big member's data broken: its reads fail, no more */
	{
		size_t k = 40; /* a frame well inside dir/big */
		const struct ckfs_member *big;
		unsigned char got[4096];

		b.p[frame_at[k] + (frame_at[k + 1] - frame_at[k]) / 2] ^= 0x20;
		fd = to_file("mf-bad.tar.zst", b.p, b.len);
		close(fd);
		snprintf(path, sizeof(path), "%s/mf-bad.tar.zst", tmpdir);
		r = ckfs_archive_open(path, &ar, &err);
		if (!ok(r == 0, "multi-frame, a data frame corrupt: opens"))
			goto out;
		big = ckfs_archive_find(ar, "dir/big");
		ok(big && ckfs_archive_pread(ar, big, got, 4096,
					     k * (64u << 10) + 1000 -
						     big->data_off) == -EIO,
		   "multi-frame, corrupt frame: a read in it gets EIO");
		ok(big && ckfs_archive_pread(ar, big, got, 4096, 0) == 4096 &&
			   !memcmp(got, data, 4096),
		   "multi-frame, corrupt frame: a read elsewhere is right");
		if (big) {
			/* in order, 4 KiB at a time: EIO exactly on frame k */
			uint64_t lo = k * (64u << 10), hi = lo + (64u << 10);
			uint64_t off;
			int fails = 0, wrong = 0;

			for (off = 0; off < big->size; off += 4096) {
				size_t len = big->size - off < 4096
						     ? (size_t)(big->size - off)
						     : 4096;
				uint64_t at = big->data_off + off;
				bool touches = at < hi && at + len > lo;
				ssize_t n = ckfs_archive_pread(ar, big, got,
							       len, off);

				if (touches && n == -EIO)
					fails++;
				else if (touches || n != (ssize_t)len ||
					 memcmp(got, data + off, len))
					wrong++;
			}
			ok(fails >= 16 && wrong == 0,
			   "multi-frame, corrupt frame: read in order, EIO for the %d reads that touch it only (%d wrong)",
			   fails, wrong);
		}
		ckfs_archive_free(ar);
		ar = NULL;
		b.p[frame_at[k] + (frame_at[k + 1] - frame_at[k]) / 2] ^= 0x20;
	}
	/* a frame with headers broken: the open fails, naming the frame */
	b.p[frame_at[0] + (frame_at[1] - frame_at[0]) / 2] ^= 0x20;
	fd = to_file("mf-hdr.tar.zst", b.p, b.len);
	close(fd);
	snprintf(path, sizeof(path), "%s/mf-hdr.tar.zst", tmpdir);
	r = ckfs_archive_open(path, &ar, &err);
	ok(r < 0 && strstr(err.msg, "mf-hdr.tar.zst") &&
		   strstr(err.msg, "corrupt zstd frame 0") &&
		   !strchr(err.msg, '\n'),
	   "multi-frame, the first frame corrupt: refused with one line");
	diag("  %s", err.msg);
out:
	ckfs_archive_free(ar);
	free(b.p);
	free(tar);
}

int main(void)
{
	char cmd[4200];

	if (!mkdtemp(tmpdir))
		return 1;
	make_data();
	test_walk();
	test_table();
	test_crafted();
	test_corrupt();
	test_ahead();
	test_ahead_corrupt();
	test_archive();
	test_streamed(); /* it grows the data: 18 MiB from now on */
	test_ahead_two_slots();
	free(data);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		diag("could not remove %s", tmpdir);
	return tap_done();
}
