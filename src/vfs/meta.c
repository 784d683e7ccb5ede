/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * metadata.json files.  The top-level one carries every field of
 * `checkpointctl inspect --all --format json` under the same names
 * (checkpointctl.md §1.2), plus checkpointfs's own: criu facts and a flat
 * process list.  Keys keep a fixed order, so the bytes never change.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "vfs/engine_i.h"
#include "model/saved.h"
#include "vfs/engine_i.h"
#include "vfs/memfmt_i.h"
#include "vfs/task_i.h"
#include "vfs/views_i.h"

static void put_str(json_object *o, const char *k, const char *v)
{
	if (v && v[0])
		json_object_object_add(o, k, json_object_new_string(v));
}

static void put_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static const char *ctl_state(uint32_t s)
{
	switch (s) {
	case 1: return "Alive";
	case 2: return "Dead";
	case 3: return "Stopped";
	case 6: return "Zombie";
	default: return "Unknown";
	}
}

static const char *proc_state(uint32_t s)
{
	switch (s) {
	case CKFS_TASK_DEAD: return "Z";
	case CKFS_TASK_STOPPED: return "T";
	default: return "S";
	}
}

/* Split NUL-separated bytes into a JSON array of strings. */
static json_object *nul_list(const char *buf, size_t len)
{
	json_object *a = json_object_new_array();
	size_t i = 0;

	while (i < len) {
		size_t n = strnlen(buf + i, len - i);

		json_object_array_add(a, json_object_new_string_len(buf + i,
								    (int)n));
		i += n + 1;
	}
	return a;
}

static int proc_memory(struct ckfs_proc *p, const char *what, char **buf,
		       size_t *len)
{
	struct ckfs_sb sb;

	ckfs_sb_init(&sb);
	if ((strcmp(what, "cmdline") == 0 ? ckfs_render_cmdline(p, &sb) :
					      ckfs_render_environ(p, &sb)) < 0) {
		ckfs_sb_fini(&sb);
		return -EIO;
	}
	return ckfs_sb_finish(&sb, buf, len);
}

/* checkpointctl's process_tree node for @p, with its children. */
static json_object *ctl_tree(struct ckfs_ckpt *ck, struct ckfs_proc *p,
			     int depth)
{
	const struct ckfs_pstree_ent *ps = ckfs_proc_pstree(p);
	json_object *o = json_object_new_object(), *env, *kids;
	const struct ckfs_core *c;
	_cleanup_free_ char *cmd = NULL;
	_cleanup_free_ char *envb = NULL;
	size_t cl = 0, el = 0, i;
	uint32_t state = 1;

	if (ckfs_proc_core(p, ps->pid, &c) == 0 && c->is_leader)
		state = c->task_state;
	json_object_object_add(o, "pid", json_object_new_int64(ps->pid));
	put_str(o, "command", ckfs_proc_comm(p));
	if (state == 1 || state == 3) {
		if (proc_memory(p, "cmdline", &cmd, &cl) == 0 && cl) {
			for (i = 0; i < cl; i++)
				if (!cmd[i])
					cmd[i] = ' ';
			json_object_object_add(
				o, "cmdline",
				json_object_new_string_len(cmd, (int)cl));
		}
	}
	json_object_object_add(o, "task_state",
			       json_object_new_string(ctl_state(state)));
	if ((state == 1 || state == 3) &&
	    proc_memory(p, "environ", &envb, &el) == 0 && el) {
		env = json_object_new_object();
		for (i = 0; i < el;) {
			size_t n = strnlen(envb + i, el - i);
			char *eq = memchr(envb + i, '=', n);

			if (eq && eq > envb + i) {
				*eq = '\0';
				json_object_object_add(
					env, envb + i,
					json_object_new_string_len(
						eq + 1,
						(int)(n - (size_t)(eq - envb - i) -
						      1)));
			}
			i += n + 1;
		}
		json_object_object_add(o, "environment_variables", env);
	}
	kids = json_object_new_array();
	for (i = 0; depth < 4096 && i < ckfs_ckpt_nprocs(ck); i++) {
		struct ckfs_proc *q = ckfs_ckpt_proc(ck, i);

		if (q != p && ckfs_proc_pstree(q)->ppid == ps->pid)
			json_object_array_add(kids, ctl_tree(ck, q, depth + 1));
	}
	if (json_object_array_length(kids))
		json_object_object_add(o, "children", kids);
	else
		json_object_put(kids);
	return o;
}

static json_object *ctl_open_files(struct ckfs_ckpt *ck, struct ckfs_proc *p)
{
	const struct ckfs_proc_files *pf;
	json_object *files = json_object_new_array();
	size_t i;

	if (ckfs_proc_files(p, &pf) < 0)
		return files;
	for (i = 0; i < pf->nfds; i++) {
		const struct ckfs_fd *fd = &pf->fds[i];
		const char *type = ckfs_fd_type_name(fd->type);
		json_object *o = json_object_new_object();
		char fdname[64], *path = NULL;

		snprintf(fdname, sizeof(fdname), "%s %u", type, fd->fd);
		if (fd->type == CKFS_FD_REG && fd->file && fd->file->name)
			path = strdup(fd->file->name);
		else if (fd->type == CKFS_FD_PIPE)
			(void)!asprintf(&path, "pipe[%llu]",
					(unsigned long long)fd->ino);
		else if (fd->type == CKFS_FD_UNIXSK && fd->file)
			(void)!asprintf(&path, "unix[%llu (%u) %s]",
					(unsigned long long)fd->ino,
					fd->file->peer,
					fd->file->name ? fd->file->name : "");
		else
			(void)!asprintf(&path, "%s.%u", type,
					fd->file ? fd->file->id : 0);
		json_object_object_add(o, "type", json_object_new_string(type));
		json_object_object_add(o, "fd", json_object_new_string(fdname));
		json_object_object_add(o, "path",
				       json_object_new_string(path ? path : ""));
		free(path);
		json_object_array_add(files, o);
	}
	for (i = 0; i < 2; i++) {
		const struct ckfs_file *f = ckfs_files_find(
			ckfs_ckpt_files(ck),
			i == 0 ? pf->fs.cwd_id : pf->fs.root_id);
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string(""));
		json_object_object_add(o, "fd",
				       json_object_new_string(i ? "root" : "cwd"));
		json_object_object_add(
			o, "path",
			json_object_new_string(f && f->name ? f->name : ""));
		json_object_array_add(files, o);
	}
	return files;
}

static json_object *threads_of(const struct ckfs_pstree_ent *ps)
{
	json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; i < ps->ntids; i++)
		json_object_array_add(a, json_object_new_int64(ps->tids[i]));
	return a;
}

static int finish(json_object *o, struct ckfs_sb *out)
{
	const char *s = json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			   JSON_C_TO_STRING_NOSLASHESCAPE);

	if (!s) {
		json_object_put(o);
		return -ENOMEM;
	}
	ckfs_sb_puts(out, s);
	ckfs_sb_puts(out, "\n");
	json_object_put(o);
	return 0;
}

struct json_object *ckfs_meta_ctl(struct ckfs_ckpt *ck)
{
	const struct ckfs_container *ct = ckfs_ckpt_container(ck);
	json_object *o = json_object_new_object(), *sz, *fds, *sks;
	size_t i;

	if (!o)
		return NULL;
	put_str(o, "container_name", ct->name);
	put_str(o, "image", ct->image);
	put_str(o, "id", ct->id);
	put_str(o, "runtime", ct->runtime);
	put_str(o, "created", ct->created);
	put_str(o, "checkpointed", ct->checkpointed);
	put_str(o, "engine", ct->engine);
	put_str(o, "ip", ct->ip);
	put_str(o, "mac", ct->mac);
	if (ct->networks && json_object_array_length(ct->networks))
		json_object_object_add(o, "networks",
				       json_object_get(ct->networks));
	sz = json_object_new_object();
	put_u64(sz, "total_size", ct->total_size);
	put_u64(sz, "memory_pages_size", ct->pages_size);
	if (ct->has_rootfs_diff)
		put_u64(sz, "root_fs_diff_size", ct->rootfs_diff_size);
	json_object_object_add(o, "checkpoint_size", sz);
	if (ct->stats.present) {
		json_object *st = json_object_new_object();

		put_u64(st, "freezing_time", ct->stats.freezing_time);
		put_u64(st, "frozen_time", ct->stats.frozen_time);
		put_u64(st, "memdump_time", ct->stats.memdump_time);
		put_u64(st, "memwrite_time", ct->stats.memwrite_time);
		put_u64(st, "pages_scanned", ct->stats.pages_scanned);
		put_u64(st, "pages_written", ct->stats.pages_written);
		json_object_object_add(o, "statistics", st);
	}
	if (ct->annotations || ct->pod_name || ct->pod_namespace) {
		json_object *md = json_object_new_object();

		put_str(md, "pod_name", ct->pod_name);
		put_str(md, "kubernetes_namespace", ct->pod_namespace);
		if (ct->annotations)
			json_object_object_add(md, "annotations",
					       json_object_get(ct->annotations));
		json_object_object_add(o, "metadata", md);
	}
	for (i = 0; i < ckfs_ckpt_nprocs(ck); i++) {
		struct ckfs_proc *p = ckfs_ckpt_proc(ck, i);

		if (ckfs_proc_pstree(p)->ppid == 0 ||
		    !ckfs_ckpt_find_proc(ck, ckfs_proc_pstree(p)->ppid)) {
			json_object_object_add(o, "process_tree",
					       ctl_tree(ck, p, 0));
			break;
		}
	}
	fds = json_object_new_array();
	for (i = 0; i < ckfs_ckpt_nprocs(ck); i++) {
		struct ckfs_proc *p = ckfs_ckpt_proc(ck, i);
		json_object *e = json_object_new_object();

		json_object_object_add(e, "pid", json_object_new_int64(
							 ckfs_proc_pstree(p)->pid));
		json_object_object_add(e, "open_files", ctl_open_files(ck, p));
		json_object_array_add(fds, e);
	}
	json_object_object_add(o, "file_descriptors", fds);
	sks = ckfs_ctl_sockets(ck);
	if (sks)
		json_object_object_add(o, "sockets", sks);
	if (ct->mounts)
		json_object_object_add(o, "mounts", json_object_get(ct->mounts));
	return o;
}

int ckfs_render_meta_top(struct ckfs_ckpt *ck, struct ckfs_sb *out)
{
	const struct ckfs_inventory *inv = ckfs_ckpt_inventory(ck);
	json_object *o = ckfs_meta_ctl(ck), *procs;
	size_t i;

	if (!o)
		return -ENOMEM;
	/* checkpointfs's own facts */
	if (inv) {
		json_object *c = json_object_new_object();

		put_u64(c, "image_version", inv->img_version);
		put_str(c, "dump_run_id", inv->criu_run_id);
		json_object_object_add(o, "criu", c);
	}
	put_str(o, "image_dir", ckfs_ckpt_image_dir(ck)[0] ?
					ckfs_ckpt_image_dir(ck) :
					"/");
	procs = json_object_new_array();
	for (i = 0; i < ckfs_ckpt_nprocs(ck); i++) {
		struct ckfs_proc *p = ckfs_ckpt_proc(ck, i);
		const struct ckfs_pstree_ent *ps = ckfs_proc_pstree(p);
		const struct ckfs_core *c;
		json_object *e = json_object_new_object();

		json_object_object_add(e, "pid", json_object_new_int64(ps->pid));
		json_object_object_add(e, "ppid", json_object_new_int64(ps->ppid));
		json_object_object_add(e, "pgid", json_object_new_int64(ps->pgid));
		json_object_object_add(e, "sid", json_object_new_int64(ps->sid));
		json_object_object_add(e, "comm",
				       json_object_new_string(ckfs_proc_comm(p)));
		json_object_object_add(
			e, "state",
			json_object_new_string(
				ckfs_proc_core(p, ps->pid, &c) == 0 ?
					proc_state(c->task_state) :
					"?"));
		json_object_object_add(e, "threads", threads_of(ps));
		json_object_array_add(procs, e);
	}
	json_object_object_add(o, "processes", procs);
	ckfs_meta_add_facts(ck, o); /* facts.c: engine, stats, rootfs-diff */
	return finish(o, out);
}

int ckfs_render_meta_proc(struct ckfs_proc *p, struct ckfs_sb *out)
{
	const struct ckfs_pstree_ent *ps = ckfs_proc_pstree(p);
	const struct ckfs_proc_files *pf = NULL;
	const struct ckfs_proc_mm *m = NULL;
	const struct ckfs_core *c = NULL;
	json_object *o = json_object_new_object(), *a;
	_cleanup_free_ char *buf = NULL;
	size_t len, i;
	uint64_t msize, mshared;
	char why[160];

	if (!o)
		return -ENOMEM;
	(void)ckfs_proc_core(p, ps->pid, &c);
	(void)ckfs_proc_files(p, &pf);
	(void)ckfs_proc_mm(p, &m);
	json_object_object_add(o, "pid", json_object_new_int64(ps->pid));
	json_object_object_add(o, "ppid", json_object_new_int64(ps->ppid));
	json_object_object_add(o, "pgid", json_object_new_int64(ps->pgid));
	json_object_object_add(o, "sid", json_object_new_int64(ps->sid));
	json_object_object_add(o, "comm",
			       json_object_new_string(ckfs_proc_comm(p)));
	json_object_object_add(o, "state",
			       json_object_new_string(
				       c ? proc_state(c->task_state) : "?"));
	if (proc_memory(p, "cmdline", &buf, &len) == 0)
		json_object_object_add(o, "cmdline", nul_list(buf, len));
	free(buf);
	buf = NULL;
	if (proc_memory(p, "environ", &buf, &len) == 0)
		json_object_object_add(o, "environ", nul_list(buf, len));
	json_object_object_add(o, "cwd", str_or_null(pf ? pf->cwd : NULL));
	json_object_object_add(o, "root", str_or_null(pf ? pf->root : NULL));
	json_object_object_add(o, "exe", str_or_null(pf ? pf->exe : NULL));
	json_object_object_add(o, "threads", threads_of(ps));
	a = json_object_new_array();
	for (i = 0; pf && i < pf->nfds; i++) {
		const struct ckfs_fd *fd = &pf->fds[i];
		json_object *e = json_object_new_object();
		char flags[16];

		snprintf(flags, sizeof(flags), "0%o", fd->flags);
		json_object_object_add(e, "fd", json_object_new_int64(fd->fd));
		json_object_object_add(
			e, "type",
			json_object_new_string(ckfs_fd_type_name(fd->type)));
		json_object_object_add(e, "target",
				       json_object_new_string(fd->target));
		json_object_object_add(e, "flags",
				       json_object_new_string(flags));
		put_u64(e, "pos", fd->pos);
		json_object_array_add(a, e);
	}
	json_object_object_add(o, "fds", a);
	a = json_object_new_array();
	for (i = 0; m && i < m->mm.nvmas; i++) {
		const struct ckfs_vma *v = &m->mm.vmas[i];
		_cleanup_free_ char *name = ckfs_vma_name(p, m, v);
		json_object *e = json_object_new_object();
		char perms[5] = {
			v->prot & 1 ? 'r' : '-', v->prot & 2 ? 'w' : '-',
			v->prot & 4 ? 'x' : '-', v->flags & 1 ? 's' : 'p', 0
		};

		put_u64(e, "start", v->start);
		put_u64(e, "end", v->end);
		json_object_object_add(e, "perms", json_object_new_string(perms));
		put_u64(e, "offset", v->pgoff);
		json_object_object_add(e, "path",
				       json_object_new_string(name ? name : ""));
		json_object_array_add(a, e);
	}
	json_object_object_add(o, "vmas", a);
	if (m) {
		json_object *mem = json_object_new_object();

		put_u64(mem, "page_size", m->page_size);
		put_u64(mem, "pages_bytes", m->present_bytes);
		put_u64(mem, "shared_bytes", m->shared_bytes);
		/* `checkpointctl memparse`'s figures (checkpointctl.md §3.3) */
		ckfs_memparse_sizes(m, &msize, &mshared);
		put_u64(mem, "memory_size", msize);
		put_u64(mem, "shared_memory_size", mshared);
		json_object_object_add(o, "memory", mem);
	}
	/* what saved/ holds, and where each came from */
	json_object_object_add(o, "saved", ckfs_meta_saved(p));
	if (ckfs_proc_x_error(p)[0])
		put_str(o, "net_saved_error", ckfs_proc_x_error(p));
	if (ckfs_proc_error(p)[0])
		json_object_object_add(o, "error",
				       json_object_new_string(ckfs_proc_error(p)));
	if (ckfs_core_check(p, why, sizeof(why)) == -EIO)
		put_str(o, "core_error", why); /* why core reads EIO */
	return finish(o, out);
}
