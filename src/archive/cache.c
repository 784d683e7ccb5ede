/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The cache file behind a compressed archive: private and unlinked from
 * the moment it exists, so nothing is left behind however the daemon ends,
 * and sparse (zero blocks are never written), so a run of zeros in the
 * decoded stream costs neither memory nor disk.  Knows nothing about tars.
 */
#include "archive/archive_i.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/strbuf.h"

#define CACHE_BLOCK 4096

static uint64_t half_ram(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || psz <= 0)
		return UINT64_MAX;
	return (uint64_t)pages * (uint64_t)psz / 2;
}

static uint64_t free_space(int fd)
{
	struct statvfs sv;

	if (fstatvfs(fd, &sv) < 0)
		return UINT64_MAX;
	return (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
}

static int open_in_dir(const char *dir, struct ckfs_err *err)
{
	char tmpl[4096];
	int fd;

	/* O_EXCL: the file can never be linked into the tree */
	fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return ckfs_err_set(err, -errno, "cache directory %s: %s", dir,
				    strerror(errno));
	/* file systems without O_TMPFILE (overlayfs on old kernels, NFS) */
	if ((size_t)snprintf(tmpl, sizeof(tmpl),
			     "%s/.checkpointfs-cache-XXXXXX",
			     dir) >= sizeof(tmpl))
		return ckfs_err_set(err, -ENAMETOOLONG,
				    "cache directory %s: name too long", dir);
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0)
		return ckfs_err_set(err, -errno, "cache directory %s: %s", dir,
				    strerror(errno));
	if (unlink(tmpl) < 0) {
		int e = errno;

		close(fd);
		return ckfs_err_set(err, -e, "cache file %s: cannot unlink: %s",
				    tmpl, strerror(e));
	}
	return fd;
}

int ckfs_cache_open(const struct ckfs_archive_opts *opts,
		    struct ckfs_cache_limit *lim, struct ckfs_err *err)
{
	const char *dir = opts->cache_dir;
	uint64_t dflt;
	int fd = -1;

	if (!dir) {
		fd = memfd_create("checkpointfs-cache", MFD_CLOEXEC);
		dflt = half_ram();
		if (fd < 0) {
			dir = getenv("TMPDIR");
			if (!dir || !dir[0])
				dir = "/tmp";
		}
	}
	if (fd < 0) {
		fd = open_in_dir(dir, err);
		if (fd < 0)
			return fd;
		dflt = free_space(fd);
	}
	if (opts->cache_max) {
		char a[32];

		lim->bytes = opts->cache_max;
		ckfs_human_size(a, sizeof(a), lim->bytes);
		snprintf(lim->why, sizeof(lim->why), "cache_max=%s", a);
	} else {
		lim->bytes = dflt;
		snprintf(
			lim->why, sizeof(lim->why), "%s",
			opts->cache_dir
				? "the free space in cache_dir; set -o cache_max=SIZE"
				: "half of the RAM; set -o cache_dir=DIR or -o cache_max=SIZE");
	}
	return fd;
}

static bool zero_block(const unsigned char *p, size_t len)
{
	static const unsigned char zeros[CACHE_BLOCK];

	return memcmp(p, zeros, len) == 0;
}

static int write_all(int fd, const unsigned char *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int ckfs_cache_write(int fd, const void *buf, size_t len, uint64_t off)
{
	const unsigned char *p = buf;
	size_t i = 0, run = 0; /* run: start of the pending non-zero bytes */
	bool pending = false;
	struct stat st;
	int r;

	while (i < len) {
		/* blocks aligned on the file, so holes line up with pages */
		size_t blk = CACHE_BLOCK - (size_t)((off + i) % CACHE_BLOCK);

		if (blk > len - i)
			blk = len - i;
		if (zero_block(p + i, blk)) {
			if (pending) {
				r = write_all(fd, p + run, i - run, off + run);
				if (r < 0)
					return r;
				pending = false;
			}
		} else if (!pending) {
			run = i;
			pending = true;
		}
		i += blk;
	}
	if (pending)
		return write_all(fd, p + run, len - run, off + run);
	/* the chunk ended in a hole: the file must still reach its end */
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < off + len &&
	    ftruncate(fd, (off_t)(off + len)) < 0)
		return -errno;
	return 0;
}
