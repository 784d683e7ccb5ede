/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The archive layer: the only code that knows where bytes live.  It opens
 * an input (an uncompressed tar, or a directory), indexes its members once
 * from headers alone, and serves byte ranges of a member.  It knows nothing
 * about CRIU.  Member names are normalized relative paths ("checkpoint/
 * pstree.img"); a name that would leave the archive ('..', leading '/') is
 * refused at open.  Symlink members are recorded, never followed.
 *
 * The index is immutable after ckfs_archive_open(), so every function here
 * is safe to call from many threads at once.
 */
#ifndef CKFS_ARCHIVE_ARCHIVE_H
#define CKFS_ARCHIVE_ARCHIVE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

#define CKFS_ARCHIVE_MEMBERS_MAX (1u << 20)
#define CKFS_ARCHIVE_NAME_MAX 4096
#define CKFS_ARCHIVE_DEPTH_MAX 64

enum ckfs_member_type {
	CKFS_MEMBER_REG,
	CKFS_MEMBER_DIR,
	CKFS_MEMBER_SYMLINK,
	CKFS_MEMBER_OTHER, /* device, fifo: listed, never read */
};

struct ckfs_member {
	char *name;		/* normalized relative path */
	enum ckfs_member_type type;
	uint64_t size;		/* bytes of data (REG), else 0 */
	uint64_t data_off;	/* tar: offset of the data in the file */
	uint32_t mode;		/* permission bits */
	int64_t mtime;
	char *link;		/* symlink target, as stored */
	const char *unreadable;	/* why reads fail (EIO), or NULL */
	int fd;			/* directory input: opened on first read */
};

enum ckfs_archive_kind {
	CKFS_ARCHIVE_TAR,
	CKFS_ARCHIVE_DIR,
};

struct ckfs_archive;

/*
 * ckfs_archive_open() - open @path and index its members.
 *
 * A directory is walked without following symlinks; a regular file must be
 * an uncompressed tar (a compressed one is refused, naming the compression).
 * Returns 0 and a new archive in *@out, or a negative errno with a one-line
 * reason in @err: -ENOTSUP compression, -EBADMSG malformed or truncated
 * tar (naming the member), -EINVAL unsafe member name, -EOVERFLOW limits.
 */
int ckfs_archive_open(const char *path, struct ckfs_archive **out,
		      struct ckfs_err *err);

/* ckfs_archive_free() - close and free; NULL is a no-op. */
void ckfs_archive_free(struct ckfs_archive *ar);

enum ckfs_archive_kind ckfs_archive_kind(const struct ckfs_archive *ar);
const char *ckfs_archive_path(const struct ckfs_archive *ar);
/* Size in bytes of the archive file (0 for a directory). */
uint64_t ckfs_archive_file_size(const struct ckfs_archive *ar);

/* Members sorted by name; valid until ckfs_archive_free(). */
size_t ckfs_archive_count(const struct ckfs_archive *ar);
const struct ckfs_member *ckfs_archive_member(const struct ckfs_archive *ar,
					      size_t i);

/* ckfs_archive_find() - the member called @name, or NULL. */
const struct ckfs_member *ckfs_archive_find(const struct ckfs_archive *ar,
					    const char *name);

/*
 * ckfs_archive_pread() - read up to @len bytes of @m at @off.
 * Returns the count (short only at the member's end), or -EIO if the
 * member cannot be read (not a regular file, or unreadable).
 */
ssize_t ckfs_archive_pread(struct ckfs_archive *ar,
			   const struct ckfs_member *m, void *buf, size_t len,
			   uint64_t off);

/*
 * ckfs_archive_read_all() - read a whole member into a new buffer, refusing
 * members larger than @max with -EOVERFLOW.  *@out is malloc'ed (caller
 * frees), NUL-terminated for convenience; *@len excludes the NUL.
 */
int ckfs_archive_read_all(struct ckfs_archive *ar, const struct ckfs_member *m,
			  size_t max, char **out, size_t *len);

#endif /* CKFS_ARCHIVE_ARCHIVE_H */
