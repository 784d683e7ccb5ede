/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * model/: the address-space reader on a crafted image directory (pstree,
 * mm, pagemap and pages images written with a small protobuf encoder).
 * Every byte of the address space is checked against the layout the test
 * wrote: reads across run and mapping boundaries, zeros in holes, lazy
 * runs and unmapped gaps; SEEK_DATA; a task whose pages are missing fails
 * alone.
 */
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "image/criu.h"
#include "image/image.h"
#include "model/model.h"
#include "pb_enc.h"
#include "tap.h"

#define PS 4096ull

static char tmpdir[] = "/tmp/ckfs-test-mem-XXXXXX";

static void write_img(const char *name, struct pbuf *b)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if (pb_write_file(path, b) < 0)
		abort();
	pb_free(b);
}

struct vma {
	uint64_t start, end;
};

struct run {
	uint64_t vaddr, npages;
	uint32_t flags;
	uint64_t off; /* PRESENT: where the test put its pages */
};

/* pid 1: four mappings, A and B adjacent, a gap, then C and D */
static const struct vma vmas1[] = {
	{ 0x30000, 0x31000 }, /* D: no runs, zeros (listed out of order) */
	{ 0x10000, 0x14000 }, /* A */
	{ 0x14000, 0x16000 }, /* B, adjacent to A */
	{ 0x20000, 0x22000 }, /* C */
};

/* in FILE order; offsets are the sums of the PRESENT runs before */
static const struct run runs1[] = {
	{ 0x21000, 1, CKFS_PE_PRESENT, 0 },
	{ 0x13000, 2, CKFS_PE_PRESENT, 1 * PS }, /* crosses A -> B */
	{ 0x10000, 2, CKFS_PE_PRESENT, 3 * PS }, /* 0x12000 is a hole */
	{ 0x20000, 1, CKFS_PE_LAZY, 0 },	 /* lazy: zeros */
};
#define PAGES1 5

static uint8_t page_byte(uint64_t file_off)
{
	return (uint8_t)((file_off * 131 + (file_off >> 12) * 17 + 1) & 0xff);
}

/* What the test wrote at @va: pages bytes for PRESENT runs, else zero. */
static uint8_t want_byte(uint64_t va)
{
	size_t i;
	int mapped = 0;

	for (i = 0; i < CKFS_ARRAY_SIZE(vmas1); i++)
		if (va >= vmas1[i].start && va < vmas1[i].end)
			mapped = 1;
	if (!mapped)
		return 0;
	for (i = 0; i < CKFS_ARRAY_SIZE(runs1); i++) {
		const struct run *r = &runs1[i];

		if (va >= r->vaddr && va < r->vaddr + r->npages * PS)
			return (r->flags & CKFS_PE_PRESENT)
				       ? page_byte(r->off + va - r->vaddr)
				       : 0;
	}
	return 0;
}

static void write_mm(uint32_t pid, const struct vma *v, size_t n,
		     uint64_t arg_start, uint64_t arg_end)
{
	struct pbuf img = { 0 }, mm = { 0 }, vm = { 0 };
	char name[64];
	size_t i;

	img_start(&img, PB_COMMON_MAGIC, CKFS_MAGIC_MM);
	pb_uint(&mm, 8, arg_start);
	pb_uint(&mm, 9, arg_end);
	pb_uint(&mm, 10, arg_end);
	pb_uint(&mm, 11, arg_end + 8);
	pb_uint(&mm, 13, 6); /* AT_PAGESZ */
	pb_uint(&mm, 13, PS);
	for (i = 0; i < n; i++) {
		pb_uint(&vm, 1, v[i].start);
		pb_uint(&vm, 2, v[i].end);
		pb_uint(&vm, 3, 0);
		pb_uint(&vm, 4, 0);
		pb_uint(&vm, 5, 3);    /* PROT_READ | PROT_WRITE */
		pb_uint(&vm, 6, 0x22); /* MAP_PRIVATE | MAP_ANONYMOUS */
		pb_uint(&vm, 7, CKFS_VMA_REGULAR | CKFS_VMA_ANON_PRIVATE);
		pb_uint(&vm, 8, 2); /* sint64 -1 */
		pb_msg(&mm, 14, &vm);
		pb_free(&vm);
	}
	img_rec(&img, &mm);
	snprintf(name, sizeof(name), "mm-%u.img", pid);
	write_img(name, &img);
}

static void write_pagemap(uint32_t pid, uint32_t pages_id, const struct run *r,
			  size_t n)
{
	struct pbuf img = { 0 }, m = { 0 };
	char name[64];
	size_t i;

	img_start(&img, PB_COMMON_MAGIC, CKFS_MAGIC_PAGEMAP);
	pb_uint(&m, 1, pages_id);
	img_rec(&img, &m);
	for (i = 0; i < n; i++) {
		pb_uint(&m, 1, r[i].vaddr);
		pb_uint(&m, 2, 0);
		pb_uint(&m, 4, r[i].flags);
		pb_uint(&m, 5, r[i].npages);
		img_rec(&img, &m);
	}
	snprintf(name, sizeof(name), "pagemap-%u.img", pid);
	write_img(name, &img);
}

static void build_dir(void)
{
	struct pbuf img = { 0 }, m = { 0 };
	const struct vma vmas2[] = { { 0x10000, 0x11000 } };
	const struct run runs2[] = { { 0x10000, 1, CKFS_PE_PRESENT, 0 } };
	uint64_t i;

	img_start(&img, PB_COMMON_MAGIC, CKFS_MAGIC_PSTREE);
	pb_uint(&m, 1, 1);
	pb_uint(&m, 2, 0);
	pb_uint(&m, 3, 1);
	pb_uint(&m, 4, 1);
	pb_uint(&m, 5, 1);
	img_rec(&img, &m);
	pb_uint(&m, 1, 2);
	pb_uint(&m, 2, 1);
	pb_uint(&m, 5, 2);
	img_rec(&img, &m);
	write_img("pstree.img", &img);

	write_mm(1, vmas1, CKFS_ARRAY_SIZE(vmas1), 0x10010, 0x10030);
	write_pagemap(1, 1, runs1, CKFS_ARRAY_SIZE(runs1));
	for (i = 0; i < PAGES1 * PS; i++) {
		uint8_t c = page_byte(i);

		pb_put(&img, &c, 1);
	}
	write_img("pages-1.img", &img);

	/* pid 2: its pagemap names pages-2.img, which is not there */
	write_mm(2, vmas2, 1, 0x10000, 0x10010);
	write_pagemap(2, 2, runs2, 1);
}

static void test_reads(struct ckfs_proc *p)
{
	const uint64_t lo = 0xe000, hi = 0x33000;
	uint8_t *buf = malloc(hi - lo);
	const struct ckfs_proc_mm *m;
	uint64_t va, bad = 0;
	size_t i;
	ssize_t n;
	int r;

	r = ckfs_proc_mm(p, &m);
	if (!ok(r == 0, "pid 1: memory unit loads")) {
		diag("%s", ckfs_proc_error(p));
		free(buf);
		return;
	}
	is_int(m->page_size, PS, "page size from AT_PAGESZ");
	is_int(m->mem_size, 0x31000, "mem size: end of the highest mapping");
	is_int(m->present_bytes, PAGES1 * PS, "present bytes");
	is_int(m->mm.nvmas, 4, "four mappings");
	ok(m->mm.nvmas == 4 && m->mm.vmas[0].start == 0x10000 &&
		   m->mm.vmas[3].start == 0x30000,
	   "mappings sorted by address");

	n = ckfs_proc_mem_read(p, buf, hi - lo, lo);
	is_int(n, hi - lo, "one read over the whole address space");
	for (va = lo; n > 0 && va < hi; va++)
		if (buf[va - lo] != want_byte(va)) {
			if (bad++ < 5)
				diag("0x%llx: got %u want %u",
				     (unsigned long long)va, buf[va - lo],
				     want_byte(va));
		}
	is_int(bad, 0, "every byte: pages where PRESENT, zeros elsewhere");

	/* windows that start and end everywhere, in every size */
	bad = 0;
	for (i = 0; i < 3000; i++) {
		uint64_t s = lo + (i * 7919 * 13) % (hi - lo);
		size_t len = 1 + (i * 104729) % (3 * PS);

		if (s + len > hi)
			len = hi - s;
		memset(buf, 0xaa, len);
		n = ckfs_proc_mem_read(p, buf, len, s);
		if (n != (ssize_t)len) {
			bad++;
			continue;
		}
		for (va = s; va < s + len; va++)
			if (buf[va - s] != want_byte(va)) {
				bad++;
				break;
			}
	}
	is_int(bad, 0, "3000 reads at odd offsets and lengths agree");

	/* boundaries named one by one */
	memset(buf, 0xaa, 16);
	n = ckfs_proc_mem_read(p, buf, 16, 0x14000 - 8);
	ok(n == 16 && buf[0] == want_byte(0x14000 - 8) &&
		   buf[15] == want_byte(0x14000 + 7) && buf[8] != 0,
	   "a read across the A/B mapping boundary inside one run");
	n = ckfs_proc_mem_read(p, buf, 16, 0x12000 - 8);
	ok(n == 16 && buf[7] == want_byte(0x12000 - 1) && buf[7] != 0 &&
		   buf[8] == 0 && buf[15] == 0,
	   "a read from a run into a hole: zeros in the hole");
	n = ckfs_proc_mem_read(p, buf, 16, 0x16000 - 8);
	ok(n == 16 && memcmp(buf, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16) == 0,
	   "a read from a mapping into the unmapped gap: zeros");
	n = ckfs_proc_mem_read(p, buf, 16, 0x21000 - 8);
	ok(n == 16 && buf[0] == 0 && buf[8] == want_byte(0x21000) &&
		   buf[8] != 0,
	   "a read from a lazy run into a present one");

	/* the end of the address space */
	memset(buf, 0xaa, 100);
	n = ckfs_proc_mem_read(p, buf, 100, UINT64_MAX - 10);
	ok(n >= 0 && n <= 100 && (n == 0 || buf[0] == 0),
	   "a read at the top of the address space ends, with zeros (%zd)", n);

	/* SEEK_DATA */
	{
		static const struct {
			uint64_t from, want;
		} sd[] = {
			{ 0, 0x10000 },	      { 0x10000, 0x10000 },
			{ 0x11fff, 0x11fff }, { 0x12000, 0x13000 },
			{ 0x14fff, 0x14fff }, { 0x15000, 0x21000 },
			{ 0x21000, 0x21000 }, { 0x22000, UINT64_MAX },
		};
		uint64_t out;

		bad = 0;
		for (i = 0; i < CKFS_ARRAY_SIZE(sd); i++) {
			r = ckfs_proc_mem_next_data(p, sd[i].from, &out);
			if (r != 0 || out != sd[i].want) {
				diag("next_data(0x%llx) = %d, 0x%llx; want 0x%llx",
				     (unsigned long long)sd[i].from, r,
				     (unsigned long long)out,
				     (unsigned long long)sd[i].want);
				bad++;
			}
		}
		is_int(bad, 0, "SEEK_DATA skips holes, gaps and lazy runs");
	}

	/* cmdline-style ranges */
	{
		char *s = NULL;
		size_t len = 0;

		r = ckfs_proc_mem_range(p, 0x10010, 0x10030, 4096, &s, &len);
		ok(r == 0 && len == 0x20 && s &&
			   (uint8_t)s[0] == want_byte(0x10010) &&
			   (uint8_t)s[0x1f] == want_byte(0x1002f) &&
			   s[len] == '\0',
		   "mem_range returns the arg bytes, NUL-terminated");
		free(s);
		s = NULL;
		r = ckfs_proc_mem_range(p, 0x10010, 0x10030, 8, &s, &len);
		ok(r == 0 && len == 8, "mem_range stops at max");
		free(s);
		s = NULL;
		r = ckfs_proc_mem_range(p, 0x10030, 0x10010, 8, &s, &len);
		ok(r == 0 && len == 0 && s == NULL, "an empty range is empty");
	}
	free(buf);
}

/*
 * A task over the thread limit refuses the checkpoint; the tasks after it
 * in pstree.img must not leak (LeakSanitizer checks under ASan).
 */
static void test_thread_limit(void)
{
	struct pbuf img = { 0 }, m = { 0 };
	struct ckfs_ckpt *ck = NULL;
	struct ckfs_err err = { 0 };
	uint64_t t;
	int r;

	img_start(&img, PB_COMMON_MAGIC, CKFS_MAGIC_PSTREE);
	pb_uint(&m, 1, 1);
	for (t = 1; t <= (1u << 20) + 1; t++)
		pb_uint(&m, 5, t);
	img_rec(&img, &m);
	pb_uint(&m, 1, 2);
	pb_uint(&m, 2, 1);
	pb_uint(&m, 5, 2);
	pb_uint(&m, 5, 3);
	img_rec(&img, &m);
	write_img("pstree.img", &img);
	r = ckfs_ckpt_open(tmpdir, &ck, &err);
	is_int(r, -EOVERFLOW, "a task with 2^20 + 1 threads: -EOVERFLOW");
	has_str(err.msg, "pstree.img", "  naming pstree.img");
	has_str(err.msg, "threads", "  and the thread count");
	ok(ck == NULL, "  nothing handed out (and nothing leaked)");
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	return remove(path);
}

int main(void)
{
	struct ckfs_ckpt *ck = NULL;
	struct ckfs_err err = { 0 };
	struct ckfs_proc *p1, *p2;
	const struct ckfs_proc_mm *m;
	char buf[16];
	int r;

	if (!mkdtemp(tmpdir))
		tap_skip_all("cannot make a temporary directory");
	build_dir();
	r = ckfs_ckpt_open(tmpdir, &ck, &err);
	if (!ok(r == 0, "a crafted images directory opens")) {
		diag("%s", err.msg);
		return tap_done();
	}
	is_int(ckfs_ckpt_nprocs(ck), 2, "two tasks");
	is_str(ckfs_ckpt_image_dir(ck), "", "images at the top");
	p1 = ckfs_ckpt_find_proc(ck, 1);
	p2 = ckfs_ckpt_find_proc(ck, 2);
	ok(p1 && p2 && !ckfs_ckpt_find_proc(ck, 3), "tasks found by pid");
	if (p1)
		test_reads(p1);
	if (p2) {
		r = ckfs_proc_mm(p2, &m);
		is_int(r, -EIO, "pid 2: pages image missing: the unit fails");
		has_str(ckfs_proc_error(p2), "pages-2.img",
			"  its error names the pages image");
		is_int(ckfs_proc_mem_read(p2, buf, sizeof(buf), 0x10000), -EIO,
		       "  and its memory reads fail with -EIO");
		is_int(ckfs_proc_mm(p2, &m), -EIO,
		       "  again, from the kept state");
	}
	if (p1)
		is_int(ckfs_proc_mem_read(p1, buf, 8, 0x10000), 8,
		       "pid 1 still reads: units fail alone");
	ckfs_ckpt_free(ck);
	test_thread_limit();
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
