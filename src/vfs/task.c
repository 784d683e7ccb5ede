/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Per-task files beyond views.c's: limits, stat, regs, cgroup, mountinfo
 * (fs/proc/base.c, fs/proc/array.c, fs/proc_namespace.c formats) and the
 * ns/ links.  What a checkpoint does not record is printed as 0 (stat's
 * counters and times) or left out (cgroup, mountinfo), never made up;
 * see each renderer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "model/task.h"
#include "vfs/task_i.h"
#include "vfs/views_i.h"

#define RLIMIT_RSS_	5
#define RLIM_INFINITY_	UINT64_MAX
#define SCHED_FIFO_	1
#define SCHED_RR_	2
#define SCHED_DEADLINE_ 6
#define MTYPE_X86_64	1
#define SIGCHLD_	17
#define NS_SLOTS	8

/* ---- limits ---- */

static const struct {
	const char *name, *unit;
} limit_names[] = {
	{ "Max cpu time", "seconds" },	   { "Max file size", "bytes" },
	{ "Max data size", "bytes" },	   { "Max stack size", "bytes" },
	{ "Max core file size", "bytes" }, { "Max resident set", "bytes" },
	{ "Max processes", "processes" },  { "Max open files", "files" },
	{ "Max locked memory", "bytes" },  { "Max address space", "bytes" },
	{ "Max file locks", "locks" },	   { "Max pending signals", "signals" },
	{ "Max msgqueue size", "bytes" },  { "Max nice priority", NULL },
	{ "Max realtime priority", NULL }, { "Max realtime timeout", "us" },
};

static void limit_value(struct ckfs_sb *o, uint64_t v)
{
	if (v == RLIM_INFINITY_)
		ckfs_sb_printf(o, "%-20s ", "unlimited");
	else
		ckfs_sb_printf(o, "%-20llu ", (unsigned long long)v);
}

/* fs/proc/base.c proc_pid_limits(): the rlimits of tc, in RLIMIT_* order. */
static int r_limits(struct ckfs_node *n, struct ckfs_sb *o)
{
	const struct ckfs_core *c;
	size_t i;
	int r = ckfs_proc_core(n->proc, ckfs_proc_pstree(n->proc)->pid, &c);

	if (r < 0)
		return r;
	if (!c->nrlimits)
		return -ENOENT;
	ckfs_sb_printf(o, "%-25s %-20s %-20s %-10s\n", "Limit", "Soft Limit",
		       "Hard Limit", "Units");
	for (i = 0; i < c->nrlimits && i < CKFS_ARRAY_SIZE(limit_names); i++) {
		ckfs_sb_printf(o, "%-25s ", limit_names[i].name);
		limit_value(o, c->rlim_cur[i]);
		limit_value(o, c->rlim_max[i]);
		if (limit_names[i].unit)
			ckfs_sb_printf(o, "%-10s\n", limit_names[i].unit);
		else
			ckfs_sb_puts(o, "\n");
	}
	return 0;
}

/* ---- regs ---- */

/* x86_64 struct user_regs_struct, in order */
static const char *const reg_names[27] = {
	"r15",	   "r14",      "r13", "r12", "rbp",    "rbx", "r11",
	"r10",	   "r9",       "r8",  "rax", "rcx",    "rdx", "rsi",
	"rdi",	   "orig_rax", "rip", "cs",  "eflags", "rsp", "ss",
	"fs_base", "gs_base",  "ds",  "es",  "fs",     "gs",
};

static int r_regs(struct ckfs_node *n, struct ckfs_sb *o)
{
	const struct ckfs_core *c;
	size_t i;
	int r = ckfs_proc_core(n->proc, ckfs_node_tid(n), &c);

	if (r < 0)
		return r;
	if (!c->has_regs)
		return -ENOENT;
	for (i = 0; i < CKFS_ARRAY_SIZE(reg_names); i++)
		ckfs_sb_printf(o, "%s: 0x%016llx\n", reg_names[i],
			       (unsigned long long)c->regs[i]);
	return 0;
}

/* ---- stat ---- */

static char state_char(uint32_t s)
{
	return s == CKFS_TASK_DEAD ? 'Z' : s == CKFS_TASK_STOPPED ? 'T' : 'S';
}

static uint64_t vm_size(const struct ckfs_proc_mm *m)
{
	uint64_t size = 0;
	size_t i;

	for (i = 0; m && i < m->mm.nvmas; i++)
		if (!(m->mm.vmas[i].status & CKFS_VMA_VSYSCALL))
			size += m->mm.vmas[i].end - m->mm.vmas[i].start;
	return size;
}

/*
 * fs/proc/array.c do_task_stat().  Known: pid, comm, state, ppid, pgrp,
 * session, flags, priority, nice, num_threads, vsize, rss (pages CRIU
 * saved: a lower bound), rsslim, the mm addresses, kstkesp/kstkeip (the
 * saved sp/ip), the signal masks, rt_priority, policy, exit_code.  Not
 * recorded, printed as 0: fault counts, times, starttime, wchan,
 * processor; tty_nr 0 and tpgid -1 (no terminal is recorded per task);
 * exit_signal is SIGCHLD for a leader (the usual value) and -1 for
 * other threads, as the kernel shows.
 */
static int r_stat(struct ckfs_node *n, struct ckfs_sb *o)
{
	struct ckfs_proc *p = n->proc;
	const struct ckfs_pstree_ent *ps = ckfs_proc_pstree(p);
	uint32_t tid = ckfs_node_tid(n);
	const struct ckfs_core *c, *lead;
	const struct ckfs_proc_mm *m = NULL;
	const char *comm;
	uint64_t mask = 0x7fffffffu, rsslim = RLIM_INFINITY_, blk;
	long long prio;
	int r;

	r = ckfs_proc_core(p, tid, &c);
	if (r < 0)
		return r;
	r = ckfs_proc_core(p, ps->pid, &lead);
	if (r < 0)
		return r;
	(void)ckfs_proc_mm(p, &m);
	comm = c->comm ? c->comm : c->tc_comm ? c->tc_comm : "";
	if (c->sched_policy == SCHED_FIFO_ || c->sched_policy == SCHED_RR_)
		prio = -1 - (long long)c->sched_prio;
	else if (c->sched_policy == SCHED_DEADLINE_)
		prio = -101;
	else
		prio = 20 + (long long)c->sched_nice;
	if (lead->nrlimits > RLIMIT_RSS_)
		rsslim = lead->rlim_cur[RLIMIT_RSS_];
	blk = c->is_leader ? c->tc_blk_sigset : c->blk_sigset;

	ckfs_sb_printf(o, "%u (%s) %c %u %u %u 0 -1 %u", tid, comm,
		       state_char(lead->task_state), ps->ppid, ps->pgid,
		       ps->sid, lead->flags);
	ckfs_sb_puts(o, " 0 0 0 0 0 0 0 0"); /* faults, times */
	ckfs_sb_printf(o, " %lld %d %zu 0 0", prio, c->sched_nice, ps->ntids);
	ckfs_sb_printf(
		o, " %llu %llu %llu", (unsigned long long)vm_size(m),
		(unsigned long long)(m ? m->present_bytes / m->page_size : 0),
		(unsigned long long)rsslim);
	ckfs_sb_printf(o, " %llu %llu %llu",
		       (unsigned long long)(m ? m->mm.start_code : 0),
		       (unsigned long long)(m ? m->mm.end_code : 0),
		       (unsigned long long)(m ? m->mm.start_stack : 0));
	ckfs_sb_printf(o, " %llu %llu",
		       (unsigned long long)(c->has_regs ? c->regs[19] : 0),
		       (unsigned long long)(c->has_regs ? c->regs[16] : 0));
	ckfs_sb_printf(o, " %llu %llu %llu %llu",
		       (unsigned long long)(c->sig_pnd & mask),
		       (unsigned long long)(blk & mask),
		       (unsigned long long)(lead->sig_ign & mask),
		       (unsigned long long)(lead->sig_cgt & mask));
	ckfs_sb_printf(o, " 0 0 0 %d 0 %u %u 0 0 0",
		       tid == ps->pid ? SIGCHLD_ : -1, c->sched_prio,
		       c->sched_policy);
	ckfs_sb_printf(o, " %llu %llu %llu %llu %llu %llu %llu %u\n",
		       (unsigned long long)(m ? m->mm.start_data : 0),
		       (unsigned long long)(m ? m->mm.end_data : 0),
		       (unsigned long long)(m ? m->mm.start_brk : 0),
		       (unsigned long long)(m ? m->mm.arg_start : 0),
		       (unsigned long long)(m ? m->mm.arg_end : 0),
		       (unsigned long long)(m ? m->mm.env_start : 0),
		       (unsigned long long)(m ? m->mm.env_end : 0),
		       lead->exit_code);
	return 0;
}

/* ---- cgroup ---- */

/* The path as the task saw it: below its cgroup namespace root. */
static const char *cg_path(const struct ckfs_cg_ctl *c)
{
	if (c->cgns_prefix && c->cgns_prefix <= strlen(c->path))
		return c->path + c->cgns_prefix;
	return c->path;
}

/*
 * The set's controllers as "hier:controllers:path" (v2: "0::path").
 * CRIU does not record hierarchy ids: v1 hierarchies are numbered by
 * their position in the set (N down to 1, kernel-like descending order),
 * so only the controllers and paths are evidence.  A path is shown as the
 * task saw it, below its cgroup namespace root when it had one.
 */
static int r_cgroup(struct ckfs_node *n, struct ckfs_sb *o)
{
	const struct ckfs_cg_set *s;
	size_t i, nv1 = 0;
	int r = ckfs_proc_cg_set(n->proc, ckfs_node_tid(n), &s);

	if (r < 0)
		return r;
	for (i = 0; i < s->n; i++)
		nv1 += s->ctls[i].name[0] != '\0';
	for (i = s->n; i-- > 0;) {
		const char *path = cg_path(&s->ctls[i]);

		if (s->ctls[i].name[0])
			ckfs_sb_printf(o, "%zu:%s:%s%s\n", nv1--,
				       s->ctls[i].name,
				       path[0] == '/' ? "" : "/", path);
	}
	for (i = 0; i < s->n; i++) {
		const char *path = cg_path(&s->ctls[i]);

		if (!s->ctls[i].name[0])
			ckfs_sb_printf(o, "0::%s%s\n",
				       path[0] == '/' ? "" : "/", path);
	}
	return 0;
}

/* ---- mountinfo ---- */

#define MS_RDONLY_	0x1
#define MS_NOSUID_	0x2
#define MS_NODEV_	0x4
#define MS_NOEXEC_	0x8
#define MS_SYNCHRONOUS_ 0x10
#define MS_MANDLOCK_	0x40
#define MS_DIRSYNC_	0x80
#define MS_NOSYMFOLLOW_ 0x100
#define MS_NOATIME_	0x400
#define MS_NODIRATIME_	0x800
#define MS_UNBINDABLE_	(1u << 17)
#define MS_RELATIME_	(1u << 21)
#define MS_LAZYTIME_	(1u << 25)
#define FSTYPE_AUTO	16

/* seq_file mangling of " \t\n\\" as octal escapes */
static void put_mangled(struct ckfs_sb *o, const char *s)
{
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\\')
			ckfs_sb_printf(o, "\\%03o", (unsigned char)*s);
		else
			ckfs_sb_add(o, s, 1);
	}
}

static void put_flags(struct ckfs_sb *o, uint32_t flags, const uint32_t *bits,
		      const char *const *names, size_t n)
{
	size_t i;

	ckfs_sb_puts(o, flags & MS_RDONLY_ ? "ro" : "rw");
	for (i = 0; i < n; i++)
		if (flags & bits[i])
			ckfs_sb_puts(o, names[i]);
}

static int mnt_cmp(const void *a, const void *b)
{
	const struct ckfs_mnt *x = *(const struct ckfs_mnt *const *)a;
	const struct ckfs_mnt *y = *(const struct ckfs_mnt *const *)b;

	return x->mnt_id < y->mnt_id ? -1 : x->mnt_id > y->mnt_id;
}

/*
 * fs/proc_namespace.c show_mountinfo(), one line per mount of the dumped
 * namespace, by mount id (kernels since 6.8 list mounts in creation
 * order, which mount ids follow).
 */
static int r_mountinfo(struct ckfs_node *n, struct ckfs_sb *o)
{
	static const uint32_t mnt_bits[] = {
		MS_NOSUID_,	MS_NODEV_,    MS_NOEXEC_,      MS_NOATIME_,
		MS_NODIRATIME_, MS_RELATIME_, MS_NOSYMFOLLOW_,
	};
	static const char *const mnt_names[] = {
		",nosuid",     ",nodev",    ",noexec",	    ",noatime",
		",nodiratime", ",relatime", ",nosymfollow",
	};
	static const uint32_t sb_bits[] = {
		MS_SYNCHRONOUS_,
		MS_DIRSYNC_,
		MS_MANDLOCK_,
		MS_LAZYTIME_,
	};
	static const char *const sb_names[] = {
		",sync",
		",dirsync",
		",mand",
		",lazytime",
	};
	const struct ckfs_mnt *mnts;
	_cleanup_free_ const struct ckfs_mnt **order = NULL;
	size_t nm, i;
	int r = ckfs_proc_mounts(n->proc, &mnts, &nm);

	if (r < 0)
		return r;
	order = calloc(nm ? nm : 1, sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (i = 0; i < nm; i++)
		order[i] = &mnts[i];
	qsort(order, nm, sizeof(*order), mnt_cmp);
	for (i = 0; i < nm; i++) {
		const struct ckfs_mnt *m = order[i];
		const char *type = ckfs_mnt_fstype_name(m->fstype);

		if (m->fstype == FSTYPE_AUTO || !type)
			type = m->fsname ? m->fsname : "unknown";
		ckfs_sb_printf(o, "%u %u %u:%u ", m->mnt_id, m->parent_mnt_id,
			       m->root_dev >> 20, m->root_dev & 0xfffff);
		put_mangled(o, m->root && m->root[0] ? m->root : "/");
		ckfs_sb_puts(o, " ");
		if (m->mountpoint && m->mountpoint[0] != '/')
			ckfs_sb_puts(o, "/");
		put_mangled(o, m->mountpoint ? m->mountpoint : "");
		ckfs_sb_puts(o, " ");
		put_flags(o, m->flags, mnt_bits, mnt_names,
			  CKFS_ARRAY_SIZE(mnt_bits));
		if (m->shared_id)
			ckfs_sb_printf(o, " shared:%u", m->shared_id);
		if (m->master_id)
			ckfs_sb_printf(o, " master:%u", m->master_id);
		if (m->flags & MS_UNBINDABLE_)
			ckfs_sb_puts(o, " unbindable");
		ckfs_sb_puts(o, " - ");
		put_mangled(o, type);
		ckfs_sb_puts(o, " ");
		put_mangled(o, m->source && m->source[0] ? m->source : "none");
		ckfs_sb_puts(o, " ");
		put_flags(o, m->sb_flags, sb_bits, sb_names,
			  CKFS_ARRAY_SIZE(sb_bits));
		if (m->options && m->options[0])
			ckfs_sb_printf(o, ",%s", m->options);
		ckfs_sb_puts(o, "\n");
	}
	return 0;
}

/* ---- ns/ ---- */

/* index in ckfs_ids.ns */
static const char *const ns_names[NS_SLOTS] = {
	"pid", "net", "ipc", "uts", "mnt", "user", "cgroup", "time",
};

/*
 * The link text is "<type>:[<id>]" with CRIU's namespace id, not the
 * kernel's inode number (a checkpoint does not record those): two tasks
 * shared a namespace exactly when their ids are equal.
 */
static int r_ns_link(struct ckfs_node *n, struct ckfs_sb *o)
{
	const struct ckfs_ids *ids;
	int r = ckfs_proc_ids(n->proc, &ids);

	if (r < 0)
		return r;
	if (n->arg >= NS_SLOTS || !ids->ns[n->arg])
		return -ENOENT;
	ckfs_sb_printf(o, "%s:[%u]", ns_names[n->arg], ids->ns[n->arg]);
	return 0;
}

static const struct ckfs_node_ops ns_link_ops = { .render = r_ns_link };

static int ns_populate(struct ckfs_tree *t, struct ckfs_node *dir)
{
	const struct ckfs_ids *ids;
	size_t i;
	int r = ckfs_proc_ids(dir->proc, &ids);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	for (i = 0; i < NS_SLOTS; i++) {
		struct ckfs_node *c;

		if (!ids->ns[i])
			continue;
		c = ckfs_tree_add(t, dir, ns_names[i], CKFS_MODE_LINK,
				  &ns_link_ops);
		if (!c)
			return -ENOMEM;
		c->arg = i;
	}
	return 0;
}

/* ---- hooks ---- */

static const struct ckfs_node_ops limits_ops = { .render = r_limits };
static const struct ckfs_node_ops regs_ops = { .render = r_regs };
static const struct ckfs_node_ops stat_ops = { .render = r_stat };
static const struct ckfs_node_ops cgroup_ops = { .render = r_cgroup };
static const struct ckfs_node_ops mountinfo_ops = { .render = r_mountinfo };
static const struct ckfs_node_ops ns_dir_ops = { .populate = ns_populate };

static int add(struct ckfs_tree *t, struct ckfs_node *dir, const char *name,
	       mode_t mode, const struct ckfs_node_ops *ops, uint64_t arg)
{
	struct ckfs_node *c = ckfs_tree_add(t, dir, name, mode, ops);

	if (!c)
		return -ENOMEM;
	c->arg = arg;
	return 0;
}

/* A set to show, or a broken cgroup.img to report (the file reads EIO). */
static bool has_cgroup(struct ckfs_proc *p, uint32_t tid)
{
	const struct ckfs_cg_set *s;

	return ckfs_proc_cg_set(p, tid, &s) != -ENOENT;
}

int ckfs_task_populate_pid(struct ckfs_tree *t, struct ckfs_node *dir)
{
	struct ckfs_proc *p = dir->proc;
	uint32_t pid = ckfs_proc_pstree(p)->pid;
	int r;

	if ((r = add(t, dir, "limits", CKFS_MODE_FILE, &limits_ops, 0)) < 0 ||
	    (r = add(t, dir, "stat", CKFS_MODE_FILE, &stat_ops, 0)) < 0 ||
	    (r = add(t, dir, "ns", CKFS_MODE_DIR, &ns_dir_ops, 0)) < 0 ||
	    (r = add(t, dir, "net", CKFS_MODE_DIR, &ckfs_net_dir_ops, 0)) < 0 ||
	    (r = add(t, dir, "saved", CKFS_MODE_DIR, &ckfs_saved_dir_ops, 0)) <
		    0)
		return r;
	if (has_cgroup(p, pid) &&
	    (r = add(t, dir, "cgroup", CKFS_MODE_FILE, &cgroup_ops, 0)) < 0)
		return r;
	if (ckfs_proc_has_mounts(p) &&
	    (r = add(t, dir, "mountinfo", CKFS_MODE_FILE, &mountinfo_ops, 0)) <
		    0)
		return r;
	return 0;
}

int ckfs_task_populate_tid(struct ckfs_tree *t, struct ckfs_node *dir)
{
	struct ckfs_proc *p = dir->proc;
	uint32_t tid = (uint32_t)dir->arg;
	const struct ckfs_core *c;
	int r;

	r = ckfs_proc_core(p, tid, &c);
	if ((r < 0 || (c->has_regs && c->mtype == MTYPE_X86_64)) &&
	    (r = add(t, dir, "regs", CKFS_MODE_FILE, &regs_ops, tid)) < 0)
		return r;
	if ((r = add(t, dir, "stat", CKFS_MODE_FILE, &stat_ops, tid)) < 0)
		return r;
	if (has_cgroup(p, tid) &&
	    (r = add(t, dir, "cgroup", CKFS_MODE_FILE, &cgroup_ops, tid)) < 0)
		return r;
	return 0;
}
