/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz archive indexing: the input is the whole archive (a tar, plain or
 * compressed), in a memfd.  Every indexed name must be normalized and
 * inside the archive, the index sorted and findable, and reads of every
 * regular member must return exactly what was asked (or -EIO), the same
 * bytes that the pieces ckfs_archive_locate() points at hold.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define READ_MAX (256u << 10)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* a decompression bomb stops at the cache limit */
	struct ckfs_archive_opts o = { .cache_max = 256u << 10 };

	ckfs_archive_set_opts(&o);
	return 0;
}

static void check_name(const char *n)
{
	const char *p = n;

	fuzz_assert(n[0] && n[0] != '/');
	fuzz_assert(n[strlen(n) - 1] != '/');
	fuzz_assert(strlen(n) <= CKFS_ARCHIVE_NAME_MAX);
	while (*p) {
		const char *e = strchrnul(p, '/');
		size_t len = (size_t)(e - p);

		fuzz_assert(len > 0);
		fuzz_assert(!(len == 1 && p[0] == '.'));
		fuzz_assert(!(len == 2 && p[0] == '.' && p[1] == '.'));
		p = *e ? e + 1 : e;
	}
}

/*
 * Where ckfs_archive_locate() places bytes of @m (in pieces: the decode
 * cache, or the archive file itself for raw zstd blocks), a pread of
 * those pieces finds what ckfs_archive_pread() returns.
 */
static void check_located(struct ckfs_archive *ar,
			  const struct ckfs_member *m, char *buf)
{
	static char got[65536];
	uint64_t off = 0, end = m->size < 65536 ? m->size : 65536;

	if (ckfs_archive_pread(ar, m, buf, (size_t)end, 0) != (ssize_t)end)
		return;
	while (off < end) {
		struct ckfs_seg sg;
		int64_t n = ckfs_archive_locate(ar, m, off, end - off, &sg);

		if (n == -ENOTSUP || n == -EIO)
			return;
		fuzz_assert(n > 0 && (uint64_t)n <= end - off);
		fuzz_assert(pread(sg.fd, got, (size_t)n, (off_t)sg.off) == n);
		fuzz_assert(memcmp(got, buf + off, (size_t)n) == 0);
		off += (uint64_t)n;
	}
}

static void read_member(struct ckfs_archive *ar, const struct ckfs_member *m,
			char *buf)
{
	uint64_t off = 0;
	char *all = NULL;
	size_t len = 0;
	int r;

	while (off < m->size && off < READ_MAX) {
		size_t want = 65536 - (size_t)(off % 7);
		ssize_t n = ckfs_archive_pread(ar, m, buf, want, off);

		if (n == -EIO)
			return;
		fuzz_assert(n >= 0);
		fuzz_assert((uint64_t)n ==
			    (m->size - off < want ? m->size - off : want));
		off += (uint64_t)n;
	}
	fuzz_assert(ckfs_archive_pread(ar, m, buf, 16, m->size) == 0 ||
		    m->unreadable);
	r = ckfs_archive_read_all(ar, m, READ_MAX, &all, &len);
	if (r == 0) {
		fuzz_assert(len == m->size && all[len] == '\0');
		free(all);
	} else {
		fuzz_assert(all == NULL);
		fuzz_assert(r == -EIO || r == -EOVERFLOW || r == -ENOMEM);
		fuzz_assert(r != -EOVERFLOW || m->size > READ_MAX);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ckfs_archive *ar = NULL;
	int fd = fuzz_memfd(data, size);
	char *buf;
	size_t i, n;
	int r;

	r = fuzz_open(fd, &ar);
	close(fd);
	if (r < 0) {
		fuzz_assert(ar == NULL);
		return 0;
	}
	buf = malloc(65536);
	if (!buf)
		abort();
	n = ckfs_archive_count(ar);
	for (i = 0; i < n; i++) {
		const struct ckfs_member *m = ckfs_archive_member(ar, i);

		fuzz_assert(m);
		check_name(m->name);
		fuzz_assert(i == 0 ||
			    strcmp(ckfs_archive_member(ar, i - 1)->name,
				   m->name) < 0);
		fuzz_assert(ckfs_archive_find(ar, m->name) == m);
		if (m->type == CKFS_MEMBER_REG) {
			if (!ckfs_archive_compression(ar) && !m->unreadable)
				fuzz_assert(m->data_off + m->size <= size);
			read_member(ar, m, buf);
			if (m->size)
				check_located(ar, m, buf);
		} else {
			fuzz_assert(ckfs_archive_pread(ar, m, buf, 1, 0) ==
				    -EIO);
		}
	}
	fuzz_assert(ckfs_archive_member(ar, n) == NULL);
	free(buf);
	ckfs_archive_free(ar);
	return 0;
}
