/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * seccomp.img, cgroup.img and mountpoints-<id>.img decoders.  Each image
 * is loaded whole through image.c (they have no raw payloads), every
 * record unpacked, copied and freed in the same function.
 */
#include "image/task.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "image/image.h"

#include "cgroup.pb-c.h"
#include "mnt.pb-c.h"
#include "seccomp.pb-c.h"

#define SOCK_FILTER_SIZE 8 /* struct sock_filter */

static const uint8_t *rec_data(const struct ckfs_img *img, size_t i)
{
	return (const uint8_t *)img->buf + img->rec[i].off;
}

static int bad_record(struct ckfs_err *err, const struct ckfs_img *img,
		      size_t i, const char *what)
{
	return ckfs_err_set(err, -EBADMSG, "%s: record %zu is not a valid %s",
			    img->name, i, what);
}

/* ---- seccomp.img ---- */

int ckfs_img_read_seccomp(struct ckfs_archive *ar, const char *name,
			  struct ckfs_seccomp_filter **out, size_t *n,
			  struct ckfs_err *err)
{
	_cleanup_(ckfs_img_freep) struct ckfs_img *img = NULL;
	SeccompEntry *e;
	size_t i;
	int r;

	*out = NULL;
	*n = 0;
	if (!ckfs_archive_find(ar, name))
		return 0;
	r = ckfs_img_load(ar, name, CKFS_MAGIC_SECCOMP, &img, err);
	if (r < 0)
		return r;
	if (img->n == 0)
		return 0;
	e = seccomp_entry__unpack(NULL, img->rec[0].len, rec_data(img, 0));
	if (!e)
		return bad_record(err, img, 0, "seccomp_entry");
	if (e->n_seccomp_filters) {
		*out = calloc(e->n_seccomp_filters, sizeof(**out));
		if (!*out) {
			seccomp_entry__free_unpacked(e, NULL);
			return ckfs_err_set(err, -ENOMEM, "out of memory");
		}
	}
	for (i = 0; i < e->n_seccomp_filters; i++) {
		const SeccompFilter *f = e->seccomp_filters[i];

		if (!f)
			continue;
		(*out)[i].has_prev = f->has_prev;
		(*out)[i].prev = f->prev;
		(*out)[i].ninsns = (uint32_t)(f->filter.len / SOCK_FILTER_SIZE);
	}
	*n = e->n_seccomp_filters;
	seccomp_entry__free_unpacked(e, NULL);
	return 0;
}

uint32_t ckfs_seccomp_chain_len(const struct ckfs_seccomp_filter *f, size_t n,
				uint32_t idx)
{
	uint32_t len = 0;

	/* at most n steps: a loop in a crafted image cannot spin */
	while (idx < n && len < n) {
		len++;
		if (!f[idx].has_prev)
			break;
		idx = f[idx].prev;
	}
	return len;
}

/* ---- cgroup.img ---- */

void ckfs_cg_sets_free(struct ckfs_cg_set *s, size_t n)
{
	size_t i, j;

	if (!s)
		return;
	for (i = 0; i < n; i++) {
		for (j = 0; j < s[i].n; j++) {
			free(s[i].ctls[j].name);
			free(s[i].ctls[j].path);
		}
		free(s[i].ctls);
	}
	free(s);
}

static int copy_set(const CgSetEntry *e, struct ckfs_cg_set *o)
{
	size_t j;

	o->id = e->id;
	if (!e->n_ctls)
		return 0;
	o->ctls = calloc(e->n_ctls, sizeof(*o->ctls));
	if (!o->ctls)
		return -ENOMEM;
	for (j = 0; j < e->n_ctls; j++) {
		const CgMemberEntry *c = e->ctls[j];
		struct ckfs_cg_ctl *d = &o->ctls[o->n++];

		d->name = strdup(c && c->name ? c->name : "");
		d->path = strdup(c && c->path ? c->path : "/");
		if (!d->name || !d->path)
			return -ENOMEM;
		d->cgns_prefix = c && c->has_cgns_prefix ? c->cgns_prefix : 0;
	}
	return 0;
}

int ckfs_img_read_cgroup(struct ckfs_archive *ar, const char *name,
			 struct ckfs_cg_set **out, size_t *n,
			 struct ckfs_err *err)
{
	_cleanup_(ckfs_img_freep) struct ckfs_img *img = NULL;
	CgroupEntry *e;
	struct ckfs_cg_set *sets = NULL;
	size_t i;
	int r;

	*out = NULL;
	*n = 0;
	if (!ckfs_archive_find(ar, name))
		return 0;
	r = ckfs_img_load(ar, name, CKFS_MAGIC_CGROUP, &img, err);
	if (r < 0)
		return r;
	if (img->n == 0)
		return 0;
	e = cgroup_entry__unpack(NULL, img->rec[0].len, rec_data(img, 0));
	if (!e)
		return bad_record(err, img, 0, "cgroup_entry");
	if (e->n_sets && !(sets = calloc(e->n_sets, sizeof(*sets)))) {
		cgroup_entry__free_unpacked(e, NULL);
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	}
	for (i = 0; i < e->n_sets; i++) {
		if (e->sets[i] && copy_set(e->sets[i], &sets[i]) < 0) {
			ckfs_cg_sets_free(sets, e->n_sets);
			cgroup_entry__free_unpacked(e, NULL);
			return ckfs_err_set(err, -ENOMEM, "out of memory");
		}
	}
	*out = sets;
	*n = e->n_sets;
	cgroup_entry__free_unpacked(e, NULL);
	return 0;
}

/* ---- mountpoints-<id>.img ---- */

const char *ckfs_mnt_fstype_name(uint32_t fstype)
{
	static const char *const names[] = {
		[1] = "proc",	     [2] = "sysfs",    [3] = "devtmpfs",
		[4] = "binfmt_misc", [5] = "tmpfs",    [6] = "devpts",
		[7] = "simfs",	     [8] = "pstore",   [9] = "securityfs",
		[10] = "fusectl",    [11] = "debugfs", [12] = "cgroup",
		[13] = "aufs",	     [14] = "mqueue",  [15] = "fuse",
		[17] = "overlay",    [18] = "autofs",  [19] = "tracefs",
		[23] = "cgroup2",
	};

	return fstype < CKFS_ARRAY_SIZE(names) ? names[fstype] : NULL;
}

void ckfs_mnts_free(struct ckfs_mnt *m, size_t n)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < n; i++) {
		free(m[i].root);
		free(m[i].mountpoint);
		free(m[i].source);
		free(m[i].options);
		free(m[i].fsname);
	}
	free(m);
}

static int dup_opt(char **dst, const char *s)
{
	if (!s)
		return 0;
	*dst = strdup(s);
	return *dst ? 0 : -ENOMEM;
}

int ckfs_img_read_mnts(struct ckfs_archive *ar, const char *name,
		       struct ckfs_mnt **out, size_t *n, struct ckfs_err *err)
{
	_cleanup_(ckfs_img_freep) struct ckfs_img *img = NULL;
	struct ckfs_mnt *m;
	size_t i;
	int r;

	*out = NULL;
	*n = 0;
	r = ckfs_img_load(ar, name, CKFS_MAGIC_MNTS, &img, err);
	if (r < 0)
		return r;
	if (img->n == 0)
		return 0;
	m = calloc(img->n, sizeof(*m));
	if (!m)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < img->n; i++) {
		MntEntry *e = mnt_entry__unpack(NULL, img->rec[i].len,
						rec_data(img, i));
		struct ckfs_mnt *o = &m[i];

		if (!e) {
			ckfs_mnts_free(m, i);
			return bad_record(err, img, i, "mnt_entry");
		}
		o->fstype = e->fstype;
		o->mnt_id = e->mnt_id;
		o->parent_mnt_id = e->parent_mnt_id;
		o->root_dev = e->root_dev;
		o->flags = e->flags;
		o->sb_flags = e->has_sb_flags ? e->sb_flags : 0;
		o->shared_id = e->has_shared_id ? e->shared_id : 0;
		o->master_id = e->has_master_id ? e->master_id : 0;
		o->deleted = e->has_deleted && e->deleted;
		r = dup_opt(&o->root, e->root);
		if (r >= 0)
			r = dup_opt(&o->mountpoint, e->mountpoint);
		if (r >= 0)
			r = dup_opt(&o->source, e->source);
		if (r >= 0)
			r = dup_opt(&o->options, e->options);
		if (r >= 0)
			r = dup_opt(&o->fsname, e->fsname);
		mnt_entry__free_unpacked(e, NULL);
		if (r < 0) {
			ckfs_mnts_free(m, i + 1);
			return ckfs_err_set(err, -ENOMEM, "out of memory");
		}
	}
	*out = m;
	*n = img->n;
	return 0;
}
