/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * proc/<pid>/saved/: one file per fd whose contents CRIU kept (named by
 * the fd number: a deleted file's bytes, a memfd's, a pipe's or fifo's
 * unread buffer) and one per tmpfs mount CRIU archived (the raw
 * tmpfs-dev-<dev>.tar.gz it wrote), with where each came from in the
 * process's metadata.json ("saved").  Contents are streamed from the
 * archive; they are as private as memory, so owner-only.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>

#include "model/saved.h"
#include "vfs/task_i.h"
#include "vfs/views_i.h"

static int saved_size(struct ckfs_node *n, uint64_t *size)
{
	const struct ckfs_blob *b = &((const struct ckfs_saved *)n->ptr)->blob;

	if (b->error)
		return -EIO; /* its image is broken: stat and reads fail */
	*size = b->size;
	return 0;
}

static ssize_t saved_read(struct ckfs_node *n, void *buf, size_t len,
			  uint64_t off)
{
	const struct ckfs_saved *s = n->ptr;

	return ckfs_blob_read(ckfs_proc_ckpt(n->proc), &s->blob, buf, len, off);
}

static const struct ckfs_node_ops saved_file_ops = {
	.size = saved_size,
	.read = saved_read,
};

static int saved_populate(struct ckfs_tree *t, struct ckfs_node *dir)
{
	const struct ckfs_proc_saved *sv;
	size_t i;
	int r = ckfs_proc_saved(dir->proc, &sv);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	for (i = 0; i < sv->n; i++) {
		struct ckfs_node *c =
			ckfs_tree_add(t, dir, sv->items[i].name,
				      CKFS_MODE_SECRET, &saved_file_ops);

		if (!c)
			return -ENOMEM;
		c->ptr = &sv->items[i];
		if (sv->items[i].mtime)
			c->mtime = sv->items[i].mtime;
	}
	return 0;
}

const struct ckfs_node_ops ckfs_saved_dir_ops = { .populate = saved_populate };

struct json_object *ckfs_meta_saved(struct ckfs_proc *p)
{
	const struct ckfs_proc_saved *sv;
	json_object *a = json_object_new_array();
	size_t i;

	if (!a || ckfs_proc_saved(p, &sv) < 0)
		return a;
	for (i = 0; i < sv->n; i++) {
		const struct ckfs_saved *s = &sv->items[i];
		json_object *e = json_object_new_object();
		char mode[16];

		json_object_object_add(e, "name",
				       json_object_new_string(s->name));
		json_object_object_add(
			e, "kind",
			json_object_new_string(ckfs_saved_kind_name(s->kind)));
		if (s->has_fd)
			json_object_object_add(e, "fd",
					       json_object_new_int64(s->fd));
		else
			json_object_object_add(
				e, "mnt_id", json_object_new_int64(s->mnt_id));
		json_object_object_add(e, "path",
				       json_object_new_string(s->path));
		json_object_object_add(e, "size",
				       json_object_new_uint64(s->blob.size));
		if (s->mode) {
			snprintf(mode, sizeof(mode), "0%o", s->mode);
			json_object_object_add(e, "mode",
					       json_object_new_string(mode));
		}
		if (s->mtime)
			json_object_object_add(e, "mtime",
					       json_object_new_int64(s->mtime));
		if (s->blob.error)
			json_object_object_add(
				e, "error",
				json_object_new_string(s->blob.error));
		json_object_array_add(a, e);
	}
	return a;
}
