/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "model/model_i.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "model/engine_i.h"
#include "model/extra_i.h"

#define CKFS_THREADS_MAX (1u << 20)
#define AT_PAGESZ 6

void ckfs_unit_fail(struct ckfs_unit *u, const struct ckfs_err *err)
{
	u->state = -EIO;
	snprintf(u->msg, sizeof(u->msg), "%s",
		 err && err->msg[0] ? err->msg : "cannot be decoded");
}

const struct ckfs_member *ckfs_ckpt_member(struct ckfs_ckpt *ck,
					   const char *fmt, ...)
{
	char name[CKFS_ARCHIVE_NAME_MAX];
	int n = snprintf(name, sizeof(name), "%s", ck->dir);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name + n, sizeof(name) - (size_t)n, fmt, ap);
	va_end(ap);
	return ckfs_archive_find(ck->ar, name);
}

/* The full member name of image @fmt in the image directory. */
static void image_name(struct ckfs_ckpt *ck, char *out, size_t outsz,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void image_name(struct ckfs_ckpt *ck, char *out, size_t outsz,
		       const char *fmt, ...)
{
	int n = snprintf(out, outsz, "%s", ck->dir);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out + n, outsz - (size_t)n, fmt, ap);
	va_end(ap);
}

static int pid_cmp(const void *a, const void *b, void *arg)
{
	const struct ckfs_proc *procs = arg;
	uint32_t x = procs[*(const uint32_t *)a].pst.pid;
	uint32_t y = procs[*(const uint32_t *)b].pst.pid;

	return x < y ? -1 : x > y;
}

static int find_image_dir(struct ckfs_ckpt *ck, struct ckfs_err *err)
{
	const char *name, *slash;
	size_t i;

	for (i = 0; i < CKFS_CKPT_MARKERS; i++)
		if (ckfs_archive_find(ck->ar, ckfs_ckpt_markers[i]))
			break;
	if (i == CKFS_CKPT_MARKERS)
		return ckfs_err_set(
			err, -ENOENT,
			"%s: pstree.img: missing from the archive (looked in checkpoint/ and at the top): not a CRIU checkpoint",
			ckfs_archive_path(ck->ar));
	name = ckfs_ckpt_markers[i];
	slash = strrchr(name, '/');
	ck->dir = strndup(name, slash ? (size_t)(slash - name) + 1 : 0);
	return ck->dir ? 0 : ckfs_err_set(err, -ENOMEM, "out of memory");
}

/* On failure: free the entries not yet moved into procs, and the array. */
static void drop_ents(struct ckfs_pstree_ent *ents, size_t from, size_t n)
{
	for (; from < n; from++)
		free(ents[from].tids);
	free(ents);
}

static int load_pstree(struct ckfs_ckpt *ck, struct ckfs_err *err)
{
	char name[CKFS_ARCHIVE_NAME_MAX];
	struct ckfs_pstree_ent *ents;
	size_t n, i, j;
	int r;

	image_name(ck, name, sizeof(name), "pstree.img");
	r = ckfs_img_read_pstree(ck->ar, name, &ents, &n, err);
	if (r < 0)
		return r;
	ck->procs = calloc(n, sizeof(*ck->procs));
	ck->pid_order = calloc(n, sizeof(*ck->pid_order));
	if (!ck->procs || !ck->pid_order) {
		ckfs_pstree_free(ents, n);
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	}
	for (i = 0; i < n; i++) {
		struct ckfs_proc *p = &ck->procs[i];

		p->ck = ck;
		p->pst = ents[i];
		ents[i].tids = NULL;
		pthread_mutex_init(&p->lock, NULL);
		pthread_mutex_init(&p->files_lock, NULL);
		ck->nprocs++;
		ck->pid_order[i] = (uint32_t)i;
		if (p->pst.ntids > CKFS_THREADS_MAX) {
			drop_ents(ents, i + 1, n);
			return ckfs_err_set(err, -EOVERFLOW,
					    "%s: pid %u has %zu threads", name,
					    p->pst.pid, p->pst.ntids);
		}
		if (p->pst.ntids == 0) {
			/* a leader always has itself as a thread */
			p->pst.tids = malloc(sizeof(uint32_t));
			if (!p->pst.tids) {
				drop_ents(ents, i + 1, n);
				return ckfs_err_set(err, -ENOMEM,
						    "out of memory");
			}
			p->pst.tids[0] = p->pst.pid;
			p->pst.ntids = 1;
		}
		p->threads = calloc(p->pst.ntids, sizeof(*p->threads));
		if (!p->threads) {
			drop_ents(ents, i + 1, n);
			return ckfs_err_set(err, -ENOMEM, "out of memory");
		}
		for (j = 0; j < p->pst.ntids; j++)
			p->threads[j].tid = p->pst.tids[j];
	}
	free(ents);
	qsort_r(ck->pid_order, n, sizeof(*ck->pid_order), pid_cmp, ck->procs);
	for (i = 1; i < n; i++) {
		if (ck->procs[ck->pid_order[i]].pst.pid ==
		    ck->procs[ck->pid_order[i - 1]].pst.pid)
			return ckfs_err_set(err, -EBADMSG,
					    "%s: pid %u appears twice", name,
					    ck->procs[ck->pid_order[i]].pst.pid);
	}
	return 0;
}

int ckfs_ckpt_open(const char *path, struct ckfs_ckpt **out,
		   struct ckfs_err *err)
{
	struct ckfs_ckpt *ck;
	char name[CKFS_ARCHIVE_NAME_MAX];
	int r, r2;

	*out = NULL;
	ck = calloc(1, sizeof(*ck));
	if (!ck)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&ck->lock, NULL);
	pthread_mutex_init(&ck->sizes_lock, NULL);
	r = ckfs_archive_open(path, &ck->ar, err);
	if (r < 0)
		goto fail;
	r = find_image_dir(ck, err);
	if (r < 0)
		goto fail;
	image_name(ck, name, sizeof(name), "inventory.img");
	if (ckfs_archive_find(ck->ar, name)) {
		r = ckfs_img_read_inventory(ck->ar, name, &ck->inv, err);
		if (r < 0)
			goto fail;
		ck->has_inventory = true;
	}
	r = load_pstree(ck, err);
	if (r < 0)
		goto fail;
	r = ckfs_container_load(ck, err);
	if (r < 0)
		goto fail;
	ckfs_engine_load(ck);
	*out = ck;
	return 0;
fail:
	/* a member "missing" from a stream that broke: say what broke */
	if (ck->ar && (r2 = ckfs_archive_status(ck->ar, err)) < 0)
		r = r2;
	ckfs_ckpt_free(ck);
	return r;
}

static void proc_fini(struct ckfs_proc *p)
{
	size_t i;

	for (i = 0; p->threads && i < p->pst.ntids; i++)
		ckfs_core_fini(&p->threads[i].core);
	free(p->threads);
	free(p->pst.tids);
	ckfs_mm_fini(&p->mm.mm);
	ckfs_pagemap_fini(&p->mm.pm);
	for (i = 0; i < p->files.nfds; i++)
		free(p->files.fds[i].target);
	free(p->files.fds);
	free(p->files.cwd);
	free(p->files.root);
	free(p->files.exe);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->files_lock);
}

void ckfs_ckpt_free(struct ckfs_ckpt *ck)
{
	size_t i;

	if (!ck)
		return;
	for (i = 0; i < ck->nprocs; i++)
		proc_fini(&ck->procs[i]);
	free(ck->procs);
	free(ck->pid_order);
	ckfs_inventory_fini(&ck->inv);
	ckfs_engine_free(ck);
	ckfs_container_fini(&ck->ct);
	ckfs_files_fini(&ck->files);
	free(ck->remaps);
	ckfs_memfds_free(ck->memfds, ck->nmemfds);
	ckfs_shm_free_all(ck);
	ckfs_xunits_free(ck);
	ckfs_memsrc_free(ck->ms);
	ckfs_archive_free(ck->ar);
	free(ck->dir);
	pthread_mutex_destroy(&ck->sizes_lock);
	pthread_mutex_destroy(&ck->lock);
	free(ck);
}

struct ckfs_archive *ckfs_ckpt_archive(const struct ckfs_ckpt *ck)
{
	return ck->ar;
}

const char *ckfs_ckpt_image_dir(const struct ckfs_ckpt *ck)
{
	return ck->dir;
}

const struct ckfs_inventory *ckfs_ckpt_inventory(const struct ckfs_ckpt *ck)
{
	return ck->has_inventory ? &ck->inv : NULL;
}

const struct ckfs_container *ckfs_ckpt_container(const struct ckfs_ckpt *ck)
{
	ckfs_container_sizes((struct ckfs_ckpt *)ck);
	return &ck->ct;
}

size_t ckfs_ckpt_nprocs(const struct ckfs_ckpt *ck)
{
	return ck->nprocs;
}

struct ckfs_proc *ckfs_ckpt_proc(struct ckfs_ckpt *ck, size_t i)
{
	return i < ck->nprocs ? &ck->procs[i] : NULL;
}

struct ckfs_proc *ckfs_ckpt_find_proc(struct ckfs_ckpt *ck, uint32_t pid)
{
	size_t lo = 0, hi = ck->nprocs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct ckfs_proc *p = &ck->procs[ck->pid_order[mid]];

		if (p->pst.pid == pid)
			return p;
		if (p->pst.pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct ckfs_pstree_ent *ckfs_proc_pstree(const struct ckfs_proc *p)
{
	return &p->pst;
}

struct ckfs_ckpt *ckfs_proc_ckpt(const struct ckfs_proc *p)
{
	return p->ck;
}

const char *ckfs_proc_error(struct ckfs_proc *p)
{
	size_t i;

	if (p->mm_u.state < 0)
		return p->mm_u.msg;
	if (p->files_u.state < 0)
		return p->files_u.msg;
	if (p->ids_u.state < 0)
		return p->ids_u.msg;
	for (i = 0; i < p->pst.ntids; i++)
		if (p->threads[i].u.state < 0)
			return p->threads[i].u.msg;
	return "";
}

/* ---- per-thread core ---- */

int ckfs_proc_core(struct ckfs_proc *p, uint32_t tid,
		   const struct ckfs_core **out)
{
	struct ckfs_thread *t = NULL;
	size_t i;
	int r;

	for (i = 0; i < p->pst.ntids; i++)
		if (p->threads[i].tid == tid)
			t = &p->threads[i];
	if (!t)
		return -ENOENT;
	pthread_mutex_lock(&p->lock);
	if (t->u.state == 0) {
		char name[CKFS_ARCHIVE_NAME_MAX];
		struct ckfs_err err = { 0 };

		image_name(p->ck, name, sizeof(name), "core-%u.img", tid);
		r = ckfs_img_read_core(p->ck->ar, name, &t->core, &err);
		if (r < 0)
			ckfs_unit_fail(&t->u, &err);
		else
			t->u.state = 1;
	}
	r = t->u.state;
	pthread_mutex_unlock(&p->lock);
	if (r < 0)
		return r;
	*out = &t->core;
	return 0;
}

const char *ckfs_proc_comm(struct ckfs_proc *p)
{
	const struct ckfs_core *c;

	if (ckfs_proc_core(p, p->pst.pid, &c) < 0)
		return "";
	if (c->tc_comm)
		return c->tc_comm;
	return c->comm ? c->comm : "";
}

static bool is_zombie(struct ckfs_proc *p)
{
	const struct ckfs_core *c;

	return ckfs_proc_core(p, p->pst.pid, &c) == 0 && c->is_leader &&
	       c->task_state == CKFS_TASK_DEAD;
}

/* ---- memory unit ---- */

static int vma_cmp(const void *a, const void *b)
{
	const struct ckfs_vma *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static uint64_t page_size_of(const struct ckfs_mm *mm)
{
	size_t i;

	for (i = 0; i + 1 < mm->nauxv; i += 2) {
		uint64_t v = mm->auxv[i + 1];

		if (mm->auxv[i] == AT_PAGESZ && v >= 4096 &&
		    v <= (1u << 22) && !(v & (v - 1)))
			return v;
	}
	return 4096;
}

static int load_mm(struct ckfs_proc *p, struct ckfs_err *err)
{
	struct ckfs_proc_mm *m = &p->mm;
	char name[CKFS_ARCHIVE_NAME_MAX];
	size_t i;
	int r;

	image_name(p->ck, name, sizeof(name), "mm-%u.img", p->pst.pid);
	r = ckfs_img_read_mm(p->ck->ar, name, &m->mm, err);
	if (r < 0)
		return r;
	m->page_size = page_size_of(&m->mm);
	qsort(m->mm.vmas, m->mm.nvmas, sizeof(*m->mm.vmas), vma_cmp);
	for (i = 0; i < m->mm.nvmas; i++) {
		const struct ckfs_vma *v = &m->mm.vmas[i];

		if (i > 0 && m->mm.vmas[i - 1].end > v->start)
			return ckfs_err_set(err, -EBADMSG,
					    "%s: mappings overlap at 0x%llx",
					    name,
					    (unsigned long long)v->start);
		if (v->end <= (uint64_t)INT64_MAX)
			m->mem_size = v->end;
		if (v->status & (CKFS_VMA_ANON_SHARED | CKFS_VMA_MEMFD |
				 CKFS_VMA_SYSVIPC) ||
		    (v->flags & 0x1 /* MAP_SHARED */))
			m->shared_bytes += v->end - v->start;
	}
	image_name(p->ck, name, sizeof(name), "pagemap-%u.img", p->pst.pid);
	r = ckfs_img_read_pagemap(p->ck->ar, name, m->page_size, &m->pm, err);
	if (r < 0)
		return r;
	m->pages = ckfs_ckpt_member(p->ck, "pages-%u.img", m->pm.pages_id);
	if (!m->pages && m->pm.pages_bytes)
		return ckfs_err_set(err, -ENOENT,
				    "%spages-%u.img: missing (named by %s)",
				    p->ck->dir, m->pm.pages_id, name);
	if (m->pages && m->pm.pages_bytes > m->pages->size)
		return ckfs_err_set(
			err, -EBADMSG,
			"%s: its entries need %llu bytes of pages but %s holds %llu",
			name, (unsigned long long)m->pm.pages_bytes,
			m->pages->name, (unsigned long long)m->pages->size);
	m->present_bytes = m->pm.pages_bytes;
	return 0;
}

int ckfs_proc_mm(struct ckfs_proc *p, const struct ckfs_proc_mm **out)
{
	int r;

	if (is_zombie(p))
		return -ENOENT;
	pthread_mutex_lock(&p->lock);
	if (p->mm_u.state == 0) {
		struct ckfs_err err = { 0 };

		if (load_mm(p, &err) < 0) {
			ckfs_mm_fini(&p->mm.mm);
			ckfs_pagemap_fini(&p->mm.pm);
			ckfs_unit_fail(&p->mm_u, &err);
		} else {
			p->mm_u.state = 1;
		}
	}
	r = p->mm_u.state;
	pthread_mutex_unlock(&p->lock);
	if (r < 0)
		return r;
	*out = &p->mm;
	return 0;
}

/* ---- files ---- */

int ckfs_ckpt_load_files(struct ckfs_ckpt *ck)
{
	int r;

	pthread_mutex_lock(&ck->lock);
	if (ck->files_u.state == 0) {
		char name[CKFS_ARCHIVE_NAME_MAX];
		struct ckfs_err err = { 0 };

		image_name(ck, name, sizeof(name), "files.img");
		r = ckfs_img_read_files(ck->ar, name, &ck->files, &err);
		if (r >= 0) {
			image_name(ck, name, sizeof(name), "remap-fpath.img");
			r = ckfs_img_read_remaps(ck->ar, name, &ck->remaps,
						 &ck->nremaps, &err);
		}
		if (r >= 0) {
			image_name(ck, name, sizeof(name), "memfd.img");
			r = ckfs_img_read_memfds(ck->ar, name, &ck->memfds,
						 &ck->nmemfds, &err);
		}
		if (r < 0)
			ckfs_unit_fail(&ck->files_u, &err);
		else
			ck->files_u.state = 1;
	}
	r = ck->files_u.state;
	pthread_mutex_unlock(&ck->lock);
	return r < 0 ? r : 0;
}

const struct ckfs_files *ckfs_ckpt_files(struct ckfs_ckpt *ck)
{
	return ckfs_ckpt_load_files(ck) < 0 ? NULL : &ck->files;
}

static bool is_remapped(const struct ckfs_ckpt *ck, uint32_t id)
{
	size_t i;

	for (i = 0; i < ck->nremaps; i++)
		if (ck->remaps[i].orig_id == id)
			return true;
	return false;
}

static const struct ckfs_memfd_inode *memfd_inode(const struct ckfs_ckpt *ck,
						  uint32_t inode_id)
{
	size_t i;

	for (i = 0; i < ck->nmemfds; i++)
		if (ck->memfds[i].inode_id == inode_id)
			return &ck->memfds[i];
	return NULL;
}

/* The path of REG file @id as /proc shows it, or NULL. */
static char *reg_path(const struct ckfs_ckpt *ck, uint32_t id)
{
	const struct ckfs_file *f = ckfs_files_find(&ck->files, id);
	char *s;

	if (!f || !f->name)
		return NULL;
	if (!is_remapped(ck, id))
		return strdup(f->name);
	return asprintf(&s, "%s (deleted)", f->name) < 0 ? NULL : s;
}

char *ckfs_ckpt_file_path(const struct ckfs_ckpt *ck, uint32_t id)
{
	return reg_path(ck, id);
}

static const char *ns_name(uint32_t cflag)
{
	switch (cflag) {
	case 0x00020000: return "mnt";
	case 0x04000000: return "uts";
	case 0x08000000: return "ipc";
	case 0x10000000: return "user";
	case 0x20000000: return "pid";
	case 0x40000000: return "net";
	case 0x02000000: return "cgroup";
	case 0x00000080: return "time";
	default: return "ns";
	}
}

char *ckfs_ckpt_memfd_path(const struct ckfs_ckpt *ck, uint32_t inode_id)
{
	const struct ckfs_memfd_inode *mi = memfd_inode(ck, inode_id);
	char *s;

	if (mi && mi->name && mi->name[0] == '/')
		return asprintf(&s, "%s (deleted)", mi->name) < 0 ? NULL : s;
	return asprintf(&s, "/memfd:%s (deleted)",
			mi && mi->name ? mi->name : "") < 0 ?
		       NULL :
		       s;
}

/* What readlink of /proc/PID/fd/N shows for file @f. */
static char *fd_target(const struct ckfs_ckpt *ck, const struct ckfs_file *f,
		       uint32_t type)
{
	char *s = NULL;
	int r = 0;

	switch (type) {
	case CKFS_FD_REG:
		return f ? reg_path(ck, f->id) : NULL;
	case CKFS_FD_FIFO:
	case CKFS_FD_TTY:
		return f ? reg_path(ck, f->regf_id) : NULL;
	case CKFS_FD_PIPE:
		r = asprintf(&s, "pipe:[%llu]",
			     (unsigned long long)(f ? f->ino : 0));
		break;
	case CKFS_FD_INETSK:
	case CKFS_FD_UNIXSK:
	case CKFS_FD_NETLINKSK:
	case CKFS_FD_PACKETSK:
		r = asprintf(&s, "socket:[%llu]",
			     (unsigned long long)(f ? f->ino : 0));
		break;
	case CKFS_FD_EVENTFD:
		return strdup("anon_inode:[eventfd]");
	case CKFS_FD_EVENTPOLL:
		return strdup("anon_inode:[eventpoll]");
	case CKFS_FD_SIGNALFD:
		return strdup("anon_inode:[signalfd]");
	case CKFS_FD_TIMERFD:
		return strdup("anon_inode:[timerfd]");
	case CKFS_FD_INOTIFY:
		return strdup("anon_inode:inotify");
	case CKFS_FD_FANOTIFY:
		return strdup("anon_inode:[fanotify]");
	case CKFS_FD_BPFMAP:
		return strdup("anon_inode:bpf-map");
	case CKFS_FD_PIDFD:
		return strdup("anon_inode:[pidfd]");
	case CKFS_FD_TUNF:
		return strdup("/dev/net/tun");
	case CKFS_FD_MEMFD:
		return ckfs_ckpt_memfd_path(ck, f ? f->inode_id : 0);
	case CKFS_FD_NS:
		r = asprintf(&s, "%s:[0]", ns_name(f ? f->ns_cflag : 0));
		break;
	default:
		r = asprintf(&s, "%s:[%u]", ckfs_fd_type_name(type),
			     f ? f->id : 0);
		break;
	}
	return r < 0 ? NULL : s;
}

static int fd_cmp(const void *a, const void *b)
{
	const struct ckfs_fd *x = a, *y = b;

	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

static int load_files(struct ckfs_proc *p, struct ckfs_err *err)
{
	struct ckfs_proc_files *pf = &p->files;
	const struct ckfs_proc_mm *mm = NULL;
	const struct ckfs_ids *ids;
	_cleanup_free_ struct ckfs_fdinfo *fdi = NULL;
	char name[CKFS_ARCHIVE_NAME_MAX];
	size_t n, i;
	int r;

	if (ckfs_ckpt_load_files(p->ck) < 0)
		return ckfs_err_set(err, -EIO, "%s", p->ck->files_u.msg);
	r = ckfs_proc_ids(p, &ids);
	if (r < 0)
		return ckfs_err_set(err, r, "%s", p->ids_u.msg);
	pf->ids = *ids;
	image_name(p->ck, name, sizeof(name), "fdinfo-%u.img",
		   pf->ids.files_id);
	r = ckfs_img_read_fdinfo(p->ck->ar, name, &fdi, &n, err);
	if (r < 0)
		return r;
	pf->fds = calloc(n ? n : 1, sizeof(*pf->fds));
	if (!pf->fds)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		const struct ckfs_file *f = ckfs_files_find(&p->ck->files,
							    fdi[i].id);
		struct ckfs_fd *o = &pf->fds[pf->nfds++];

		o->fd = fdi[i].fd;
		o->type = fdi[i].type;
		o->file = f;
		o->target = fd_target(p->ck, f, fdi[i].type);
		if (!o->target)
			o->target = strdup("");
		if (!o->target)
			return ckfs_err_set(err, -ENOMEM, "out of memory");
		o->flags = (f ? f->flags : 0) |
			   ((fdi[i].flags & 1) ? O_CLOEXEC : 0);
		if (f && (fdi[i].type == CKFS_FD_REG ||
			  fdi[i].type == CKFS_FD_MEMFD))
			o->pos = f->pos;
		if (f && f->has_mnt_id && f->mnt_id >= 0) {
			o->has_mnt_id = true;
			o->mnt_id = f->mnt_id;
		}
		if (f)
			o->ino = f->ino;
	}
	qsort(pf->fds, pf->nfds, sizeof(*pf->fds), fd_cmp);
	image_name(p->ck, name, sizeof(name), "fs-%u.img", p->pst.pid);
	r = ckfs_img_read_fs(p->ck->ar, name, &pf->fs, err);
	if (r < 0)
		return r;
	pf->cwd = reg_path(p->ck, pf->fs.cwd_id);
	pf->root = reg_path(p->ck, pf->fs.root_id);
	if (ckfs_proc_mm(p, &mm) == 0 && mm->mm.has_exe_file_id)
		pf->exe = reg_path(p->ck, mm->mm.exe_file_id);
	return 0;
}

int ckfs_proc_ids(struct ckfs_proc *p, const struct ckfs_ids **out)
{
	int r;

	if (is_zombie(p))
		return -ENOENT;
	pthread_mutex_lock(&p->lock);
	if (p->ids_u.state == 0) {
		char name[CKFS_ARCHIVE_NAME_MAX];
		struct ckfs_err err = { 0 };

		image_name(p->ck, name, sizeof(name), "ids-%u.img", p->pst.pid);
		if (ckfs_img_read_ids(p->ck->ar, name, &p->ids, &err) < 0)
			ckfs_unit_fail(&p->ids_u, &err);
		else
			p->ids_u.state = 1;
	}
	r = p->ids_u.state;
	pthread_mutex_unlock(&p->lock);
	if (r < 0)
		return r;
	*out = &p->ids;
	return 0;
}

int ckfs_proc_files(struct ckfs_proc *p, const struct ckfs_proc_files **out)
{
	int r;

	if (is_zombie(p))
		return -ENOENT;
	/* files_lock is taken before p->lock (load_files reads the mm) */
	pthread_mutex_lock(&p->files_lock);
	if (p->files_u.state == 0) {
		struct ckfs_err err = { 0 };

		if (load_files(p, &err) < 0)
			ckfs_unit_fail(&p->files_u, &err);
		else
			p->files_u.state = 1;
	}
	r = p->files_u.state;
	pthread_mutex_unlock(&p->files_lock);
	if (r < 0)
		return r;
	*out = &p->files;
	return 0;
}
