/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A growable byte buffer for rendering file bodies.  Appends never fail
 * visibly: on allocation failure the buffer is marked broken and
 * ckfs_sb_finish() reports -ENOMEM once, so renderers stay linear.
 */
#ifndef CKFS_BASE_STRBUF_H
#define CKFS_BASE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ckfs_sb {
	char *data;
	size_t len;
	size_t cap;
	bool oom;
};

void ckfs_sb_init(struct ckfs_sb *sb);
void ckfs_sb_fini(struct ckfs_sb *sb);
void ckfs_sb_add(struct ckfs_sb *sb, const void *data, size_t len);
void ckfs_sb_puts(struct ckfs_sb *sb, const char *s);
void ckfs_sb_printf(struct ckfs_sb *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Pad with spaces up to @col characters since the last newline. */
void ckfs_sb_pad_to(struct ckfs_sb *sb, size_t col);

/*
 * ckfs_sb_finish() - hand the bytes to the caller.
 * Returns 0 and the malloc'ed buffer in *@out (owned by the caller,
 * possibly NULL when empty) and its length in *@len, or -ENOMEM.
 */
int ckfs_sb_finish(struct ckfs_sb *sb, char **out, size_t *len);

/* ckfs_human_size() - @v in @buf as "512 B", "1.5 MiB", "2.0 GiB" ... */
void ckfs_human_size(char *buf, size_t sz, uint64_t v);

#endif /* CKFS_BASE_STRBUF_H */
