/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rootfs-diff/ and rootfs-diff.deleted: the container's filesystem changes
 * (model/engine.h), served from the nested tar where it lies.
 *
 * rootfs-diff/ holds the tar's entries with their permission bits, sizes
 * and mtimes (the owner is the mounting user, as everywhere in the tree);
 * directories the tar only implies are 0555.  Symlinks are shown, never
 * followed; one whose target leaves rootfs-diff/ (absolute, or too many
 * "..") reads as EIO, like archive/.  Devices, fifos and sockets are empty
 * files that read as EIO.  OCI whiteouts are not shown.
 *
 * rootfs-diff.deleted lists the deleted paths, one per line, sorted: those
 * of deleted.files and of whiteouts, an opaque directory with a trailing
 * '/'.  Bytes below 0x20, 0x7f and '\' are written as \ooo (octal, as in
 * /proc/mounts), so a line is always one path.  It reads as EIO when
 * deleted.files is broken, or when there is none and the tar (whose
 * whiteouts are then the list) cannot be read; metadata.json's rootfs_diff
 * says why.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "model/engine.h"
#include "vfs/engine_i.h"

#define MODE_DIR  (S_IFDIR | 0555)
#define MODE_FILE (S_IFREG | 0444)

static const struct ckfs_node_ops rd_dir_ops;
static const struct ckfs_node_ops rd_file_ops;
static const struct ckfs_node_ops rd_link_ops;
static const struct ckfs_node_ops rd_other_ops;

static const struct ckfs_nested *nested_of(const struct ckfs_node *n)
{
	return (const struct ckfs_nested *)(uintptr_t)n->arg;
}

static int rd_size(struct ckfs_node *n, uint64_t *size)
{
	const struct ckfs_member *m = n->ptr;

	*size = m->type == CKFS_MEMBER_REG ? m->size : 0;
	return 0;
}

static ssize_t rd_read(struct ckfs_node *n, void *buf, size_t len, uint64_t off)
{
	return ckfs_nested_pread(nested_of(n), n->ptr, buf, len, off);
}

static ssize_t eio_read(struct ckfs_node *n, void *buf, size_t len,
			uint64_t off)
{
	return -EIO;
}

/* A target that stays inside rootfs-diff/ is shown as stored, else EIO. */
static int rd_link(struct ckfs_node *n, struct ckfs_sb *out)
{
	const struct ckfs_member *m = n->ptr;
	const char *p = m->link, *s;
	int depth = 0;

	for (s = m->name; *s; s++)
		depth += *s == '/';
	if (!p || !p[0] || p[0] == '/')
		return -EIO;
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);

		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return -EIO;
		} else if (len > 0 && !(len == 1 && p[0] == '.')) {
			depth++;
		}
		p = *end ? end + 1 : end;
	}
	ckfs_sb_puts(out, m->link);
	return 0;
}

struct comp {
	char *name;
	const struct ckfs_member *m; /* NULL: a directory the tar implies */
};

static int comp_cmp(const void *a, const void *b)
{
	const struct comp *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return (x->m == NULL) - (y->m == NULL); /* the real entry first */
}

/* The first of @rd's entries whose name is >= @key. */
static size_t lower_bound(const struct ckfs_rdiff *rd, const char *key)
{
	size_t lo = 0, hi = rd->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(rd->ent[mid]->name, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int add_child(struct ckfs_tree *t, struct ckfs_node *dir,
		     const struct ckfs_rdiff *rd, const char *path,
		     const struct comp *c)
{
	const struct ckfs_member *m = c->m;
	uint32_t perm = m ? m->mode & 07777 : 0555;
	struct ckfs_node *n;

	if (!m || m->type == CKFS_MEMBER_DIR) {
		n = ckfs_tree_add(t, dir, c->name, S_IFDIR | perm, &rd_dir_ops);
		if (n && asprintf(&n->data, "%s%s%s", path, path[0] ? "/" : "",
				  c->name) < 0)
			n->data = NULL;
		if (n && !n->data)
			return -ENOMEM;
	} else if (m->type == CKFS_MEMBER_REG) {
		n = ckfs_tree_add(t, dir, c->name, S_IFREG | perm,
				  &rd_file_ops);
	} else if (m->type == CKFS_MEMBER_SYMLINK) {
		n = ckfs_tree_add(t, dir, c->name, S_IFLNK | 0777,
				  &rd_link_ops);
	} else {
		n = ckfs_tree_add(t, dir, c->name, S_IFREG | (perm & 0555),
				  &rd_other_ops);
	}
	if (!n)
		return -ENOMEM;
	n->ptr = m;
	n->arg = (uintptr_t)rd->nt;
	if (m)
		n->mtime = m->mtime;
	return 0;
}

/* dir->data: the directory's path in the tar ("" or NULL at the top). */
static int rd_populate(struct ckfs_tree *t, struct ckfs_node *dir)
{
	const char *path = dir->data ? dir->data : "";
	size_t plen = strlen(path), i, nc = 0, cap = 0;
	_cleanup_free_ struct comp *c = NULL;
	_cleanup_free_ char *key = NULL;
	const struct ckfs_rdiff *rd;
	int r = ckfs_ckpt_rdiff(ckfs_tree_ckpt(t), &rd);

	if (r < 0 || rd->tar_error || !rd->nt)
		return r == -ENOMEM ? r : -EIO;
	if (asprintf(&key, "%s%s", path, plen ? "/" : "") < 0)
		return -ENOMEM;
	for (i = lower_bound(rd, key); i < rd->n; i++) {
		const char *name = rd->ent[i]->name, *rest, *slash;

		if (strncmp(name, key, strlen(key)) != 0)
			break;
		rest = name + strlen(key);
		slash = strchr(rest, '/');
		if (nc == cap) {
			struct comp *nw;

			cap = cap ? cap * 2 : 32;
			nw = reallocarray(c, cap, sizeof(*c));
			if (!nw) {
				r = -ENOMEM;
				goto out;
			}
			c = nw;
		}
		c[nc].m = slash ? NULL : rd->ent[i];
		c[nc].name = slash ? strndup(rest, (size_t)(slash - rest))
				   : strdup(rest);
		if (!c[nc].name) {
			r = -ENOMEM;
			goto out;
		}
		nc++;
	}
	if (nc)
		qsort(c, nc, sizeof(*c), comp_cmp);
	for (i = 0; i < nc && r == 0; i++) {
		if (i > 0 && strcmp(c[i].name, c[i - 1].name) == 0)
			continue;
		r = add_child(t, dir, rd, path, &c[i]);
	}
out:
	for (i = 0; i < nc; i++)
		free(c[i].name);
	return r;
}

static int zero_size(struct ckfs_node *n, uint64_t *size)
{
	*size = 0;
	return 0;
}

static const struct ckfs_node_ops rd_dir_ops = { .populate = rd_populate };
static const struct ckfs_node_ops rd_file_ops = {
	.size = rd_size,
	.read = rd_read,
};
static const struct ckfs_node_ops rd_link_ops = { .render = rd_link };
static const struct ckfs_node_ops rd_other_ops = {
	.size = zero_size,
	.read = eio_read,
};

static void put_escaped(struct ckfs_sb *o, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 0x20 || ch == 0x7f || ch == '\\')
			ckfs_sb_printf(o, "\\%03o", ch);
		else
			ckfs_sb_add(o, s, 1);
	}
}

static int r_deleted(struct ckfs_node *n, struct ckfs_sb *o)
{
	const struct ckfs_rdiff *rd;
	int r = ckfs_ckpt_rdiff((struct ckfs_ckpt *)n->ptr, &rd);
	size_t i;

	if (r < 0)
		return r == -ENOMEM ? r : -EIO;
	if (rd->deleted_error || (rd->tar_error && !rd->deleted_files))
		return -EIO;
	for (i = 0; i < rd->ndeleted; i++) {
		put_escaped(o, rd->deleted[i]);
		ckfs_sb_puts(o, "\n");
	}
	return 0;
}

static const struct ckfs_node_ops deleted_ops = { .render = r_deleted };

int ckfs_rootfs_diff_add(struct ckfs_tree *t, struct ckfs_node *dir)
{
	struct ckfs_ckpt *ck = ckfs_tree_ckpt(t);
	struct ckfs_archive *ar = ckfs_ckpt_archive(ck);
	const struct ckfs_member *tar =
		ckfs_archive_find(ar, "rootfs-diff.tar");
	const struct ckfs_member *del = ckfs_archive_find(ar, "deleted.files");
	struct ckfs_node *n;

	if (tar && tar->type != CKFS_MEMBER_REG)
		tar = NULL;
	if (del && del->type != CKFS_MEMBER_REG)
		del = NULL;
	if (tar) {
		n = ckfs_tree_add(t, dir, "rootfs-diff", MODE_DIR, &rd_dir_ops);
		if (!n)
			return -ENOMEM;
		n->mtime = tar->mtime;
	}
	if (tar || del) {
		n = ckfs_tree_add(t, dir, "rootfs-diff.deleted", MODE_FILE,
				  &deleted_ops);
		if (!n)
			return -ENOMEM;
		n->ptr = ck;
		n->mtime = (del ? del : tar)->mtime;
	}
	return 0;
}
