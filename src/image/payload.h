/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Images whose records carry raw bytes after them (criu-format.md §1.2):
 * buffered pipe and fifo data, socket receive queues, TCP stream queues
 * and ghost file contents.  The records are walked with pread and only
 * the protobuf part of each is read; the raw bytes stay in the archive
 * and are described by where they lie in the member, so a caller serves
 * them with ckfs_archive_pread() without copying them first.
 * Every struct here is owned by the caller and freed with its _free().
 */
#ifndef CKFS_IMAGE_PAYLOAD_H
#define CKFS_IMAGE_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "base/err.h"

/* The most records one payload image may hold. */
#define CKFS_PAYLOAD_RECORDS_MAX (1u << 20)

/* One pipe_data_entry of pipes-data.img or fifo-data.img. */
struct ckfs_pipe_data {
	uint32_t pipe_id;
	uint32_t bytes; /* buffered bytes */
	uint64_t src;	/* offset of the bytes in the member */
};

/*
 * ckfs_img_read_pipe_data() - index pipes-data.img (@magic
 * CKFS_MAGIC_PIPES_DATA) or fifo-data.img (CKFS_MAGIC_FIFO_DATA).
 * A missing image gives n = 0.  Returns 0, or -EBADMSG for a malformed
 * record or bytes running past the end, -EOVERFLOW for too many records
 * or a record over CKFS_IMG_RECORD_MAX, -EIO if the member cannot be read.
 * *@out is malloc'ed (caller frees, may be NULL when n = 0).
 */
int ckfs_img_read_pipe_data(struct ckfs_archive *ar, const char *name,
			    uint32_t magic, struct ckfs_pipe_data **out,
			    size_t *n, struct ckfs_err *err);

/* One sk_packet_entry of sk-queues.img: a queued packet of socket id_for. */
struct ckfs_sk_packet {
	uint32_t id_for; /* the socket's file id in files.img */
	uint32_t length;
	uint64_t src;
};

/* ckfs_img_read_sk_queues() - index sk-queues.img; as above. */
int ckfs_img_read_sk_queues(struct ckfs_archive *ar, const char *name,
			    struct ckfs_sk_packet **out, size_t *n,
			    struct ckfs_err *err);

/* tcp-stream-<ino hex>.img: one tcp_stream_entry and its two queues. */
struct ckfs_tcp_stream {
	uint32_t inq_len, inq_seq; /* receive queue */
	uint32_t outq_len,
		outq_seq;  /* send queue (sent but unacked, and unsent) */
	uint32_t unsq_len; /* of the send queue, not yet sent */
	uint64_t inq_src, outq_src; /* offsets of the queues in the member */
};

/*
 * ckfs_img_read_tcp_stream() - decode @name.  Returns 0, -ENOENT if the
 * member is missing, -EBADMSG if it is malformed or its queues run past
 * the end.
 */
int ckfs_img_read_tcp_stream(struct ckfs_archive *ar, const char *name,
			     struct ckfs_tcp_stream *out, struct ckfs_err *err);

/* Bytes of a saved object lying at @src in a member: [off, off + len). */
struct ckfs_extent {
	uint64_t off;
	uint64_t len;
	uint64_t src;
};

/* ghost-file-<id hex>.img: a deleted file's attributes and contents. */
struct ckfs_ghost {
	uint32_t uid, gid, mode;
	uint64_t size;	     /* file size; gaps between extents are holes */
	uint64_t mtime;	     /* seconds, 0 when unknown */
	char *symlnk_target; /* a deleted symlink's target, or NULL */
	size_t n;
	struct ckfs_extent *ext; /* sorted by off, non-overlapping */
};

/*
 * ckfs_img_read_ghost() - decode @name: raw contents up to the end of the
 * member, or chunks (criu-format.md §2.9).  Refuses chunks that overlap,
 * run past the file size or past the member (-EBADMSG).  -ENOENT if the
 * member is missing.  Free with ckfs_ghost_fini().
 */
int ckfs_img_read_ghost(struct ckfs_archive *ar, const char *name,
			struct ckfs_ghost *out, struct ckfs_err *err);
void ckfs_ghost_fini(struct ckfs_ghost *g);

#endif /* CKFS_IMAGE_PAYLOAD_H */
