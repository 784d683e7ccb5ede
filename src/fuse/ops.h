/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The FUSE low-level operations.  This layer only translates: the
 * session's userdata is a struct ckfs_multi (vfs/multi.h), whose inode
 * numbers, attributes, data and -errno values are passed through.  A
 * tree never changes once a node exists, so its entries, attributes and
 * misses are cached by the kernel for as long as it likes; only the root
 * level of a directory of archives is cached for a second.  Every entry
 * handed to the kernel (lookup, readdirplus) and every forget is reported
 * to that layer, which closes an idle archive only once the kernel has
 * forgotten its inodes (fuse/idle.h asks it to).  A read whose bytes lie
 * in files (archive members, memory backed by pages images) is answered
 * with those file ranges, which libfuse splices to the kernel without
 * copying them through the daemon.
 */
#ifndef CKFS_FUSE_OPS_H
#define CKFS_FUSE_OPS_H

#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops ckfs_fuse_ops;

#endif /* CKFS_FUSE_OPS_H */
