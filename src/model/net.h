/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sockets a task holds and the queued data CRIU saved for them: TCP
 * receive and send queues (tcp-stream-<ino hex>.img) and packets waiting
 * in other sockets' receive queues (sk-queues.img, matched by the
 * socket's file id).  A checkpoint holds no network namespace's whole
 * socket table, only the sockets reachable from the tasks' fds.
 */
#ifndef CKFS_MODEL_NET_H
#define CKFS_MODEL_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "image/payload.h"
#include "model/model.h"
#include "model/saved.h"

struct ckfs_sock {
	uint32_t fd;   /* the lowest fd holding it */
	uint32_t type; /* CKFS_FD_INETSK, _UNIXSK, _PACKETSK, _NETLINKSK */
	const struct ckfs_file *file;
	bool has_tcp; /* a tcp-stream image was decoded into @tcp */
	struct ckfs_tcp_stream tcp;
	uint64_t rqueue; /* bytes saved in its receive queue */
	uint64_t wqueue; /* bytes saved in its send queue */
};

struct ckfs_queue {
	uint64_t ino;
	bool send; /* the send queue, else the receive queue */
	struct ckfs_blob blob;
};

struct ckfs_proc_net {
	size_t nsocks;
	struct ckfs_sock *socks; /* one per socket, in fd order */
	size_t nqueues;
	struct ckfs_queue *queues; /* by ino, receive queue first */
	char *queues_error;	   /* sk-queues.img is broken: why, or NULL */
};

/*
 * ckfs_proc_net() - @p's sockets and saved queues.  A broken tcp-stream
 * image gives that socket's two queues with a blob error; a broken
 * sk-queues.img sets @queues_error.  Returns 0, -ENOENT for a zombie,
 * -EIO when @p's files unit is broken, -ENOMEM.
 */
int ckfs_proc_net(struct ckfs_proc *p, const struct ckfs_proc_net **out);

#endif /* CKFS_MODEL_NET_H */
