/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pure formatting for the memory views; see memfmt_i.h.  The byte layouts
 * copy what the peer tools print (checkpointctl 1.5, Volatility 3, Linux
 * 6.x fs/proc/task_mmu.c), as described in memory-views.md §1.7, §6.5, §7
 * and checkpointctl.md §1.
 */
#include "vfs/memfmt_i.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"

#define PROT_R 1
#define PROT_W 2
#define PROT_X 4
#define MAP_SHARED_ 0x1
#define MAP_DROPPABLE_ 0x8
#define MAP_GROWSDOWN_ 0x100
#define MAP_LOCKED_ 0x2000
#define MAP_NORESERVE_ 0x4000
#define MAP_HUGETLB_ 0x40000
#define O_ACCMODE_ 3

/* madvise() advice numbers, as bits of vma_entry.madv */
#define MADV_RANDOM_ 1
#define MADV_SEQUENTIAL_ 2
#define MADV_DONTFORK_ 10
#define MADV_MERGEABLE_ 12
#define MADV_HUGEPAGE_ 14
#define MADV_NOHUGEPAGE_ 15
#define MADV_DONTDUMP_ 16
#define MADV_WIPEONFORK_ 18

/* table layout: kubectl's tabwriter.NewWriter(w, 6, 4, 3, ' ', 0) */
#define TAB_MINWIDTH 6
#define TAB_PADDING 3

const char ckfs_hexdump_head[CKFS_HEXDUMP_HEAD + 1] =
	"Address           Hexadecimal                                       ASCII            \n"
	"-------------------------------------------------------------------------------------\n";

void ckfs_hexdump_row(uint64_t addr, const unsigned char *b, char *out)
{
	static const char hex[] = "0123456789abcdef";
	char *o = out;
	int i;

	for (i = 15; i >= 0; i--)
		*o++ = hex[(addr >> (i * 4)) & 0xf];
	*o++ = ' ';
	*o++ = ' ';
	for (i = 0; i < CKFS_HEXDUMP_BYTES; i++) {
		*o++ = hex[b[i] >> 4];
		*o++ = hex[b[i] & 0xf];
		*o++ = ' ';
	}
	*o++ = ' ';
	*o++ = '|';
	for (i = 0; i < CKFS_HEXDUMP_BYTES; i++)
		*o++ = b[i] < 32 || b[i] >= 127 ? '.' : (char)b[i];
	*o++ = '|';
	*o = '\n';
}

void ckfs_fmt_bytes(uint64_t b, char *out, size_t size)
{
	uint64_t div = 1024, n;
	int exp = 0;

	if (b < 1024) {
		snprintf(out, size, "%llu B", (unsigned long long)b);
		return;
	}
	for (n = b / 1024; n >= 1024; n /= 1024) {
		div *= 1024;
		exp++;
	}
	snprintf(out, size, "%.1f %ciB", (double)b / (double)div,
		 "KMGTPE"[exp]);
}

/* Characters (not bytes) of UTF-8 text, as tabwriter counts them. */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

void ckfs_fmt_table(struct ckfs_sb *out, const char *const *cells,
		    size_t rows, size_t cols)
{
	size_t r, c;

	for (r = 0; r < rows; r++) {
		for (c = 0; c < cols; c++) {
			const char *s = cells[r * cols + c];
			size_t width = TAB_MINWIDTH, i, w;

			ckfs_sb_puts(out, s);
			if (c + 1 == cols)
				break;
			for (i = 0; i < rows; i++) {
				w = text_width(cells[i * cols + c]) +
				    TAB_PADDING;
				if (w > width)
					width = w;
			}
			for (w = text_width(s); w < width; w++)
				ckfs_sb_add(out, " ", 1);
		}
		ckfs_sb_puts(out, "\n");
	}
}

int ckfs_vma_dump_name(uint32_t pid, uint64_t start, uint64_t end, char *out,
		       size_t size)
{
	int n = snprintf(out, size, "pid.%u.vma.0x%llx-0x%llx.dmp", pid,
			 (unsigned long long)start, (unsigned long long)end);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : n;
}

static bool madv(const struct ckfs_vma *v, unsigned int advice)
{
	return v->madv & (1ull << advice);
}

void ckfs_fmt_vmflags(const struct ckfs_vma *v, struct ckfs_sb *out)
{
	bool shared = v->flags & MAP_SHARED_;
	bool special = v->status & (CKFS_VMA_VDSO | CKFS_VMA_VVAR);
	bool vvar = v->status & CKFS_VMA_VVAR;
	/* MAP_SHARED of a file opened read-only: no VM_SHARED/VM_MAYWRITE */
	bool ro_file = shared && (v->status & CKFS_VMA_FILE_SHARED) &&
		       (v->fdflags & O_ACCMODE_) == 0;
	struct {
		bool on;
		const char *name;
	} f[] = {
		/* in the kernel's bit order (VM_READ = bit 0, ...) */
		{ v->prot & PROT_R, "rd" },
		{ v->prot & PROT_W, "wr" },
		{ v->prot & PROT_X, "ex" },
		{ shared && !ro_file, "sh" },
		{ true, "mr" },
		{ !ro_file && !vvar, "mw" },
		{ !vvar, "me" },
		{ shared, "ms" },
		{ v->flags & MAP_GROWSDOWN_, "gd" },
		{ vvar, "pf" },
		{ v->flags & MAP_LOCKED_, "lo" },
		{ vvar, "io" },
		{ madv(v, MADV_SEQUENTIAL_), "sr" },
		{ madv(v, MADV_RANDOM_), "rr" },
		{ madv(v, MADV_DONTFORK_), "dc" },
		{ special, "de" },
		/* VM_ACCOUNT: private writable memory that reserves swap */
		{ !shared && (v->prot & PROT_W) &&
			  !(v->flags & (MAP_NORESERVE_ | MAP_HUGETLB_)),
		  "ac" },
		{ v->flags & MAP_NORESERVE_, "nr" },
		{ v->flags & MAP_HUGETLB_, "ht" },
		{ madv(v, MADV_WIPEONFORK_) || (v->flags & MAP_DROPPABLE_),
		  "wf" },
		{ madv(v, MADV_DONTDUMP_) || vvar ||
			  (v->flags & MAP_DROPPABLE_),
		  "dd" },
		{ madv(v, MADV_HUGEPAGE_), "hg" },
		{ madv(v, MADV_NOHUGEPAGE_), "nh" },
		{ madv(v, MADV_MERGEABLE_), "mg" },
		{ v->status & CKFS_VMA_SHSTK, "ss" },
		{ v->flags & MAP_DROPPABLE_, "dp" },
	};
	size_t i;

	ckfs_sb_puts(out, "VmFlags: ");
	for (i = 0; i < CKFS_ARRAY_SIZE(f); i++) {
		if (v->status & CKFS_VMA_VSYSCALL && i > 2)
			break; /* the gate area has its prot bits only */
		if (f[i].on)
			ckfs_sb_printf(out, "%s ", f[i].name);
	}
	ckfs_sb_puts(out, "\n");
}

void ckfs_memparse_sizes(const struct ckfs_proc_mm *m, uint64_t *mem,
			 uint64_t *shared)
{
	size_t i;

	*mem = 0;
	*shared = 0;
	for (i = 0; i < m->pm.n; i++)
		*mem += m->pm.runs[i].npages * m->page_size;
	for (i = 0; i < m->mm.nvmas; i++)
		if (m->mm.vmas[i].flags & MAP_SHARED_)
			*shared += m->mm.vmas[i].end - m->mm.vmas[i].start;
}
