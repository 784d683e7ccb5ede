/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz CRIU record framing: ckfs_img_parse() on arbitrary bytes, expecting
 * any magic and two specific ones.  On success every record must lie
 * inside the image, in order; on failure nothing is handed out and the
 * message is one line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t magics[] = { 0, CKFS_MAGIC_PSTREE,
					   CKFS_MAGIC_INVENTORY };
	size_t k, i;

	for (k = 0; k < sizeof(magics) / sizeof(magics[0]); k++) {
		struct ckfs_err err = { 0 };
		struct ckfs_img *img = (struct ckfs_img *)1;
		char *buf = malloc(size ? size : 1);
		size_t end;
		int r;

		if (!buf)
			return 0;
		memcpy(buf, data, size);
		r = ckfs_img_parse("fuzz.img", buf, size, magics[k], &img,
				   &err);
		if (r < 0) {
			fuzz_assert(img == NULL);
			fuzz_assert(err.code == r && err.msg[0]);
			fuzz_assert(!strchr(err.msg, '\n'));
			continue;
		}
		fuzz_assert(r == 0 && img && img->len == size);
		fuzz_assert(!magics[k] || img->magic == magics[k]);
		end = size >= 8 && (!memcmp(data, "\x19\x43\x56\x54", 4) ||
				    !memcmp(data, "\x40\x59\x10\x55", 4))
			      ? 8
			      : 4;
		for (i = 0; i < img->n; i++) {
			const struct ckfs_img_rec *rec = &img->rec[i];

			fuzz_assert(rec->off == end + 4);
			fuzz_assert(rec->len <= CKFS_IMG_RECORD_MAX);
			fuzz_assert((size_t)rec->off + rec->len <= size);
			end = (size_t)rec->off + rec->len;
		}
		fuzz_assert(end == size);
		ckfs_img_free(img);
	}
	return 0;
}
