/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The process model.  ckfs_ckpt_open() indexes the archive, finds the CRIU
 * image directory and reads the small images every view needs (inventory,
 * pstree).  Everything else is decoded lazily, in units, the first time a
 * view asks: a process's core (per thread), its memory (mm + pagemap), its
 * files (ids, fdinfo, fs, files.img).  A unit that fails keeps its error
 * and message, so only the views built on it fail (with -EIO), while the
 * rest of the tree works.  Loaded units never change again: the getters
 * return pointers valid until ckfs_ckpt_free(), and are thread-safe.
 */
#ifndef CKFS_MODEL_MODEL_H
#define CKFS_MODEL_MODEL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "archive/archive.h"
#include "base/err.h"
#include "image/criu.h"

struct ckfs_ckpt;
struct ckfs_proc;

/* One open file descriptor, resolved to what /proc would show. */
struct ckfs_fd {
	uint32_t fd;
	uint32_t type;	     /* enum ckfs_fd_type */
	char *target;	     /* readlink text */
	uint32_t flags;	     /* /proc fdinfo flags (with O_CLOEXEC) */
	uint64_t pos;
	bool has_mnt_id;
	int32_t mnt_id;
	uint64_t ino;	     /* 0 when unknown */
	const struct ckfs_file *file; /* may be NULL (missing entry) */
};

struct ckfs_proc_files {
	struct ckfs_ids ids;
	struct ckfs_fs fs;
	size_t nfds;
	struct ckfs_fd *fds; /* sorted by fd */
	char *cwd, *root;    /* NULL when unknown */
	char *exe;
};

struct ckfs_proc_mm {
	struct ckfs_mm mm;	    /* vmas sorted by start */
	struct ckfs_pagemap pm;
	const struct ckfs_member *pages;
	uint64_t page_size;
	uint64_t mem_size;	    /* end of the highest mapping < 2^63 */
	uint64_t present_bytes;	    /* bytes held in the pages image */
	uint64_t shared_bytes;	    /* bytes of shared-memory mappings */
};

/* Container-level facts; every string may be NULL. */
struct ckfs_container {
	char *engine;	/* "Podman", "CRI-O", "containerd", "criu" */
	char *name, *image, *id, *runtime, *created, *checkpointed;
	char *pod_name, *pod_namespace;
	char *image_id, *image_ref;
	char *ip, *mac;
	void *annotations; /* json_object *, owned */
	void *networks;	   /* json_object * (checkpointctl shape), owned */
	void *mounts;	   /* json_object *, owned */
	uint64_t total_size, pages_size, rootfs_diff_size;
	bool has_rootfs_diff;
	struct ckfs_stats stats;
};

/*
 * ckfs_ckpt_open() - open @path (a tar or a directory), index it, find the
 * CRIU images (at the root, or under checkpoint/) and read the process
 * tree.  Returns 0 or a negative errno with a one-line reason in @err that
 * names the member at fault.  The checkpoint never writes to @path.
 */
int ckfs_ckpt_open(const char *path, struct ckfs_ckpt **out,
		   struct ckfs_err *err);
void ckfs_ckpt_free(struct ckfs_ckpt *ck);

struct ckfs_archive *ckfs_ckpt_archive(const struct ckfs_ckpt *ck);
/* "checkpoint/" or "" */
const char *ckfs_ckpt_image_dir(const struct ckfs_ckpt *ck);
const struct ckfs_inventory *ckfs_ckpt_inventory(const struct ckfs_ckpt *ck);
const struct ckfs_container *ckfs_ckpt_container(const struct ckfs_ckpt *ck);

size_t ckfs_ckpt_nprocs(const struct ckfs_ckpt *ck);
/* Processes in pstree order (parents before children). */
struct ckfs_proc *ckfs_ckpt_proc(struct ckfs_ckpt *ck, size_t i);
struct ckfs_proc *ckfs_ckpt_find_proc(struct ckfs_ckpt *ck, uint32_t pid);

const struct ckfs_pstree_ent *ckfs_proc_pstree(const struct ckfs_proc *p);
struct ckfs_ckpt *ckfs_proc_ckpt(const struct ckfs_proc *p);

/*
 * Lazy units.  Each returns 0 and a borrowed pointer, or -EIO when the
 * unit cannot be built (the reason is logged once and kept, see
 * ckfs_proc_error()), -ENOENT when the process has no such data (a zombie
 * has no mm and no files).
 */
int ckfs_proc_core(struct ckfs_proc *p, uint32_t tid,
		   const struct ckfs_core **out);
int ckfs_proc_mm(struct ckfs_proc *p, const struct ckfs_proc_mm **out);
int ckfs_proc_files(struct ckfs_proc *p, const struct ckfs_proc_files **out);

/* The last load error of @p's units, or "" (for logs and metadata). */
const char *ckfs_proc_error(struct ckfs_proc *p);

/* The task's comm: the leader core's comm, or "" when unknown. */
const char *ckfs_proc_comm(struct ckfs_proc *p);

/*
 * ckfs_proc_mem_read() - read @len bytes of the address space at @va.
 * Bytes the checkpoint does not hold (holes, unmapped, file pages that
 * were never dirtied) read as zeros.  Returns @len, or -EIO if the
 * memory unit is broken or a pages image cannot be read.
 */
ssize_t ckfs_proc_mem_read(struct ckfs_proc *p, void *buf, size_t len,
			   uint64_t va);

/*
 * ckfs_proc_mem_next_data() - the first address >= @va whose bytes come
 * from the checkpoint (SEEK_DATA); *@out = UINT64_MAX when none.
 */
int ckfs_proc_mem_next_data(struct ckfs_proc *p, uint64_t va, uint64_t *out);

/*
 * ckfs_proc_mem_string() - read [start, end) (at most @max bytes) into a
 * new buffer; used for cmdline and environ.
 */
int ckfs_proc_mem_range(struct ckfs_proc *p, uint64_t start, uint64_t end,
			size_t max, char **out, size_t *len);

/* files.img (with remaps and memfds), loaded on first use; NULL if broken. */
const struct ckfs_files *ckfs_ckpt_files(struct ckfs_ckpt *ck);

/*
 * Paths as /proc shows them, malloc'ed (caller frees), NULL if unknown:
 * a REG file by id (with " (deleted)" when it was unlinked), and a memfd
 * by memfd.img inode id.  Need ckfs_ckpt_files() to have succeeded.
 */
char *ckfs_ckpt_file_path(const struct ckfs_ckpt *ck, uint32_t id);
char *ckfs_ckpt_memfd_path(const struct ckfs_ckpt *ck, uint32_t inode_id);

#endif /* CKFS_MODEL_MODEL_H */
