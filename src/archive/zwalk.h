/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The framing of a zstd file, walked with small preads (a few bytes per
 * block, never the data): skippable frames, frame headers and the 3-byte
 * block headers (last flag, type, size), as RFC 8878 lays them out.  Used
 * by zseek.c to find the frames and by decompress.c to find the raw
 * blocks, whose bytes are stored as they decode.
 *
 * The walk stops (CKFS_ZU_BAD) at anything that makes no sense: a
 * reserved block type, a block over 128 KiB, a frame header zstd cannot
 * parse, a unit that runs past the end of the file.  It never reads past
 * the size it was given.
 */
#ifndef CKFS_ARCHIVE_ZWALK_H
#define CKFS_ARCHIVE_ZWALK_H

#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_frameHeader */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#define CKFS_ZWALK_PEEK 256

enum ckfs_zunit_kind {
	CKFS_ZU_END,	   /* the end of the file, between two frames */
	CKFS_ZU_BAD,	   /* not zstd framing, or the file is cut */
	CKFS_ZU_SKIPPABLE, /* a skippable frame, whole */
	CKFS_ZU_FRAME,	   /* a frame's header; its blocks follow */
	CKFS_ZU_BLOCK,	   /* one block of the current frame */
};

enum { CKFS_ZB_RAW = 0, CKFS_ZB_RLE = 1, CKFS_ZB_COMPRESSED = 2 };

struct ckfs_zunit {
	enum ckfs_zunit_kind kind;
	uint64_t off; /* where the unit starts in the file */
	uint64_t end; /* where the next one starts (after a last block:
			 after the frame's checksum) */
	/* CKFS_ZU_FRAME */
	ZSTD_frameHeader fh;
	/* CKFS_ZU_BLOCK */
	unsigned type;	   /* CKFS_ZB_* */
	uint32_t size;	   /* decoded bytes (raw, RLE), stored (compressed) */
	uint64_t data_off; /* where its content starts (@off + 3) */
	bool last;	   /* the frame's last block */
};

struct ckfs_zwalk {
	int fd;
	uint64_t size;
	uint64_t pos;  /* the next unit */
	bool in_frame; /* between a frame's header and its last block */
	bool checksum; /* the current frame ends with 4 bytes of XXH64 */
	uint64_t at;   /* the peek buffer holds [at, at + len) */
	size_t len;
	unsigned char buf[CKFS_ZWALK_PEEK];
};

/* ckfs_zwalk_init() - walk @fd (@size bytes) from offset @pos, a frame start. */
void ckfs_zwalk_init(struct ckfs_zwalk *w, int fd, uint64_t size, uint64_t pos);

/* ckfs_zwalk_seek() - go on from offset @pos, a frame start. */
void ckfs_zwalk_seek(struct ckfs_zwalk *w, uint64_t pos);

/* ckfs_zwalk_next() - the next unit in *@u; returns its kind. */
enum ckfs_zunit_kind ckfs_zwalk_next(struct ckfs_zwalk *w,
				     struct ckfs_zunit *u);

#endif /* CKFS_ARCHIVE_ZWALK_H */
