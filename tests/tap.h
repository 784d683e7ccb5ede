/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A tiny TAP producer for the unit tests: one "ok N - what" line per check,
 * "# " diagnostics, the plan at the end.  tap_done() is main's return value.
 */
#ifndef CKFS_TESTS_TAP_H
#define CKFS_TESTS_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count, tap_failed;

static inline int __attribute__((format(printf, 4, 5)))
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", pass ? "" : "not ", ++tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return pass;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define diag(...)     (printf("# " __VA_ARGS__), printf("\n"))

/* Equality with both values shown on failure. */
#define is_int(got, want, ...)                                           \
	do {                                                             \
		long long g_ = (long long)(got), w_ = (long long)(want); \
		if (!ok(g_ == w_, __VA_ARGS__))                          \
			diag("  got %lld, want %lld", g_, w_);           \
	} while (0)
#define is_str(got, want, ...)                                                \
	do {                                                                  \
		const char *g_ = (got), *w_ = (want);                         \
		if (!ok(g_ && w_ && strcmp(g_, w_) == 0, __VA_ARGS__))        \
			diag("  got \"%s\", want \"%s\"", g_ ? g_ : "(null)", \
			     w_ ? w_ : "(null)");                             \
	} while (0)
/* @hay contains @needle (both strings). */
#define has_str(hay, needle, ...)                                \
	do {                                                     \
		const char *h_ = (hay), *n_ = (needle);          \
		if (!ok(h_ && strstr(h_, n_), __VA_ARGS__))      \
			diag("  \"%s\" does not contain \"%s\"", \
			     h_ ? h_ : "(null)", n_);            \
	} while (0)

/* Print the plan; exit status 1 if any check failed. */
static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

/* A test that cannot run here: the whole file is skipped. */
#define tap_skip_all(...) \
	(printf("1..0 # SKIP " __VA_ARGS__), printf("\n"), exit(0))

#endif /* CKFS_TESTS_TAP_H */
