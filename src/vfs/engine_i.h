/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private to vfs/: the views of the container as an engine saw it.
 *
 *   info                  the `checkpointctl inspect --all` tree (info.c)
 *   rootfs-diff/          the entries of rootfs-diff.tar (rootfs_diff.c)
 *   rootfs-diff.deleted   the deleted paths, one per line (rootfs_diff.c)
 *
 * and the keys they add to the top metadata.json (facts.c).
 */
#ifndef CKFS_VFS_ENGINE_I_H
#define CKFS_VFS_ENGINE_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vfs/tree.h"

struct json_object;

/*
 * ckfs_meta_ctl() - a new object with the fields of `checkpointctl
 * inspect --all --format json` (meta.c), which metadata.json starts with
 * and info is drawn from.  NULL on ENOMEM.
 */
struct json_object *ckfs_meta_ctl(struct ckfs_ckpt *ck);

/*
 * ckfs_meta_add_facts() - add checkpointfs's engine keys to @o (facts.c):
 * the engine facts of model/engine.h, every stats-dump counter, the rest
 * of the inventory (into @o's "criu" object) and a rootfs_diff summary.
 */
void ckfs_meta_add_facts(struct ckfs_ckpt *ck, struct json_object *o);

/*
 * One socket of a task as checkpointctl names it (go-criu's ExploreSk),
 * with IPv6 addresses right.  Strings are static or in the struct, except
 * @address, borrowed from the model.
 */
struct ckfs_ctl_sock {
	uint32_t fd;
	const char *kind;     /* "UNIX", "INET", "PACKET", "NETLINK" */
	const char *protocol; /* "TCP", "UDP" ... (INET); "PACKET", "NETLINK" */
	const char *type;     /* "STREAM", "DGRAM" ... or "" */
	const char *state;    /* TCP state name, or "" */
	char src[64], dst[64];
	uint32_t src_port, dst_port;
	char sndbuf[32], rcvbuf[32]; /* "212.0 KB", as checkpointctl */
	const char *address;	     /* UNIX: the name (may hold NULs) */
	size_t address_len;
};

/* ckfs_ctl_sock_of() - fill @out for @fd; false if it is no socket. */
bool ckfs_ctl_sock_of(const struct ckfs_fd *fd, struct ckfs_ctl_sock *out);
/* ckfs_ctl_sock_task() - whether checkpointctl lists @p's sockets/files. */
bool ckfs_ctl_sock_task(struct ckfs_proc *p);
/*
 * ckfs_ctl_sockets() - `sockets` as checkpointctl's JSON has it, or NULL
 * when no task holds a socket.
 */
struct json_object *ckfs_ctl_sockets(struct ckfs_ckpt *ck);

/* info.c: the top-level info file */
extern const struct ckfs_node_ops ckfs_info_ops;

/*
 * ckfs_rootfs_diff_add() - add rootfs-diff/ (when the archive holds
 * rootfs-diff.tar) and rootfs-diff.deleted (when it holds rootfs-diff.tar
 * or deleted.files) to the root @dir.  0 or -ENOMEM.
 */
int ckfs_rootfs_diff_add(struct ckfs_tree *t, struct ckfs_node *dir);

#endif /* CKFS_VFS_ENGINE_I_H */
