/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "archive/zwalk.h"

#include "base/fdio.h"

#include <string.h>
#include <unistd.h>

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

void ckfs_zwalk_init(struct ckfs_zwalk *w, int fd, uint64_t size, uint64_t pos)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->size = size;
	w->pos = pos;
}

void ckfs_zwalk_seek(struct ckfs_zwalk *w, uint64_t pos)
{
	w->pos = pos;
	w->in_frame = false;
}

/*
 * Bytes [@pos, @pos + @n) (@n <= CKFS_ZWALK_PEEK) through the peek
 * buffer, so walking small blocks does not cost a system call each; NULL
 * past the end or on an error.
 */
static const unsigned char *peek(struct ckfs_zwalk *w, uint64_t pos, size_t n)
{
	size_t want;

	if (pos > w->size || n > w->size - pos)
		return NULL;
	if (pos >= w->at && pos + n <= w->at + w->len)
		return w->buf + (pos - w->at);
	want = w->size - pos < CKFS_ZWALK_PEEK ? (size_t)(w->size - pos)
					       : CKFS_ZWALK_PEEK;
	if (ckfs_pread_full(w->fd, w->buf, want, pos) != (ssize_t)want) {
		w->len = 0;
		return NULL;
	}
	w->at = pos;
	w->len = want;
	return w->buf;
}

static enum ckfs_zunit_kind bad(struct ckfs_zunit *u)
{
	return u->kind = CKFS_ZU_BAD;
}

enum ckfs_zunit_kind ckfs_zwalk_next(struct ckfs_zwalk *w, struct ckfs_zunit *u)
{
	const unsigned char *h;

	memset(u, 0, sizeof(*u));
	u->off = w->pos;
	if (!w->in_frame) {
		size_t avail;

		if (w->pos == w->size)
			return u->kind = CKFS_ZU_END;
		h = peek(w, w->pos, 8);
		if (!h)
			return bad(u);
		if ((le32(h) & ZSTD_MAGIC_SKIPPABLE_MASK) ==
		    ZSTD_MAGIC_SKIPPABLE_START) {
			uint64_t len = 8 + (uint64_t)le32(h + 4);

			if (len > w->size - w->pos)
				return bad(u);
			w->pos += len;
			u->end = w->pos;
			return u->kind = CKFS_ZU_SKIPPABLE;
		}
		avail = w->size - w->pos < ZSTD_FRAMEHEADERSIZE_MAX
				? (size_t)(w->size - w->pos)
				: ZSTD_FRAMEHEADERSIZE_MAX;
		h = peek(w, w->pos, avail);
		if (!h || ZSTD_getFrameHeader(&u->fh, h, avail) != 0 ||
		    u->fh.frameType != ZSTD_frame)
			return bad(u);
		w->pos += u->fh.headerSize;
		w->in_frame = true;
		w->checksum = u->fh.checksumFlag != 0;
		u->end = w->pos;
		return u->kind = CKFS_ZU_FRAME;
	}
	h = peek(w, w->pos, 3);
	if (!h)
		return bad(u);
	{
		uint32_t bh = (uint32_t)h[0] | (uint32_t)h[1] << 8 |
			      (uint32_t)h[2] << 16;
		uint64_t stored;

		u->type = (bh >> 1) & 3;
		u->size = bh >> 3;
		u->last = bh & 1;
		if (u->type == 3 || u->size > ZSTD_BLOCKSIZE_MAX)
			return bad(u); /* reserved, or corrupt */
		stored = u->type == CKFS_ZB_RLE ? 1 : u->size;
		u->data_off = w->pos + 3;
		if (stored > w->size - u->data_off)
			return bad(u);
		w->pos = u->data_off + stored;
		if (u->last) {
			if (w->checksum && w->size - w->pos < 4)
				return bad(u);
			w->pos += w->checksum ? 4 : 0;
			w->in_frame = false;
		}
	}
	u->end = w->pos;
	return u->kind = CKFS_ZU_BLOCK;
}
