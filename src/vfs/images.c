/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * images/: every CRIU image of the checkpoint as `crit decode --pretty`
 * prints it, one file per image named after it (core-1.img ->
 * core-1.img.json; Podman's stats-dump, kept beside checkpoint/, ->
 * stats-dump.json).  Images crit refuses (pages, raw netfilter and tmpfs
 * dumps, empty files) and those image/json.c cannot decode are not listed.
 * Listing reads each candidate's magic; a file's JSON is made on first
 * use (stat included, so its size is exact) and kept.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "image/json.h"
#include "vfs/views_i.h"

#define MODE_FILE   (S_IFREG | 0444)
#define JSON_SUFFIX ".json"

/* n->ptr: the member; n->arg: the archive */
static int r_image(struct ckfs_node *n, struct ckfs_sb *o)
{
	struct ckfs_archive *ar = (struct ckfs_archive *)(uintptr_t)n->arg;

	return ckfs_json_render(ar, n->ptr, o, NULL);
}

static const struct ckfs_node_ops image_ops = { .render = r_image };

/* List @m as @base.json if crit would decode it; 0 or -ENOMEM. */
static int add_image(struct ckfs_tree *t, struct ckfs_node *dir,
		     struct ckfs_archive *ar, const struct ckfs_member *m,
		     const char *base)
{
	char name[NAME_MAX + 1];
	const char *magic;
	struct ckfs_node *n;
	int len;

	if (m->type != CKFS_MEMBER_REG || ckfs_json_probe(ar, m, &magic) <= 0)
		return 0; /* an unreadable member shows in archive/ */
	len = snprintf(name, sizeof(name), "%s" JSON_SUFFIX, base);
	if (len < 0 || (size_t)len >= sizeof(name))
		return 0; /* longer than a file name may be */
	n = ckfs_tree_add(t, dir, name, MODE_FILE, &image_ops);
	if (!n)
		return -ENOMEM;
	n->ptr = m;
	n->arg = (uintptr_t)ar;
	n->mtime = m->mtime;
	return 0;
}

static int images_populate(struct ckfs_tree *t, struct ckfs_node *dir)
{
	struct ckfs_ckpt *ck = ckfs_tree_ckpt(t);
	struct ckfs_archive *ar = ckfs_ckpt_archive(ck);
	const char *dir_name = ckfs_ckpt_image_dir(ck);
	size_t dlen = strlen(dir_name), i;
	const struct ckfs_member *m;
	bool have_stats = false;
	int r;

	for (i = 0; i < ckfs_archive_count(ar); i++) {
		const char *base;

		m = ckfs_archive_member(ar, i);
		if (strncmp(m->name, dir_name, dlen) != 0)
			continue;
		base = m->name + dlen;
		if (!*base || strchr(base, '/'))
			continue;
		have_stats |= strcmp(base, "stats-dump") == 0;
		r = add_image(t, dir, ar, m, base);
		if (r < 0)
			return r;
	}
	/* Podman writes CRIU's stats-dump next to checkpoint/, not in it */
	m = ckfs_archive_find(ar, "stats-dump");
	if (dlen && !have_stats && m)
		return add_image(t, dir, ar, m, "stats-dump");
	return 0;
}

const struct ckfs_node_ops ckfs_images_ops = { .populate = images_populate };
