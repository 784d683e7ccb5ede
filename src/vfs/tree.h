/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The virtual tree.  Nodes live in a table indexed by inode number and are
 * never removed or moved, so an inode number and a node pointer stay valid
 * for the life of the mount.  A directory's children are made the first
 * time it is looked into (populate), which is when the views below it
 * decode the images they need.  A regular file is either rendered once
 * (small text: its bytes are kept, so st_size is exact at lookup) or
 * streamed (archive members, memory: a size function and a read function,
 * and for some a segs function that says where the bytes lie).
 * No FUSE types here.
 */
#ifndef CKFS_VFS_TREE_H
#define CKFS_VFS_TREE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "base/strbuf.h"
#include "model/model.h"

struct ckfs_tree;
struct ckfs_node;

struct ckfs_node_ops {
	/* directories: add the children with ckfs_tree_add() */
	int (*populate)(struct ckfs_tree *t, struct ckfs_node *dir);
	/* rendered files and symlink targets */
	int (*render)(struct ckfs_node *n, struct ckfs_sb *out);
	/* streamed files */
	int (*size)(struct ckfs_node *n, uint64_t *size);
	ssize_t (*read)(struct ckfs_node *n, void *buf, size_t len,
			uint64_t off);
	/*
	 * optional: where the bytes of a read lie instead of the bytes (a
	 * FUSE reply splices them): the count, short only at the end of
	 * the file, in at most *nseg segments, and their number in *nseg;
	 * -ENOTSUP when read() must serve it (too many segments, bytes
	 * that need work), -EIO.
	 */
	ssize_t (*segs)(struct ckfs_node *n, struct ckfs_seg *seg, size_t *nseg,
			size_t len, uint64_t off);
	/* optional: SEEK_DATA (whence 3) / SEEK_HOLE (4) */
	int (*lseek)(struct ckfs_node *n, uint64_t off, int whence,
		     uint64_t *out);
	/* optional: bytes really held (st_blocks), default: the size */
	uint64_t (*allocated)(struct ckfs_node *n);
	/* read past the page cache, results passed through (/proc-style) */
	bool direct_io;
};

struct ckfs_node {
	uint64_t ino;
	uint64_t parent;
	char *name;
	mode_t mode; /* S_IFDIR | 0555, S_IFREG | 0444, S_IFLNK | 0777 */
	const struct ckfs_node_ops *ops;
	/* what the view is about */
	struct ckfs_proc *proc;
	const void *ptr;
	uint64_t arg;
	int64_t mtime;
	/* directory: children sorted by name, set once populated */
	int dir_state; /* 0 not yet, 1 done, < 0 error */
	size_t nchild;
	uint64_t *child;
	/*
	 * rendered file or link: bytes, set once rendered.  A streamed file
	 * (no render op) may keep one malloc'ed cache block of its own in
	 * data and a verdict in data_state instead (vfs/core.c does).
	 */
	int data_state;
	char *data;
	size_t size;
};

struct ckfs_tree_opts {
	bool strict_mem; /* mem with /proc semantics: EIO outside mappings */
};

int ckfs_tree_new(struct ckfs_ckpt *ck, const struct ckfs_tree_opts *opts,
		  struct ckfs_tree **out);
void ckfs_tree_free(struct ckfs_tree *t);

struct ckfs_ckpt *ckfs_tree_ckpt(const struct ckfs_tree *t);
/* The options the tree was made with (valid for the tree's life). */
const struct ckfs_tree_opts *ckfs_tree_opts(const struct ckfs_tree *t);

/* ckfs_tree_node() - the node for @ino, or NULL. Lock-free. */
struct ckfs_node *ckfs_tree_node(struct ckfs_tree *t, uint64_t ino);

/*
 * ckfs_tree_add() - (populate only) add a child to @dir.
 * Returns the new node or NULL on ENOMEM.
 */
struct ckfs_node *ckfs_tree_add(struct ckfs_tree *t, struct ckfs_node *dir,
				const char *name, mode_t mode,
				const struct ckfs_node_ops *ops);

/*
 * ckfs_tree_children() - populate @dir if needed; returns 0 and its
 * children, or -ENOTDIR / -EIO.
 */
int ckfs_tree_children(struct ckfs_tree *t, struct ckfs_node *dir,
		       const uint64_t **child, size_t *n);

/* ckfs_tree_lookup() - child @name of @dir: 0, -ENOENT, -ENOTDIR, -EIO. */
int ckfs_tree_lookup(struct ckfs_tree *t, struct ckfs_node *dir,
		     const char *name, struct ckfs_node **out);

/* ckfs_tree_stat() - attributes; renders or sizes the file as needed. */
int ckfs_tree_stat(struct ckfs_tree *t, struct ckfs_node *n, struct stat *st);

/* ckfs_tree_read() - read a regular file: bytes read, or -EIO. */
ssize_t ckfs_tree_read(struct ckfs_tree *t, struct ckfs_node *n, void *buf,
		       size_t len, uint64_t off);

/*
 * ckfs_tree_segs() - where the bytes of a read of a regular file lie (see
 * the segs op): the count and *@nseg segments, or -ENOTSUP (read it with
 * ckfs_tree_read() instead), -EIO.
 */
ssize_t ckfs_tree_segs(struct ckfs_tree *t, struct ckfs_node *n,
		       struct ckfs_seg *seg, size_t *nseg, size_t len,
		       uint64_t off);

/* ckfs_tree_readlink() - the target of a symlink (borrowed). */
int ckfs_tree_readlink(struct ckfs_tree *t, struct ckfs_node *n,
		       const char **out);

/* ckfs_tree_lseek() - SEEK_DATA / SEEK_HOLE on a regular file. */
int ckfs_tree_lseek(struct ckfs_tree *t, struct ckfs_node *n, uint64_t off,
		    int whence, uint64_t *out);

/* views.c: the root's populate */
extern const struct ckfs_node_ops ckfs_root_ops;

#endif /* CKFS_VFS_TREE_H */
