/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Private to model/: the structs behind the opaque handles. */
#ifndef CKFS_MODEL_MODEL_I_H
#define CKFS_MODEL_MODEL_I_H

#include "model/model.h"

#define CKFS_UNIT_MSG_MAX CKFS_ERR_MSG_MAX

/* A lazily built unit: 0 = not yet, 1 = loaded, < 0 = -errno. */
struct ckfs_unit {
	int state;
	char msg[CKFS_UNIT_MSG_MAX];
};

struct ckfs_thread {
	uint32_t tid;
	struct ckfs_unit u;
	struct ckfs_core core;
};

struct ckfs_proc {
	struct ckfs_ckpt *ck;
	struct ckfs_pstree_ent pst;
	pthread_mutex_t lock; /* guards the units below while they load */
	struct ckfs_thread *threads; /* pst.ntids, same order */
	struct ckfs_unit mm_u;
	struct ckfs_proc_mm mm;
	struct ckfs_unit ids_u;
	struct ckfs_ids ids;
	pthread_mutex_t files_lock; /* guards files_u; taken before lock */
	struct ckfs_unit files_u;
	struct ckfs_proc_files files;
};

struct ckfs_shm {
	uint64_t key; /* (kind << 32) | id */
	struct ckfs_unit u;
	struct ckfs_pagemap pm;
	const struct ckfs_member *pages;
};

struct ckfs_ckpt {
	struct ckfs_archive *ar;
	char *dir; /* image directory prefix: "checkpoint/" or "" */
	bool has_inventory;
	struct ckfs_inventory inv;
	struct ckfs_container ct;
	size_t nprocs;
	struct ckfs_proc *procs;
	uint32_t *pid_order; /* indexes of procs sorted by pid */

	pthread_mutex_t sizes_lock; /* guards ct's sizes, made on first use */
	bool sizes_done;
	pthread_mutex_t lock; /* guards the global units and shm table */
	struct ckfs_unit files_u;
	struct ckfs_files files;
	size_t nremaps;
	struct ckfs_remap *remaps;
	size_t nmemfds;
	struct ckfs_memfd_inode *memfds;
	size_t nshm, capshm;
	struct ckfs_shm **shm;
	struct ckfs_eng *eng; /* engine_i.h: made at open */
	struct ckfs_xunits *x; /* extra_i.h: made on first use, under lock */
	struct ckfs_memsrc *ms; /* sources.c: made on first use, under lock */
};

/* container.c */
int ckfs_container_load(struct ckfs_ckpt *ck, struct ckfs_err *err);
/*
 * ct's sizes need the whole archive index, which a compressed archive has
 * only once decoded: they are made on first use, not at open.
 */
void ckfs_container_sizes(struct ckfs_ckpt *ck);
void ckfs_container_fini(struct ckfs_container *ct);

/* ckpt.c: the global files unit (files.img, remap-fpath.img, memfd.img) */
int ckfs_ckpt_load_files(struct ckfs_ckpt *ck);
/* a member of the image directory */
const struct ckfs_member *ckfs_ckpt_member(struct ckfs_ckpt *ck,
					   const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ckfs_unit_fail(struct ckfs_unit *u, const struct ckfs_err *err);

/* mem.c */
void ckfs_shm_free_all(struct ckfs_ckpt *ck);

/* sources.c: parent dumps (PE_PARENT runs) and the rootfs */
#define CKFS_PARENT_DEPTH_MAX 16

/* One pagemap of a parent dump, with its pages image. */
struct ckfs_pm_layer {
	const struct ckfs_pagemap *pm;
	const struct ckfs_member *pages;
};

/*
 * ckfs_parent_layer() - pagemap @fname ("pagemap-<pid>.img") of the
 * @depth-th parent image directory (1: the one `parent` names), loaded
 * once.  Returns 0, or -EIO with a reason in *@why (a missing or looping
 * `parent` link, a chain deeper than CKFS_PARENT_DEPTH_MAX, a missing or
 * broken image).  Thread-safe; takes no lock the caller may hold.
 */
int ckfs_parent_layer(struct ckfs_ckpt *ck, const char *fname,
		      unsigned int depth, uint64_t page_size,
		      struct ckfs_pm_layer *out, const char **why);

/*
 * ckfs_rootfs_file() - the rootfs copy of REG file @id, opened once and
 * kept: 0 with its fd and size, or -ENOENT with a reason in *@why.
 */
int ckfs_rootfs_file(struct ckfs_ckpt *ck, uint32_t id, int *fd,
		     uint64_t *size, const char **why);

/* ckfs_memsrc_free() - close the rootfs and its files; NULL is a no-op. */
void ckfs_memsrc_free(struct ckfs_memsrc *ms);

#endif /* CKFS_MODEL_MODEL_I_H */
