/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * crit's JSON for CRIU images.  A record is unpacked with checkpointfs's
 * descriptors and walked generically through protobuf-c's reflection into
 * a json-c tree, which is then printed in Python's json.dump(indent=4)
 * layout, so the bytes match `crit decode --pretty`.  crit learns how to
 * print a field from CRIU's (criu) .proto options; checkpointfs's protos
 * carry none, so the same facts live in render_table[] below.  The message
 * structs are used directly only where crit reads a payload length from
 * them (pipes-data, sk-queues, tcp-stream, ghost-file).
 *
 * This file knows nothing about the process model or the tree.
 */
#include "image/json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include <json-c/json.h>

#include "base/mem.h"
#include "image/image.h"

#include "cgroup.pb-c.h"
#include "core.pb-c.h"
#include "fdinfo.pb-c.h"
#include "fs.pb-c.h"
#include "ghost.pb-c.h"
#include "ids.pb-c.h"
#include "inventory.pb-c.h"
#include "ipc-var.pb-c.h"
#include "memfd.pb-c.h"
#include "mm.pb-c.h"
#include "mnt.pb-c.h"
#include "netns.pb-c.h"
#include "pagemap.pb-c.h"
#include "pipe-data.pb-c.h"
#include "pstree.pb-c.h"
#include "remap.pb-c.h"
#include "seccomp.pb-c.h"
#include "sk-packet.pb-c.h"
#include "sockets.pb-c.h"
#include "stats.pb-c.h"
#include "tcp-stream.pb-c.h"
#include "timens.pb-c.h"
#include "tty.pb-c.h"
#include "userns.pb-c.h"
#include "utsns.pb-c.h"

/* Deeper nesting than any CRIU message has (cgroup dirs nest per level). */
#define JSON_DEPTH_MAX 200

/* ---- magics: crit's names, and how each image is read ---- */

enum layout {
	L_NONE,	      /* crit has no handler, or we have no message */
	L_PLAIN,      /* records of one message */
	L_PAGEMAP,    /* pagemap_head, then pagemap_entry records */
	L_GHOST,      /* ghost_file_entry, then chunks or the file's bytes */
	L_PIPE_DATA,  /* each record followed by .bytes of data */
	L_SK_QUEUE,   /* each record followed by .length of data */
	L_TCP_STREAM, /* each record followed by inq_len + outq_len bytes */
};

struct magic_ent {
	const char *name;
	uint32_t magic;
	enum layout layout;
	const ProtobufCMessageDescriptor *desc;
};

/*
 * Every magic crit knows (CRIU's criu/include/magic.h less "_MAGIC", the
 * first name of each value), with the message crit decodes it as.  NULL:
 * crit has no handler (SIGNAL, BINFMT_MISC, PIDFD, KDAT), or checkpointfs
 * has no .proto for the message yet (see proto/README.md).
 */
static const struct magic_ent magics[] = {
	{ "INVENTORY", 0x58313116, L_PLAIN, &inventory_entry__descriptor },
	{ "PSTREE", 0x50273030, L_PLAIN, &pstree_entry__descriptor },
	{ "FDINFO", 0x56213732, L_PLAIN, &fdinfo_entry__descriptor },
	{ "PAGEMAP", 0x56084025, L_PAGEMAP, NULL },
	{ "CORE", 0x55053847, L_PLAIN, &core_entry__descriptor },
	{ "IDS", 0x54432030, L_PLAIN, &task_kobj_ids_entry__descriptor },
	{ "VMAS", 0x54123737, L_PLAIN, &vma_entry__descriptor },
	{ "PIPES", 0x56513555, L_PLAIN, &pipe_entry__descriptor },
	{ "PIPES_DATA", 0x56453709, L_PIPE_DATA, &pipe_data_entry__descriptor },
	{ "FIFO", 0x58364939, L_PLAIN, &fifo_entry__descriptor },
	{ "FIFO_DATA", 0x59333054, L_PIPE_DATA, &pipe_data_entry__descriptor },
	{ "SIGACT", 0x55344201, L_PLAIN, &sa_entry__descriptor },
	{ "UNIXSK", 0x54373943, L_PLAIN, &unix_sk_entry__descriptor },
	{ "INETSK", 0x56443851, L_PLAIN, &inet_sk_entry__descriptor },
	{ "PACKETSK", 0x60454618, L_PLAIN, &packet_sock_entry__descriptor },
	{ "ITIMERS", 0x57464056, L_PLAIN, &itimer_entry__descriptor },
	{ "POSIX_TIMERS", 0x52603957, L_PLAIN, &posix_timer_entry__descriptor },
	{ "SK_QUEUES", 0x56264026, L_SK_QUEUE, &sk_packet_entry__descriptor },
	{ "UTSNS", 0x54473203, L_PLAIN, &utsns_entry__descriptor },
	{ "CREDS", 0x54023547, L_PLAIN, &creds_entry__descriptor },
	{ "IPC_VAR", 0x53115007, L_PLAIN, &ipc_var_entry__descriptor },
	{ "IPCNS_SHM", 0x46283044, L_NONE, NULL },
	{ "IPCNS_MSG", 0x55453737, L_NONE, NULL },
	{ "IPCNS_SEM", 0x59573019, L_NONE, NULL },
	{ "REG_FILES", 0x50363636, L_PLAIN, &reg_file_entry__descriptor },
	{ "EXT_FILES", 0x59255641, L_PLAIN, &ext_file_entry__descriptor },
	{ "FS", 0x51403912, L_PLAIN, &fs_entry__descriptor },
	{ "MM", 0x57492820, L_PLAIN, &mm_entry__descriptor },
	{ "REMAP_FPATH", 0x59133954, L_PLAIN,
	  &remap_file_path_entry__descriptor },
	{ "GHOST_FILE", 0x52583605, L_GHOST, NULL },
	{ "TCP_STREAM", 0x51465506, L_TCP_STREAM,
	  &tcp_stream_entry__descriptor },
	{ "EVENTFD_FILE", 0x44523722, L_PLAIN,
	  &eventfd_file_entry__descriptor },
	{ "EVENTPOLL_FILE", 0x45023858, L_PLAIN,
	  &eventpoll_file_entry__descriptor },
	{ "EVENTPOLL_TFD", 0x44433746, L_PLAIN,
	  &eventpoll_tfd_entry__descriptor },
	{ "SIGNALFD", 0x57323820, L_PLAIN, &signalfd_entry__descriptor },
	{ "INOTIFY_FILE", 0x48424431, L_PLAIN,
	  &inotify_file_entry__descriptor },
	{ "INOTIFY_WD", 0x54562009, L_NONE, NULL }, /* fields not declared */
	{ "MNTS", 0x55563928, L_PLAIN, &mnt_entry__descriptor },
	{ "NETDEV", 0x57373951, L_PLAIN, &net_device_entry__descriptor },
	{ "NETNS", 0x55933752, L_PLAIN, &netns_entry__descriptor },
	{ "TTY_FILES", 0x59433025, L_PLAIN, &tty_file_entry__descriptor },
	{ "TTY_INFO", 0x59453036, L_NONE, NULL }, /* fields not declared */
	{ "TTY_DATA", 0x59413026, L_NONE, NULL },
	{ "FILE_LOCKS", 0x54323616, L_NONE, NULL },
	{ "RLIMIT", 0x57113925, L_PLAIN, &rlimit_entry__descriptor },
	{ "FANOTIFY_FILE", 0x55096122, L_PLAIN,
	  &fanotify_file_entry__descriptor },
	{ "FANOTIFY_MARK", 0x56506035, L_NONE, NULL },
	{ "SIGNAL", 0x59255647, L_NONE, NULL },
	{ "NETLINK_SK", 0x58005614, L_PLAIN, &netlink_sk_entry__descriptor },
	{ "NS_FILES", 0x61394011, L_PLAIN, &ns_file_entry__descriptor },
	{ "TUNFILE", 0x57143751, L_PLAIN, &tunfile_entry__descriptor },
	{ "CGROUP", 0x59383330, L_PLAIN, &cgroup_entry__descriptor },
	{ "TIMERFD", 0x50493712, L_PLAIN, &timerfd_entry__descriptor },
	{ "CPUINFO", 0x61404013, L_NONE, NULL },
	{ "USERNS", 0x55474906, L_PLAIN, &userns_entry__descriptor },
	{ "SECCOMP", 0x64413049, L_PLAIN, &seccomp_entry__descriptor },
	{ "BINFMT_MISC", 0x67343323, L_NONE, NULL },
	{ "AUTOFS", 0x49353943, L_NONE, NULL },
	{ "FILES", 0x56303138, L_PLAIN, &file_entry__descriptor },
	{ "MEMFD_INODE", 0x48453499, L_PLAIN, &memfd_inode_entry__descriptor },
	{ "TIMENS", 0x43114433, L_PLAIN, &timens_entry__descriptor },
	{ "PIDNS", 0x61157326, L_NONE, NULL },
	{ "BPFMAP_FILE", 0x57506142, L_PLAIN, &bpfmap_file_entry__descriptor },
	{ "BPFMAP_DATA", 0x64324033, L_NONE, NULL },
	{ "APPARMOR", 0x59423047, L_NONE, NULL },
	{ "PIDFD", 0x54435556, L_NONE, NULL },
	{ "STATS", 0x57093306, L_PLAIN, &stats_entry__descriptor },
	{ "IRMAP_CACHE", 0x57004059, L_NONE, NULL },
	{ "KDAT", 0x57023458, L_NONE, NULL },
};

static const struct magic_ent *find_magic(uint32_t magic)
{
	size_t i;

	for (i = 0; i < CKFS_ARRAY_SIZE(magics); i++)
		if (magics[i].magic == magic)
			return &magics[i];
	return NULL;
}

/* ---- how crit prints a field: CRIU's (criu) options, as a table ---- */

enum rendering {
	R_HEX,	 /* "0x1f"; inherited by every field of a message */
	R_DEV,	 /* "major:minor", kernel encoding (20 minor bits) */
	R_ODEV,	 /* "major:minor", glibc's encoding of an old dev_t */
	R_FLAGS, /* "A | B | 0x40" from a flag map */
	R_DICT,	 /* a name from a dictionary, else the number */
	R_IPADD, /* repeated: one IPv4 or IPv6 address string */
	R_UNIX,	 /* bytes as quoted-printable (unix socket names) */
};

struct flag_bit {
	const char *name;
	uint64_t bit;
};

static const struct flag_bit mmap_prot_flags[] = {
	{ "PROT_READ", 0x1 },
	{ "PROT_WRITE", 0x2 },
	{ "PROT_EXEC", 0x4 },
	{ NULL, 0 },
};

static const struct flag_bit mmap_flags_flags[] = {
	{ "MAP_SHARED", 0x1 },	    { "MAP_PRIVATE", 0x2 },
	{ "MAP_DROPPABLE", 0x8 },   { "MAP_ANON", 0x20 },
	{ "MAP_GROWSDOWN", 0x100 }, { NULL, 0 },
};

static const struct flag_bit mmap_status_flags[] = {
	{ "VMA_AREA_REGULAR", 1u << 0 },  { "VMA_AREA_STACK", 1u << 1 },
	{ "VMA_AREA_VSYSCALL", 1u << 2 }, { "VMA_AREA_VDSO", 1u << 3 },
	{ "VMA_AREA_HEAP", 1u << 5 },	  { "VMA_FILE_PRIVATE", 1u << 6 },
	{ "VMA_FILE_SHARED", 1u << 7 },	  { "VMA_ANON_SHARED", 1u << 8 },
	{ "VMA_ANON_PRIVATE", 1u << 9 },  { "VMA_AREA_SYSVIPC", 1u << 10 },
	{ "VMA_AREA_SOCKET", 1u << 11 },  { "VMA_AREA_VVAR", 1u << 12 },
	{ "VMA_AREA_AIORING", 1u << 13 }, { "VMA_AREA_MEMFD", 1u << 14 },
	{ "VMA_AREA_SHSTK", 1u << 15 },	  { "VMA_AREA_UPROBES", 1u << 17 },
	{ "VMA_UNSUPP", 1u << 31 },	  { NULL, 0 },
};

/* open(2) flags, octal as in the kernel's uapi headers */
static const struct flag_bit rfile_flags[] = {
	{ "O_WRONLY", 01 },
	{ "O_RDWR", 02 },
	{ "O_CREAT", 0100 },
	{ "O_EXCL", 0200 },
	{ "O_NOCTTY", 0400 },
	{ "O_TRUNC", 01000 },
	{ "O_APPEND", 02000 },
	{ "O_NONBLOCK", 04000 },
	{ "O_DSYNC", 010000 },
	{ "FASYNC", 020000 },
	{ "O_DIRECT", 040000 },
	{ "O_LARGEFILE", 0100000 },
	{ "O_DIRECTORY", 0200000 },
	{ "O_NOFOLLOW", 0400000 },
	{ "O_NOATIME", 01000000 },
	{ "O_CLOEXEC", 02000000 },
	{ NULL, 0 },
};

static const struct flag_bit pmap_flags[] = {
	{ "PE_PARENT", 1u << 0 },
	{ "PE_LAZY", 1u << 1 },
	{ "PE_PRESENT", 1u << 2 },
	{ NULL, 0 },
};

static const struct flag_bit seals_flags[] = {
	{ "F_SEAL_SEAL", 0x1 },		 { "F_SEAL_SHRINK", 0x2 },
	{ "F_SEAL_GROW", 0x4 },		 { "F_SEAL_WRITE", 0x8 },
	{ "F_SEAL_FUTURE_WRITE", 0x10 }, { NULL, 0 },
};

/* crit's dictionaries: "gen" (task_state) and "sk" (family, type, ...) */
static const struct flag_bit dict_task_state[] = {
	{ "Alive", 1 },
	{ "Zombie", 3 },
	{ "Stopped", 6 },
	{ NULL, 0 },
};

static const struct flag_bit dict_sk_family[] = {
	{ "UNIX", 1 },	   { "INET", 2 },    { "INET6", 10 },
	{ "NETLINK", 16 }, { "PACKET", 17 }, { NULL, 0 },
};

static const struct flag_bit dict_sk_type[] = {
	{ "STREAM", 1 },    { "DGRAM", 2 },   { "RAW", 3 },
	{ "SEQPACKET", 5 }, { "PACKET", 10 }, { NULL, 0 },
};

static const struct flag_bit dict_sk_state[] = {
	{ "ESTABLISHED", 1 }, { "SYN_SENT", 2 },   { "SYN_RECV", 3 },
	{ "FIN_WAIT1", 4 },   { "FIN_WAIT2", 5 },  { "TIME_WAIT", 6 },
	{ "CLOSE", 7 },	      { "CLOSE_WAIT", 8 }, { "LAST_ACK", 9 },
	{ "LISTEN", 10 },     { NULL, 0 },
};

static const struct flag_bit dict_sk_proto[] = {
	{ "IP", 0 },	    { "TCP", 6 }, { "UDP", 17 },
	{ "UDPLITE", 136 }, { NULL, 0 },
};

struct render_rule {
	const char *msg;   /* the message's .proto name */
	const char *field; /* the field's .proto name */
	enum rendering r;
	const struct flag_bit *map; /* R_FLAGS, R_DICT */
};

/*
 * The (criu) options of CRIU 4.2's images/ .proto files, for every message crit
 * decodes (including ones checkpointfs has no .proto for yet: a rule for
 * an unknown message is simply never matched).
 */
static const struct render_rule render_table[] = {
	{ "bpfmap_file_entry", "flags", R_FLAGS, rfile_flags },
	{ "thread_info_aarch64", "clear_tid_addr", R_HEX, NULL },
	{ "thread_info_aarch64", "gpregs", R_HEX, NULL },
	{ "thread_info_arm", "clear_tid_addr", R_HEX, NULL },
	{ "thread_info_arm", "gpregs", R_HEX, NULL },
	{ "thread_info_loongarch64", "clear_tid_addr", R_HEX, NULL },
	{ "thread_info_loongarch64", "gpregs", R_HEX, NULL },
	{ "thread_info_loongarch64", "fpregs", R_HEX, NULL },
	{ "thread_info_mips", "clear_tid_addr", R_HEX, NULL },
	{ "thread_info_mips", "gpregs", R_HEX, NULL },
	{ "thread_info_mips", "fpregs", R_HEX, NULL },
	{ "thread_info_ppc64", "clear_tid_addr", R_HEX, NULL },
	{ "thread_info_ppc64", "gpregs", R_HEX, NULL },
	{ "thread_info_riscv64", "clear_tid_addr", R_HEX, NULL },
	{ "thread_info_riscv64", "gpregs", R_HEX, NULL },
	{ "thread_info_s390", "clear_tid_addr", R_HEX, NULL },
	{ "thread_info_s390", "gpregs", R_HEX, NULL },
	{ "thread_info_s390", "fpregs", R_HEX, NULL },
	{ "thread_info_s390", "vxrs_low", R_HEX, NULL },
	{ "thread_info_s390", "vxrs_high", R_HEX, NULL },
	{ "thread_info_s390", "gs_cb", R_HEX, NULL },
	{ "thread_info_s390", "gs_bc", R_HEX, NULL },
	{ "thread_info_s390", "ri_cb", R_HEX, NULL },
	{ "user_x86_cet_entry", "cet", R_HEX, NULL },
	{ "user_x86_cet_entry", "ssp", R_HEX, NULL },
	{ "thread_info_x86", "clear_tid_addr", R_HEX, NULL },
	{ "thread_info_x86", "gpregs", R_HEX, NULL },
	{ "task_core_entry", "task_state", R_DICT, dict_task_state },
	{ "task_core_entry", "blk_sigset", R_HEX, NULL },
	{ "task_core_entry", "blk_sigset_extended", R_HEX, NULL },
	{ "task_core_entry", "membarrier_registration_mask", R_HEX, NULL },
	{ "irmap_cache_entry", "dev", R_ODEV, NULL },
	{ "inotify_wd_entry", "mask", R_HEX, NULL },
	{ "inotify_wd_entry", "ignored_mask", R_HEX, NULL },
	{ "inotify_wd_entry", "s_dev", R_DEV, NULL },
	{ "inotify_file_entry", "flags", R_HEX, NULL },
	{ "fanotify_mark_entry", "mflags", R_HEX, NULL },
	{ "fanotify_mark_entry", "mask", R_HEX, NULL },
	{ "fanotify_mark_entry", "ignored_mask", R_HEX, NULL },
	{ "fanotify_mark_entry", "s_dev", R_DEV, NULL },
	{ "fanotify_file_entry", "flags", R_HEX, NULL },
	{ "fanotify_file_entry", "faflags", R_HEX, NULL },
	{ "fanotify_file_entry", "evflags", R_HEX, NULL },
	{ "ghost_file_entry", "dev", R_DEV, NULL },
	{ "ghost_file_entry", "rdev", R_ODEV, NULL },
	{ "memfd_file_entry", "flags", R_FLAGS, rfile_flags },
	{ "memfd_inode_entry", "seals", R_FLAGS, seals_flags },
	{ "mm_entry", "mm_start_code", R_HEX, NULL },
	{ "mm_entry", "mm_end_code", R_HEX, NULL },
	{ "mm_entry", "mm_start_data", R_HEX, NULL },
	{ "mm_entry", "mm_end_data", R_HEX, NULL },
	{ "mm_entry", "mm_start_stack", R_HEX, NULL },
	{ "mm_entry", "mm_start_brk", R_HEX, NULL },
	{ "mm_entry", "mm_brk", R_HEX, NULL },
	{ "mm_entry", "mm_arg_start", R_HEX, NULL },
	{ "mm_entry", "mm_arg_end", R_HEX, NULL },
	{ "mm_entry", "mm_env_start", R_HEX, NULL },
	{ "mm_entry", "mm_env_end", R_HEX, NULL },
	{ "mnt_entry", "root_dev", R_DEV, NULL },
	{ "mnt_entry", "flags", R_HEX, NULL },
	{ "mnt_entry", "sb_flags", R_HEX, NULL },
	{ "net_device_entry", "flags", R_HEX, NULL },
	{ "packet_sock_entry", "flags", R_HEX, NULL },
	{ "pagemap_entry", "vaddr", R_HEX, NULL },
	{ "pagemap_entry", "flags", R_FLAGS, pmap_flags },
	{ "pipe_entry", "flags", R_HEX, NULL },
	{ "reg_file_entry", "flags", R_FLAGS, rfile_flags },
	{ "sa_entry", "sigaction", R_HEX, NULL },
	{ "sa_entry", "flags", R_HEX, NULL },
	{ "sa_entry", "restorer", R_HEX, NULL },
	{ "sa_entry", "mask", R_HEX, NULL },
	{ "sa_entry", "mask_extended", R_HEX, NULL },
	{ "signalfd_entry", "flags", R_HEX, NULL },
	{ "signalfd_entry", "sigmask", R_HEX, NULL },
	{ "sit_entry", "local", R_IPADD, NULL },
	{ "sit_entry", "remote", R_IPADD, NULL },
	{ "sit_entry", "rd_prefix", R_IPADD, NULL },
	{ "sit_entry", "relay_prefix", R_IPADD, NULL },
	{ "inet_sk_entry", "family", R_DICT, dict_sk_family },
	{ "inet_sk_entry", "type", R_DICT, dict_sk_type },
	{ "inet_sk_entry", "proto", R_DICT, dict_sk_proto },
	{ "inet_sk_entry", "state", R_DICT, dict_sk_state },
	{ "inet_sk_entry", "flags", R_HEX, NULL },
	{ "inet_sk_entry", "src_addr", R_IPADD, NULL },
	{ "inet_sk_entry", "dst_addr", R_IPADD, NULL },
	{ "netlink_sk_entry", "flags", R_HEX, NULL },
	{ "unix_sk_entry", "type", R_DICT, dict_sk_type },
	{ "unix_sk_entry", "state", R_DICT, dict_sk_state },
	{ "unix_sk_entry", "flags", R_HEX, NULL },
	{ "unix_sk_entry", "uflags", R_HEX, NULL },
	{ "unix_sk_entry", "name", R_UNIX, NULL },
	{ "tcp_stream_entry", "opt_mask", R_HEX, NULL },
	{ "timerfd_entry", "flags", R_HEX, NULL },
	{ "timerfd_entry", "settime_flags", R_HEX, NULL },
	{ "tty_file_entry", "flags", R_HEX, NULL },
	{ "tun_link_entry", "flags", R_HEX, NULL },
	{ "vma_entry", "start", R_HEX, NULL },
	{ "vma_entry", "end", R_HEX, NULL },
	{ "vma_entry", "prot", R_FLAGS, mmap_prot_flags },
	{ "vma_entry", "flags", R_FLAGS, mmap_flags_flags },
	{ "vma_entry", "status", R_FLAGS, mmap_status_flags },
	{ "vma_entry", "madv", R_HEX, NULL },
	{ "vma_entry", "fdflags", R_HEX, NULL },
};

static const struct render_rule *find_rule(const ProtobufCMessageDescriptor *d,
					   const ProtobufCFieldDescriptor *f)
{
	size_t i;

	for (i = 0; i < CKFS_ARRAY_SIZE(render_table); i++) {
		const struct render_rule *r = &render_table[i];

		if (strcmp(r->field, f->name) == 0 &&
		    strcmp(r->msg, d->name) == 0)
			return r;
	}
	return NULL;
}

/* ---- crit's renderings ---- */

/* base64.encodebytes(): lines of 76 characters, each ending in '\n' */
static void put_base64(struct ckfs_sb *sb, const uint8_t *p, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, col = 0;

	for (i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		char q[4];

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? tab[v & 63] : '=';
		ckfs_sb_add(sb, q, 4);
		col += 4;
		if (col == 76) {
			ckfs_sb_add(sb, "\n", 1);
			col = 0;
		}
	}
	if (col)
		ckfs_sb_add(sb, "\n", 1);
}

/*
 * quopri.encodestring(): Python's binascii.b2a_qp with istext=True,
 * quotetabs=False, header=False: '=' and bytes outside 33..126 become
 * "=XX" except tabs, spaces and line ends inside a line; soft line breaks
 * ("=\n") keep lines under 76 characters.
 */
#define QP_LINE_MAX 76

static void put_qp_hex(struct ckfs_sb *sb, uint8_t c)
{
	static const char hex[] = "0123456789ABCDEF";
	char q[3] = { '=', hex[c >> 4], hex[c & 15] };

	ckfs_sb_add(sb, q, 3);
}

static void put_quopri(struct ckfs_sb *sb, const uint8_t *p, size_t n)
{
	const uint8_t *nl = n ? memchr(p, '\n', n) : NULL;
	bool crlf = nl && nl > p && nl[-1] == '\r';
	const char *eol = crlf ? "\r\n" : "\n";
	size_t i = 0, linelen = 0;

	while (i < n) {
		uint8_t c = p[i];
		bool last = i + 1 == n;

		if (c > 126 || c == '=' ||
		    (c == '.' && linelen == 0 &&
		     (last || p[i + 1] == '\n' || p[i + 1] == '\r' ||
		      p[i + 1] == 0)) ||
		    ((c == '\t' || c == ' ') && last) ||
		    (c < 33 && c != '\r' && c != '\n' && c != '\t' &&
		     c != ' ')) {
			if (linelen + 3 >= QP_LINE_MAX) {
				ckfs_sb_puts(sb, "=");
				ckfs_sb_puts(sb, eol);
				linelen = 0;
			}
			put_qp_hex(sb, c);
			linelen += 3;
			i++;
		} else if (c == '\n' ||
			   (c == '\r' && !last && p[i + 1] == '\n')) {
			/* whitespace at the end of a line is encoded */
			if (sb->len && !sb->oom &&
			    (sb->data[sb->len - 1] == ' ' ||
			     sb->data[sb->len - 1] == '\t')) {
				uint8_t ws = (uint8_t)sb->data[--sb->len];

				put_qp_hex(sb, ws);
			}
			ckfs_sb_puts(sb, eol);
			linelen = 0;
			i += c == '\r' ? 2 : 1;
		} else {
			if (!last && p[i + 1] != '\n' &&
			    linelen + 1 >= QP_LINE_MAX) {
				ckfs_sb_puts(sb, "=");
				ckfs_sb_puts(sb, eol);
				linelen = 0;
			}
			linelen++;
			ckfs_sb_add(sb, &c, 1);
			i++;
		}
	}
}

/* A json-c string from a strbuf's bytes; NULL on ENOMEM. */
static struct json_object *sb_string(struct ckfs_sb *sb)
{
	struct json_object *o = NULL;

	if (!sb->oom && sb->len <= INT32_MAX)
		o = json_object_new_string_len(sb->data ? sb->data : "",
					       (int)sb->len);
	ckfs_sb_fini(sb);
	return o;
}

static struct json_object *bytes_json(const ProtobufCBinaryData *b,
				      bool unix_name)
{
	struct ckfs_sb sb;

	ckfs_sb_init(&sb);
	if (unix_name)
		put_quopri(&sb, b->data, b->len);
	else
		put_base64(&sb, b->data, b->len);
	return sb_string(&sb);
}

/* ipaddress.IPv6Address(...).compressed (Python >= 3.13) */
static void put_ipv6(struct ckfs_sb *sb, const uint32_t w[4])
{
	uint16_t h[8];
	int i, best = -1, best_len = 0, run = -1, run_len = 0;

	for (i = 0; i < 4; i++) {
		h[2 * i] = (uint16_t)(w[i] >> 16);
		h[2 * i + 1] = (uint16_t)w[i];
	}
	/* IPv4-mapped (::ffff:0:0/96): the mixed notation */
	if (!h[0] && !h[1] && !h[2] && !h[3] && !h[4] && h[5] == 0xffff) {
		ckfs_sb_printf(sb, "::ffff:%u.%u.%u.%u", w[3] >> 24,
			       (w[3] >> 16) & 255, (w[3] >> 8) & 255,
			       w[3] & 255);
		return;
	}
	/* the first longest run of two or more zero groups becomes "::" */
	for (i = 0; i < 8; i++) {
		if (h[i] == 0) {
			if (run < 0)
				run = i;
			if (++run_len > best_len) {
				best_len = run_len;
				best = run;
			}
		} else {
			run = -1;
			run_len = 0;
		}
	}
	if (best_len < 2)
		best = -1;
	/* the groups joined by ':', the run being one empty group */
	for (i = 0; i < 8; i++) {
		if (i)
			ckfs_sb_puts(sb, ":");
		if (i == best) {
			if (i == 0)
				ckfs_sb_puts(sb, ":");
			i += best_len - 1;
			if (i == 7)
				ckfs_sb_puts(sb, ":");
			continue;
		}
		ckfs_sb_printf(sb, "%x", h[i]);
	}
}

/*
 * crit's ipadd rendering of a repeated uint32 (network order words): one
 * address, IPv4 from one word, IPv6 from the first four.  Two or three
 * words make crit fail; here they fall back to plain numbers (NULL).
 */
static struct json_object *ipadd_json(const uint32_t *v, size_t n)
{
	struct json_object *a;
	struct ckfs_sb sb;

	if (n != 1 && n < 4)
		return NULL;
	ckfs_sb_init(&sb);
	if (n == 1) {
		uint32_t x = ntohl(v[0]);

		ckfs_sb_printf(&sb, "%u.%u.%u.%u", x >> 24, (x >> 16) & 255,
			       (x >> 8) & 255, x & 255);
	} else {
		uint32_t w[4] = { ntohl(v[0]), ntohl(v[1]), ntohl(v[2]),
				  ntohl(v[3]) };

		put_ipv6(&sb, w);
	}
	a = json_object_new_array();
	if (a && json_object_array_add(a, sb_string(&sb)) < 0) {
		json_object_put(a);
		a = NULL;
	}
	ckfs_sb_fini(&sb);
	return a;
}

/* An integer field's value, whatever its width and sign. */
struct num {
	bool neg;
	int64_t s; /* when neg */
	uint64_t u;
};

static struct json_object *hex_json(const struct num *v)
{
	char buf[32];

	if (v->neg)
		snprintf(buf, sizeof(buf), "-0x%" PRIx64, 0 - (uint64_t)v->s);
	else
		snprintf(buf, sizeof(buf), "0x%" PRIx64, v->u);
	return json_object_new_string(buf);
}

static struct json_object *num_json(const struct num *v)
{
	return v->neg ? json_object_new_int64(v->s)
		      : json_object_new_uint64(v->u);
}

static struct json_object *flags_json(uint64_t v, const struct flag_bit *map)
{
	struct ckfs_sb sb;
	uint64_t known = 0;
	const char *sep = "";

	ckfs_sb_init(&sb);
	for (; map->name; map++) {
		known |= map->bit;
		if (v & map->bit) {
			ckfs_sb_printf(&sb, "%s%s", sep, map->name);
			sep = " | ";
		}
	}
	if (v & ~known)
		ckfs_sb_printf(&sb, "%s0x%" PRIx64, sep, v & ~known);
	if (!sb.len && !sb.oom)
		return json_object_new_string("");
	return sb_string(&sb);
}

static struct json_object *int_json(const struct num *v, bool hex,
				    const struct render_rule *rule)
{
	char buf[32];

	if (hex)
		return hex_json(v);
	if (!rule)
		return num_json(v);
	switch (rule->r) {
	case R_DEV:
		snprintf(buf, sizeof(buf), "%" PRIu64 ":%" PRIu64, v->u >> 20,
			 v->u & ((1u << 20) - 1));
		return json_object_new_string(buf);
	case R_ODEV:
		snprintf(buf, sizeof(buf), "%u:%u", major((dev_t)v->u),
			 minor((dev_t)v->u));
		return json_object_new_string(buf);
	case R_FLAGS:
		return flags_json(v->u, rule->map);
	case R_DICT: {
		const struct flag_bit *d;

		for (d = rule->map; !v->neg && d->name; d++)
			if (d->bit == v->u)
				return json_object_new_string(d->name);
		return num_json(v);
	}
	default:
		return num_json(v);
	}
}

/* ---- Python's str for a protobuf string: UTF-8, surrogateescape ---- */

/* Length of the valid UTF-8 sequence at @p (code point in *@cp), or 0. */
static size_t utf8_seq(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint8_t c = p[0];
	size_t len, i;
	uint8_t lo = 0x80, hi = 0xbf;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		*cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		*cp = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;
		if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		*cp = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if (p[i] < lo || p[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
		*cp = (*cp << 6) | (p[i] & 0x3f);
	}
	return len;
}

/* json.dumps(ensure_ascii=True) of a string */
static void put_json_string(struct ckfs_sb *sb, const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0;

	ckfs_sb_add(sb, "\"", 1);
	while (i < n) {
		uint32_t cp;
		size_t len = utf8_seq(p + i, n - i, &cp);

		if (len == 0) {
			cp = 0xdc00 | p[i]; /* surrogateescape */
			len = 1;
		}
		i += len;
		switch (cp) {
		case '"':
			ckfs_sb_puts(sb, "\\\"");
			continue;
		case '\\':
			ckfs_sb_puts(sb, "\\\\");
			continue;
		case '\b':
			ckfs_sb_puts(sb, "\\b");
			continue;
		case '\f':
			ckfs_sb_puts(sb, "\\f");
			continue;
		case '\n':
			ckfs_sb_puts(sb, "\\n");
			continue;
		case '\r':
			ckfs_sb_puts(sb, "\\r");
			continue;
		case '\t':
			ckfs_sb_puts(sb, "\\t");
			continue;
		}
		if (cp >= 0x20 && cp < 0x7f) {
			char c = (char)cp;

			ckfs_sb_add(sb, &c, 1);
		} else if (cp < 0x10000) {
			ckfs_sb_printf(sb, "\\u%04x", cp);
		} else {
			cp -= 0x10000;
			ckfs_sb_printf(sb, "\\u%04x\\u%04x",
				       0xd800 | (cp >> 10),
				       0xdc00 | (cp & 0x3ff));
		}
	}
	ckfs_sb_add(sb, "\"", 1);
}

/* ---- json.dump(obj, indent=4) ---- */

static void put_indent(struct ckfs_sb *sb, int level)
{
	static const char sp[] = "                                ";
	size_t n = (size_t)level * 4;

	while (n) {
		size_t k = n < sizeof(sp) - 1 ? n : sizeof(sp) - 1;

		ckfs_sb_add(sb, sp, k);
		n -= k;
	}
}

static void put_json(struct ckfs_sb *sb, struct json_object *o, int level)
{
	size_t i, n;
	bool first = true;

	switch (json_object_get_type(o)) {
	case json_type_null:
		ckfs_sb_puts(sb, "null");
		break;
	case json_type_boolean:
		ckfs_sb_puts(sb, json_object_get_boolean(o) ? "true" : "false");
		break;
	case json_type_int:
		if (json_object_get_int64(o) < 0)
			ckfs_sb_printf(sb, "%" PRId64,
				       json_object_get_int64(o));
		else
			ckfs_sb_printf(sb, "%" PRIu64,
				       json_object_get_uint64(o));
		break;
	case json_type_string:
		put_json_string(sb, json_object_get_string(o),
				(size_t)json_object_get_string_len(o));
		break;
	case json_type_array:
		n = json_object_array_length(o);
		if (!n) {
			ckfs_sb_puts(sb, "[]");
			break;
		}
		ckfs_sb_puts(sb, "[");
		for (i = 0; i < n; i++) {
			ckfs_sb_puts(sb, i ? ",\n" : "\n");
			put_indent(sb, level + 1);
			put_json(sb, json_object_array_get_idx(o, i),
				 level + 1);
		}
		ckfs_sb_puts(sb, "\n");
		put_indent(sb, level);
		ckfs_sb_puts(sb, "]");
		break;
	case json_type_object:
		if (!json_object_object_length(o)) {
			ckfs_sb_puts(sb, "{}");
			break;
		}
		ckfs_sb_puts(sb, "{");
		json_object_object_foreach(o, key, val)
		{
			ckfs_sb_puts(sb, first ? "\n" : ",\n");
			first = false;
			put_indent(sb, level + 1);
			put_json_string(sb, key, strlen(key));
			ckfs_sb_puts(sb, ": ");
			put_json(sb, val, level + 1);
		}
		ckfs_sb_puts(sb, "\n");
		put_indent(sb, level);
		ckfs_sb_puts(sb, "}");
		break;
	case json_type_double:
		ckfs_sb_printf(sb, "%.17g", json_object_get_double(o));
		break;
	}
}

/* ---- protobuf-c message -> json-c, as crit's pb2dict(pretty=True) ---- */

static int msg_json(const ProtobufCMessage *m, bool hex, int depth,
		    struct json_object **out);

/* Elements of a field: the count, and where the first one is stored. */
static size_t field_elems(const ProtobufCMessage *m,
			  const ProtobufCFieldDescriptor *f, const void **elem)
{
	const char *base = (const char *)m;
	const void *slot = base + f->offset;

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		*elem = *(const void *const *)slot;
		return *(const size_t *)(base + f->quantifier_offset);
	}
	*elem = slot;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + f->quantifier_offset) ==
		       f->id;
	/* no field of ours has a default, so NULL means absent */
	if (f->type == PROTOBUF_C_TYPE_MESSAGE ||
	    f->type == PROTOBUF_C_TYPE_STRING)
		return *(const void *const *)slot != NULL;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
		return *(const protobuf_c_boolean *)(base +
						     f->quantifier_offset) != 0;
	return 1;
}

static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	}
	return 0;
}

/*
 * One value of field @f stored at @p.  Returns 1 with *@out, 0 when crit
 * would not show it (an enum value its .proto does not know: Python's
 * proto2 keeps those as unknown fields), or -ENOMEM, -ENOTSUP (floating
 * point: crit cannot print it either), -EOVERFLOW (nesting).
 */
static int value_json(const ProtobufCFieldDescriptor *f, const void *p,
		      bool hex, const struct render_rule *rule, int depth,
		      struct json_object **out)
{
	struct num v = { 0 };

	*out = NULL;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		v.s = *(const int32_t *)p;
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		v.s = *(const int64_t *)p;
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		v.u = *(const uint32_t *)p;
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		v.u = *(const uint64_t *)p;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*out = json_object_new_boolean(*(const protobuf_c_boolean *)p);
		return *out ? 1 : -ENOMEM;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value(f->descriptor,
							     *(const int *)p);

		if (!ev)
			return 0;
		*out = json_object_new_string(ev->name);
		return *out ? 1 : -ENOMEM;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *)p;

		*out = json_object_new_string(s ? s : "");
		return *out ? 1 : -ENOMEM;
	}
	case PROTOBUF_C_TYPE_BYTES:
		*out = bytes_json(p, rule && rule->r == R_UNIX);
		return *out ? 1 : -ENOMEM;
	case PROTOBUF_C_TYPE_MESSAGE: {
		int r = msg_json(*(const ProtobufCMessage *const *)p, hex,
				 depth + 1, out);

		return r < 0 ? r : 1;
	}
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
	default:
		return -ENOTSUP;
	}
	if (f->type == PROTOBUF_C_TYPE_INT32 ||
	    f->type == PROTOBUF_C_TYPE_SINT32 ||
	    f->type == PROTOBUF_C_TYPE_SFIXED32 ||
	    f->type == PROTOBUF_C_TYPE_INT64 ||
	    f->type == PROTOBUF_C_TYPE_SINT64 ||
	    f->type == PROTOBUF_C_TYPE_SFIXED64) {
		v.neg = v.s < 0;
		v.u = (uint64_t)v.s;
	}
	*out = int_json(&v, hex, rule);
	return *out ? 1 : -ENOMEM;
}

static int field_json(const ProtobufCMessage *m,
		      const ProtobufCFieldDescriptor *f, bool hex, int depth,
		      struct json_object *obj)
{
	const struct render_rule *rule = find_rule(m->descriptor, f);
	const void *elem;
	size_t n = field_elems(m, f, &elem), i, sz = elem_size(f->type);
	struct json_object *v = NULL;
	int r;

	if (n == 0)
		return 0;
	hex = hex || (rule && rule->r == R_HEX);
	if (f->label != PROTOBUF_C_LABEL_REPEATED) {
		r = value_json(f, elem, hex, rule, depth, &v);
		if (r <= 0)
			return r;
		return json_object_object_add(obj, f->name, v) < 0 ? -ENOMEM
								   : 0;
	}
	if (rule && rule->r == R_IPADD && f->type == PROTOBUF_C_TYPE_UINT32) {
		v = ipadd_json(elem, n);
		if (v)
			return json_object_object_add(obj, f->name, v) < 0
				       ? -ENOMEM
				       : 0;
	}
	v = json_object_new_array_ext((int)(n < INT32_MAX ? n : INT32_MAX));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct json_object *e;

		r = value_json(f, (const char *)elem + i * sz, hex, rule, depth,
			       &e);
		if (r < 0) {
			json_object_put(v);
			return r;
		}
		if (r > 0 && json_object_array_add(v, e) < 0) {
			json_object_put(e);
			json_object_put(v);
			return -ENOMEM;
		}
	}
	return json_object_object_add(obj, f->name, v) < 0 ? -ENOMEM : 0;
}

/* Set fields in field-number order (protobuf-c keeps them sorted). */
static int msg_json(const ProtobufCMessage *m, bool hex, int depth,
		    struct json_object **out)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	struct json_object *obj;
	unsigned i;
	int r;

	*out = NULL;
	if (depth > JSON_DEPTH_MAX)
		return -EOVERFLOW;
	obj = json_object_new_object();
	if (!obj)
		return -ENOMEM;
	for (i = 0; i < d->n_fields; i++) {
		r = field_json(m, &d->fields[i], hex, depth, obj);
		if (r < 0) {
			json_object_put(obj);
			return r;
		}
	}
	*out = obj;
	return 0;
}

/* ---- the image: magic, records, payloads ---- */

struct reader {
	const char *name; /* for messages */
	const uint8_t *p;
	size_t len, pos;
	size_t rec; /* records read */
	struct ckfs_err *err;
};

static void pb_freep(ProtobufCMessage **m)
{
	if (*m)
		protobuf_c_message_free_unpacked(*m, NULL);
}

/*
 * The next record, unpacked as @desc.  Returns 1 with a message owned by
 * the caller, 0 at the end of the image, or -errno (crit fails on the
 * same inputs: a partial size, a message that does not decode).  A record
 * claiming more bytes than remain is decoded from what remains, as crit's
 * short read() does.
 */
static int next_msg(struct reader *rd, const ProtobufCMessageDescriptor *desc,
		    ProtobufCMessage **out)
{
	uint32_t size;

	*out = NULL;
	if (rd->pos == rd->len)
		return 0;
	if (rd->len - rd->pos < 4)
		return ckfs_err_set(rd->err, -EBADMSG,
				    "%s: truncated record header at byte %zu",
				    rd->name, rd->pos);
	memcpy(&size, rd->p + rd->pos, 4); /* host order, as CRIU writes */
	rd->pos += 4;
	if (size > rd->len - rd->pos)
		size = (uint32_t)(rd->len - rd->pos); /* < CKFS_IMG_SIZE_MAX */
	if (size > CKFS_IMG_RECORD_MAX)
		return ckfs_err_set(
			rd->err, -EOVERFLOW,
			"%s: record %zu holds %" PRIu32 " bytes (limit %u)",
			rd->name, rd->rec, size, CKFS_IMG_RECORD_MAX);
	*out = protobuf_c_message_unpack(desc, NULL, size, rd->p + rd->pos);
	if (!*out)
		return ckfs_err_set(rd->err, -EBADMSG,
				    "%s: record %zu is not a valid %s",
				    rd->name, rd->rec, desc->name);
	rd->pos += size;
	rd->rec++;
	return 1;
}

/* Up to @n payload bytes (fewer at the end, as Python's read() gives). */
static struct json_object *payload_json(struct reader *rd, uint64_t n)
{
	ProtobufCBinaryData b;

	if (n > rd->len - rd->pos)
		n = rd->len - rd->pos;
	b.data = (uint8_t *)(uintptr_t)(rd->p + rd->pos);
	b.len = (size_t)n;
	rd->pos += (size_t)n;
	return bytes_json(&b, false);
}

/* Add @v (consumed; NULL means it could not be made) as @key: 0 or -ENOMEM. */
static int add_key(struct json_object *obj, const char *key,
		   struct json_object *v)
{
	if (!v || json_object_object_add(obj, key, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static int add_entry(struct reader *rd, struct json_object *entries,
		     const ProtobufCMessage *m, struct json_object **entry)
{
	struct json_object *o;
	int r = msg_json(m, false, 0, &o);

	if (r < 0)
		return ckfs_err_set(
			rd->err, r, "%s: record %zu: %s", rd->name, rd->rec - 1,
			r == -ENOTSUP
				? "a floating-point field crit cannot print"
			: r == -EOVERFLOW ? "nested too deeply"
					  : "out of memory");
	if (json_object_array_add(entries, o) < 0) {
		json_object_put(o);
		return ckfs_err_set(rd->err, -ENOMEM, "out of memory");
	}
	if (entry)
		*entry = o;
	return 0;
}

static int add_extra(struct reader *rd, struct json_object *entry,
		     struct json_object *extra)
{
	if (add_key(entry, "extra", extra) < 0)
		return ckfs_err_set(rd->err, -ENOMEM, "out of memory");
	return 0;
}

/* Records of one message, each maybe followed by a payload. */
static int read_records(struct reader *rd, const struct magic_ent *me,
			struct json_object *entries)
{
	for (;;) {
		_cleanup_(pb_freep) ProtobufCMessage *m = NULL;
		struct json_object *entry, *extra = NULL;
		int r = next_msg(rd, me->desc, &m);

		if (r <= 0)
			return r;
		r = add_entry(rd, entries, m, &entry);
		if (r < 0)
			return r;
		switch (me->layout) {
		case L_PIPE_DATA:
			extra = payload_json(rd, ((PipeDataEntry *)m)->bytes);
			break;
		case L_SK_QUEUE:
			extra = payload_json(rd, ((SkPacketEntry *)m)->length);
			break;
		case L_TCP_STREAM: {
			const TcpStreamEntry *t = (const TcpStreamEntry *)m;

			extra = json_object_new_object();
			if (extra && (add_key(extra, "inq",
					      payload_json(rd, t->inq_len)) ||
				      add_key(extra, "outq",
					      payload_json(rd, t->outq_len)))) {
				json_object_put(extra);
				extra = NULL;
			}
			break;
		}
		default:
			continue;
		}
		r = add_extra(rd, entry, extra);
		if (r < 0)
			return r;
	}
}

static int read_pagemap(struct reader *rd, struct json_object *entries)
{
	const ProtobufCMessageDescriptor *desc = &pagemap_head__descriptor;

	for (;;) {
		_cleanup_(pb_freep) ProtobufCMessage *m = NULL;
		int r = next_msg(rd, desc, &m);

		if (r <= 0)
			return r;
		r = add_entry(rd, entries, m, NULL);
		if (r < 0)
			return r;
		desc = &pagemap_entry__descriptor;
	}
}

/*
 * A ghost file: its entry, then either chunk records each followed by its
 * bytes, or (no chunks) the whole file's bytes as the entry's "extra".
 */
static int read_ghost(struct reader *rd, struct json_object *entries)
{
	_cleanup_(pb_freep) ProtobufCMessage *gf = NULL;
	struct json_object *entry;
	int r = next_msg(rd, &ghost_file_entry__descriptor, &gf);

	if (r == 0)
		return ckfs_err_set(rd->err, -EBADMSG,
				    "%s: no ghost_file_entry", rd->name);
	if (r < 0)
		return r;
	r = add_entry(rd, entries, gf, &entry);
	if (r < 0)
		return r;
	if (!((GhostFileEntry *)gf)->chunks)
		return add_extra(rd, entry,
				 payload_json(rd, rd->len - rd->pos));
	for (;;) {
		_cleanup_(pb_freep) ProtobufCMessage *gc = NULL;

		r = next_msg(rd, &ghost_chunk_entry__descriptor, &gc);
		if (r <= 0)
			return r;
		r = add_entry(rd, entries, gc, &entry);
		if (r < 0)
			return r;
		r = add_extra(rd, entry,
			      payload_json(rd, ((GhostChunkEntry *)gc)->len));
		if (r < 0)
			return r;
	}
}

/* The image's magic: the one after IMG_COMMON/IMG_SERVICE, if any. */
static int read_magic(const uint8_t *p, size_t len, uint32_t *magic,
		      size_t *hdr)
{
	uint32_t a;

	if (len < 4)
		return -EBADMSG;
	memcpy(&a, p, 4);
	*hdr = 4;
	if (a == CKFS_MAGIC_COMMON || a == CKFS_MAGIC_SERVICE) {
		if (len < 8)
			return -EBADMSG;
		memcpy(&a, p + 4, 4);
		*hdr = 8;
	}
	*magic = a;
	return 0;
}

static bool is_pages(const char *name)
{
	const char *base = strrchr(name, '/');

	base = base ? base + 1 : name;
	return strncmp(base, "pages-", 6) == 0;
}

static const struct magic_ent *usable(const struct magic_ent *me)
{
	return me && me->layout != L_NONE ? me : NULL;
}

int ckfs_json_probe(struct ckfs_archive *ar, const struct ckfs_member *m,
		    const char **magic)
{
	uint8_t head[8];
	const struct magic_ent *me;
	uint32_t mg;
	size_t hdr;
	ssize_t n;

	*magic = NULL;
	if (m->type != CKFS_MEMBER_REG || is_pages(m->name))
		return 0;
	n = ckfs_archive_pread(ar, m, head, sizeof(head), 0);
	if (n < 0)
		return -EIO;
	if (read_magic(head, (size_t)n, &mg, &hdr) < 0)
		return 0;
	me = find_magic(mg);
	if (!me)
		return 0;
	*magic = me->name;
	return usable(me) ? 1 : 0;
}

int ckfs_json_render(struct ckfs_archive *ar, const struct ckfs_member *m,
		     struct ckfs_sb *out, struct ckfs_err *err)
{
	_cleanup_free_ char *buf = NULL;
	struct json_object *top, *entries;
	const struct magic_ent *me;
	struct reader rd = { .name = m->name, .err = err };
	uint32_t mg;
	size_t len, hdr;
	int r;

	if (m->type != CKFS_MEMBER_REG || is_pages(m->name))
		return ckfs_err_set(err, -ENOTSUP, "%s: not a CRIU image",
				    m->name);
	r = ckfs_archive_read_all(ar, m, CKFS_IMG_SIZE_MAX, &buf, &len);
	if (r == -EOVERFLOW)
		return ckfs_err_set(err, r, "%s: over the %u-byte limit",
				    m->name, CKFS_IMG_SIZE_MAX);
	if (r < 0)
		return ckfs_err_set(err, r, "%s: cannot read: %s", m->name,
				    strerror(-r));
	if (read_magic((const uint8_t *)buf, len, &mg, &hdr) < 0)
		return ckfs_err_set(err, -ENOTSUP, "%s: too short for a magic",
				    m->name);
	me = usable(find_magic(mg));
	if (!me)
		return ckfs_err_set(err, -ENOTSUP,
				    "%s: magic 0x%08" PRIx32
				    " is not decoded here",
				    m->name, mg);
	rd.p = (const uint8_t *)buf;
	rd.len = len;
	rd.pos = hdr;

	top = json_object_new_object();
	if (!top || add_key(top, "magic", json_object_new_string(me->name)) ||
	    add_key(top, "entries", json_object_new_array())) {
		json_object_put(top);
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	}
	entries = json_object_object_get(top, "entries");
	if (me->layout == L_PAGEMAP)
		r = read_pagemap(&rd, entries);
	else if (me->layout == L_GHOST)
		r = read_ghost(&rd, entries);
	else
		r = read_records(&rd, me, entries);
	if (r >= 0) {
		put_json(out, top, 0);
		ckfs_sb_add(out, "\n", 1);
		r = out->oom ? ckfs_err_set(err, -ENOMEM, "out of memory") : 0;
	}
	json_object_put(top);
	return r;
}
