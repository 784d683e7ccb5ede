/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * checkpointfs: mount a CRIU container checkpoint as a /proc-like tree.
 *
 * The command line, and the one place that prints to the user or exits.
 * The archive is opened and indexed before anything is mounted, so a
 * broken archive fails here with one line and no mount.  A directory of
 * archives is the exception: its archives are opened by the daemon, each
 * on first access (vfs/multi.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/strbuf.h"
#include "fuse/idle.h"
#include "fuse/ops.h"
#include "model/model.h"
#include "vfs/multi.h"
#include "vfs/tree.h"

struct conf {
	char *archive;
	char *cache_dir;    /* -o cache_dir=DIR */
	char *cache_max;    /* -o cache_max=SIZE */
	char *rootfs;	    /* -o rootfs=DIR */
	char *idle_timeout; /* -o idle_timeout=SECONDS */
	int strict_mem;	    /* -o strict_mem */
	int help;
	int version;
};

enum { KEY_HELP, KEY_VERSION };

static const struct fuse_opt ckfs_opts[] = {
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	{ "cache_dir=%s", offsetof(struct conf, cache_dir), 0 },
	{ "cache_max=%s", offsetof(struct conf, cache_max), 0 },
	{ "rootfs=%s", offsetof(struct conf, rootfs), 0 },
	{ "idle_timeout=%s", offsetof(struct conf, idle_timeout), 0 },
	{ "strict_mem", offsetof(struct conf, strict_mem), 1 },
	FUSE_OPT_END,
};

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct conf *c = data;

	switch (key) {
	case KEY_HELP:
		c->help = 1;
		return 0;
	case KEY_VERSION:
		c->version = 1;
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		if (!c->archive) {
			c->archive = strdup(arg);
			return 0;
		}
		return 1; /* the mountpoint: for fuse_parse_cmdline */
	default:
		return 1;
	}
}

/* "512M", "2G", "1048576": K, M, G, T are powers of 1024; 0 on error. */
static uint64_t parse_size(const char *s)
{
	static const char units[] = "KMGT";
	unsigned long long v;
	const char *u;
	char *end;
	int shift = 0;

	if (!s || *s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return 0;
	if (*end && (u = strchr(units, *end & ~0x20))) {
		shift = 10 * (int)(u - units + 1);
		end++;
		if (*end == 'i')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return 0;
	return (uint64_t)v << shift;
}

/* "60": whole seconds, at most a year; -1 on error. */
static long parse_seconds(const char *s)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 365UL * 24 * 3600)
		return -1;
	return (long)v;
}

static int mounted_flag; /* atomic: the mount exists */

/*
 * Progress of a background decode, on a terminal in the foreground only:
 * one line rewritten in place, then a summary (or nothing, if the decode
 * was too short to report at all).  @arg is the archive's path: a decode
 * of something else in it (an OCI layer) is named.
 */
static void show_progress(void *arg, const struct ckfs_archive_progress *p)
{
	double secs = (double)p->elapsed_ns / 1e9;
	char out[32], in[32], rate[32], what[64];

	ckfs_human_size(out, sizeof(out), p->out_done);
	ckfs_human_size(in, sizeof(in), p->in_total);
	ckfs_human_size(rate, sizeof(rate),
			secs > 0 ? (uint64_t)(p->out_done / secs) : 0);
	snprintf(what, sizeof(what), "%s%s%s",
		 p->path && strcmp(p->path, arg) != 0 ? p->path : "",
		 p->path && strcmp(p->path, arg) != 0 ? ", " : "",
		 p->compression);
	if (p->finished) {
		if (p->error == 0)
			fprintf(stderr,
				"\rcheckpointfs: %s: %s decompressed in %.1f s (%s/s)\033[K\n",
				what, out, secs, rate);
		else if (__atomic_load_n(&mounted_flag, __ATOMIC_ACQUIRE) &&
			 p->message)
			fprintf(stderr, "\rcheckpointfs: %s\033[K\n",
				p->message);
		else
			fprintf(stderr, "\r\033[K"); /* main() says why */
		return;
	}
	if (p->in_done && p->in_total >= p->in_done)
		fprintf(stderr,
			"\rcheckpointfs: %s: %.0f%% of %s read, %s decompressed, %s/s, ETA %.0f s\033[K",
			what,
			100.0 * (double)p->in_done / (double)p->in_total, in,
			out, rate,
			secs * (double)(p->in_total - p->in_done) /
				(double)p->in_done);
	else
		fprintf(stderr,
			"\rcheckpointfs: %s: %s decompressed, %s/s\033[K",
			what, out, rate);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: checkpointfs [options] ARCHIVE|DIR MOUNTPOINT\n"
		"\n"
		"Mount a CRIU container checkpoint read-only as a /proc-like tree.\n"
		"ARCHIVE is a tar (a kubelet/CRI-O/containerd checkpoint, a Podman export,\n"
		"or a tar of a criu dump directory), plain or compressed with zstd, gzip,\n"
		"xz or bzip2, or an OCI image layout tar holding a checkpoint image (ctr\n"
		"checkpoint + ctr images export, podman save --format oci-archive).\n"
		"DIR is a criu images directory or an extracted checkpoint, or a directory\n"
		"of checkpoint archives (no CRIU images of its own, e.g.\n"
		"/var/lib/kubelet/checkpoints): then each archive is a directory named by\n"
		"its file name, opened on first access; `checkpoints` and\n"
		"`checkpoints.json` list them as checkpointctl list does, and an archive\n"
		"that cannot be opened reads EIO, with its reason in `<name>.error`.\n"
		"An archive is closed again (its memory and file descriptor freed) once\n"
		"idle: nothing open below it and no access for idle_timeout.\n"
		"\n"
		"options:\n"
		"    -h, --help            print this help and exit\n"
		"    -V, --version         print the version and exit\n"
		"    -f                    stay in the foreground\n"
		"    -d                    debug: foreground, log every FUSE request\n"
		"    -s                    serve requests on one thread\n"
		"    -o OPT[,OPT...]       mount options, e.g. allow_other\n"
		"    -o cache_dir=DIR      decompress (a compressed archive, OCI layer\n"
		"                          or rootfs-diff.tar) into an unlinked file in\n"
		"                          DIR (default: memory, else $TMPDIR)\n"
		"    -o cache_max=SIZE     refuse to decompress more than SIZE bytes\n"
		"                          (K, M, G, T suffixes; default: half of the\n"
		"                          RAM in memory, the free space in cache_dir)\n"
		"    -o rootfs=DIR         read file-backed pages the checkpoint lacks\n"
		"                          from the container's root filesystem at DIR\n"
		"                          (never from the host's own files; not with\n"
		"                          a directory of archives)\n"
		"    -o strict_mem         proc/<pid>/mem as in /proc: size 0, reads\n"
		"                          outside a mapping fail with EIO, no holes\n"
		"    -o idle_timeout=SECS  with a directory of archives: close an archive\n"
		"                          idle that long, reopen it on the next access\n"
		"                          (default 60; 0: never close)\n"
		"\n"
		"Only the mounting user can read the tree (it holds process memory);\n"
		"-o allow_other opts in to sharing it, with file modes enforced.\n"
		"Unmount with: fusermount3 -u MOUNTPOINT\n");
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts = { 0 };
	struct fuse_loop_config *loop = NULL;
	struct fuse_session *se = NULL;
	struct ckfs_tree *tree = NULL;
	struct ckfs_multi *mnt = NULL;
	struct ckfs_idle *idle = NULL;
	struct ckfs_ckpt *ck = NULL;
	long idle_s = 60;
	bool ckpt_dir;
	struct ckfs_err err = { 0 };
	struct ckfs_tree_opts topts = { 0 };
	struct conf conf = { 0 };
	char fsname[PATH_MAX + 32];
	char *apath = NULL;
	int ret = 1, r;

	if (fuse_opt_parse(&args, &conf, ckfs_opts, opt_proc) < 0)
		return 1;
	if (conf.help) {
		usage(stdout);
		printf("\nFUSE options:\n");
		fuse_lowlevel_help();
		ret = 0;
		goto out;
	}
	if (conf.version) {
		printf("checkpointfs %s (libfuse %s)\n", CKFS_VERSION,
		       fuse_pkgversion());
		ret = 0;
		goto out;
	}
	if (fuse_parse_cmdline(&args, &opts) != 0)
		goto out;
	if (!conf.archive || !opts.mountpoint) {
		fprintf(stderr, "checkpointfs: %s\n",
			!conf.archive ? "missing ARCHIVE and MOUNTPOINT"
				      : "missing MOUNTPOINT");
		usage(stderr);
		goto out;
	}
	apath = realpath(conf.archive, NULL);
	if (!apath) {
		fprintf(stderr, "checkpointfs: %s: %s\n", conf.archive,
			strerror(errno));
		goto out;
	}

	if (conf.idle_timeout)
		idle_s = parse_seconds(conf.idle_timeout);
	if (idle_s < 0) {
		fprintf(stderr,
			"checkpointfs: idle_timeout=%s: not a number of seconds (0 to 31536000)\n",
			conf.idle_timeout);
		goto out;
	}
	ckpt_dir = ckfs_multi_is_ckpt_dir(apath);
	if (ckpt_dir && conf.rootfs) {
		fprintf(stderr,
			"checkpointfs: rootfs= needs one checkpoint, not a directory of archives\n");
		goto out;
	}
	{
		struct ckfs_archive_opts aopts = { .cache_dir =
							   conf.cache_dir };

		if (conf.cache_max &&
		    !(aopts.cache_max = parse_size(conf.cache_max))) {
			fprintf(stderr,
				"checkpointfs: cache_max=%s: not a size (e.g. 512M, 4G)\n",
				conf.cache_max);
			goto out;
		}
		/* a directory's archives open in the daemon: no progress */
		if (opts.foreground && isatty(STDERR_FILENO) && !ckpt_dir) {
			aopts.progress = show_progress;
			aopts.progress_arg = apath;
		}
		if (ckfs_archive_set_opts(&aopts) < 0) {
			fprintf(stderr, "checkpointfs: out of memory\n");
			goto out;
		}
	}
	topts.strict_mem = conf.strict_mem;
	if (ckpt_dir) {
		r = ckfs_multi_new_dir(apath, &topts, &mnt, &err);
		if (r < 0) {
			fprintf(stderr, "checkpointfs: %s\n", err.msg);
			goto out;
		}
		goto make_session;
	}
	r = ckfs_ckpt_open(apath, &ck, &err);
	if (r < 0) {
		fprintf(stderr, "checkpointfs: %s\n", err.msg);
		goto out;
	}
	if (conf.rootfs) {
		/* O_PATH: nothing below it is opened but with RESOLVE_IN_ROOT */
		int rfd = open(conf.rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (rfd < 0) {
			fprintf(stderr, "checkpointfs: rootfs=%s: %s\n",
				conf.rootfs, strerror(errno));
			goto out;
		}
		ckfs_ckpt_set_rootfs(ck, rfd);
	}
	r = ckfs_tree_new(ck, &topts, &tree);
	if (r == 0)
		r = ckfs_multi_new_single(tree, &mnt);
	if (r < 0) {
		fprintf(stderr, "checkpointfs: %s\n", strerror(-r));
		goto out;
	}

make_session:

	/* read-only, and file modes enforced if allow_other is given */
	snprintf(fsname, sizeof(fsname), "-ofsname=checkpointfs:%s", apath);
	for (char *p = fsname; *p; p++)
		if (*p == ',')
			*p = '_';
	if (fuse_opt_add_arg(&args,
			     "-oro,default_permissions,subtype=checkpointfs") <
		    0 ||
	    fuse_opt_add_arg(&args, fsname) < 0) {
		fprintf(stderr, "checkpointfs: out of memory\n");
		goto out;
	}
	se = fuse_session_new(&args, &ckfs_fuse_ops, sizeof(ckfs_fuse_ops),
			      mnt);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	/* a compressed archive whose decode already failed is not mounted */
	r = ck ? ckfs_archive_status(ckfs_ckpt_archive(ck), &err) : 0;
	if (r < 0) {
		fprintf(stderr, "checkpointfs: %s\n", err.msg);
		goto out_signals;
	}
	if (fuse_session_mount(se, opts.mountpoint) != 0)
		goto out_signals;
	__atomic_store_n(&mounted_flag, 1, __ATOMIC_RELEASE);
	/* the decoder thread would not survive the fork: its state does */
	if (ck)
		ckfs_archive_pause(ckfs_ckpt_archive(ck));
	r = fuse_daemonize(opts.foreground);
	if (ck)
		ckfs_archive_resume(ckfs_ckpt_archive(ck));
	if (r != 0)
		goto out_unmount;
	/* after the fork: a thread does not survive it */
	if (ckpt_dir && idle_s > 0) {
		r = ckfs_idle_start(se, mnt, opts.mountpoint, (unsigned)idle_s,
				    &idle);
		if (r < 0) {
			fprintf(stderr, "checkpointfs: idle thread: %s\n",
				strerror(-r));
			goto out_unmount;
		}
	}
	if (opts.singlethread) {
		r = fuse_session_loop(se);
	} else {
		loop = fuse_loop_cfg_create();
		if (!loop) {
			r = -ENOMEM;
		} else {
			fuse_loop_cfg_set_clone_fd(loop, opts.clone_fd);
			fuse_loop_cfg_set_max_threads(loop, 8);
			r = fuse_session_loop_mt(se, loop);
		}
	}
	/*
	 * libfuse >= 3.12 returns the number of the signal that ended the
	 * loop (SIGINT, SIGTERM, SIGHUP): a clean unmount, not a failure.
	 */
	ret = r < 0 ? 1 : 0;
	/* no notification after the loop; joined once nothing can block */
	ckfs_idle_stop(idle);
out_unmount:
	fuse_session_unmount(se);
	if (!ckfs_idle_join(idle)) {
		fprintf(stderr,
			"checkpointfs: the idle thread is stuck in a kernel notification; exiting without cleanup\n");
		_exit(ret);
	}
out_signals:
	fuse_remove_signal_handlers(se);
out:
	if (se)
		fuse_session_destroy(se);
	fuse_loop_cfg_destroy(loop);
	ckfs_multi_free(mnt);
	ckfs_tree_free(tree);
	ckfs_ckpt_free(ck);
	free(opts.mountpoint);
	free(conf.archive);
	free(conf.cache_dir);
	free(conf.cache_max);
	free(conf.rootfs);
	free(conf.idle_timeout);
	free(apath);
	fuse_opt_free_args(&args);
	return ret;
}
