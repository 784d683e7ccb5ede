/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Mount tables, cgroup sets and seccomp chains, each image decoded once
 * for the whole checkpoint and shared by the tasks that point at it.
 */
#include "model/extra_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_MNT		     4 /* index of mnt in ckfs_ids.ns */
#define SECCOMP_MODE_FILTER_ 2

/* A unit's result: 0 once loaded, or the -errno it keeps (-ENOENT: none). */
static int unit_state(struct ckfs_unit *u)
{
	return u->state < 0 ? u->state : 0;
}

int ckfs_xmnts_locked(struct ckfs_ckpt *ck, struct ckfs_xunits *x,
		      uint32_t ns_id, const struct ckfs_xmnt **out)
{
	struct ckfs_xmnt *m = NULL;
	size_t i;

	for (i = 0; i < x->nmnts; i++)
		if (x->mnts[i].ns_id == ns_id)
			m = &x->mnts[i];
	if (!m) {
		char name[CKFS_ARCHIVE_NAME_MAX];
		struct ckfs_err err = { 0 };
		struct ckfs_xmnt *n;

		n = reallocarray(x->mnts, x->nmnts + 1, sizeof(*n));
		if (!n)
			return -ENOMEM;
		x->mnts = n;
		m = &x->mnts[x->nmnts++];
		memset(m, 0, sizeof(*m));
		m->ns_id = ns_id;
		snprintf(name, sizeof(name), "%smountpoints-%u.img", ck->dir,
			 ns_id);
		if (!ckfs_archive_find(ck->ar, name))
			m->u.state = -ENOENT;
		else if (ckfs_img_read_mnts(ck->ar, name, &m->m, &m->n, &err) <
			 0)
			ckfs_unit_fail(&m->u, &err);
		else
			m->u.state = 1;
	}
	*out = m;
	return unit_state(&m->u);
}

static uint32_t mnt_ns_of(struct ckfs_proc *p)
{
	const struct ckfs_ids *ids;

	if (ckfs_proc_ids(p, &ids) < 0)
		return 0;
	return ids->ns[NS_MNT];
}

bool ckfs_proc_has_mounts(struct ckfs_proc *p)
{
	uint32_t ns = mnt_ns_of(p);

	return ns && ckfs_ckpt_member(p->ck, "mountpoints-%u.img", ns);
}

int ckfs_proc_mounts(struct ckfs_proc *p, const struct ckfs_mnt **out,
		     size_t *n)
{
	const struct ckfs_xmnt *m;
	struct ckfs_xunits *x;
	uint32_t ns = mnt_ns_of(p);
	int r;

	if (!ns)
		return -ENOENT;
	x = ckfs_xunits_get(p->ck);
	if (!x)
		return -ENOMEM;
	pthread_mutex_lock(&x->lock);
	r = ckfs_xmnts_locked(p->ck, x, ns, &m);
	pthread_mutex_unlock(&x->lock);
	if (r < 0)
		return r;
	*out = m->m;
	*n = m->n;
	return 0;
}

/* cgroup.img, once; x->lock held. */
static int cgroup_locked(struct ckfs_ckpt *ck, struct ckfs_xunits *x)
{
	if (x->cg_u.state == 0) {
		char name[CKFS_ARCHIVE_NAME_MAX];
		struct ckfs_err err = { 0 };

		snprintf(name, sizeof(name), "%scgroup.img", ck->dir);
		if (!ckfs_archive_find(ck->ar, name))
			x->cg_u.state = -ENOENT;
		else if (ckfs_img_read_cgroup(ck->ar, name, &x->sets, &x->nsets,
					      &err) < 0)
			ckfs_unit_fail(&x->cg_u, &err);
		else
			x->cg_u.state = 1;
	}
	return unit_state(&x->cg_u);
}

int ckfs_proc_cg_set(struct ckfs_proc *p, uint32_t tid,
		     const struct ckfs_cg_set **out)
{
	const struct ckfs_core *c, *lead;
	struct ckfs_xunits *x;
	uint32_t id;
	size_t i;
	int r;

	r = ckfs_proc_core(p, tid, &c);
	if (r < 0)
		return r;
	if (!c->has_cg_set) {
		/* old dumps: only the leader's tc.cg_set */
		r = ckfs_proc_core(p, p->pst.pid, &lead);
		if (r < 0)
			return r;
		c = lead;
	}
	if (!c->has_cg_set)
		return -ENOENT;
	id = c->cg_set;
	x = ckfs_xunits_get(p->ck);
	if (!x)
		return -ENOMEM;
	pthread_mutex_lock(&x->lock);
	r = cgroup_locked(p->ck, x);
	if (r == 0) {
		r = -ENOENT;
		for (i = 0; i < x->nsets; i++) {
			if (x->sets[i].id == id) {
				*out = &x->sets[i];
				r = 0;
				break;
			}
		}
	}
	pthread_mutex_unlock(&x->lock);
	return r;
}

/* seccomp.img, once; x->lock held. */
static int seccomp_locked(struct ckfs_ckpt *ck, struct ckfs_xunits *x)
{
	if (x->seccomp_u.state == 0) {
		char name[CKFS_ARCHIVE_NAME_MAX];
		struct ckfs_err err = { 0 };

		snprintf(name, sizeof(name), "%sseccomp.img", ck->dir);
		if (ckfs_img_read_seccomp(ck->ar, name, &x->filters,
					  &x->nfilters, &err) < 0)
			ckfs_unit_fail(&x->seccomp_u, &err);
		else
			x->seccomp_u.state = 1;
	}
	return unit_state(&x->seccomp_u);
}

int ckfs_proc_seccomp_filters(struct ckfs_proc *p, uint32_t tid, uint32_t *out)
{
	const struct ckfs_core *c;
	struct ckfs_xunits *x;
	int r;

	*out = 0;
	r = ckfs_proc_core(p, tid, &c);
	if (r < 0)
		return r;
	if (c->seccomp_mode != SECCOMP_MODE_FILTER_ || !c->has_seccomp_filter)
		return 0;
	x = ckfs_xunits_get(p->ck);
	if (!x)
		return -ENOMEM;
	pthread_mutex_lock(&x->lock);
	r = seccomp_locked(p->ck, x);
	if (r == 0)
		*out = ckfs_seccomp_chain_len(x->filters, x->nfilters,
					      c->seccomp_filter);
	pthread_mutex_unlock(&x->lock);
	return r < 0 ? -EIO : 0;
}
