/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* base/err: the error contract (code returned, message kept, never overrun). */
#include <errno.h>
#include <string.h>

#include "base/err.h"
#include "tap.h"

static int fails_with(struct ckfs_err *err)
{
	return ckfs_err_set(err, -EBADMSG, "record %d is not a %s", 3,
			    "pstree_entry");
}

int main(void)
{
	struct ckfs_err err = { 0 };
	char longs[2 * CKFS_ERR_MSG_MAX];

	is_int(fails_with(&err), -EBADMSG, "set returns the code");
	is_int(err.code, -EBADMSG, "and records it");
	is_str(err.msg, "record 3 is not a pstree_entry", "message formatted");

	is_int(ckfs_err_prefix(&err, -EIO, "%s: ", "pstree.img"), -EIO,
	       "prefix returns its code");
	is_int(err.code, -EIO, "prefix replaces the code");
	is_str(err.msg, "pstree.img: record 3 is not a pstree_entry",
	       "prefix goes in front");

	is_int(fails_with(NULL), -EBADMSG,
	       "NULL err: set still returns the code");
	is_int(ckfs_err_prefix(NULL, -EIO, "x"), -EIO,
	       "NULL err: prefix still returns the code");

	memset(longs, 'a', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	ckfs_err_set(&err, -E2BIG, "%s", longs);
	is_int(strlen(err.msg), CKFS_ERR_MSG_MAX - 1,
	       "an over-long message is cut, NUL-terminated");

	ckfs_err_set(&err, -EINVAL, "tail");
	ckfs_err_prefix(&err, -EINVAL, "%s", longs);
	ok(strlen(err.msg) == CKFS_ERR_MSG_MAX - 1 && err.msg[0] == 'a',
	   "an over-long prefix is cut, the result stays terminated");

	ckfs_err_set(&err, -EINVAL, "%s", longs);
	ckfs_err_prefix(&err, -EINVAL, "ctx: ");
	ok(strlen(err.msg) == CKFS_ERR_MSG_MAX - 1 &&
		   strncmp(err.msg, "ctx: aaa", 8) == 0,
	   "prefix on a full message keeps the prefix and cuts the tail");

	ckfs_err_set(&err, -ENOENT, "%s", "");
	ckfs_err_prefix(&err, -ENOENT, "a %d b", 5);
	is_str(err.msg, "a 5 b", "prefix on an empty message");
	return tap_done();
}
