/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz the CRIU decoders of image/criu.h: the first input byte picks the
 * decoder, the rest is the image, the one member of a tar in a memfd.
 * Any outcome but a crash, a leak or a sanitizer report is fine; a
 * failure must leave a one-line message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "image/criu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	INVENTORY,
	PSTREE,
	CORE,
	IDS,
	MM,
	FDINFO,
	FILES,
	FS,
	REMAPS,
	MEMFDS,
	STATS,
	NDECODERS
};

static int decode(struct ckfs_archive *ar, int which, const char *name,
		  struct ckfs_err *err)
{
	int r;

	switch (which) {
	case INVENTORY: {
		struct ckfs_inventory v;

		r = ckfs_img_read_inventory(ar, name, &v, err);
		if (r == 0)
			ckfs_inventory_fini(&v);
		return r;
	}
	case PSTREE: {
		struct ckfs_pstree_ent *e = NULL;
		size_t n = 0, i;

		r = ckfs_img_read_pstree(ar, name, &e, &n, err);
		if (r == 0) {
			fuzz_assert(n > 0 && e);
			for (i = 0; i < n; i++)
				fuzz_assert(!e[i].ntids == !e[i].tids);
			ckfs_pstree_free(e, n);
		}
		return r;
	}
	case CORE: {
		struct ckfs_core c;

		r = ckfs_img_read_core(ar, name, &c, err);
		if (r == 0) {
			fuzz_assert(c.nrlimits <= CKFS_RLIMITS_MAX);
			ckfs_core_fini(&c);
		}
		return r;
	}
	case IDS: {
		struct ckfs_ids v;

		return ckfs_img_read_ids(ar, name, &v, err);
	}
	case MM: {
		struct ckfs_mm mm;
		size_t i;

		r = ckfs_img_read_mm(ar, name, &mm, err);
		if (r == 0) {
			for (i = 0; i < mm.nvmas; i++)
				fuzz_assert(mm.vmas[i].start < mm.vmas[i].end);
			ckfs_mm_fini(&mm);
		}
		return r;
	}
	case FDINFO: {
		struct ckfs_fdinfo *f = NULL;
		size_t n = 0;

		r = ckfs_img_read_fdinfo(ar, name, &f, &n, err);
		if (r == 0)
			free(f);
		return r;
	}
	case FILES: {
		struct ckfs_files fl;
		size_t i;

		r = ckfs_img_read_files(ar, name, &fl, err);
		if (r == 0) {
			for (i = 1; i < fl.n; i++)
				fuzz_assert(fl.f[i - 1].id <= fl.f[i].id);
			for (i = 0; i < fl.n; i++)
				fuzz_assert(ckfs_files_find(&fl, fl.f[i].id));
			ckfs_files_fini(&fl);
		}
		return r;
	}
	case FS: {
		struct ckfs_fs v;

		return ckfs_img_read_fs(ar, name, &v, err);
	}
	case REMAPS: {
		struct ckfs_remap *v = NULL;
		size_t n = 0;

		r = ckfs_img_read_remaps(ar, name, &v, &n, err);
		if (r == 0)
			free(v);
		return r;
	}
	case MEMFDS: {
		struct ckfs_memfd_inode *v = NULL;
		size_t n = 0;

		r = ckfs_img_read_memfds(ar, name, &v, &n, err);
		if (r == 0)
			ckfs_memfds_free(v, n);
		return r;
	}
	default: {
		struct ckfs_stats v;

		return ckfs_img_read_stats(ar, name, &v, err);
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ckfs_archive *ar = NULL;
	struct ckfs_err err = { 0 };
	int which, fd, r;

	if (size < 1)
		return 0;
	which = data[0] % NDECODERS;
	fd = fuzz_tar_memfd("image.img", data + 1, size - 1);
	if (fuzz_open(fd, &ar) < 0)
		abort();
	close(fd);
	r = decode(ar, which, "image.img", &err);
	if (r < 0)
		fuzz_assert(err.msg[0] && !strchr(err.msg, '\n'));
	ckfs_archive_free(ar);
	return 0;
}
