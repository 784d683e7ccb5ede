/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The archive layer: the only code that knows where bytes live.  It opens
 * an input (a tar, plain or compressed as a whole with gzip, zstd, xz or
 * bzip2, or a directory), indexes its members once from headers alone, and
 * serves byte ranges of a member.  It knows nothing about CRIU.  Member
 * names are normalized relative paths ("checkpoint/pstree.img"); a name
 * that would leave the archive ('..', leading '/') is refused.  Symlink
 * members are recorded, never followed.
 *
 * A plain tar or a directory is fully indexed by ckfs_archive_open().  A
 * compressed tar is decoded once, sequentially, by a background thread
 * into a private cache file (unlinked from the start), and indexed from
 * that cache as far as callers need: ckfs_archive_open() returns after the
 * first header, and then
 *   - ckfs_archive_find() waits until the member is indexed, or until the
 *     whole stream is, for a name the archive does not hold;
 *   - ckfs_archive_count() and ckfs_archive_member() wait until the whole
 *     stream is decoded and indexed;
 *   - ckfs_archive_pread() waits until its own byte range is decoded.
 * None of these waits can hang: the decoder always ends (the stream ends,
 * fails, or reaches the cache limit) and then wakes every waiter.  A read
 * the decoder can no longer satisfy fails with -EIO.
 *
 * A zstd tar made of many frames that each tell their decoded size (in
 * their header, or in a seek table of the zstd seekable format) is read
 * by frame instead: no thread, no cache file; it is indexed whole by
 * ckfs_archive_open() (decoding only the frames that hold tar headers),
 * and a read decodes only the frames it overlaps; a frame that fails to
 * decode fails those reads only, with -EIO.
 *
 * An uncompressed tar that is an OCI image layout (members oci-layout and
 * index.json) is indexed as the layer(s) that hold its checkpoint: the
 * members are those of the layer tars (oci.c), not the blobs.
 *
 * Every function here is safe to call from many threads at once, except
 * ckfs_archive_set_opts(), ckfs_archive_pause() and ckfs_archive_resume()
 * (see there).
 * A member pointer, once handed out, stays valid until ckfs_archive_free().
 */
#ifndef CKFS_ARCHIVE_ARCHIVE_H
#define CKFS_ARCHIVE_ARCHIVE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

#define CKFS_ARCHIVE_MEMBERS_MAX (1u << 20)
#define CKFS_ARCHIVE_NAME_MAX	 4096
#define CKFS_ARCHIVE_DEPTH_MAX	 64

/*
 * The member names that say a tree holds a checkpoint's CRIU images:
 * pstree.img or inventory.img, in an engine's image directory
 * "checkpoint/" or at the top (a plain criu dump), in the order they are
 * looked for.  A marker's image directory is its name up to its last '/'.
 */
#define CKFS_CKPT_MARKERS 4
extern const char *const ckfs_ckpt_markers[CKFS_CKPT_MARKERS];

enum ckfs_member_type {
	CKFS_MEMBER_REG,
	CKFS_MEMBER_DIR,
	CKFS_MEMBER_SYMLINK,
	CKFS_MEMBER_OTHER, /* device, fifo: listed, never read */
};

struct ckfs_member {
	char *name; /* normalized relative path */
	enum ckfs_member_type type;
	uint64_t size;	   /* bytes of data (REG), else 0 */
	uint64_t data_off; /* tar: offset of the data in the file */
	uint32_t mode;	   /* permission bits */
	int64_t mtime;
	char *link;		/* symlink target, as stored */
	const char *unreadable; /* why reads fail (EIO), or NULL */
	int fd; /* directory input: opened on first read; OCI layout:
		   the layer cache (the archive's), or -1 */
};

enum ckfs_archive_kind {
	CKFS_ARCHIVE_TAR,
	CKFS_ARCHIVE_DIR,
};

struct ckfs_archive;

/* What a decompressing archive reports while it decodes. */
struct ckfs_archive_progress {
	const char *path;	 /* the archive */
	const char *compression; /* "gzip", "zstd", "xz", "bzip2" */
	uint64_t in_done;	 /* compressed bytes consumed */
	uint64_t in_total;	 /* size of the compressed file */
	uint64_t out_done;	 /* decompressed bytes in the cache */
	uint64_t elapsed_ns;	 /* since the decode started */
	bool finished;		 /* last call: the decode ended ... */
	int error;		 /* ... and how: 0 or -errno */
	const char *message;	 /* the reason, when @error */
};

typedef void (*ckfs_archive_progress_fn)(void *arg,
					 const struct ckfs_archive_progress *p);

struct ckfs_archive_opts {
	/*
	 * Where the cache of a compressed archive lives: NULL for memory
	 * (memfd, falling back to $TMPDIR), else an unlinked file in that
	 * directory (O_TMPFILE, falling back to mkstemp + unlink).
	 */
	const char *cache_dir;
	/*
	 * The most bytes a cache may hold; 0 for the default: half of the
	 * RAM for an in-memory cache, the free space of its file system for
	 * a cache file.
	 */
	uint64_t cache_max;
	/*
	 * Called from the decoder thread about four times a second while a
	 * decode runs, and once when it ends or is abandoned (-ECANCELED),
	 * but only if it was called before: a short decode reports nothing.
	 */
	ckfs_archive_progress_fn progress;
	void *progress_arg;
};

/*
 * ckfs_archive_set_opts() - options for the archives opened from now on
 * (copied; NULL restores the defaults).  Not thread-safe: call it before
 * opening archives.  Returns 0 or -ENOMEM.
 */
int ckfs_archive_set_opts(const struct ckfs_archive_opts *opts);

/*
 * ckfs_archive_open() - open @path and index its members.
 *
 * A directory is walked without following symlinks; a regular file is a
 * tar, plain or compressed (recognized by its magic, not its name).  For a
 * compressed tar the decode starts in the background (see the top of this
 * file).  Returns 0 and a new archive in *@out, or a negative errno with a
 * one-line reason in @err: -EBADMSG malformed or truncated tar or stream
 * (naming the member), -EINVAL unsafe member name, -EOVERFLOW limits
 * (including a decompressed size known up front to exceed the cache
 * limit), -ENOTSUP a compression the build cannot read; for an OCI image
 * layout also -EBADMSG when no layer holds CRIU images.
 */
int ckfs_archive_open(const char *path, struct ckfs_archive **out,
		      struct ckfs_err *err);

/* ckfs_archive_free() - close and free; NULL is a no-op. */
void ckfs_archive_free(struct ckfs_archive *ar);

enum ckfs_archive_kind ckfs_archive_kind(const struct ckfs_archive *ar);
const char *ckfs_archive_path(const struct ckfs_archive *ar);
/* Size in bytes of the archive file (0 for a directory). */
uint64_t ckfs_archive_file_size(const struct ckfs_archive *ar);
/* "gzip", "zstd", "xz", "bzip2", or NULL for a plain tar or a directory. */
const char *ckfs_archive_compression(const struct ckfs_archive *ar);

/*
 * ckfs_archive_status() - whether the archive is still sound: 0 (a plain
 * tar, a directory, or a decode that runs or ended well), or the -errno
 * of the decode or of the index built from it, with its one-line reason in
 * @err: -EBADMSG corrupt or truncated stream or tar, -EOVERFLOW the cache
 * limit, -EIO a read or write error.  Never waits.
 */
int ckfs_archive_status(const struct ckfs_archive *ar, struct ckfs_err *err);

/*
 * ckfs_archive_pause() / ckfs_archive_resume() - stop the background
 * threads (a stream's decoder, a multi-frame zstd's read-ahead) at a safe
 * point and start them again, e.g. around fork() (a thread does not
 * survive it; its state does).  No-ops for a plain tar or a directory,
 * and once a decode has ended.  Readers keep working meanwhile (they wait
 * for bytes not decoded yet, or decode frames themselves), but these two
 * must not run at the same time as each other or ckfs_archive_free().
 */
void ckfs_archive_pause(struct ckfs_archive *ar);
void ckfs_archive_resume(struct ckfs_archive *ar);

/*
 * Members sorted by name; valid until ckfs_archive_free().  For a
 * compressed tar these wait until the whole stream is decoded; the index
 * then holds what was read before the end or the first error.
 */
size_t ckfs_archive_count(const struct ckfs_archive *ar);
const struct ckfs_member *ckfs_archive_member(const struct ckfs_archive *ar,
					      size_t i);

/*
 * ckfs_archive_find() - the member called @name, or NULL.  For a
 * compressed tar still decoding, waits until @name is indexed (at once if
 * it already is) or the stream ends.  When a tar holds a name twice, the
 * later member wins; a lookup during the decode returns the last one
 * indexed so far.
 */
const struct ckfs_member *ckfs_archive_find(const struct ckfs_archive *ar,
					    const char *name);

/*
 * ckfs_archive_pread() - read up to @len bytes of @m at @off.
 * Returns the count (short only at the member's end), or -EIO if the
 * member cannot be read (not a regular file, or unreadable; for a
 * compressed tar also when the decode stopped before the end of the range,
 * or failed a checksum).  Waits only until the range is decoded.
 */
ssize_t ckfs_archive_pread(struct ckfs_archive *ar, const struct ckfs_member *m,
			   void *buf, size_t len, uint64_t off);

/*
 * A run of bytes as a reader may send them without copying them itself
 * (splice): @len bytes of file @fd at @off, or @len zero bytes (@fd -1).
 */
struct ckfs_seg {
	int fd;
	uint64_t off;
	uint64_t len;
};

/*
 * ckfs_archive_locate() - where the bytes [@off, @off + @len) of @m lie,
 * a range (not empty) that must lie inside the member: the file range in
 * *@seg holding the first of them (its fd stays open until
 * ckfs_archive_free()), and how many it holds, 1 to @len: all of them but
 * in a compressed tar, where they may be partly in the cache and partly,
 * as raw zstd blocks, in the archive file.  For a compressed tar it waits,
 * as ckfs_archive_pread() does, until the range is decoded.  Returns
 * -ENOTSUP when the bytes are not in a file that stays as it is (a
 * multi-frame zstd archive, a directory input), -EIO where
 * ckfs_archive_pread() would fail.
 */
int64_t ckfs_archive_locate(struct ckfs_archive *ar,
			    const struct ckfs_member *m, uint64_t off,
			    uint64_t len, struct ckfs_seg *seg);

/*
 * ckfs_archive_read_all() - read a whole member into a new buffer, refusing
 * members larger than @max with -EOVERFLOW.  *@out is malloc'ed (caller
 * frees), NUL-terminated for convenience; *@len excludes the NUL.
 */
int ckfs_archive_read_all(struct ckfs_archive *ar, const struct ckfs_member *m,
			  size_t max, char **out, size_t *len);

#endif /* CKFS_ARCHIVE_ARCHIVE_H */
