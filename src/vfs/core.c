/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * proc/<pid>/core: an ELF64 core file of an x86_64 process, in the layout
 * the kernel's fs/binfmt_elf.c writes (criu-format.md §5, memory-views.md
 * §9.1), streamed from the process model.  Nothing but the head of the
 * file is ever held in memory: the first stat builds the ELF header, the
 * program headers and the notes (registers, auxv, mapped files: small,
 * O(threads + VMAs)) plus a table of where each PT_LOAD's bytes sit in the
 * file.  A read inside a segment is a ckfs_proc_mem_read() at the
 * segment's address, so memory use does not grow with the process size.
 *
 * What each PT_LOAD holds (its p_filesz is 0 or the whole VMA):
 *   - anonymous private memory (heap, stack, vDSO, ...), shared anonymous
 *     memory, SysV shm and memfd mappings: the whole range, holes as zeros;
 *     a PROT_NONE anonymous VMA only if a page of it was saved;
 *   - a MAP_PRIVATE file mapping: the whole range if the checkpoint holds
 *     at least one (copied-on-write) page of it, the other pages reading
 *     as zeros (the file itself is not in the archive); else nothing, so a
 *     debugger falls back to the file named in NT_FILE;
 *   - MAP_SHARED file mappings, MADV_DONTDUMP ranges, [vvar], [vsyscall]
 *     and mappings CRIU does not save (sockets, plugins): nothing.
 *
 * Refusals: a 32-bit (compat) task or one of another architecture has no
 * faithful ELF64 x86_64 core, so its core file fails with EIO (stat and
 * read) rather than being written wrong; ckfs_core_check() says why, and
 * the process's metadata.json shows it as "core_error".  A zombie has no
 * memory and no registers: its core is an empty file, like its mem.
 *
 * The built layout is one malloc'ed block kept in the node's data pointer
 * (unused by streamed files, freed with the tree); a lasting failure is
 * kept in its data_state.
 */
#include <elf.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "vfs/views_i.h"

#define CORE_PAGE	 4096ULL /* ELF_EXEC_PAGESIZE on x86_64 */
#define EHDR_SIZE	 64
#define PHDR_SIZE	 56
#define SHDR_SIZE	 64
#define PRSTATUS_SIZE	 336
#define PRPSINFO_SIZE	 136
#define FPREGSET_SIZE	 512
#define XSTATE_SIZE	 832	/* legacy area + header + YMM_Hi128 */
#define XSTATE_XCR0	 0x7ULL /* x87 | SSE | AVX */
#define SIGINFO_SIZE	 128
#define PSARGS_SIZE	 80
#define MTYPE_X86_64	 1
#define REGS_MODE_COMPAT 2
#define PROT_READ_	 1
#define PROT_WRITE_	 2
#define PROT_EXEC_	 4
#define MADV_DONTDUMP_	 16

/* Where a PT_LOAD's bytes are: file [off, off + len) is memory at va. */
struct core_seg {
	uint64_t off, len, va;
};

struct core_layout {
	uint64_t size;	   /* st_size */
	uint64_t head_len; /* headers + notes + padding: head[] */
	size_t nseg;	   /* segments with data, by ascending off */
	struct core_seg *seg;
	uint8_t *head;
};

static pthread_mutex_t build_lock = PTHREAD_MUTEX_INITIALIZER;

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t round_page(uint64_t v, bool *overflow)
{
	uint64_t r;

	if (__builtin_add_overflow(v, CORE_PAGE - 1, &r))
		*overflow = true;
	return r & ~(CORE_PAGE - 1);
}

/* One note record: header, name and desc, each padded to 4 bytes. */
static void note_add(struct ckfs_sb *sb, const char *name, uint32_t type,
		     const void *desc, size_t len)
{
	static const uint8_t zeros[4];
	size_t nlen = strlen(name) + 1;
	uint8_t h[12];

	put32(h, (uint32_t)nlen);
	put32(h + 4, (uint32_t)len);
	put32(h + 8, type);
	ckfs_sb_add(sb, h, sizeof(h));
	ckfs_sb_add(sb, name, nlen);
	ckfs_sb_add(sb, zeros, (4 - nlen % 4) % 4);
	ckfs_sb_add(sb, desc, len);
	ckfs_sb_add(sb, zeros, (4 - len % 4) % 4);
}

/* The 512-byte FXSAVE area (user_fxsr_struct) at @p. */
static void put_fxsave(uint8_t *p, const struct ckfs_fpregs *fp)
{
	size_t i;

	put16(p, fp->cwd);
	put16(p + 2, fp->swd);
	put16(p + 4, fp->twd);
	put16(p + 6, fp->fop);
	put64(p + 8, fp->rip);
	put64(p + 16, fp->rdp);
	put32(p + 24, fp->mxcsr);
	put32(p + 28, fp->mxcsr_mask);
	for (i = 0; i < CKFS_ST_WORDS; i++)
		put32(p + 32 + 4 * i, fp->st_space[i]);
	for (i = 0; i < CKFS_XMM_WORDS; i++)
		put32(p + 160 + 4 * i, fp->xmm_space[i]);
}

/* NT_PRSTATUS, NT_FPREGSET and NT_X86_XSTATE of one thread. */
static void thread_notes(struct ckfs_sb *sb, const struct ckfs_pstree_ent *ps,
			 uint32_t tid, const struct ckfs_core *c)
{
	uint8_t st[PRSTATUS_SIZE] = { 0 };
	uint8_t fx[FPREGSET_SIZE] = { 0 };
	uint8_t xs[XSTATE_SIZE] = { 0 };
	uint64_t bv = c->fp.xstate_bv & XSTATE_XCR0;
	size_t i;

	put64(st + 16, c->sig_pnd);
	put64(st + 24, c->is_leader ? c->tc_blk_sigset : c->blk_sigset);
	put32(st + 32, tid);
	put32(st + 36, ps->ppid);
	put32(st + 40, ps->pgid);
	put32(st + 44, ps->sid);
	for (i = 0; i < CKFS_ARRAY_SIZE(c->regs); i++)
		put64(st + 112 + 8 * i, c->regs[i]);
	put32(st + 328, c->has_fpregs);
	note_add(sb, "CORE", NT_PRSTATUS, st, sizeof(st));
	if (!c->has_fpregs)
		return;
	put_fxsave(fx, &c->fp);
	note_add(sb, "CORE", NT_FPREGSET, fx, sizeof(fx));
	if (!c->fp.has_xsave)
		return;
	/*
	 * Only the components whose offsets do not depend on the CPU: the
	 * images do not record CPUID leaf 0xD (criu-format.md §5.3).
	 */
	if (!c->fp.has_ymmh)
		bv &= ~4ULL;
	memcpy(xs, fx, sizeof(fx));
	put64(xs + 464, XSTATE_XCR0); /* sw_reserved: the feature mask */
	put64(xs + 512, bv);
	for (i = 0; c->fp.has_ymmh && i < 64; i++)
		put32(xs + 576 + 4 * i, c->fp.ymmh_space[i]);
	note_add(sb, "LINUX", NT_X86_XSTATE, xs, sizeof(xs));
}

/* The kernel's pr_state: 0 R, 1 S, 2 D, 3 T, 4 Z (R and S look alike here) */
static uint8_t psinfo_state(uint32_t task_state)
{
	switch (task_state) {
	case CKFS_TASK_STOPPED:
		return 3;
	case CKFS_TASK_DEAD:
		return 4;
	default:
		return 1;
	}
}

static void psinfo_note(struct ckfs_sb *sb, struct ckfs_proc *p,
			const struct ckfs_proc_mm *m,
			const struct ckfs_pstree_ent *ps,
			const struct ckfs_core *lead)
{
	uint8_t d[PRPSINFO_SIZE] = { 0 };
	const struct ckfs_creds *cr = lead->has_creds ? &lead->creds : NULL;
	uint8_t state = psinfo_state(lead->task_state);
	const char *comm = ckfs_proc_comm(p);
	char *args = (char *)d + 56;
	uint64_t alen = 0;
	size_t i;

	d[0] = state;
	d[1] = (uint8_t)("RSDTZW"[state]);
	d[2] = state == 4;
	d[3] = (uint8_t)(int8_t)lead->sched_nice;
	put64(d + 8, lead->flags);
	put32(d + 16, cr ? cr->uid : 0);
	put32(d + 20, cr ? cr->gid : 0);
	put32(d + 24, ps->pid);
	put32(d + 28, ps->ppid);
	put32(d + 32, ps->pgid);
	put32(d + 36, ps->sid);
	memcpy(d + 40, comm, strnlen(comm, 15));
	/* as the kernel's fill_psinfo(): argv with NULs shown as spaces */
	if (m->mm.arg_end > m->mm.arg_start)
		alen = m->mm.arg_end - m->mm.arg_start;
	if (alen > PSARGS_SIZE - 1)
		alen = PSARGS_SIZE - 1;
	if (alen && ckfs_proc_mem_read(p, args, alen, m->mm.arg_start) < 0) {
		memset(args, 0, PSARGS_SIZE);
		alen = 0;
	}
	for (i = 0; i < alen; i++)
		if (!args[i])
			args[i] = ' ';
	args[alen] = '\0';
	note_add(sb, "CORE", NT_PRPSINFO, d, sizeof(d));
}

/* NT_AUXV: the saved pairs up to and including AT_NULL (added if absent). */
static int auxv_note(struct ckfs_sb *sb, const struct ckfs_mm *mm)
{
	struct ckfs_sb a;
	uint8_t w[16];
	size_t i;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	ckfs_sb_init(&a);
	for (i = 0; i + 1 < mm->nauxv && mm->auxv[i] != AT_NULL; i += 2) {
		put64(w, mm->auxv[i]);
		put64(w + 8, mm->auxv[i + 1]);
		ckfs_sb_add(&a, w, sizeof(w));
	}
	memset(w, 0, sizeof(w));
	ckfs_sb_add(&a, w, sizeof(w));
	r = ckfs_sb_finish(&a, &buf, &len);
	if (r < 0)
		return r;
	note_add(sb, "CORE", NT_AUXV, buf, len);
	return 0;
}

/* Mappings the kernel lists in NT_FILE: those backed by a file object. */
static bool vma_has_file(const struct ckfs_vma *v)
{
	return v->status & (CKFS_VMA_FILE_PRIVATE | CKFS_VMA_FILE_SHARED |
			    CKFS_VMA_MEMFD | CKFS_VMA_ANON_SHARED |
			    CKFS_VMA_SYSVIPC);
}

/* NT_FILE: count, page size, {start, end, offset in pages}, then names. */
static int file_note(struct ckfs_sb *sb, struct ckfs_proc *p,
		     const struct ckfs_proc_mm *m)
{
	struct ckfs_sb ranges, names;
	_cleanup_free_ char *rbuf = NULL, *nbuf = NULL;
	_cleanup_free_ uint8_t *desc = NULL;
	size_t rlen, nlen, i;
	uint64_t count = 0;
	uint8_t w[24];
	int r;

	ckfs_sb_init(&ranges);
	ckfs_sb_init(&names);
	for (i = 0; i < m->mm.nvmas; i++) {
		const struct ckfs_vma *v = &m->mm.vmas[i];
		char *name;

		if (!vma_has_file(v))
			continue;
		name = ckfs_vma_name(p, m, v);
		if (!name) {
			ckfs_sb_fini(&ranges);
			ckfs_sb_fini(&names);
			return -EIO;
		}
		if (name[0]) { /* a file id files.img does not know: left out */
			put64(w, v->start);
			put64(w + 8, v->end);
			put64(w + 16, v->pgoff / CORE_PAGE);
			ckfs_sb_add(&ranges, w, sizeof(w));
			ckfs_sb_add(&names, name, strlen(name) + 1);
			count++;
		}
		free(name);
	}
	r = ckfs_sb_finish(&ranges, &rbuf, &rlen);
	if (r < 0) {
		ckfs_sb_fini(&names);
		return r;
	}
	r = ckfs_sb_finish(&names, &nbuf, &nlen);
	if (r < 0)
		return r;
	desc = malloc(16 + rlen + nlen);
	if (!desc)
		return -ENOMEM;
	put64(desc, count);
	put64(desc + 8, CORE_PAGE);
	if (rlen)
		memcpy(desc + 16, rbuf, rlen);
	if (nlen)
		memcpy(desc + 16 + rlen, nbuf, nlen);
	note_add(sb, "CORE", NT_FILE, desc, 16 + rlen + nlen);
	return 0;
}

/* Whether the core holds @v's bytes (all of them) or none: 1, 0, -EIO. */
static int vma_dumped(struct ckfs_proc *p, const struct ckfs_vma *v)
{
	const uint32_t none = CKFS_VMA_VVAR | CKFS_VMA_VSYSCALL |
			      CKFS_VMA_SOCKET | CKFS_VMA_EXT_PLUGIN |
			      CKFS_VMA_UPROBES | CKFS_VMA_UNSUPP;
	int r;

	if ((v->status & none) || (v->madv & (1ULL << MADV_DONTDUMP_)))
		return 0;
	if (v->status & (CKFS_VMA_MEMFD | CKFS_VMA_ANON_SHARED |
			 CKFS_VMA_SYSVIPC))
		return 1;
	if (v->status & CKFS_VMA_FILE_SHARED)
		return 0;
	if ((v->status & CKFS_VMA_FILE_PRIVATE) ||
	    !(v->prot & (PROT_READ_ | PROT_WRITE_ | PROT_EXEC_))) {
		r = ckfs_proc_mem_has_pages(p, v->start, v->end);
		return r < 0 ? -EIO : r;
	}
	return 1;
}

/* Whether thread @tid's registers fit an x86_64 core: 0 or -EIO + @why. */
static int thread_check(struct ckfs_proc *p, uint32_t tid, char *why,
			size_t len)
{
	const struct ckfs_core *c;

	if (ckfs_proc_core(p, tid, &c) < 0)
		return -EIO;
	if (c->mtype != MTYPE_X86_64) {
		snprintf(why, len,
			 "core: not an x86_64 task (core-%u.img mtype %u)", tid,
			 c->mtype);
		return -EIO;
	}
	if (!c->has_regs) {
		snprintf(why, len, "core: core-%u.img has no registers", tid);
		return -EIO;
	}
	if (c->regs_mode == REGS_MODE_COMPAT) {
		snprintf(why, len,
			 "core: thread %u is a 32-bit (compat) task, not written as an ELF64 core",
			 tid);
		return -EIO;
	}
	return 0;
}

int ckfs_core_check(struct ckfs_proc *p, char *why, size_t len)
{
	const struct ckfs_pstree_ent *ps = ckfs_proc_pstree(p);
	const struct ckfs_proc_mm *m;
	size_t i;
	int r;

	if (len)
		why[0] = '\0';
	r = ckfs_proc_mm(p, &m);
	if (r == -ENOENT)
		return -ENOENT; /* a zombie: no registers either */
	if (r < 0)
		return -EIO;
	if (thread_check(p, ps->pid, why, len) < 0)
		return -EIO;
	for (i = 0; i < ps->ntids; i++)
		if (thread_check(p, ps->tids[i], why, len) < 0)
			return -EIO;
	return 0;
}

static int build_notes(struct ckfs_proc *p, const struct ckfs_proc_mm *m,
		       struct ckfs_sb *sb)
{
	const struct ckfs_pstree_ent *ps = ckfs_proc_pstree(p);
	const struct ckfs_core *lead, *c;
	uint8_t si[SIGINFO_SIZE] = { 0 }; /* no signal, as criu-coredump */
	size_t i;
	int r;

	if (ckfs_proc_core(p, ps->pid, &lead) < 0)
		return -EIO;
	/* the leader first: gdb takes the first NT_PRSTATUS as current */
	thread_notes(sb, ps, ps->pid, lead);
	psinfo_note(sb, p, m, ps, lead);
	note_add(sb, "CORE", NT_SIGINFO, si, sizeof(si));
	r = auxv_note(sb, &m->mm);
	if (r < 0)
		return r;
	r = file_note(sb, p, m);
	if (r < 0)
		return r;
	for (i = 0; i < ps->ntids; i++) {
		if (ps->tids[i] == ps->pid)
			continue;
		if (ckfs_proc_core(p, ps->tids[i], &c) < 0)
			return -EIO;
		thread_notes(sb, ps, ps->tids[i], c);
	}
	return 0;
}

static void put_phdr(uint8_t *h, uint32_t type, uint32_t flags, uint64_t off,
		     uint64_t va, uint64_t filesz, uint64_t memsz,
		     uint64_t align)
{
	put32(h, type);
	put32(h + 4, flags);
	put64(h + 8, off);
	put64(h + 16, va);
	put64(h + 24, va); /* p_paddr = p_vaddr: Volatility's Elf64Layer */
	put64(h + 32, filesz);
	put64(h + 40, memsz);
	put64(h + 48, align);
}

static void put_ehdr(uint8_t *h, uint64_t phnum, uint64_t shoff)
{
	static const uint8_t ident[EI_NIDENT] = {
		ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB,
		EV_CURRENT, ELFOSABI_NONE,
	};

	memcpy(h, ident, sizeof(ident));
	put16(h + 16, ET_CORE);
	put16(h + 18, EM_X86_64);
	put32(h + 20, EV_CURRENT);
	put64(h + 32, EHDR_SIZE);
	put16(h + 52, EHDR_SIZE);
	put16(h + 54, PHDR_SIZE);
	if (phnum < PN_XNUM) {
		put16(h + 56, (uint16_t)phnum);
		return;
	}
	/* PN_XNUM: the real count is in section header 0's sh_info */
	put64(h + 40, shoff);
	put16(h + 56, PN_XNUM);
	put16(h + 58, SHDR_SIZE);
	put16(h + 60, 1);
	h += shoff;
	put32(h + 4, SHT_NULL);
	put64(h + 32, 1);
	put32(h + 44, (uint32_t)phnum);
}

/*
 * Build the layout of @p's core: 0 and a new block in *@out (the caller
 * frees it), -ENOENT for a zombie, -EIO (also for a refusal), -ENOMEM.
 */
static int layout_build(struct ckfs_proc *p, struct core_layout **out)
{
	const struct ckfs_proc_mm *m;
	struct core_layout *l;
	struct ckfs_sb sb;
	_cleanup_free_ char *notes = NULL;
	_cleanup_free_ uint8_t *dumped = NULL;
	size_t nlen, nvmas, nseg = 0, i, k;
	uint64_t phnum, hdr_len, head_len, off;
	bool ovf = false;
	char why[160];
	int r;

	r = ckfs_core_check(p, why, sizeof(why));
	if (r < 0)
		return r;
	if (ckfs_proc_mm(p, &m) < 0)
		return -EIO;
	nvmas = m->mm.nvmas;
	dumped = calloc(nvmas ? nvmas : 1, 1);
	if (!dumped)
		return -ENOMEM;
	for (i = 0; i < nvmas; i++) {
		r = vma_dumped(p, &m->mm.vmas[i]);
		if (r < 0)
			return r;
		dumped[i] = (uint8_t)r;
		nseg += (size_t)r;
	}
	ckfs_sb_init(&sb);
	r = build_notes(p, m, &sb);
	if (r < 0) {
		ckfs_sb_fini(&sb);
		return r;
	}
	r = ckfs_sb_finish(&sb, &notes, &nlen);
	if (r < 0)
		return r;

	phnum = 1 + (uint64_t)nvmas;
	hdr_len = EHDR_SIZE + phnum * PHDR_SIZE;
	if (phnum >= PN_XNUM)
		hdr_len += SHDR_SIZE;
	head_len = round_page(hdr_len + nlen, &ovf);
	l = calloc(1, sizeof(*l) + nseg * sizeof(*l->seg) + head_len);
	if (!l)
		return -ENOMEM;
	l->seg = (struct core_seg *)(l + 1);
	l->head = (uint8_t *)(l->seg + nseg);
	l->head_len = head_len;
	put_ehdr(l->head, phnum, EHDR_SIZE + phnum * PHDR_SIZE);
	put_phdr(l->head + EHDR_SIZE, PT_NOTE, 0, hdr_len, 0, nlen, 0, 4);
	memcpy(l->head + hdr_len, notes, nlen);

	off = head_len;
	for (i = 0, k = 0; i < nvmas; i++) {
		const struct ckfs_vma *v = &m->mm.vmas[i];
		uint64_t memsz = v->end - v->start;
		uint32_t flags = (v->prot & PROT_READ_ ? PF_R : 0) |
				 (v->prot & PROT_WRITE_ ? PF_W : 0) |
				 (v->prot & PROT_EXEC_ ? PF_X : 0);

		put_phdr(l->head + EHDR_SIZE + (i + 1) * PHDR_SIZE, PT_LOAD,
			 flags, off, v->start, dumped[i] ? memsz : 0, memsz,
			 CORE_PAGE);
		if (!dumped[i])
			continue;
		l->seg[k].off = off;
		l->seg[k].len = memsz;
		l->seg[k].va = v->start;
		k++;
		if (__builtin_add_overflow(off, memsz, &off))
			ovf = true;
		off = round_page(off, &ovf);
	}
	l->nseg = nseg;
	l->size = off;
	if (ovf || off > (uint64_t)INT64_MAX) {
		free(l);
		return -EIO; /* cannot be a file: the mappings are bogus */
	}
	*out = l;
	return 0;
}

/* The layout of @n's core, built once; 0, -ENOENT (zombie) or -EIO. */
static int layout_get(struct ckfs_node *n, const struct core_layout **out)
{
	void *d = __atomic_load_n(&n->data, __ATOMIC_ACQUIRE);
	struct core_layout *l = NULL;
	int r;

	if (d) {
		*out = d;
		return 0;
	}
	if (__atomic_load_n(&n->data_state, __ATOMIC_ACQUIRE) < 0)
		return n->data_state;
	pthread_mutex_lock(&build_lock);
	if (n->data) {
		r = 0;
	} else if (n->data_state < 0) {
		r = n->data_state;
	} else {
		r = layout_build(n->proc, &l);
		if (r == 0)
			__atomic_store_n(&n->data, (char *)(void *)l,
					 __ATOMIC_RELEASE);
		else if (r != -ENOMEM) /* units never heal: keep the verdict */
			__atomic_store_n(&n->data_state, r, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&build_lock);
	if (r == 0)
		*out = (const void *)n->data;
	return r;
}

static int core_size(struct ckfs_node *n, uint64_t *size)
{
	const struct core_layout *l;
	int r = layout_get(n, &l);

	if (r == -ENOENT) {
		*size = 0;
		return 0;
	}
	if (r < 0)
		return r;
	*size = l->size;
	return 0;
}

/* The segment holding @off, or NULL with *@next = the next one's start. */
static const struct core_seg *find_seg(const struct core_layout *l,
				       uint64_t off, uint64_t *next)
{
	size_t lo = 0, hi = l->nseg;

	while (lo < hi) { /* the first segment starting after @off */
		size_t mid = lo + (hi - lo) / 2;

		if (l->seg[mid].off <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	*next = lo < l->nseg ? l->seg[lo].off : l->size;
	if (lo > 0 && off - l->seg[lo - 1].off < l->seg[lo - 1].len)
		return &l->seg[lo - 1];
	return NULL;
}

static ssize_t core_read(struct ckfs_node *n, void *vbuf, size_t len,
			 uint64_t off)
{
	const struct core_layout *l;
	char *buf = vbuf;
	size_t done = 0;
	int r = layout_get(n, &l);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (off >= l->size)
		return 0;
	if (len > l->size - off)
		len = (size_t)(l->size - off);
	while (done < len) {
		uint64_t a = off + done, next, step;
		size_t want = len - done;
		const struct core_seg *s;

		if (a < l->head_len) {
			step = l->head_len - a < want ? l->head_len - a : want;
			memcpy(buf + done, l->head + a, step);
		} else if ((s = find_seg(l, a, &next))) {
			ssize_t got;

			step = s->off + s->len - a;
			if (step > want)
				step = want;
			got = ckfs_proc_mem_read(n->proc, buf + done, step,
						 s->va + (a - s->off));
			if (got < 0)
				return -EIO;
		} else { /* padding after a segment that is not page-sized */
			step = next - a < want ? next - a : want;
			memset(buf + done, 0, step);
		}
		done += step;
	}
	return (ssize_t)done;
}

const struct ckfs_node_ops ckfs_core_ops = {
	.size = core_size,
	.read = core_read,
};
