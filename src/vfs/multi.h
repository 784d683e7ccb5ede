/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mount's inode space: one checkpoint's tree, or a directory of
 * checkpoint archives, each in its own tree.  The FUSE layer asks this
 * layer, by mount-wide inode number, for attributes, entries and bytes;
 * it never sees a tree.  No FUSE types here.
 *
 * Single mode: inode numbers are the tree's own.
 *
 * Directory mode (checkpointfs /var/lib/kubelet/checkpoints MNT): the
 * root holds one directory per archive file, named by its file name, a
 * `checkpoints` table (checkpointctl list's columns), `checkpoints.json`
 * (the same facts, and why an archive could not be opened) and, for an
 * archive that failed to open, `<name>.error` (its one-line reason).  An
 * inode number is (slot << CKFS_MULTI_SLOT_SHIFT) | ino in the slot's
 * tree; slot 0 is the root level, and a file name keeps its slot for the
 * life of the mount.  An archive is opened (its own ckfs_ckpt and tree)
 * on the first lookup or readdir below its directory, or when the
 * `checkpoints` files or its error file are read; a broken one fails
 * those with EIO and never affects the others.  The directory is
 * rescanned on a lookup or readdir of the root, at most once a second:
 * new files appear, removed ones disappear from the root.
 *
 * Closing when idle (ckfs_multi_idle()): a reopened tree numbers its
 * nodes anew, so an archive is only closed once the kernel holds none of
 * its inodes but its directory's (slot | 1, which stands for the slot
 * whether open or not).  The caller reports every inode handed to the
 * kernel and every forget: ckfs_multi_lookup() counts the entry it
 * returns, ckfs_multi_remember() counts a readdirplus entry, and
 * ckfs_multi_forget() uncounts.  While a request or an open handle uses a
 * tree, it holds it.  An archive's list facts (`checkpoints`) are kept
 * across a close.
 *
 * All functions are safe to call from many threads at once.
 */
#ifndef CKFS_VFS_MULTI_H
#define CKFS_VFS_MULTI_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "base/err.h"
#include "vfs/tree.h"

#define CKFS_MULTI_SLOT_SHIFT 40
#define CKFS_MULTI_SLOTS_MAX  4096 /* archive files seen in one mount */

struct ckfs_multi;
struct ckfs_multi_file;
struct ckfs_multi_dir;

/* An entry, as a lookup or a readdirplus returns it. */
struct ckfs_multi_ent {
	uint64_t ino;
	uint64_t generation; /* changes when an archive is reopened */
	struct stat st;
	bool volatile_;	  /* may change or vanish: cache it for 1 s only */
	bool attr_failed; /* exists, but only ino and type are known */
};

/*
 * ckfs_multi_is_ckpt_dir() - whether @path is a directory of checkpoint
 * archives: a directory without pstree.img or inventory.img at its top
 * or under checkpoint/, holding at least one regular file.
 */
bool ckfs_multi_is_ckpt_dir(const char *path);

/*
 * ckfs_multi_new_single() - serve tree @t (borrowed: it must outlive the
 * result).  Returns 0 or -ENOMEM.
 */
int ckfs_multi_new_single(struct ckfs_tree *t, struct ckfs_multi **out);

/*
 * ckfs_multi_new_dir() - serve the archive files of directory @path
 * (nothing is opened yet; trees are made with @opts).  Returns 0, or
 * -errno with a one-line reason in @err.
 */
int ckfs_multi_new_dir(const char *path, const struct ckfs_tree_opts *opts,
		       struct ckfs_multi **out, struct ckfs_err *err);

/*
 * ckfs_multi_free() - close every archive, and free the file and
 * directory handles never released; NULL is a no-op.
 */
void ckfs_multi_free(struct ckfs_multi *m);

/*
 * ckfs_multi_lookup() - entry @name of directory @parent.  Returns 0
 * (e->attr_failed: the entry exists but its attributes cannot be had;
 * e->ino and the type in e->st.st_mode are set), or -ENOENT, -ENOTDIR,
 * -EIO.  The entry counts as one kernel lookup of e->ino: if it cannot
 * be handed to the kernel, ckfs_multi_forget(m, e->ino, 1).
 */
int ckfs_multi_lookup(struct ckfs_multi *m, uint64_t parent, const char *name,
		      struct ckfs_multi_ent *e);

/*
 * ckfs_multi_remember() - count one kernel lookup of @ino, an entry of
 * ckfs_multi_dirent() about to be handed to the kernel in a readdirplus
 * reply (call it while that directory is open, before replying).
 */
void ckfs_multi_remember(struct ckfs_multi *m, uint64_t ino);

/* ckfs_multi_forget() - the kernel forgot @n lookups of @ino. */
void ckfs_multi_forget(struct ckfs_multi *m, uint64_t ino, uint64_t n);

/*
 * ckfs_multi_idle() - close the archives idle for @idle_ns at @now
 * (CLOCK_MONOTONIC, ns): no file or directory open below them, no
 * request under way, no use since @now - @idle_ns.  One whose inodes the
 * kernel no longer holds is freed (its tree, model, archive and cache)
 * and reopened on its next use; for one whose inodes it still holds,
 * @inval(@arg, name) is called, at most once per @idle_ns and with no
 * lock held, to ask the kernel to drop the root's entry @name and all
 * below it (a later call then frees it, unless the kernel keeps some
 * inode in use, e.g. a cwd below it).  Returns the archives freed.
 */
int ckfs_multi_idle(struct ckfs_multi *m, int64_t now, int64_t idle_ns,
		    void (*inval)(void *arg, const char *name), void *arg);

/* ckfs_multi_stat() - attributes of @ino: 0, -ENOENT, -EIO. */
int ckfs_multi_stat(struct ckfs_multi *m, uint64_t ino, struct stat *st,
		    bool *volatile_);

/* ckfs_multi_readlink() - target of symlink @ino (malloc'ed: free it). */
int ckfs_multi_readlink(struct ckfs_multi *m, uint64_t ino, char **out);

/*
 * ckfs_multi_open() - open regular file @ino: 0 and a handle, or -ENOENT,
 * -EISDIR, -EIO, -ENOMEM.  *@direct_io: reads must bypass the page cache;
 * *@keep_cache: the bytes never change.  Release with
 * ckfs_multi_release().
 */
int ckfs_multi_open(struct ckfs_multi *m, uint64_t ino,
		    struct ckfs_multi_file **out, bool *direct_io,
		    bool *keep_cache);
void ckfs_multi_release(struct ckfs_multi_file *f);

/* ckfs_multi_read() - bytes read (no allocation), or -EIO. */
ssize_t ckfs_multi_read(struct ckfs_multi_file *f, void *buf, size_t len,
			uint64_t off);

/*
 * ckfs_multi_read_segs() - where the bytes ckfs_multi_read() would return
 * lie, as at most *@nseg file ranges and runs of zeros (their number in
 * *@nseg; a file descriptor stays open while @f is): the count, or
 * -ENOTSUP for a file or range served only by ckfs_multi_read(), -EIO.
 * No allocation.
 */
ssize_t ckfs_multi_read_segs(struct ckfs_multi_file *f, struct ckfs_seg *seg,
			     size_t *nseg, size_t len, uint64_t off);

/* ckfs_multi_lseek() - SEEK_DATA / SEEK_HOLE on an open file. */
int ckfs_multi_lseek(struct ckfs_multi_file *f, uint64_t off, int whence,
		     uint64_t *out);

/*
 * ckfs_multi_opendir() - open directory @ino for reading: 0 and a handle
 * (its listing fixed until released), or -ENOENT, -ENOTDIR, -EIO,
 * -ENOMEM.  *@keep_cache: the listing never changes.
 */
int ckfs_multi_opendir(struct ckfs_multi *m, uint64_t ino,
		       struct ckfs_multi_dir **out, bool *keep_cache);
void ckfs_multi_releasedir(struct ckfs_multi_dir *d);

/*
 * ckfs_multi_dirent() - entry @i of an open directory ("." is 0, ".." 1):
 * 1 and its name (valid while @d is open) and ino and type, plus all its
 * attributes if @plus (else, or when they fail, e->attr_failed, with
 * only the ino and type set); 0 past the end.
 */
int ckfs_multi_dirent(struct ckfs_multi_dir *d, size_t i, bool plus,
		      const char **name, struct ckfs_multi_ent *e);

#endif /* CKFS_VFS_MULTI_H */
