/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Contents CRIU saved for a task's open files: deleted ("ghost") files,
 * memfds, buffered pipe and fifo data, and tmpfs mounts (as the raw
 * tar.gz CRIU wrote).  Each is a blob: byte ranges of archive members,
 * or a shared memory object, read on demand and never copied whole.
 * Units load lazily like model.h's and keep their error; pointers are
 * valid until ckfs_ckpt_free() and the getters are thread-safe.
 */
#ifndef CKFS_MODEL_SAVED_H
#define CKFS_MODEL_SAVED_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "image/payload.h"
#include "model/model.h"

/*
 * A byte stream CRIU saved.  Either extents of member @m (bytes between
 * extents are holes and read as zeros), or, with @shm set, the first
 * @size bytes of shared memory object @shmid (pagemap-shmem-<shmid>.img).
 */
struct ckfs_blob {
	const struct ckfs_member *m;
	uint64_t size;
	size_t n;
	struct ckfs_extent *ext; /* sorted by off, non-overlapping; owned */
	bool shm;
	uint32_t shmid;
	uint64_t page_size;
	char *error; /* why it cannot be read (reads fail, EIO), or NULL */
};

/*
 * ckfs_blob_read() - read up to @len bytes of @b at @off.  Returns the
 * count (short only at the end), or -EIO if the archive cannot be read
 * or the image holding the blob is broken (@b->error).
 */
ssize_t ckfs_blob_read(struct ckfs_ckpt *ck, const struct ckfs_blob *b,
		       void *buf, size_t len, uint64_t off);

enum ckfs_saved_kind {
	CKFS_SAVED_GHOST,
	CKFS_SAVED_MEMFD,
	CKFS_SAVED_PIPE,
	CKFS_SAVED_FIFO,
	CKFS_SAVED_TMPFS,
};
/* "ghost", "memfd", "pipe", "fifo", "tmpfs" */
const char *ckfs_saved_kind_name(enum ckfs_saved_kind k);

struct ckfs_saved {
	char *name; /* under saved/: "<fd>", or "tmpfs-dev-<dev>.tar.gz" */
	enum ckfs_saved_kind kind;
	bool has_fd;
	uint32_t fd;
	uint32_t mnt_id; /* tmpfs: the first mount of it (lowest id) */
	char *path;	 /* where it lived: the file's path, "/memfd:<name>",
			 * "pipe:[<ino>]", the fifo's path, the mountpoint */
	uint32_t mode;	 /* ghost: st_mode; 0 when not recorded */
	int64_t mtime;	 /* ghost: st_mtime; 0 when not recorded */
	struct ckfs_blob blob;
};

struct ckfs_proc_saved {
	size_t n;
	struct ckfs_saved *items; /* fds in fd order, then tmpfs mounts */
};

/*
 * ckfs_proc_saved() - what CRIU saved for @p's fds (and its mount
 * namespace's tmpfs mounts).  An image that cannot be decoded (a ghost
 * file, pipes-data.img) gives items whose blob has an error, so the
 * files are listed and fail alone.  Returns 0, -ENOENT for a zombie,
 * -EIO when @p's files unit is broken, -ENOMEM.
 */
int ckfs_proc_saved(struct ckfs_proc *p, const struct ckfs_proc_saved **out);

/*
 * Why @p's net/ or saved/ (or net/queues/) fails, or "" (for
 * metadata.json); loads both units if they are not yet.
 */
const char *ckfs_proc_x_error(struct ckfs_proc *p);

#endif /* CKFS_MODEL_SAVED_H */
