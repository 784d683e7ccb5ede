/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Node table: fixed-size chunks found through a chunk directory, so a
 * node's address never changes and lookups by inode need no lock.  New
 * nodes are only made while a directory populates, under t->lock; the
 * node count is published with a release store after the node is whole.
 * Rendered bytes are made once, under one of a few striped locks.
 */
#include "vfs/tree.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"

#define CHUNK_SHIFT 12
#define CHUNK_NODES (1u << CHUNK_SHIFT)
#define CHUNKS_MAX 4096 /* 16 M nodes */
#define RENDER_LOCKS 64
#define SEEK_DATA_ 3
#define SEEK_HOLE_ 4

struct ckfs_tree {
	struct ckfs_ckpt *ck;
	struct ckfs_tree_opts opts;
	uid_t uid;
	gid_t gid;
	pthread_mutex_t lock; /* node table growth and populate */
	uint64_t n;	      /* nodes in use (published) */
	struct ckfs_node *chunk[CHUNKS_MAX];
	pthread_mutex_t render_lock[RENDER_LOCKS];
};

struct ckfs_ckpt *ckfs_tree_ckpt(const struct ckfs_tree *t)
{
	return t->ck;
}

const struct ckfs_tree_opts *ckfs_tree_opts(const struct ckfs_tree *t)
{
	return &t->opts;
}

struct ckfs_node *ckfs_tree_node(struct ckfs_tree *t, uint64_t ino)
{
	uint64_t n = __atomic_load_n(&t->n, __ATOMIC_ACQUIRE);

	if (ino == 0 || ino > n)
		return NULL;
	return &t->chunk[(ino - 1) >> CHUNK_SHIFT][(ino - 1) & (CHUNK_NODES - 1)];
}

static struct ckfs_node *new_node(struct ckfs_tree *t)
{
	uint64_t i = t->n;
	struct ckfs_node *c;

	if ((i >> CHUNK_SHIFT) >= CHUNKS_MAX)
		return NULL;
	c = t->chunk[i >> CHUNK_SHIFT];
	if (!c) {
		c = calloc(CHUNK_NODES, sizeof(*c));
		if (!c)
			return NULL;
		t->chunk[i >> CHUNK_SHIFT] = c;
	}
	c = &c[i & (CHUNK_NODES - 1)];
	c->ino = i + 1;
	return c;
}

static void publish(struct ckfs_tree *t)
{
	__atomic_store_n(&t->n, t->n + 1, __ATOMIC_RELEASE);
}

struct ckfs_node *ckfs_tree_add(struct ckfs_tree *t, struct ckfs_node *dir,
				const char *name, mode_t mode,
				const struct ckfs_node_ops *ops)
{
	struct ckfs_node *n;
	uint64_t *c;

	if (dir->nchild % 16 == 0) {
		c = reallocarray(dir->child, dir->nchild + 16, sizeof(*c));
		if (!c)
			return NULL;
		dir->child = c;
	}
	n = new_node(t);
	if (!n || !(n->name = strdup(name)))
		return NULL;
	n->parent = dir->ino;
	n->mode = mode;
	n->ops = ops;
	n->proc = dir->proc;
	n->mtime = dir->mtime;
	dir->child[dir->nchild++] = n->ino;
	publish(t);
	return n;
}

int ckfs_tree_new(struct ckfs_ckpt *ck, const struct ckfs_tree_opts *opts,
		  struct ckfs_tree **out)
{
	struct ckfs_tree *t = calloc(1, sizeof(*t));
	struct ckfs_node *root;
	size_t i;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	t->ck = ck;
	if (opts)
		t->opts = *opts;
	t->uid = getuid();
	t->gid = getgid();
	pthread_mutex_init(&t->lock, NULL);
	for (i = 0; i < RENDER_LOCKS; i++)
		pthread_mutex_init(&t->render_lock[i], NULL);
	root = new_node(t);
	if (!root || !(root->name = strdup(""))) {
		ckfs_tree_free(t);
		return -ENOMEM;
	}
	root->parent = 1;
	root->mode = S_IFDIR | 0555;
	root->ops = &ckfs_root_ops;
	publish(t);
	*out = t;
	return 0;
}

void ckfs_tree_free(struct ckfs_tree *t)
{
	uint64_t i;

	if (!t)
		return;
	for (i = 1; i <= t->n; i++) {
		struct ckfs_node *n = ckfs_tree_node(t, i);

		free(n->name);
		free(n->child);
		free(n->data);
	}
	for (i = 0; i < CHUNKS_MAX && t->chunk[i]; i++)
		free(t->chunk[i]);
	pthread_mutex_destroy(&t->lock);
	for (i = 0; i < RENDER_LOCKS; i++)
		pthread_mutex_destroy(&t->render_lock[i]);
	free(t);
}

static int child_cmp(const void *a, const void *b, void *arg)
{
	const struct ckfs_node *x = ckfs_tree_node(arg, *(const uint64_t *)a);
	const struct ckfs_node *y = ckfs_tree_node(arg, *(const uint64_t *)b);

	return strcmp(x->name, y->name);
}

static int populate(struct ckfs_tree *t, struct ckfs_node *dir)
{
	int r;

	if (__atomic_load_n(&dir->dir_state, __ATOMIC_ACQUIRE) != 0)
		return dir->dir_state;
	pthread_mutex_lock(&t->lock);
	if (dir->dir_state == 0) {
		r = dir->ops && dir->ops->populate ?
			    dir->ops->populate(t, dir) :
			    0;
		if (r < 0) {
			/* keep what was made (inodes stay valid), hide it */
			dir->nchild = 0;
			__atomic_store_n(&dir->dir_state,
					 r == -ENOMEM ? -ENOMEM : -EIO,
					 __ATOMIC_RELEASE);
		} else {
			if (dir->nchild)
				qsort_r(dir->child, dir->nchild,
					sizeof(*dir->child), child_cmp, t);
			__atomic_store_n(&dir->dir_state, 1, __ATOMIC_RELEASE);
		}
	}
	r = dir->dir_state;
	pthread_mutex_unlock(&t->lock);
	return r;
}

int ckfs_tree_children(struct ckfs_tree *t, struct ckfs_node *dir,
		       const uint64_t **child, size_t *n)
{
	int r;

	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	r = populate(t, dir);
	if (r < 0)
		return r;
	*child = dir->child;
	*n = dir->nchild;
	return 0;
}

int ckfs_tree_lookup(struct ckfs_tree *t, struct ckfs_node *dir,
		     const char *name, struct ckfs_node **out)
{
	const uint64_t *c;
	size_t lo = 0, hi;
	int r;

	if (strcmp(name, ".") == 0) {
		*out = dir;
		return 0;
	}
	if (strcmp(name, "..") == 0) {
		*out = ckfs_tree_node(t, dir->parent);
		return 0;
	}
	r = ckfs_tree_children(t, dir, &c, &hi);
	if (r < 0)
		return r;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct ckfs_node *n = ckfs_tree_node(t, c[mid]);
		int cmp = strcmp(name, n->name);

		if (cmp == 0) {
			*out = n;
			return 0;
		}
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -ENOENT;
}

/* Render a file's or link's bytes once; 0 or -EIO/-ENOMEM. */
static int rendered(struct ckfs_tree *t, struct ckfs_node *n)
{
	pthread_mutex_t *l = &t->render_lock[n->ino % RENDER_LOCKS];
	int r;

	if (__atomic_load_n(&n->data_state, __ATOMIC_ACQUIRE) != 0)
		return n->data_state < 0 ? n->data_state : 0;
	pthread_mutex_lock(l);
	if (n->data_state == 0) {
		struct ckfs_sb sb;

		ckfs_sb_init(&sb);
		r = n->ops->render(n, &sb);
		if (r >= 0)
			r = ckfs_sb_finish(&sb, &n->data, &n->size);
		else
			ckfs_sb_fini(&sb);
		__atomic_store_n(&n->data_state,
				 r < 0 ? (r == -ENOMEM ? r : -EIO) : 1,
				 __ATOMIC_RELEASE);
	}
	r = n->data_state;
	pthread_mutex_unlock(l);
	return r < 0 ? r : 0;
}

int ckfs_tree_stat(struct ckfs_tree *t, struct ckfs_node *n, struct stat *st)
{
	uint64_t size = 0;
	int r;

	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_mode = n->mode;
	st->st_nlink = S_ISDIR(n->mode) ? 2 : 1;
	st->st_uid = t->uid;
	st->st_gid = t->gid;
	st->st_mtime = st->st_atime = st->st_ctime = n->mtime;
	st->st_blksize = 4096;
	if (S_ISDIR(n->mode))
		return 0;
	if (n->ops->render) {
		r = rendered(t, n);
		/*
		 * A symlink whose target cannot be shown (one leading out of
		 * the archive) still exists: lstat works, readlink gives EIO.
		 */
		if (r < 0 && !S_ISLNK(n->mode))
			return r;
		size = r < 0 ? 0 : n->size;
	} else if (n->ops->size) {
		r = n->ops->size(n, &size);
		if (r < 0)
			return -EIO;
	}
	if (size > (uint64_t)INT64_MAX)
		size = (uint64_t)INT64_MAX;
	st->st_size = (off_t)size;
	if (n->ops->allocated)
		size = n->ops->allocated(n);
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	return 0;
}

ssize_t ckfs_tree_read(struct ckfs_tree *t, struct ckfs_node *n, void *buf,
		       size_t len, uint64_t off)
{
	int r;

	if (!S_ISREG(n->mode))
		return -EISDIR;
	if (n->ops->render) {
		r = rendered(t, n);
		if (r < 0)
			return r;
		if (off >= n->size)
			return 0;
		if (len > n->size - off)
			len = n->size - (size_t)off;
		memcpy(buf, n->data + off, len);
		return (ssize_t)len;
	}
	if (!n->ops->read)
		return -EIO;
	return n->ops->read(n, buf, len, off);
}

ssize_t ckfs_tree_segs(struct ckfs_tree *t, struct ckfs_node *n,
		       struct ckfs_seg *seg, size_t *nseg, size_t len,
		       uint64_t off)
{
	if (!S_ISREG(n->mode) || n->ops->render || !n->ops->segs)
		return -ENOTSUP;
	return n->ops->segs(n, seg, nseg, len, off);
}

int ckfs_tree_readlink(struct ckfs_tree *t, struct ckfs_node *n,
		       const char **out)
{
	int r;

	if (!S_ISLNK(n->mode))
		return -EINVAL;
	r = rendered(t, n);
	if (r < 0)
		return r;
	*out = n->data ? n->data : "";
	return 0;
}

int ckfs_tree_lseek(struct ckfs_tree *t, struct ckfs_node *n, uint64_t off,
		    int whence, uint64_t *out)
{
	struct stat st;
	int r;

	if (n->ops->lseek)
		return n->ops->lseek(n, off, whence, out);
	/* a dense file: all data, one hole at the end */
	r = ckfs_tree_stat(t, n, &st);
	if (r < 0)
		return r;
	if (off >= (uint64_t)st.st_size)
		return -ENXIO;
	*out = whence == SEEK_DATA_ ? off : (uint64_t)st.st_size;
	return 0;
}
