/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/fdio.h"

#include <errno.h>
#include <unistd.h>

ssize_t ckfs_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break; /* the end of the file */
		done += (size_t)n;
	}
	return (ssize_t)done;
}
