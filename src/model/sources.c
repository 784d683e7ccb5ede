/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Page sources outside the image directory itself (criu-format.md §3.3,
 * §3.5): the pagemaps of parent dumps, reached through the image
 * directory's `parent` symlink, and the files of the container's root
 * filesystem given with -o rootfs.
 *
 * The parent chain is resolved inside the archive only: a `parent` link
 * is a member of the archive, its target is taken relative to the image
 * directory and may neither be absolute nor climb above the archive's top,
 * so no host path is ever looked at.  The chain is at most
 * CKFS_PARENT_DEPTH_MAX deep and a directory met twice ends it (a loop).
 * Each parent pagemap is loaded once and kept.  Rootfs files are opened
 * with openat2(RESOLVE_IN_ROOT) below the rootfs directory, once each.
 * Everything here sits behind one mutex of its own, taken after (never
 * while holding) the checkpoint's lock.
 */
#include "model/model_i.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/mem.h"

#define LINKS_MAX 40 /* symlinks followed to resolve one `parent` link */

struct layer {
	char *fname;
	unsigned int depth;
	int state; /* 1 loaded, -EIO broken */
	char why[CKFS_UNIT_MSG_MAX];
	struct ckfs_pagemap pm;
	const struct ckfs_member *pages;
};

struct rfile {
	uint32_t id;
	int state; /* 1 open, -ENOENT not available */
	int fd;
	uint64_t size;
	const char *why;
};

struct ckfs_memsrc {
	pthread_mutex_t lock; /* guards everything below */
	bool chain_done;
	unsigned int nparents; /* dir[1..nparents] found */
	char *dir[CKFS_PARENT_DEPTH_MAX + 1]; /* image dir prefixes */
	char chain_why[CKFS_UNIT_MSG_MAX]; /* why the chain stops */
	size_t nlayers, caplayers;
	struct layer **layers;
	int rootfs; /* O_PATH directory, -1: none */
	size_t nfiles, capfiles;
	struct rfile *files;
};

/*
 * snprintf() that may truncate (messages, and names checked against the
 * archive afterwards): returns false when @out was too small.
 */
static bool fmt(char *out, size_t size, const char *f, ...)
	__attribute__((format(printf, 3, 4)));
static bool fmt(char *out, size_t size, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(out, size, f, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < size;
}

static struct ckfs_memsrc *memsrc(struct ckfs_ckpt *ck)
{
	struct ckfs_memsrc *ms;

	pthread_mutex_lock(&ck->lock);
	ms = ck->ms;
	if (!ms && (ms = calloc(1, sizeof(*ms)))) {
		pthread_mutex_init(&ms->lock, NULL);
		ms->rootfs = -1;
		ck->ms = ms;
	}
	pthread_mutex_unlock(&ck->lock);
	return ms;
}

void ckfs_memsrc_free(struct ckfs_memsrc *ms)
{
	size_t i;

	if (!ms)
		return;
	for (i = 0; i <= CKFS_PARENT_DEPTH_MAX; i++)
		free(ms->dir[i]);
	for (i = 0; i < ms->nlayers; i++) {
		ckfs_pagemap_fini(&ms->layers[i]->pm);
		free(ms->layers[i]->fname);
		free(ms->layers[i]);
	}
	free(ms->layers);
	for (i = 0; i < ms->nfiles; i++)
		if (ms->files[i].fd >= 0)
			close(ms->files[i].fd);
	free(ms->files);
	if (ms->rootfs >= 0)
		close(ms->rootfs);
	pthread_mutex_destroy(&ms->lock);
	free(ms);
}

/* ---- the parent chain ---- */

/* Drop the last component of @path ("a/b" -> "a", "a" -> ""). */
static void strip_last(char *path)
{
	char *s = strrchr(path, '/');

	if (s)
		*s = '\0';
	else
		path[0] = '\0';
}

/*
 * Resolve symlink target @target, found in directory @base ("" or "a/b/"),
 * inside the archive.  Symlink members met on the way are followed, at
 * most LINKS_MAX of them; an absolute target, or one that climbs above the
 * top, is refused.  On success @out holds the directory prefix ("" or
 * "x/y/").  Returns 0, or -EINVAL with a reason in *@why.
 */
static int resolve_in_archive(struct ckfs_archive *ar, const char *base,
			      const char *target, char *out, size_t outsz,
			      const char **why)
{
	char cur[CKFS_ARCHIVE_NAME_MAX], left[CKFS_ARCHIVE_NAME_MAX];
	char next[CKFS_ARCHIVE_NAME_MAX];
	unsigned int links = 0;
	size_t n;

	if (snprintf(cur, sizeof(cur), "%s", base) >= (int)sizeof(cur) ||
	    snprintf(left, sizeof(left), "%s", target) >= (int)sizeof(left))
		goto too_long;
	n = strlen(cur);
	if (n && cur[n - 1] == '/')
		cur[n - 1] = '\0';
	if (left[0] == '/') {
		*why = "absolute, so it would leave the archive";
		return -EINVAL;
	}
	while (left[0]) {
		char *slash = strchr(left, '/');
		const char *rest = slash ? slash + 1 : "";
		const struct ckfs_member *m;
		size_t len;

		if (slash)
			*slash = '\0';
		if (!left[0] || strcmp(left, ".") == 0) {
			memmove(left, rest, strlen(rest) + 1);
			continue;
		}
		if (strcmp(left, "..") == 0) {
			if (!cur[0]) {
				*why = "it climbs above the top of the archive";
				return -EINVAL;
			}
			strip_last(cur);
			memmove(left, rest, strlen(rest) + 1);
			continue;
		}
		len = strlen(cur);
		if (snprintf(cur + len, sizeof(cur) - len, "%s%s",
			     len ? "/" : "", left) >= (int)(sizeof(cur) - len))
			goto too_long;
		m = ckfs_archive_find(ar, cur);
		if (m && m->type == CKFS_MEMBER_SYMLINK) {
			if (++links > LINKS_MAX) {
				*why = "too many levels of symbolic links";
				return -EINVAL;
			}
			if (!m->link || m->link[0] == '/') {
				*why = "a symlink on the way is absolute, so it would leave the archive";
				return -EINVAL;
			}
			strip_last(cur);
			if (!fmt(next, sizeof(next), "%s%s%s", m->link,
				 rest[0] ? "/" : "", rest))
				goto too_long;
			memcpy(left, next, sizeof(left));
			continue;
		}
		memmove(left, rest, strlen(rest) + 1);
	}
	if (snprintf(out, outsz, "%s%s", cur, cur[0] ? "/" : "") >= (int)outsz)
		goto too_long;
	return 0;
too_long:
	*why = "the resolved name is too long";
	return -EINVAL;
}

/* Find dir[1..] by following `parent` from the image directory. */
static void resolve_chain(struct ckfs_ckpt *ck, struct ckfs_memsrc *ms)
{
	char name[CKFS_ARCHIVE_NAME_MAX], out[CKFS_ARCHIVE_NAME_MAX];
	char *why_buf = ms->chain_why;
	size_t why_len = sizeof(ms->chain_why);
	unsigned int k, j;

	ms->chain_done = true;
	ms->dir[0] = strdup(ck->dir);
	if (!ms->dir[0]) {
		fmt(why_buf, why_len, "out of memory");
		return;
	}
	for (k = 1;; k++) {
		const struct ckfs_member *m;
		const char *why = NULL;

		if (!fmt(name, sizeof(name), "%sparent", ms->dir[k - 1])) {
			fmt(why_buf, why_len, "a parent's name is too long");
			return;
		}
		m = ckfs_archive_find(ck->ar, name);
		if (!m)
			return; /* the oldest dump: the chain ends here */
		if (k > CKFS_PARENT_DEPTH_MAX) {
			fmt(why_buf, why_len, "%s: more than %u parent dumps",
			    name, CKFS_PARENT_DEPTH_MAX);
			return;
		}
		if (m->type == CKFS_MEMBER_DIR) {
			fmt(out, sizeof(out), "%s/", name);
		} else if (m->type != CKFS_MEMBER_SYMLINK) {
			fmt(why_buf, why_len,
			    "%s: not a symlink to the parent dump", name);
			return;
		} else if (resolve_in_archive(ck->ar, ms->dir[k - 1], m->link,
					      out, sizeof(out), &why) < 0) {
			fmt(why_buf, why_len, "%s -> %s: %s", name, m->link,
			    why);
			return;
		}
		for (j = 0; j < k; j++) {
			if (strcmp(out, ms->dir[j]) == 0) {
				fmt(why_buf, why_len,
				    "%s -> %s: the parent links form a loop",
				    name, m->link ? m->link : "");
				return;
			}
		}
		ms->dir[k] = strdup(out);
		if (!ms->dir[k]) {
			fmt(why_buf, why_len, "out of memory");
			return;
		}
		ms->nparents = k;
	}
}

static void load_layer(struct ckfs_ckpt *ck, struct ckfs_memsrc *ms,
		       struct layer *l, uint64_t page_size)
{
	char name[CKFS_ARCHIVE_NAME_MAX], pages[CKFS_ARCHIVE_NAME_MAX];
	struct ckfs_err err = { 0 };

	l->state = -EIO;
	if (l->depth > ms->nparents) {
		fmt(l->why, sizeof(l->why), "%s",
		    ms->chain_why[0] ? ms->chain_why :
				       "the dump has no `parent` link");
		return;
	}
	if (!fmt(name, sizeof(name), "%s%s", ms->dir[l->depth], l->fname) ||
	    !ckfs_archive_find(ck->ar, name)) {
		fmt(l->why, sizeof(l->why), "%s: missing from the parent dump",
		    name);
		return;
	}
	if (ckfs_img_read_pagemap(ck->ar, name, page_size, &l->pm, &err) < 0) {
		fmt(l->why, sizeof(l->why), "%s", err.msg);
		return;
	}
	if (fmt(pages, sizeof(pages), "%spages-%u.img", ms->dir[l->depth],
		l->pm.pages_id))
		l->pages = ckfs_archive_find(ck->ar, pages);
	if (l->pm.pages_bytes &&
	    (!l->pages || l->pm.pages_bytes > l->pages->size)) {
		fmt(l->why, sizeof(l->why),
		    "%s: its pages image %s is missing or short", name, pages);
		return;
	}
	l->state = 1;
}

int ckfs_parent_layer(struct ckfs_ckpt *ck, const char *fname,
		      unsigned int depth, uint64_t page_size,
		      struct ckfs_pm_layer *out, const char **why)
{
	struct ckfs_memsrc *ms = memsrc(ck);
	struct layer *l = NULL;
	size_t i;
	int r;

	*why = "out of memory";
	if (!ms)
		return -EIO;
	pthread_mutex_lock(&ms->lock);
	if (!ms->chain_done)
		resolve_chain(ck, ms);
	for (i = 0; i < ms->nlayers && !l; i++)
		if (ms->layers[i]->depth == depth &&
		    strcmp(ms->layers[i]->fname, fname) == 0)
			l = ms->layers[i];
	if (!l) {
		if (ms->nlayers == ms->caplayers) {
			size_t cap = ms->caplayers ? ms->caplayers * 2 : 8;
			struct layer **n = reallocarray(ms->layers, cap,
							sizeof(*n));

			if (!n)
				goto oom;
			ms->layers = n;
			ms->caplayers = cap;
		}
		l = calloc(1, sizeof(*l));
		if (!l || !(l->fname = strdup(fname))) {
			free(l);
			goto oom;
		}
		l->depth = depth;
		load_layer(ck, ms, l, page_size);
		ms->layers[ms->nlayers++] = l;
	}
	r = l->state;
	pthread_mutex_unlock(&ms->lock);
	out->pm = &l->pm;
	out->pages = l->pages;
	*why = l->why;
	return r < 0 ? -EIO : 0;
oom:
	pthread_mutex_unlock(&ms->lock);
	return -EIO;
}

/* ---- the rootfs ---- */

void ckfs_ckpt_set_rootfs(struct ckfs_ckpt *ck, int dirfd)
{
	struct ckfs_memsrc *ms = memsrc(ck);

	if (!ms) {
		close(dirfd);
		return;
	}
	pthread_mutex_lock(&ms->lock);
	if (ms->rootfs >= 0)
		close(ms->rootfs);
	ms->rootfs = dirfd;
	pthread_mutex_unlock(&ms->lock);
}

/* Open @path below @root as if @root were '/'; an fd or -errno. */
static int open_in_root(int root, const char *path)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, root, path, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

static bool was_deleted(const struct ckfs_ckpt *ck, uint32_t id)
{
	size_t i;

	for (i = 0; i < ck->nremaps; i++)
		if (ck->remaps[i].orig_id == id)
			return true;
	return false;
}

static void open_rfile(struct ckfs_ckpt *ck, const struct ckfs_files *fl,
		       int root, struct rfile *rf)
{
	const struct ckfs_file *f = fl ? ckfs_files_find(fl, rf->id) : NULL;
	struct stat st;
	int fd;

	rf->state = -ENOENT;
	rf->fd = -1;
	if (!f || f->type != CKFS_FD_REG || !f->name || f->name[0] != '/') {
		rf->why = "the mapped file has no path in files.img";
		return;
	}
	if (was_deleted(ck, rf->id)) {
		rf->why = "the mapped file was deleted before the dump";
		return;
	}
	fd = open_in_root(root, f->name);
	if (fd < 0) {
		rf->why = fd == -ENOSYS ?
				  "openat2() is not available" :
				  "the mapped file is not in the rootfs";
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		rf->why = "the rootfs entry is not a regular file";
		return;
	}
	rf->fd = fd;
	rf->size = (uint64_t)st.st_size;
	rf->state = 1;
	rf->why = "";
}

int ckfs_rootfs_file(struct ckfs_ckpt *ck, uint32_t id, int *fd,
		     uint64_t *size, const char **why)
{
	struct ckfs_memsrc *ms = memsrc(ck);
	const struct ckfs_files *fl;
	struct rfile *rf = NULL;
	size_t i;
	int r;

	*why = "no rootfs was given (-o rootfs=DIR)";
	if (!ms || ms->rootfs < 0)
		return -ENOENT;
	fl = ckfs_ckpt_files(ck); /* takes ck->lock: before ms->lock */
	pthread_mutex_lock(&ms->lock);
	for (i = 0; i < ms->nfiles && !rf; i++)
		if (ms->files[i].id == id)
			rf = &ms->files[i];
	if (!rf) {
		if (ms->nfiles == ms->capfiles) {
			size_t cap = ms->capfiles ? ms->capfiles * 2 : 16;
			struct rfile *n = reallocarray(ms->files, cap,
						       sizeof(*n));

			if (!n) {
				pthread_mutex_unlock(&ms->lock);
				*why = "out of memory";
				return -ENOENT;
			}
			ms->files = n;
			ms->capfiles = cap;
		}
		rf = &ms->files[ms->nfiles++];
		rf->id = id;
		open_rfile(ck, fl, ms->rootfs, rf);
	}
	r = rf->state;
	*fd = rf->fd;
	*size = rf->size;
	*why = rf->why;
	pthread_mutex_unlock(&ms->lock);
	return r < 0 ? r : 0;
}
