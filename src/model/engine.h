/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the engine's own files say about the container, beyond the
 * checkpointctl-shaped facts of struct ckfs_container, and the container's
 * filesystem changes.
 *
 * Engine facts are read once at open from config.dump, spec.dump,
 * status.dump, status, network.status and bind.mounts, and from which
 * engine-specific members the archive holds (checkpointctl.md §2.4-§2.5):
 * a JSON object whose keys go into metadata.json as they are.
 *
 * The filesystem changes (rootfs-diff.tar, deleted.files) are indexed the
 * first time a view asks, never at open.  rootfs-diff.tar is a plain tar
 * from Podman and CRI-O, and containerd's gzip layer blob under the same
 * name; OCI whiteouts inside it (".wh.<name>", ".wh..wh..opq") become
 * deleted paths and are left out of the entries.
 */
#ifndef CKFS_MODEL_ENGINE_H
#define CKFS_MODEL_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "archive/nested.h"
#include "base/err.h"
#include "model/model.h"

struct json_object;

/*
 * ckfs_ckpt_engine_facts() - the facts object (borrowed, valid until
 * ckfs_ckpt_free()), or NULL when it could not be made (ENOMEM).
 */
struct json_object *ckfs_ckpt_engine_facts(struct ckfs_ckpt *ck);

struct ckfs_rdiff {
	const struct ckfs_member *tar;		 /* rootfs-diff.tar, or NULL */
	const struct ckfs_member *deleted_files; /* deleted.files, or NULL */
	/* 0, or why the part cannot be shown (-errno, one-line reason) */
	int tar_error, deleted_error;
	char tar_msg[CKFS_ERR_MSG_MAX], deleted_msg[CKFS_ERR_MSG_MAX];
	struct ckfs_nested *nt; /* the tar's index; NULL if absent or broken */
	size_t n;
	const struct ckfs_member **ent; /* entries less whiteouts, by name */
	size_t nwhiteouts;		/* whiteout entries left out */
	size_t ndeleted;
	/*
	 * Deleted paths, absolute, sorted and unique: the strings of
	 * deleted.files, and one per whiteout; a directory made opaque by
	 * ".wh..wh..opq" is listed with a trailing '/'.
	 */
	char **deleted;
};

/*
 * ckfs_ckpt_rdiff() - the filesystem changes, indexed on first call.
 * Returns 0 and a borrowed pointer (valid until ckfs_ckpt_free(); check
 * tar_error and deleted_error), -ENOENT when the archive has neither
 * rootfs-diff.tar nor deleted.files, or -ENOMEM.  Thread-safe.
 */
int ckfs_ckpt_rdiff(struct ckfs_ckpt *ck, const struct ckfs_rdiff **out);

#endif /* CKFS_MODEL_ENGINE_H */
