/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * checkpointfs: mount a CRIU container checkpoint as a /proc-like tree.
 *
 * The command line, and the one place that prints to the user or exits.
 * The archive is opened and indexed before anything is mounted, so a
 * broken archive fails here with one line and no mount.
 */
#include <errno.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "fuse/ops.h"
#include "model/model.h"
#include "vfs/tree.h"

struct conf {
	char *archive;
	int help;
	int version;
};

enum { KEY_HELP, KEY_VERSION };

static const struct fuse_opt ckfs_opts[] = {
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
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

static void usage(FILE *f)
{
	fprintf(f,
		"usage: checkpointfs [options] ARCHIVE|DIR MOUNTPOINT\n"
		"\n"
		"Mount a CRIU container checkpoint read-only as a /proc-like tree.\n"
		"ARCHIVE is an uncompressed tar (a kubelet/CRI-O/containerd checkpoint,\n"
		"a Podman export made with --compress=none, or a tar of a criu dump\n"
		"directory); DIR is a criu images directory or an extracted checkpoint.\n"
		"\n"
		"options:\n"
		"    -h, --help            print this help and exit\n"
		"    -V, --version         print the version and exit\n"
		"    -f                    stay in the foreground\n"
		"    -d                    debug: foreground, log every FUSE request\n"
		"    -s                    serve requests on one thread\n"
		"    -o OPT[,OPT...]       mount options, e.g. allow_other\n"
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
	struct ckfs_ckpt *ck = NULL;
	struct ckfs_err err = { 0 };
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
			!conf.archive ? "missing ARCHIVE and MOUNTPOINT" :
					"missing MOUNTPOINT");
		usage(stderr);
		goto out;
	}
	apath = realpath(conf.archive, NULL);
	if (!apath) {
		fprintf(stderr, "checkpointfs: %s: %s\n", conf.archive,
			strerror(errno));
		goto out;
	}

	r = ckfs_ckpt_open(apath, &ck, &err);
	if (r < 0) {
		fprintf(stderr, "checkpointfs: %s\n", err.msg);
		goto out;
	}
	r = ckfs_tree_new(ck, NULL, &tree);
	if (r < 0) {
		fprintf(stderr, "checkpointfs: %s\n", strerror(-r));
		goto out;
	}

	/* read-only, and file modes enforced if allow_other is given */
	snprintf(fsname, sizeof(fsname), "-ofsname=checkpointfs:%s", apath);
	for (char *p = fsname; *p; p++)
		if (*p == ',')
			*p = '_';
	if (fuse_opt_add_arg(&args, "-oro,default_permissions,subtype=checkpointfs") < 0 ||
	    fuse_opt_add_arg(&args, fsname) < 0) {
		fprintf(stderr, "checkpointfs: out of memory\n");
		goto out;
	}
	se = fuse_session_new(&args, &ckfs_fuse_ops, sizeof(ckfs_fuse_ops),
			      tree);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	if (fuse_session_mount(se, opts.mountpoint) != 0)
		goto out_signals;
	if (fuse_daemonize(opts.foreground) != 0)
		goto out_unmount;
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
	ret = r == 0 ? 0 : 1;
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out:
	if (se)
		fuse_session_destroy(se);
	fuse_loop_cfg_destroy(loop);
	ckfs_tree_free(tree);
	ckfs_ckpt_free(ck);
	free(opts.mountpoint);
	free(conf.archive);
	free(apath);
	fuse_opt_free_args(&args);
	return ret;
}
