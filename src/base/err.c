/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ckfs_err_set(struct ckfs_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int ckfs_err_prefix(struct ckfs_err *err, int code, const char *fmt, ...)
{
	char old[CKFS_ERR_MSG_MAX];
	size_t n, rest;
	va_list ap;
	int len;

	if (!err)
		return code;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	len = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	n = len < 0 ? 0 : (size_t)len;
	if (n >= sizeof(err->msg))
		n = sizeof(err->msg) - 1;
	rest = strnlen(old, sizeof(old) - 1);
	if (rest > sizeof(err->msg) - 1 - n)
		rest = sizeof(err->msg) - 1 - n;
	memcpy(err->msg + n, old, rest);
	err->msg[n + rest] = '\0';
	err->code = code;
	return code;
}
