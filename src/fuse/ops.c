/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuse/ops.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "vfs/multi.h"

/* The archive never changes: cache for a year. */
#define CKFS_TIMEOUT (365.0 * 24 * 3600)
/* A directory of archives: its root level changes as files come and go. */
#define CKFS_TIMEOUT_VOLATILE 1.0
/* libfuse 3.14 sends at most 1 MiB per READ (max_pages 256) */
#define CKFS_READ_MAX (1u << 20)
/*
 * Spliced replies: at most this many segments and bytes.  libfuse grows
 * its pipe to the reply plus a page per segment, and an unprivileged
 * daemon's pipe stops at /proc/sys/fs/pipe-max-size (1 MiB by default);
 * a bigger read is copied.
 */
#define CKFS_SEGS_MAX	32
#define CKFS_SPLICE_MAX (512u << 10)

/* whether the kernel takes spliced replies (set once, by op_init) */
static bool splice_write;
/* the bytes of a zero segment (never written) */
static char zeros[CKFS_SPLICE_MAX];

static struct ckfs_multi *mnt_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	/* a read-only fs asks for splice writes itself (fuse-performance §5.2) */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
	splice_write = conn->want & FUSE_CAP_SPLICE_WRITE;
}

static void to_entry(const struct ckfs_multi_ent *me,
		     struct fuse_entry_param *e)
{
	double tmo = me->volatile_ ? CKFS_TIMEOUT_VOLATILE : CKFS_TIMEOUT;

	memset(e, 0, sizeof(*e));
	e->ino = me->ino;
	e->generation = me->generation;
	e->attr = me->st;
	/* a broken view: the name exists, its attributes fail later */
	e->attr_timeout = me->attr_failed ? 0 : tmo;
	e->entry_timeout = tmo;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	struct ckfs_multi_ent me;
	int r;

	r = ckfs_multi_lookup(mnt_of(req), parent, name, &me);
	if (r == -ENOENT) {
		memset(&e, 0, sizeof(e));
		/* ino 0: a cacheable miss (briefly where names come and go) */
		e.entry_timeout = me.volatile_ ? CKFS_TIMEOUT_VOLATILE :
						 CKFS_TIMEOUT;
		fuse_reply_entry(req, &e);
		return;
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	to_entry(&me, &e);
	/* counted by the lookup: uncount what the kernel never got */
	if (fuse_reply_entry(req, &e) != 0)
		ckfs_multi_forget(mnt_of(req), me.ino, 1);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	ckfs_multi_forget(mnt_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		ckfs_multi_forget(mnt_of(req), forgets[i].ino,
				  forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct stat st;
	bool vol;
	int r;

	r = ckfs_multi_stat(mnt_of(req), ino, &st, &vol);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st,
				vol ? CKFS_TIMEOUT_VOLATILE : CKFS_TIMEOUT);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char *target;
	int r;

	r = ckfs_multi_readlink(mnt_of(req), ino, &target);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_readlink(req, target);
	free(target);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ckfs_multi_file *f;
	bool direct_io, keep_cache;
	int r;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	r = ckfs_multi_open(mnt_of(req), ino, &f, &direct_io, &keep_cache);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->keep_cache = keep_cache;
	fi->direct_io = direct_io;
	fi->noflush = 1;
	fi->fh = (uint64_t)(uintptr_t)f;
	if (fuse_reply_open(req, fi) != 0)
		ckfs_multi_release(f); /* the open was interrupted */
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	ckfs_multi_release((struct ckfs_multi_file *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
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

/*
 * Reply with where the bytes lie (file ranges, zeros) for libfuse to
 * splice: 0 once replied, -1 to copy them instead (a file or range the
 * vfs layer only reads, or a failure: the copy says which).  libfuse
 * itself copies a reply whose last file segment is under two pages, so
 * that one is left to the copy path too.  No allocation.
 */
static int reply_segs(fuse_req_t req, struct ckfs_multi_file *f, size_t size,
		      off_t off)
{
	struct ckfs_seg seg[CKFS_SEGS_MAX];
	union {
		struct fuse_bufvec v;
		char room[sizeof(struct fuse_bufvec) +
			  (CKFS_SEGS_MAX - 1) * sizeof(struct fuse_buf)];
	} bv;
	struct fuse_buf *b = bv.v.buf; /* bv.room holds CKFS_SEGS_MAX */
	size_t n = CKFS_SEGS_MAX, i;
	uint64_t last_fd = 0;
	ssize_t got;

	got = ckfs_multi_read_segs(f, seg, &n, size, (uint64_t)off);
	if (got < 0)
		return -1;
	for (i = 0; i < n; i++)
		if (seg[i].fd >= 0)
			last_fd = seg[i].len;
	if (last_fd < 2 * (uint64_t)sysconf(_SC_PAGESIZE))
		return -1;
	memset(&bv, 0, sizeof(bv));
	bv.v.count = n;
	for (i = 0; i < n; i++) {
		b[i].size = (size_t)seg[i].len;
		if (seg[i].fd < 0) {
			b[i].mem = zeros;
			continue;
		}
		b[i].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		b[i].fd = seg[i].fd;
		b[i].pos = (off_t)seg[i].off;
	}
	fuse_reply_data(req, &bv.v, 0);
	return 0;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct ckfs_multi_file *f = (struct ckfs_multi_file *)(uintptr_t)fi->fh;
	char *read_buf;
	ssize_t got;

	if (!f || off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (size > CKFS_READ_MAX)
		size = CKFS_READ_MAX;
	if (splice_write && size <= CKFS_SPLICE_MAX &&
	    reply_segs(req, f, size, off) == 0)
		return;
	read_buf = read_buf_get();
	if (!read_buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	got = ckfs_multi_read(f, read_buf, size, (uint64_t)off);
	if (got < 0)
		fuse_reply_err(req, (int)-got);
	else
		fuse_reply_buf(req, read_buf, (size_t)got);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct ckfs_multi_dir *d;
	bool keep_cache;
	int r;

	r = ckfs_multi_opendir(mnt_of(req), ino, &d, &keep_cache);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->keep_cache = keep_cache;
	fi->cache_readdir = keep_cache;
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fuse_reply_open(req, fi) != 0)
		ckfs_multi_releasedir(d);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	ckfs_multi_releasedir((struct ckfs_multi_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/*
 * Each readdirplus entry but . and .. is a lookup for the kernel: counted
 * before the reply (the open directory holds their tree meanwhile), and
 * uncounted again if the reply never reaches the kernel.
 */
static void do_readdir(fuse_req_t req, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct ckfs_multi_dir *d = (struct ckfs_multi_dir *)(uintptr_t)fi->fh;
	struct ckfs_multi *m = mnt_of(req);
	off_t first = off;
	size_t pos = 0;
	char *buf;

	if (!d || off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* offsets: 0 ".", 1 "..", i + 2 child i; each entry names the next */
	for (;; off++) {
		struct ckfs_multi_ent me;
		const char *name;
		size_t len;

		if (ckfs_multi_dirent(d, (size_t)off, plus, &name, &me) <= 0)
			break;
		if (plus) {
			struct fuse_entry_param e;

			to_entry(&me, &e);
			if (off < 2) /* no lookup count for . and .. */
				e.ino = 0;
			len = fuse_add_direntry_plus(req, buf + pos, size - pos,
						     name, &e, off + 1);
		} else {
			len = fuse_add_direntry(req, buf + pos, size - pos,
						name, &me.st, off + 1);
		}
		if (len > size - pos)
			break;
		pos += len;
		if (plus && off >= 2)
			ckfs_multi_remember(m, me.ino);
	}
	if (fuse_reply_buf(req, buf, pos) != 0 && plus) {
		/* the listing is fixed while open: the same entries again */
		for (off_t i = first < 2 ? 2 : first; i < off; i++) {
			struct ckfs_multi_ent me;
			const char *name;
			int r = ckfs_multi_dirent(d, (size_t)i, false, &name,
						  &me);

			if (r > 0)
				ckfs_multi_forget(m, me.ino, 1);
		}
	}
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, size, off, fi, true);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct ckfs_multi_file *f = (struct ckfs_multi_file *)(uintptr_t)fi->fh;
	uint64_t out;
	int r;

	if (!f || off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	r = ckfs_multi_lseek(f, (uint64_t)off, whence, &out);
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
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.open = op_open,
	.release = op_release,
	.read = op_read,
	.opendir = op_opendir,
	.releasedir = op_releasedir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.lseek = op_lseek,
	.statfs = op_statfs,
};
