/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private to archive/: the decompressing stream behind a compressed tar
 * (decompress.c) and its cache file (cache.c).  The index (archive.c) only
 * sees a stream as "bytes [0, ready) of the decoded tar are in this fd".
 * A zstd tar of many frames is read by frame instead (zseek.c).
 */
#ifndef CKFS_ARCHIVE_ARCHIVE_I_H
#define CKFS_ARCHIVE_ARCHIVE_I_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "archive/archive.h"
#include "base/err.h"

enum ckfs_compression {
	CKFS_COMP_NONE,
	CKFS_COMP_GZIP,
	CKFS_COMP_ZSTD,
	CKFS_COMP_XZ,
	CKFS_COMP_BZIP2,
};

struct ckfs_stream;

/*
 * ckfs_stream_sniff() - the compression of the file @fd, by magic.
 * Returns an enum ckfs_compression (>= 0) or -errno if @fd cannot be read.
 */
int ckfs_stream_sniff(int fd);
const char *ckfs_stream_comp_name(enum ckfs_compression comp);

/*
 * ckfs_stream_new() - start decoding @fd (a file of @size bytes compressed
 * with @comp) into a new cache file, on a new thread.  Checks what can be
 * known before decoding (a zstd frame content size, the gzip ISIZE, the
 * first bytes decode) against the cache limit of @opts.  Returns 0 and the
 * stream in *@out, or -errno with a one-line reason in @err.  @fd stays the
 * caller's.
 */
int ckfs_stream_new(int fd, uint64_t size, const char *path,
		    enum ckfs_compression comp,
		    const struct ckfs_archive_opts *opts,
		    struct ckfs_stream **out, struct ckfs_err *err);

/* Stop the decoder, close the cache (which frees it) and free; NULL ok. */
void ckfs_stream_free(struct ckfs_stream *st);

/*
 * ckfs_stream_wait() - wait until at least @want bytes are decoded from
 * @pos on (fewer if the stream ends first).  Returns the number of decoded
 * bytes available at @pos (>= @want, or what there is once the decode
 * ended; 0 at the end), or -EIO when the decode failed before @pos + @want
 * or failed a checksum.
 */
int64_t ckfs_stream_wait(struct ckfs_stream *st, uint64_t pos, uint64_t want);

/*
 * ckfs_stream_pread() - wait until decoded bytes [@pos, @pos + @len) are
 * ready and read them: from the cache file (byte i of the decoded stream
 * at offset i), or from the archive file where they are a raw zstd block.
 * Returns @len, or -EIO (as ckfs_stream_wait() fails, or short).
 */
ssize_t ckfs_stream_pread(struct ckfs_stream *st, void *buf, size_t len,
			  uint64_t pos);

/*
 * ckfs_stream_locate() - wait as ckfs_stream_pread() does, then the file
 * range where the first of those bytes lie, in *@seg (the cache's or the
 * archive's fd).  Returns the bytes placed there (1 to @len), or -EIO.
 */
int64_t ckfs_stream_locate(struct ckfs_stream *st, uint64_t pos, uint64_t len,
			   struct ckfs_seg *seg);

/* ckfs_stream_wait_end() - wait until the decode has ended. */
void ckfs_stream_wait_end(struct ckfs_stream *st);

/* 0 while running or ended well, or the failure and its reason. */
int ckfs_stream_status(const struct ckfs_stream *st, struct ckfs_err *err);

void ckfs_stream_pause(struct ckfs_stream *st);
void ckfs_stream_resume(struct ckfs_stream *st);

/*
 * zseek.c: a zstd file of many frames, read by frame (no cache file; a
 * read-ahead thread decodes the next frames of a sequential reader).
 *
 * ckfs_zseek_open() - build the frame table of the zstd file @fd of @size
 * bytes, from its seek table (zstd seekable format) if it has a sound one,
 * else by walking the frame and block headers (a few bytes per block).
 * Returns 1 and a new reader in *@out; 0 when the file is not one to read
 * by frame (a single frame, a frame without a content size, a frame over
 * 8 MiB decoded, more than 2^20 frames, anything unexpected: stream it
 * with ckfs_stream_new() instead); or -ENOMEM with @err.  @fd stays the
 * caller's and must outlive the reader.
 */
struct ckfs_zseek;

int ckfs_zseek_open(int fd, uint64_t size, const char *path,
		    struct ckfs_zseek **out, struct ckfs_err *err);
void ckfs_zseek_free(struct ckfs_zseek *zs);

/* The size of the decoded stream. */
uint64_t ckfs_zseek_size(const struct ckfs_zseek *zs);

struct ckfs_zseek_info {
	size_t frames;		  /* frames with data */
	uint64_t size;		  /* decoded bytes */
	uint32_t frame_max;	  /* the largest frame, decoded */
	unsigned slots;		  /* decoded frames kept at most */
	bool seek_table;	  /* the table came from a seek table */
	uint64_t prefetched;	  /* frames the read-ahead decoded */
	uint64_t prefetch_used;	  /* ... that a reader then read there */
	uint64_t prefetch_failed; /* frames it failed to decode (dropped) */
};
void ckfs_zseek_info(const struct ckfs_zseek *zs, struct ckfs_zseek_info *info);

/*
 * ckfs_zseek_pread() - decoded bytes [@off, @off + @len), decoding only
 * the frames they overlap (a few recently decoded ones are kept; when the
 * read follows on from a recent one, the next frames are decoded ahead on
 * the reader's read-ahead thread, started then).  Safe from many threads
 * at once.  Returns the count (short only at the end of
 * the stream), or -errno with a one-line reason in @err (may be NULL):
 * -EBADMSG a frame is corrupt, fails its checksum or disagrees with its
 * size, -EIO the file cannot be read, -ENOMEM.
 */
ssize_t ckfs_zseek_pread(struct ckfs_zseek *zs, void *buf, size_t len,
			 uint64_t off, struct ckfs_err *err);

/*
 * ckfs_zseek_pause() / ckfs_zseek_resume() - stop the read-ahead thread
 * between two frames and join it (e.g. before a fork()), and let the next
 * sequential read start it again.  Reads keep working meanwhile, without
 * read-ahead.  These two must not run at the same time as each other or
 * ckfs_zseek_free() (which stops the thread itself).
 */
void ckfs_zseek_pause(struct ckfs_zseek *zs);
void ckfs_zseek_resume(struct ckfs_zseek *zs);

/* How much a cache file may hold, and why (for messages). */
struct ckfs_cache_limit {
	uint64_t bytes;
	char why[96];
};

/*
 * cache.c: ckfs_cache_open() - a new private cache file, already unlinked
 * (so it vanishes with the process, even on SIGKILL): a memfd, or an
 * O_TMPFILE, or a mkstemp()ed then unlinked file, in @opts->cache_dir
 * (NULL: memory first, then $TMPDIR or /tmp).  Stores in *@lim the most
 * it may hold: @opts->cache_max, else half of the RAM for memory, the
 * free space of the file system for a file.  Returns the fd or -errno
 * with a reason in @err.
 */
int ckfs_cache_open(const struct ckfs_archive_opts *opts,
		    struct ckfs_cache_limit *lim, struct ckfs_err *err);

/* Where compressed nested tars are decoded, one after the other. */
struct ckfs_nested_cache {
	int fd;	       /* a ckfs_cache_open() file, or -1 for none yet */
	uint64_t base; /* where the next decoded tar starts in it */
	struct ckfs_cache_limit lim; /* it may not grow past lim.bytes */
	const char *label;	     /* shown in progress reports; NULL: none */
};

/*
 * nested.c: ckfs_nested_open_in() - ckfs_nested_open(), but a compressed
 * @m is decoded into @cache's file from @cache->base on (opened first, if
 * @cache->fd is -1; the caller closes it), not into a cache of its own,
 * and the decode reports its progress as the archive's own does
 * (ckfs_archive_opts.progress), named @cache->label.  The entries'
 * data_off are then relative to @cache->base; ckfs_nested_decoded() says
 * how many bytes of the file the decoded tar took (0: @m was not
 * compressed, and nothing was written).
 */
struct ckfs_nested;
int ckfs_nested_open_in(struct ckfs_archive *ar, const struct ckfs_member *m,
			struct ckfs_nested_cache *cache,
			struct ckfs_nested **out, struct ckfs_err *err);
uint64_t ckfs_nested_decoded(const struct ckfs_nested *nt);

/* archive.c: the options set by ckfs_archive_set_opts(). */
const struct ckfs_archive_opts *ckfs_archive_get_opts(void);

/*
 * ckfs_cache_write() - write @len bytes at @off, leaving 4 KiB blocks of
 * zeros as holes, and make the file at least @off + @len long.  Returns 0
 * or -errno.
 */
int ckfs_cache_write(int fd, const void *buf, size_t len, uint64_t off);

/* One member of an index built outside archive.c (oci.c). */
struct ckfs_oci_entry {
	struct ckfs_member m; /* data_off: in the archive file or the cache */
	bool in_cache;	      /* data in the cache file, not the archive */
};

/*
 * oci.c: ckfs_oci_resolve() - if the complete index of the plain tar @ar
 * is an OCI image layout (members oci-layout and index.json), replace it
 * by the members of the layers that hold the checkpoint; a compressed
 * layer is decoded into a cache file (ckfs_cache_open()).
 * Returns 0 (not OCI, or replaced) or -errno with a reason in @err:
 * -EBADMSG no layer holds CRIU images, -EOVERFLOW, -EIO, -ENOMEM.
 */
int ckfs_oci_resolve(struct ckfs_archive *ar, struct ckfs_err *err);

/*
 * archive.c: ckfs_archive_replace_index() - (open time only) drop the
 * index of @ar and index @n entries @e instead, taking their names and
 * links (in every case) and @cache_fd (-1 for none; the file the entries
 * with in_cache read from).  Returns 0 or -ENOMEM.
 */
int ckfs_archive_replace_index(struct ckfs_archive *ar,
			       struct ckfs_oci_entry *e, size_t n, int cache_fd,
			       struct ckfs_err *err);

/*
 * ckfs_archive_normalize() - a stored member name as a relative path in
 * @out: "./", empty and "." components and a trailing '/' dropped; a
 * leading '/' is dropped too when @allow_absolute (a nested layer),
 * refused otherwise.  Returns 0, 1 for the archive's root itself (skip
 * it), -EINVAL for a name that would leave the archive ('..'), or
 * -EOVERFLOW when it does not fit in @outsz.
 */
int ckfs_archive_normalize(const char *name, bool allow_absolute, char *out,
			   size_t outsz);

struct archive;
struct archive_entry;

/*
 * ckfs_archive_classify() - fill @m's type, size, permission bits, mtime,
 * data offset (where reader @a stands, just past the header), symlink
 * target and unreadable reason from a tar header; shared by the archive's
 * own index and nested layers.  A hard link is returned in *@hardlink
 * (its target's name, to be resolved by the caller), with @m a regular
 * file of size 0; otherwise *@hardlink is NULL.  Returns 0 or -ENOMEM.
 */
int ckfs_archive_classify(struct archive *a, struct archive_entry *ent,
			  struct ckfs_member *m, const char **hardlink,
			  struct ckfs_err *err);

#endif /* CKFS_ARCHIVE_ARCHIVE_I_H */
