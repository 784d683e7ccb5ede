/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A tiny protobuf writer and CRIU image framer for crafting images in the
 * tests: varint and length-delimited fields, records, magics.  Only what
 * the test images need; allocation failures abort.
 */
#ifndef CKFS_TESTS_PB_ENC_H
#define CKFS_TESTS_PB_ENC_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PB_COMMON_MAGIC 0x54564319u

struct pbuf {
	uint8_t *p;
	size_t len, cap;
};

static inline void pb_put(struct pbuf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

static inline void pb_free(struct pbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static inline void pb_varint(struct pbuf *b, uint64_t v)
{
	uint8_t c;

	do {
		c = v & 0x7f;
		v >>= 7;
		if (v)
			c |= 0x80;
		pb_put(b, &c, 1);
	} while (v);
}

/* wire type 0: uint32/uint64/bool/enum, and int32 sign-extended */
static inline void pb_uint(struct pbuf *b, unsigned field, uint64_t v)
{
	pb_varint(b, (uint64_t)field << 3);
	pb_varint(b, v);
}

/* wire type 2: bytes, strings, embedded messages */
static inline void pb_bytes(struct pbuf *b, unsigned field, const void *data,
			    size_t len)
{
	pb_varint(b, (uint64_t)field << 3 | 2);
	pb_varint(b, len);
	pb_put(b, data, len);
}

static inline void pb_msg(struct pbuf *b, unsigned field, const struct pbuf *m)
{
	pb_bytes(b, field, m->p, m->len);
}

static inline void pb_u32(struct pbuf *b, uint32_t v)
{
	pb_put(b, &v, sizeof(v)); /* host order, as CRIU writes */
}

/* The image's magics: the common one (unless 0), then the type's. */
static inline void img_start(struct pbuf *b, uint32_t common, uint32_t magic)
{
	if (common)
		pb_u32(b, common);
	pb_u32(b, magic);
}

/* One record: a u32 size, then the packed message; @m is freed. */
static inline void img_rec(struct pbuf *b, struct pbuf *m)
{
	pb_u32(b, (uint32_t)m->len);
	pb_put(b, m->p, m->len);
	pb_free(m);
}

static inline int pb_write_file(const char *path, const struct pbuf *b)
{
	FILE *f = fopen(path, "wb");
	int r;

	if (!f)
		return -1;
	r = fwrite(b->p, 1, b->len, f) == b->len ? 0 : -1;
	if (fclose(f) != 0)
		r = -1;
	return r;
}

#endif /* CKFS_TESTS_PB_ENC_H */
