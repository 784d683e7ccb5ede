/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mount's inode space (see multi.h): one tree, or a directory of
 * archives with a tree each, opened on first access.  The slot table only
 * grows; a slot and its tree live until ckfs_multi_free(), so every inode
 * number handed to the kernel stays valid for the mount's life.
 */
#include "vfs/multi.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "base/mem.h"
#include "base/strbuf.h"
#include "model/model.h"

#define LOCAL_MASK ((UINT64_C(1) << CKFS_MULTI_SLOT_SHIFT) - 1)
#define RESCAN_NS  1000000000LL

/* Slot 0: the root level. */
#define TOP_ROOT     1
#define TOP_LIST     2
#define TOP_JSON     3
#define TOP_ERR_BASE 16 /* + slot: that archive's error file */

static const char list_name[] = "checkpoints";
static const char json_name[] = "checkpoints.json";
static const char err_suffix[] = ".error";

struct slot {
	size_t idx;
	char *name;
	char *path;
	int64_t mtime;	      /* atomic */
	bool present;	      /* atomic: in the directory at the last scan */
	pthread_mutex_t lock; /* opening */
	int state;	      /* atomic: 0 not opened, 1 open, < 0 failed */
	char msg[CKFS_ERR_MSG_MAX];
	struct ckfs_ckpt *ck;
	struct ckfs_tree *t;
};

/*
 * Open handles are linked into their mount, so that the ones the kernel
 * never released (the session ended while they were open) are freed with
 * it.
 */
struct handle {
	struct ckfs_multi *m;
	struct handle *prev, *next; /* under m->hlock */
	bool dir; /* a struct ckfs_multi_dir, else a ckfs_multi_file */
};

struct ckfs_multi {
	struct ckfs_tree *single; /* single mode: borrowed */
	char *path;
	struct ckfs_tree_opts opts;
	uid_t uid;
	gid_t gid;
	int64_t mtime;
	pthread_mutex_t lock; /* slot table growth and the scan */
	int64_t last_scan;
	size_t nslots; /* atomic: slots[1 .. nslots] exist */
	pthread_mutex_t hlock;
	struct handle handles; /* open files and directories, under hlock */
	struct slot *slots[CKFS_MULTI_SLOTS_MAX + 1];
};

struct ckfs_multi_file {
	struct handle h;     /* first */
	struct ckfs_tree *t; /* a tree's file ... */
	struct ckfs_node *n;
	char *data; /* ... or a root-level file's bytes at open */
	size_t size;
};

struct dent {
	char *name;
	uint64_t ino;
};

struct ckfs_multi_dir {
	struct handle h; /* first */
	struct ckfs_multi *m;
	uint64_t ino;
	/* a tree's directory */
	struct ckfs_tree *t;
	struct ckfs_node *dir;
	uint64_t base;
	const uint64_t *c;
	size_t nc;
	/* the root of a directory of archives, as scanned at opendir */
	struct dent *ents;
	size_t n;
};

/* What an inode number stands for. */
enum ref_kind { REF_NODE, REF_ROOT, REF_LIST, REF_JSON, REF_ERR, REF_SLOTDIR };

struct ref {
	enum ref_kind kind;
	struct ckfs_tree *t;
	struct ckfs_node *n;
	uint64_t base;
	struct slot *s;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static bool has_images(int dfd)
{
	static const char *const names[] = {
		"pstree.img",
		"inventory.img",
		"checkpoint/pstree.img",
		"checkpoint/inventory.img",
	};

	for (size_t i = 0; i < CKFS_ARRAY_SIZE(names); i++)
		if (faccessat(dfd, names[i], F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			return true;
	return false;
}

/* A name the root level shows as an archive directory. */
static bool archive_name(int dfd, const char *name, int64_t *mtime)
{
	size_t len = strlen(name), sl = sizeof(err_suffix) - 1;
	struct stat st;

	if (name[0] == '.' || strcmp(name, list_name) == 0 ||
	    strcmp(name, json_name) == 0 ||
	    (len > sl && strcmp(name + len - sl, err_suffix) == 0))
		return false;
	if (fstatat(dfd, name, &st, 0) < 0 || !S_ISREG(st.st_mode))
		return false;
	*mtime = st.st_mtime;
	return true;
}

static void handles_init(struct ckfs_multi *m)
{
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->hlock, NULL);
	m->handles.prev = m->handles.next = &m->handles;
}

static void handle_link(struct ckfs_multi *m, struct handle *h, bool dir)
{
	h->m = m;
	h->dir = dir;
	pthread_mutex_lock(&m->hlock);
	h->next = m->handles.next;
	h->prev = &m->handles;
	h->next->prev = h;
	m->handles.next = h;
	pthread_mutex_unlock(&m->hlock);
}

static void handle_unlink(struct handle *h)
{
	pthread_mutex_lock(&h->m->hlock);
	h->prev->next = h->next;
	h->next->prev = h->prev;
	pthread_mutex_unlock(&h->m->hlock);
}

static void file_free(struct ckfs_multi_file *f)
{
	free(f->data);
	free(f);
}

static void dir_free(struct ckfs_multi_dir *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->ents[i].name);
	free(d->ents);
	free(d);
}

bool ckfs_multi_is_ckpt_dir(const char *path)
{
	_cleanup_close_ int dfd =
		open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	bool found = false;
	int64_t mt;
	DIR *d;

	if (dfd < 0 || has_images(dfd))
		return false;
	d = fdopendir(dup(dfd));
	if (!d)
		return false;
	while (!found && (de = readdir(d)))
		found = archive_name(dfd, de->d_name, &mt);
	closedir(d);
	return found;
}

int ckfs_multi_new_single(struct ckfs_tree *t, struct ckfs_multi **out)
{
	struct ckfs_multi *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->single = t;
	handles_init(m);
	*out = m;
	return 0;
}

int ckfs_multi_new_dir(const char *path, const struct ckfs_tree_opts *opts,
		       struct ckfs_multi **out, struct ckfs_err *err)
{
	struct ckfs_multi *m = calloc(1, sizeof(*m));
	struct stat st;

	*out = NULL;
	if (!m || !(m->path = strdup(path))) {
		free(m);
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	}
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		int r = errno ? -errno : -ENOTDIR;

		free(m->path);
		free(m);
		return ckfs_err_set(err, r, "%s: %s", path, strerror(-r));
	}
	if (opts)
		m->opts = *opts;
	m->uid = getuid();
	m->gid = getgid();
	m->mtime = st.st_mtime;
	m->last_scan = -RESCAN_NS;
	handles_init(m);
	*out = m;
	return 0;
}

void ckfs_multi_free(struct ckfs_multi *m)
{
	if (!m)
		return;
	while (m->handles.next != &m->handles) {
		struct handle *h = m->handles.next;

		handle_unlink(h);
		if (h->dir)
			dir_free((struct ckfs_multi_dir *)h);
		else
			file_free((struct ckfs_multi_file *)h);
	}
	pthread_mutex_destroy(&m->hlock);
	for (size_t i = 1; i <= m->nslots; i++) {
		struct slot *s = m->slots[i];

		ckfs_tree_free(s->t);
		ckfs_ckpt_free(s->ck);
		pthread_mutex_destroy(&s->lock);
		free(s->name);
		free(s->path);
		free(s);
	}
	pthread_mutex_destroy(&m->lock);
	free(m->path);
	free(m);
}

/* ---- the directory and its slots ---- */

static struct slot *slot_get(struct ckfs_multi *m, uint64_t idx)
{
	size_t n = __atomic_load_n(&m->nslots, __ATOMIC_ACQUIRE);

	return idx >= 1 && idx <= n ? m->slots[idx] : NULL;
}

static struct slot *slot_new(struct ckfs_multi *m, const char *name)
{
	struct slot *s;

	if (m->nslots >= CKFS_MULTI_SLOTS_MAX)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->idx = m->nslots + 1;
	s->name = strdup(name);
	if (!s->name || asprintf(&s->path, "%s/%s", m->path, name) < 0) {
		free(s->name);
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	m->slots[s->idx] = s;
	__atomic_store_n(&m->nslots, s->idx, __ATOMIC_RELEASE);
	return s;
}

/* Rescan the directory, at most once a second. */
static void rescan(struct ckfs_multi *m)
{
	_cleanup_free_ bool *seen = NULL;
	struct dirent *de;
	int64_t t = now_ns();
	struct stat st;
	size_t i;
	DIR *d;

	pthread_mutex_lock(&m->lock);
	if (t - m->last_scan < RESCAN_NS)
		goto out;
	m->last_scan = t;
	seen = calloc(CKFS_MULTI_SLOTS_MAX + 1, sizeof(*seen));
	d = seen ? opendir(m->path) : NULL;
	if (!d)
		goto out; /* keep the last listing */
	if (fstat(dirfd(d), &st) == 0)
		__atomic_store_n(&m->mtime, (int64_t)st.st_mtime,
				 __ATOMIC_RELAXED);
	while ((de = readdir(d))) {
		struct slot *s = NULL;
		int64_t mt;

		if (!archive_name(dirfd(d), de->d_name, &mt))
			continue;
		for (i = 1; i <= m->nslots; i++)
			if (strcmp(m->slots[i]->name, de->d_name) == 0) {
				s = m->slots[i];
				break;
			}
		if (!s && !(s = slot_new(m, de->d_name)))
			continue; /* out of slots or memory: not shown */
		if (!__atomic_load_n(&s->state, __ATOMIC_ACQUIRE))
			__atomic_store_n(&s->mtime, mt, __ATOMIC_RELAXED);
		seen[s->idx] = true;
	}
	closedir(d);
	for (i = 1; i <= m->nslots; i++)
		__atomic_store_n(&m->slots[i]->present, seen[i],
				 __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&m->lock);
}

static struct slot *slot_by_name(struct ckfs_multi *m, const char *name,
				 size_t len)
{
	size_t n = __atomic_load_n(&m->nslots, __ATOMIC_ACQUIRE);

	for (size_t i = 1; i <= n; i++) {
		struct slot *s = m->slots[i];

		if (__atomic_load_n(&s->present, __ATOMIC_ACQUIRE) &&
		    strlen(s->name) == len && memcmp(s->name, name, len) == 0)
			return s;
	}
	return NULL;
}

/* Open @s if not yet: 0, or -EIO when its archive cannot be served. */
static int slot_open(struct ckfs_multi *m, struct slot *s)
{
	struct ckfs_err err = { 0 };
	int r;

	r = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
	if (r)
		return r < 0 ? -EIO : 0;
	pthread_mutex_lock(&s->lock);
	if (s->state == 0) {
		r = ckfs_ckpt_open(s->path, &s->ck, &err);
		if (r == 0)
			r = ckfs_archive_status(ckfs_ckpt_archive(s->ck), &err);
		if (r == 0) {
			r = ckfs_tree_new(s->ck, &m->opts, &s->t);
			if (r < 0)
				ckfs_err_set(&err, r, "%s", strerror(-r));
		}
		if (r < 0) {
			/* the reason already names the file */
			snprintf(s->msg, sizeof(s->msg), "%s", err.msg);
			ckfs_tree_free(s->t);
			ckfs_ckpt_free(s->ck);
			s->t = NULL;
			s->ck = NULL;
		}
		__atomic_store_n(&s->state, r < 0 ? -EIO : 1, __ATOMIC_RELEASE);
	}
	r = s->state;
	pthread_mutex_unlock(&s->lock);
	return r < 0 ? -EIO : 0;
}

/* ---- inode numbers ---- */

static int resolve(struct ckfs_multi *m, uint64_t ino, struct ref *ref)
{
	uint64_t local = ino & LOCAL_MASK;
	struct slot *s;

	memset(ref, 0, sizeof(*ref));
	if (m->single) {
		ref->t = m->single;
		ref->n = ckfs_tree_node(m->single, ino);
		return ref->n ? 0 : -ENOENT;
	}
	if ((ino >> CKFS_MULTI_SLOT_SHIFT) == 0) {
		if (local == TOP_ROOT)
			ref->kind = REF_ROOT;
		else if (local == TOP_LIST)
			ref->kind = REF_LIST;
		else if (local == TOP_JSON)
			ref->kind = REF_JSON;
		else if (local > TOP_ERR_BASE &&
			 (ref->s = slot_get(m, local - TOP_ERR_BASE)) &&
			 __atomic_load_n(&ref->s->state, __ATOMIC_ACQUIRE) < 0)
			ref->kind = REF_ERR;
		else
			return -ENOENT;
		return 0;
	}
	s = slot_get(m, ino >> CKFS_MULTI_SLOT_SHIFT);
	if (!s)
		return -ENOENT;
	ref->s = s;
	if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != 1) {
		if (local != 1)
			return -ENOENT;
		ref->kind = REF_SLOTDIR;
		return 0;
	}
	ref->t = s->t;
	ref->base = ino & ~LOCAL_MASK;
	ref->n = ckfs_tree_node(s->t, local);
	return ref->n ? 0 : -ENOENT;
}

static int render_list(struct ckfs_multi *m, struct ckfs_sb *sb);
static int render_json(struct ckfs_multi *m, struct ckfs_sb *sb);

/*
 * The size of checkpoints / checkpoints.json: render them (which opens
 * every archive) and count.  Their attributes are never cached by the
 * kernel (the directory can change), so a stat is always exact.
 */
static int top_text_size(struct ckfs_multi *m, bool json, uint64_t *size)
{
	struct ckfs_sb sb;
	int r;

	ckfs_sb_init(&sb);
	r = json ? render_json(m, &sb) : render_list(m, &sb);
	*size = sb.len;
	r = r < 0 ? r : sb.oom ? -ENOMEM : 0;
	ckfs_sb_fini(&sb);
	return r;
}

static void stat_top(struct ckfs_multi *m, uint64_t ino, mode_t mode,
		     int64_t mtime, uint64_t size, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_uid = m->uid;
	st->st_gid = m->gid;
	st->st_mtime = st->st_atime = st->st_ctime = mtime;
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	st->st_blksize = 4096;
}

static int ref_stat(struct ckfs_multi *m, const struct ref *ref, uint64_t ino,
		    struct stat *st)
{
	int r;

	switch (ref->kind) {
	case REF_NODE:
		r = ckfs_tree_stat(ref->t, ref->n, st);
		st->st_ino = ref->base | ref->n->ino;
		return r;
	case REF_ROOT:
		stat_top(m, ino, S_IFDIR | 0555,
			 __atomic_load_n(&m->mtime, __ATOMIC_RELAXED), 0, st);
		return 0;
	case REF_LIST:
	case REF_JSON: {
		uint64_t size;

		r = top_text_size(m, ref->kind == REF_JSON, &size);
		if (r < 0)
			return r;
		stat_top(m, ino, S_IFREG | 0444,
			 __atomic_load_n(&m->mtime, __ATOMIC_RELAXED), size, st);
		return 0;
	}
	case REF_ERR:
		stat_top(m, ino, S_IFREG | 0444,
			 __atomic_load_n(&ref->s->mtime, __ATOMIC_RELAXED),
			 strlen(ref->s->msg) + 1, st);
		return 0;
	case REF_SLOTDIR:
		stat_top(m, ino, S_IFDIR | 0555,
			 __atomic_load_n(&ref->s->mtime, __ATOMIC_RELAXED), 0,
			 st);
		return 0;
	}
	return -ENOENT;
}

int ckfs_multi_stat(struct ckfs_multi *m, uint64_t ino, struct stat *st,
		    bool *volatile_)
{
	struct ref ref;
	int r = resolve(m, ino, &ref);

	*volatile_ = !m->single &&
		     (ref.kind != REF_NODE || (ref.n && ref.n->ino == 1));
	if (r < 0)
		return r;
	return ref_stat(m, &ref, ino, st);
}

/* A slot's directory: its tree's root once open, else made up. */
static int slot_entry(struct ckfs_multi *m, struct slot *s,
		      struct ckfs_multi_ent *e)
{
	struct ref ref;

	e->ino = (uint64_t)s->idx << CKFS_MULTI_SLOT_SHIFT | 1;
	e->volatile_ = true;
	if (resolve(m, e->ino, &ref) < 0)
		return -ENOENT;
	e->attr_failed = ref_stat(m, &ref, e->ino, &e->st) < 0;
	return 0;
}

static int top_entry(struct ckfs_multi *m, uint64_t ino,
		     struct ckfs_multi_ent *e)
{
	struct ref ref;
	int r = resolve(m, ino, &ref);

	if (r < 0)
		return r;
	e->ino = ino;
	e->volatile_ = true;
	if (ref.kind == REF_LIST || ref.kind == REF_JSON) {
		/*
		 * A lookup or listing must not open every archive: give no
		 * attributes (attr_timeout 0), so the first stat, or a read,
		 * asks getattr, which makes the exact size.
		 */
		stat_top(m, ino, S_IFREG | 0444,
			 __atomic_load_n(&m->mtime, __ATOMIC_RELAXED), 0,
			 &e->st);
		e->attr_failed = true;
		return 0;
	}
	return ref_stat(m, &ref, ino, &e->st);
}

static int lookup_root(struct ckfs_multi *m, const char *name,
		       struct ckfs_multi_ent *e)
{
	size_t len = strlen(name), sl = sizeof(err_suffix) - 1;
	struct slot *s;

	rescan(m);
	e->volatile_ = true; /* a miss too */
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return top_entry(m, TOP_ROOT, e);
	if (strcmp(name, list_name) == 0)
		return top_entry(m, TOP_LIST, e);
	if (strcmp(name, json_name) == 0)
		return top_entry(m, TOP_JSON, e);
	s = slot_by_name(m, name, len);
	if (s)
		return slot_entry(m, s, e);
	if (len > sl && strcmp(name + len - sl, err_suffix) == 0 &&
	    (s = slot_by_name(m, name, len - sl)) && slot_open(m, s) < 0)
		return top_entry(m, TOP_ERR_BASE + s->idx, e);
	return -ENOENT;
}

int ckfs_multi_lookup(struct ckfs_multi *m, uint64_t parent, const char *name,
		      struct ckfs_multi_ent *e)
{
	struct ckfs_node *n;
	struct ref ref;
	int r;

	memset(e, 0, sizeof(*e));
	if (!m->single && parent == TOP_ROOT)
		return lookup_root(m, name, e);
	r = resolve(m, parent, &ref);
	if (r == 0 && ref.kind == REF_SLOTDIR) {
		r = slot_open(m, ref.s);
		if (r == 0)
			r = resolve(m, parent, &ref);
	}
	if (r < 0)
		return r;
	if (ref.kind != REF_NODE)
		return -ENOTDIR;
	if (ref.base && ref.n->ino == 1 && strcmp(name, "..") == 0)
		return top_entry(m, TOP_ROOT, e);
	r = ckfs_tree_lookup(ref.t, ref.n, name, &n);
	if (r < 0)
		return r;
	e->ino = ref.base | n->ino;
	r = ckfs_tree_stat(ref.t, n, &e->st);
	e->st.st_ino = e->ino;
	if (r < 0) {
		e->st.st_mode = n->mode;
		e->attr_failed = true;
		return r == -EIO ? 0 : r;
	}
	return 0;
}

int ckfs_multi_readlink(struct ckfs_multi *m, uint64_t ino, const char **out)
{
	struct ref ref;
	int r = resolve(m, ino, &ref);

	if (r < 0)
		return r;
	if (ref.kind != REF_NODE)
		return -EINVAL;
	return ckfs_tree_readlink(ref.t, ref.n, out);
}

/* ---- the root-level files ---- */

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

/*
 * RFC 3339 ("2023-02-13T16:20:09Z", "...+01:00") in Go's RFC822Z, as
 * checkpointctl list prints it: "13 Feb 23 16:20 +0000".
 */
static void rfc822z(const char *s, char *out, size_t sz)
{
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr",
					   "May", "Jun", "Jul", "Aug",
					   "Sep", "Oct", "Nov", "Dec" };
	int y, mo, d, h, mi, sec, n = 0;
	const char *tz;

	if (!s ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
		   &n) != 6 ||
	    mo < 1 || mo > 12) {
		snprintf(out, sz, "%s", or_dash(s));
		return;
	}
	tz = s + n;
	if (*tz == '.')
		while (*++tz >= '0' && *tz <= '9')
			;
	if ((tz[0] == '+' || tz[0] == '-') && strlen(tz) == 6 && tz[3] == ':')
		snprintf(out, sz, "%02d %s %02d %02d:%02d %c%.2s%.2s", d,
			 mon[mo - 1], y % 100, h, mi, tz[0], tz + 1, tz + 4);
	else
		snprintf(out, sz, "%02d %s %02d %02d:%02d +0000", d,
			 mon[mo - 1], y % 100, h, mi);
}

/* Present slots, sorted by name, each opened. */
static size_t present_slots(struct ckfs_multi *m, struct slot ***out)
{
	size_t n = __atomic_load_n(&m->nslots, __ATOMIC_ACQUIRE), k = 0;
	struct slot **v = calloc(n + 1, sizeof(*v));

	*out = v;
	if (!v)
		return 0;
	for (size_t i = 1; i <= n; i++)
		if (__atomic_load_n(&m->slots[i]->present, __ATOMIC_ACQUIRE))
			v[k++] = m->slots[i];
	for (size_t i = 1; i < k; i++)
		for (size_t j = i;
		     j > 0 && strcmp(v[j - 1]->name, v[j]->name) > 0; j--) {
			struct slot *x = v[j];

			v[j] = v[j - 1];
			v[j - 1] = x;
		}
	for (size_t i = 0; i < k; i++)
		slot_open(m, v[i]);
	return k;
}

enum { COL_NS, COL_POD, COL_CTR, COL_ENGINE, COL_TIME, COL_NAME, NCOLS };

static int render_list(struct ckfs_multi *m, struct ckfs_sb *sb)
{
	static const char *const head[NCOLS] = {
		"NAMESPACE",	     "POD",
		"CONTAINER",	     "ENGINE",
		"TIME CHECKPOINTED", "CHECKPOINT NAME",
	};
	_cleanup_free_ struct slot **v = NULL;
	_cleanup_free_ char *cells = NULL;
	size_t n = present_slots(m, &v), w[NCOLS], rows = 0, col;
	const size_t cw = 512;

	if (!v || !(cells = calloc((n + 1) * NCOLS, cw)))
		return -ENOMEM;
	for (col = 0; col < NCOLS; col++)
		snprintf(cells + col * cw, cw, "%s", head[col]);
	for (size_t i = 0; i < n; i++) {
		const struct ckfs_container *ct;
		char *row;

		if (__atomic_load_n(&v[i]->state, __ATOMIC_ACQUIRE) != 1)
			continue; /* as checkpointctl: skipped (see .error) */
		ct = ckfs_ckpt_container(v[i]->ck);
		row = cells + (++rows) * NCOLS * cw;
		snprintf(row + COL_NS * cw, cw, "%s",
			 or_dash(ct->pod_namespace));
		snprintf(row + COL_POD * cw, cw, "%s", or_dash(ct->pod_name));
		snprintf(row + COL_CTR * cw, cw, "%s", or_dash(ct->name));
		snprintf(row + COL_ENGINE * cw, cw, "%s", or_dash(ct->engine));
		rfc822z(ct->checkpointed, row + COL_TIME * cw, cw);
		snprintf(row + COL_NAME * cw, cw, "%s", v[i]->name);
	}
	for (col = 0; col < NCOLS; col++) {
		w[col] = 0;
		for (size_t i = 0; i <= rows; i++) {
			size_t l = strlen(cells + (i * NCOLS + col) * cw);

			if (l > w[col])
				w[col] = l;
		}
	}
	ckfs_sb_printf(sb, "Listing checkpoints in path: %s\n", m->path);
	for (size_t i = 0; i <= rows; i++) {
		for (col = 0; col < NCOLS; col++) {
			const char *c = cells + (i * NCOLS + col) * cw;

			if (col + 1 == NCOLS)
				ckfs_sb_printf(sb, "%s\n", c);
			else
				ckfs_sb_printf(sb, "%-*s   ", (int)w[col], c);
		}
	}
	return 0;
}

static void put(json_object *o, const char *key, const char *val)
{
	json_object_object_add(o, key,
			       val ? json_object_new_string(val) : NULL);
}

static int render_json(struct ckfs_multi *m, struct ckfs_sb *sb)
{
	_cleanup_free_ struct slot **v = NULL;
	size_t n = present_slots(m, &v);
	json_object *arr = json_object_new_array();

	if (!v || !arr) {
		json_object_put(arr);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_new_object();
		const struct ckfs_container *ct = NULL;

		if (!o)
			break;
		if (__atomic_load_n(&v[i]->state, __ATOMIC_ACQUIRE) == 1)
			ct = ckfs_ckpt_container(v[i]->ck);
		put(o, "checkpoint_name", v[i]->name);
		put(o, "namespace", ct ? ct->pod_namespace : NULL);
		put(o, "pod", ct ? ct->pod_name : NULL);
		put(o, "container", ct ? ct->name : NULL);
		put(o, "engine", ct ? ct->engine : NULL);
		put(o, "checkpointed", ct ? ct->checkpointed : NULL);
		put(o, "error", ct ? NULL : v[i]->msg);
		json_object_array_add(arr, o);
	}
	ckfs_sb_printf(sb, "%s\n",
		       json_object_to_json_string_ext(
			       arr, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_SPACED |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(arr);
	return 0;
}

int ckfs_multi_open(struct ckfs_multi *m, uint64_t ino,
		    struct ckfs_multi_file **out, bool *direct_io,
		    bool *keep_cache)
{
	struct ckfs_multi_file *f;
	struct ckfs_sb sb;
	struct ref ref;
	int r = resolve(m, ino, &ref);

	*out = NULL;
	if (r < 0)
		return r;
	if (ref.kind == REF_ROOT || ref.kind == REF_SLOTDIR ||
	    (ref.kind == REF_NODE && S_ISDIR(ref.n->mode)))
		return -EISDIR;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	if (ref.kind == REF_NODE) {
		f->t = ref.t;
		f->n = ref.n;
		*direct_io = ref.n->ops->direct_io;
		*keep_cache = !ref.n->ops->direct_io;
		handle_link(m, &f->h, false);
		*out = f;
		return 0;
	}
	ckfs_sb_init(&sb);
	if (ref.kind == REF_LIST)
		r = render_list(m, &sb);
	else if (ref.kind == REF_JSON)
		r = render_json(m, &sb);
	else
		ckfs_sb_printf(&sb, "%s\n", ref.s->msg);
	if (r == 0)
		r = ckfs_sb_finish(&sb, &f->data, &f->size);
	else
		ckfs_sb_fini(&sb);
	if (r < 0) {
		free(f);
		return r;
	}
	/* made again at open; stat made it too, so the size is known */
	*direct_io = false;
	*keep_cache = false;
	handle_link(m, &f->h, false);
	*out = f;
	return 0;
}

void ckfs_multi_release(struct ckfs_multi_file *f)
{
	if (!f)
		return;
	handle_unlink(&f->h);
	file_free(f);
}

ssize_t ckfs_multi_read(struct ckfs_multi_file *f, void *buf, size_t len,
			uint64_t off)
{
	if (f->n)
		return ckfs_tree_read(f->t, f->n, buf, len, off);
	if (off >= f->size)
		return 0;
	if (len > f->size - off)
		len = f->size - (size_t)off;
	memcpy(buf, f->data + off, len);
	return (ssize_t)len;
}

int ckfs_multi_lseek(struct ckfs_multi_file *f, uint64_t off, int whence,
		     uint64_t *out)
{
	if (f->n)
		return ckfs_tree_lseek(f->t, f->n, off, whence, out);
	if (off >= f->size)
		return -ENXIO;
	*out = whence == SEEK_DATA ? off : f->size;
	return 0;
}

/* ---- directories ---- */

static int list_root(struct ckfs_multi *m, struct ckfs_multi_dir *d)
{
	size_t n = __atomic_load_n(&m->nslots, __ATOMIC_ACQUIRE), k = 0;

	d->ents = calloc(2 * n + 2, sizeof(*d->ents));
	if (!d->ents)
		return -ENOMEM;
	d->ents[k++] =
		(struct dent){ .name = strdup(list_name), .ino = TOP_LIST };
	d->ents[k++] =
		(struct dent){ .name = strdup(json_name), .ino = TOP_JSON };
	for (size_t i = 1; i <= n; i++) {
		struct slot *s = m->slots[i];

		if (!__atomic_load_n(&s->present, __ATOMIC_ACQUIRE))
			continue;
		d->ents[k++] = (struct dent){
			.name = strdup(s->name),
			.ino = (uint64_t)i << CKFS_MULTI_SLOT_SHIFT | 1,
		};
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) < 0) {
			if (asprintf(&d->ents[k].name, "%s%s", s->name,
				     err_suffix) < 0)
				d->ents[k].name = NULL;
			d->ents[k++].ino = TOP_ERR_BASE + i;
		}
	}
	d->n = k;
	for (size_t i = 0; i < k; i++)
		if (!d->ents[i].name)
			return -ENOMEM;
	return 0;
}

int ckfs_multi_opendir(struct ckfs_multi *m, uint64_t ino,
		       struct ckfs_multi_dir **out, bool *keep_cache)
{
	struct ckfs_multi_dir *d;
	struct ref ref;
	int r;

	*out = NULL;
	if (!m->single && ino == TOP_ROOT)
		rescan(m);
	r = resolve(m, ino, &ref);
	if (r == 0 && ref.kind == REF_SLOTDIR) {
		r = slot_open(m, ref.s);
		if (r == 0)
			r = resolve(m, ino, &ref);
	}
	if (r < 0)
		return r;
	if (ref.kind != REF_NODE && ref.kind != REF_ROOT)
		return -ENOTDIR;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->m = m;
	d->ino = ino;
	if (ref.kind == REF_ROOT) {
		*keep_cache = false;
		r = list_root(m, d);
	} else {
		*keep_cache = true;
		d->t = ref.t;
		d->dir = ref.n;
		d->base = ref.base;
		r = ckfs_tree_children(ref.t, ref.n, &d->c, &d->nc);
	}
	if (r < 0) {
		dir_free(d);
		return r;
	}
	handle_link(m, &d->h, true);
	*out = d;
	return 0;
}

void ckfs_multi_releasedir(struct ckfs_multi_dir *d)
{
	if (!d)
		return;
	handle_unlink(&d->h);
	dir_free(d);
}

int ckfs_multi_dirent(struct ckfs_multi_dir *d, size_t i, bool plus,
		      const char **name, struct ckfs_multi_ent *e)
{
	struct ckfs_multi *m = d->m;
	size_t count = (d->dir ? d->nc : d->n) + 2;
	struct ckfs_node *n = NULL;
	bool vol;

	if (i >= count)
		return 0;
	memset(e, 0, sizeof(*e));
	if (i == 0) {
		*name = ".";
		e->ino = d->ino;
	} else if (i == 1) {
		*name = "..";
		if (!d->dir || (d->base && d->dir->ino == 1))
			e->ino = TOP_ROOT;
		else
			e->ino = d->base | d->dir->parent;
	} else if (d->dir) {
		n = ckfs_tree_node(d->t, d->c[i - 2]);
		*name = n->name;
		e->ino = d->base | n->ino;
	} else {
		*name = d->ents[i - 2].name;
		e->ino = d->ents[i - 2].ino;
	}
	if (e->ino == TOP_LIST || e->ino == TOP_JSON) {
		/* their size means opening every archive: leave it to stat */
		e->st.st_mode = S_IFREG | 0444;
		e->attr_failed = true;
	} else if (n && !plus) {
		e->st.st_mode = n->mode;
		e->attr_failed = true;
	} else if (ckfs_multi_stat(m, e->ino, &e->st, &vol) < 0) {
		memset(&e->st, 0, sizeof(e->st));
		if (n)
			e->st.st_mode = n->mode;
		e->attr_failed = true;
	} else {
		e->volatile_ = vol;
	}
	e->st.st_ino = e->ino;
	return 1;
}
