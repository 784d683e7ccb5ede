/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * image/payload.c and image/task.c on images crafted into a directory
 * input: records followed by raw bytes (pipes-data, sk-queues, tcp-stream,
 * ghost files raw and chunked) must be indexed to the right member
 * offsets, and truncated or overlapping ones refused with -EBADMSG; the
 * seccomp chain length must stop on loops.
 */
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive/archive.h"
#include "image/image.h"
#include "image/payload.h"
#include "image/task.h"
#include "pb_enc.h"
#include "tap.h"

static char tmpdir[] = "/tmp/ckfs-test-payload-XXXXXX";

static char *tpath(const char *name)
{
	static char buf[4][4096];
	static int slot;
	char *p = buf[slot++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", tmpdir, name);
	return p;
}

static void put_file(const char *name, struct pbuf *b)
{
	if (pb_write_file(tpath(name), b) < 0)
		diag("cannot write %s", name);
	pb_free(b);
}

/* a record of @m followed by @n raw bytes */
static void rec_extra(struct pbuf *b, struct pbuf *m, const char *raw,
		      size_t n)
{
	img_rec(b, m);
	pb_put(b, raw, n);
}

static struct ckfs_archive *open_dir(void)
{
	struct ckfs_archive *ar = NULL;
	struct ckfs_err err = { 0 };

	if (ckfs_archive_open(tmpdir, &ar, &err) < 0)
		diag("open: %s", err.msg);
	return ar;
}

static int read_at(struct ckfs_archive *ar, const char *name, uint64_t off,
		   size_t len, const char *want)
{
	char buf[256];
	const struct ckfs_member *m = ckfs_archive_find(ar, name);

	if (!m || len > sizeof(buf))
		return 0;
	return ckfs_archive_pread(ar, m, buf, len, off) == (ssize_t)len &&
	       memcmp(buf, want, len) == 0;
}

static void write_images(void)
{
	struct pbuf b = { 0 }, m = { 0 };

	/* pipes-data.img: two pipes, data after each entry */
	img_start(&b, PB_COMMON_MAGIC, CKFS_MAGIC_PIPES_DATA);
	pb_uint(&m, 1, 77);
	pb_uint(&m, 2, 5);
	rec_extra(&b, &m, "hello", 5);
	pb_uint(&m, 1, 78);
	pb_uint(&m, 2, 3);
	rec_extra(&b, &m, "abc", 3);
	put_file("pipes-data.img", &b);

	/* the same, cut inside the second pipe's data */
	img_start(&b, PB_COMMON_MAGIC, CKFS_MAGIC_PIPES_DATA);
	pb_uint(&m, 1, 77);
	pb_uint(&m, 2, 50);
	rec_extra(&b, &m, "short", 5);
	put_file("bad-pipes.img", &b);

	/* sk-queues.img: packets of sockets 19 and 20 */
	img_start(&b, PB_COMMON_MAGIC, CKFS_MAGIC_SK_QUEUES);
	pb_uint(&m, 1, 19);
	pb_uint(&m, 2, 4);
	rec_extra(&b, &m, "ping", 4);
	pb_uint(&m, 1, 20);
	pb_uint(&m, 2, 0);
	rec_extra(&b, &m, "", 0);
	pb_uint(&m, 1, 19);
	pb_uint(&m, 2, 4);
	rec_extra(&b, &m, "pong", 4);
	put_file("sk-queues.img", &b);

	/* tcp-stream: 3 bytes of receive queue, then 2 of send queue */
	img_start(&b, PB_COMMON_MAGIC, CKFS_MAGIC_TCP_STREAM);
	pb_uint(&m, 1, 3);
	pb_uint(&m, 2, 1000);
	pb_uint(&m, 3, 2);
	pb_uint(&m, 4, 2000);
	rec_extra(&b, &m, "RCVsn", 5);
	put_file("tcp-stream-2a.img", &b);

	/* a raw ghost: the contents run to the end of the image */
	img_start(&b, PB_COMMON_MAGIC, CKFS_MAGIC_GHOST_FILE);
	pb_uint(&m, 3, 0100644);
	rec_extra(&b, &m, "deleted text\n", 13);
	put_file("ghost-file-1.img", &b);

	/* a chunked ghost of 100 bytes: [10, 14) and [50, 53) */
	img_start(&b, PB_COMMON_MAGIC, CKFS_MAGIC_GHOST_FILE);
	pb_uint(&m, 3, 0100600);
	pb_uint(&m, 9, 1);
	pb_uint(&m, 10, 100);
	img_rec(&b, &m);
	pb_uint(&m, 1, 4);
	pb_uint(&m, 2, 10);
	rec_extra(&b, &m, "AAAA", 4);
	pb_uint(&m, 1, 3);
	pb_uint(&m, 2, 50);
	rec_extra(&b, &m, "BBB", 3);
	put_file("ghost-file-2.img", &b);

	/* chunks that overlap */
	img_start(&b, PB_COMMON_MAGIC, CKFS_MAGIC_GHOST_FILE);
	pb_uint(&m, 9, 1);
	pb_uint(&m, 10, 100);
	img_rec(&b, &m);
	pb_uint(&m, 1, 10);
	pb_uint(&m, 2, 10);
	rec_extra(&b, &m, "0123456789", 10);
	pb_uint(&m, 1, 2);
	pb_uint(&m, 2, 15);
	rec_extra(&b, &m, "xx", 2);
	put_file("ghost-file-3.img", &b);

	/* a chunk past the file size */
	img_start(&b, PB_COMMON_MAGIC, CKFS_MAGIC_GHOST_FILE);
	pb_uint(&m, 9, 1);
	pb_uint(&m, 10, 4);
	img_rec(&b, &m);
	pb_uint(&m, 1, 2);
	pb_uint(&m, 2, 3);
	rec_extra(&b, &m, "yy", 2);
	put_file("ghost-file-4.img", &b);

	/* a record size over the limit */
	img_start(&b, PB_COMMON_MAGIC, CKFS_MAGIC_SK_QUEUES);
	pb_u32(&b, CKFS_IMG_RECORD_MAX + 1);
	pb_put(&b, "zzzz", 4);
	put_file("huge-sk.img", &b);
}

static void test_pipes(struct ckfs_archive *ar)
{
	struct ckfs_pipe_data *pd = NULL;
	struct ckfs_err err = { 0 };
	size_t n = 0;
	int r;

	r = ckfs_img_read_pipe_data(ar, "pipes-data.img",
				    CKFS_MAGIC_PIPES_DATA, &pd, &n, &err);
	ok(r == 0 && n == 2, "pipes-data.img: two entries");
	if (r == 0 && n == 2) {
		ok(pd[0].pipe_id == 77 && pd[0].bytes == 5 &&
			   read_at(ar, "pipes-data.img", pd[0].src, 5, "hello"),
		   "  pipe 77: 5 bytes at the right offset");
		ok(pd[1].pipe_id == 78 && pd[1].bytes == 3 &&
			   read_at(ar, "pipes-data.img", pd[1].src, 3, "abc"),
		   "  pipe 78: 3 bytes at the right offset");
	}
	free(pd);
	r = ckfs_img_read_pipe_data(ar, "pipes-data.img", CKFS_MAGIC_FIFO_DATA,
				    &pd, &n, &err);
	is_int(r, -EBADMSG, "a pipes-data image is not a fifo-data one");
	free(pd);
	r = ckfs_img_read_pipe_data(ar, "fifo-data.img", CKFS_MAGIC_FIFO_DATA,
				    &pd, &n, &err);
	ok(r == 0 && n == 0 && !pd, "a missing fifo-data.img is empty");
	memset(&err, 0, sizeof(err));
	r = ckfs_img_read_pipe_data(ar, "bad-pipes.img", CKFS_MAGIC_PIPES_DATA,
				    &pd, &n, &err);
	is_int(r, -EBADMSG, "data running past the end is refused");
	has_str(err.msg, "run past the end", "  and the message says so");
	free(pd);
}

static void test_sk_queues(struct ckfs_archive *ar)
{
	struct ckfs_sk_packet *pk = NULL;
	struct ckfs_err err = { 0 };
	size_t n = 0;
	int r;

	r = ckfs_img_read_sk_queues(ar, "sk-queues.img", &pk, &n, &err);
	ok(r == 0 && n == 3, "sk-queues.img: three packets");
	if (r == 0 && n == 3) {
		ok(pk[0].id_for == 19 &&
			   read_at(ar, "sk-queues.img", pk[0].src, 4, "ping"),
		   "  packet 0 of socket 19");
		ok(pk[1].id_for == 20 && pk[1].length == 0,
		   "  an empty packet of socket 20");
		ok(pk[2].id_for == 19 &&
			   read_at(ar, "sk-queues.img", pk[2].src, 4, "pong"),
		   "  packet 2 of socket 19");
	}
	free(pk);
	memset(&err, 0, sizeof(err));
	r = ckfs_img_read_sk_queues(ar, "huge-sk.img", &pk, &n, &err);
	is_int(r, -EOVERFLOW, "a record over CKFS_IMG_RECORD_MAX is refused");
	free(pk);
}

static void test_tcp(struct ckfs_archive *ar)
{
	struct ckfs_tcp_stream ts;
	struct ckfs_err err = { 0 };
	int r;

	r = ckfs_img_read_tcp_stream(ar, "tcp-stream-2a.img", &ts, &err);
	ok(r == 0 && ts.inq_len == 3 && ts.outq_len == 2 &&
		   ts.inq_seq == 1000 && ts.outq_seq == 2000,
	   "tcp-stream: queue lengths and sequence numbers");
	ok(r == 0 && read_at(ar, "tcp-stream-2a.img", ts.inq_src, 3, "RCV") &&
		   read_at(ar, "tcp-stream-2a.img", ts.outq_src, 2, "sn"),
	   "  receive queue, then send queue");
	r = ckfs_img_read_tcp_stream(ar, "tcp-stream-2b.img", &ts, &err);
	is_int(r, -ENOENT, "a missing tcp-stream image is -ENOENT");
}

static void test_ghosts(struct ckfs_archive *ar)
{
	struct ckfs_ghost g;
	struct ckfs_err err = { 0 };
	int r;

	r = ckfs_img_read_ghost(ar, "ghost-file-1.img", &g, &err);
	ok(r == 0 && g.size == 13 && g.n == 1 && g.mode == 0100644 &&
		   read_at(ar, "ghost-file-1.img", g.ext[0].src, 13,
			   "deleted text\n"),
	   "raw ghost: the bytes after the entry, to the end");
	if (r == 0)
		ckfs_ghost_fini(&g);
	r = ckfs_img_read_ghost(ar, "ghost-file-2.img", &g, &err);
	ok(r == 0 && g.size == 100 && g.n == 2, "chunked ghost: two chunks");
	if (r == 0 && g.n == 2) {
		ok(g.ext[0].off == 10 && g.ext[0].len == 4 &&
			   read_at(ar, "ghost-file-2.img", g.ext[0].src, 4,
				   "AAAA"),
		   "  chunk 0 at file offset 10");
		ok(g.ext[1].off == 50 && g.ext[1].len == 3 &&
			   read_at(ar, "ghost-file-2.img", g.ext[1].src, 3,
				   "BBB"),
		   "  chunk 1 at file offset 50");
	}
	if (r == 0)
		ckfs_ghost_fini(&g);
	memset(&err, 0, sizeof(err));
	r = ckfs_img_read_ghost(ar, "ghost-file-3.img", &g, &err);
	is_int(r, -EBADMSG, "overlapping chunks are refused");
	has_str(err.msg, "overlaps", "  and the message says so");
	r = ckfs_img_read_ghost(ar, "ghost-file-4.img", &g, &err);
	is_int(r, -EBADMSG, "a chunk past the file size is refused");
	r = ckfs_img_read_ghost(ar, "ghost-file-5.img", &g, &err);
	is_int(r, -ENOENT, "a missing ghost image is -ENOENT");
}

static void test_seccomp_chain(void)
{
	struct ckfs_seccomp_filter f[4] = {
		{ .has_prev = false },
		{ .has_prev = true, .prev = 0 },
		{ .has_prev = true, .prev = 3 }, /* a loop: 2 -> 3 -> 2 */
		{ .has_prev = true, .prev = 2 },
	};

	is_int(ckfs_seccomp_chain_len(f, 4, 1), 2, "seccomp chain 1 -> 0");
	is_int(ckfs_seccomp_chain_len(f, 4, 0), 1, "seccomp chain of one");
	is_int(ckfs_seccomp_chain_len(f, 4, 9), 0, "an index out of range");
	ok(ckfs_seccomp_chain_len(f, 4, 2) <= 4, "a looping chain stops");
}

static int rm_one(const char *path, const struct stat *st, int type,
		  struct FTW *ftw)
{
	return remove(path);
}

int main(void)
{
	struct ckfs_archive *ar;

	if (!mkdtemp(tmpdir))
		tap_skip_all("cannot make a temporary directory");
	write_images();
	ar = open_dir();
	ok(ar != NULL, "the crafted directory opens");
	if (ar) {
		test_pipes(ar);
		test_sk_queues(ar);
		test_tcp(ar);
		test_ghosts(ar);
		ckfs_archive_free(ar);
	}
	test_seccomp_chain();
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
