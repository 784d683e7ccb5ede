/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "image/image.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

void ckfs_img_free(struct ckfs_img *img)
{
	if (!img)
		return;
	free(img->name);
	free(img->buf);
	free(img->rec);
	free(img);
}

void ckfs_img_freep(struct ckfs_img **img)
{
	ckfs_img_free(*img);
}

static uint32_t get_u32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v)); /* host order, as CRIU writes it */
	return v;
}

int ckfs_img_parse(const char *name, char *buf, size_t len, uint32_t magic,
		   struct ckfs_img **out, struct ckfs_err *err)
{
	_cleanup_(ckfs_img_freep) struct ckfs_img *img = NULL;
	size_t pos = 0, cap = 0;
	uint32_t a;

	*out = NULL;
	img = calloc(1, sizeof(*img));
	if (!img) {
		free(buf);
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	}
	img->buf = buf;
	img->len = len;
	img->name = strdup(name);
	if (!img->name)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	if (len < 4)
		return ckfs_err_set(err, -EBADMSG, "%s: too short for a magic",
				    name);
	a = get_u32(buf);
	pos = 4;
	if (a == CKFS_MAGIC_COMMON || a == CKFS_MAGIC_SERVICE) {
		if (len < 8)
			return ckfs_err_set(err, -EBADMSG,
					    "%s: truncated magic", name);
		a = get_u32(buf + 4);
		pos = 8;
	}
	img->magic = a;
	if (magic && a != magic)
		return ckfs_err_set(
			err, -EBADMSG,
			"%s: unknown magic 0x%08x (expected 0x%08x)", name, a,
			magic);
	while (pos < len) {
		uint32_t size;

		if (len - pos < 4)
			return ckfs_err_set(
				err, -EBADMSG,
				"%s: truncated record header at byte %zu", name,
				pos);
		size = get_u32(buf + pos);
		pos += 4;
		if (size > CKFS_IMG_RECORD_MAX)
			return ckfs_err_set(
				err, -EOVERFLOW,
				"%s: record %zu claims %u bytes (limit %u)", name,
				img->n, size, CKFS_IMG_RECORD_MAX);
		if (size > len - pos)
			return ckfs_err_set(
				err, -EBADMSG,
				"%s: record %zu claims %u bytes but only %zu remain",
				name, img->n, size, len - pos);
		if (img->n == cap) {
			struct ckfs_img_rec *r;

			cap = cap ? cap * 2 : 16;
			r = reallocarray(img->rec, cap, sizeof(*r));
			if (!r)
				return ckfs_err_set(err, -ENOMEM,
						    "out of memory");
			img->rec = r;
		}
		img->rec[img->n].off = (uint32_t)pos;
		img->rec[img->n].len = size;
		img->n++;
		pos += size;
	}
	*out = steal_ptr(&img);
	return 0;
}

int ckfs_img_load(struct ckfs_archive *ar, const char *name, uint32_t magic,
		  struct ckfs_img **out, struct ckfs_err *err)
{
	const struct ckfs_member *m = ckfs_archive_find(ar, name);
	char *buf;
	size_t len;
	int r;

	*out = NULL;
	if (!m)
		return ckfs_err_set(err, -ENOENT, "%s: missing from the archive",
				    name);
	if (m->type != CKFS_MEMBER_REG)
		return ckfs_err_set(err, -EBADMSG,
				    "%s: is not a regular file (a %s)", name,
				    m->type == CKFS_MEMBER_SYMLINK ? "symlink" :
				    m->type == CKFS_MEMBER_DIR ? "directory" :
								  "special file");
	r = ckfs_archive_read_all(ar, m, CKFS_IMG_SIZE_MAX, &buf, &len);
	if (r == -EOVERFLOW)
		return ckfs_err_set(err, r, "%s: %llu bytes is over the %u-byte limit for an image",
				    name, (unsigned long long)m->size,
				    CKFS_IMG_SIZE_MAX);
	if (r < 0)
		return ckfs_err_set(err, r, "%s: cannot read: %s", name,
				    m->unreadable ? m->unreadable :
						    strerror(-r));
	return ckfs_img_parse(name, buf, len, magic, out, err);
}
