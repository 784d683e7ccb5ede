/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Indexing: a tar is walked with libarchive, reading headers only (the
 * data of each member is skipped); the offset of each member's data in the
 * (decoded) tar is recorded, and reads are served with pread() on the
 * archive's fd, or on the cache file of a compressed tar.  A directory is
 * walked with openat() and never follows a symlink; its files are opened
 * on first read, beneath the directory.
 *
 * Members live in fixed blocks, so a member's address never changes while
 * the index grows.  A hash table finds a name (the later of two members of
 * the same name wins, as tar extraction would have it); once the index is
 * complete, a sorted array of the surviving members is made, and from then
 * on the index is read-only and read without locks.
 *
 * A compressed tar is indexed on demand: whoever needs a member that is
 * not indexed yet takes the advance lock and reads the next header from
 * the cache (waiting for the decoder), one member at a time; so a lookup
 * costs only as much of the stream as it needs.
 *
 * A zstd tar of many frames (zseek.c) is indexed whole at open, as a
 * plain tar is: the headers are read by decoding only the frames that
 * hold them, the data is skipped, and reads decode the frames they need.
 */
#include "archive/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "archive/archive_i.h"
#include "base/fdio.h"
#include "base/mem.h"

#define BLK_SHIFT   8
#define BLK_MEMBERS (1u << BLK_SHIFT)
#define INDEX_BUF   (64u << 10)

struct ckfs_archive {
	char *path;
	enum ckfs_archive_kind kind;
	enum ckfs_compression comp;
	int fd; /* tar: the file; dir: the directory */
	uint64_t file_size;
	struct ckfs_stream *st; /* compressed tar: the decoder and cache */
	struct ckfs_zseek *zs;	/* or a zstd tar read by frame */
	int layer_fd; /* OCI layout: compressed layers' files, or -1 */

	/*
	 * Guards the fields below while the index grows (a compressed tar);
	 * once @complete is set (release), they never change again.
	 */
	pthread_mutex_t lock;
	size_t n; /* members stored */
	size_t nblk;
	struct ckfs_member **blk; /* blocks of BLK_MEMBERS */
	size_t hcap, hn;
	struct ckfs_member **hash; /* open addressing, the latest per name */
	size_t nsorted;
	struct ckfs_member **sorted;
	bool complete; /* atomic */
	int index_err; /* why a streamed index ended early, or a frame failed */
	char index_msg[CKFS_ERR_MSG_MAX];

	/* streamed index: one header at a time, under @advance */
	pthread_mutex_t advance;
	struct archive *ia;
	uint64_t ipos; /* the cache offset libarchive reads next */
	char *ibuf;
	char last[CKFS_ARCHIVE_NAME_MAX + 2]; /* the member before */
};

static struct ckfs_archive_opts g_opts;
static char *g_cache_dir;

int ckfs_archive_set_opts(const struct ckfs_archive_opts *opts)
{
	char *dir = NULL;

	if (opts && opts->cache_dir && !(dir = strdup(opts->cache_dir)))
		return -ENOMEM;
	free(g_cache_dir);
	g_cache_dir = dir;
	memset(&g_opts, 0, sizeof(g_opts));
	if (opts)
		g_opts = *opts;
	g_opts.cache_dir = g_cache_dir;
	return 0;
}

const char *const ckfs_ckpt_markers[CKFS_CKPT_MARKERS] = {
	"checkpoint/pstree.img",
	"checkpoint/inventory.img",
	"pstree.img",
	"inventory.img",
};

const struct ckfs_archive_opts *ckfs_archive_get_opts(void)
{
	return &g_opts;
}

/* A tar member's fd is borrowed (the OCI layer cache), a file's owned. */
static void member_fini(struct ckfs_member *m, bool own_fd)
{
	free(m->name);
	free(m->link);
	if (own_fd && m->fd >= 0)
		close(m->fd);
}

static void index_free(struct ckfs_archive *ar)
{
	size_t i;

	for (i = 0; i < ar->n; i++)
		member_fini(&ar->blk[i >> BLK_SHIFT][i & (BLK_MEMBERS - 1)],
			    ar->kind == CKFS_ARCHIVE_DIR);
	for (i = 0; i < ar->nblk; i++)
		free(ar->blk[i]);
	free(ar->blk);
	free(ar->hash);
	free(ar->sorted);
	ar->n = ar->nblk = ar->hcap = ar->hn = ar->nsorted = 0;
	ar->blk = ar->hash = ar->sorted = NULL;
	ar->complete = false;
}

void ckfs_archive_free(struct ckfs_archive *ar)
{
	if (!ar)
		return;
	ckfs_stream_free(ar->st); /* first: stops the decoder thread */
	ckfs_zseek_free(ar->zs);
	if (ar->ia)
		archive_read_free(ar->ia);
	index_free(ar);
	free(ar->ibuf);
	if (ar->fd >= 0)
		close(ar->fd);
	if (ar->layer_fd >= 0)
		close(ar->layer_fd);
	pthread_mutex_destroy(&ar->advance);
	pthread_mutex_destroy(&ar->lock);
	free(ar->path);
	free(ar);
}

int ckfs_archive_classify(struct archive *a, struct archive_entry *ent,
			  struct ckfs_member *m, const char **hardlink,
			  struct ckfs_err *err)
{
	const char *link = archive_entry_hardlink(ent);
	int64_t off;

	m->mode = archive_entry_perm(ent);
	m->mtime = archive_entry_mtime(ent);
	/* the format reader has consumed exactly the headers */
	off = archive_filter_bytes(a, 0);
	m->data_off = off < 0 ? 0 : (uint64_t)off;
	*hardlink = link;
	/* a tar hard link ('1') has no file type of its own: it is its target */
	switch (link ? AE_IFREG : archive_entry_filetype(ent)) {
	case AE_IFREG:
		m->type = CKFS_MEMBER_REG;
		m->size = link ? 0 : (uint64_t)archive_entry_size(ent);
		if (!link && archive_entry_sparse_count(ent) > 0)
			m->unreadable = "sparse tar members are not supported";
		break;
	case AE_IFDIR:
		m->type = CKFS_MEMBER_DIR;
		break;
	case AE_IFLNK:
		m->type = CKFS_MEMBER_SYMLINK;
		link = archive_entry_symlink(ent);
		m->link = strdup(link ? link : "");
		if (!m->link)
			return ckfs_err_set(err, -ENOMEM, "out of memory");
		break;
	default:
		m->type = CKFS_MEMBER_OTHER;
		break;
	}
	return 0;
}

int ckfs_archive_normalize(const char *name, bool allow_absolute, char *out,
			   size_t outsz)
{
	const char *p = name;
	size_t o = 0;

	if (name[0] == '/' && !allow_absolute)
		return -EINVAL;
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);

		if (len == 2 && p[0] == '.' && p[1] == '.')
			return -EINVAL;
		if (len > 0 && !(len == 1 && p[0] == '.')) {
			if (o + len + 2 > outsz)
				return -EOVERFLOW;
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, len);
			o += len;
		}
		p = *end ? end + 1 : end;
	}
	out[o] = '\0';
	return o ? 0 : 1;
}

static int member_cmp(const void *a, const void *b)
{
	const struct ckfs_member *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

static uint64_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ull;
	return h;
}

/* The slot of @name in the hash table: its member, or an empty slot. */
static struct ckfs_member **hash_slot(struct ckfs_member **tab, size_t cap,
				      const char *name)
{
	size_t i = (size_t)name_hash(name) & (cap - 1);

	while (tab[i] && strcmp(tab[i]->name, name) != 0)
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

static const struct ckfs_member *hash_get(const struct ckfs_archive *ar,
					  const char *name)
{
	return ar->hcap ? *hash_slot(ar->hash, ar->hcap, name) : NULL;
}

/* A new zeroed member in stable storage; NULL on ENOMEM. */
static struct ckfs_member *new_member(struct ckfs_archive *ar)
{
	struct ckfs_member *m;

	if ((ar->n >> BLK_SHIFT) == ar->nblk) {
		struct ckfs_member **blk, *b;

		blk = reallocarray(ar->blk, ar->nblk + 1, sizeof(*blk));
		if (!blk)
			return NULL;
		ar->blk = blk;
		b = calloc(BLK_MEMBERS, sizeof(*b));
		if (!b)
			return NULL;
		/* the new block is reachable before the count says so */
		pthread_mutex_lock(&ar->lock);
		ar->blk[ar->nblk++] = b;
		pthread_mutex_unlock(&ar->lock);
	}
	pthread_mutex_lock(&ar->lock);
	m = &ar->blk[ar->n >> BLK_SHIFT][ar->n & (BLK_MEMBERS - 1)];
	ar->n++;
	pthread_mutex_unlock(&ar->lock);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	return m;
}

/* Make @m findable; a member of the same name before it is shadowed. */
static int publish(struct ckfs_archive *ar, struct ckfs_member *m)
{
	struct ckfs_member **slot;
	int r = 0;

	pthread_mutex_lock(&ar->lock);
	if (2 * (ar->hn + 1) > ar->hcap) {
		size_t cap = ar->hcap ? 2 * ar->hcap : 64, i;
		struct ckfs_member **tab = calloc(cap, sizeof(*tab));

		if (!tab) {
			r = -ENOMEM;
			goto out;
		}
		for (i = 0; i < ar->hcap; i++)
			if (ar->hash[i])
				*hash_slot(tab, cap, ar->hash[i]->name) =
					ar->hash[i];
		free(ar->hash);
		ar->hash = tab;
		ar->hcap = cap;
	}
	slot = hash_slot(ar->hash, ar->hcap, m->name);
	if (!*slot)
		ar->hn++;
	*slot = m;
out:
	pthread_mutex_unlock(&ar->lock);
	return r;
}

/*
 * A hard link in a tar names an earlier member: serve that member's data
 * (the one of that name indexed so far, as extraction would link it).
 */
static void resolve_hardlink(struct ckfs_archive *ar, struct ckfs_member *m,
			     const char *link)
{
	char name[CKFS_ARCHIVE_NAME_MAX + 2];
	const struct ckfs_member *t = NULL;

	m->size = 0;
	if (ckfs_archive_normalize(link, false, name, sizeof(name)) == 0)
		t = hash_get(ar, name);
	if (t && t->type == CKFS_MEMBER_REG) {
		m->size = t->size;
		m->data_off = t->data_off;
		m->unreadable = t->unreadable;
	} else {
		m->unreadable =
			"hard link to a member that is not in the archive";
	}
}

/* The index is whole: sort the surviving members and freeze. */
static int complete_index(struct ckfs_archive *ar)
{
	struct ckfs_member **v = NULL;
	size_t i, o = 0;

	if (ar->hn) {
		v = malloc(ar->hn * sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (i = 0; i < ar->hcap; i++)
			if (ar->hash[i])
				v[o++] = ar->hash[i];
		qsort(v, o, sizeof(*v), member_cmp);
	}
	pthread_mutex_lock(&ar->lock);
	ar->sorted = v;
	ar->nsorted = o;
	__atomic_store_n(&ar->complete, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&ar->lock);
	return 0;
}

/*
 * Read one tar header from @a and record its member.  Returns 1 when a
 * header was read, 0 at the end of the tar, or -errno with @err set.
 * @streamed: the tar is a decoded stream of unknown length (no truncation
 * check here: reads past the decoded end fail later, with EIO).
 */
static int index_next(struct ckfs_archive *ar, struct archive *a, bool streamed,
		      struct ckfs_err *err)
{
	struct archive_entry *ent;
	char name[CKFS_ARCHIVE_NAME_MAX + 2];
	struct ckfs_member *m;
	const char *pathname, *link;
	uint64_t tar_size = ar->zs ? ckfs_zseek_size(ar->zs) : ar->file_size;
	int nr, ar_r, r;

	ar_r = archive_read_next_header(a, &ent);
	if (ar_r == ARCHIVE_EOF)
		return 0;
	if (ar_r != ARCHIVE_OK && ar_r != ARCHIVE_WARN) {
		if (ar->last[0])
			return ckfs_err_set(err, -EBADMSG,
					    "%s: after member %s: %s", ar->path,
					    ar->last, archive_error_string(a));
		return ckfs_err_set(err, -EBADMSG, "%s: %s", ar->path,
				    archive_error_string(a));
	}
	pathname = archive_entry_pathname(ent);
	if (!pathname)
		return ckfs_err_set(err, -EBADMSG,
				    "%s: member after %s has no name", ar->path,
				    ar->last[0] ? ar->last : "the start");
	nr = ckfs_archive_normalize(pathname, false, name, sizeof(name));
	if (nr < 0)
		return ckfs_err_set(
			err, -EINVAL, "%s: member name %s %s", ar->path,
			pathname,
			nr == -EINVAL
				? "leaves the archive ('..' or a leading '/'); refusing it"
				: "is too long");
	snprintf(ar->last, sizeof(ar->last), "%s", pathname);
	if (nr == 1)
		goto skip; /* "./" itself */
	if (ar->n >= CKFS_ARCHIVE_MEMBERS_MAX)
		return ckfs_err_set(err, -EOVERFLOW, "%s: more than %u members",
				    ar->path, CKFS_ARCHIVE_MEMBERS_MAX);
	m = new_member(ar);
	if (!m || !(m->name = strdup(name)))
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	r = ckfs_archive_classify(a, ent, m, &link, err);
	if (r < 0)
		return r;
	if (link)
		resolve_hardlink(ar, m, link);
	/* a sparse member's size is its expanded size, not what is stored */
	if (!streamed && m->type == CKFS_MEMBER_REG && !link &&
	    !m->unreadable &&
	    (m->data_off > tar_size || m->size > tar_size - m->data_off))
		return ckfs_err_set(
			err, -EBADMSG,
			"%s: member %s is truncated: its data ends at byte %llu but the %s has %llu bytes",
			ar->path, m->name,
			(unsigned long long)(m->data_off + m->size),
			ar->zs ? "decompressed tar" : "archive",
			(unsigned long long)tar_size);
	r = publish(ar, m);
	if (r < 0)
		return ckfs_err_set(err, r, "out of memory");
skip:
	if (archive_read_data_skip(a) != ARCHIVE_OK)
		return ckfs_err_set(err, -EBADMSG, "%s: member %s: %s",
				    ar->path, ar->last,
				    archive_error_string(a));
	return 1;
}

static la_ssize_t zseek_read(struct archive *a, void *data, const void **buf);
static la_int64_t cache_skip(struct archive *a, void *data, la_int64_t request);

static int index_tar(struct ckfs_archive *ar, struct ckfs_err *err)
{
	struct archive *a = archive_read_new();
	int r;

	if (!a)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	if (ar->zs && !(ar->ibuf = malloc(INDEX_BUF))) {
		r = ckfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	r = ar->zs ? archive_read_open2(a, ar, NULL, zseek_read, cache_skip,
					NULL)
		   : archive_read_open_fd(a, ar->fd, 64 * 1024);
	if (r != ARCHIVE_OK && ar->index_err < 0) {
		/* the first frame did not decode: that is the story */
		r = ckfs_err_set(err, ar->index_err, "%s", ar->index_msg);
		goto out;
	}
	if (r != ARCHIVE_OK) {
		r = ckfs_err_set(
			err, -EBADMSG, "%s: %snot a tar archive: %s", ar->path,
			ar->zs ? "zstd-compressed, but what it holds is " : "",
			archive_error_string(a));
		goto out;
	}
	while ((r = index_next(ar, a, false, err)) > 0)
		;
out:
	archive_read_free(a);
	if (ar->zs) {
		free(ar->ibuf);
		ar->ibuf = NULL;
	}
	return r;
}

/* ---- a compressed tar: the index reads the cache as it fills ---- */

static la_ssize_t cache_read(struct archive *a, void *data, const void **buf)
{
	struct ckfs_archive *ar = data;
	int64_t avail = ckfs_stream_wait(ar->st, ar->ipos, 512);
	size_t got;

	if (avail < 0) {
		archive_set_error(a, EIO, "the decompression failed");
		return -1;
	}
	got = avail < (int64_t)INDEX_BUF ? (size_t)avail : INDEX_BUF;
	if (got && ckfs_stream_pread(ar->st, ar->ibuf, got, ar->ipos) < 0) {
		archive_set_error(a, EIO, "cannot read the cache");
		return -1;
	}
	ar->ipos += got;
	*buf = ar->ibuf;
	return (la_ssize_t)got;
}

/* A zstd tar read by frame: only the frames under the headers decode. */
static la_ssize_t zseek_read(struct archive *a, void *data, const void **buf)
{
	struct ckfs_archive *ar = data;
	struct ckfs_err err = { 0 };
	ssize_t n =
		ckfs_zseek_pread(ar->zs, ar->ibuf, INDEX_BUF, ar->ipos, &err);

	if (n < 0) {
		/* the reason names the archive: keep only what follows */
		const char *why = err.msg;

		ar->index_err = (int)n;
		snprintf(ar->index_msg, sizeof(ar->index_msg), "%s", err.msg);
		if (!strncmp(why, ar->path, strlen(ar->path)) &&
		    !strncmp(why + strlen(ar->path), ": ", 2))
			why += strlen(ar->path) + 2;
		archive_set_error(a, EIO, "%s", why);
		return -1;
	}
	ar->ipos += (uint64_t)n;
	*buf = ar->ibuf;
	return (la_ssize_t)n;
}

/*
 * Skipping data costs nothing: the decoder writes it anyway (a stream), or
 * the frames under it are never decoded (read by frame).
 */
static la_int64_t cache_skip(struct archive *a, void *data, la_int64_t request)
{
	struct ckfs_archive *ar = data;

	ar->ipos += (uint64_t)request;
	return request;
}

/*
 * The streamed index ended (@r: 0 at the tar's end, or -errno with @err):
 * wait for the decoder to end too, so that a complete index also means a
 * verified stream, then freeze it.  Under @advance.
 */
static void end_streamed_index(struct ckfs_archive *ar, int r,
			       struct ckfs_err *err)
{
	ckfs_stream_wait_end(ar->st);
	pthread_mutex_lock(&ar->lock);
	if (r < 0) {
		ar->index_err = r;
		snprintf(ar->index_msg, sizeof(ar->index_msg), "%s", err->msg);
	}
	pthread_mutex_unlock(&ar->lock);
	if (complete_index(ar) < 0) {
		/* no memory for the sorted view: an empty, complete index */
		pthread_mutex_lock(&ar->lock);
		ar->index_err = -ENOMEM;
		snprintf(ar->index_msg, sizeof(ar->index_msg), "out of memory");
		__atomic_store_n(&ar->complete, true, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&ar->lock);
	}
}

/* Index one more member of a compressed tar (or end the index). */
static void advance(struct ckfs_archive *ar)
{
	struct ckfs_err err = { 0 };
	int r;

	pthread_mutex_lock(&ar->advance);
	if (!__atomic_load_n(&ar->complete, __ATOMIC_ACQUIRE)) {
		r = index_next(ar, ar->ia, true, &err);
		if (r <= 0)
			end_streamed_index(ar, r, &err);
	}
	pthread_mutex_unlock(&ar->advance);
}

/* Prefer the decoder's story to the tar reader's when both failed. */
static int stream_error(struct ckfs_archive *ar, int r, struct ckfs_err *err)
{
	int s = ckfs_stream_status(ar->st, err);

	return s < 0 ? s : r;
}

static int open_compressed(struct ckfs_archive *ar, struct ckfs_err *err)
{
	const char *cname = ckfs_stream_comp_name(ar->comp);
	int r;

	r = ckfs_stream_new(ar->fd, ar->file_size, ar->path, ar->comp, &g_opts,
			    &ar->st, err);
	if (r < 0)
		return r;
	ar->ibuf = malloc(INDEX_BUF);
	ar->ia = archive_read_new();
	if (!ar->ibuf || !ar->ia)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	archive_read_support_format_tar(ar->ia);
	archive_read_support_format_gnutar(ar->ia);
	if (archive_read_open2(ar->ia, ar, NULL, cache_read, cache_skip,
			       NULL) != ARCHIVE_OK) {
		r = ckfs_err_set(
			err, -EBADMSG,
			"%s: %s-compressed, but what it holds is not a tar: %s",
			ar->path, cname, archive_error_string(ar->ia));
		return stream_error(ar, r, err);
	}
	/* the first header now: a stream that holds no tar fails the open */
	r = index_next(ar, ar->ia, true, err);
	if (r < 0)
		return stream_error(ar, r, err);
	if (r == 0)
		end_streamed_index(ar, 0, err);
	return 0;
}

static void wait_complete(struct ckfs_archive *ar);

/*
 * Whether a compressed tar starts as an OCI image layout does (`ctr images
 * export` and `podman save` write blobs/ first, index.json and oci-layout
 * last): only then is it worth indexing whole before mounting.  A
 * checkpoint never starts so.
 */
static bool oci_first(struct ckfs_archive *ar)
{
	for (;;) {
		const char *name = NULL;
		bool done;

		pthread_mutex_lock(&ar->lock);
		if (ar->n)
			name = ar->blk[0][0].name;
		done = ar->complete;
		pthread_mutex_unlock(&ar->lock);
		if (name)
			return !strcmp(name, "blobs") ||
			       !strncmp(name, "blobs/", 6) ||
			       !strcmp(name, "oci-layout") ||
			       !strcmp(name, "index.json");
		if (done)
			return false;
		advance(ar);
	}
}

static int walk_dir(struct ckfs_archive *ar, int dfd, const char *prefix,
		    int depth, struct ckfs_err *err)
{
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (depth > CKFS_ARCHIVE_DEPTH_MAX)
		return ckfs_err_set(err, -EOVERFLOW,
				    "%s: directories nested deeper than %d",
				    ar->path, CKFS_ARCHIVE_DEPTH_MAX);
	d = fdopendir(dfd);
	if (!d) {
		r = -errno;
		close(dfd);
		return ckfs_err_set(err, r, "%s/%s: %s", ar->path, prefix,
				    strerror(-r));
	}
	while ((de = readdir(d))) {
		char name[CKFS_ARCHIVE_NAME_MAX + 2];
		struct ckfs_member *m;
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((size_t)snprintf(name, sizeof(name), "%s%s%s", prefix,
				     prefix[0] ? "/" : "",
				     de->d_name) >= CKFS_ARCHIVE_NAME_MAX) {
			r = ckfs_err_set(err, -EOVERFLOW, "%s: name too long",
					 ar->path);
			break;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
		    0) {
			r = ckfs_err_set(err, -errno, "%s/%s: %s", ar->path,
					 name, strerror(errno));
			break;
		}
		if (ar->n >= CKFS_ARCHIVE_MEMBERS_MAX) {
			r = ckfs_err_set(err, -EOVERFLOW,
					 "%s: more than %u files", ar->path,
					 CKFS_ARCHIVE_MEMBERS_MAX);
			break;
		}
		m = new_member(ar);
		if (!m || !(m->name = strdup(name))) {
			r = ckfs_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		m->mode = st.st_mode & 07777;
		m->mtime = st.st_mtime;
		if (S_ISREG(st.st_mode)) {
			m->type = CKFS_MEMBER_REG;
			m->size = (uint64_t)st.st_size;
		} else if (S_ISLNK(st.st_mode)) {
			char target[CKFS_ARCHIVE_NAME_MAX];
			ssize_t n = readlinkat(dirfd(d), de->d_name, target,
					       sizeof(target) - 1);

			m->type = CKFS_MEMBER_SYMLINK;
			target[n < 0 ? 0 : n] = '\0';
			m->link = strdup(target);
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);

			m->type = CKFS_MEMBER_DIR;
			if (sub < 0) {
				r = ckfs_err_set(err, -errno, "%s/%s: %s",
						 ar->path, name,
						 strerror(errno));
				break;
			}
			r = walk_dir(ar, sub, name, depth + 1, err);
			if (r < 0)
				break;
		} else {
			m->type = CKFS_MEMBER_OTHER;
		}
		r = publish(ar, m);
		if (r < 0) {
			r = ckfs_err_set(err, r, "out of memory");
			break;
		}
	}
	closedir(d);
	return r;
}

int ckfs_archive_open(const char *path, struct ckfs_archive **out,
		      struct ckfs_err *err)
{
	struct ckfs_archive *ar;
	struct stat st;
	int r;

	*out = NULL;
	ar = calloc(1, sizeof(*ar));
	if (!ar || !(ar->path = strdup(path))) {
		free(ar);
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	}
	ar->layer_fd = -1;
	pthread_mutex_init(&ar->lock, NULL);
	pthread_mutex_init(&ar->advance, NULL);
	/* O_NONBLOCK: a fifo must be refused below, not wait for a writer */
	ar->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (ar->fd < 0) {
		r = ckfs_err_set(err, -errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(ar->fd, &st) < 0 ||
	    fcntl(ar->fd, F_SETFL, fcntl(ar->fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		r = ckfs_err_set(err, -errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		int dfd = dup(ar->fd);

		ar->kind = CKFS_ARCHIVE_DIR;
		if (dfd < 0) {
			r = ckfs_err_set(err, -errno, "%s: %s", path,
					 strerror(errno));
			goto fail;
		}
		r = walk_dir(ar, dfd, "", 0, err);
	} else if (S_ISREG(st.st_mode)) {
		ar->kind = CKFS_ARCHIVE_TAR;
		ar->file_size = (uint64_t)st.st_size;
		r = ckfs_stream_sniff(ar->fd);
		if (r < 0) {
			r = ckfs_err_set(err, r, "%s: cannot read: %s", path,
					 strerror(-r));
			goto fail;
		}
		ar->comp = (enum ckfs_compression)r;
		if (ar->comp == CKFS_COMP_ZSTD) {
			/* many frames, each of known size: read by frame */
			r = ckfs_zseek_open(ar->fd, ar->file_size, path,
					    &ar->zs, err);
			if (r < 0)
				goto fail;
		}
		if (ar->comp != CKFS_COMP_NONE && !ar->zs) {
			r = open_compressed(ar, err);
			if (r < 0)
				goto fail;
			goto resolve; /* indexed as far as callers need */
		}
		r = index_tar(ar, err);
	} else {
		r = ckfs_err_set(err, -EINVAL,
				 "%s: not a regular file or a directory", path);
	}
	if (r < 0)
		goto fail;
	r = complete_index(ar);
	if (r < 0) {
		r = ckfs_err_set(err, r, "out of memory");
		goto fail;
	}
resolve:
	if (ar->kind == CKFS_ARCHIVE_TAR &&
	    (ar->comp == CKFS_COMP_NONE || oci_first(ar))) {
		/* an OCI layout names its layers in its last members */
		wait_complete(ar);
		r = ckfs_oci_resolve(ar, err);
		if (r < 0) {
			ckfs_err_prefix(err, r, "%s: ", path);
			goto fail;
		}
	}
	*out = ar;
	return 0;
fail:
	ckfs_archive_free(ar);
	return r;
}

enum ckfs_archive_kind ckfs_archive_kind(const struct ckfs_archive *ar)
{
	return ar->kind;
}

const char *ckfs_archive_path(const struct ckfs_archive *ar)
{
	return ar->path;
}

uint64_t ckfs_archive_file_size(const struct ckfs_archive *ar)
{
	return ar->file_size;
}

const char *ckfs_archive_compression(const struct ckfs_archive *ar)
{
	return ckfs_stream_comp_name(ar->comp);
}

int ckfs_archive_status(const struct ckfs_archive *car, struct ckfs_err *err)
{
	struct ckfs_archive *ar = (struct ckfs_archive *)car;
	int r;

	if (!ar->st)
		return 0;
	r = ckfs_stream_status(ar->st, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&ar->lock);
	if (ar->index_err < 0)
		r = ckfs_err_set(err, ar->index_err, "%s", ar->index_msg);
	pthread_mutex_unlock(&ar->lock);
	return r;
}

void ckfs_archive_pause(struct ckfs_archive *ar)
{
	if (ar->st)
		ckfs_stream_pause(ar->st);
	if (ar->zs)
		ckfs_zseek_pause(ar->zs);
}

void ckfs_archive_resume(struct ckfs_archive *ar)
{
	if (ar->st)
		ckfs_stream_resume(ar->st);
	if (ar->zs)
		ckfs_zseek_resume(ar->zs);
}

/* Wait until the index is complete (at once for all but a compressed tar). */
static void wait_complete(struct ckfs_archive *ar)
{
	while (!__atomic_load_n(&ar->complete, __ATOMIC_ACQUIRE))
		advance(ar);
}

size_t ckfs_archive_count(const struct ckfs_archive *car)
{
	struct ckfs_archive *ar = (struct ckfs_archive *)car;

	wait_complete(ar);
	return ar->nsorted;
}

const struct ckfs_member *ckfs_archive_member(const struct ckfs_archive *car,
					      size_t i)
{
	struct ckfs_archive *ar = (struct ckfs_archive *)car;

	wait_complete(ar);
	return i < ar->nsorted ? ar->sorted[i] : NULL;
}

const struct ckfs_member *ckfs_archive_find(const struct ckfs_archive *car,
					    const char *name)
{
	struct ckfs_archive *ar = (struct ckfs_archive *)car;
	const struct ckfs_member *m;
	bool done;

	if (__atomic_load_n(&ar->complete, __ATOMIC_ACQUIRE))
		return hash_get(ar, name);
	for (;;) {
		pthread_mutex_lock(&ar->lock);
		m = hash_get(ar, name);
		done = ar->complete;
		pthread_mutex_unlock(&ar->lock);
		if (m || done)
			return m;
		advance(ar);
	}
}

/* Open a directory input's file beneath the directory, never via a link. */
static int open_beneath(int dirfd, const char *name)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

	if (fd < 0 && errno == ENOSYS)
		fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	return (int)fd;
}

static int member_fd(struct ckfs_archive *ar, const struct ckfs_member *m)
{
	struct ckfs_member *mm = (struct ckfs_member *)m;
	int fd, expected = -1;

	if (ar->kind == CKFS_ARCHIVE_TAR)
		return m->fd >= 0 ? m->fd : ar->fd;
	fd = __atomic_load_n(&mm->fd, __ATOMIC_ACQUIRE);
	if (fd >= 0)
		return fd;
	fd = open_beneath(ar->fd, m->name);
	if (fd < 0)
		return -EIO;
	if (!__atomic_compare_exchange_n(&mm->fd, &expected, fd, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		close(fd);
		fd = expected;
	}
	return fd;
}

ssize_t ckfs_archive_pread(struct ckfs_archive *ar, const struct ckfs_member *m,
			   void *buf, size_t len, uint64_t off)
{
	ssize_t got;
	int fd;

	if (m->type != CKFS_MEMBER_REG || m->unreadable)
		return -EIO;
	if (off >= m->size)
		return 0;
	if (len > m->size - off)
		len = (size_t)(m->size - off);
	/* a compressed OCI layer's member lives in the layer cache (m->fd) */
	if (ar->zs && m->fd < 0) {
		ssize_t n = ckfs_zseek_pread(ar->zs, buf, len,
					     m->data_off + off, NULL);

		return n >= 0 && (size_t)n == len ? n : -EIO;
	}
	if (ar->st && m->fd < 0)
		return ckfs_stream_pread(ar->st, buf, len, m->data_off + off);
	fd = member_fd(ar, m);
	if (fd < 0)
		return fd;
	got = ckfs_pread_full(fd, buf, len, m->data_off + off);
	/* short: the file shrank under us */
	return got >= 0 && (size_t)got == len ? got : -EIO;
}

int64_t ckfs_archive_locate(struct ckfs_archive *ar,
			    const struct ckfs_member *m, uint64_t off,
			    uint64_t len, struct ckfs_seg *seg)
{
	int fd;

	if (m->type != CKFS_MEMBER_REG || m->unreadable || off > m->size ||
	    len > m->size - off)
		return -EIO;
	if (ar->zs || ar->kind != CKFS_ARCHIVE_TAR)
		return -ENOTSUP;
	if (len == 0)
		return -EINVAL;
	if (ar->st && m->fd < 0)
		return ckfs_stream_locate(ar->st, m->data_off + off, len, seg);
	fd = member_fd(ar, m);
	if (fd < 0)
		return fd;
	seg->fd = fd;
	seg->off = m->data_off + off;
	seg->len = len;
	return (int64_t)len;
}

int ckfs_archive_read_all(struct ckfs_archive *ar, const struct ckfs_member *m,
			  size_t max, char **out, size_t *len)
{
	_cleanup_free_ char *buf = NULL;
	ssize_t n;

	*out = NULL;
	*len = 0;
	if (m->type != CKFS_MEMBER_REG || m->unreadable)
		return -EIO;
	if (m->size > max)
		return -EOVERFLOW;
	buf = malloc((size_t)m->size + 1);
	if (!buf)
		return -ENOMEM;
	n = ckfs_archive_pread(ar, m, buf, (size_t)m->size, 0);
	if (n < 0)
		return (int)n;
	if ((uint64_t)n != m->size)
		return -EIO;
	buf[n] = '\0';
	*out = steal_ptr(&buf);
	*len = (size_t)n;
	return 0;
}

int ckfs_archive_replace_index(struct ckfs_archive *ar,
			       struct ckfs_oci_entry *e, size_t n, int cache_fd,
			       struct ckfs_err *err)
{
	size_t i;
	int r = 0;

	index_free(ar);
	if (ar->layer_fd >= 0)
		close(ar->layer_fd);
	ar->layer_fd = cache_fd;
	for (i = 0; i < n; i++) {
		struct ckfs_member *m = r < 0 ? NULL : new_member(ar);

		if (!m) {
			free(e[i].m.name);
			free(e[i].m.link);
			r = -ENOMEM;
			continue;
		}
		*m = e[i].m;
		m->fd = e[i].in_cache ? cache_fd : -1;
		r = publish(ar, m);
	}
	if (r == 0)
		r = complete_index(ar);
	return r < 0 ? ckfs_err_set(err, r, "out of memory") : 0;
}
