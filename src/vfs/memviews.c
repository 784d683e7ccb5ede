/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The memory files of proc/<pid>/ and the top-level `memory` table
 * (memory-views.md §6, §7, §9):
 *
 *   mem          the address space by VA; holes (SEEK_DATA/SEEK_HOLE)
 *                wherever no real page exists; -o strict_mem gives /proc
 *                semantics instead (size 0, direct I/O, EIO in gaps)
 *   vma/         pid.<PID>.vma.0x<start>-0x<end>.dmp: one dense file per
 *                readable mapping (Volatility 3's dump names)
 *   smaps        maps lines with the kernel's per-mapping figures
 *   pagemap      one u64 per page, bit 63 where the checkpoint has it
 *   memmap       where each mapping's pages come from, run by run
 *   mem.hexdump  `checkpointctl memparse --pid N -o FILE`, byte for byte
 *   auxv         mm_saved_auxv through AT_NULL
 *   memory       `checkpointctl memparse` (top level)
 *
 * Every size is known at stat time in O(runs + mappings); the big files
 * (mem, vma/, pagemap, mem.hexdump) are streamed, never built whole, and
 * a read of mem or vma/ can be told as file ranges and zeros instead
 * (segs: ckfs_proc_mem_segs()).
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "vfs/memfmt_i.h"
#include "vfs/views_i.h"

#define MODE_DIR (S_IFDIR | 0555)
#define MODE_FILE (S_IFREG | 0444)
#define MODE_SECRET (S_IFREG | 0400)
#define SEEK_DATA_ 3
#define SEEK_HOLE_ 4
#define PROT_R 1
#define MAP_LOCKED_ 0x2000
#define MADV_HUGEPAGE_ 14
#define PM_PRESENT (1ull << 63)
#define PM_FILE (1ull << 61) /* file page or shared anonymous */
#define HEXDUMP_CHUNK 1024   /* rows formatted per step */

static const struct ckfs_proc_mm *mm_of(struct ckfs_node *n, int *r)
{
	const struct ckfs_proc_mm *m = NULL;

	*r = ckfs_proc_mm(n->proc, &m);
	return *r < 0 ? NULL : m;
}

/* ---- mem ---- */

static int mem_size(struct ckfs_node *n, uint64_t *size)
{
	int r;
	const struct ckfs_proc_mm *m = mm_of(n, &r);

	*size = m ? m->mem_size : 0;
	return r == -ENOENT ? 0 : r; /* a zombie: empty */
}

static ssize_t mem_read(struct ckfs_node *n, void *buf, size_t len,
			uint64_t off)
{
	uint64_t size;

	if (mem_size(n, &size) < 0)
		return -EIO;
	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	return ckfs_proc_mem_read(n->proc, buf, len, off);
}

static ssize_t mem_segs(struct ckfs_node *n, struct ckfs_seg *seg, size_t *nseg,
			size_t len, uint64_t off)
{
	uint64_t size;
	int r;

	if (mem_size(n, &size) < 0)
		return -EIO;
	if (off >= size)
		len = 0;
	else if (len > size - off)
		len = (size_t)(size - off);
	if (len == 0) {
		*nseg = 0;
		return 0;
	}
	r = ckfs_proc_mem_segs(n->proc, off, len, seg, nseg);
	return r < 0 ? r : (ssize_t)len;
}

static int mem_lseek(struct ckfs_node *n, uint64_t off, int whence,
		     uint64_t *out)
{
	uint64_t size;
	int r;

	if (mem_size(n, &size) < 0)
		return -EIO;
	if (off >= size)
		return -ENXIO;
	r = ckfs_proc_mem_seek(n->proc, off, size, whence == SEEK_DATA_,
			       CKFS_MEM_DATA_SRCS, out);
	if (r < 0)
		return r;
	return *out >= size && whence == SEEK_DATA_ ? -ENXIO : 0;
}

/* Bytes of @srcs in [0, @end) of @p's address space. */
static uint64_t bytes_of(struct ckfs_proc *p, uint64_t end, unsigned int srcs)
{
	uint64_t va = 0, total = 0;

	while (va < end) {
		struct ckfs_mem_ext e;
		uint64_t n;

		if (ckfs_proc_mem_extent(p, va, &e) < 0 || e.len == 0)
			break;
		n = e.len < end - va ? e.len : end - va;
		if (srcs & (1u << e.src))
			total += n;
		va += n;
	}
	return total;
}

static uint64_t mem_allocated(struct ckfs_node *n)
{
	uint64_t size;

	if (mem_size(n, &size) < 0)
		return 0;
	return bytes_of(n->proc, size, CKFS_MEM_DATA_SRCS);
}

static const struct ckfs_node_ops mem_ops = {
	.size = mem_size,
	.read = mem_read,
	.segs = mem_segs,
	.lseek = mem_lseek,
	.allocated = mem_allocated,
};

/* -o strict_mem: /proc/PID/mem semantics (memory-views.md §6.1) */

static int strict_size(struct ckfs_node *n, uint64_t *size)
{
	*size = 0;
	return 0;
}

static ssize_t strict_read(struct ckfs_node *n, void *buf, size_t len,
			   uint64_t off)
{
	int r;
	const struct ckfs_proc_mm *m = mm_of(n, &r);
	uint64_t end = 0;
	size_t i;

	if (r == -ENOENT)
		return 0; /* a zombie has no mm */
	if (!m)
		return -EIO;
	for (i = 0; i < m->mm.nvmas; i++) {
		const struct ckfs_vma *v = &m->mm.vmas[i];

		if (end && v->start != end)
			break; /* a gap: the read stops short there */
		if (!end && (off < v->start || off >= v->end))
			continue;
		end = v->end;
	}
	if (!end)
		return -EIO; /* nothing mapped at @off */
	if (len > end - off)
		len = (size_t)(end - off);
	return ckfs_proc_mem_read(n->proc, buf, len, off);
}

static int strict_lseek(struct ckfs_node *n, uint64_t off, int whence,
			uint64_t *out)
{
	return -EINVAL; /* mem_lseek() knows SEEK_SET and SEEK_CUR only */
}

static const struct ckfs_node_ops strict_mem_ops = {
	.size = strict_size,
	.read = strict_read,
	.lseek = strict_lseek,
	.direct_io = true,
};

/* ---- vma/ ---- */

static int vma_size(struct ckfs_node *n, uint64_t *size)
{
	const struct ckfs_vma *v = n->ptr;

	*size = v->end - v->start;
	return 0;
}

static ssize_t vma_read(struct ckfs_node *n, void *buf, size_t len,
			uint64_t off)
{
	const struct ckfs_vma *v = n->ptr;

	if (off >= v->end - v->start)
		return 0;
	if (len > v->end - v->start - off)
		len = (size_t)(v->end - v->start - off);
	return ckfs_proc_mem_read(n->proc, buf, len, v->start + off);
}

static ssize_t vma_segs(struct ckfs_node *n, struct ckfs_seg *seg, size_t *nseg,
			size_t len, uint64_t off)
{
	const struct ckfs_vma *v = n->ptr;
	int r;

	if (off >= v->end - v->start)
		len = 0;
	else if (len > v->end - v->start - off)
		len = (size_t)(v->end - v->start - off);
	if (len == 0) {
		*nseg = 0;
		return 0;
	}
	r = ckfs_proc_mem_segs(n->proc, v->start + off, len, seg, nseg);
	return r < 0 ? r : (ssize_t)len;
}

static const struct ckfs_node_ops vma_file_ops = {
	.size = vma_size,
	.read = vma_read,
	.segs = vma_segs,
};

static int vma_populate(struct ckfs_tree *t, struct ckfs_node *dir)
{
	int r;
	const struct ckfs_proc_mm *m = mm_of(dir, &r);
	uint32_t pid = ckfs_proc_pstree(dir->proc)->pid;
	size_t i;

	if (r == -ENOENT)
		return 0;
	if (!m)
		return r;
	for (i = 0; i < m->mm.nvmas; i++) {
		const struct ckfs_vma *v = &m->mm.vmas[i];
		struct ckfs_node *c;
		char name[96];

		/* FUSE offsets stop at 2^63: [vsyscall] cannot be a file */
		if (!(v->prot & PROT_R) || v->end > (uint64_t)INT64_MAX)
			continue;
		if (ckfs_vma_dump_name(pid, v->start, v->end, name,
				       sizeof(name)) < 0)
			return -EIO;
		c = ckfs_tree_add(t, dir, name, MODE_SECRET, &vma_file_ops);
		if (!c)
			return -ENOMEM;
		c->ptr = v;
	}
	return 0;
}

static const struct ckfs_node_ops vma_dir_ops = { .populate = vma_populate };

/* ---- smaps ---- */

struct vma_pages {
	uint64_t task, shmem; /* bytes from pages images */
};

static int count_vma(struct ckfs_proc *p, const struct ckfs_vma *v,
		     struct vma_pages *c)
{
	uint64_t va = v->start;

	memset(c, 0, sizeof(*c));
	while (va < v->end) {
		struct ckfs_mem_ext e;
		uint64_t n;

		if (ckfs_proc_mem_extent(p, va, &e) < 0 || e.len == 0)
			return -EIO;
		n = e.len < v->end - va ? e.len : v->end - va;
		if (e.src == CKFS_MEM_PAGES) {
			if (e.shmem)
				c->shmem += n;
			else
				c->task += n;
		}
		va += n;
	}
	return 0;
}

static void smaps_kb(struct ckfs_sb *o, const char *label, uint64_t bytes)
{
	ckfs_sb_printf(o, "%-16s%8llu kB\n", label,
		       (unsigned long long)(bytes >> 10));
}

static int r_smaps(struct ckfs_node *n, struct ckfs_sb *o)
{
	int r;
	const struct ckfs_proc_mm *m = mm_of(n, &r);
	size_t i;

	if (r == -ENOENT)
		return 0;
	if (!m)
		return r;
	for (i = 0; i < m->mm.nvmas; i++) {
		const struct ckfs_vma *v = &m->mm.vmas[i];
		_cleanup_free_ char *name = ckfs_vma_name(n->proc, m, v);
		struct vma_pages c;
		uint64_t rss;

		if (!name || count_vma(n->proc, v, &c) < 0)
			return -EIO;
		rss = c.task + c.shmem;
		ckfs_render_maps_line(v, name, o);
		smaps_kb(o, "Size:", v->end - v->start);
		smaps_kb(o, "KernelPageSize:", m->page_size);
		smaps_kb(o, "MMUPageSize:", m->page_size);
		/*
		 * Only pages the checkpoint holds are known resident; CRIU
		 * saves dirty or anonymous pages, so all of them count as
		 * dirty, private to the task unless they come from a
		 * shared-memory object.
		 */
		smaps_kb(o, "Rss:", rss);
		smaps_kb(o, "Pss:", rss);
		smaps_kb(o, "Pss_Dirty:", rss);
		smaps_kb(o, "Shared_Clean:", 0);
		smaps_kb(o, "Shared_Dirty:", c.shmem);
		smaps_kb(o, "Private_Clean:", 0);
		smaps_kb(o, "Private_Dirty:", c.task);
		smaps_kb(o, "Referenced:", rss);
		smaps_kb(o, "Anonymous:", c.task);
		smaps_kb(o, "KSM:", 0);
		smaps_kb(o, "LazyFree:", 0);
		smaps_kb(o, "AnonHugePages:", 0);
		smaps_kb(o, "ShmemPmdMapped:", 0);
		smaps_kb(o, "FilePmdMapped:", 0);
		smaps_kb(o, "Shared_Hugetlb:", 0);
		ckfs_sb_printf(o, "Private_Hugetlb: %7u kB\n", 0);
		smaps_kb(o, "Swap:", 0);
		smaps_kb(o, "SwapPss:", 0);
		smaps_kb(o, "Locked:", v->flags & MAP_LOCKED_ ? rss : 0);
		ckfs_sb_printf(o, "THPeligible:    %8u\n",
			       (v->madv & (1ull << MADV_HUGEPAGE_)) &&
					       !m->mm.thp_disabled ?
				       1u :
				       0u);
		ckfs_fmt_vmflags(v, o);
	}
	return 0;
}

static const struct ckfs_node_ops smaps_ops = { .render = r_smaps };

/* ---- pagemap ---- */

static int pagemap_size(struct ckfs_node *n, uint64_t *size)
{
	int r;
	const struct ckfs_proc_mm *m = mm_of(n, &r);

	*size = m ? m->mem_size / m->page_size * 8 : 0;
	return r == -ENOENT ? 0 : r;
}

static ssize_t pagemap_read(struct ckfs_node *n, void *vbuf, size_t len,
			    uint64_t off)
{
	int r;
	const struct ckfs_proc_mm *m = mm_of(n, &r);
	unsigned char *buf = vbuf;
	uint64_t size, ps, idx, va;
	size_t done = 0;

	if (pagemap_size(n, &size) < 0 || !m)
		return r == -ENOENT ? 0 : -EIO;
	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	ps = m->page_size;
	idx = off / 8;
	va = idx * ps;
	while (done < len) {
		struct ckfs_mem_ext e;
		uint64_t word = 0, pages, k;

		if (ckfs_proc_mem_extent(n->proc, va, &e) < 0 || e.len == 0)
			return -EIO;
		if (e.src == CKFS_MEM_PAGES)
			word = PM_PRESENT | (e.shmem ? PM_FILE : 0);
		/* whole pages from va (= e.va) to the extent's end */
		pages = e.len / ps + (e.len % ps != 0);
		for (k = 0; k < pages && done < len; k++, idx++) {
			unsigned char w[8];
			size_t skip = idx == off / 8 ? off % 8 : 0, i;

			for (i = 0; i < 8; i++)
				w[i] = (unsigned char)(word >> (8 * i));
			for (i = skip; i < 8 && done < len; i++)
				buf[done++] = w[i];
		}
		va = idx * ps;
	}
	return (ssize_t)done;
}

static int pagemap_lseek(struct ckfs_node *n, uint64_t off, int whence,
			 uint64_t *out)
{
	int r;
	const struct ckfs_proc_mm *m = mm_of(n, &r);
	uint64_t size, va;

	if (pagemap_size(n, &size) < 0 || !m)
		return -EIO;
	if (off >= size)
		return -ENXIO;
	va = off / 8 * m->page_size;
	r = ckfs_proc_mem_seek(n->proc, va, m->mem_size, whence == SEEK_DATA_,
			       1u << CKFS_MEM_PAGES, &va);
	if (r < 0)
		return r;
	if (va == UINT64_MAX)
		return -ENXIO;
	va = va / m->page_size * 8;
	*out = va > off ? va : off;
	if (*out > size)
		*out = size;
	return 0;
}

static uint64_t pagemap_allocated(struct ckfs_node *n)
{
	int r;
	const struct ckfs_proc_mm *m = mm_of(n, &r);

	if (!m)
		return 0;
	return bytes_of(n->proc, m->mem_size, 1u << CKFS_MEM_PAGES) /
	       m->page_size * 8;
}

static const struct ckfs_node_ops pagemap_ops = {
	.size = pagemap_size,
	.read = pagemap_read,
	.lseek = pagemap_lseek,
	.allocated = pagemap_allocated,
};

/* ---- memmap ---- */

static const char *src_name(const struct ckfs_mem_ext *e)
{
	switch (e->src) {
	case CKFS_MEM_PAGES:
		return e->depth ? "parent" : e->shmem ? "shmem" : "pages";
	case CKFS_MEM_LAZY: return "lazy";
	case CKFS_MEM_FILE: return "file";
	case CKFS_MEM_NOFILE: return "nofile";
	case CKFS_MEM_LOST: return "lost";
	case CKFS_MEM_UNMAPPED: return "unmapped";
	default: return "zero";
	}
}

enum { C_PRESENT, C_PARENT, C_LAZY, C_FILE, C_NOFILE, C_ZERO, C_LOST, C_N };

static int count_kind(const struct ckfs_mem_ext *e)
{
	switch (e->src) {
	case CKFS_MEM_PAGES: return e->depth ? C_PARENT : C_PRESENT;
	case CKFS_MEM_LAZY: return C_LAZY;
	case CKFS_MEM_FILE: return C_FILE;
	case CKFS_MEM_NOFILE: return C_NOFILE;
	case CKFS_MEM_LOST: return C_LOST;
	default: return C_ZERO;
	}
}

static int memmap_vma(struct ckfs_proc *p, const struct ckfs_proc_mm *m,
		      const struct ckfs_vma *v, struct ckfs_sb *o)
{
	_cleanup_free_ char *name = ckfs_vma_name(p, m, v);
	const struct ckfs_files *fl = NULL;
	uint64_t cnt[C_N] = { 0 }, ps = m->page_size, va;
	struct ckfs_sb runs;
	int r = 0;

	if (!name)
		return -EIO;
	ckfs_sb_init(&runs);
	for (va = v->start; va < v->end;) {
		struct ckfs_mem_ext e;
		uint64_t n;

		if (ckfs_proc_mem_extent(p, va, &e) < 0 || e.len == 0) {
			r = -EIO;
			break;
		}
		n = e.len < v->end - va ? e.len : v->end - va;
		cnt[count_kind(&e)] += (n + ps - 1) / ps;
		ckfs_sb_printf(&runs, "  %016llx-%016llx %10llu %-6s %2u ",
			       (unsigned long long)va,
			       (unsigned long long)(va + n),
			       (unsigned long long)((n + ps - 1) / ps),
			       src_name(&e), e.depth);
		if (e.src == CKFS_MEM_PAGES) {
			ckfs_sb_printf(&runs, "%s +0x%016llx\n",
				       e.member->name,
				       (unsigned long long)e.off);
		} else if (e.src == CKFS_MEM_FILE) {
			const struct ckfs_file *f;

			if (!fl)
				fl = ckfs_ckpt_files(ckfs_proc_ckpt(p));
			f = fl ? ckfs_files_find(fl, (uint32_t)v->shmid) : NULL;
			ckfs_sb_printf(&runs, "rootfs:%s +0x%016llx\n",
				       f && f->name ? f->name : "?",
				       (unsigned long long)e.off);
		} else if (e.why && e.why[0]) {
			ckfs_sb_printf(&runs, "(%s)\n", e.why);
		} else {
			ckfs_sb_puts(&runs, "-\n");
		}
		va += n;
	}
	if (r == 0) {
		ckfs_sb_printf(o,
			       "%016llx-%016llx %c%c%c%c %016llx %10llu %10llu %10llu %10llu %10llu %10llu %10llu %10llu %s\n",
			       (unsigned long long)v->start,
			       (unsigned long long)v->end,
			       v->prot & 1 ? 'r' : '-', v->prot & 2 ? 'w' : '-',
			       v->prot & 4 ? 'x' : '-',
			       v->flags & 1 ? 's' : 'p',
			       (unsigned long long)v->pgoff,
			       (unsigned long long)((v->end - v->start) / ps),
			       (unsigned long long)cnt[C_PRESENT],
			       (unsigned long long)cnt[C_PARENT],
			       (unsigned long long)cnt[C_LAZY],
			       (unsigned long long)cnt[C_FILE],
			       (unsigned long long)cnt[C_NOFILE],
			       (unsigned long long)cnt[C_ZERO],
			       (unsigned long long)cnt[C_LOST],
			       name[0] ? name : "-");
		if (runs.oom)
			r = -ENOMEM;
		else
			ckfs_sb_add(o, runs.data, runs.len);
	}
	ckfs_sb_fini(&runs);
	return r;
}

static int r_memmap(struct ckfs_node *n, struct ckfs_sb *o)
{
	int r;
	const struct ckfs_proc_mm *m = mm_of(n, &r);
	size_t i;

	if (r == -ENOENT)
		return 0;
	if (!m)
		return r;
	ckfs_sb_puts(o,
		     "# one line per mapping, then one per run of pages with a single source:\n"
		     "# START-END PERMS PGOFF PAGES PRESENT PARENT LAZY FILE NOFILE ZERO LOST NAME\n"
		     "#   START-END NPAGES SOURCE DEPTH MEMBER +OFFSET | (why there is no data)\n"
		     "# SOURCE: pages, shmem (this dump), parent (DEPTH-th parent dump), lazy\n"
		     "# (lazy-only entry: zeros), file (rootfs), nofile (file-backed, no copy:\n"
		     "# zeros), zero (never dumped), lost (parent dump unreadable: EIO)\n");
	for (i = 0; i < m->mm.nvmas; i++) {
		r = memmap_vma(n->proc, m, &m->mm.vmas[i], o);
		if (r < 0)
			return r;
	}
	return 0;
}

static const struct ckfs_node_ops memmap_ops = { .render = r_memmap };

/*
 * ---- mem.hexdump ----
 * Like checkpointctl, one row per 16 bytes of every pagemap entry, in VA
 * order (CRIU writes them so; checkpointctl follows file order), so the
 * size is known from the entries alone.  Unlike checkpointctl, whose offset
 * arithmetic ignores the flags (checkpointctl.md §3.1), an entry's bytes are
 * the right ones: PE_PARENT rows come from the parent dump, lazy-only rows
 * are zeros, and no later row shifts.
 */

static uint64_t pagemap_bytes(const struct ckfs_proc_mm *m)
{
	uint64_t total = 0;
	size_t i;

	for (i = 0; i < m->pm.n; i++)
		total += m->pm.runs[i].npages * m->page_size;
	return total;
}

static int hexdump_size(struct ckfs_node *n, uint64_t *size)
{
	int r;
	const struct ckfs_proc_mm *m = mm_of(n, &r);

	*size = 0;
	if (!m)
		return r == -ENOENT ? 0 : r;
	*size = CKFS_HEXDUMP_HEAD +
		pagemap_bytes(m) / CKFS_HEXDUMP_BYTES * CKFS_HEXDUMP_ROW;
	return 0;
}

/* Read [va, va + len) through the task's pagemap alone. */
static int pagemap_bytes_at(struct ckfs_proc *p, uint64_t va,
			    unsigned char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		struct ckfs_mem_ext e;
		size_t k;

		if (ckfs_proc_pagemap_extent(p, va + done, &e) < 0 ||
		    e.len == 0)
			return -EIO;
		k = e.len < len - done ? (size_t)e.len : len - done;
		if (ckfs_mem_ext_read(ckfs_proc_ckpt(p), &e, buf + done, k,
				      va + done) < 0)
			return -EIO;
		done += k;
	}
	return 0;
}

static ssize_t hexdump_read(struct ckfs_node *n, void *vbuf, size_t len,
			    uint64_t off)
{
	int r;
	const struct ckfs_proc_mm *m = mm_of(n, &r);
	_cleanup_free_ unsigned char *data = NULL;
	_cleanup_free_ char *text = NULL;
	char *buf = vbuf;
	uint64_t size, row, first = 0;
	size_t done = 0, i = 0;

	if (hexdump_size(n, &size) < 0 || !m)
		return r == -ENOENT ? 0 : -EIO;
	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	if (off < CKFS_HEXDUMP_HEAD) {
		done = CKFS_HEXDUMP_HEAD - (size_t)off < len ?
			       CKFS_HEXDUMP_HEAD - (size_t)off :
			       len;
		memcpy(buf, ckfs_hexdump_head + off, done);
	}
	data = malloc(HEXDUMP_CHUNK * CKFS_HEXDUMP_BYTES);
	text = malloc(HEXDUMP_CHUNK * CKFS_HEXDUMP_ROW);
	if (!data || !text)
		return -ENOMEM;
	while (done < len) {
		uint64_t at = off + done - CKFS_HEXDUMP_HEAD, rows, k, va;
		size_t skip, take, j;

		row = at / CKFS_HEXDUMP_ROW;
		skip = (size_t)(at % CKFS_HEXDUMP_ROW);
		/* the pagemap entry holding @row (entries in VA order) */
		for (; i < m->pm.n; i++) {
			rows = m->pm.runs[i].npages * m->page_size /
			       CKFS_HEXDUMP_BYTES;
			if (row < first + rows)
				break;
			first += rows;
		}
		if (i == m->pm.n)
			break;
		rows = m->pm.runs[i].npages * m->page_size / CKFS_HEXDUMP_BYTES;
		k = first + rows - row;
		if (k > HEXDUMP_CHUNK)
			k = HEXDUMP_CHUNK;
		if (k > (skip + len - done + CKFS_HEXDUMP_ROW - 1) /
				CKFS_HEXDUMP_ROW)
			k = (skip + len - done + CKFS_HEXDUMP_ROW - 1) /
			    CKFS_HEXDUMP_ROW;
		va = m->pm.runs[i].vaddr + (row - first) * CKFS_HEXDUMP_BYTES;
		if (pagemap_bytes_at(n->proc, va, data,
				     (size_t)k * CKFS_HEXDUMP_BYTES) < 0)
			return -EIO;
		for (j = 0; j < k; j++)
			ckfs_hexdump_row(va + j * CKFS_HEXDUMP_BYTES,
					 data + j * CKFS_HEXDUMP_BYTES,
					 text + j * CKFS_HEXDUMP_ROW);
		take = (size_t)k * CKFS_HEXDUMP_ROW - skip;
		if (take > len - done)
			take = len - done;
		memcpy(buf + done, text + skip, take);
		done += take;
	}
	return (ssize_t)done;
}

static const struct ckfs_node_ops hexdump_ops = {
	.size = hexdump_size,
	.read = hexdump_read,
};

/* ---- auxv ---- */

static int r_auxv(struct ckfs_node *n, struct ckfs_sb *o)
{
	int r;
	const struct ckfs_proc_mm *m = mm_of(n, &r);
	static const uint64_t at_null[2] = { 0, 0 };
	size_t i;

	if (r == -ENOENT)
		return 0;
	if (!m)
		return r;
	/* x86 CRIU cuts the vector without its AT_NULL: end it here */
	for (i = 0; i + 1 < m->mm.nauxv && m->mm.auxv[i]; i += 2)
		ckfs_sb_add(o, &m->mm.auxv[i], 2 * sizeof(uint64_t));
	ckfs_sb_add(o, at_null, sizeof(at_null));
	return 0;
}

static const struct ckfs_node_ops auxv_ops = { .render = r_auxv };

/* ---- proc/<pid>/ ---- */

int ckfs_memviews_add(struct ckfs_tree *t, struct ckfs_node *dir)
{
	static const struct {
		const char *name;
		mode_t mode;
		const struct ckfs_node_ops *ops;
	} e[] = {
		{ "auxv", MODE_SECRET, &auxv_ops },
		{ "mem.hexdump", MODE_SECRET, &hexdump_ops },
		{ "memmap", MODE_FILE, &memmap_ops },
		{ "pagemap", MODE_SECRET, &pagemap_ops },
		{ "smaps", MODE_FILE, &smaps_ops },
		{ "vma", MODE_DIR, &vma_dir_ops },
	};
	bool strict = ckfs_tree_opts(t)->strict_mem;
	size_t i;

	if (!ckfs_tree_add(t, dir, "mem", MODE_SECRET,
			   strict ? &strict_mem_ops : &mem_ops))
		return -ENOMEM;
	for (i = 0; i < CKFS_ARRAY_SIZE(e); i++)
		if (!ckfs_tree_add(t, dir, e[i].name, e[i].mode, e[i].ops))
			return -ENOMEM;
	return 0;
}

/* ---- memory (top level) ---- */

static bool listed(struct ckfs_proc *p)
{
	const struct ckfs_core *c;
	uint32_t pid = ckfs_proc_pstree(p)->pid;

	/* memparse skips dead (zombie) tasks */
	return !(ckfs_proc_core(p, pid, &c) == 0 && c->is_leader &&
		 c->task_state == CKFS_TASK_DEAD);
}

/* Depth first from the roots, children in pstree order (as memparse). */
static int walk(struct ckfs_ckpt *ck, uint32_t ppid, bool roots,
		char **cells, size_t *nc, size_t cap, size_t depth)
{
	size_t i, np = ckfs_ckpt_nprocs(ck);

	if (depth > np)
		return 0; /* a ppid cycle: stop */
	for (i = 0; i < np; i++) {
		struct ckfs_proc *p = ckfs_ckpt_proc(ck, i);
		const struct ckfs_pstree_ent *ps = ckfs_proc_pstree(p);
		const struct ckfs_proc_mm *m;
		uint64_t mem, shared;
		char a[32], b[32];
		int r;

		if (roots ? ckfs_ckpt_find_proc(ck, ps->ppid) != NULL :
			    ps->ppid != ppid || ps->pid == ppid)
			continue;
		if (listed(p) && *nc + 4 <= cap) {
			if (ckfs_proc_mm(p, &m) == 0) {
				ckfs_memparse_sizes(m, &mem, &shared);
				ckfs_fmt_bytes(mem, a, sizeof(a));
				ckfs_fmt_bytes(shared, b, sizeof(b));
			} else {
				snprintf(a, sizeof(a), "?");
				snprintf(b, sizeof(b), "?");
			}
			if (asprintf(&cells[*nc], "%u", ps->pid) < 0)
				cells[*nc] = NULL;
			cells[*nc + 1] = strdup(ckfs_proc_comm(p));
			cells[*nc + 2] = strdup(a);
			cells[*nc + 3] = strdup(b);
			*nc += 4;
			if (!cells[*nc - 4] || !cells[*nc - 3] ||
			    !cells[*nc - 2] || !cells[*nc - 1])
				return -ENOMEM;
		}
		r = walk(ck, ps->pid, false, cells, nc, cap, depth + 1);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * `checkpointctl memparse` without --pid.  The heading names the archive
 * by its file name, as checkpointctl does when run in the archive's
 * directory (the reference outputs drop the directory the same way), so
 * that the text never depends on where the archive was mounted from.
 */
static int r_memory(struct ckfs_node *n, struct ckfs_sb *o)
{
	static const char *const head[] = {
		"PID", "PROCESS NAME", "MEMORY SIZE", "SHARED MEMORY SIZE",
		"---", "------------", "-----------", "------------------",
	};
	struct ckfs_ckpt *ck = (struct ckfs_ckpt *)n->ptr;
	size_t cap = 8 + 4 * ckfs_ckpt_nprocs(ck), nc = 8, i;
	_cleanup_free_ char *path = NULL;
	char **cells;
	int r = 0;

	path = strdup(ckfs_archive_path(ckfs_ckpt_archive(ck)));
	cells = calloc(cap, sizeof(*cells));
	if (!path || !cells) {
		free(cells);
		return -ENOMEM;
	}
	for (i = 0; i < 8; i++)
		if (!(cells[i] = strdup(head[i])))
			r = -ENOMEM;
	if (r == 0)
		r = walk(ck, 0, true, cells, &nc, cap, 0);
	if (r == 0) {
		ckfs_sb_printf(o,
			       "\nDisplaying processes memory sizes from %s\n\n",
			       basename(path));
		ckfs_fmt_table(o, (const char *const *)cells, nc / 4, 4);
	}
	for (i = 0; i < cap; i++)
		free(cells[i]);
	free(cells);
	return r;
}

const struct ckfs_node_ops ckfs_memory_ops = { .render = r_memory };
