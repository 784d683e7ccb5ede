/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mount's inode space (see multi.h): one tree, or a directory of
 * archives with a tree each, opened on first access and closed when idle.
 * The slot table only grows, and a slot lives until ckfs_multi_free().
 *
 * A slot's tree is held (s->refs) by every request that uses it, from
 * resolving the inode number to the last use of a node, and by every
 * file or directory handle open below it; s->nlookup counts the kernel's
 * lookups of its inodes, but for its directory (slot | 1), which never
 * needs the tree: its attributes are made up, and looking into it opens
 * the archive.  An inode number the kernel holds is counted before the
 * reply that hands it out, and uncounted only when the kernel forgets it,
 * so a request naming any other inode of the slot finds nlookup > 0.
 * ckfs_multi_idle() frees a tree only under s->lock with refs == 0 and
 * nlookup == 0, so no request and no inode number can reach a freed tree;
 * the next use opens a new one, under another generation.
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
#include <unistd.h>

#include "archive/archive.h"
#include "base/clock.h"
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

/* What `checkpoints` shows of an archive, kept across a close. */
struct facts {
	char *ns, *pod, *ctr, *engine, *checkpointed;
};

struct slot {
	size_t idx;
	char *name;
	char *path;
	int64_t mtime; /* atomic */
	bool present;  /* atomic: in the directory at the last scan */
	pthread_mutex_t open_lock; /* one open at a time */
	pthread_mutex_t lock;	   /* the fields below (short sections only) */
	int state; /* also atomic reads: 0 closed, 1 open, < 0 failed */
	char msg[CKFS_ERR_MSG_MAX]; /* why it failed: set once, before state */
	struct ckfs_ckpt *ck;
	struct ckfs_tree *t;
	uint32_t gen;	     /* the tree's generation: bumped at each close */
	unsigned refs;	     /* requests and handles holding t */
	uint64_t nlookup;    /* kernel lookups of t's inodes but its root */
	int64_t last_use;    /* when a hold was last dropped */
	int64_t inval_at;    /* when an invalidation was last asked for */
	bool known;	     /* facts read at an open ... */
	int64_t facts_mtime; /* ... of the file with this mtime */
	struct facts facts;
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
	struct slot *s;	     /* holding s->t, or NULL */
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
	struct slot *s; /* holding s->t, or NULL */
	uint32_t gen;
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
	bool held; /* REF_NODE of a slot: s->t held, until ref_put() */
	uint32_t gen;
};

static bool has_images(int dfd)
{
	for (size_t i = 0; i < CKFS_CKPT_MARKERS; i++)
		if (faccessat(dfd, ckfs_ckpt_markers[i], F_OK,
			      AT_SYMLINK_NOFOLLOW) == 0)
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

static void facts_free(struct facts *f)
{
	free(f->ns);
	free(f->pod);
	free(f->ctr);
	free(f->engine);
	free(f->checkpointed);
	memset(f, 0, sizeof(*f));
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*oom = true;
	return d;
}

/* Copy @ct's list facts: 0 or -ENOMEM. */
static int facts_copy(struct facts *f, const struct ckfs_container *ct)
{
	bool oom = false;

	f->ns = dup_or_null(ct->pod_namespace, &oom);
	f->pod = dup_or_null(ct->pod_name, &oom);
	f->ctr = dup_or_null(ct->name, &oom);
	f->engine = dup_or_null(ct->engine, &oom);
	f->checkpointed = dup_or_null(ct->checkpointed, &oom);
	if (oom) {
		facts_free(f);
		return -ENOMEM;
	}
	return 0;
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
		facts_free(&s->facts);
		pthread_mutex_destroy(&s->lock);
		pthread_mutex_destroy(&s->open_lock);
		free(s->name);
		free(s->path);
		free(s);
	}
	pthread_mutex_destroy(&m->lock);
	free(m->path);
	free(m);
}

/* ---- the directory and its slots ---- */

static struct slot *slot_at(struct ckfs_multi *m, uint64_t idx)
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
	pthread_mutex_init(&s->open_lock, NULL);
	pthread_mutex_init(&s->lock, NULL);
	s->gen = 1;
	m->slots[s->idx] = s;
	__atomic_store_n(&m->nslots, s->idx, __ATOMIC_RELEASE);
	return s;
}

/* Rescan the directory, at most once a second. */
static void rescan(struct ckfs_multi *m)
{
	_cleanup_free_ bool *seen = NULL;
	struct dirent *de;
	int64_t t = ckfs_now_ns();
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

/*
 * Hold @s's tree if it is open: 0, its tree and generation; -ENOENT if it
 * is closed, -EIO if its archive cannot be served.
 */
static int slot_hold(struct slot *s, struct ckfs_tree **t, uint32_t *gen)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = s->state;
	if (r == 1) {
		s->refs++;
		*t = s->t;
		*gen = s->gen;
	}
	pthread_mutex_unlock(&s->lock);
	return r == 1 ? 0 : r < 0 ? -EIO : -ENOENT;
}

/* Drop a hold, counting @lookups kernel lookups made under it. */
static void slot_put(struct slot *s, uint64_t lookups)
{
	int64_t t = ckfs_now_ns();

	pthread_mutex_lock(&s->lock);
	s->refs--;
	s->nlookup += lookups;
	s->last_use = t;
	pthread_mutex_unlock(&s->lock);
}

/* Open @s (closed; under s->open_lock) and hold it, as slot_hold(). */
static int slot_open_held(struct ckfs_multi *m, struct slot *s,
			  struct ckfs_tree **tp, uint32_t *gen)
{
	int64_t mtime = __atomic_load_n(&s->mtime, __ATOMIC_RELAXED);
	struct ckfs_err err = { 0 };
	struct ckfs_tree *t = NULL;
	struct ckfs_ckpt *ck = NULL;
	struct facts f = { 0 }, old;
	int r;

	r = ckfs_ckpt_open(s->path, &ck, &err);
	if (r == 0)
		r = ckfs_archive_status(ckfs_ckpt_archive(ck), &err);
	if (r == 0) {
		r = ckfs_tree_new(ck, &m->opts, &t);
		if (r == 0)
			r = facts_copy(&f, ckfs_ckpt_container(ck));
		if (r < 0)
			ckfs_err_set(&err, r, "%s: %s", s->path, strerror(-r));
	}
	if (r < 0) {
		ckfs_tree_free(t);
		ckfs_ckpt_free(ck);
		pthread_mutex_lock(&s->lock);
		/* the reason already names the file */
		snprintf(s->msg, sizeof(s->msg), "%s", err.msg);
		__atomic_store_n(&s->state, -EIO, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&s->lock);
		return -EIO;
	}
	pthread_mutex_lock(&s->lock);
	s->ck = ck;
	s->t = t;
	s->refs++;
	s->last_use = ckfs_now_ns();
	old = s->facts;
	s->facts = f;
	s->known = true;
	s->facts_mtime = mtime;
	*tp = t;
	*gen = s->gen;
	__atomic_store_n(&s->state, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&s->lock);
	facts_free(&old);
	return 0;
}

/*
 * Hold @s's tree, opening the archive if it is closed: 0, or -EIO when
 * it cannot be served.  Release with slot_put().
 */
static int slot_get(struct ckfs_multi *m, struct slot *s, struct ckfs_tree **t,
		    uint32_t *gen)
{
	int r = slot_hold(s, t, gen);

	if (r != -ENOENT)
		return r;
	pthread_mutex_lock(&s->open_lock);
	r = slot_hold(s, t, gen);
	if (r == -ENOENT)
		r = slot_open_held(m, s, t, gen);
	pthread_mutex_unlock(&s->open_lock);
	return r;
}

/*
 * Detach @s's tree if nothing uses it (no request, handle or kernel
 * inode: refs == 0 and nlookup == 0) and it has been idle @idle_ns; the
 * caller frees what it gets in *@t and *@ck (NULL: kept).  Returns true
 * when it is kept only because the kernel still holds some inode.
 */
static bool slot_detach(struct slot *s, int64_t now, int64_t idle_ns,
			struct ckfs_tree **t, struct ckfs_ckpt **ck)
{
	bool held = false;

	*t = NULL;
	*ck = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->state == 1 && s->refs == 0 && now - s->last_use >= idle_ns) {
		if (s->nlookup == 0) {
			*t = s->t;
			*ck = s->ck;
			s->t = NULL;
			s->ck = NULL;
			s->gen++;
			__atomic_store_n(&s->state, 0, __ATOMIC_RELEASE);
		} else {
			held = true;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return held;
}

/*
 * Whether @s's archive opens: 0 or -EIO.  Known from its last open while
 * the file is unchanged; else it is opened, its facts kept, and closed
 * again at once unless something came to use it meanwhile: listing a
 * directory of big compressed archives holds one decode cache at a time.
 */
static int slot_check(struct ckfs_multi *m, struct slot *s)
{
	struct ckfs_tree *t;
	uint32_t gen;
	bool known;
	int r;

	pthread_mutex_lock(&s->lock);
	r = s->state;
	known = s->known &&
		s->facts_mtime == __atomic_load_n(&s->mtime, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return -EIO;
	if (r == 1 || known)
		return 0;
	r = slot_get(m, s, &t, &gen);
	if (r == 0) {
		struct ckfs_ckpt *ck;

		slot_put(s, 0);
		(void)slot_detach(s, ckfs_now_ns(), 0, &t, &ck);
		ckfs_tree_free(t);
		ckfs_ckpt_free(ck);
	}
	return r;
}

void ckfs_multi_remember(struct ckfs_multi *m, uint64_t ino)
{
	struct slot *s;

	if (m->single || (ino & LOCAL_MASK) == 1 ||
	    !(s = slot_at(m, ino >> CKFS_MULTI_SLOT_SHIFT)))
		return;
	pthread_mutex_lock(&s->lock);
	s->nlookup++;
	pthread_mutex_unlock(&s->lock);
}

void ckfs_multi_forget(struct ckfs_multi *m, uint64_t ino, uint64_t n)
{
	struct slot *s;

	if (m->single || (ino & LOCAL_MASK) == 1 ||
	    !(s = slot_at(m, ino >> CKFS_MULTI_SLOT_SHIFT)))
		return;
	pthread_mutex_lock(&s->lock);
	s->nlookup = n < s->nlookup ? s->nlookup - n : 0;
	pthread_mutex_unlock(&s->lock);
}

int ckfs_multi_idle(struct ckfs_multi *m, int64_t now, int64_t idle_ns,
		    void (*inval)(void *arg, const char *name), void *arg)
{
	size_t n = 0;
	int closed = 0;

	if (!m->single)
		n = __atomic_load_n(&m->nslots, __ATOMIC_ACQUIRE);

	for (size_t i = 1; i <= n; i++) {
		struct slot *s = m->slots[i];
		struct ckfs_tree *t;
		struct ckfs_ckpt *ck;
		bool ask = false;

		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != 1)
			continue;
		if (slot_detach(s, now, idle_ns, &t, &ck)) {
			pthread_mutex_lock(&s->lock);
			if (now - s->inval_at >= idle_ns) {
				/* again later, should it keep some inode */
				s->inval_at = now;
				ask = true;
			}
			pthread_mutex_unlock(&s->lock);
		}
		if (t) {
			/* no inode number, request or handle reaches it */
			ckfs_tree_free(t);
			ckfs_ckpt_free(ck);
			closed++;
		}
		if (ask && inval)
			inval(arg, s->name);
	}
	return closed;
}

/* ---- inode numbers ---- */

/*
 * What @ino stands for.  A node of a slot's tree comes held (ref_put()),
 * with the tree's generation; a slot's directory is REF_SLOTDIR, or with
 * @open its tree's root, the archive opened if need be (-EIO if it cannot
 * be).  The directory itself always has generation 1: it outlives trees.
 */
static int resolve(struct ckfs_multi *m, uint64_t ino, struct ref *ref,
		   bool open)
{
	uint64_t local = ino & LOCAL_MASK;
	struct slot *s;
	int r;

	memset(ref, 0, sizeof(*ref));
	ref->gen = 1;
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
			 (ref->s = slot_at(m, local - TOP_ERR_BASE)) &&
			 __atomic_load_n(&ref->s->state, __ATOMIC_ACQUIRE) < 0)
			ref->kind = REF_ERR;
		else
			return -ENOENT;
		return 0;
	}
	s = slot_at(m, ino >> CKFS_MULTI_SLOT_SHIFT);
	if (!s)
		return -ENOENT;
	ref->s = s;
	if (local == 1 && !open) {
		ref->kind = REF_SLOTDIR;
		return 0;
	}
	if (local == 1)
		r = slot_get(m, s, &ref->t, &ref->gen);
	else if (slot_hold(s, &ref->t, &ref->gen) < 0)
		r = -ENOENT; /* not an inode the kernel can hold */
	else
		r = 0;
	if (r < 0)
		return r;
	ref->held = true;
	ref->base = ino & ~LOCAL_MASK;
	ref->n = ckfs_tree_node(ref->t, local);
	if (!ref->n) {
		slot_put(s, 0);
		ref->held = false;
		return -ENOENT;
	}
	return 0;
}

/* Drop what resolve() holds, counting @lookups kernel lookups under it. */
static void ref_put(struct ref *ref, uint64_t lookups)
{
	if (ref->held)
		slot_put(ref->s, lookups);
	ref->held = false;
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
	int r = resolve(m, ino, &ref, false);

	*volatile_ = !m->single && ref.kind != REF_NODE;
	if (r < 0)
		return r;
	r = ref_stat(m, &ref, ino, st);
	ref_put(&ref, 0);
	return r;
}

/*
 * A slot's directory: made up (the file's mtime), open or not, so that
 * neither listing nor stat'ing the root opens an archive and a close
 * changes nothing the kernel has cached.
 */
static int slot_entry(struct ckfs_multi *m, struct slot *s,
		      struct ckfs_multi_ent *e)
{
	struct ref ref;

	e->ino = (uint64_t)s->idx << CKFS_MULTI_SLOT_SHIFT | 1;
	e->generation = 1;
	e->volatile_ = true;
	if (resolve(m, e->ino, &ref, false) < 0)
		return -ENOENT;
	e->attr_failed = ref_stat(m, &ref, e->ino, &e->st) < 0;
	return 0;
}

/* An entry of the root level (never held, never counted). */
static int top_entry(struct ckfs_multi *m, uint64_t ino,
		     struct ckfs_multi_ent *e)
{
	struct ref ref;
	int r = resolve(m, ino, &ref, false);

	if (r < 0)
		return r;
	e->ino = ino;
	e->generation = 1;
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
	    (s = slot_by_name(m, name, len - sl)) && slot_check(m, s) < 0)
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
	r = resolve(m, parent, &ref, true);
	if (r < 0)
		return r;
	if (ref.kind != REF_NODE)
		return -ENOTDIR;
	if (ref.base && ref.n->ino == 1 && strcmp(name, "..") == 0) {
		ref_put(&ref, 0);
		return top_entry(m, TOP_ROOT, e);
	}
	r = ckfs_tree_lookup(ref.t, ref.n, name, &n);
	if (r < 0) {
		ref_put(&ref, 0);
		return r;
	}
	if (ref.base && n->ino == 1) {
		/* the slot's directory ("." or ".."): the same open or not */
		ref_put(&ref, 0);
		return slot_entry(m, ref.s, e);
	}
	e->ino = ref.base | n->ino;
	e->generation = ref.gen;
	r = ckfs_tree_stat(ref.t, n, &e->st);
	e->st.st_ino = e->ino;
	if (r < 0) {
		e->st.st_mode = n->mode;
		e->attr_failed = true;
		r = r == -EIO ? 0 : r;
	}
	/* counted while held: the tree cannot close before the reply */
	ref_put(&ref, r == 0 && ref.base ? 1 : 0);
	return r;
}

int ckfs_multi_readlink(struct ckfs_multi *m, uint64_t ino, char **out)
{
	const char *target;
	struct ref ref;
	int r = resolve(m, ino, &ref, false);

	*out = NULL;
	if (r < 0)
		return r;
	if (ref.kind != REF_NODE)
		r = -EINVAL;
	else
		r = ckfs_tree_readlink(ref.t, ref.n, &target);
	if (r == 0 && !(*out = strdup(target)))
		r = -ENOMEM;
	ref_put(&ref, 0);
	return r;
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

/*
 * Present slots, sorted by name, each known to open or not: opened unless
 * the facts of its last open are those of the file as it is now.
 */
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
		slot_check(m, v[i]);
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
		struct slot *s = v[i];
		const struct facts *f = &s->facts;
		char *row;

		pthread_mutex_lock(&s->lock);
		/* as checkpointctl: one that fails is skipped (see .error) */
		if (s->state >= 0 && s->known) {
			row = cells + (++rows) * NCOLS * cw;
			snprintf(row + COL_NS * cw, cw, "%s", or_dash(f->ns));
			snprintf(row + COL_POD * cw, cw, "%s", or_dash(f->pod));
			snprintf(row + COL_CTR * cw, cw, "%s", or_dash(f->ctr));
			snprintf(row + COL_ENGINE * cw, cw, "%s",
				 or_dash(f->engine));
			rfc822z(f->checkpointed, row + COL_TIME * cw, cw);
			snprintf(row + COL_NAME * cw, cw, "%s", s->name);
		}
		pthread_mutex_unlock(&s->lock);
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
		struct slot *s = v[i];
		const struct facts *f = NULL;

		if (!o)
			break;
		pthread_mutex_lock(&s->lock);
		if (s->state >= 0 && s->known)
			f = &s->facts;
		put(o, "checkpoint_name", s->name);
		put(o, "namespace", f ? f->ns : NULL);
		put(o, "pod", f ? f->pod : NULL);
		put(o, "container", f ? f->ctr : NULL);
		put(o, "engine", f ? f->engine : NULL);
		put(o, "checkpointed", f ? f->checkpointed : NULL);
		put(o, "error", f ? NULL : s->msg);
		pthread_mutex_unlock(&s->lock);
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
	int r = resolve(m, ino, &ref, false);

	*out = NULL;
	if (r < 0)
		return r;
	if (ref.kind == REF_ROOT || ref.kind == REF_SLOTDIR ||
	    (ref.kind == REF_NODE && S_ISDIR(ref.n->mode))) {
		ref_put(&ref, 0);
		return -EISDIR;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		ref_put(&ref, 0);
		return -ENOMEM;
	}
	if (ref.kind == REF_NODE) {
		/* the handle keeps the hold until released */
		f->s = ref.held ? ref.s : NULL;
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
	if (f->s)
		slot_put(f->s, 0);
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

ssize_t ckfs_multi_read_segs(struct ckfs_multi_file *f, struct ckfs_seg *seg,
			     size_t *nseg, size_t len, uint64_t off)
{
	if (!f->n)
		return -ENOTSUP;
	return ckfs_tree_segs(f->t, f->n, seg, nseg, len, off);
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
	r = resolve(m, ino, &ref, true);
	if (r < 0)
		return r;
	if (ref.kind != REF_NODE && ref.kind != REF_ROOT) {
		ref_put(&ref, 0);
		return -ENOTDIR;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		ref_put(&ref, 0);
		return -ENOMEM;
	}
	d->m = m;
	d->ino = ino;
	if (ref.kind == REF_ROOT) {
		*keep_cache = false;
		r = list_root(m, d);
	} else {
		/*
		 * A slot's directory outlives its trees, and a new tree may
		 * be of a new file: its listing is not kept by the kernel.
		 */
		*keep_cache = !(ref.base && ref.n->ino == 1);
		d->t = ref.t;
		d->dir = ref.n;
		d->base = ref.base;
		d->gen = ref.gen;
		r = ckfs_tree_children(ref.t, ref.n, &d->c, &d->nc);
	}
	if (r < 0) {
		ref_put(&ref, 0);
		dir_free(d);
		return r;
	}
	/* the handle keeps the hold until released */
	d->s = ref.held ? ref.s : NULL;
	handle_link(m, &d->h, true);
	*out = d;
	return 0;
}

void ckfs_multi_releasedir(struct ckfs_multi_dir *d)
{
	if (!d)
		return;
	handle_unlink(&d->h);
	if (d->s)
		slot_put(d->s, 0);
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
	/* a node of this tree, else a slot's directory or the root level */
	e->generation = 1;
	if ((e->ino >> CKFS_MULTI_SLOT_SHIFT) && (e->ino & LOCAL_MASK) != 1)
		e->generation = d->gen;
	return 1;
}
