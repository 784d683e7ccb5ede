/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * protobuf -> plain struct decoders.  Every record is unpacked, copied and
 * freed in the same function; a record that does not decode fails the
 * image with -EBADMSG naming the record.  Counts and sizes from the image
 * are checked before they size an allocation.
 */
#include "image/criu.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "image/image.h"

#include "core.pb-c.h"
#include "fdinfo.pb-c.h"
#include "fs.pb-c.h"
#include "ids.pb-c.h"
#include "inventory.pb-c.h"
#include "memfd.pb-c.h"
#include "mm.pb-c.h"
#include "pagemap.pb-c.h"
#include "pstree.pb-c.h"
#include "remap.pb-c.h"
#include "stats.pb-c.h"

/* Unpack record @i of @img as message @type, or fail the caller. */
#define UNPACK(type, img, i)                                                  \
	((type *)protobuf_c_message_unpack(                                    \
		&CKFS_DESC_##type, NULL, (img)->rec[i].len,                    \
		(const uint8_t *)(img)->buf + (img)->rec[i].off))

#define CKFS_DESC_InventoryEntry inventory_entry__descriptor
#define CKFS_DESC_PstreeEntry pstree_entry__descriptor
#define CKFS_DESC_CoreEntry core_entry__descriptor
#define CKFS_DESC_TaskKobjIdsEntry task_kobj_ids_entry__descriptor
#define CKFS_DESC_MmEntry mm_entry__descriptor
#define CKFS_DESC_PagemapHead pagemap_head__descriptor
#define CKFS_DESC_PagemapEntry pagemap_entry__descriptor
#define CKFS_DESC_FdinfoEntry fdinfo_entry__descriptor
#define CKFS_DESC_FileEntry file_entry__descriptor
#define CKFS_DESC_FsEntry fs_entry__descriptor
#define CKFS_DESC_RemapFilePathEntry remap_file_path_entry__descriptor
#define CKFS_DESC_MemfdInodeEntry memfd_inode_entry__descriptor
#define CKFS_DESC_StatsEntry stats_entry__descriptor

static void pb_free(void *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}
#define _cleanup_pb_ _cleanup_(pb_freep)
static void pb_freep(void *p)
{
	pb_free(*(void **)p);
}

static int bad_record(struct ckfs_err *err, const struct ckfs_img *img,
		      size_t i, const char *what)
{
	return ckfs_err_set(err, -EBADMSG, "%s: record %zu is not a valid %s",
			    img->name, i, what);
}

static int need_records(struct ckfs_err *err, const struct ckfs_img *img,
			size_t n)
{
	if (img->n < n)
		return ckfs_err_set(err, -EBADMSG,
				    "%s: has %zu records, expected at least %zu",
				    img->name, img->n, n);
	return 0;
}

/*
 * load_first() - load image @name, whose type magic must be @magic, and
 * unpack its first record as @desc: the images that hold one message.
 * Returns 0 and the message in *@out (the caller frees it), or -errno
 * with @err naming the image.
 */
static int load_first(struct ckfs_archive *ar, const char *name,
		      uint32_t magic, const ProtobufCMessageDescriptor *desc,
		      void **out, struct ckfs_err *err)
{
	_cleanup_(ckfs_img_freep) struct ckfs_img *img = NULL;
	int r;

	*out = NULL;
	r = ckfs_img_load(ar, name, magic, &img, err);
	if (r < 0)
		return r;
	if ((r = need_records(err, img, 1)) < 0)
		return r;
	*out = protobuf_c_message_unpack(desc, NULL, img->rec[0].len,
					 (const uint8_t *)img->buf +
						 img->rec[0].off);
	if (!*out)
		return bad_record(err, img, 0, desc->name);
	return 0;
}

static char *dup_str(const char *s)
{
	return s ? strdup(s) : NULL;
}

const char *ckfs_fd_type_name(uint32_t type)
{
	static const char *const names[] = {
		"UND",	   "REG",     "PIPE",	  "FIFO",     "INETSK",
		"UNIXSK",  "EVENTFD", "EVENTPOLL", "INOTIFY", "SIGNALFD",
		"PACKETSK", "TTY",    "FANOTIFY", "NETLINKSK", "NS",
		"TUNF",	   "EXT",     "TIMERFD",  "MEMFD",    "BPFMAP",
		"PIDFD",
	};

	return type < CKFS_ARRAY_SIZE(names) ? names[type] : "UNKNOWN";
}

static void ns_ids(const TaskKobjIdsEntry *e, uint32_t ns[8])
{
	ns[0] = e->has_pid_ns_id ? e->pid_ns_id : 0;
	ns[1] = e->has_net_ns_id ? e->net_ns_id : 0;
	ns[2] = e->has_ipc_ns_id ? e->ipc_ns_id : 0;
	ns[3] = e->has_uts_ns_id ? e->uts_ns_id : 0;
	ns[4] = e->has_mnt_ns_id ? e->mnt_ns_id : 0;
	ns[5] = e->has_user_ns_id ? e->user_ns_id : 0;
	ns[6] = e->has_cgroup_ns_id ? e->cgroup_ns_id : 0;
	ns[7] = e->has_time_ns_id ? e->time_ns_id : 0;
}

/* ---- inventory ---- */

#define HAS_BIT(e, field, n) ((e)->has_##field ? 1u << (n) : 0)

/* The inventory fields beyond what the model needs, for metadata.json. */
static int copy_inventory_rest(const InventoryEntry *e,
			       struct ckfs_inventory *out, struct ckfs_err *err)
{
	size_t i, n;

	out->has = HAS_BIT(e, img_version, 1) | HAS_BIT(e, fdinfo_per_id, 2) |
		   (e->root_ids ? 1u << 3 : 0) | HAS_BIT(e, ns_per_id, 4) |
		   HAS_BIT(e, root_cg_set, 5) | HAS_BIT(e, lsmtype, 6) |
		   HAS_BIT(e, dump_uptime, 8) | HAS_BIT(e, pre_dump_mode, 9) |
		   HAS_BIT(e, tcp_close, 10) |
		   HAS_BIT(e, network_lock_method, 11) |
		   (e->plugins_entry ? 1u << 12 : 0) |
		   (e->dump_criu_run_id ? 1u << 13 : 0) |
		   HAS_BIT(e, allow_uprobes, 14);
	out->fdinfo_per_id = e->fdinfo_per_id;
	out->ns_per_id = e->ns_per_id;
	out->tcp_close = e->tcp_close;
	out->allow_uprobes = e->allow_uprobes;
	out->pre_dump_mode = e->pre_dump_mode;
	out->network_lock_method = e->network_lock_method;
	out->dump_uptime = e->dump_uptime;
	n = e->plugins_entry ? e->plugins_entry->n_plugins : 0;
	if (n == 0)
		return 0;
	out->plugins = calloc(n, sizeof(*out->plugins));
	if (!out->plugins)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		out->plugins[i] = strdup(e->plugins_entry->plugins[i] ?
						 e->plugins_entry->plugins[i] :
						 "");
		if (!out->plugins[i])
			return ckfs_err_set(err, -ENOMEM, "out of memory");
		out->nplugins++;
	}
	return 0;
}

int ckfs_img_read_inventory(struct ckfs_archive *ar, const char *name,
			    struct ckfs_inventory *out, struct ckfs_err *err)
{
	_cleanup_pb_ InventoryEntry *e = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	r = load_first(ar, name, CKFS_MAGIC_INVENTORY, &CKFS_DESC_InventoryEntry,
		       (void **)&e, err);
	if (r < 0)
		return r;
	out->img_version = e->img_version;
	out->lsmtype = e->has_lsmtype ? e->lsmtype : 0;
	out->has_root_cg_set = e->has_root_cg_set;
	out->root_cg_set = e->root_cg_set;
	out->criu_run_id = dup_str(e->dump_criu_run_id);
	if (e->root_ids)
		ns_ids(e->root_ids, out->root_ns);
	return copy_inventory_rest(e, out, err);
}

void ckfs_inventory_fini(struct ckfs_inventory *inv)
{
	size_t i;

	for (i = 0; i < inv->nplugins; i++)
		free(inv->plugins[i]);
	free(inv->plugins);
	free(inv->criu_run_id);
	memset(inv, 0, sizeof(*inv));
}

/* ---- pstree ---- */

void ckfs_pstree_free(struct ckfs_pstree_ent *ents, size_t n)
{
	size_t i;

	if (!ents)
		return;
	for (i = 0; i < n; i++)
		free(ents[i].tids);
	free(ents);
}

int ckfs_img_read_pstree(struct ckfs_archive *ar, const char *name,
			 struct ckfs_pstree_ent **out, size_t *n,
			 struct ckfs_err *err)
{
	_cleanup_(ckfs_img_freep) struct ckfs_img *img = NULL;
	struct ckfs_pstree_ent *ents;
	size_t i;
	int r;

	*out = NULL;
	*n = 0;
	r = ckfs_img_load(ar, name, CKFS_MAGIC_PSTREE, &img, err);
	if (r < 0)
		return r;
	if (img->n == 0)
		return ckfs_err_set(err, -EBADMSG, "%s: holds no process",
				    name);
	ents = calloc(img->n, sizeof(*ents));
	if (!ents)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < img->n; i++) {
		_cleanup_pb_ PstreeEntry *e = UNPACK(PstreeEntry, img, i);

		if (!e || !e->has_pid) {
			ckfs_pstree_free(ents, i);
			return bad_record(err, img, i, "pstree_entry");
		}
		ents[i].pid = e->pid;
		ents[i].ppid = e->ppid;
		ents[i].pgid = e->pgid;
		ents[i].sid = e->sid;
		ents[i].ntids = e->n_threads;
		if (e->n_threads) {
			ents[i].tids = malloc(e->n_threads * sizeof(uint32_t));
			if (!ents[i].tids) {
				ckfs_pstree_free(ents, i + 1);
				return ckfs_err_set(err, -ENOMEM,
						    "out of memory");
			}
			memcpy(ents[i].tids, e->threads,
			       e->n_threads * sizeof(uint32_t));
		}
	}
	*out = ents;
	*n = img->n;
	return 0;
}

/* ---- core ---- */

static uint64_t caps64(size_t n, const uint32_t *w)
{
	uint64_t v = 0;

	if (n > 0)
		v = w[0];
	if (n > 1)
		v |= (uint64_t)w[1] << 32;
	return v;
}

static int copy_creds(const CredsEntry *c, struct ckfs_creds *o)
{
	o->uid = c->uid;
	o->gid = c->gid;
	o->euid = c->euid;
	o->egid = c->egid;
	o->suid = c->suid;
	o->sgid = c->sgid;
	o->fsuid = c->fsuid;
	o->fsgid = c->fsgid;
	o->cap_inh = caps64(c->n_cap_inh, c->cap_inh);
	o->cap_prm = caps64(c->n_cap_prm, c->cap_prm);
	o->cap_eff = caps64(c->n_cap_eff, c->cap_eff);
	o->cap_bnd = caps64(c->n_cap_bnd, c->cap_bnd);
	o->cap_amb = caps64(c->n_cap_amb, c->cap_amb);
	o->secbits = c->secbits;
	o->no_new_privs = c->has_no_new_privs ? c->no_new_privs : 0;
	if (c->n_groups) {
		o->groups = malloc(c->n_groups * sizeof(uint32_t));
		if (!o->groups)
			return -ENOMEM;
		memcpy(o->groups, c->groups, c->n_groups * sizeof(uint32_t));
		o->ngroups = c->n_groups;
	}
	if (c->lsm_profile && !(o->lsm_profile = strdup(c->lsm_profile)))
		return -ENOMEM;
	return 0;
}

static uint64_t sigset_of(const SignalQueueEntry *q)
{
	uint64_t set = 0;
	size_t i;

	if (!q)
		return 0;
	for (i = 0; i < q->n_signals; i++) {
		int32_t signo;

		if (!q->signals[i] || !q->signals[i]->siginfo.data ||
		    q->signals[i]->siginfo.len < sizeof(signo))
			continue;
		memcpy(&signo, q->signals[i]->siginfo.data, sizeof(signo));
		if (signo >= 1 && signo <= 64)
			set |= 1ull << (signo - 1);
	}
	return set;
}

static void copy_tc(const TaskCoreEntry *tc, struct ckfs_core *o)
{
	size_t i, sig;

	o->is_leader = true;
	o->task_state = tc->task_state;
	o->exit_code = tc->exit_code;
	o->personality = tc->personality;
	o->flags = tc->flags;
	o->tc_blk_sigset = tc->blk_sigset;
	o->has_oom_score_adj = tc->has_oom_score_adj;
	o->oom_score_adj = tc->oom_score_adj;
	o->has_loginuid = tc->has_loginuid;
	o->loginuid = tc->loginuid;
	o->child_subreaper = tc->has_child_subreaper && tc->child_subreaper;
	o->shd_pnd = sigset_of(tc->signals_s);
	o->nsig_shd = tc->signals_s ? (uint32_t)tc->signals_s->n_signals : 0;
	if (tc->has_cg_set && !o->has_cg_set) {
		o->has_cg_set = true;
		o->cg_set = tc->cg_set;
	}
	/* sigactions list signals 1..64 without SIGKILL (9) and SIGSTOP (19) */
	for (i = 0, sig = 1; sig <= 64 && i < tc->n_sigactions; sig++) {
		uint64_t h;

		if (sig == 9 || sig == 19)
			continue;
		if (!tc->sigactions[i++])
			continue;
		h = tc->sigactions[i - 1]->sigaction;
		if (h == 1)
			o->sig_ign |= 1ull << (sig - 1);
		else if (h > 1)
			o->sig_cgt |= 1ull << (sig - 1);
	}
	if (tc->rlimits) {
		for (i = 0; i < tc->rlimits->n_rlimits && i < CKFS_RLIMITS_MAX;
		     i++) {
			if (!tc->rlimits->rlimits[i])
				continue;
			o->rlim_cur[i] = tc->rlimits->rlimits[i]->cur;
			o->rlim_max[i] = tc->rlimits->rlimits[i]->max;
		}
		o->nrlimits = i;
	}
}

static void copy_words(uint32_t *dst, size_t max, size_t n,
		       const uint32_t *src)
{
	if (n) /* an empty repeated field has a NULL array */
		memcpy(dst, src, (n < max ? n : max) * sizeof(uint32_t));
}

static void copy_x86(const ThreadInfoX86 *ti, struct ckfs_core *o)
{
	const UserX86RegsEntry *g = ti->gpregs;
	const UserX86FpregsEntry *f = ti->fpregs;

	o->clear_tid_addr = ti->clear_tid_addr;
	if (g) {
		uint64_t r[27] = {
			g->r15, g->r14, g->r13, g->r12, g->bp,	    g->bx,
			g->r11, g->r10, g->r9,	g->r8,	g->ax,	    g->cx,
			g->dx,	g->si,	g->di,	g->orig_ax, g->ip, g->cs,
			g->flags, g->sp, g->ss, g->fs_base, g->gs_base,
			g->ds,	g->es,	g->fs,	g->gs,
		};

		o->has_regs = true;
		memcpy(o->regs, r, sizeof(r));
		o->regs_mode = g->has_mode ? (uint32_t)g->mode : 1;
	}
	if (f) {
		o->has_fpregs = true;
		o->fp.cwd = (uint16_t)f->cwd;
		o->fp.swd = (uint16_t)f->swd;
		o->fp.twd = (uint16_t)f->twd;
		o->fp.fop = (uint16_t)f->fop;
		o->fp.rip = f->rip;
		o->fp.rdp = f->rdp;
		o->fp.mxcsr = f->mxcsr;
		o->fp.mxcsr_mask = f->mxcsr_mask;
		copy_words(o->fp.st_space, CKFS_ST_WORDS, f->n_st_space,
			   f->st_space);
		copy_words(o->fp.xmm_space, CKFS_XMM_WORDS, f->n_xmm_space,
			   f->xmm_space);
		if (f->xsave) {
			o->fp.has_xsave = true;
			o->fp.xstate_bv = f->xsave->xstate_bv;
			if (f->xsave->n_ymmh_space >= 64) {
				o->fp.has_ymmh = true;
				copy_words(o->fp.ymmh_space, 64,
					   f->xsave->n_ymmh_space,
					   f->xsave->ymmh_space);
			}
		}
	}
}

int ckfs_img_read_core(struct ckfs_archive *ar, const char *name,
		       struct ckfs_core *out, struct ckfs_err *err)
{
	_cleanup_pb_ CoreEntry *e = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	r = load_first(ar, name, CKFS_MAGIC_CORE, &CKFS_DESC_CoreEntry,
		       (void **)&e, err);
	if (r < 0)
		return r;
	out->mtype = e->mtype;
	if (e->tc) {
		copy_tc(e->tc, out);
		if (e->tc->comm && !(out->tc_comm = strdup(e->tc->comm)))
			goto oom;
	}
	if (e->thread_core) {
		const ThreadCoreEntry *t = e->thread_core;

		out->has_thread_core = true;
		out->has_blk_sigset = t->has_blk_sigset;
		out->blk_sigset = t->blk_sigset;
		out->sched_nice = t->sched_nice;
		out->sched_policy = t->sched_policy;
		out->sched_prio = t->sched_prio;
		out->sig_pnd = sigset_of(t->signals_p);
		if (t->signals_p)
			out->nsig_prv = (uint32_t)t->signals_p->n_signals;
		if (t->has_cg_set) {
			out->has_cg_set = true;
			out->cg_set = t->cg_set;
		}
		out->seccomp_mode = t->has_seccomp_mode ? t->seccomp_mode : 0;
		out->has_seccomp_filter = t->has_seccomp_filter;
		out->seccomp_filter = t->seccomp_filter;
		if (t->comm && !(out->comm = strdup(t->comm)))
			goto oom;
		if (t->creds) {
			out->has_creds = true;
			if (copy_creds(t->creds, &out->creds) < 0)
				goto oom;
		}
	}
	if (e->thread_info)
		copy_x86(e->thread_info, out);
	return 0;
oom:
	ckfs_core_fini(out);
	return ckfs_err_set(err, -ENOMEM, "out of memory");
}

void ckfs_core_fini(struct ckfs_core *c)
{
	free(c->tc_comm);
	free(c->comm);
	free(c->creds.groups);
	free(c->creds.lsm_profile);
	memset(c, 0, sizeof(*c));
}

/* ---- ids, fs ---- */

int ckfs_img_read_ids(struct ckfs_archive *ar, const char *name,
		      struct ckfs_ids *out, struct ckfs_err *err)
{
	_cleanup_pb_ TaskKobjIdsEntry *e = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	r = load_first(ar, name, CKFS_MAGIC_IDS, &CKFS_DESC_TaskKobjIdsEntry,
		       (void **)&e, err);
	if (r < 0)
		return r;
	out->vm_id = e->vm_id;
	out->files_id = e->files_id;
	out->fs_id = e->fs_id;
	out->sighand_id = e->sighand_id;
	ns_ids(e, out->ns);
	return 0;
}

int ckfs_img_read_fs(struct ckfs_archive *ar, const char *name,
		     struct ckfs_fs *out, struct ckfs_err *err)
{
	_cleanup_pb_ FsEntry *e = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	r = load_first(ar, name, CKFS_MAGIC_FS, &CKFS_DESC_FsEntry,
		       (void **)&e, err);
	if (r < 0)
		return r;
	out->cwd_id = e->cwd_id;
	out->root_id = e->root_id;
	out->has_umask = e->has_umask;
	out->umask = e->umask;
	return 0;
}

/* ---- mm ---- */

void ckfs_mm_fini(struct ckfs_mm *mm)
{
	free(mm->auxv);
	free(mm->vmas);
	memset(mm, 0, sizeof(*mm));
}

int ckfs_img_read_mm(struct ckfs_archive *ar, const char *name,
		     struct ckfs_mm *out, struct ckfs_err *err)
{
	_cleanup_(ckfs_img_freep) struct ckfs_img *img = NULL;
	_cleanup_pb_ MmEntry *e = NULL;
	size_t i;
	int r;

	memset(out, 0, sizeof(*out));
	r = ckfs_img_load(ar, name, CKFS_MAGIC_MM, &img, err);
	if (r < 0)
		return r;
	if ((r = need_records(err, img, 1)) < 0)
		return r;
	e = UNPACK(MmEntry, img, 0);
	if (!e)
		return bad_record(err, img, 0, "mm_entry");
	out->start_code = e->mm_start_code;
	out->end_code = e->mm_end_code;
	out->start_data = e->mm_start_data;
	out->end_data = e->mm_end_data;
	out->start_stack = e->mm_start_stack;
	out->start_brk = e->mm_start_brk;
	out->brk = e->mm_brk;
	out->arg_start = e->mm_arg_start;
	out->arg_end = e->mm_arg_end;
	out->env_start = e->mm_env_start;
	out->env_end = e->mm_env_end;
	out->has_exe_file_id = e->has_exe_file_id;
	out->exe_file_id = e->exe_file_id;
	out->dumpable = e->dumpable;
	out->thp_disabled = e->has_thp_disabled && e->thp_disabled;
	if (e->n_mm_saved_auxv) {
		out->auxv = malloc(e->n_mm_saved_auxv * sizeof(uint64_t));
		if (!out->auxv)
			goto oom;
		memcpy(out->auxv, e->mm_saved_auxv,
		       e->n_mm_saved_auxv * sizeof(uint64_t));
		out->nauxv = e->n_mm_saved_auxv;
	}
	if (e->n_vmas) {
		out->vmas = calloc(e->n_vmas, sizeof(*out->vmas));
		if (!out->vmas)
			goto oom;
	}
	for (i = 0; i < e->n_vmas; i++) {
		const VmaEntry *v = e->vmas[i];
		struct ckfs_vma *o;

		if (!v)
			continue;
		/* CRIU 4.2+ appends fake GUARD entries; they are not VMAs */
		if (v->status & CKFS_VMA_GUARD)
			continue;
		if (v->end <= v->start) {
			ckfs_mm_fini(out);
			return ckfs_err_set(err, -EBADMSG,
					    "%s: vma %zu ends before it starts",
					    name, i);
		}
		o = &out->vmas[out->nvmas++];
		o->start = v->start;
		o->end = v->end;
		o->pgoff = v->pgoff;
		o->shmid = v->shmid;
		o->prot = v->prot;
		o->flags = v->flags;
		o->status = v->status;
		o->madv = v->has_madv ? v->madv : 0;
		o->fdflags = v->has_fdflags ? v->fdflags : 0;
	}
	return 0;
oom:
	ckfs_mm_fini(out);
	return ckfs_err_set(err, -ENOMEM, "out of memory");
}

/* ---- pagemap ---- */

void ckfs_pagemap_fini(struct ckfs_pagemap *pm)
{
	free(pm->runs);
	memset(pm, 0, sizeof(*pm));
}

static int run_cmp(const void *a, const void *b)
{
	const struct ckfs_pm_run *x = a, *y = b;

	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

int ckfs_img_read_pagemap(struct ckfs_archive *ar, const char *name,
			  uint64_t page_size, struct ckfs_pagemap *out,
			  struct ckfs_err *err)
{
	_cleanup_(ckfs_img_freep) struct ckfs_img *img = NULL;
	_cleanup_pb_ PagemapHead *h = NULL;
	uint64_t off = 0;
	size_t i;
	int r;

	memset(out, 0, sizeof(*out));
	r = ckfs_img_load(ar, name, CKFS_MAGIC_PAGEMAP, &img, err);
	if (r < 0)
		return r;
	if ((r = need_records(err, img, 1)) < 0)
		return r;
	h = UNPACK(PagemapHead, img, 0);
	if (!h)
		return bad_record(err, img, 0, "pagemap_head");
	out->pages_id = h->pages_id;
	out->runs = calloc(img->n, sizeof(*out->runs));
	if (!out->runs)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	for (i = 1; i < img->n; i++) {
		_cleanup_pb_ PagemapEntry *e = UNPACK(PagemapEntry, img, i);
		struct ckfs_pm_run *run;
		uint64_t n, bytes, end;

		if (!e) {
			ckfs_pagemap_fini(out);
			return bad_record(err, img, i, "pagemap_entry");
		}
		/* CRIU 4.2 moved the count to field 5 and writes 0 in 2 */
		n = e->has_nr_pages ? e->nr_pages : e->compat_nr_pages;
		if (n == 0)
			continue;
		run = &out->runs[out->n++];
		run->vaddr = e->vaddr;
		run->npages = n;
		if (e->has_flags)
			run->flags = e->flags;
		else
			run->flags = (e->has_in_parent && e->in_parent) ?
					     CKFS_PE_PARENT :
					     CKFS_PE_PRESENT;
		if (__builtin_mul_overflow(n, page_size, &bytes) ||
		    __builtin_add_overflow(e->vaddr, bytes, &end) ||
		    e->vaddr % page_size) {
			ckfs_pagemap_fini(out);
			return ckfs_err_set(
				err, -EOVERFLOW,
				"%s: entry %zu (vaddr 0x%llx, %llu pages) overflows the address space",
				name, i, (unsigned long long)e->vaddr,
				(unsigned long long)n);
		}
		if (run->flags & CKFS_PE_PRESENT) {
			run->pages_off = off;
			if (__builtin_add_overflow(off, bytes, &off)) {
				ckfs_pagemap_fini(out);
				return ckfs_err_set(
					err, -EOVERFLOW,
					"%s: entry %zu: page offsets overflow 64 bits",
					name, i);
			}
		}
	}
	out->pages_bytes = off;
	qsort(out->runs, out->n, sizeof(*out->runs), run_cmp);
	for (i = 1; i < out->n; i++) {
		const struct ckfs_pm_run *p = &out->runs[i - 1];

		if (p->vaddr + p->npages * page_size > out->runs[i].vaddr) {
			/* fini clears runs: take the address first */
			unsigned long long at = out->runs[i].vaddr;

			ckfs_pagemap_fini(out);
			return ckfs_err_set(err, -EBADMSG,
					    "%s: entries overlap at 0x%llx",
					    name, at);
		}
	}
	return 0;
}

/* ---- fdinfo, files ---- */

int ckfs_img_read_fdinfo(struct ckfs_archive *ar, const char *name,
			 struct ckfs_fdinfo **out, size_t *n,
			 struct ckfs_err *err)
{
	_cleanup_(ckfs_img_freep) struct ckfs_img *img = NULL;
	_cleanup_free_ struct ckfs_fdinfo *fds = NULL;
	size_t i;
	int r;

	*out = NULL;
	*n = 0;
	r = ckfs_img_load(ar, name, CKFS_MAGIC_FDINFO, &img, err);
	if (r < 0)
		return r;
	if (img->n == 0)
		return 0;
	fds = calloc(img->n, sizeof(*fds));
	if (!fds)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < img->n; i++) {
		_cleanup_pb_ FdinfoEntry *e = UNPACK(FdinfoEntry, img, i);

		if (!e)
			return bad_record(err, img, i, "fdinfo_entry");
		fds[i].id = e->id;
		fds[i].flags = e->flags;
		fds[i].type = e->type;
		fds[i].fd = e->fd;
	}
	*out = steal_ptr(&fds);
	*n = img->n;
	return 0;
}

void ckfs_files_fini(struct ckfs_files *fl)
{
	size_t i;

	for (i = 0; i < fl->n; i++)
		free(fl->f[i].name);
	free(fl->f);
	memset(fl, 0, sizeof(*fl));
}

static int file_cmp(const void *a, const void *b)
{
	const struct ckfs_file *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

const struct ckfs_file *ckfs_files_find(const struct ckfs_files *fl,
					uint32_t id)
{
	struct ckfs_file key = { .id = id };

	return fl->n ? bsearch(&key, fl->f, fl->n, sizeof(*fl->f), file_cmp) :
		       NULL;
}

static void copy_addr(uint32_t dst[4], size_t n, const uint32_t *src)
{
	if (n) /* an empty repeated field has a NULL array */
		memcpy(dst, src, (n < 4 ? n : 4) * sizeof(uint32_t));
}

/* The socket buffer sizes (sk_opts_entry), which checkpointctl shows. */
static void copy_sk_bufs(const FileEntry *e, struct ckfs_file *o)
{
	const SkOptsEntry *opts = e->usk ? e->usk->opts :
				  e->isk ? e->isk->opts :
				  e->nlsk ? e->nlsk->opts :
					    NULL;

	if (opts) {
		o->so_sndbuf = opts->so_sndbuf;
		o->so_rcvbuf = opts->so_rcvbuf;
	}
}

static int copy_file(const FileEntry *e, struct ckfs_file *o)
{
	const char *name = NULL;

	o->id = e->id;
	o->type = e->type;
	if (e->reg) {
		o->flags = e->reg->flags;
		o->pos = e->reg->pos;
		o->has_mnt_id = e->reg->has_mnt_id;
		o->mnt_id = e->reg->mnt_id;
		o->size = e->reg->size;
		o->mode = e->reg->mode;
		name = e->reg->name;
	} else if (e->pipe) {
		o->flags = e->pipe->flags;
		o->ino = e->pipe->pipe_id;
	} else if (e->fifo) {
		o->ino = e->fifo->pipe_id;
		o->regf_id = e->fifo->regf_id;
	} else if (e->usk) {
		o->flags = e->usk->flags;
		o->ino = e->usk->ino;
		o->sk_family = 1;
		o->sk_type = e->usk->type;
		o->sk_state = e->usk->state;
		o->peer = e->usk->peer;
		if (e->usk->name.len) {
			o->name = malloc(e->usk->name.len + 1);
			if (!o->name)
				return -ENOMEM;
			memcpy(o->name, e->usk->name.data, e->usk->name.len);
			o->name[e->usk->name.len] = '\0';
			o->name_len = e->usk->name.len;
		}
	} else if (e->isk) {
		o->flags = e->isk->flags;
		o->ino = e->isk->ino;
		o->sk_family = e->isk->family;
		o->sk_type = e->isk->type;
		o->sk_proto = e->isk->proto;
		o->sk_state = e->isk->state;
		o->src_port = e->isk->src_port;
		o->dst_port = e->isk->dst_port;
		copy_addr(o->src_addr, e->isk->n_src_addr, e->isk->src_addr);
		copy_addr(o->dst_addr, e->isk->n_dst_addr, e->isk->dst_addr);
	} else if (e->nlsk) {
		o->flags = e->nlsk->flags;
		o->ino = e->nlsk->ino;
		o->sk_family = 16;
		o->sk_proto = e->nlsk->protocol;
		o->sk_state = e->nlsk->state;
		o->nl_portid = e->nlsk->portid;
		o->nl_groups = e->nlsk->n_groups ? e->nlsk->groups[0] : 0;
	} else if (e->psk) {
		o->sk_family = 17; /* AF_PACKET; no ino is recorded */
		o->sk_type = e->psk->type;
		o->sk_proto = e->psk->protocol;
		o->pk_ifindex = e->psk->ifindex;
	} else if (e->efd) {
		o->flags = e->efd->flags;
		o->counter = e->efd->counter;
	} else if (e->epfd) {
		o->flags = e->epfd->flags;
	} else if (e->sgfd) {
		o->flags = e->sgfd->flags;
		o->sigmask = e->sgfd->sigmask;
	} else if (e->tfd) {
		o->flags = e->tfd->flags;
	} else if (e->ify) {
		o->flags = e->ify->flags;
	} else if (e->tty) {
		o->flags = e->tty->flags;
		o->regf_id = e->tty->regf_id;
	} else if (e->nsf) {
		o->flags = e->nsf->flags;
		o->ns_cflag = e->nsf->ns_cflag;
	} else if (e->memfd) {
		o->flags = e->memfd->flags;
		o->pos = e->memfd->pos;
		o->inode_id = e->memfd->inode_id;
	} else if (e->pidfd) {
		o->flags = e->pidfd->flags;
		o->ino = e->pidfd->ino;
	}
	copy_sk_bufs(e, o);
	if (name) {
		o->name = strdup(name);
		if (!o->name)
			return -ENOMEM;
		o->name_len = strlen(name);
	}
	return 0;
}

int ckfs_img_read_files(struct ckfs_archive *ar, const char *name,
			struct ckfs_files *out, struct ckfs_err *err)
{
	_cleanup_(ckfs_img_freep) struct ckfs_img *img = NULL;
	size_t i;
	int r;

	memset(out, 0, sizeof(*out));
	r = ckfs_img_load(ar, name, CKFS_MAGIC_FILES, &img, err);
	if (r < 0)
		return r;
	if (img->n == 0)
		return 0;
	out->f = calloc(img->n, sizeof(*out->f));
	if (!out->f)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < img->n; i++) {
		_cleanup_pb_ FileEntry *e = UNPACK(FileEntry, img, i);

		if (!e) {
			ckfs_files_fini(out);
			return bad_record(err, img, i, "file_entry");
		}
		out->n++;
		if (copy_file(e, &out->f[i]) < 0) {
			ckfs_files_fini(out);
			return ckfs_err_set(err, -ENOMEM, "out of memory");
		}
	}
	qsort(out->f, out->n, sizeof(*out->f), file_cmp);
	return 0;
}

/* ---- remap-fpath, memfd, stats ---- */

int ckfs_img_read_remaps(struct ckfs_archive *ar, const char *name,
			 struct ckfs_remap **out, size_t *n,
			 struct ckfs_err *err)
{
	_cleanup_(ckfs_img_freep) struct ckfs_img *img = NULL;
	_cleanup_free_ struct ckfs_remap *rm = NULL;
	size_t i;
	int r;

	*out = NULL;
	*n = 0;
	if (!ckfs_archive_find(ar, name))
		return 0;
	r = ckfs_img_load(ar, name, CKFS_MAGIC_REMAP_FPATH, &img, err);
	if (r < 0)
		return r;
	if (img->n == 0)
		return 0;
	rm = calloc(img->n, sizeof(*rm));
	if (!rm)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < img->n; i++) {
		_cleanup_pb_ RemapFilePathEntry *e =
			UNPACK(RemapFilePathEntry, img, i);

		if (!e)
			return bad_record(err, img, i, "remap_file_path_entry");
		rm[i].orig_id = e->orig_id;
		rm[i].remap_id = e->remap_id;
		if (e->has_remap_type)
			rm[i].remap_type = e->remap_type;
		else /* old images: bit 31 marks a ghost */
			rm[i].remap_type = (e->remap_id >> 31) ? 1 : 0;
	}
	*out = steal_ptr(&rm);
	*n = img->n;
	return 0;
}

void ckfs_memfds_free(struct ckfs_memfd_inode *m, size_t n)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < n; i++)
		free(m[i].name);
	free(m);
}

int ckfs_img_read_memfds(struct ckfs_archive *ar, const char *name,
			 struct ckfs_memfd_inode **out, size_t *n,
			 struct ckfs_err *err)
{
	_cleanup_(ckfs_img_freep) struct ckfs_img *img = NULL;
	struct ckfs_memfd_inode *m;
	size_t i;
	int r;

	*out = NULL;
	*n = 0;
	if (!ckfs_archive_find(ar, name))
		return 0;
	r = ckfs_img_load(ar, name, CKFS_MAGIC_MEMFD_INODE, &img, err);
	if (r < 0)
		return r;
	if (img->n == 0)
		return 0;
	m = calloc(img->n, sizeof(*m));
	if (!m)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < img->n; i++) {
		_cleanup_pb_ MemfdInodeEntry *e =
			UNPACK(MemfdInodeEntry, img, i);

		if (!e) {
			ckfs_memfds_free(m, i);
			return bad_record(err, img, i, "memfd_inode_entry");
		}
		m[i].inode_id = e->has_inode_id ? (uint32_t)e->inode_id : 0;
		m[i].shmid = e->shmid;
		m[i].size = e->size;
		m[i].name = dup_str(e->name);
	}
	*out = m;
	*n = img->n;
	return 0;
}

static void copy_stats_rest(const DumpStatsEntry *d, struct ckfs_stats *out)
{
	out->irmap_resolve = d->irmap_resolve;
	out->page_pipes = d->page_pipes;
	out->page_pipe_bufs = d->page_pipe_bufs;
	out->shpages_scanned = d->shpages_scanned;
	out->shpages_skipped_parent = d->shpages_skipped_parent;
	out->shpages_written = d->shpages_written;
	out->has = HAS_BIT(d, freezing_time, 1) | HAS_BIT(d, frozen_time, 2) |
		   HAS_BIT(d, memdump_time, 3) | HAS_BIT(d, memwrite_time, 4) |
		   HAS_BIT(d, pages_scanned, 5) |
		   HAS_BIT(d, pages_skipped_parent, 6) |
		   HAS_BIT(d, pages_written, 7) | HAS_BIT(d, irmap_resolve, 8) |
		   HAS_BIT(d, pages_lazy, 9) | HAS_BIT(d, page_pipes, 10) |
		   HAS_BIT(d, page_pipe_bufs, 11) |
		   HAS_BIT(d, shpages_scanned, 12) |
		   HAS_BIT(d, shpages_skipped_parent, 13) |
		   HAS_BIT(d, shpages_written, 14);
}

int ckfs_img_read_stats(struct ckfs_archive *ar, const char *name,
			struct ckfs_stats *out, struct ckfs_err *err)
{
	_cleanup_pb_ StatsEntry *e = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if (!ckfs_archive_find(ar, name))
		return 0;
	r = load_first(ar, name, CKFS_MAGIC_STATS, &CKFS_DESC_StatsEntry,
		       (void **)&e, err);
	if (r < 0)
		return r;
	if (e->dump) {
		out->present = true;
		out->freezing_time = e->dump->freezing_time;
		out->frozen_time = e->dump->frozen_time;
		out->memdump_time = e->dump->memdump_time;
		out->memwrite_time = e->dump->memwrite_time;
		out->pages_scanned = e->dump->pages_scanned;
		out->pages_skipped_parent = e->dump->pages_skipped_parent;
		out->pages_written = e->dump->pages_written;
		out->pages_lazy = e->dump->pages_lazy;
		copy_stats_rest(e->dump, out);
	}
	return 0;
}
