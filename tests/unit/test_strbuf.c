/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* base/strbuf: appends, formatting, padding and the one-shot hand-off. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "tap.h"

static void test_empty(void)
{
	struct ckfs_sb sb;
	char *out = (char *)1;
	size_t len = 99;

	ckfs_sb_init(&sb);
	ckfs_sb_add(&sb, "x", 0);
	ckfs_sb_printf(&sb, "%s", "");
	ok(ckfs_sb_finish(&sb, &out, &len) == 0, "finish of an empty buffer");
	ok(out == NULL && len == 0, "empty buffer hands out NULL, 0");
}

static void test_append(void)
{
	struct ckfs_sb sb;
	char *out = NULL;
	size_t len = 0;

	ckfs_sb_init(&sb);
	ckfs_sb_puts(&sb, "Name:");
	ckfs_sb_add(&sb, "\0ab", 3); /* embedded NUL is kept */
	ckfs_sb_printf(&sb, "%d-%s", 42, "x");
	ok(ckfs_sb_finish(&sb, &out, &len) == 0, "finish");
	is_int(len, 5 + 3 + 4, "length counts every byte");
	ok(out && memcmp(out, "Name:\0ab42-x", 12) == 0, "bytes in order");
	ok(out && out[len] == '\0', "NUL-terminated for convenience");
	ok(sb.data == NULL && sb.len == 0, "buffer reset after finish");
	free(out);
}

static void test_growth(void)
{
	struct ckfs_sb sb;
	char *out = NULL, big[5000];
	size_t len = 0, i;
	int good = 1;

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ckfs_sb_init(&sb);
	for (i = 0; i < 1000; i++)
		ckfs_sb_printf(&sb, "%04zu\n", i);
	ckfs_sb_printf(&sb, "%s", big); /* one append far over the capacity */
	ok(ckfs_sb_finish(&sb, &out, &len) == 0, "finish after growth");
	is_int(len, 5000 + 4999,
	       "length after 1000 lines and a 4999-byte append");
	for (i = 0; out && i < 1000; i++) {
		char want[6];

		snprintf(want, sizeof(want), "%04zu\n", i);
		if (memcmp(out + i * 5, want, 5) != 0)
			good = 0;
	}
	ok(out && good && strspn(out + 5000, "q") == 4999,
	   "every line kept across reallocations");
	free(out);
}

static void test_pad(void)
{
	struct ckfs_sb sb;
	char *out = NULL;
	size_t len = 0;

	ckfs_sb_init(&sb);
	ckfs_sb_pad_to(&sb, 3); /* from an empty buffer */
	ckfs_sb_puts(&sb, "ab\ncd");
	ckfs_sb_pad_to(&sb, 6);
	ckfs_sb_puts(&sb, "|\nlonger-than-col");
	ckfs_sb_pad_to(&sb, 4); /* already past: no-op */
	ckfs_sb_puts(&sb, "|");
	ok(ckfs_sb_finish(&sb, &out, &len) == 0, "finish");
	is_str(out, "   ab\ncd    |\nlonger-than-col|",
	       "pad counts from the last newline, never shrinks");
	free(out);
}

static void test_oom(void)
{
	struct ckfs_sb sb;
	char *out = (char *)1;
	size_t len = 7;

	ckfs_sb_init(&sb);
	ckfs_sb_puts(&sb, "kept");
	sb.oom = true; /* what a failed realloc leaves */
	ckfs_sb_puts(&sb, "more");
	ok(sb.len == 4, "appends after a failure are dropped");
	is_int(ckfs_sb_finish(&sb, &out, &len), -ENOMEM,
	       "finish reports the failure once");
	ok(sb.data == NULL && !sb.oom, "and frees the buffer");
	ok(out == (char *)1 && len == 7, "outputs untouched on failure");

	/* a length that overflows size_t arithmetic marks the buffer broken */
	ckfs_sb_init(&sb);
	ckfs_sb_puts(&sb, "x");
	ckfs_sb_add(&sb, "y", SIZE_MAX);
	ok(sb.oom && sb.len == 1, "size_t overflow is an allocation failure");
	ckfs_sb_fini(&sb);
	ok(sb.data == NULL && sb.len == 0 && !sb.oom, "fini resets");
}

int main(void)
{
	test_empty();
	test_append();
	test_growth();
	test_pad();
	test_oom();
	return tap_done();
}
