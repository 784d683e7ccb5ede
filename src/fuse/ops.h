/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The FUSE low-level operations.  This layer only translates: inode
 * numbers are the tree's, attributes and data come from vfs/, and errors
 * are the tree's -errno values.  The tree never changes once a node
 * exists, so every entry, attribute and miss is cached by the kernel
 * for as long as it likes.
 */
#ifndef CKFS_FUSE_OPS_H
#define CKFS_FUSE_OPS_H

#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops ckfs_fuse_ops;

#endif /* CKFS_FUSE_OPS_H */
