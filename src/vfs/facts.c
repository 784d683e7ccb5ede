/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The keys checkpointfs adds to the top metadata.json, under names
 * checkpointctl does not use: the engine facts (model/engine.h), every
 * counter of stats-dump, the inventory fields beyond image_version and
 * dump_run_id, and a summary of the filesystem changes; plus `sockets`,
 * the one checkpointctl field the base file leaves out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "model/engine.h"
#include "vfs/engine_i.h"

static void put_str(json_object *o, const char *k, const char *v)
{
	if (v && v[0])
		json_object_object_add(o, k, json_object_new_string(v));
}

/* ---- sockets, as checkpointctl names them (go-criu's ExploreSk) ---- */

static const char *tcp_state(uint32_t s)
{
	static const char *const names[] = {
		"",
		"ESTABLISHED",
		"SYN_SENT",
		"SYN_RECEIVED",
		"FIN_WAIT_1",
		"FIN_WAIT_2",
		"TIME_WAIT",
		"CLOSE",
		"CLOSE_WAIT",
		"LAST_ACK",
		"LISTEN",
		"CLOSING",
		"NEW_SYN_RECV",
	};

	return s < CKFS_ARRAY_SIZE(names) ? names[s] : "";
}

static const char *sk_type(uint32_t t)
{
	switch (t) {
	case 1:
		return "STREAM";
	case 2:
		return "DGRAM";
	case 3:
		return "RAW";
	case 4:
		return "RDM";
	case 5:
		return "SEQPACKET";
	case 10:
		return "PACKET";
	default:
		return "";
	}
}

static const char *ip_proto(uint32_t p)
{
	switch (p) {
	case 1:
		return "ICMP";
	case 2:
		return "IGMP";
	case 6:
		return "TCP";
	case 17:
		return "UDP";
	case 58:
		return "ICMPV6";
	case 136:
		return "UDPLITE";
	case 255:
		return "RAW";
	default:
		return "";
	}
}

/* go-criu's countBytes: base 1024, "KB" (not KiB) and one decimal. */
static void count_bytes(char *out, size_t len, uint64_t n)
{
	uint64_t div = 1024;
	int exp = 0;

	if (n < 1024) {
		snprintf(out, len, "%llu B", (unsigned long long)n);
		return;
	}
	while (n / div >= 1024 && exp < 5) {
		div *= 1024;
		exp++;
	}
	snprintf(out, len, "%.1f %cB", (double)n / (double)div, "KMGTPE"[exp]);
}

/* Addresses hold network-order bytes in host words (criu-format.md). */
static void format_addr(char *out, size_t len, uint32_t family,
			const uint32_t w[4])
{
	unsigned char b[16];

	memcpy(b, w, sizeof(b));
	if (family == AF_INET6 &&
	    !(memcmp(b, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)) {
		if (!inet_ntop(AF_INET6, b, out, (socklen_t)len))
			snprintf(out, len, "?");
		return;
	}
	/* IPv4, or IPv4-mapped IPv6 shown as IPv4 like Go's net.IP */
	if (!inet_ntop(AF_INET, family == AF_INET6 ? b + 12 : b, out,
		       (socklen_t)len))
		snprintf(out, len, "?");
}

bool ckfs_ctl_sock_of(const struct ckfs_fd *fd, struct ckfs_ctl_sock *o)
{
	const struct ckfs_file *f = fd->file;

	memset(o, 0, sizeof(*o));
	if (!f)
		return false;
	o->fd = fd->fd;
	o->protocol = o->type = o->state = "";
	count_bytes(o->sndbuf, sizeof(o->sndbuf), f->so_sndbuf);
	count_bytes(o->rcvbuf, sizeof(o->rcvbuf), f->so_rcvbuf);
	switch (fd->type) {
	case CKFS_FD_UNIXSK:
		o->kind = "UNIX";
		o->type = sk_type(f->sk_type);
		o->state = tcp_state(f->sk_state);
		o->address = f->name ? f->name : "";
		o->address_len = f->name ? f->name_len : 0;
		return true;
	case CKFS_FD_INETSK:
		o->kind = "INET";
		o->protocol = ip_proto(f->sk_proto);
		o->type = sk_type(f->sk_type);
		o->state = tcp_state(f->sk_state);
		format_addr(o->src, sizeof(o->src), f->sk_family, f->src_addr);
		format_addr(o->dst, sizeof(o->dst), f->sk_family, f->dst_addr);
		o->src_port = f->src_port;
		o->dst_port = f->dst_port;
		return true;
	case CKFS_FD_PACKETSK:
		o->kind = "PACKET";
		o->protocol = "PACKET";
		o->type = sk_type(f->sk_type);
		return true;
	case CKFS_FD_NETLINKSK:
		o->kind = "NETLINK";
		o->protocol = "NETLINK";
		o->state = tcp_state(f->sk_state);
		return true;
	default:
		return false;
	}
}

bool ckfs_ctl_sock_task(struct ckfs_proc *p)
{
	const struct ckfs_core *c;

	/* checkpointctl skips dead and zombie tasks (go-criu taskHasState) */
	return ckfs_proc_core(p, ckfs_proc_pstree(p)->pid, &c) < 0 ||
	       !c->is_leader || c->task_state == CKFS_TASK_ALIVE ||
	       c->task_state == CKFS_TASK_STOPPED;
}

static json_object *sock_json(const struct ckfs_ctl_sock *s)
{
	json_object *o = json_object_new_object();
	json_object *d = json_object_new_object();

	put_str(o, "protocol", s->protocol);
	if (strcmp(s->kind, "UNIX") == 0) {
		json_object_object_add(d, "type",
				       json_object_new_string("UNIX"));
		if (s->address_len)
			json_object_object_add(
				d, "address",
				json_object_new_string_len(
					s->address, (int)s->address_len));
	} else if (strcmp(s->kind, "INET") == 0) {
		put_str(d, "type", s->protocol);
		put_str(d, "state", s->state);
		put_str(d, "src", s->src);
		if (s->src_port)
			json_object_object_add(
				d, "src_port",
				json_object_new_int64(s->src_port));
		put_str(d, "dst", s->dst);
		if (s->dst_port)
			json_object_object_add(
				d, "dst_port",
				json_object_new_int64(s->dst_port));
		put_str(d, "send_buf", s->sndbuf);
		put_str(d, "recv_buf", s->rcvbuf);
	} else {
		put_str(d, "send_buf", s->sndbuf);
		put_str(d, "recv_buf", s->rcvbuf);
	}
	json_object_object_add(o, "data", d);
	return o;
}

struct json_object *ckfs_ctl_sockets(struct ckfs_ckpt *ck)
{
	json_object *all = json_object_new_array();
	size_t i, j;

	for (i = 0; all && i < ckfs_ckpt_nprocs(ck); i++) {
		struct ckfs_proc *p = ckfs_ckpt_proc(ck, i);
		const struct ckfs_proc_files *pf;
		json_object *list = NULL, *e;

		if (!ckfs_ctl_sock_task(p) || ckfs_proc_files(p, &pf) < 0)
			continue;
		for (j = 0; j < pf->nfds; j++) {
			struct ckfs_ctl_sock s;

			if (!ckfs_ctl_sock_of(&pf->fds[j], &s))
				continue;
			if (!list)
				list = json_object_new_array();
			json_object_array_add(list, sock_json(&s));
		}
		if (!list)
			continue;
		e = json_object_new_object();
		json_object_object_add(
			e, "pid",
			json_object_new_int64(ckfs_proc_pstree(p)->pid));
		json_object_object_add(e, "open_sockets", list);
		json_object_array_add(all, e);
	}
	if (all && json_object_array_length(all) == 0) {
		json_object_put(all);
		all = NULL;
	}
	return all;
}

/* ---- stats-dump, inventory ---- */

/* Every dump_stats_entry counter in field order; null when not written. */
static json_object *all_stats(const struct ckfs_stats *s)
{
	const struct {
		const char *name;
		uint64_t v;
	} f[] = {
		{ "freezing_time", s->freezing_time },
		{ "frozen_time", s->frozen_time },
		{ "memdump_time", s->memdump_time },
		{ "memwrite_time", s->memwrite_time },
		{ "pages_scanned", s->pages_scanned },
		{ "pages_skipped_parent", s->pages_skipped_parent },
		{ "pages_written", s->pages_written },
		{ "irmap_resolve", s->irmap_resolve },
		{ "pages_lazy", s->pages_lazy },
		{ "page_pipes", s->page_pipes },
		{ "page_pipe_bufs", s->page_pipe_bufs },
		{ "shpages_scanned", s->shpages_scanned },
		{ "shpages_skipped_parent", s->shpages_skipped_parent },
		{ "shpages_written", s->shpages_written },
	};
	json_object *o = json_object_new_object();
	size_t i;

	for (i = 0; i < CKFS_ARRAY_SIZE(f); i++)
		json_object_object_add(o, f[i].name,
				       s->has & (1u << (i + 1))
					       ? json_object_new_uint64(f[i].v)
					       : NULL);
	return o;
}

static void inventory_rest(const struct ckfs_inventory *inv, json_object *c)
{
	static const char *const ns[] = { "pid", "net",	 "ipc",	   "uts",
					  "mnt", "user", "cgroup", "time" };
	static const char *const lsm[] = { "none", "selinux", "apparmor" };
	json_object *ids = json_object_new_object();
	size_t i;

	if (inv->has & (1u << 6))
		json_object_object_add(
			c, "lsm",
			inv->lsmtype < CKFS_ARRAY_SIZE(lsm)
				? json_object_new_string(lsm[inv->lsmtype])
				: json_object_new_int64(inv->lsmtype));
	for (i = 0; i < CKFS_ARRAY_SIZE(ns); i++)
		if (inv->root_ns[i])
			json_object_object_add(
				ids, ns[i],
				json_object_new_int64(inv->root_ns[i]));
	if (json_object_object_length(ids))
		json_object_object_add(c, "root_ns_ids", ids);
	else
		json_object_put(ids);
	if (inv->has_root_cg_set)
		json_object_object_add(c, "root_cg_set",
				       json_object_new_int64(inv->root_cg_set));
	if (inv->has & (1u << 2))
		json_object_object_add(
			c, "fdinfo_per_id",
			json_object_new_boolean(inv->fdinfo_per_id));
	if (inv->has & (1u << 4))
		json_object_object_add(c, "ns_per_id",
				       json_object_new_boolean(inv->ns_per_id));
	if (inv->has & (1u << 8))
		json_object_object_add(
			c, "dump_uptime",
			json_object_new_uint64(inv->dump_uptime));
	if (inv->has & (1u << 9))
		json_object_object_add(
			c, "pre_dump_mode",
			json_object_new_int64(inv->pre_dump_mode));
	if (inv->has & (1u << 10))
		json_object_object_add(c, "tcp_close",
				       json_object_new_boolean(inv->tcp_close));
	if (inv->has & (1u << 11))
		json_object_object_add(
			c, "network_lock_method",
			json_object_new_int64(inv->network_lock_method));
	if (inv->has & (1u << 12)) {
		json_object *a = json_object_new_array();

		for (i = 0; i < inv->nplugins; i++)
			json_object_array_add(
				a, json_object_new_string(inv->plugins[i]));
		json_object_object_add(c, "plugins", a);
	}
	if (inv->has & (1u << 14))
		json_object_object_add(
			c, "allow_uprobes",
			json_object_new_boolean(inv->allow_uprobes));
}

/* ---- rootfs-diff ---- */

static json_object *rdiff_summary(struct ckfs_ckpt *ck)
{
	const struct ckfs_rdiff *rd;
	json_object *o, *a;
	size_t i;

	if (ckfs_ckpt_rdiff(ck, &rd) < 0)
		return NULL;
	o = json_object_new_object();
	if (rd->tar) {
		put_str(o, "member", rd->tar->name);
		json_object_object_add(o, "size",
				       json_object_new_uint64(rd->tar->size));
	}
	if (rd->nt) {
		put_str(o, "compression", ckfs_nested_compression(rd->nt));
		json_object_object_add(o, "entries",
				       json_object_new_uint64(rd->n));
		json_object_object_add(o, "whiteouts",
				       json_object_new_uint64(rd->nwhiteouts));
	}
	if (rd->tar_error)
		put_str(o, "error", rd->tar_msg);
	if (rd->deleted_files)
		put_str(o, "deleted_files_member", rd->deleted_files->name);
	if (rd->deleted_error)
		put_str(o, "deleted_error", rd->deleted_msg);
	a = json_object_new_array();
	for (i = 0; i < rd->ndeleted; i++)
		json_object_array_add(a,
				      json_object_new_string(rd->deleted[i]));
	json_object_object_add(o, "deleted", a);
	return o;
}

void ckfs_meta_add_facts(struct ckfs_ckpt *ck, struct json_object *o)
{
	const struct ckfs_container *ct = ckfs_ckpt_container(ck);
	const struct ckfs_inventory *inv = ckfs_ckpt_inventory(ck);
	json_object *facts = ckfs_ckpt_engine_facts(ck), *c, *rd;

	if (facts) {
		json_object_object_foreach(facts, k, v)
			json_object_object_add(o, k, json_object_get(v));
	}
	if (ct->stats.present)
		json_object_object_add(o, "criu_dump_statistics",
				       all_stats(&ct->stats));
	if (inv && json_object_object_get_ex(o, "criu", &c) &&
	    json_object_is_type(c, json_type_object))
		inventory_rest(inv, c);
	rd = rdiff_summary(ck);
	if (rd)
		json_object_object_add(o, "rootfs_diff", rd);
}
