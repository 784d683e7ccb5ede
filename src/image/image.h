/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CRIU image framing: magics and size-prefixed records.  An image is read
 * whole from the archive (images other than pages-*.img are small; a limit
 * refuses anything else), its magic checked and its records indexed.  No
 * record is decoded here; see criu.h for the decoders.
 */
#ifndef CKFS_IMAGE_IMAGE_H
#define CKFS_IMAGE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "base/err.h"

/* The largest image read whole, and the largest single record. */
#define CKFS_IMG_SIZE_MAX (256u << 20)
#define CKFS_IMG_RECORD_MAX (64u << 20)

#define CKFS_MAGIC_COMMON 0x54564319u
#define CKFS_MAGIC_SERVICE 0x55105940u
#define CKFS_MAGIC_INVENTORY 0x58313116u
#define CKFS_MAGIC_PSTREE 0x50273030u
#define CKFS_MAGIC_CORE 0x55053847u
#define CKFS_MAGIC_IDS 0x54432030u
#define CKFS_MAGIC_MM 0x57492820u
#define CKFS_MAGIC_FS 0x51403912u
#define CKFS_MAGIC_PAGEMAP 0x56084025u
#define CKFS_MAGIC_FDINFO 0x56213732u
#define CKFS_MAGIC_FILES 0x56303138u
#define CKFS_MAGIC_REMAP_FPATH 0x59133954u
#define CKFS_MAGIC_GHOST_FILE 0x52583605u
#define CKFS_MAGIC_MEMFD_INODE 0x48453499u
#define CKFS_MAGIC_SECCOMP 0x64413049u
#define CKFS_MAGIC_STATS 0x57093306u
#define CKFS_MAGIC_TIMENS 0x43114433u
#define CKFS_MAGIC_MNTS 0x55563928u
#define CKFS_MAGIC_UTSNS 0x54473203u
#define CKFS_MAGIC_CGROUP 0x59383330u
#define CKFS_MAGIC_PIPES_DATA 0x56453709u
#define CKFS_MAGIC_FIFO_DATA 0x59333054u
#define CKFS_MAGIC_SK_QUEUES 0x56264026u
#define CKFS_MAGIC_TCP_STREAM 0x51465506u

struct ckfs_img_rec {
	uint32_t off; /* payload offset in the image */
	uint32_t len; /* payload length */
};

struct ckfs_img {
	char *name; /* member name, for messages */
	char *buf;
	size_t len;
	uint32_t magic; /* the type magic */
	size_t n;
	struct ckfs_img_rec *rec;
};

/*
 * ckfs_img_load() - read member @name and index its records.
 *
 * @magic is the type magic the caller expects (0: accept any).  Returns 0
 * and a new image in *@out; -ENOENT if the member is missing, -EBADMSG
 * for a wrong magic or a record running past the end, -EOVERFLOW for an
 * image or record over the limits.  @err names the member.
 */
int ckfs_img_load(struct ckfs_archive *ar, const char *name, uint32_t magic,
		  struct ckfs_img **out, struct ckfs_err *err);

/*
 * ckfs_img_parse() - the same on bytes already in memory; takes ownership
 * of @buf (malloc'ed) whatever the outcome.
 */
int ckfs_img_parse(const char *name, char *buf, size_t len, uint32_t magic,
		   struct ckfs_img **out, struct ckfs_err *err);

/* ckfs_img_free() - NULL is a no-op. */
void ckfs_img_free(struct ckfs_img *img);
void ckfs_img_freep(struct ckfs_img **img);

#endif /* CKFS_IMAGE_IMAGE_H */
