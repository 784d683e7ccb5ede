/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers for the fuzz targets: put bytes in a memfd (optionally as the one
 * member of a ustar archive) and open it as an archive through
 * /proc/self/fd, so no target touches the file system.
 */
#ifndef CKFS_FUZZ_UTIL_H
#define CKFS_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "archive/archive.h"

static inline int fuzz_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A memfd holding @size bytes of @data. */
static inline int fuzz_memfd(const void *data, size_t size)
{
	int fd = memfd_create("ckfs-fuzz", MFD_CLOEXEC);

	if (fd < 0 || fuzz_write_all(fd, data, size) < 0) {
		perror("memfd");
		abort();
	}
	return fd;
}

/* A memfd holding a ustar archive with one member @name = @data. */
static inline int fuzz_tar_memfd(const char *name, const void *data,
				 size_t size)
{
	static const char zero[1024];
	char h[512] = { 0 };
	unsigned sum = 0;
	size_t i;
	int fd = fuzz_memfd(NULL, 0);

	snprintf(h, 100, "%s", name);
	memcpy(h + 100, "0000644", 8);
	memcpy(h + 108, "0000000", 8);
	memcpy(h + 116, "0000000", 8);
	snprintf(h + 124, 12, "%011llo",
		 (unsigned long long)size & 077777777777ull);
	memcpy(h + 136, "14724563400", 11);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (i = 0; i < sizeof(h); i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	if (fuzz_write_all(fd, h, sizeof(h)) < 0 ||
	    fuzz_write_all(fd, data, size) < 0 ||
	    fuzz_write_all(fd, zero, (512 - size % 512) % 512) < 0 ||
	    fuzz_write_all(fd, zero, sizeof(zero)) < 0)
		abort();
	return fd;
}

static inline int fuzz_open(int fd, struct ckfs_archive **ar)
{
	struct ckfs_err err = { 0 };
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return ckfs_archive_open(path, ar, &err);
}

/* A broken invariant is a finding: crash loudly so the fuzzer keeps it. */
#define fuzz_assert(cond)                                                \
	do {                                                             \
		if (!(cond)) {                                           \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", \
				__FILE__, __LINE__, #cond);              \
			abort();                                         \
		}                                                        \
	} while (0)

#endif /* CKFS_FUZZ_UTIL_H */
