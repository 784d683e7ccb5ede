/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ckfs_img_read_pagemap(): pagemap images are written by a small protobuf
 * encoder into a temporary directory, which is opened as a directory
 * input.  Both page-count encodings (CRIU <= 4.1 field 2, >= 4.2 field 5),
 * PRESENT offsets as prefix sums in file order, flag defaults, and the
 * refusals: byte counts that overflow, runs that wrap, overlapping runs.
 */
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive.h"
#include "base/mem.h"
#include "image/criu.h"
#include "image/image.h"
#include "pb_enc.h"
#include "tap.h"

#define PS 4096ull

static char tmpdir[] = "/tmp/ckfs-test-pagemap-XXXXXX";

enum count_field { F2 = 2, F5 = 5, BOTH = 7 };

struct ent {
	uint64_t vaddr, npages;
	int flags;     /* -1: no flags field */
	int in_parent; /* -1: no in_parent field */
};

/* A pagemap image: head (pages_id), then one entry per @e. */
static void build(struct pbuf *img, uint32_t pages_id, const struct ent *e,
		  size_t n, enum count_field f)
{
	struct pbuf m = { 0 };
	size_t i;

	img_start(img, PB_COMMON_MAGIC, CKFS_MAGIC_PAGEMAP);
	pb_uint(&m, 1, pages_id);
	img_rec(img, &m);
	for (i = 0; i < n; i++) {
		pb_uint(&m, 1, e[i].vaddr);
		if (f == F2)
			pb_uint(&m, 2, e[i].npages);
		if (f == F5 || f == BOTH) {
			if (f == BOTH)
				pb_uint(&m, 2, 0); /* 4.2 writes 0 there */
			pb_uint(&m, 5, e[i].npages);
		}
		if (e[i].in_parent >= 0)
			pb_uint(&m, 3, (uint64_t)e[i].in_parent);
		if (e[i].flags >= 0)
			pb_uint(&m, 4, (uint64_t)e[i].flags);
		img_rec(img, &m);
	}
}

/* Write @img as pagemap-1.img in a fresh directory and decode it. */
static int decode(const struct pbuf *img, struct ckfs_pagemap *pm,
		  struct ckfs_err *err)
{
	char path[4200];
	struct ckfs_archive *ar = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/pagemap-1.img", tmpdir);
	memset(err, 0, sizeof(*err));
	memset(pm, 0, sizeof(*pm));
	if (pb_write_file(path, img) < 0)
		return -EIO;
	r = ckfs_archive_open(tmpdir, &ar, err);
	if (r < 0)
		return r;
	r = ckfs_img_read_pagemap(ar, "pagemap-1.img", PS, pm, err);
	ckfs_archive_free(ar);
	return r;
}

static int decode_ents(const struct ent *e, size_t n, enum count_field f,
		       struct ckfs_pagemap *pm, struct ckfs_err *err)
{
	struct pbuf img = { 0 };
	int r;

	build(&img, 7, e, n, f);
	r = decode(&img, pm, err);
	pb_free(&img);
	return r;
}

static int same_runs(const struct ckfs_pagemap *a, const struct ckfs_pagemap *b)
{
	return a->n == b->n && a->pages_bytes == b->pages_bytes &&
	       a->pages_id == b->pages_id &&
	       memcmp(a->runs, b->runs, a->n * sizeof(*a->runs)) == 0;
}

/*
 * Entries out of address order, as CRIU writes them for some layouts
 * (and as a crafted image may): offsets follow the file, not addresses.
 */
static const struct ent unsorted[] = {
	{ 0x30000, 2, CKFS_PE_PRESENT, -1 },
	{ 0x10000, 1, CKFS_PE_PRESENT, -1 },
	{ 0x20000, 3, CKFS_PE_LAZY, -1 },
	{ 0x7fff0000, 4, CKFS_PE_PRESENT | CKFS_PE_LAZY, -1 },
	{ 0x40000, 5, CKFS_PE_PARENT, -1 },
	{ 0x11000, 1, CKFS_PE_PRESENT, -1 },
};

static void test_encodings(void)
{
	struct ckfs_pagemap p2, p5, pb;
	struct ckfs_err err;
	int r2, r5, rb;

	r2 = decode_ents(unsorted, CKFS_ARRAY_SIZE(unsorted), F2, &p2, &err);
	ok(r2 == 0, "CRIU 4.1 pagemap (count in field 2) decodes");
	r5 = decode_ents(unsorted, CKFS_ARRAY_SIZE(unsorted), F5, &p5, &err);
	ok(r5 == 0, "CRIU 4.2 pagemap (count in field 5) decodes");
	rb = decode_ents(unsorted, CKFS_ARRAY_SIZE(unsorted), BOTH, &pb, &err);
	ok(rb == 0, "CRIU 4.2 with field 2 = 0 and field 5 decodes");
	ok(r2 == 0 && r5 == 0 && same_runs(&p2, &p5),
	   "field 2 and field 5 give the same runs and offsets");
	ok(r5 == 0 && rb == 0 && same_runs(&p5, &pb),
	   "field 2 = 0 is ignored when field 5 is there");
	if (r5 == 0) {
		static const struct {
			uint64_t vaddr, npages, off;
			uint32_t flags;
		} want[] = {
			/* sorted by address; offsets are sums in FILE order */
			{ 0x10000, 1, 2 * PS, CKFS_PE_PRESENT },
			{ 0x11000, 1, 7 * PS, CKFS_PE_PRESENT },
			{ 0x20000, 3, 0, CKFS_PE_LAZY },
			{ 0x30000, 2, 0, CKFS_PE_PRESENT },
			{ 0x40000, 5, 0, CKFS_PE_PARENT },
			{ 0x7fff0000, 4, 3 * PS,
			  CKFS_PE_PRESENT | CKFS_PE_LAZY },
		};
		size_t i, bad = 0;

		is_int(p5.pages_id, 7, "pages_id from the head");
		is_int(p5.n, CKFS_ARRAY_SIZE(want), "one run per entry");
		for (i = 0; i < p5.n && i < CKFS_ARRAY_SIZE(want); i++) {
			const struct ckfs_pm_run *r = &p5.runs[i];

			if (r->vaddr != want[i].vaddr ||
			    r->npages != want[i].npages ||
			    r->flags != want[i].flags ||
			    ((r->flags & CKFS_PE_PRESENT) &&
			     r->pages_off != want[i].off)) {
				diag("run %zu: 0x%llx %llu pages flags %u off %llu",
				     i, (unsigned long long)r->vaddr,
				     (unsigned long long)r->npages, r->flags,
				     (unsigned long long)r->pages_off);
				bad++;
			}
		}
		is_int(bad, 0,
		       "runs sorted by address, PRESENT offsets are "
		       "prefix sums in file order");
		is_int(p5.pages_bytes, 8 * PS,
		       "pages_bytes counts PRESENT pages only");
	}
	if (r2 == 0)
		ckfs_pagemap_fini(&p2);
	if (r5 == 0)
		ckfs_pagemap_fini(&p5);
	if (rb == 0)
		ckfs_pagemap_fini(&pb);

	/* a 64-bit count that field 2 (uint32) cannot hold */
	{
		const struct ent big[] = {
			{ 0x100000000000ull, 1ull << 33, CKFS_PE_PRESENT, -1 },
		};

		r5 = decode_ents(big, 1, F5, &p5, &err);
		ok(r5 == 0 && p5.n == 1 && p5.runs[0].npages == 1ull << 33 &&
			   p5.pages_bytes == (1ull << 33) * PS,
		   "field 5 carries a count over 32 bits");
		if (r5 == 0)
			ckfs_pagemap_fini(&p5);
	}
}

static void test_flags(void)
{
	const struct ent e[] = {
		{ 0x1000, 1, -1, -1 },		    /* no flags: PRESENT */
		{ 0x2000, 1, -1, 1 },		    /* in_parent only: PARENT */
		{ 0x3000, 1, -1, 0 },		    /* in_parent = 0: PRESENT */
		{ 0x4000, 0, CKFS_PE_PRESENT, -1 }, /* no pages: skipped */
		{ 0x5000, 1, 0, -1 },		    /* flags 0: neither */
	};
	struct ckfs_pagemap pm;
	struct ckfs_err err;
	int r = decode_ents(e, CKFS_ARRAY_SIZE(e), F5, &pm, &err);

	if (!ok(r == 0, "flag defaults: decodes"))
		return;
	is_int(pm.n, 4, "an entry with 0 pages is dropped");
	ok(pm.n == 4 && pm.runs[0].flags == CKFS_PE_PRESENT &&
		   pm.runs[1].flags == CKFS_PE_PARENT &&
		   pm.runs[2].flags == CKFS_PE_PRESENT && pm.runs[3].flags == 0,
	   "no flags: PRESENT, or PARENT when in_parent is set");
	ok(pm.n == 4 && pm.runs[0].pages_off == 0 &&
		   pm.runs[2].pages_off == PS && pm.pages_bytes == 2 * PS,
	   "only PRESENT runs take room in the pages image");
	ckfs_pagemap_fini(&pm);
}

static void expect_fail(const char *what, const struct ent *e, size_t n,
			int code, const char *needle)
{
	struct ckfs_pagemap pm;
	struct ckfs_err err;
	int r = decode_ents(e, n, F5, &pm, &err);

	is_int(r, code, "%s", what);
	ok(pm.runs == NULL && pm.n == 0, "  nothing left allocated");
	has_str(err.msg, "pagemap-1.img", "  names the image");
	if (needle)
		has_str(err.msg, needle, "  says %s", needle);
	if (r == 0)
		ckfs_pagemap_fini(&pm);
}

static void test_refusals(void)
{
	/* nr_pages * page_size does not fit in 64 bits */
	const struct ent mul[] = { { 0x1000, 1ull << 52, CKFS_PE_PRESENT,
				     -1 } };
	const struct ent mul2[] = { { 0, UINT64_MAX, CKFS_PE_LAZY, -1 } };
	/* vaddr + bytes wraps the address space */
	const struct ent wrap[] = {
		{ 0xfffffffffff00000ull, 0x200, CKFS_PE_PRESENT, -1 },
	};
	/* each run fits, the prefix sum of PRESENT bytes does not */
	const struct ent sum[] = {
		{ 0, 1ull << 51, CKFS_PE_PRESENT, -1 },
		{ 0, 1ull << 51, CKFS_PE_PRESENT, -1 },
		{ 0, 1ull << 51, CKFS_PE_PRESENT, -1 },
	};
	const struct ent overlap[] = {
		{ 0x10000, 4, CKFS_PE_PRESENT, -1 },
		{ 0x12000, 1, CKFS_PE_PRESENT, -1 },
	};
	/* overlapping, given in reverse: found after sorting */
	const struct ent overlap_rev[] = {
		{ 0x20000, 1, CKFS_PE_LAZY, -1 },
		{ 0x1f000, 2, CKFS_PE_PRESENT, -1 },
	};
	const struct ent same[] = {
		{ 0x20000, 1, CKFS_PE_PRESENT, -1 },
		{ 0x20000, 1, CKFS_PE_PARENT, -1 },
	};
	const struct ent unaligned[] = { { 0x1234, 1, CKFS_PE_PRESENT, -1 } };
	const struct ent adjacent[] = {
		{ 0x11000, 1, CKFS_PE_PRESENT, -1 },
		{ 0x10000, 1, CKFS_PE_PRESENT, -1 },
		{ 0xfffffffffffff000ull - PS, 1, CKFS_PE_PRESENT, -1 },
	};
	struct ckfs_pagemap pm;
	struct ckfs_err err;
	int r;

	expect_fail("2^52 pages: byte count overflows: -EOVERFLOW", mul, 1,
		    -EOVERFLOW, "entry 1");
	expect_fail("UINT64_MAX pages (a lazy run too): -EOVERFLOW", mul2, 1,
		    -EOVERFLOW, NULL);
	expect_fail("a run that wraps past 2^64: -EOVERFLOW", wrap, 1,
		    -EOVERFLOW, "0xfffffffffff00000");
	expect_fail("PRESENT offsets overflowing 64 bits: -EOVERFLOW", sum, 3,
		    -EOVERFLOW, "entry 2");
	expect_fail("overlapping runs: -EBADMSG", overlap, 2, -EBADMSG,
		    "overlap");
	expect_fail("overlapping runs out of order: -EBADMSG", overlap_rev, 2,
		    -EBADMSG, "overlap");
	expect_fail("two runs at one address: -EBADMSG", same, 2, -EBADMSG,
		    "overlap");
	r = decode_ents(unaligned, 1, F5, &pm, &err);
	ok(r < 0, "an address not on a page boundary is refused");
	r = decode_ents(adjacent, 3, F5, &pm, &err);
	ok(r == 0 && pm.n == 3, "adjacent runs, and a run ending one page "
				"below the top, are fine");
	if (r == 0)
		ckfs_pagemap_fini(&pm);
}

static void test_malformed(void)
{
	struct ckfs_pagemap pm;
	struct ckfs_err err;
	struct pbuf img = { 0 }, m = { 0 };
	int r;

	/* only the magic: no head */
	img_start(&img, PB_COMMON_MAGIC, CKFS_MAGIC_PAGEMAP);
	r = decode(&img, &pm, &err);
	is_int(r, -EBADMSG, "no pagemap_head: -EBADMSG");
	has_str(err.msg, "pagemap-1.img", "  names the image");
	/* a head, and an entry that is not a protobuf message */
	pb_uint(&m, 1, 1);
	img_rec(&img, &m);
	pb_put(&m, "\xff\xff\xff", 3);
	img_rec(&img, &m);
	r = decode(&img, &pm, &err);
	is_int(r, -EBADMSG, "an entry that does not decode: -EBADMSG");
	has_str(err.msg, "record 1", "  names the record");
	pb_free(&img);
	/* the wrong image type */
	img_start(&img, PB_COMMON_MAGIC, CKFS_MAGIC_MM);
	pb_uint(&m, 1, 1);
	img_rec(&img, &m);
	r = decode(&img, &pm, &err);
	is_int(r, -EBADMSG, "an mm image named pagemap: -EBADMSG");
	pb_free(&img);
	/* a head alone: an empty address space */
	img_start(&img, PB_COMMON_MAGIC, CKFS_MAGIC_PAGEMAP);
	pb_uint(&m, 1, 3);
	img_rec(&img, &m);
	r = decode(&img, &pm, &err);
	ok(r == 0 && pm.n == 0 && pm.pages_bytes == 0 && pm.pages_id == 3,
	   "a head alone: no runs");
	if (r == 0)
		ckfs_pagemap_fini(&pm);
	pb_free(&img);
}

/* Many entries in reverse order: sorting and offsets at scale. */
static void test_many(void)
{
	enum { N = 20000 };
	struct ent *e = calloc(N, sizeof(*e));
	struct ckfs_pagemap pm;
	struct ckfs_err err;
	size_t i, bad = 0;
	int r;

	for (i = 0; i < N; i++) {
		e[i].vaddr = (uint64_t)(N - i) * 4 * PS;
		e[i].npages = 1 + i % 3;
		e[i].flags = i % 5 ? CKFS_PE_PRESENT : CKFS_PE_LAZY;
		e[i].in_parent = -1;
	}
	r = decode_ents(e, N, F5, &pm, &err);
	if (ok(r == 0 && pm.n == N, "%d entries in reverse order", N)) {
		uint64_t off = 0;

		/* run N-1-i is entry i */
		for (i = 0; i < N; i++) {
			const struct ckfs_pm_run *run = &pm.runs[N - 1 - i];

			if (run->vaddr != e[i].vaddr)
				bad++;
			if (e[i].flags == CKFS_PE_PRESENT) {
				if (run->pages_off != off)
					bad++;
				off += e[i].npages * PS;
			}
		}
		is_int(bad, 0,
		       "  every run at its address and file-order offset");
		is_int(pm.pages_bytes, off, "  pages_bytes is the final sum");
		ckfs_pagemap_fini(&pm);
	}
	free(e);
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	return remove(path);
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		tap_skip_all("cannot make a temporary directory");
	test_encodings();
	test_flags();
	test_refusals();
	test_malformed();
	test_many();
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
