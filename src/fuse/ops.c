/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuse/ops.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "vfs/tree.h"

/* The archive never changes: cache for a year. */
#define CKFS_TIMEOUT (365.0 * 24 * 3600)
/* libfuse 3.14 sends at most 1 MiB per READ (max_pages 256) */
#define CKFS_READ_MAX (1u << 20)

static struct ckfs_tree *tree_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct ckfs_node *node_of(fuse_req_t req, fuse_ino_t ino)
{
	return ckfs_tree_node(tree_of(req), ino);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	/* a read-only fs asks for splice writes itself (fuse-performance §5.2) */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
}

static int fill_entry(struct ckfs_tree *t, struct ckfs_node *n,
		      struct fuse_entry_param *e)
{
	int r;

	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->generation = 1;
	e->attr_timeout = CKFS_TIMEOUT;
	e->entry_timeout = CKFS_TIMEOUT;
	r = ckfs_tree_stat(t, n, &e->attr);
	if (r < 0) {
		/* a broken view: the name exists, its attributes fail later */
		e->attr.st_ino = n->ino;
		e->attr.st_mode = n->mode;
		e->attr_timeout = 0;
	}
	return r;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ckfs_tree *t = tree_of(req);
	struct ckfs_node *dir = node_of(req, parent), *n;
	struct fuse_entry_param e;
	int r;

	if (!dir) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	r = ckfs_tree_lookup(t, dir, name, &n);
	if (r == -ENOENT) {
		memset(&e, 0, sizeof(e));
		e.entry_timeout = CKFS_TIMEOUT; /* ino 0: a cacheable miss */
		fuse_reply_entry(req, &e);
		return;
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	r = fill_entry(t, n, &e);
	if (r < 0 && r != -EIO) {
		fuse_reply_err(req, -r);
		return;
	}
	fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct ckfs_node *n = node_of(req, ino);
	struct stat st;
	int r;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	r = ckfs_tree_stat(tree_of(req), n, &st);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, CKFS_TIMEOUT);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct ckfs_node *n = node_of(req, ino);
	const char *target;
	int r;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	r = ckfs_tree_readlink(tree_of(req), n, &target);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_readlink(req, target);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ckfs_node *n = node_of(req, ino);

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (S_ISDIR(n->mode)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fi->keep_cache = !n->ops->direct_io;
	fi->direct_io = n->ops->direct_io;
	fi->noflush = 1;
	fi->fh = (uint64_t)(uintptr_t)n;
	fuse_reply_open(req, fi);
}

/*
 * One read buffer per FUSE thread, reused: no allocation per request; the
 * key's destructor frees it when the thread ends.
 */
static pthread_key_t read_buf_key;
static pthread_once_t read_buf_once = PTHREAD_ONCE_INIT;

static void read_buf_key_init(void)
{
	(void)pthread_key_create(&read_buf_key, free);
}

static char *read_buf_get(void)
{
	char *buf;

	pthread_once(&read_buf_once, read_buf_key_init);
	buf = pthread_getspecific(read_buf_key);
	if (!buf) {
		buf = malloc(CKFS_READ_MAX);
		if (buf && pthread_setspecific(read_buf_key, buf) != 0) {
			free(buf);
			buf = NULL;
		}
	}
	return buf;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct ckfs_node *n = (struct ckfs_node *)(uintptr_t)fi->fh;
	char *read_buf;
	ssize_t got;

	if (!n)
		n = node_of(req, ino);
	if (!n || off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (size > CKFS_READ_MAX)
		size = CKFS_READ_MAX;
	read_buf = read_buf_get();
	if (!read_buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	got = ckfs_tree_read(tree_of(req), n, read_buf, size, (uint64_t)off);
	if (got < 0)
		fuse_reply_err(req, (int)-got);
	else
		fuse_reply_buf(req, read_buf, (size_t)got);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct ckfs_node *n = node_of(req, ino);
	const uint64_t *c;
	size_t nc;
	int r;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	r = ckfs_tree_children(tree_of(req), n, &c, &nc);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->keep_cache = 1;
	fi->cache_readdir = 1;
	fuse_reply_open(req, fi);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, bool plus)
{
	struct ckfs_tree *t = tree_of(req);
	struct ckfs_node *dir = node_of(req, ino);
	const uint64_t *c;
	size_t nc, pos = 0;
	char *buf;
	int r;

	if (!dir) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	r = ckfs_tree_children(t, dir, &c, &nc);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* offsets: 0 ".", 1 "..", i + 2 child i; each entry names the next */
	for (; off >= 0 && (size_t)off < nc + 2; off++) {
		struct ckfs_node *n;
		const char *name;
		size_t len;

		if (off == 0) {
			n = dir;
			name = ".";
		} else if (off == 1) {
			n = ckfs_tree_node(t, dir->parent);
			name = "..";
		} else {
			n = ckfs_tree_node(t, c[off - 2]);
			name = n->name;
		}
		if (plus) {
			struct fuse_entry_param e;

			fill_entry(t, n, &e);
			if (off < 2) /* no lookup count for . and .. */
				e.ino = 0, e.attr.st_ino = n->ino;
			len = fuse_add_direntry_plus(req, buf + pos, size - pos,
						     name, &e, off + 1);
		} else {
			struct stat st = { .st_ino = n->ino,
					   .st_mode = n->mode };

			len = fuse_add_direntry(req, buf + pos, size - pos,
						name, &st, off + 1);
		}
		if (len > size - pos)
			break;
		pos += len;
	}
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, true);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct ckfs_node *n = node_of(req, ino);
	uint64_t out;
	int r;

	if (!n || off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	r = ckfs_tree_lseek(tree_of(req), n, (uint64_t)off, whence, &out);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_lseek(req, (off_t)out);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st = {
		.f_bsize = 4096,
		.f_frsize = 4096,
		.f_namemax = 255,
		.f_flag = ST_RDONLY,
	};

	fuse_reply_statfs(req, &st);
}

const struct fuse_lowlevel_ops ckfs_fuse_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.open = op_open,
	.read = op_read,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.lseek = op_lseek,
	.statfs = op_statfs,
};
