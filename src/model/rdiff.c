/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The container's filesystem changes: the entries of rootfs-diff.tar
 * (archive/nested.h indexes it where it lies) and the deleted paths, from
 * deleted.files (Podman, CRI-O: a JSON array of absolute paths) and from
 * OCI whiteouts in the tar (containerd's layer): "<dir>/.wh.<name>" says
 * <dir>/<name> was deleted, "<dir>/.wh..wh..opq" that <dir> is opaque
 * (everything the image had in it is gone).  Whiteouts, and the other
 * ".wh..wh.*" markers, are left out of the entries.
 */
#include "model/engine_i.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

#define CKFS_DELETED_MAX (16u << 20)
#define WH_PREFIX	 ".wh."
#define WH_OPAQUE	 ".wh..wh..opq"
#define WH_META		 ".wh..wh."

static const char *base_of(const char *name)
{
	const char *s = strrchr(name, '/');

	return s ? s + 1 : name;
}

static int add_deleted(struct ckfs_rdiff *rd, size_t *cap, char *path)
{
	if (!path)
		return -ENOMEM;
	if (rd->ndeleted == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		char **p = reallocarray(rd->deleted, ncap, sizeof(*p));

		if (!p) {
			free(path);
			return -ENOMEM;
		}
		rd->deleted = p;
		*cap = ncap;
	}
	rd->deleted[rd->ndeleted++] = path;
	return 0;
}

/* "/<dir>/<name>", or with @name NULL "/<dir>/"; @dir may be empty. */
static char *abs_path(const char *dir, size_t dlen, const char *name)
{
	char *s;

	if (asprintf(&s, "/%.*s%s%s", (int)dlen, dir, dlen ? "/" : "",
		     name ? name : "") < 0)
		return NULL;
	return s;
}

static int index_tar(struct ckfs_ckpt *ck, struct ckfs_rdiff *rd, size_t *cap)
{
	struct ckfs_err err = { 0 };
	size_t i, n;
	int r;

	r = ckfs_nested_open(ck->ar, rd->tar, &rd->nt, &err);
	if (r < 0) {
		if (r == -ENOMEM)
			return r;
		rd->tar_error = r;
		snprintf(rd->tar_msg, sizeof(rd->tar_msg), "%s", err.msg);
		return 0;
	}
	n = ckfs_nested_count(rd->nt);
	rd->ent = calloc(n + 1, sizeof(*rd->ent));
	if (!rd->ent)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const struct ckfs_member *m = ckfs_nested_member(rd->nt, i);
		const char *b = base_of(m->name);
		size_t dlen = b == m->name ? 0 : (size_t)(b - m->name - 1);

		if (strncmp(b, WH_PREFIX, strlen(WH_PREFIX)) != 0) {
			rd->ent[rd->n++] = m;
			continue;
		}
		rd->nwhiteouts++;
		if (strcmp(b, WH_OPAQUE) == 0)
			r = add_deleted(rd, cap, abs_path(m->name, dlen, NULL));
		else if (strncmp(b, WH_META, strlen(WH_META)) == 0)
			r = 0; /* another layer marker: hidden, nothing deleted */
		else
			r = add_deleted(
				rd, cap,
				abs_path(m->name, dlen, b + strlen(WH_PREFIX)));
		if (r < 0)
			return r;
	}
	return 0;
}

static int read_deleted_files(struct ckfs_ckpt *ck, struct ckfs_rdiff *rd,
			      size_t *cap)
{
	_cleanup_free_ char *buf = NULL;
	json_object *a;
	size_t len, i;
	int r;

	r = ckfs_archive_read_all(ck->ar, rd->deleted_files, CKFS_DELETED_MAX,
				  &buf, &len);
	if (r < 0) {
		if (r == -ENOMEM)
			return r;
		rd->deleted_error = r;
		snprintf(rd->deleted_msg, sizeof(rd->deleted_msg),
			 "deleted.files: %s",
			 r == -EOVERFLOW ? "larger than 16 MiB"
					 : "cannot be read");
		return 0;
	}
	a = json_tokener_parse(buf);
	if (!a || !json_object_is_type(a, json_type_array)) {
		json_object_put(a);
		rd->deleted_error = -EBADMSG;
		snprintf(rd->deleted_msg, sizeof(rd->deleted_msg),
			 "deleted.files: not a JSON array of paths");
		return 0;
	}
	for (i = 0; r == 0 && i < json_object_array_length(a); i++) {
		json_object *v = json_object_array_get_idx(a, i);
		const char *s;

		if (!json_object_is_type(v, json_type_string))
			continue;
		s = json_object_get_string(v);
		if (!s[0])
			continue;
		if (s[0] == '/')
			r = add_deleted(rd, cap, strdup(s));
		else
			r = add_deleted(rd, cap, abs_path("", 0, s));
	}
	json_object_put(a);
	return r;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ckfs_rdiff_load(struct ckfs_ckpt *ck, struct ckfs_rdiff *rd)
{
	size_t cap = 0, i, o;
	int r = 0;

	memset(rd, 0, sizeof(*rd));
	rd->tar = ckfs_archive_find(ck->ar, "rootfs-diff.tar");
	rd->deleted_files = ckfs_archive_find(ck->ar, "deleted.files");
	if (rd->tar && rd->tar->type != CKFS_MEMBER_REG)
		rd->tar = NULL;
	if (rd->deleted_files && rd->deleted_files->type != CKFS_MEMBER_REG)
		rd->deleted_files = NULL;
	if (!rd->tar && !rd->deleted_files)
		return -ENOENT;
	if (rd->tar)
		r = index_tar(ck, rd, &cap);
	if (r == 0 && rd->deleted_files)
		r = read_deleted_files(ck, rd, &cap);
	if (r < 0)
		return r;
	if (rd->ndeleted)
		qsort(rd->deleted, rd->ndeleted, sizeof(*rd->deleted), str_cmp);
	for (i = 0, o = 0; i < rd->ndeleted; i++) {
		if (o && strcmp(rd->deleted[o - 1], rd->deleted[i]) == 0) {
			free(rd->deleted[i]);
			continue;
		}
		rd->deleted[o++] = rd->deleted[i];
	}
	rd->ndeleted = o;
	return 0;
}

void ckfs_rdiff_fini(struct ckfs_rdiff *rd)
{
	size_t i;

	for (i = 0; i < rd->ndeleted; i++)
		free(rd->deleted[i]);
	free(rd->deleted);
	free(rd->ent);
	ckfs_nested_free(rd->nt);
	memset(rd, 0, sizeof(*rd));
}
