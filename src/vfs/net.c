/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * proc/<pid>/net/: the sockets the task held, in /proc/net's formats
 * (net/ipv4/tcp_ipv4.c, net/ipv6/tcp_ipv6.c, net/ipv4/udp.c,
 * net/ipv6/datagram.c, net/unix/af_unix.c, net/packet/af_packet.c,
 * net/netlink/af_netlink.c), and queues/ with the data CRIU saved.
 *
 * A checkpoint holds only the sockets reachable from the task's fds, not
 * the namespace's table.  Fields it does not record are printed as 0:
 * timers, retransmits, refcounts, kernel pointers (as with kptr_restrict),
 * rto/ato/cwnd/ssthresh, drops, memory counters, a UDP socket's queues,
 * a listener's accept queue, and a packet socket's inode.  The uid column
 * is the task's fsuid (the socket owner is not recorded; sockets are
 * owned by the fsuid of the task that made them).  tx_queue/rx_queue of
 * a TCP socket are its saved queue lengths.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "model/net.h"
#include "vfs/task_i.h"
#include "vfs/views_i.h"

#define AF_INET_	 2
#define AF_INET6_	 10
#define IPPROTO_TCP_	 6
#define IPPROTO_UDP_	 17
#define TCP_ESTABLISHED_ 1
#define TCP_LISTEN_	 10
#define SO_ACCEPTCON_	 (1u << 16)
#define SS_UNCONNECTED_	 1
#define SS_CONNECTED_	 3
#define NULL_PTR	 "0000000000000000"
#define TCP4_WIDTH	 149 /* TMPSZ - 1 */
#define UDP4_WIDTH	 127

enum net_file {
	NET_TCP,
	NET_TCP6,
	NET_UDP,
	NET_UDP6,
	NET_UNIX,
	NET_PACKET,
	NET_NETLINK,
};

static const char *const net_names[] = {
	[NET_TCP] = "tcp",	   [NET_TCP6] = "tcp6", [NET_UDP] = "udp",
	[NET_UDP6] = "udp6",	   [NET_UNIX] = "unix", [NET_PACKET] = "packet",
	[NET_NETLINK] = "netlink",
};

static bool in_file(const struct ckfs_sock *s, enum net_file f)
{
	const struct ckfs_file *k = s->file;

	switch (f) {
	case NET_TCP:
	case NET_TCP6:
	case NET_UDP:
	case NET_UDP6:
		return s->type == CKFS_FD_INETSK &&
		       k->sk_family == ((f == NET_TCP || f == NET_UDP)
						? AF_INET_
						: AF_INET6_) &&
		       k->sk_proto == ((f == NET_TCP || f == NET_TCP6)
					       ? IPPROTO_TCP_
					       : IPPROTO_UDP_);
	case NET_UNIX:
		return s->type == CKFS_FD_UNIXSK;
	case NET_PACKET:
		return s->type == CKFS_FD_PACKETSK;
	case NET_NETLINK:
		return s->type == CKFS_FD_NETLINKSK;
	}
	return false;
}

static uint32_t owner_uid(struct ckfs_proc *p)
{
	const struct ckfs_core *c;

	if (ckfs_proc_core(p, ckfs_proc_pstree(p)->pid, &c) == 0 &&
	    c->has_creds)
		return c->creds.fsuid;
	return 0;
}

/* Each word holds network-order bytes read as a host u32, as /proc prints. */
static void put_addr(struct ckfs_sb *o, const uint32_t *a, bool v6)
{
	if (v6)
		ckfs_sb_printf(o, "%08X%08X%08X%08X", a[0], a[1], a[2], a[3]);
	else
		ckfs_sb_printf(o, "%08X", a[0]);
}

static void put_ends(struct ckfs_sb *o, const struct ckfs_file *k, bool v6)
{
	put_addr(o, k->src_addr, v6);
	ckfs_sb_printf(o, ":%04X ", k->src_port & 0xffff);
	put_addr(o, k->dst_addr, v6);
	ckfs_sb_printf(o, ":%04X ", k->dst_port & 0xffff);
}

static void tcp_line(struct ckfs_sb *o, size_t i, const struct ckfs_sock *s,
		     bool v6, uint32_t uid)
{
	const struct ckfs_file *k = s->file;

	ckfs_sb_printf(o, "%4zu: ", i);
	put_ends(o, k, v6);
	ckfs_sb_printf(
		o,
		"%02X %08llX:%08llX 00:00000000 00000000 %5u %8d %llu 0 %s 0 0 0 0 0",
		k->sk_state, (unsigned long long)(s->wqueue & 0xffffffff),
		(unsigned long long)(s->rqueue & 0xffffffff), uid, 0,
		(unsigned long long)k->ino, NULL_PTR);
	if (v6) {
		ckfs_sb_puts(o, "\n");
	} else {
		ckfs_sb_pad_to(o, TCP4_WIDTH);
		ckfs_sb_puts(o, "\n");
	}
}

static void udp_line(struct ckfs_sb *o, size_t i, const struct ckfs_sock *s,
		     bool v6, uint32_t uid)
{
	const struct ckfs_file *k = s->file;

	ckfs_sb_printf(o, "%5zu: ", i);
	put_ends(o, k, v6);
	ckfs_sb_printf(
		o,
		"%02X 00000000:00000000 00:00000000 00000000 %5u %8d %llu 0 %s 0",
		k->sk_state, uid, 0, (unsigned long long)k->ino, NULL_PTR);
	if (!v6)
		ckfs_sb_pad_to(o, UDP4_WIDTH);
	ckfs_sb_puts(o, "\n");
}

/* af_unix.c unix_seq_show(); an abstract name prints as '@' + name. */
static void unix_line(struct ckfs_sb *o, const struct ckfs_sock *s)
{
	const struct ckfs_file *k = s->file;
	size_t i, len = k->name_len;

	ckfs_sb_printf(o, "%s: %08X %08X %08X %04X %02X %5llu", NULL_PTR, 0, 0,
		       k->sk_state == TCP_LISTEN_ ? SO_ACCEPTCON_ : 0,
		       k->sk_type,
		       k->sk_state == TCP_ESTABLISHED_ ? SS_CONNECTED_
						       : SS_UNCONNECTED_,
		       (unsigned long long)k->ino);
	if (k->name && len) {
		ckfs_sb_puts(o, " ");
		/* a path name's trailing NUL, if CRIU kept it, is not shown */
		if (k->name[0] && k->name[len - 1] == '\0')
			len--;
		for (i = 0; i < len; i++)
			ckfs_sb_add(o, k->name[i] ? &k->name[i] : "@", 1);
	}
	ckfs_sb_puts(o, "\n");
}

static int r_net(struct ckfs_node *n, struct ckfs_sb *o)
{
	const struct ckfs_proc_net *net = NULL;
	enum net_file f = (enum net_file)n->arg;
	uint32_t uid = owner_uid(n->proc);
	size_t i, seq = 0;
	int r = ckfs_proc_net(n->proc, &net);

	if (r < 0 && r != -ENOENT)
		return r;
	switch (f) {
	case NET_TCP:
		ckfs_sb_puts(
			o,
			"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode");
		ckfs_sb_pad_to(o, TCP4_WIDTH);
		ckfs_sb_puts(o, "\n");
		break;
	case NET_TCP6:
		ckfs_sb_puts(
			o,
			"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n");
		break;
	case NET_UDP:
		ckfs_sb_puts(
			o,
			"   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops");
		ckfs_sb_pad_to(o, UDP4_WIDTH);
		ckfs_sb_puts(o, "\n");
		break;
	case NET_UDP6:
		ckfs_sb_puts(
			o,
			"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n");
		break;
	case NET_UNIX:
		ckfs_sb_puts(
			o,
			"Num       RefCount Protocol Flags    Type St Inode Path\n");
		break;
	case NET_PACKET:
		ckfs_sb_printf(
			o,
			"%-17sRefCnt Type Proto  Iface R Rmem   User   Inode\n",
			"sk");
		break;
	case NET_NETLINK:
		ckfs_sb_puts(
			o,
			"sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode\n");
		break;
	}
	for (i = 0; net && i < net->nsocks; i++) {
		const struct ckfs_sock *s = &net->socks[i];
		const struct ckfs_file *k = s->file;

		if (!in_file(s, f))
			continue;
		switch (f) {
		case NET_TCP:
		case NET_TCP6:
			tcp_line(o, seq++, s, f == NET_TCP6, uid);
			break;
		case NET_UDP:
		case NET_UDP6:
			udp_line(o, seq++, s, f == NET_UDP6, uid);
			break;
		case NET_UNIX:
			unix_line(o, s);
			break;
		case NET_PACKET:
			ckfs_sb_printf(
				o,
				"%s %-6d %-4u %04x   %-5u %1d %-6u %-6u %-6lu\n",
				NULL_PTR, 0, k->sk_type, k->sk_proto & 0xffff,
				k->pk_ifindex, 0, 0, uid, 0ul);
			break;
		case NET_NETLINK:
			ckfs_sb_printf(
				o,
				"%s %-3u %-10u %08x %-8d %-8d %-5d %-8d %-8u %-8llu\n",
				NULL_PTR, k->sk_proto, k->nl_portid,
				k->nl_groups, 0, 0, 0, 0, 0,
				(unsigned long long)k->ino);
			break;
		}
	}
	return 0;
}

static const struct ckfs_node_ops net_file_ops = { .render = r_net };

/* ---- queues/ ---- */

static int queue_size(struct ckfs_node *n, uint64_t *size)
{
	const struct ckfs_blob *b = &((const struct ckfs_queue *)n->ptr)->blob;

	if (b->error)
		return -EIO; /* its image is broken: stat and reads fail */
	*size = b->size;
	return 0;
}

static ssize_t queue_read(struct ckfs_node *n, void *buf, size_t len,
			  uint64_t off)
{
	const struct ckfs_queue *q = n->ptr;

	return ckfs_blob_read(ckfs_proc_ckpt(n->proc), &q->blob, buf, len, off);
}

static const struct ckfs_node_ops queue_ops = {
	.size = queue_size,
	.read = queue_read,
};

static int queues_populate(struct ckfs_tree *t, struct ckfs_node *dir)
{
	const struct ckfs_proc_net *net;
	size_t i;
	int r = ckfs_proc_net(dir->proc, &net);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (net->queues_error)
		return -EIO; /* sk-queues.img is broken: net_saved_error */
	for (i = 0; i < net->nqueues; i++) {
		const struct ckfs_queue *q = &net->queues[i];
		struct ckfs_node *c;
		char name[40];

		snprintf(name, sizeof(name), "%llu.%s",
			 (unsigned long long)q->ino, q->send ? "send" : "recv");
		/* queued data is what the peer sent: as private as memory */
		c = ckfs_tree_add(t, dir, name, CKFS_MODE_SECRET, &queue_ops);
		if (!c)
			return -ENOMEM;
		c->ptr = q;
	}
	return 0;
}

static const struct ckfs_node_ops queues_dir_ops = {
	.populate = queues_populate,
};

static int net_populate(struct ckfs_tree *t, struct ckfs_node *dir)
{
	struct ckfs_node *c;
	size_t i;

	for (i = 0; i < CKFS_ARRAY_SIZE(net_names); i++) {
		c = ckfs_tree_add(t, dir, net_names[i], CKFS_MODE_FILE,
				  &net_file_ops);
		if (!c)
			return -ENOMEM;
		c->arg = i;
	}
	if (!ckfs_tree_add(t, dir, "queues", CKFS_MODE_DIR, &queues_dir_ops))
		return -ENOMEM;
	return 0;
}

const struct ckfs_node_ops ckfs_net_dir_ops = { .populate = net_populate };
