/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Diagnostics for load-time failures.  The int a function returns is the
 * truth (0 or a count on success, -errno on failure); struct ckfs_err only
 * carries the story for a human.  It never allocates, so an error path
 * cannot fail.  Layers add context on the way up with ckfs_err_prefix(),
 * and only main.c prints it.
 */
#ifndef CKFS_BASE_ERR_H
#define CKFS_BASE_ERR_H

#define CKFS_ERR_MSG_MAX 512

struct ckfs_err {
	int code; /* -errno of the failure, 0 if none */
	char msg[CKFS_ERR_MSG_MAX];
};

/*
 * ckfs_err_set() - record @code and a message; @err may be NULL.
 * Returns @code, so a failure is one statement:
 *	return ckfs_err_set(err, -EBADMSG, "bad magic %#x", magic);
 */
int ckfs_err_set(struct ckfs_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Put context ("pstree.img: ") in front of a recorded message; returns @code. */
int ckfs_err_prefix(struct ckfs_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* CKFS_BASE_ERR_H */
