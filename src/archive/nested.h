/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A tar archive stored as one member of the outer archive, such as an
 * engine's rootfs-diff.tar, indexed without extracting it.
 *
 * An uncompressed nested tar is indexed from its headers by libarchive
 * reading the member through ckfs_archive_pread() (read, skip and seek
 * callbacks, so member data is skipped, never read); each entry records
 * its data offset relative to the member, and reads go straight to the
 * outer archive.  A compressed nested tar (containerd writes a gzip layer
 * blob under the name rootfs-diff.tar) cannot be read at random offsets,
 * so it is decompressed once, when opened, into a private cache file (see
 * ckfs_cache_open(): memory or -o cache_dir, limited like a compressed
 * archive's cache by -o cache_max), and indexed and served from there; one
 * that would outgrow the cache's limit is refused with -EOVERFLOW and a
 * reason.  Only libarchive's built-in decoders are used, never an
 * external program.
 *
 * Entry names are normalized like the outer archive's ("./" and a leading
 * '/' dropped); a name with a ".." component refuses the whole nested
 * archive.  Entries reuse struct ckfs_member; their data_off is relative
 * to the nested tar.  The index is immutable once open, so every function
 * here is safe to call from many threads at once.
 */
#ifndef CKFS_ARCHIVE_NESTED_H
#define CKFS_ARCHIVE_NESTED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "archive/archive.h"
#include "base/err.h"

struct ckfs_nested;

/*
 * ckfs_nested_open() - index the tar held in member @m of @ar.
 *
 * @ar must outlive the result.  Returns 0 and a new index in *@out, or a
 * negative errno with a one-line reason in @err naming @m: -EBADMSG not a
 * tar or truncated, -EINVAL an entry name with "..", -EOVERFLOW past the
 * cache limit decompressed or too many entries, -ENOTSUP a compression
 * libarchive cannot decode by itself, -EIO the member (or the cache)
 * cannot be read or written, -ENOMEM.
 */
int ckfs_nested_open(struct ckfs_archive *ar, const struct ckfs_member *m,
		     struct ckfs_nested **out, struct ckfs_err *err);

/* ckfs_nested_free() - NULL is a no-op. */
void ckfs_nested_free(struct ckfs_nested *nt);

/* "none", or the compression that was undone ("gzip", "zstd" ...). */
const char *ckfs_nested_compression(const struct ckfs_nested *nt);

/* Entries sorted by name; valid until ckfs_nested_free(). */
size_t ckfs_nested_count(const struct ckfs_nested *nt);
const struct ckfs_member *ckfs_nested_member(const struct ckfs_nested *nt,
					     size_t i);
/* ckfs_nested_find() - the entry called @name, or NULL. */
const struct ckfs_member *ckfs_nested_find(const struct ckfs_nested *nt,
					   const char *name);

/*
 * ckfs_nested_pread() - read up to @len bytes of entry @m at @off.
 * Returns the count (short only at the entry's end), or -EIO if @m is not
 * a readable regular file or the outer archive cannot be read.
 */
ssize_t ckfs_nested_pread(const struct ckfs_nested *nt,
			  const struct ckfs_member *m, void *buf, size_t len,
			  uint64_t off);

#endif /* CKFS_ARCHIVE_NESTED_H */
