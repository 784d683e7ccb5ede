/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private to model/: the units behind net.h, saved.h and task.h.  They
 * hang off struct ckfs_ckpt (field x), made on first use.  x->lock
 * guards every unit below while it loads; it is taken after nothing
 * else, and the loaders call ckfs_proc_files() and ckfs_proc_core()
 * (which take the process locks) before taking it, never under it.
 */
#ifndef CKFS_MODEL_EXTRA_I_H
#define CKFS_MODEL_EXTRA_I_H

#include "image/payload.h"
#include "image/task.h"
#include "model/model_i.h"
#include "model/net.h"
#include "model/saved.h"
#include "model/task.h"

struct ckfs_xproc {
	struct ckfs_unit net_u;
	struct ckfs_proc_net net;
	struct ckfs_unit saved_u;
	struct ckfs_proc_saved saved;
};

struct ckfs_xmnt {
	uint32_t ns_id;
	struct ckfs_unit u;
	size_t n;
	struct ckfs_mnt *m;
};

struct ckfs_xunits {
	pthread_mutex_t lock;
	/* sk-queues.img */
	struct ckfs_unit skq_u;
	size_t nskq;
	struct ckfs_sk_packet *skq;
	/* pipes-data.img and fifo-data.img */
	struct ckfs_unit pipes_u;
	size_t npipes, nfifos;
	struct ckfs_pipe_data *pipes, *fifos;
	/* seccomp.img */
	struct ckfs_unit seccomp_u;
	size_t nfilters;
	struct ckfs_seccomp_filter *filters;
	/* cgroup.img */
	struct ckfs_unit cg_u;
	size_t nsets;
	struct ckfs_cg_set *sets;
	/* mountpoints-<id>.img, one per mount namespace asked for */
	size_t nmnts;
	struct ckfs_xmnt *mnts;
	/* per process, in ck->procs order */
	struct ckfs_xproc *procs;
};

/* extra.c: x itself (NULL on ENOMEM) and its teardown (ckpt.c) */
struct ckfs_xunits *ckfs_xunits_get(struct ckfs_ckpt *ck);
void ckfs_xunits_free(struct ckfs_ckpt *ck);
struct ckfs_xproc *ckfs_xproc_of(struct ckfs_xunits *x, struct ckfs_proc *p);
void ckfs_blob_fini(struct ckfs_blob *b);

/* net.c, saved.c, task.c: per-process and global unit teardown */
void ckfs_xnet_fini(struct ckfs_proc_net *n);
void ckfs_xsaved_fini(struct ckfs_proc_saved *s);

/* task.c: the mount table of namespace @ns_id; x->lock held */
int ckfs_xmnts_locked(struct ckfs_ckpt *ck, struct ckfs_xunits *x,
		      uint32_t ns_id, const struct ckfs_xmnt **out);

#endif /* CKFS_MODEL_EXTRA_I_H */
