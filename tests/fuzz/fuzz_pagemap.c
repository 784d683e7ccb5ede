/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz the pagemap decoder: the input is pagemap-1.img, the one member of
 * a tar in a memfd.  A decoded pagemap must hold runs sorted by address,
 * not overlapping, not wrapping, and PRESENT runs whose offsets are prefix
 * sums that end exactly at pages_bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "image/criu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct ckfs_pagemap *pm, uint64_t ps)
{
	uint64_t present = 0, end = 0;
	size_t i;

	for (i = 0; i < pm->n; i++) {
		const struct ckfs_pm_run *r = &pm->runs[i];
		uint64_t bytes, e;

		fuzz_assert(r->npages > 0);
		fuzz_assert(r->vaddr % ps == 0);
		fuzz_assert(!__builtin_mul_overflow(r->npages, ps, &bytes));
		fuzz_assert(!__builtin_add_overflow(r->vaddr, bytes, &e));
		fuzz_assert(i == 0 || r->vaddr >= end);
		end = e;
		if (r->flags & CKFS_PE_PRESENT) {
			fuzz_assert(r->pages_off <= pm->pages_bytes);
			fuzz_assert(bytes <= pm->pages_bytes - r->pages_off);
			fuzz_assert(!__builtin_add_overflow(present, bytes,
							    &present));
		}
	}
	fuzz_assert(present == pm->pages_bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t sizes[] = { 4096, 65536 };
	struct ckfs_archive *ar = NULL;
	int fd = fuzz_tar_memfd("pagemap-1.img", data, size);
	size_t k;

	if (fuzz_open(fd, &ar) < 0)
		abort(); /* the tar is ours: it must open */
	close(fd);
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct ckfs_pagemap pm;
		struct ckfs_err err = { 0 };
		int r = ckfs_img_read_pagemap(ar, "pagemap-1.img", sizes[k],
					      &pm, &err);

		if (r < 0) {
			fuzz_assert(pm.runs == NULL && pm.n == 0);
			fuzz_assert(err.msg[0] && !strchr(err.msg, '\n'));
			continue;
		}
		check(&pm, sizes[k]);
		ckfs_pagemap_fini(&pm);
	}
	ckfs_archive_free(ar);
	return 0;
}
