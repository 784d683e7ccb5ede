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
/*
 * ckfs_proc_ids() - the ids-<pid>.img of @p alone (its namespaces), as in
 * ckfs_proc_files()->ids but without the other images that needs (some
 * optional, whose absence a compressed archive only knows at its end).
 */
int ckfs_proc_ids(struct ckfs_proc *p, const struct ckfs_ids **out);

/* The last load error of @p's units, or "" (for logs and metadata). */
const char *ckfs_proc_error(struct ckfs_proc *p);

/* The task's comm: the leader core's comm, or "" when unknown. */
const char *ckfs_proc_comm(struct ckfs_proc *p);

/*
 * ckfs_proc_mem_read() - read @len bytes of the address space at @va,
 * from the sources ckfs_proc_mem_extent() names.  Bytes the checkpoint does
 * not hold (holes, unmapped, file pages that were never dirtied and are not
 * under the rootfs, lazy-only pages) read as zeros.  Returns @len, or -EIO
 * if the memory unit is broken, a pages image cannot be read, or a page
 * lives in a parent dump that cannot be found (CKFS_MEM_LOST).
 */
ssize_t ckfs_proc_mem_read(struct ckfs_proc *p, void *buf, size_t len,
			   uint64_t va);

/*
 * ckfs_proc_mem_next_data() - the first address >= @va whose bytes come
 * from a real page (SEEK_DATA): a pages image of the checkpoint or of a
 * parent dump, a shared-memory object, or the file under the rootfs.
 * *@out = UINT64_MAX when there is none.  Returns 0 or -EIO.
 */
int ckfs_proc_mem_next_data(struct ckfs_proc *p, uint64_t va, uint64_t *out);

/*
 * Where the bytes of an address range come from (memmap, SEEK_DATA).
 * Sources are looked up in CRIU's order (criu-format.md §3.3): the task's
 * pagemap first (its PE_PARENT runs through the `parent` image directory
 * chain), then the shared-memory object of a shared mapping, then the
 * mapped file under the rootfs (ckfs_ckpt_set_rootfs()), then zeros.
 */
enum ckfs_mem_src {
	CKFS_MEM_UNMAPPED, /* in no mapping: zeros */
	CKFS_MEM_ZERO, /* mapped, never dumped (untouched, vvar): zeros */
	CKFS_MEM_PAGES, /* a pages image: the only real data */
	CKFS_MEM_LAZY, /* a lazy-only entry, not in the archive: zeros */
	CKFS_MEM_FILE, /* the mapped file under the rootfs */
	CKFS_MEM_NOFILE, /* file-backed, no copy of the file: zeros */
	CKFS_MEM_LOST, /* in a parent dump that cannot be read: EIO */
};

#define CKFS_MEM_DATA_SRCS ((1u << CKFS_MEM_PAGES) | (1u << CKFS_MEM_FILE))

/* One range with a single source; every pointer lives as long as the ckpt. */
struct ckfs_mem_ext {
	uint64_t va, len;
	enum ckfs_mem_src src;
	const struct ckfs_vma *vma; /* NULL when unmapped */
	unsigned int depth; /* 0: this dump; n: its n-th parent */
	bool shmem; /* through a shared-memory object */
	const struct ckfs_member *member; /* PAGES: the pages image */
	uint64_t off; /* PAGES: in member; FILE: in file */
	int fd; /* FILE: the open rootfs file */
	const char *why; /* LOST, NOFILE: a short reason */
};

/*
 * ckfs_proc_mem_extent() - the source of the bytes at @va, and how far it
 * goes (at most to the end of @va's mapping or, when unmapped, to the next
 * mapping).  Returns 0, -ENOENT for a zombie, -EIO for a broken unit.
 */
int ckfs_proc_mem_extent(struct ckfs_proc *p, uint64_t va,
			 struct ckfs_mem_ext *out);

/*
 * ckfs_proc_pagemap_extent() - the same through the task's own pagemap
 * alone, mappings ignored (what `checkpointctl memparse` dumps): PAGES,
 * LAZY or LOST inside a pagemap entry, ZERO up to the next entry.
 */
int ckfs_proc_pagemap_extent(struct ckfs_proc *p, uint64_t va,
			     struct ckfs_mem_ext *out);

/*
 * ckfs_mem_ext_read() - read @len bytes at @va, which must lie inside @e.
 * Returns @len, or -EIO (a LOST extent, or an image that cannot be read).
 */
ssize_t ckfs_mem_ext_read(struct ckfs_ckpt *ck, const struct ckfs_mem_ext *e,
			  void *buf, size_t len, uint64_t va);

/*
 * ckfs_proc_mem_segs() - the bytes [@va, @va + @len) as at most *@nseg
 * file ranges and runs of zeros (adjacent ones merged), for a reader that
 * would rather not copy them itself: 0 and their count in *@nseg.
 * Returns -ENOTSUP when they need more segments or come from anything but
 * pages images that ckfs_archive_locate() can place and zeros (read them
 * with ckfs_proc_mem_read() instead), -EIO.
 */
int ckfs_proc_mem_segs(struct ckfs_proc *p, uint64_t va, uint64_t len,
		       struct ckfs_seg *seg, size_t *nseg);

/*
 * ckfs_proc_mem_seek() - SEEK_DATA (@data) or SEEK_HOLE (!@data) over the
 * address space below @end, where data are the sources in @srcs (a mask
 * of 1 << enum ckfs_mem_src).  *@out is the first data address >= @va
 * (UINT64_MAX if none below @end), or the end of the data run holding @va
 * (@va itself in a hole; at most @end).  O(runs + mappings), no page I/O.
 * Returns 0 or -EIO.
 */
int ckfs_proc_mem_seek(struct ckfs_proc *p, uint64_t va, uint64_t end,
		       bool data, unsigned int srcs, uint64_t *out);

/*
 * ckfs_proc_mem_data_end() - the end of the data run holding @va (SEEK_HOLE
 * counterpart of ckfs_proc_mem_next_data()); @va itself when @va is in a
 * hole, at most the end of the address space.  Returns 0 or -EIO.
 */
int ckfs_proc_mem_data_end(struct ckfs_proc *p, uint64_t va, uint64_t *out);

/*
 * ckfs_ckpt_set_rootfs() - serve file-backed pages that the checkpoint does
 * not hold from the tree under @dirfd (an O_PATH directory; taken over,
 * closed by ckfs_ckpt_free()).  Files are opened with RESOLVE_IN_ROOT, so
 * neither '..' nor a symlink leads out of it.  Call before any read.
 */
void ckfs_ckpt_set_rootfs(struct ckfs_ckpt *ck, int dirfd);

/*
 * ckfs_proc_mem_has_pages() - whether the task's own pagemap holds at
 * least one PE_PRESENT page in [@start, @end); shared memory objects are
 * not looked at.  O(log runs + runs in the range), no I/O.  Returns 1 or
 * 0, -ENOENT for a zombie, or -EIO if the memory unit is broken.
 */
int ckfs_proc_mem_has_pages(struct ckfs_proc *p, uint64_t start,
			    uint64_t end);

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

/*
 * ckfs_ckpt_shm_read() - read @len bytes at offset @off of shared memory
 * object @shmid (a memfd's or shared mapping's pagemap-shmem-<shmid>.img,
 * pages of @page_size bytes); pages it does not hold read as zeros.
 * Returns @len, -EINVAL if the range wraps, or -EIO.
 */
ssize_t ckfs_ckpt_shm_read(struct ckfs_ckpt *ck, uint32_t shmid,
			   uint64_t page_size, void *buf, size_t len,
			   uint64_t off);

#endif /* CKFS_MODEL_MODEL_H */
