/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Nested tars: libarchive reads from a "source", either the member through
 * ckfs_archive_pread() or the decoded copy of a compressed member in a
 * cache file.  The format reader consumes exactly the headers, so
 * archive_filter_bytes() after each header is the entry's data offset in
 * the source; the data itself is skipped through the skip callback and
 * never read here.
 */
#include "archive/nested.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive/archive_i.h"
#include "base/clock.h"
#include "base/fdio.h"
#include "base/mem.h"
#include "base/strbuf.h"

#define SRC_BLOCK   (64u * 1024)
#define DECODE_BUF  (1u << 20)
#define PROGRESS_NS 250000000ull

struct ckfs_nested {
	struct ckfs_archive *ar;
	const struct ckfs_member *m;
	int fd;	       /* the cache holding the decoded tar, or -1: read @m */
	bool own_fd;   /* opened here (else the caller's) */
	uint64_t base; /* where the decoded tar starts in @fd */
	uint64_t len;  /* and its length */
	const char *compression;
	size_t n, cap;
	struct ckfs_member *e;
};

/* Where libarchive's bytes come from. */
struct src {
	struct ckfs_archive *ar;
	const struct ckfs_member *m; /* NULL: read @fd from @base */
	int fd;
	uint64_t base;
	uint64_t size;
	uint64_t pos;
	char block[SRC_BLOCK];
};

static la_ssize_t src_read(struct archive *a, void *data, const void **buf)
{
	struct src *s = data;
	size_t n = SRC_BLOCK;
	ssize_t r;

	if (s->pos >= s->size)
		return 0;
	if (n > s->size - s->pos)
		n = (size_t)(s->size - s->pos);
	if (!s->m) {
		r = ckfs_pread_full(s->fd, s->block, n, s->base + s->pos);
	} else {
		r = ckfs_archive_pread(s->ar, s->m, s->block, n, s->pos);
	}
	if (r <= 0) {
		archive_set_error(a, EIO, "cannot read bytes %llu.. of %s%s",
				  (unsigned long long)s->pos,
				  s->m ? "" : "the decoded ",
				  s->m ? s->m->name : "tar");
		return -1;
	}
	*buf = s->block;
	s->pos += (uint64_t)r;
	return r;
}

static la_int64_t src_skip(struct archive *a, void *data, la_int64_t request)
{
	struct src *s = data;
	uint64_t n = request < 0 ? 0 : (uint64_t)request;

	if (n > s->size - s->pos)
		n = s->size - s->pos;
	s->pos += n;
	return (la_int64_t)n;
}

static la_int64_t src_seek(struct archive *a, void *data, la_int64_t offset,
			   int whence)
{
	struct src *s = data;
	int64_t base = whence == SEEK_SET   ? 0
		       : whence == SEEK_CUR ? (int64_t)s->pos
					    : (int64_t)s->size;

	if ((offset > 0 && base > INT64_MAX - offset) || base + offset < 0 ||
	    (uint64_t)(base + offset) > s->size)
		return ARCHIVE_FATAL;
	s->pos = (uint64_t)(base + offset);
	return (la_int64_t)s->pos;
}

static int src_open(struct archive *a, struct src *s)
{
	archive_read_set_read_callback(a, src_read);
	archive_read_set_skip_callback(a, src_skip);
	archive_read_set_seek_callback(a, src_seek);
	archive_read_set_callback_data(a, s);
	return archive_read_open1(a);
}

static void entry_fini(struct ckfs_member *m)
{
	free(m->name);
	free(m->link);
}

void ckfs_nested_free(struct ckfs_nested *nt)
{
	size_t i;

	if (!nt)
		return;
	for (i = 0; i < nt->n; i++)
		entry_fini(&nt->e[i]);
	free(nt->e);
	if (nt->own_fd && nt->fd >= 0)
		close(nt->fd);
	free(nt);
}

static struct ckfs_member *add_entry(struct ckfs_nested *nt)
{
	struct ckfs_member *m;

	if (nt->n == nt->cap) {
		size_t cap = nt->cap ? nt->cap * 2 : 64;

		m = reallocarray(nt->e, cap, sizeof(*m));
		if (!m)
			return NULL;
		nt->e = m;
		nt->cap = cap;
	}
	m = &nt->e[nt->n++];
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	return m;
}

static int sniff(struct ckfs_archive *ar, const struct ckfs_member *m,
		 const char **name, int (**support)(struct archive *))
{
	static const struct {
		const char *name, *magic;
		size_t len;
		int (*support)(struct archive *);
	} kinds[] = {
		{ "gzip", "\x1f\x8b", 2, archive_read_support_filter_gzip },
		{ "zstd", "\x28\xb5\x2f\xfd", 4,
		  archive_read_support_filter_zstd },
		{ "xz", "\xfd\x37\x7a\x58\x5a\x00", 6,
		  archive_read_support_filter_xz },
		{ "bzip2", "BZh", 3, archive_read_support_filter_bzip2 },
	};
	unsigned char head[8] = { 0 };
	ssize_t n = ckfs_archive_pread(ar, m, head, sizeof(head), 0);
	size_t i;

	*name = "none";
	*support = NULL;
	if (n < 0)
		return (int)n;
	for (i = 0; i < CKFS_ARRAY_SIZE(kinds); i++) {
		if ((size_t)n >= kinds[i].len &&
		    memcmp(head, kinds[i].magic, kinds[i].len) == 0) {
			*name = kinds[i].name;
			*support = kinds[i].support;
		}
	}
	return 0;
}

/* How a decode that takes a while goes, told as the archive's own is. */
struct progress {
	const char *label; /* NULL: tell nothing */
	uint64_t t0, last;
	bool told;
};

static void progress(struct progress *pg, const struct ckfs_nested *nt,
		     struct archive *a, bool finished, int error,
		     const char *msg)
{
	const struct ckfs_archive_opts *o = ckfs_archive_get_opts();
	uint64_t t = (uint64_t)ckfs_now_ns();
	struct ckfs_archive_progress p = {
		.path = pg->label,
		.compression = nt->compression,
		.in_done = (uint64_t)archive_filter_bytes(a, -1),
		.in_total = nt->m->size,
		.out_done = nt->len,
		.elapsed_ns = t - pg->t0,
		.finished = finished,
		.error = error,
		.message = error ? msg : NULL,
	};

	if (!pg->label || !o->progress)
		return;
	if (finished ? !pg->told : t - pg->last < PROGRESS_NS)
		return;
	pg->last = t;
	pg->told = true;
	o->progress(o->progress_arg, &p);
}

/*
 * Decompress the whole member into @nt's cache file from nt->base on,
 * refusing to let the file grow past @lim; telling how it goes, as
 * @label, when that is not NULL.
 */
static int decompress(struct ckfs_nested *nt, struct src *s,
		      int (*support)(struct archive *),
		      const struct ckfs_cache_limit *lim, const char *label,
		      struct ckfs_err *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ent;
	_cleanup_free_ char *buf = malloc(DECODE_BUF);
	struct progress pg = { .label = label };
	int r = 0;

	pg.t0 = pg.last = (uint64_t)ckfs_now_ns();
	if (!a || !buf) {
		r = ckfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* ARCHIVE_WARN means "through an external program": refuse that */
	if (support(a) != ARCHIVE_OK) {
		r = ckfs_err_set(
			err, -ENOTSUP,
			"%s: %s-compressed, and this libarchive cannot decode %s by itself",
			nt->m->name, nt->compression, nt->compression);
		goto out;
	}
	archive_read_support_format_raw(a);
	if (src_open(a, s) != ARCHIVE_OK ||
	    archive_read_next_header(a, &ent) != ARCHIVE_OK) {
		r = ckfs_err_set(err, -EBADMSG, "%s: %s", nt->m->name,
				 archive_error_string(a));
		goto out;
	}
	for (;;) {
		la_ssize_t n = archive_read_data(a, buf, DECODE_BUF);
		uint64_t end;

		if (n == 0)
			break;
		if (n < 0) {
			r = ckfs_err_set(err, -EBADMSG, "%s: %s: %s",
					 nt->m->name, nt->compression,
					 archive_error_string(a));
			goto out;
		}
		end = nt->base + nt->len + (uint64_t)n;
		if (end > lim->bytes) {
			char l[32];

			ckfs_human_size(l, sizeof(l), lim->bytes);
			r = ckfs_err_set(
				err, -EOVERFLOW,
				"%s: %s-compressed, and decompresses past the cache limit of %s (%s)",
				nt->m->name, nt->compression, l, lim->why);
			goto out;
		}
		r = ckfs_cache_write(nt->fd, buf, (size_t)n,
				     nt->base + nt->len);
		if (r < 0) {
			r = ckfs_err_set(err, r, "%s: %s-compressed: cache: %s",
					 nt->m->name, nt->compression,
					 strerror(-r));
			goto out;
		}
		nt->len += (uint64_t)n;
		progress(&pg, nt, a, false, 0, NULL);
	}
out:
	if (a)
		progress(&pg, nt, a, true, r, err->msg);
	archive_read_free(a);
	return r;
}

static int entry_from_header(struct ckfs_nested *nt, struct archive *a,
			     struct archive_entry *ent, const char *name,
			     uint64_t src_size, struct ckfs_err *err)
{
	struct ckfs_member *m;
	const char *link;
	int r;

	if (nt->n >= CKFS_ARCHIVE_MEMBERS_MAX)
		return ckfs_err_set(err, -EOVERFLOW, "%s: more than %u entries",
				    nt->m->name, CKFS_ARCHIVE_MEMBERS_MAX);
	m = add_entry(nt);
	if (!m || !(m->name = strdup(name)))
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	r = ckfs_archive_classify(a, ent, m, &link, err);
	if (r < 0)
		return r;
	if (link) {
		/* resolved against earlier entries once the index is whole */
		m->link = strdup(link);
		if (!m->link)
			return ckfs_err_set(err, -ENOMEM, "out of memory");
	}
	if (m->type == CKFS_MEMBER_REG && !m->link &&
	    (m->data_off > src_size || m->size > src_size - m->data_off))
		return ckfs_err_set(
			err, -EBADMSG,
			"%s: entry %s is truncated: its data ends at byte %llu of %llu",
			nt->m->name, m->name,
			(unsigned long long)(m->data_off + m->size),
			(unsigned long long)src_size);
	return 0;
}

static int index_tar(struct ckfs_nested *nt, struct src *s,
		     struct ckfs_err *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ent;
	char name[CKFS_ARCHIVE_NAME_MAX + 2];
	int r = 0, ar_r, nr;

	if (!a)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	if (src_open(a, s) != ARCHIVE_OK) {
		r = ckfs_err_set(err, -EBADMSG, "%s: not a tar archive: %s",
				 nt->m->name, archive_error_string(a));
		goto out;
	}
	for (;;) {
		const char *pathname;

		ar_r = archive_read_next_header(a, &ent);
		if (ar_r == ARCHIVE_EOF)
			break;
		if (ar_r != ARCHIVE_OK && ar_r != ARCHIVE_WARN) {
			r = ckfs_err_set(
				err, -EBADMSG, "%s: after %zu entries: %s",
				nt->m->name, nt->n, archive_error_string(a));
			goto out;
		}
		pathname = archive_entry_pathname(ent);
		if (!pathname) {
			r = ckfs_err_set(err, -EBADMSG,
					 "%s: entry %zu has no name",
					 nt->m->name, nt->n);
			goto out;
		}
		nr = ckfs_archive_normalize(pathname, true, name,
					    sizeof(name));
		if (nr < 0) {
			r = ckfs_err_set(
				err, nr, "%s: entry name %s %s", nt->m->name,
				pathname,
				nr == -EINVAL
					? "has a '..' component; refusing the archive"
					: "is too long");
			goto out;
		}
		if (nr == 0) {
			r = entry_from_header(nt, a, ent, name, s->size, err);
			if (r < 0)
				goto out;
		}
		if (archive_read_data_skip(a) != ARCHIVE_OK) {
			r = ckfs_err_set(err, -EBADMSG, "%s: entry %s: %s",
					 nt->m->name, pathname,
					 archive_error_string(a));
			goto out;
		}
	}
out:
	archive_read_free(a);
	return r;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct ckfs_member *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->data_off < y->data_off ? -1 : x->data_off > y->data_off;
}

/* Sort by name; of two entries with one name the later in the tar wins. */
static void sort_entries(struct ckfs_nested *nt)
{
	size_t i, o;

	if (nt->n)
		qsort(nt->e, nt->n, sizeof(*nt->e), entry_cmp);
	for (i = 0, o = 0; i < nt->n; i++) {
		if (o > 0 && strcmp(nt->e[o - 1].name, nt->e[i].name) == 0) {
			entry_fini(&nt->e[o - 1]);
			nt->e[o - 1] = nt->e[i];
			continue;
		}
		nt->e[o++] = nt->e[i];
	}
	nt->n = o;
}

/* A hard link serves the data of the entry it names. */
static void resolve_hardlinks(struct ckfs_nested *nt)
{
	size_t i;

	for (i = 0; i < nt->n; i++) {
		struct ckfs_member *m = &nt->e[i];
		char name[CKFS_ARCHIVE_NAME_MAX + 2];
		const struct ckfs_member *t = NULL;

		if (m->type != CKFS_MEMBER_REG || !m->link)
			continue;
		if (ckfs_archive_normalize(m->link, true, name,
					   sizeof(name)) == 0)
			t = ckfs_nested_find(nt, name);
		if (t && t->type == CKFS_MEMBER_REG && !t->link) {
			m->size = t->size;
			m->data_off = t->data_off;
			m->unreadable = t->unreadable;
		} else {
			m->unreadable =
				"hard link to an entry that is not in the archive";
		}
		free(m->link);
		m->link = NULL;
	}
}

/* @shared NULL: a cache of its own, if one is needed */
static int nested_open(struct ckfs_archive *ar, const struct ckfs_member *m,
		       struct ckfs_nested_cache *shared,
		       struct ckfs_nested **out, struct ckfs_err *err)
{
	struct ckfs_nested *nt;
	_cleanup_free_ struct src *s = NULL;
	int (*support)(struct archive *);
	struct ckfs_cache_limit lim;
	int r;

	*out = NULL;
	if (m->type != CKFS_MEMBER_REG || m->unreadable)
		return ckfs_err_set(err, -EIO, "%s: %s", m->name,
				    m->unreadable ? m->unreadable
						  : "not a regular file");
	nt = calloc(1, sizeof(*nt));
	s = calloc(1, sizeof(*s));
	if (!nt || !s) {
		free(nt);
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	}
	nt->ar = ar;
	nt->m = m;
	nt->fd = -1;
	s->ar = ar;
	s->m = m;
	s->size = m->size;
	r = sniff(ar, m, &nt->compression, &support);
	if (r < 0) {
		r = ckfs_err_set(err, r, "%s: cannot be read", m->name);
		goto fail;
	}
	if (support) {
		if (!shared || shared->fd < 0) {
			r = ckfs_cache_open(ckfs_archive_get_opts(), &lim, err);
			if (r < 0) {
				ckfs_err_prefix(err, r,
						"%s: %s-compressed: ", m->name,
						nt->compression);
				goto fail;
			}
			if (shared) {
				shared->fd = r;
				shared->lim = lim;
			} else {
				nt->own_fd = true;
			}
			nt->fd = r;
		} else {
			nt->fd = shared->fd;
			lim = shared->lim;
		}
		nt->base = shared ? shared->base : 0;
		r = decompress(nt, s, support, &lim,
			       shared ? shared->label : NULL, err);
		if (r < 0)
			goto fail;
		s->m = NULL;
		s->fd = nt->fd;
		s->base = nt->base;
		s->size = nt->len;
		s->pos = 0;
	}
	if (s->size > 0) {
		r = index_tar(nt, s, err);
		if (r < 0)
			goto fail;
	}
	sort_entries(nt);
	resolve_hardlinks(nt);
	*out = nt;
	return 0;
fail:
	ckfs_nested_free(nt);
	return r;
}

int ckfs_nested_open(struct ckfs_archive *ar, const struct ckfs_member *m,
		     struct ckfs_nested **out, struct ckfs_err *err)
{
	return nested_open(ar, m, NULL, out, err);
}

int ckfs_nested_open_in(struct ckfs_archive *ar, const struct ckfs_member *m,
			struct ckfs_nested_cache *cache,
			struct ckfs_nested **out, struct ckfs_err *err)
{
	return nested_open(ar, m, cache, out, err);
}

uint64_t ckfs_nested_decoded(const struct ckfs_nested *nt)
{
	return nt->fd >= 0 ? nt->len : 0;
}

const char *ckfs_nested_compression(const struct ckfs_nested *nt)
{
	return nt->compression;
}

size_t ckfs_nested_count(const struct ckfs_nested *nt)
{
	return nt->n;
}

const struct ckfs_member *ckfs_nested_member(const struct ckfs_nested *nt,
					     size_t i)
{
	return i < nt->n ? &nt->e[i] : NULL;
}

static int name_cmp(const void *key, const void *elt)
{
	return strcmp(key, ((const struct ckfs_member *)elt)->name);
}

const struct ckfs_member *ckfs_nested_find(const struct ckfs_nested *nt,
					   const char *name)
{
	return nt->n ? bsearch(name, nt->e, nt->n, sizeof(*nt->e), name_cmp)
		     : NULL;
}

ssize_t ckfs_nested_pread(const struct ckfs_nested *nt,
			  const struct ckfs_member *m, void *buf, size_t len,
			  uint64_t off)
{
	ssize_t r;

	if (m->type != CKFS_MEMBER_REG || m->unreadable)
		return -EIO;
	if (off >= m->size)
		return 0;
	if (len > m->size - off)
		len = (size_t)(m->size - off);
	if (nt->fd >= 0) {
		/* bounds were checked against the decoded length when indexed */
		r = ckfs_pread_full(nt->fd, buf, len,
				    nt->base + m->data_off + off);
		return r >= 0 && (size_t)r == len ? r : -EIO;
	}
	r = ckfs_archive_pread(nt->ar, nt->m, buf, len, m->data_off + off);
	if (r < 0)
		return -EIO;
	if ((size_t)r != len)
		return -EIO; /* the outer member is shorter than its tar says */
	return r;
}
