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

	pthread_mutex_t lock; /* guards the global units and shm table */
	struct ckfs_unit files_u;
	struct ckfs_files files;
	size_t nremaps;
	struct ckfs_remap *remaps;
	size_t nmemfds;
	struct ckfs_memfd_inode *memfds;
	size_t nshm, capshm;
	struct ckfs_shm **shm;
};

/* container.c */
int ckfs_container_load(struct ckfs_ckpt *ck, struct ckfs_err *err);
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

#endif /* CKFS_MODEL_MODEL_I_H */
