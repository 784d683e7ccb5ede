/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/strbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ckfs_sb_init(struct ckfs_sb *sb)
{
	memset(sb, 0, sizeof(*sb));
}

void ckfs_sb_fini(struct ckfs_sb *sb)
{
	free(sb->data);
	ckfs_sb_init(sb);
}

static bool reserve(struct ckfs_sb *sb, size_t extra)
{
	size_t want, cap;
	char *p;

	if (sb->oom)
		return false;
	if (__builtin_add_overflow(sb->len, extra, &want) ||
	    __builtin_add_overflow(want, 1, &want)) {
		sb->oom = true;
		return false;
	}
	if (want <= sb->cap)
		return true;
	cap = sb->cap ? sb->cap : 256;
	while (cap < want) {
		if (__builtin_mul_overflow(cap, 2, &cap)) {
			sb->oom = true;
			return false;
		}
	}
	p = realloc(sb->data, cap);
	if (!p) {
		sb->oom = true;
		return false;
	}
	sb->data = p;
	sb->cap = cap;
	return true;
}

void ckfs_sb_add(struct ckfs_sb *sb, const void *data, size_t len)
{
	if (!len || !reserve(sb, len))
		return;
	memcpy(sb->data + sb->len, data, len);
	sb->len += len;
	sb->data[sb->len] = '\0';
}

void ckfs_sb_puts(struct ckfs_sb *sb, const char *s)
{
	ckfs_sb_add(sb, s, strlen(s));
}

void ckfs_sb_printf(struct ckfs_sb *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0 || !reserve(sb, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

void ckfs_sb_pad_to(struct ckfs_sb *sb, size_t col)
{
	size_t start = sb->len, cur;

	while (start > 0 && sb->data[start - 1] != '\n')
		start--;
	for (cur = sb->len - start; cur < col; cur++)
		ckfs_sb_add(sb, " ", 1);
}

int ckfs_sb_finish(struct ckfs_sb *sb, char **out, size_t *len)
{
	if (sb->oom) {
		ckfs_sb_fini(sb);
		return -ENOMEM;
	}
	*out = sb->data;
	*len = sb->len;
	ckfs_sb_init(sb);
	return 0;
}

void ckfs_human_size(char *buf, size_t sz, uint64_t v)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double d = (double)v;
	int u = 0;

	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, sz, "%llu B", (unsigned long long)v);
	else
		snprintf(buf, sz, "%.1f %s", d, unit[u]);
}
