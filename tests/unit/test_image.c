/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * image/: CRIU framing (magics, size-prefixed records, limits) on images
 * built in memory, ckfs_img_load() on a directory input (missing,
 * symlink, directory and over-limit members), and the decoders on a real
 * fixture when its path is given (argv[1]).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive.h"
#include "image/criu.h"
#include "image/image.h"
#include "pb_enc.h"
#include "tap.h"

static char tmpdir[] = "/tmp/ckfs-test-image-XXXXXX";

static char *tpath(const char *name)
{
	static char buf[4][4096];
	static int slot;
	char *p = buf[slot++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", tmpdir, name);
	return p;
}

/* Parse a copy of @b (ckfs_img_parse takes the buffer). */
static int parse(const char *name, const struct pbuf *b, uint32_t magic,
		 struct ckfs_img **img, struct ckfs_err *err)
{
	char *copy = malloc(b->len ? b->len : 1);

	if (b->len)
		memcpy(copy, b->p, b->len);
	memset(err, 0, sizeof(*err));
	return ckfs_img_parse(name, copy, b->len, magic, img, err);
}

static void add_raw_rec(struct pbuf *b, const char *data, uint32_t len)
{
	pb_u32(b, len);
	pb_put(b, data, len);
}

static void test_magics(void)
{
	struct ckfs_img *img = NULL;
	struct ckfs_err err;
	struct pbuf b = { 0 };
	int r;

	/* the common head magic, then the type magic */
	img_start(&b, CKFS_MAGIC_COMMON, CKFS_MAGIC_PSTREE);
	add_raw_rec(&b, "abc", 3);
	add_raw_rec(&b, "defgh", 5);
	r = parse("pstree.img", &b, CKFS_MAGIC_PSTREE, &img, &err);
	ok(r == 0 && img, "head magic + pstree magic parses");
	if (img) {
		is_int(img->magic, CKFS_MAGIC_PSTREE,
		       "  the type magic is kept");
		is_int(img->n, 2, "  two records");
		ok(img->rec[0].off == 12 && img->rec[0].len == 3 &&
			   memcmp(img->buf + img->rec[0].off, "abc", 3) == 0,
		   "  record 0 at byte 12, 3 bytes");
		ok(img->rec[1].off == 19 && img->rec[1].len == 5 &&
			   memcmp(img->buf + img->rec[1].off, "defgh", 5) == 0,
		   "  record 1 at byte 19, 5 bytes");
		is_str(img->name, "pstree.img", "  the name is kept");
		ckfs_img_free(img);
	}
	pb_free(&b);

	/* inventory.img has no head magic */
	img_start(&b, 0, CKFS_MAGIC_INVENTORY);
	add_raw_rec(&b, "x", 1);
	r = parse("inventory.img", &b, CKFS_MAGIC_INVENTORY, &img, &err);
	ok(r == 0 && img && img->magic == CKFS_MAGIC_INVENTORY && img->n == 1 &&
		   img->rec[0].off == 8,
	   "no head magic: the first word is the type magic");
	ckfs_img_free(img);
	pb_free(&b);

	/* the service head magic (stats-dump) */
	img_start(&b, CKFS_MAGIC_SERVICE, CKFS_MAGIC_STATS);
	add_raw_rec(&b, "", 0);
	r = parse("stats-dump", &b, CKFS_MAGIC_STATS, &img, &err);
	ok(r == 0 && img && img->magic == CKFS_MAGIC_STATS && img->n == 1,
	   "service head magic parses");
	ckfs_img_free(img);
	pb_free(&b);

	/* magic 0 accepts any type */
	img_start(&b, CKFS_MAGIC_COMMON, 0x12345678);
	r = parse("any.img", &b, 0, &img, &err);
	ok(r == 0 && img && img->magic == 0x12345678 && img->n == 0,
	   "expected magic 0 accepts any type; magic alone is 0 records");
	ckfs_img_free(img);

	/* an unexpected type */
	r = parse("core-1.img", &b, CKFS_MAGIC_CORE, &img, &err);
	is_int(r, -EBADMSG, "unknown magic: -EBADMSG");
	ok(img == NULL, "  nothing handed out");
	has_str(err.msg, "core-1.img", "  names the member");
	has_str(err.msg, "0x12345678", "  shows the magic found");
	pb_free(&b);

	/* too short for any magic, or for the type after the head */
	pb_put(&b, "\x19\x43", 2);
	r = parse("short.img", &b, 0, &img, &err);
	is_int(r, -EBADMSG, "2 bytes: -EBADMSG");
	has_str(err.msg, "short.img", "  names the member");
	pb_free(&b);
	pb_u32(&b, CKFS_MAGIC_COMMON);
	pb_put(&b, "\1\2", 2);
	r = parse("half.img", &b, 0, &img, &err);
	is_int(r, -EBADMSG, "head magic and half a type magic: -EBADMSG");
	pb_free(&b);
	r = parse("empty.img", &b, 0, &img, &err);
	is_int(r, -EBADMSG, "an empty image: -EBADMSG");
}

static void test_records(void)
{
	struct ckfs_img *img = NULL;
	struct ckfs_err err;
	struct pbuf b = { 0 };
	size_t i;
	int r;

	/* zero-size records are records (an all-default message) */
	img_start(&b, CKFS_MAGIC_COMMON, CKFS_MAGIC_FDINFO);
	add_raw_rec(&b, "", 0);
	add_raw_rec(&b, "zz", 2);
	add_raw_rec(&b, "", 0);
	r = parse("fdinfo-2.img", &b, CKFS_MAGIC_FDINFO, &img, &err);
	ok(r == 0 && img && img->n == 3 && img->rec[0].len == 0 &&
		   img->rec[2].len == 0 && img->rec[2].off == b.len,
	   "zero-size records count, the last one ends the image");
	ckfs_img_free(img);

	/* a record that claims more than is left */
	pb_u32(&b, 100);
	pb_put(&b, "only ten..", 10);
	r = parse("fdinfo-2.img", &b, CKFS_MAGIC_FDINFO, &img, &err);
	is_int(r, -EBADMSG, "record past the end: -EBADMSG");
	ok(img == NULL, "  nothing handed out");
	has_str(err.msg, "fdinfo-2.img", "  names the member");
	has_str(err.msg, "record 3", "  and the record");
	pb_free(&b);

	/* a record header cut short */
	img_start(&b, CKFS_MAGIC_COMMON, CKFS_MAGIC_FDINFO);
	add_raw_rec(&b, "a", 1);
	pb_put(&b, "\1\0", 2);
	r = parse("cut.img", &b, CKFS_MAGIC_FDINFO, &img, &err);
	is_int(r, -EBADMSG, "truncated record header: -EBADMSG");
	has_str(err.msg, "cut.img", "  names the member");
	pb_free(&b);

	/* over the record limit: refused before looking at the bytes */
	img_start(&b, CKFS_MAGIC_COMMON, CKFS_MAGIC_MM);
	pb_u32(&b, CKFS_IMG_RECORD_MAX + 1);
	r = parse("mm-1.img", &b, CKFS_MAGIC_MM, &img, &err);
	is_int(r, -EOVERFLOW, "record over the limit: -EOVERFLOW");
	has_str(err.msg, "mm-1.img", "  names the member");
	pb_free(&b);
	img_start(&b, CKFS_MAGIC_COMMON, CKFS_MAGIC_MM);
	pb_u32(&b, UINT32_MAX);
	r = parse("mm-1.img", &b, CKFS_MAGIC_MM, &img, &err);
	is_int(r, -EOVERFLOW, "a 4 GiB record: -EOVERFLOW");
	pb_free(&b);

	/* exactly at the limit is allowed (when the bytes are there) */
	img_start(&b, CKFS_MAGIC_COMMON, CKFS_MAGIC_MM);
	pb_u32(&b, CKFS_IMG_RECORD_MAX);
	{
		size_t at = b.len;

		pb_put(&b, NULL, 0);
		b.cap = at + CKFS_IMG_RECORD_MAX;
		b.p = realloc(b.p, b.cap);
		memset(b.p + at, 0, CKFS_IMG_RECORD_MAX);
		b.len = b.cap;
	}
	r = parse("mm-1.img", &b, CKFS_MAGIC_MM, &img, &err);
	ok(r == 0 && img && img->n == 1 &&
		   img->rec[0].len == CKFS_IMG_RECORD_MAX,
	   "a record of exactly the limit parses");
	ckfs_img_free(img);
	pb_free(&b);

	/* many records: the index grows */
	img_start(&b, CKFS_MAGIC_COMMON, CKFS_MAGIC_FDINFO);
	for (i = 0; i < 5000; i++)
		add_raw_rec(&b, "12345678", (uint32_t)(i % 9));
	r = parse("many.img", &b, CKFS_MAGIC_FDINFO, &img, &err);
	ok(r == 0 && img && img->n == 5000 && img->rec[4999].len == 4999 % 9,
	   "5000 records indexed");
	ckfs_img_free(img);
	pb_free(&b);
	ckfs_img_free(NULL);
	ok(1, "ckfs_img_free(NULL) is a no-op");
}

/* ckfs_img_load through a directory input */
static void test_load(void)
{
	struct ckfs_archive *ar = NULL;
	struct ckfs_img *img = NULL;
	struct ckfs_err err = { 0 };
	struct pbuf b = { 0 };
	int fd, r;

	img_start(&b, CKFS_MAGIC_COMMON, CKFS_MAGIC_PSTREE);
	add_raw_rec(&b, "\x08\x01", 2);
	pb_write_file(tpath("pstree.img"), &b);
	pb_free(&b);
	symlink("/etc/passwd", tpath("core-1.img"));
	symlink("pstree.img", tpath("core-2.img"));
	mkdir(tpath("mm-1.img"), 0755);
	fd = open(tpath("pages-1.img"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	r = fd >= 0 ? ftruncate(fd, (off_t)CKFS_IMG_SIZE_MAX + 1) : -1;
	if (fd >= 0)
		close(fd);
	if (r < 0)
		diag("no sparse files here");

	r = ckfs_archive_open(tmpdir, &ar, &err);
	if (!ok(r == 0, "a directory of images opens"))
		return;
	r = ckfs_img_load(ar, "pstree.img", CKFS_MAGIC_PSTREE, &img, &err);
	ok(r == 0 && img && img->n == 1, "load reads and frames a member");
	ckfs_img_free(img);
	r = ckfs_img_load(ar, "nothere.img", 0, &img, &err);
	is_int(r, -ENOENT, "a missing member: -ENOENT");
	has_str(err.msg, "nothere.img", "  naming it");
	r = ckfs_img_load(ar, "core-1.img", 0, &img, &err);
	is_int(r, -EBADMSG, "a symlink out of the directory: refused");
	has_str(err.msg, "symlink", "  as a symlink, never read through");
	r = ckfs_img_load(ar, "core-2.img", 0, &img, &err);
	is_int(r, -EBADMSG, "a symlink to a sibling image: refused too");
	r = ckfs_img_load(ar, "mm-1.img", 0, &img, &err);
	is_int(r, -EBADMSG, "a directory: refused");
	has_str(err.msg, "directory", "  as a directory");
	if (ckfs_archive_find(ar, "pages-1.img")) {
		r = ckfs_img_load(ar, "pages-1.img", 0, &img, &err);
		is_int(r, -EOVERFLOW,
		       "an image over the size limit: -EOVERFLOW");
		has_str(err.msg, "limit", "  says so");
	}
	ckfs_archive_free(ar);
}

/* The decoders on real CRIU images (criu-counter.tar). */
static void test_fixture(const char *path)
{
	struct ckfs_archive *ar = NULL;
	struct ckfs_err err = { 0 };
	struct ckfs_pstree_ent *ents = NULL;
	size_t n = 0, i;
	int r;

	r = ckfs_archive_open(path, &ar, &err);
	if (!ok(r == 0, "fixture opens: %s", path)) {
		diag("%s", err.msg);
		return;
	}
	r = ckfs_img_read_pstree(ar, "pstree.img", &ents, &n, &err);
	ok(r == 0 && n >= 1 && ents[0].ppid == 0 && ents[0].ntids >= 1,
	   "pstree decodes; the first task is the root");
	for (i = 0; r == 0 && i < n; i++) {
		char name[64];
		struct ckfs_mm mm;
		struct ckfs_pagemap pm;
		struct ckfs_core core;
		const struct ckfs_member *pages;
		size_t j, sorted = 1;

		snprintf(name, sizeof(name), "core-%u.img", ents[i].pid);
		r = ckfs_img_read_core(ar, name, &core, &err);
		ok(r == 0 && core.is_leader && core.mtype == 1,
		   "%s decodes: a leader, x86_64", name);
		if (r == 0)
			ckfs_core_fini(&core);
		snprintf(name, sizeof(name), "mm-%u.img", ents[i].pid);
		r = ckfs_img_read_mm(ar, name, &mm, &err);
		ok(r == 0 && mm.nvmas > 0 && mm.arg_start < mm.arg_end,
		   "%s decodes: vmas and the arg range", name);
		if (r == 0)
			ckfs_mm_fini(&mm);
		snprintf(name, sizeof(name), "pagemap-%u.img", ents[i].pid);
		r = ckfs_img_read_pagemap(ar, name, 4096, &pm, &err);
		if (!ok(r == 0 && pm.n > 0, "%s decodes", name))
			continue;
		for (j = 1; j < pm.n; j++)
			if (pm.runs[j - 1].vaddr +
				    pm.runs[j - 1].npages * 4096 >
			    pm.runs[j].vaddr)
				sorted = 0;
		ok(sorted, "  runs sorted, not overlapping");
		snprintf(name, sizeof(name), "pages-%u.img", pm.pages_id);
		pages = ckfs_archive_find(ar, name);
		ok(pages && pages->size == pm.pages_bytes,
		   "  PRESENT runs need exactly the bytes of %s", name);
		ckfs_pagemap_fini(&pm);
	}
	ckfs_pstree_free(ents, n);
	ckfs_archive_free(ar);
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	return remove(path);
}

int main(int argc, char **argv)
{
	if (!mkdtemp(tmpdir))
		tap_skip_all("cannot make a temporary directory");
	test_magics();
	test_records();
	test_load();
	if (argc > 1)
		test_fixture(argv[1]);
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
