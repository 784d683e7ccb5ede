/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * /proc/<pid> file bodies in the kernel's own formats (fs/proc/array.c,
 * fs/proc/task_mmu.c, fs/proc/fd.c), from the process model.  Fields a
 * checkpoint does not record are left out rather than made up.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "model/task.h"
#include "vfs/views_i.h"

#define PROT_R 1
#define PROT_W 2
#define PROT_X 4
#define MAP_SHARED_ 1
#define MAP_GROWSDOWN_ 0x100
#define MAP_LOCKED_ 0x2000

int ckfs_render_cmdline(struct ckfs_proc *p, struct ckfs_sb *out)
{
	const struct ckfs_proc_mm *m;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	char last = 0;
	int r;

	r = ckfs_proc_mm(p, &m);
	if (r == -ENOENT)
		return 0; /* a zombie: empty, as /proc */
	if (r < 0)
		return r;
	if (m->mm.arg_end <= m->mm.arg_start)
		return 0;
	if (ckfs_proc_mem_read(p, &last, 1, m->mm.arg_end - 1) < 0)
		return -EIO;
	if (last != '\0') {
		/*
		 * setproctitle(3) overwrote the final NUL: like the kernel,
		 * show one page from arg_start up to its first NUL.
		 */
		r = ckfs_proc_mem_range(p, m->mm.arg_start,
					m->mm.arg_start + m->page_size,
					m->page_size, &buf, &len);
		if (r < 0)
			return r;
		len = strnlen(buf, len) + (strnlen(buf, len) < len);
	} else {
		r = ckfs_proc_mem_range(p, m->mm.arg_start, m->mm.arg_end,
					CKFS_ARGV_MAX, &buf, &len);
		if (r < 0)
			return r;
	}
	ckfs_sb_add(out, buf, len);
	return 0;
}

int ckfs_render_environ(struct ckfs_proc *p, struct ckfs_sb *out)
{
	const struct ckfs_proc_mm *m;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	r = ckfs_proc_mm(p, &m);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = ckfs_proc_mem_range(p, m->mm.env_start, m->mm.env_end,
				CKFS_ARGV_MAX, &buf, &len);
	if (r < 0)
		return r;
	ckfs_sb_add(out, buf, len);
	return 0;
}

static const char *thread_comm(const struct ckfs_core *c)
{
	if (c->comm)
		return c->comm;
	return c->tc_comm ? c->tc_comm : "";
}

int ckfs_render_comm(struct ckfs_proc *p, uint32_t tid, struct ckfs_sb *out)
{
	const struct ckfs_core *c;
	int r = ckfs_proc_core(p, tid, &c);

	if (r < 0)
		return r;
	ckfs_sb_printf(out, "%s\n", thread_comm(c));
	return 0;
}

static const char *state_str(uint32_t s)
{
	switch (s) {
	case CKFS_TASK_DEAD:
		return "Z (zombie)";
	case CKFS_TASK_STOPPED:
		return "T (stopped)";
	default:
		/* R and S are not told apart by a checkpoint */
		return "S (sleeping)";
	}
}

static void vm_lines(const struct ckfs_proc_mm *m, struct ckfs_sb *out)
{
	uint64_t size = 0, lck = 0, stk = 0, data = 0, exec = 0, vexe;
	uint64_t ps = m->page_size;
	size_t i;

	for (i = 0; i < m->mm.nvmas; i++) {
		const struct ckfs_vma *v = &m->mm.vmas[i];
		uint64_t len = v->end - v->start;

		if (v->status & CKFS_VMA_VSYSCALL)
			continue;
		size += len;
		if (v->flags & MAP_LOCKED_)
			lck += len;
		if (v->flags & MAP_GROWSDOWN_)
			stk += len;
		else if ((v->prot & PROT_W) && !(v->flags & MAP_SHARED_))
			data += len;
		if ((v->prot & PROT_X) && !(v->prot & PROT_W))
			exec += len;
	}
	vexe = m->mm.end_code > m->mm.start_code ?
		       ((m->mm.end_code + ps - 1) & ~(ps - 1)) -
			       (m->mm.start_code & ~(ps - 1)) :
		       0;
	ckfs_sb_printf(out, "VmSize:\t%8llu kB\n",
		       (unsigned long long)(size >> 10));
	ckfs_sb_printf(out, "VmLck:\t%8llu kB\n", (unsigned long long)(lck >> 10));
	ckfs_sb_printf(out, "VmData:\t%8llu kB\n",
		       (unsigned long long)(data >> 10));
	ckfs_sb_printf(out, "VmStk:\t%8llu kB\n", (unsigned long long)(stk >> 10));
	ckfs_sb_printf(out, "VmExe:\t%8llu kB\n",
		       (unsigned long long)(vexe >> 10));
	ckfs_sb_printf(out, "VmLib:\t%8llu kB\n",
		       (unsigned long long)((exec > vexe ? exec - vexe : 0) >> 10));
}

int ckfs_render_status(struct ckfs_proc *p, uint32_t tid, struct ckfs_sb *out)
{
	const struct ckfs_pstree_ent *ps = ckfs_proc_pstree(p);
	const struct ckfs_core *c, *lead;
	const struct ckfs_proc_files *pf = NULL;
	const struct ckfs_proc_mm *m = NULL;
	const struct ckfs_creds *cr;
	uint32_t nfilters;
	uint64_t blk;
	size_t i;
	int r;

	r = ckfs_proc_core(p, tid, &c);
	if (r < 0)
		return r;
	r = ckfs_proc_core(p, ps->pid, &lead);
	if (r < 0)
		return r;
	(void)ckfs_proc_files(p, &pf);
	(void)ckfs_proc_mm(p, &m);
	cr = c->has_creds ? &c->creds : lead->has_creds ? &lead->creds : NULL;

	ckfs_sb_printf(out, "Name:\t%s\n", thread_comm(c));
	if (pf && pf->fs.has_umask)
		ckfs_sb_printf(out, "Umask:\t%04o\n", pf->fs.umask);
	ckfs_sb_printf(out, "State:\t%s\n", state_str(lead->task_state));
	ckfs_sb_printf(out, "Tgid:\t%u\n", ps->pid);
	ckfs_sb_printf(out, "Pid:\t%u\n", tid);
	ckfs_sb_printf(out, "PPid:\t%u\n", ps->ppid);
	ckfs_sb_printf(out, "TracerPid:\t0\n");
	if (cr) {
		ckfs_sb_printf(out, "Uid:\t%u\t%u\t%u\t%u\n", cr->uid, cr->euid,
			       cr->suid, cr->fsuid);
		ckfs_sb_printf(out, "Gid:\t%u\t%u\t%u\t%u\n", cr->gid, cr->egid,
			       cr->sgid, cr->fsgid);
		ckfs_sb_puts(out, "Groups:\t");
		for (i = 0; i < cr->ngroups; i++)
			ckfs_sb_printf(out, "%u ", cr->groups[i]);
		ckfs_sb_puts(out, "\n");
	}
	ckfs_sb_printf(out, "NStgid:\t%u\n", ps->pid);
	ckfs_sb_printf(out, "NSpid:\t%u\n", tid);
	ckfs_sb_printf(out, "NSpgid:\t%u\n", ps->pgid);
	ckfs_sb_printf(out, "NSsid:\t%u\n", ps->sid);
	if (m)
		vm_lines(m, out);
	if (m)
		ckfs_sb_printf(out, "THP_enabled:\t%d\n", !m->mm.thp_disabled);
	ckfs_sb_printf(out, "Threads:\t%zu\n", ps->ntids);
	/* queued: this checkpoint's siginfos (the kernel counts the user's) */
	if (lead->nrlimits > 11 /* RLIMIT_SIGPENDING */)
		ckfs_sb_printf(out, "SigQ:\t%u/%llu\n",
			       c->nsig_prv + lead->nsig_shd,
			       (unsigned long long)lead->rlim_cur[11]);
	blk = c->is_leader ? c->tc_blk_sigset : c->blk_sigset;
	ckfs_sb_printf(out, "SigPnd:\t%016llx\n", (unsigned long long)c->sig_pnd);
	ckfs_sb_printf(out, "ShdPnd:\t%016llx\n",
		       (unsigned long long)lead->shd_pnd);
	ckfs_sb_printf(out, "SigBlk:\t%016llx\n", (unsigned long long)blk);
	ckfs_sb_printf(out, "SigIgn:\t%016llx\n",
		       (unsigned long long)lead->sig_ign);
	ckfs_sb_printf(out, "SigCgt:\t%016llx\n",
		       (unsigned long long)lead->sig_cgt);
	if (cr) {
		ckfs_sb_printf(out, "CapInh:\t%016llx\n",
			       (unsigned long long)cr->cap_inh);
		ckfs_sb_printf(out, "CapPrm:\t%016llx\n",
			       (unsigned long long)cr->cap_prm);
		ckfs_sb_printf(out, "CapEff:\t%016llx\n",
			       (unsigned long long)cr->cap_eff);
		ckfs_sb_printf(out, "CapBnd:\t%016llx\n",
			       (unsigned long long)cr->cap_bnd);
		ckfs_sb_printf(out, "CapAmb:\t%016llx\n",
			       (unsigned long long)cr->cap_amb);
		ckfs_sb_printf(out, "NoNewPrivs:\t%u\n", cr->no_new_privs);
	}
	ckfs_sb_printf(out, "Seccomp:\t%u\n", c->seccomp_mode);
	if (ckfs_proc_seccomp_filters(p, tid, &nfilters) == 0)
		ckfs_sb_printf(out, "Seccomp_filters:\t%u\n", nfilters);
	return 0;
}

char *ckfs_vma_name(struct ckfs_proc *p, const struct ckfs_proc_mm *m,
		    const struct ckfs_vma *v)
{
	struct ckfs_ckpt *ck = ckfs_proc_ckpt(p);
	char *s = NULL;

	if (v->status & CKFS_VMA_VDSO)
		return strdup("[vdso]");
	if (v->status & CKFS_VMA_VVAR)
		return strdup("[vvar]");
	if (v->status & CKFS_VMA_VSYSCALL)
		return strdup("[vsyscall]");
	if (v->status & CKFS_VMA_UPROBES)
		return strdup("[uprobes]");
	if (v->status & CKFS_VMA_AIORING)
		return strdup("/[aio] (deleted)");
	if (v->status & (CKFS_VMA_MEMFD | CKFS_VMA_FILE_PRIVATE |
			 CKFS_VMA_FILE_SHARED)) {
		const struct ckfs_files *fl;
		const struct ckfs_file *f;

		fl = ckfs_ckpt_files(ck);
		if (!fl)
			return NULL;
		if (v->status & CKFS_VMA_MEMFD) {
			f = ckfs_files_find(fl, (uint32_t)v->shmid);
			return ckfs_ckpt_memfd_path(ck, f ? f->inode_id : 0);
		}
		s = ckfs_ckpt_file_path(ck, (uint32_t)v->shmid);
		return s ? s : strdup("");
	}
	if (v->status & CKFS_VMA_ANON_SHARED)
		return strdup("/dev/zero (deleted)");
	if (v->status & CKFS_VMA_SYSVIPC)
		return asprintf(&s, "/SYSV%08llx (deleted)",
				(unsigned long long)v->shmid) < 0 ?
			       NULL :
			       s;
	if ((v->status & CKFS_VMA_HEAP) ||
	    (v->start <= m->mm.brk && v->end >= m->mm.start_brk &&
	     m->mm.start_brk))
		return strdup("[heap]");
	if (v->start <= m->mm.start_stack && v->end >= m->mm.start_stack)
		return strdup("[stack]");
	return strdup("");
}

int ckfs_render_maps(struct ckfs_proc *p, struct ckfs_sb *out)
{
	const struct ckfs_proc_mm *m;
	size_t i;
	int r;

	r = ckfs_proc_mm(p, &m);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	for (i = 0; i < m->mm.nvmas; i++) {
		const struct ckfs_vma *v = &m->mm.vmas[i];
		_cleanup_free_ char *name = ckfs_vma_name(p, m, v);

		if (!name)
			return -EIO;
		ckfs_render_maps_line(v, name, out);
	}
	return 0;
}

void ckfs_render_maps_line(const struct ckfs_vma *v, const char *name,
			   struct ckfs_sb *out)
{
	ckfs_sb_printf(out, "%08llx-%08llx %c%c%c%c %08llx 00:00 0 ",
		       (unsigned long long)v->start, (unsigned long long)v->end,
		       v->prot & PROT_R ? 'r' : '-',
		       v->prot & PROT_W ? 'w' : '-',
		       v->prot & PROT_X ? 'x' : '-',
		       v->flags & MAP_SHARED_ ? 's' : 'p',
		       (unsigned long long)v->pgoff);
	if (name[0]) {
		/* the kernel pads to 72 columns, then one space */
		ckfs_sb_pad_to(out, 72);
		ckfs_sb_printf(out, " %s", name);
	}
	ckfs_sb_puts(out, "\n");
}

int ckfs_render_fdinfo(const struct ckfs_fd *fd, struct ckfs_sb *out)
{
	ckfs_sb_printf(out, "pos:\t%llu\n", (unsigned long long)fd->pos);
	ckfs_sb_printf(out, "flags:\t0%o\n", fd->flags);
	if (fd->has_mnt_id)
		ckfs_sb_printf(out, "mnt_id:\t%d\n", fd->mnt_id);
	if (fd->ino)
		ckfs_sb_printf(out, "ino:\t%llu\n", (unsigned long long)fd->ino);
	if (fd->type == CKFS_FD_EVENTFD && fd->file)
		ckfs_sb_printf(out, "eventfd-count: %16llx\n",
			       (unsigned long long)fd->file->counter);
	if (fd->type == CKFS_FD_SIGNALFD && fd->file)
		ckfs_sb_printf(out, "sigmask:\t%016llx\n",
			       (unsigned long long)fd->file->sigmask);
	return 0;
}
