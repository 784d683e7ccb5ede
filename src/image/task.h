/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Decoders for the images that describe a task's surroundings rather than
 * the task itself: seccomp filter chains (seccomp.img), cgroup sets
 * (cgroup.img) and mount tables (mountpoints-<mnt_ns_id>.img).  Like
 * criu.h: plain structs owned by the caller, protobuf types stay here.
 */
#ifndef CKFS_IMAGE_TASK_H
#define CKFS_IMAGE_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "base/err.h"

/* One seccomp_filter: only the chain link is kept. */
struct ckfs_seccomp_filter {
	bool has_prev;
	uint32_t prev;	 /* index of the filter installed before this one */
	uint32_t ninsns; /* struct sock_filter instructions */
};

/*
 * ckfs_img_read_seccomp() - the filters of seccomp.img, in image order.
 * A missing image gives n = 0.  *@out is malloc'ed (caller frees).
 */
int ckfs_img_read_seccomp(struct ckfs_archive *ar, const char *name,
			  struct ckfs_seccomp_filter **out, size_t *n,
			  struct ckfs_err *err);

/*
 * ckfs_seccomp_chain_len() - how many filters apply from filter @idx on,
 * following prev; 0 if @idx is out of range.  A chain that loops or runs
 * out of range stops counting there.
 */
uint32_t ckfs_seccomp_chain_len(const struct ckfs_seccomp_filter *f, size_t n,
				uint32_t idx);

struct ckfs_cg_ctl {
	char *name; /* "cpu,cpuacct", "name=systemd", "" for v2 */
	char *path;
	uint32_t cgns_prefix; /* bytes of path that are the cgroup ns root */
};

struct ckfs_cg_set {
	uint32_t id;
	size_t n;
	struct ckfs_cg_ctl *ctls; /* in image order */
};

/*
 * ckfs_img_read_cgroup() - the cgroup sets of cgroup.img (the controller
 * trees are not decoded).  A missing image gives n = 0.  Free with
 * ckfs_cg_sets_free().
 */
int ckfs_img_read_cgroup(struct ckfs_archive *ar, const char *name,
			 struct ckfs_cg_set **out, size_t *n,
			 struct ckfs_err *err);
void ckfs_cg_sets_free(struct ckfs_cg_set *s, size_t n);

struct ckfs_mnt {
	uint32_t fstype; /* CRIU's enum, see ckfs_mnt_fstype_name() */
	uint32_t mnt_id, parent_mnt_id;
	uint32_t root_dev; /* major << 20 | minor */
	uint32_t flags;	   /* MS_* of the mount */
	uint32_t sb_flags; /* MS_* of the superblock */
	uint32_t shared_id, master_id;
	bool deleted;
	char *root, *mountpoint, *source, *options,
		*fsname; /* NULL if absent */
};

/*
 * ckfs_img_read_mnts() - the mounts of mountpoints-<id>.img, in image
 * order.  -ENOENT if the member is missing.  Free with ckfs_mnts_free().
 */
int ckfs_img_read_mnts(struct ckfs_archive *ar, const char *name,
		       struct ckfs_mnt **out, size_t *n, struct ckfs_err *err);
void ckfs_mnts_free(struct ckfs_mnt *m, size_t n);

/* The file system type name of CRIU's fstype enum, or NULL if unknown. */
const char *ckfs_mnt_fstype_name(uint32_t fstype);

#endif /* CKFS_IMAGE_TASK_H */
