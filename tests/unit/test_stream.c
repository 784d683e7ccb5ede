/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * archive/ on compressed tars: tars are written at test time with
 * libarchive's writer and its gzip, zstd, xz and bzip2 filters, holding a
 * big member of deterministic data (any byte can be recomputed from its
 * offset).  Then: the index and every byte, read by several threads at
 * random offsets while the background decode runs (the decoder is paused
 * first, so the readers really do wait for it); truncated and corrupt
 * streams; the cache limit, up front and during the decode; a bomb.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "archive/archive.h"
#include "archive/zwalk.h"
#include "base/mem.h"
#include "tap.h"

#define BIG_DEFAULT (64u << 20)
#define READERS	    4
#define READS	    150

static char tmpdir[] = "/tmp/ckfs-test-stream-XXXXXX";

static char *tpath(const char *name)
{
	static char buf[8][4096];
	static int slot;
	char *p = buf[slot++ % 8];

	snprintf(p, sizeof(buf[0]), "%s/%s", tmpdir, name);
	return p;
}

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * Byte @off of the big member: 4 KiB pages of four kinds (zeros, random,
 * a repeated word, text-like), so the streams compress like memory does;
 * but MiB 2 of every 5 is all random, as encrypted memory is (zstd stores
 * it as raw blocks, which are read from the archive file itself).
 */
static unsigned char big_byte(uint64_t off)
{
	uint64_t page = off >> 12, kind = splitmix(page) & 3;

	if ((off >> 20) % 5 == 2)
		kind = 1;
	switch (kind) {
	case 0:
		return 0;
	case 1:
		return (unsigned char)(splitmix(off >> 3) >> (8 * (off & 7)));
	case 2:
		return (unsigned char)(splitmix(page * 7) >> (8 * (off & 7)));
	default:
		return (unsigned char)('a' +
				       (splitmix(off >> 3) >> (8 * (off & 7))) %
					       16);
	}
}

static void big_fill(unsigned char *buf, size_t len, uint64_t off)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = big_byte(off + i);
}

static const char small_a[] = "the first member\n";
static const char small_z[] = "the last member, after the big one\n";

static int add_file(struct archive *a, const char *name, const void *data,
		    uint64_t size, bool big)
{
	struct archive_entry *e = archive_entry_new();
	unsigned char *buf = NULL;
	uint64_t done = 0;
	int r = 0;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)size);
	if (archive_write_header(a, e) != ARCHIVE_OK)
		r = -1;
	if (big)
		buf = malloc(1 << 20);
	while (r == 0 && done < size) {
		size_t n = size - done < (1 << 20) ? (size_t)(size - done)
						   : (1 << 20);

		if (big)
			big_fill(buf, n, done);
		if (archive_write_data(a,
				       big ? (const void *)buf
					   : (const char *)data + done,
				       n) != (la_ssize_t)n)
			r = -1;
		done += n;
	}
	free(buf);
	archive_entry_free(e);
	return r;
}

/* a.txt, big.bin (@big bytes), z.txt, compressed with @filter. */
static int write_tar(const char *path, const char *filter, uint64_t big)
{
	struct archive *a = archive_write_new();
	int r = 0;

	archive_write_set_format_pax_restricted(a);
	if (strcmp(filter, "none") != 0) { /* "none": a plain tar */
		if (archive_write_add_filter_by_name(a, filter) != ARCHIVE_OK)
			r = -1;
		archive_write_set_filter_option(a, NULL, "compression-level",
						"1");
	}
	if (r == 0 && archive_write_open_filename(a, path) != ARCHIVE_OK)
		r = -1;
	if (r == 0)
		r = add_file(a, "a.txt", small_a, strlen(small_a), false);
	if (r == 0)
		r = add_file(a, "big.bin", NULL, big, true);
	if (r == 0)
		r = add_file(a, "z.txt", small_z, strlen(small_z), false);
	if (archive_write_close(a) != ARCHIVE_OK)
		r = -1;
	archive_write_free(a);
	return r;
}

struct reader {
	struct ckfs_archive *ar;
	const struct ckfs_member *m;
	uint64_t seed;
	int bad, eio, done;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	unsigned char *buf = malloc(256 << 10), *want = malloc(256 << 10);
	int i;

	for (i = 0; i < READS; i++) {
		uint64_t x = splitmix(rd->seed + (uint64_t)i);
		uint64_t off = x % rd->m->size;
		size_t len = (size_t)(splitmix(x) % (256 << 10)) + 1;
		ssize_t n = ckfs_archive_pread(rd->ar, rd->m, buf, len, off);
		size_t expect = off + len > rd->m->size
					? (size_t)(rd->m->size - off)
					: len;

		if (n < 0) {
			rd->eio++;
			continue;
		}
		big_fill(want, expect, off);
		if ((size_t)n != expect || memcmp(buf, want, expect) != 0)
			rd->bad++;
		rd->done++;
	}
	free(buf);
	free(want);
	return NULL;
}

/* The big member at random offsets by READERS threads at once. */
static void read_concurrently(struct ckfs_archive *ar,
			      const struct ckfs_member *m, bool pause_first,
			      const char *what)
{
	struct reader rd[READERS];
	pthread_t th[READERS];
	int i, bad = 0, eio = 0, done = 0;

	if (pause_first)
		ckfs_archive_pause(ar);
	for (i = 0; i < READERS; i++) {
		rd[i] = (struct reader){ .ar = ar,
					 .m = m,
					 .seed = 1000 * (uint64_t)i };
		pthread_create(&th[i], NULL, reader_main, &rd[i]);
	}
	if (pause_first) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		/* most reads need bytes the paused decoder has not made */
		for (i = 0; i < READERS; i++)
			done += __atomic_load_n(&rd[i].done, __ATOMIC_RELAXED);
		ok(done < READERS * READS,
		   "%s: readers wait while the decoder is paused (%d of %d reads done)",
		   what, done, READERS * READS);
		done = 0;
		ckfs_archive_resume(ar);
	}
	for (i = 0; i < READERS; i++) {
		pthread_join(th[i], NULL);
		bad += rd[i].bad;
		eio += rd[i].eio;
		done += rd[i].done;
	}
	is_int(eio, 0, "%s: no read failed", what);
	is_int(bad, 0,
	       "%s: every byte of %d random reads by %d threads is right", what,
	       done, READERS);
}

/*
 * big.bin placed piece by piece (ckfs_archive_locate()), as a spliced read
 * takes it: every piece holds the right bytes, and for zstd, the pieces
 * that are raw blocks are in the archive file @path itself.
 */
static void check_located(struct ckfs_archive *ar, const struct ckfs_member *m,
			  const char *path, const char *what)
{
	unsigned char *got = malloc(1 << 20), *want = malloc(1 << 20);
	uint64_t off = 0, in_archive = 0, pieces = 0;
	struct stat ast, sst;
	int bad = 0;

	if (!got || !want || stat(path, &ast) < 0) {
		ok(0, "%s: located (setup)", what);
		goto out;
	}
	while (off < m->size && !bad) {
		uint64_t len =
			m->size - off < (1 << 20) ? m->size - off : (1 << 20);
		struct ckfs_seg sg;
		int64_t n = ckfs_archive_locate(ar, m, off, len, &sg);

		if (n <= 0 || (uint64_t)n > len || fstat(sg.fd, &sst) < 0 ||
		    pread(sg.fd, got, (size_t)n, (off_t)sg.off) != n) {
			bad = 1;
			break;
		}
		big_fill(want, (size_t)n, off);
		if (memcmp(got, want, (size_t)n) != 0)
			bad = 1;
		if (sst.st_ino == ast.st_ino && sst.st_dev == ast.st_dev)
			in_archive += (uint64_t)n;
		pieces++;
		off += (uint64_t)n;
	}
	ok(!bad,
	   "%s: big.bin located in %llu pieces, each with the right bytes",
	   what, (unsigned long long)pieces);
	if (strstr(what, "zstd"))
		ok(in_archive >= m->size / 6,
		   "%s: its raw blocks (%llu of %llu bytes) are read from the archive itself, not cached",
		   what, (unsigned long long)in_archive,
		   (unsigned long long)m->size);
	else
		is_int(in_archive, 0, "%s: all of it is read from the cache",
		       what);
out:
	free(got);
	free(want);
}

static void check_small(struct ckfs_archive *ar, const char *name,
			const char *body, const char *what)
{
	const struct ckfs_member *m = ckfs_archive_find(ar, name);
	char buf[128] = { 0 };

	ok(m &&
		   ckfs_archive_pread(ar, m, buf, sizeof(buf) - 1, 0) ==
			   (ssize_t)strlen(body) &&
		   strcmp(buf, body) == 0,
	   "%s: %s reads back", what, name);
}

static void test_good(const char *filter, uint64_t big)
{
	struct ckfs_archive *ar = NULL;
	struct ckfs_err err = { 0 };
	const struct ckfs_member *m;
	char name[64];
	int r;

	snprintf(name, sizeof(name), "good.tar.%s", filter);
	if (!ok(write_tar(tpath(name), filter, big) == 0, "%s: written", name))
		return;
	r = ckfs_archive_open(tpath(name), &ar, &err);
	is_int(r, 0, "%s: opens (%s)", name, err.msg);
	if (r < 0)
		return;
	ok(ckfs_archive_compression(ar) &&
		   strcmp(ckfs_archive_compression(ar), filter) == 0,
	   "%s: compression is %s", name, filter);
	m = ckfs_archive_find(ar, "big.bin");
	ok(m && m->size == big, "%s: big.bin is indexed with its size", name);
	if (m)
		read_concurrently(ar, m, true, name);
	if (m)
		check_located(ar, m, tpath(name), name);
	check_small(ar, "a.txt", small_a, name);
	check_small(ar, "z.txt", small_z, name);
	is_int(ckfs_archive_count(ar), 3, "%s: three members once decoded",
	       name);
	ok(!ckfs_archive_find(ar, "nope"), "%s: a missing name is NULL", name);
	is_int(ckfs_archive_status(ar, &err), 0, "%s: status is clean", name);
	ckfs_archive_free(ar);
}

static int cut_file(const char *from, const char *to, double frac,
		    int flip_from_end)
{
	int fd = open(from, O_RDONLY);
	struct stat st;
	unsigned char *buf;
	size_t len;
	int r = -1;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -1;
	buf = malloc((size_t)st.st_size);
	if (buf && read(fd, buf, (size_t)st.st_size) == st.st_size) {
		len = (size_t)((double)st.st_size * frac);
		if (flip_from_end)
			buf[st.st_size - flip_from_end] ^= 0x55;
		close(fd);
		fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		r = fd >= 0 && write(fd, buf, len) == (ssize_t)len ? 0 : -1;
	}
	free(buf);
	if (fd >= 0)
		close(fd);
	return r;
}

static void test_truncated(const char *filter)
{
	struct ckfs_archive *ar = NULL;
	struct ckfs_err err = { 0 };
	const struct ckfs_member *m;
	char src[64], dst[64], buf[4096];
	int r;

	snprintf(src, sizeof(src), "good.tar.%s", filter);
	snprintf(dst, sizeof(dst), "cut.tar.%s", filter);
	if (cut_file(tpath(src), tpath(dst), 0.6, 0) < 0)
		return;
	r = ckfs_archive_open(tpath(dst), &ar, &err);
	is_int(r, 0, "%s: a stream cut at 60%% still opens", dst);
	if (r < 0)
		return;
	m = ckfs_archive_find(ar, "big.bin");
	ok(m != NULL, "%s: big.bin is indexed", dst);
	ok(ckfs_archive_find(ar, "z.txt") == NULL,
	   "%s: z.txt, past the cut, is not (and the lookup ends)", dst);
	if (m) {
		ok(ckfs_archive_pread(ar, m, buf, sizeof(buf), 0) ==
			   (ssize_t)sizeof(buf),
		   "%s: bytes before the cut read", dst);
		is_int(ckfs_archive_pread(ar, m, buf, sizeof(buf),
					  m->size - sizeof(buf)),
		       -EIO, "%s: bytes after the cut are EIO", dst);
	}
	r = ckfs_archive_status(ar, &err);
	is_int(r, -EBADMSG, "%s: status says the stream broke", dst);
	has_str(err.msg, "truncated", "  as truncated (%s)", err.msg);
	ckfs_archive_free(ar);
}

/* A gzip CRC-32 flipped: the data decodes, then nothing may be trusted. */
static void test_bad_crc(void)
{
	struct ckfs_archive *ar = NULL;
	struct ckfs_err err = { 0 };
	const struct ckfs_member *m;
	char buf[64];
	int r;

	if (cut_file(tpath("good.tar.gzip"), tpath("crc.tar.gz"), 1.0, 8) < 0)
		return;
	r = ckfs_archive_open(tpath("crc.tar.gz"), &ar, &err);
	if (r < 0) {
		has_str(err.msg, "CRC", "bad CRC refused at open, naming it");
		return;
	}
	/*
	 * The CRC is only checked at the end of the stream; headers the
	 * indexer had not read by then are lost with everything else, so
	 * the index holds at most the three members (which of them depends
	 * on timing) and reads fail for all.
	 */
	ok(ckfs_archive_count(ar) <= 3,
	   "bad CRC: the index holds no more than the archive did");
	m = ckfs_archive_find(ar, "a.txt");
	ok(m && ckfs_archive_pread(ar, m, buf, sizeof(buf), 0) == -EIO,
	   "bad CRC: every read fails afterwards, even the first member's");
	r = ckfs_archive_status(ar, &err);
	is_int(r, -EBADMSG, "bad CRC: status is -EBADMSG");
	has_str(err.msg, "CRC", "  naming the CRC (%s)", err.msg);
	ckfs_archive_free(ar);
}

static int zstd_emit(ZSTD_CCtx *c, FILE *f, const void *p, size_t n,
		     ZSTD_EndDirective end)
{
	static unsigned char out[1 << 16];
	ZSTD_inBuffer in = { p, n, 0 };
	size_t rem;

	do {
		ZSTD_outBuffer o = { out, sizeof(out), 0 };

		rem = ZSTD_compressStream2(c, &o, &in, end);
		if (ZSTD_isError(rem))
			return -1;
		fwrite(out, 1, o.pos, f);
	} while (end == ZSTD_e_end ? rem != 0 : in.pos < in.size);
	return 0;
}

/*
 * zstd with a checksum, of the plain tar @from; a byte flipped inside the
 * content of its first raw block when @flip.  Returns 0, or -1.
 */
static int write_zstd_raw(const char *from, const char *to, bool flip)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	unsigned char *buf = malloc(1 << 20);
	size_t n;
	int r = c && in && out && buf ? 0 : -1;

	if (r == 0) {
		ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1);
		ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	}
	while (r == 0 && (n = fread(buf, 1, 1 << 20, in)) > 0)
		r = zstd_emit(c, out, buf, n, ZSTD_e_continue);
	if (r == 0)
		r = zstd_emit(c, out, NULL, 0, ZSTD_e_end);
	if (out && fclose(out) != 0)
		r = -1;
	out = NULL;
	if (r == 0 && flip) {
		int fd = open(to, O_RDWR);
		struct stat st;
		struct ckfs_zwalk w;
		struct ckfs_zunit u;
		unsigned char b;

		r = -1;
		if (fd >= 0 && fstat(fd, &st) == 0) {
			ckfs_zwalk_init(&w, fd, (uint64_t)st.st_size, 0);
			while (ckfs_zwalk_next(&w, &u) >= CKFS_ZU_SKIPPABLE) {
				if (u.kind != CKFS_ZU_BLOCK ||
				    u.type != CKFS_ZB_RAW || u.size < 65536)
					continue;
				if (pread(fd, &b, 1,
					  (off_t)u.data_off + 1000) == 1 &&
				    (b ^= 0x20,
				     pwrite(fd, &b, 1,
					    (off_t)u.data_off + 1000)) == 1)
					r = 0;
				break;
			}
		}
		if (fd >= 0)
			close(fd);
	}
	if (in)
		fclose(in);
	if (out)
		fclose(out);
	free(buf);
	ZSTD_freeCCtx(c);
	return r;
}

/*
 * Raw blocks under a zstd checksum: a good one reads right, from the
 * archive file itself; one with a byte flipped inside a raw block decodes
 * (a raw block has no check of its own) but fails the frame's checksum, so
 * nothing may be read after, not even the bytes served from the archive.
 */
static void test_raw_checksum(void)
{
	struct ckfs_archive *ar = NULL;
	struct ckfs_err err = { 0 };
	const struct ckfs_member *m;
	char buf[64];
	int r;

	if (!ok(write_tar(tpath("raw.tar"), "none", 8u << 20) == 0 &&
			write_zstd_raw(tpath("raw.tar"), tpath("raw.tar.zst"),
				       false) == 0 &&
			write_zstd_raw(tpath("raw.tar"),
				       tpath("raw-flip.tar.zst"), true) == 0,
		"raw blocks: archives written, one with a byte flipped in a raw block"))
		return;
	r = ckfs_archive_open(tpath("raw.tar.zst"), &ar, &err);
	is_int(r, 0, "raw blocks: a checksummed zstd archive opens (%s)",
	       err.msg);
	if (r == 0) {
		m = ckfs_archive_find(ar, "big.bin");
		if (ok(m != NULL, "raw blocks: big.bin indexed"))
			check_located(ar, m, tpath("raw.tar.zst"),
				      "raw blocks, zstd");
		is_int(ckfs_archive_status(ar, &err), 0,
		       "raw blocks: the checksum holds");
		ckfs_archive_free(ar);
	}
	ar = NULL;
	r = ckfs_archive_open(tpath("raw-flip.tar.zst"), &ar, &err);
	if (r < 0) {
		has_str(err.msg, "checksum",
			"raw block flipped: refused at open, naming the checksum");
		return;
	}
	m = ckfs_archive_find(ar, "big.bin");
	ckfs_archive_find(ar, "no such member"); /* waits for the end */
	r = ckfs_archive_status(ar, &err);
	ok(r < 0 && strstr(err.msg, "checksum"),
	   "raw block flipped: the stream fails its checksum (%s)", err.msg);
	ok(m && ckfs_archive_pread(ar, m, buf, sizeof(buf),
				   (2u << 20) + 4096) == -EIO,
	   "raw block flipped: a read in the random MiB fails (EIO)");
	ok(m && ckfs_archive_pread(ar, m, buf, sizeof(buf), 0) == -EIO,
	   "raw block flipped: every read fails afterwards");
	ckfs_archive_free(ar);
}

/* One ustar header for a regular file "zeros" of @size bytes. */
static void ustar_header(unsigned char *h, uint64_t size)
{
	unsigned sum = 0;
	int i;

	memset(h, 0, 512);
	strcpy((char *)h, "zeros");
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	snprintf((char *)h + 136, 12, "%011o", 0);
	h[156] = '0';
	memcpy(h + 257,
	       "ustar\0"
	       "00",
	       8);
	memset(h + 148, ' ', 8);
	for (i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
}

/* A tar of @size zero bytes, zstd-compressed (a bomb, for large sizes). */
static int write_zstd_zeros(const char *path, uint64_t size, bool pledge)
{
	static unsigned char zeros[1 << 20], hdr[512];
	ZSTD_CCtx *c = ZSTD_createCCtx();
	FILE *f = fopen(path, "wb");
	uint64_t done = 0;
	int r = c && f ? 0 : -1;

	ustar_header(hdr, size);
	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1);
	if (pledge)
		ZSTD_CCtx_setPledgedSrcSize(c, 512 + size);
	if (r == 0)
		r = zstd_emit(c, f, hdr, sizeof(hdr), ZSTD_e_continue);
	while (r == 0 && done < size) {
		size_t n = size - done < sizeof(zeros) ? (size_t)(size - done)
						       : sizeof(zeros);

		r = zstd_emit(c, f, zeros, n, ZSTD_e_continue);
		done += n;
	}
	if (r == 0)
		r = zstd_emit(c, f, NULL, 0, ZSTD_e_end);
	ZSTD_freeCCtx(c);
	if (f)
		fclose(f);
	return r;
}

static void test_limits(void)
{
	struct ckfs_archive_opts o = { .cache_max = 8u << 20 };
	struct ckfs_archive *ar = NULL;
	struct ckfs_err err = { 0 };
	const struct ckfs_member *m;
	char buf[4096];
	int r;

	/* a bomb: 1 GiB of zeros in a few dozen KiB */
	if (!ok(write_zstd_zeros(tpath("bomb.tar.zst"), 1ull << 30, true) ==
				0 &&
			write_zstd_zeros(tpath("bomb2.tar.zst"), 1ull << 30,
					 false) == 0,
		"zstd bombs written"))
		return;
	ckfs_archive_set_opts(&o);
	r = ckfs_archive_open(tpath("bomb.tar.zst"), &ar, &err);
	is_int(r, -EOVERFLOW,
	       "a bomb whose frame says 1 GiB is refused up front");
	has_str(err.msg, "cache_max", "  naming the limit (%s)", err.msg);
	r = ckfs_archive_open(tpath("bomb2.tar.zst"), &ar, &err);
	is_int(r, 0, "a bomb with no size in its frame opens");
	if (r == 0) {
		m = ckfs_archive_find(ar, "zeros");
		ok(m && ckfs_archive_pread(ar, m, buf, sizeof(buf), 0) ==
				   (ssize_t)sizeof(buf),
		   "  bytes below the limit read");
		ok(m && ckfs_archive_pread(ar, m, buf, sizeof(buf),
					   64u << 20) == -EIO,
		   "  bytes past the limit are EIO");
		r = ckfs_archive_status(ar, &err);
		is_int(r, -EOVERFLOW, "  status: -EOVERFLOW");
		has_str(err.msg, "cache limit", "  saying so (%s)", err.msg);
		ckfs_archive_free(ar);
	}
	ckfs_archive_set_opts(NULL);
}

static void test_not_tar(void)
{
	struct ckfs_archive *ar = NULL;
	struct ckfs_err err = { 0 };
	char data[4096];
	gzFile g;
	int r;

	memset(data, 'x', sizeof(data));
	g = gzopen(tpath("text.gz"), "wb");
	gzwrite(g, data, sizeof(data));
	gzclose(g);
	r = ckfs_archive_open(tpath("text.gz"), &ar, &err);
	is_int(r, -EBADMSG, "a gzip that holds no tar is refused");
	has_str(err.msg, "not a tar", "  saying so (%s)", err.msg);
}

static int rm_tree(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd);
}

int main(void)
{
	static const char *const filters[] = { "zstd", "gzip", "xz", "bzip2" };
	const char *env = getenv("CKFS_TEST_BIG_MIB");
	uint64_t big = env ? strtoull(env, NULL, 10) << 20 : BIG_DEFAULT;
	size_t i;

	if (!mkdtemp(tmpdir))
		return 1;
	for (i = 0; i < CKFS_ARRAY_SIZE(filters); i++) {
		/* xz and bzip2 are slow to write: a smaller big member */
		test_good(filters[i], i < 2 ? big : big / 16);
		test_truncated(filters[i]);
	}
	test_bad_crc();
	test_raw_checksum();
	test_limits();
	test_not_tar();
	rm_tree();
	return tap_done();
}
