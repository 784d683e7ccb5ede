/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Decoders for the CRIU images a /proc view needs.  Each one loads an image
 * from the archive, unpacks its protobuf records and copies what matters
 * into the plain structs below; protobuf-c types never leave image/.
 * Every struct here is owned by the caller and freed with its _free().
 * Absent optional fields read as 0 unless a has_ flag says otherwise.
 */
#ifndef CKFS_IMAGE_CRIU_H
#define CKFS_IMAGE_CRIU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "base/err.h"

/* CRIU's fd_types */
enum ckfs_fd_type {
	CKFS_FD_UND = 0,
	CKFS_FD_REG = 1,
	CKFS_FD_PIPE = 2,
	CKFS_FD_FIFO = 3,
	CKFS_FD_INETSK = 4,
	CKFS_FD_UNIXSK = 5,
	CKFS_FD_EVENTFD = 6,
	CKFS_FD_EVENTPOLL = 7,
	CKFS_FD_INOTIFY = 8,
	CKFS_FD_SIGNALFD = 9,
	CKFS_FD_PACKETSK = 10,
	CKFS_FD_TTY = 11,
	CKFS_FD_FANOTIFY = 12,
	CKFS_FD_NETLINKSK = 13,
	CKFS_FD_NS = 14,
	CKFS_FD_TUNF = 15,
	CKFS_FD_EXT = 16,
	CKFS_FD_TIMERFD = 17,
	CKFS_FD_MEMFD = 18,
	CKFS_FD_BPFMAP = 19,
	CKFS_FD_PIDFD = 20,
};
const char *ckfs_fd_type_name(uint32_t type);

/* VMA status bits (CRIU's VMA_AREA_* / VMA_*) */
#define CKFS_VMA_REGULAR (1u << 0)
#define CKFS_VMA_STACK (1u << 1)
#define CKFS_VMA_VSYSCALL (1u << 2)
#define CKFS_VMA_VDSO (1u << 3)
#define CKFS_VMA_HEAP (1u << 5)
#define CKFS_VMA_FILE_PRIVATE (1u << 6)
#define CKFS_VMA_FILE_SHARED (1u << 7)
#define CKFS_VMA_ANON_SHARED (1u << 8)
#define CKFS_VMA_ANON_PRIVATE (1u << 9)
#define CKFS_VMA_SYSVIPC (1u << 10)
#define CKFS_VMA_SOCKET (1u << 11)
#define CKFS_VMA_VVAR (1u << 12)
#define CKFS_VMA_AIORING (1u << 13)
#define CKFS_VMA_MEMFD (1u << 14)
#define CKFS_VMA_SHSTK (1u << 15)
#define CKFS_VMA_GUARD (1u << 16)
#define CKFS_VMA_UPROBES (1u << 17)
#define CKFS_VMA_EXT_PLUGIN (1u << 27)
#define CKFS_VMA_UNSUPP (1u << 31)

/* pagemap flags */
#define CKFS_PE_PARENT (1u << 0)
#define CKFS_PE_LAZY (1u << 1)
#define CKFS_PE_PRESENT (1u << 2)

/* task_state (compel's numbers) */
#define CKFS_TASK_ALIVE 1
#define CKFS_TASK_DEAD 2
#define CKFS_TASK_STOPPED 3

struct ckfs_inventory {
	uint32_t img_version;
	uint32_t lsmtype;
	bool has_root_cg_set;
	uint32_t root_cg_set;
	char *criu_run_id;
	uint32_t root_ns[8]; /* pid net ipc uts mnt user cgroup time */
	/* the rest of inventory_entry; bit n of @has: field n was written */
	uint32_t has;
	bool fdinfo_per_id, ns_per_id, tcp_close, allow_uprobes;
	uint32_t pre_dump_mode, network_lock_method;
	uint64_t dump_uptime;
	size_t nplugins;
	char **plugins; /* plugins_entry.plugins, in image order */
};
int ckfs_img_read_inventory(struct ckfs_archive *ar, const char *name,
			    struct ckfs_inventory *out, struct ckfs_err *err);
void ckfs_inventory_fini(struct ckfs_inventory *inv);

struct ckfs_pstree_ent {
	uint32_t pid, ppid, pgid, sid;
	size_t ntids;
	uint32_t *tids;
};
int ckfs_img_read_pstree(struct ckfs_archive *ar, const char *name,
			 struct ckfs_pstree_ent **out, size_t *n,
			 struct ckfs_err *err);
void ckfs_pstree_free(struct ckfs_pstree_ent *ents, size_t n);

struct ckfs_creds {
	uint32_t uid, gid, euid, egid, suid, sgid, fsuid, fsgid;
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	uint32_t secbits;
	size_t ngroups;
	uint32_t *groups;
	uint32_t no_new_privs;
	char *lsm_profile;
};

#define CKFS_RLIMITS_MAX 16
#define CKFS_XMM_WORDS 64
#define CKFS_ST_WORDS 32

/* x86_64 registers in user_regs_struct order (criu fields 1..27) */
struct ckfs_fpregs {
	uint16_t cwd, swd, twd, fop;
	uint64_t rip, rdp;
	uint32_t mxcsr, mxcsr_mask;
	uint32_t st_space[CKFS_ST_WORDS];
	uint32_t xmm_space[CKFS_XMM_WORDS];
	bool has_xsave;
	uint64_t xstate_bv;
	bool has_ymmh;
	uint32_t ymmh_space[64];
};

struct ckfs_core {
	uint32_t mtype; /* 1 = x86_64 */
	bool is_leader; /* has task_core_entry */
	/* task_core_entry (leader only) */
	uint32_t task_state, exit_code, personality, flags;
	uint64_t tc_blk_sigset;
	char *tc_comm;
	uint64_t sig_ign, sig_cgt; /* from sigactions */
	uint64_t shd_pnd;
	size_t nrlimits;
	uint64_t rlim_cur[CKFS_RLIMITS_MAX], rlim_max[CKFS_RLIMITS_MAX];
	bool has_oom_score_adj;
	int32_t oom_score_adj;
	bool has_loginuid;
	uint32_t loginuid;
	bool child_subreaper;
	/* thread_core_entry */
	bool has_thread_core;
	bool has_blk_sigset;
	uint64_t blk_sigset;
	char *comm;
	int32_t sched_nice;
	uint32_t sched_policy, sched_prio;
	uint64_t sig_pnd;
	bool has_creds;
	struct ckfs_creds creds;
	uint32_t seccomp_mode;
	bool has_seccomp_filter;
	uint32_t seccomp_filter;
	bool has_cg_set;   /* thread_core.cg_set, else the old tc.cg_set */
	uint32_t cg_set;
	uint32_t nsig_shd, nsig_prv; /* siginfos queued: signals_s, signals_p */
	/* thread_info (x86) */
	bool has_regs;
	uint64_t regs[27];
	uint32_t regs_mode; /* 1 native, 2 compat */
	uint64_t clear_tid_addr;
	bool has_fpregs;
	struct ckfs_fpregs fp;
};
int ckfs_img_read_core(struct ckfs_archive *ar, const char *name,
		       struct ckfs_core *out, struct ckfs_err *err);
void ckfs_core_fini(struct ckfs_core *c);

struct ckfs_ids {
	uint32_t vm_id, files_id, fs_id, sighand_id;
	uint32_t ns[8]; /* pid net ipc uts mnt user cgroup time; 0 = absent */
};
int ckfs_img_read_ids(struct ckfs_archive *ar, const char *name,
		      struct ckfs_ids *out, struct ckfs_err *err);

struct ckfs_vma {
	uint64_t start, end, pgoff, shmid, madv;
	uint32_t prot, flags, status, fdflags;
};

struct ckfs_mm {
	uint64_t start_code, end_code, start_data, end_data, start_stack;
	uint64_t start_brk, brk, arg_start, arg_end, env_start, env_end;
	bool has_exe_file_id;
	uint32_t exe_file_id;
	size_t nauxv;
	uint64_t *auxv;
	size_t nvmas;
	struct ckfs_vma *vmas; /* as stored, GUARD entries removed */
	int32_t dumpable;
	bool thp_disabled;
};
int ckfs_img_read_mm(struct ckfs_archive *ar, const char *name,
		     struct ckfs_mm *out, struct ckfs_err *err);
void ckfs_mm_fini(struct ckfs_mm *mm);

struct ckfs_pm_run {
	uint64_t vaddr;	   /* first byte (an object offset for shmem) */
	uint64_t npages;
	uint32_t flags;	   /* CKFS_PE_* */
	uint64_t pages_off; /* offset in pages-<id>.img, if PRESENT */
};

struct ckfs_pagemap {
	uint32_t pages_id;
	uint64_t pages_bytes; /* bytes the PRESENT runs need */
	size_t n;
	struct ckfs_pm_run *runs; /* sorted by vaddr, non-overlapping */
};
/*
 * ckfs_img_read_pagemap() - decode a pagemap and compute the offset of
 * every PRESENT run in its pages image (file order, CRIU <= 4.1 field 2
 * and >= 4.2 field 5 page counts).  Refuses counts whose byte arithmetic
 * overflows, runs that wrap the address space and overlapping runs.
 */
int ckfs_img_read_pagemap(struct ckfs_archive *ar, const char *name,
			  uint64_t page_size, struct ckfs_pagemap *out,
			  struct ckfs_err *err);
void ckfs_pagemap_fini(struct ckfs_pagemap *pm);

struct ckfs_fdinfo {
	uint32_t id, flags, type, fd;
};
int ckfs_img_read_fdinfo(struct ckfs_archive *ar, const char *name,
			 struct ckfs_fdinfo **out, size_t *n,
			 struct ckfs_err *err);

/* One file description from files.img, flattened over its kinds. */
struct ckfs_file {
	uint32_t id, type;
	uint32_t flags;	 /* file status flags (no O_CLOEXEC) */
	uint64_t pos;
	bool has_mnt_id;
	int32_t mnt_id;
	char *name;	 /* REG path; MEMFD name; unix socket name (raw) */
	size_t name_len; /* unix names may hold NULs */
	uint64_t size;
	uint32_t mode;
	uint64_t ino;	 /* pipe_id, socket ino, pidfd ino */
	uint32_t regf_id; /* FIFO/TTY: the REG entry holding the path */
	uint32_t inode_id; /* MEMFD: memfd.img inode */
	uint32_t ns_cflag; /* NS */
	uint64_t counter; /* EVENTFD */
	uint64_t sigmask; /* SIGNALFD */
	/* sockets */
	uint32_t sk_family, sk_type, sk_proto, sk_state;
	uint32_t src_port, dst_port;
	uint32_t src_addr[4], dst_addr[4];
	uint32_t peer;
	uint32_t so_sndbuf, so_rcvbuf; /* sockets: SO_SNDBUF/SO_RCVBUF */
	uint32_t nl_portid, nl_groups; /* NETLINKSK: portid, first group word */
	uint32_t pk_ifindex;	       /* PACKETSK */
};
struct ckfs_files {
	size_t n;
	struct ckfs_file *f; /* sorted by id */
};
int ckfs_img_read_files(struct ckfs_archive *ar, const char *name,
			struct ckfs_files *out, struct ckfs_err *err);
void ckfs_files_fini(struct ckfs_files *fl);
const struct ckfs_file *ckfs_files_find(const struct ckfs_files *fl,
					uint32_t id);

struct ckfs_fs {
	uint32_t cwd_id, root_id, umask;
	bool has_umask;
};
int ckfs_img_read_fs(struct ckfs_archive *ar, const char *name,
		     struct ckfs_fs *out, struct ckfs_err *err);

struct ckfs_remap {
	uint32_t orig_id, remap_id, remap_type;
};
/* remap-fpath.img is optional: a missing image gives n = 0. */
int ckfs_img_read_remaps(struct ckfs_archive *ar, const char *name,
			 struct ckfs_remap **out, size_t *n,
			 struct ckfs_err *err);

struct ckfs_memfd_inode {
	uint32_t inode_id, shmid;
	uint64_t size;
	char *name;
};
int ckfs_img_read_memfds(struct ckfs_archive *ar, const char *name,
			 struct ckfs_memfd_inode **out, size_t *n,
			 struct ckfs_err *err);
void ckfs_memfds_free(struct ckfs_memfd_inode *m, size_t n);

struct ckfs_stats {
	bool present;
	uint32_t freezing_time, frozen_time, memdump_time, memwrite_time;
	uint64_t pages_scanned, pages_skipped_parent, pages_written,
		pages_lazy;
	/* every other dump_stats_entry counter; bit n of @has: field n */
	uint32_t irmap_resolve;
	uint64_t page_pipes, page_pipe_bufs;
	uint64_t shpages_scanned, shpages_skipped_parent, shpages_written;
	uint32_t has;
};
int ckfs_img_read_stats(struct ckfs_archive *ar, const char *name,
			struct ckfs_stats *out, struct ckfs_err *err);

#endif /* CKFS_IMAGE_CRIU_H */
