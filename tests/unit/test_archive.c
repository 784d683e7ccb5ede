/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * archive/: tars are written at test time (libarchive's writer in four
 * formats, plus hand-made headers for what a writer will not produce), then
 * every member ckfs_archive_open() indexes is read with ckfs_archive_pread()
 * and compared with what libarchive's own reader returns for it.  That
 * proves the data-offset method (archive_filter_bytes after each header).
 * Then the refusals (unsafe names, compression, truncation) and the
 * directory input (symlinks recorded, never followed).
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive.h"
#include "base/mem.h"
#include "tap.h"

static char tmpdir[] = "/tmp/ckfs-test-archive-XXXXXX";

static char *tpath(const char *name)
{
	static char buf[8][4096];
	static int slot;
	char *p = buf[slot++ % 8];

	snprintf(p, sizeof(buf[0]), "%s/%s", tmpdir, name);
	return p;
}

static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill(char *buf, size_t len, uint64_t seed)
{
	size_t i;

	rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
	for (i = 0; i < len; i++)
		buf[i] = (char)(rng() >> 24);
}

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/* ---- the members every generated tar holds ---- */

struct spec {
	char *name; /* as stored */
	int type;   /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFIFO */
	size_t size;
	char *link; /* symlink target, or hard link target */
	int hard;
	int sparse; /* pax only */
};

static struct spec specs[512];
static size_t nspecs;

static void add_spec(const char *name, int type, size_t size, const char *link,
		     int hard)
{
	struct spec *s = &specs[nspecs++];

	s->name = strdup(name);
	s->type = type;
	s->size = size;
	s->link = link ? strdup(link) : NULL;
	s->hard = hard;
	s->sparse = 0;
}

static char *repeat(char c, size_t n)
{
	static char buf[4][1024];
	static int slot;
	char *p = buf[slot++ % 4];

	memset(p, c, n);
	p[n] = '\0';
	return p;
}

/* @longnames: names and link targets that only GNU and pax can store */
static void make_specs(int longnames)
{
	char name[1024];
	size_t i;

	nspecs = 0;
	add_spec("./", AE_IFDIR, 0, NULL, 0);
	add_spec("./checkpoint/", AE_IFDIR, 0, NULL, 0);
	add_spec("./checkpoint/pstree.img", AE_IFREG, 1000, NULL, 0);
	/* larger than libarchive's 64 KiB read block: offsets must still hold */
	add_spec("./checkpoint/pages-1.img", AE_IFREG, 200000, NULL, 0);
	add_spec("empty", AE_IFREG, 0, NULL, 0);
	add_spec("exact512", AE_IFREG, 512, NULL, 0);
	add_spec("exact513", AE_IFREG, 513, NULL, 0);
	add_spec("./checkpoint/./dot//x.img", AE_IFREG, 77, NULL, 0);
	add_spec("dup.txt", AE_IFREG, 10, NULL, 0);
	add_spec("./sl", AE_IFLNK, 0, "../../etc/passwd", 0);
	add_spec("abs-sl", AE_IFLNK, 0, "/etc/passwd", 0);
	add_spec("hl", AE_IFREG, 0, "checkpoint/pstree.img", 1);
	add_spec("fifo", AE_IFIFO, 0, NULL, 0);
	/* ustar splits this one into prefix and name (150 chars) */
	snprintf(name, sizeof(name), "%s/%s", repeat('d', 60), repeat('f', 89));
	add_spec(name, AE_IFREG, 3000, NULL, 0);
	if (longnames) {
		snprintf(name, sizeof(name), "./%s/%s/%s", repeat('x', 120),
			 repeat('y', 120), repeat('z', 150));
		add_spec(name, AE_IFREG, 4321, NULL, 0);
		add_spec(repeat('n', 101), AE_IFREG, 5, NULL, 0);
		add_spec("long-sl", AE_IFLNK, 0, repeat('t', 300), 0);
		snprintf(name, sizeof(name), "%s/%s", repeat('x', 120),
			 repeat('h', 110));
		add_spec(name, AE_IFREG, 0, "exact513", 1);
	}
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "./many/f%03zu", i);
		add_spec(name, AE_IFREG, (i * 7919) % 2100, NULL, 0);
	}
	/* the same name again, later: it replaces the first */
	add_spec("./dup.txt", AE_IFREG, 1500, NULL, 0);
}

static void free_specs(void)
{
	size_t i;

	for (i = 0; i < nspecs; i++) {
		free(specs[i].name);
		free(specs[i].link);
	}
	nspecs = 0;
}

static const struct {
	const char *name;
	int (*add)(struct archive *);
} filters[] = {
	{ NULL, NULL },
	{ "gzip", archive_write_add_filter_gzip },
	{ "zstd", archive_write_add_filter_zstd },
	{ "xz", archive_write_add_filter_xz },
	{ "bzip2", archive_write_add_filter_bzip2 },
};

static int write_tar(const char *path, const char *format, int filter)
{
	struct archive *a = archive_write_new();
	char *data = malloc(256 * 1024);
	size_t i;
	int r = -1;

	if (!a || !data)
		goto out;
	if (archive_write_set_format_by_name(a, format) != ARCHIVE_OK)
		goto out;
	if (filter && filters[filter].add(a) != ARCHIVE_OK)
		goto out;
	if (archive_write_open_filename(a, path) != ARCHIVE_OK)
		goto out;
	for (i = 0; i < nspecs; i++) {
		const struct spec *s = &specs[i];
		struct archive_entry *e = archive_entry_new();

		archive_entry_set_pathname(e, s->name);
		archive_entry_set_filetype(e, (unsigned)s->type);
		archive_entry_set_perm(e, s->type == AE_IFDIR ? 0755 : 0644);
		archive_entry_set_mtime(e, 1700000000 + (time_t)i, 0);
		archive_entry_set_size(e, (la_int64_t)s->size);
		if (s->link && s->hard)
			archive_entry_set_hardlink(e, s->link);
		else if (s->link)
			archive_entry_set_symlink(e, s->link);
		if (s->sparse) {
			archive_entry_sparse_add_entry(e, 0, 512);
			archive_entry_sparse_add_entry(e, 4096, 512);
		}
		if (archive_write_header(a, e) != ARCHIVE_OK) {
			diag("write %s as %s: %s", s->name, format,
			     archive_error_string(a));
			archive_entry_free(e);
			goto out;
		}
		if (s->type == AE_IFREG && !s->hard && s->size) {
			fill(data, s->size, i + 1);
			if (archive_write_data(a, data, s->size) !=
			    (la_ssize_t)s->size) {
				archive_entry_free(e);
				goto out;
			}
		}
		archive_entry_free(e);
	}
	if (archive_write_close(a) == ARCHIVE_OK)
		r = 0;
out:
	if (a)
		archive_write_free(a);
	free(data);
	return r;
}

/* ---- what libarchive's reader says each member holds ---- */

struct got {
	char *name; /* normalized the simple way: enough for our names */
	int type;
	char *data;
	size_t len;
	char *link;
	int hard;
	int sparse;
};

static struct got gots[512];
static size_t ngots;

static void normalize(const char *in, char *out)
{
	size_t o = 0;

	while (*in) {
		const char *end = strchrnul(in, '/');
		size_t len = (size_t)(end - in);

		if (len && !(len == 1 && in[0] == '.')) {
			if (o)
				out[o++] = '/';
			memcpy(out + o, in, len);
			o += len;
		}
		in = *end ? end + 1 : end;
	}
	out[o] = '\0';
}

static struct got *find_got(const char *name)
{
	size_t i;

	for (i = 0; i < ngots; i++)
		if (strcmp(gots[i].name, name) == 0)
			return &gots[i];
	return NULL;
}

static void free_gots(void)
{
	size_t i;

	for (i = 0; i < ngots; i++) {
		free(gots[i].name);
		free(gots[i].data);
		free(gots[i].link);
	}
	ngots = 0;
}

static int read_with_libarchive(const char *path)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	size_t i;
	int r;

	free_gots();
	archive_read_support_format_tar(a);
	archive_read_support_filter_all(a);
	if (archive_read_open_filename(a, path, 10240) != ARCHIVE_OK) {
		archive_read_free(a);
		return -1;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK ||
	       r == ARCHIVE_WARN) {
		char name[4096];
		struct got *g;
		la_int64_t size = archive_entry_size(e);

		normalize(archive_entry_pathname(e), name);
		if (!name[0])
			continue;
		g = find_got(name);
		if (g) { /* a later duplicate replaces the earlier one */
			free(g->name);
			free(g->data);
			free(g->link);
		} else {
			g = &gots[ngots++];
		}
		memset(g, 0, sizeof(*g));
		g->name = strdup(name);
		g->type = (int)archive_entry_filetype(e);
		g->sparse = archive_entry_sparse_count(e) > 0;
		if (archive_entry_hardlink(e)) {
			g->hard = 1;
			g->link = strdup(archive_entry_hardlink(e));
		} else if (archive_entry_symlink(e)) {
			g->link = strdup(archive_entry_symlink(e));
		}
		g->data = malloc((size_t)size + 1);
		g->len = 0;
		while (g->len < (size_t)size) {
			la_ssize_t n = archive_read_data(a, g->data + g->len,
							 (size_t)size - g->len);

			if (n <= 0)
				break;
			g->len += (size_t)n;
		}
	}
	archive_read_free(a);
	if (r != ARCHIVE_EOF)
		return -1;
	/* a hard link reads as the member it names */
	for (i = 0; i < ngots; i++) {
		struct got *g = &gots[i], *t;
		char name[4096];

		if (!g->hard)
			continue;
		normalize(g->link, name);
		t = find_got(name);
		if (t) {
			free(g->data);
			g->data = malloc(t->len + 1);
			memcpy(g->data, t->data, t->len);
			g->len = t->len;
			g->type = t->type;
		}
	}
	return 0;
}

/* ---- the comparison ---- */

static const char *type_name(int type)
{
	switch (type) {
	case AE_IFREG:
		return "file";
	case AE_IFDIR:
		return "dir";
	case AE_IFLNK:
		return "symlink";
	default:
		return "other";
	}
}

static enum ckfs_member_type want_type(int ae)
{
	switch (ae) {
	case AE_IFREG:
		return CKFS_MEMBER_REG;
	case AE_IFDIR:
		return CKFS_MEMBER_DIR;
	case AE_IFLNK:
		return CKFS_MEMBER_SYMLINK;
	default:
		return CKFS_MEMBER_OTHER;
	}
}

/* Every member's type, size and bytes against libarchive's reader. */
static void compare_all(const char *label, struct ckfs_archive *ar)
{
	size_t i, bad_type = 0, bad_bytes = 0, bad_part = 0, bad_link = 0;
	size_t sorted = 1, nreg = 0;

	is_int(ckfs_archive_count(ar), ngots,
	       "%s: one member per distinct name (root and duplicates folded)",
	       label);
	for (i = 1; i < ckfs_archive_count(ar); i++)
		if (strcmp(ckfs_archive_member(ar, i - 1)->name,
			   ckfs_archive_member(ar, i)->name) >= 0)
			sorted = 0;
	ok(sorted, "%s: members sorted by name, no repeats", label);
	ok(ckfs_archive_member(ar, ckfs_archive_count(ar)) == NULL,
	   "%s: member(count) is NULL", label);

	for (i = 0; i < ngots; i++) {
		const struct got *g = &gots[i];
		const struct ckfs_member *m = ckfs_archive_find(ar, g->name);
		char *buf;
		ssize_t n;

		if (!m || m->type != want_type(g->type)) {
			diag("%s: %s (%s): %s", label, g->name,
			     type_name(g->type),
			     m ? "wrong type" : "not indexed");
			bad_type++;
			continue;
		}
		if (g->type == AE_IFLNK) {
			if (!m->link || strcmp(m->link, g->link) != 0)
				bad_link++;
			if (ckfs_archive_pread(ar, m, &(char){ 0 }, 1, 0) !=
			    -EIO)
				bad_link++;
			continue;
		}
		if (g->type != AE_IFREG) {
			if (ckfs_archive_pread(ar, m, &(char){ 0 }, 1, 0) !=
			    -EIO)
				bad_type++;
			continue;
		}
		if (g->sparse)
			continue; /* checked on its own */
		nreg++;
		buf = malloc(g->len + 16);
		n = ckfs_archive_pread(ar, m, buf, g->len + 16, 0);
		if (m->size != g->len || n != (ssize_t)g->len ||
		    memcmp(buf, g->data, g->len) != 0) {
			diag("%s: %s: size %llu read %zd, libarchive %zu",
			     label, g->name, (unsigned long long)m->size, n,
			     g->len);
			bad_bytes++;
		}
		/* a few windows, one running past the end */
		if (g->len > 3) {
			size_t off = g->len / 3, len = g->len - off + 5;

			n = ckfs_archive_pread(ar, m, buf, len, off);
			if (n != (ssize_t)(g->len - off) ||
			    memcmp(buf, g->data + off, g->len - off) != 0)
				bad_part++;
			n = ckfs_archive_pread(ar, m, buf, 2, g->len - 1);
			if (n != 1 || buf[0] != g->data[g->len - 1])
				bad_part++;
		}
		if (ckfs_archive_pread(ar, m, buf, 4, g->len) != 0 ||
		    ckfs_archive_pread(ar, m, buf, 4, g->len + 4096) != 0 ||
		    ckfs_archive_pread(ar, m, buf, 4, UINT64_MAX) != 0)
			bad_part++;
		free(buf);
	}
	is_int(bad_type, 0, "%s: every member indexed with its type", label);
	is_int(bad_bytes, 0,
	       "%s: pread of all %zu files equals libarchive's bytes", label,
	       nreg);
	is_int(bad_part, 0,
	       "%s: partial reads, reads at and past the end are exact", label);
	is_int(bad_link, 0, "%s: symlinks keep their target, read as EIO",
	       label);
}

/* The writer's own bytes against the reader's: the test's own sanity. */
static void check_written(const char *label)
{
	size_t i, bad = 0;
	char *data = malloc(256 * 1024);

	for (i = 0; i < nspecs; i++) {
		const struct spec *s = &specs[i];
		char name[4096];
		const struct got *g;

		if (s->type != AE_IFREG || s->hard || s->sparse)
			continue;
		normalize(s->name, name);
		g = find_got(name);
		/* the first dup.txt is replaced by the later one */
		if (strcmp(name, "dup.txt") == 0 && s->size == 10)
			continue;
		fill(data, s->size, i + 1);
		if (!g || g->len != s->size || memcmp(g->data, data, s->size))
			bad++;
	}
	free(data);
	is_int(bad, 0, "%s: libarchive reads back what was written", label);
}

static void test_format(const char *format, int longnames)
{
	struct ckfs_archive *ar = NULL;
	struct ckfs_err err = { 0 };
	const struct ckfs_member *m, *t;
	char *path = tpath(format);
	char *all = NULL;
	size_t len = 0;
	int r;

	make_specs(longnames);
	if (strcmp(format, "pax") == 0) {
		add_spec("sparse.bin", AE_IFREG, 8192, NULL, 0);
		specs[nspecs - 1].sparse = 1;
	}
	if (!ok(write_tar(path, format, 0) == 0, "%s: tar written", format) ||
	    !ok(read_with_libarchive(path) == 0, "%s: libarchive reads it",
		format)) {
		free_specs();
		return;
	}
	check_written(format);
	r = ckfs_archive_open(path, &ar, &err);
	if (!ok(r == 0, "%s: ckfs_archive_open", format)) {
		diag("%d %s", r, err.msg);
		free_specs();
		return;
	}
	ok(ckfs_archive_kind(ar) == CKFS_ARCHIVE_TAR, "%s: a tar", format);
	is_str(ckfs_archive_path(ar), path, "%s: path kept", format);
	{
		struct stat st;

		stat(path, &st);
		is_int(ckfs_archive_file_size(ar), st.st_size, "%s: file size",
		       format);
	}
	compare_all(format, ar);

	m = ckfs_archive_find(ar, "dup.txt");
	ok(m && m->size == 1500, "%s: the later of two duplicates wins",
	   format);
	m = ckfs_archive_find(ar, "hl");
	t = ckfs_archive_find(ar, "checkpoint/pstree.img");
	ok(m && t && m->type == CKFS_MEMBER_REG && m->size == t->size &&
		   m->data_off == t->data_off && !m->unreadable,
	   "%s: a hard link serves its target's data", format);
	m = ckfs_archive_find(ar, "checkpoint/dot/x.img");
	ok(m && m->size == 77, "%s: '.' and empty components dropped", format);
	ok(ckfs_archive_find(ar, "") == NULL &&
		   ckfs_archive_find(ar, ".") == NULL,
	   "%s: the './' root is not a member", format);
	m = ckfs_archive_find(ar, "checkpoint");
	ok(m && m->type == CKFS_MEMBER_DIR && m->mode == 0755,
	   "%s: directory without its trailing '/', mode kept", format);
	m = ckfs_archive_find(ar, "checkpoint/pstree.img");
	ok(m && m->mode == 0644 && m->mtime == 1700000000 + 2,
	   "%s: mode and mtime from the header", format);
	m = ckfs_archive_find(ar, "sl");
	ok(m && m->type == CKFS_MEMBER_SYMLINK && m->size == 0 &&
		   strcmp(m->link, "../../etc/passwd") == 0,
	   "%s: a symlink target with '..' is recorded, not refused", format);

	m = ckfs_archive_find(ar, "checkpoint/pages-1.img");
	r = m ? ckfs_archive_read_all(ar, m, 200000, &all, &len) : -1;
	ok(r == 0 && len == 200000 && all[len] == '\0' &&
		   memcmp(all, find_got("checkpoint/pages-1.img")->data, len) ==
			   0,
	   "%s: read_all at exactly the limit, NUL-terminated", format);
	free(all);
	r = m ? ckfs_archive_read_all(ar, m, 199999, &all, &len) : 0;
	ok(r == -EOVERFLOW && all == NULL && len == 0,
	   "%s: read_all over the limit is -EOVERFLOW", format);
	m = ckfs_archive_find(ar, "sl");
	ok(m && ckfs_archive_read_all(ar, m, 100, &all, &len) == -EIO,
	   "%s: read_all of a symlink is -EIO", format);
	m = ckfs_archive_find(ar, "empty");
	r = m ? ckfs_archive_read_all(ar, m, 100, &all, &len) : -1;
	ok(r == 0 && len == 0 && all && all[0] == '\0',
	   "%s: read_all of an empty member", format);
	free(all);

	if (longnames) {
		char name[1024];

		snprintf(name, sizeof(name), "%s/%s", repeat('x', 120),
			 repeat('h', 110));
		m = ckfs_archive_find(ar, name);
		t = ckfs_archive_find(ar, "exact513");
		ok(m && t && m->size == 513 && m->data_off == t->data_off,
		   "%s: long-named hard link resolved", format);
		m = ckfs_archive_find(ar, "long-sl");
		ok(m && m->link && strlen(m->link) == 300,
		   "%s: 300-byte symlink target", format);
	}
	if (strcmp(format, "pax") == 0) {
		const struct got *g = find_got("sparse.bin");

		m = ckfs_archive_find(ar, "sparse.bin");
		if (g && g->sparse)
			ok(m && m->unreadable &&
				   ckfs_archive_pread(ar, m, &(char){ 0 }, 1,
						      0) == -EIO,
			   "pax: a sparse member is listed but reads as EIO");
		else
			diag("pax writer did not write a sparse member");
	}
	ckfs_archive_free(ar);
	free_specs();
}

/* ---- hand-made headers ---- */

struct raw {
	char *buf;
	size_t len, cap;
};

static void raw_add(struct raw *t, const void *p, size_t n)
{
	if (t->len + n > t->cap) {
		t->cap = (t->len + n) * 2;
		t->buf = realloc(t->buf, t->cap);
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
}

static void raw_pad(struct raw *t)
{
	static const char zero[512];

	if (t->len % 512)
		raw_add(t, zero, 512 - t->len % 512);
}

static void raw_hdr(struct raw *t, const char *name, char type, size_t size,
		    const char *link)
{
	char h[512] = { 0 };
	unsigned sum = 0;
	size_t i;

	snprintf(h, 100, "%s", name);
	memcpy(h + 100, "0000644", 8);
	memcpy(h + 108, "0000000", 8);
	memcpy(h + 116, "0000000", 8);
	snprintf(h + 124, 12, "%011llo", (unsigned long long)size);
	memcpy(h + 136, "14724563400", 11);
	h[156] = type;
	if (link)
		snprintf(h + 157, 100, "%s", link);
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (i = 0; i < 512; i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	raw_add(t, h, 512);
}

static void raw_file(struct raw *t, const char *name, const char *data,
		     size_t len)
{
	raw_hdr(t, name, '0', len, NULL);
	raw_add(t, data, len);
	raw_pad(t);
}

/* A pax 'x' header of "key=value" records. */
static void raw_pax(struct raw *t, const char *const *kv, size_t n)
{
	char recs[4096];
	size_t o = 0, i;

	for (i = 0; i < n; i++) {
		size_t body = strlen(kv[i]) + 2; /* ' ' and '\n' */
		size_t len = body + 1, digits;

		/* the length counts its own digits */
		for (;;) {
			digits = (size_t)snprintf(NULL, 0, "%zu", len);
			if (body + digits == len)
				break;
			len = body + digits;
		}
		o += (size_t)snprintf(recs + o, sizeof(recs) - o, "%zu %s\n",
				      len, kv[i]);
	}
	raw_hdr(t, "PaxHeaders/x", 'x', o, NULL);
	raw_add(t, recs, o);
	raw_pad(t);
}

static void raw_end(struct raw *t)
{
	static const char zero[1024];

	raw_add(t, zero, sizeof(zero));
}

static int open_raw(const char *file, struct raw *t, struct ckfs_archive **ar,
		    struct ckfs_err *err)
{
	char *p = tpath(file);

	memset(err, 0, sizeof(*err));
	write_file(p, t->buf, t->len);
	free(t->buf);
	memset(t, 0, sizeof(*t));
	*ar = NULL;
	return ckfs_archive_open(p, ar, err);
}

static void test_pax_overrides(void)
{
	static const char *const kv[] = { "path=pax/real-name.bin",
					  "size=5000" };
	struct raw t = { 0 };
	struct ckfs_archive *ar;
	struct ckfs_err err;
	const struct ckfs_member *m;
	char data[5000], got[5000];
	int r;

	fill(data, sizeof(data), 99);
	raw_file(&t, "before", "abc", 3);
	raw_pax(&t, kv, 2);
	raw_hdr(&t, "ustar-name", '0', 0, NULL); /* size field says 0 */
	raw_add(&t, data, sizeof(data));
	raw_pad(&t);
	raw_file(&t, "after", "xyz", 3);
	raw_end(&t);
	r = open_raw("pax-override.tar", &t, &ar, &err);
	if (!ok(r == 0, "pax path and size override the ustar header")) {
		diag("%s", err.msg);
		return;
	}
	read_with_libarchive(tpath("pax-override.tar"));
	compare_all("pax-override", ar);
	m = ckfs_archive_find(ar, "pax/real-name.bin");
	ok(m && m->size == 5000 &&
		   ckfs_archive_pread(ar, m, got, sizeof(got), 0) == 5000 &&
		   memcmp(got, data, sizeof(data)) == 0,
	   "pax: the member is named and sized by the pax records");
	ok(!ckfs_archive_find(ar, "ustar-name"), "pax: the ustar name is gone");
	ckfs_archive_free(ar);
}

/*
 * A member bigger than ustar's 8 GiB, sized by pax; the file is sparse on
 * disk, so this costs nothing where the file system has holes.
 */
static void test_pax_big(void)
{
	const uint64_t big = (8ull << 30) + 1234;
	char rec[64];
	const char *kv[] = { rec };
	struct raw t = { 0 };
	struct ckfs_archive *ar = NULL;
	struct ckfs_err err = { 0 };
	const struct ckfs_member *m;
	char *p = tpath("big.tar");
	uint64_t data_off, end;
	char got[8];
	int fd, r;

	snprintf(rec, sizeof(rec), "size=%llu", (unsigned long long)big);
	raw_file(&t, "small", "abc", 3);
	raw_pax(&t, kv, 1);
	raw_hdr(&t, "big.bin", '0', 0, NULL);
	data_off = t.len;
	end = data_off + (big + 511) / 512 * 512;
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, t.buf, t.len) != (ssize_t)t.len ||
	    ftruncate(fd, (off_t)(end + 1024)) < 0) {
		diag("no sparse 8 GiB file here; skipping the big member");
		if (fd >= 0)
			close(fd);
		free(t.buf);
		unlink(p);
		return;
	}
	free(t.buf);
	r = (int)pwrite(fd, "HEAD", 4, (off_t)data_off);
	r += (int)pwrite(fd, "TAIL", 4, (off_t)(data_off + big - 4));
	close(fd);
	r = ckfs_archive_open(p, &ar, &err);
	if (ok(r == 0, "pax: an 8 GiB + 1234 member indexes")) {
		m = ckfs_archive_find(ar, "big.bin");
		ok(m && m->size == big && m->data_off == data_off,
		   "pax: 64-bit size and offset");
		ok(m && ckfs_archive_pread(ar, m, got, 8, big - 4) == 4 &&
			   memcmp(got, "TAIL", 4) == 0 &&
			   ckfs_archive_pread(ar, m, got, 4, 0) == 4 &&
			   memcmp(got, "HEAD", 4) == 0,
		   "pax: bytes at both ends of the big member");
		ckfs_archive_free(ar);
	} else {
		diag("%s", err.msg);
	}
	/* the same, cut short: truncated, with the 64-bit end in the message */
	if (truncate(p, (off_t)(data_off + 4096)) == 0) {
		char want[64];

		r = ckfs_archive_open(p, &ar, &err);
		is_int(r, -EBADMSG, "pax: big member cut short is refused");
		snprintf(want, sizeof(want), "%llu",
			 (unsigned long long)(data_off + big));
		has_str(err.msg, "big.bin", "  naming the member");
		has_str(err.msg, want, "  and where its data should end");
	}
	unlink(p);
}

static void expect_refused(const char *file, struct raw *t, int code,
			   const char *what, const char *needle)
{
	struct ckfs_archive *ar;
	struct ckfs_err err;
	int r = open_raw(file, t, &ar, &err);

	is_int(r, code, "%s: refused", what);
	ok(ar == NULL, "%s: no archive handed out", what);
	has_str(err.msg, needle, "%s: message names it", what);
	ok(!strchr(err.msg, '\n'), "%s: one line", what);
	ckfs_archive_free(ar);
}

static void test_unsafe_names(void)
{
	static const struct {
		const char *name, *what;
	} cases[] = {
		{ "../evil", "a leading '..'" },
		{ "a/b/../../../evil", "'..' in the middle" },
		{ "a/..", "a trailing '..'" },
		{ "./../evil", "'./..'" },
		{ "/etc/passwd", "a leading '/'" },
		{ "//etc/x", "a leading '//'" },
	};
	size_t i;

	for (i = 0; i < CKFS_ARRAY_SIZE(cases); i++) {
		struct raw t = { 0 };

		raw_file(&t, "fine", "x", 1);
		raw_file(&t, cases[i].name, "bad", 3);
		raw_end(&t);
		expect_refused("unsafe.tar", &t, -EINVAL, cases[i].what,
			       cases[i].name);
	}
	{
		static const char *const kv[] = {
			"path=ok/../../../etc/shadow"
		};
		struct raw t = { 0 };

		raw_pax(&t, kv, 1);
		raw_file(&t, "innocent", "x", 1);
		raw_end(&t);
		expect_refused("unsafe-pax.tar", &t, -EINVAL,
			       "'..' in a pax path", "etc/shadow");
	}
	{
		struct raw t = { 0 };
		char longname[300];

		snprintf(longname, sizeof(longname), "%s/../../x",
			 repeat('q', 200));
		raw_hdr(&t, "././@LongLink", 'L', strlen(longname) + 1, NULL);
		raw_add(&t, longname, strlen(longname) + 1);
		raw_pad(&t);
		raw_file(&t, "short", "x", 1);
		raw_end(&t);
		expect_refused("unsafe-gnu.tar", &t, -EINVAL,
			       "'..' in a GNU long name", "/../../x");
	}
	{
		/* names that look odd but stay inside are fine */
		struct raw t = { 0 };
		struct ckfs_archive *ar;
		struct ckfs_err err;

		raw_file(&t, "..hidden", "a", 1);
		raw_file(&t, "a/...", "b", 1);
		raw_file(&t, "x..y/z", "c", 1);
		raw_end(&t);
		ok(open_raw("dots.tar", &t, &ar, &err) == 0 &&
			   ckfs_archive_count(ar) == 3 &&
			   ckfs_archive_find(ar, "..hidden") &&
			   ckfs_archive_find(ar, "a/...") &&
			   ckfs_archive_find(ar, "x..y/z"),
		   "'..hidden', '...', 'x..y' are ordinary names");
		ckfs_archive_free(ar);
	}
}

/*
 * A tar compressed as a whole is decoded in the background: its members
 * must read exactly as libarchive's reader decodes them; garbage behind a
 * compression magic, or a stream cut short, is an error naming the file.
 */
static void test_compressed(void)
{
	struct ckfs_archive *ar = NULL;
	struct ckfs_err err = { 0 };
	size_t i;
	int r;

	for (i = 1; i < CKFS_ARRAY_SIZE(filters); i++) {
		const char *cname = filters[i].name;
		char label[64], *path = tpath(cname);

		snprintf(label, sizeof(label), "gnutar+%s", cname);
		make_specs(1);
		r = write_tar(path, "gnutar", (int)i);
		free_specs();
		if (r < 0 || read_with_libarchive(path) < 0) {
			diag("libarchive cannot write %s here; skipped", cname);
			continue;
		}
		r = ckfs_archive_open(path, &ar, &err);
		if (!ok(r == 0, "%s: opens", label)) {
			diag("%d %s", r, err.msg);
			continue;
		}
		is_str(ckfs_archive_compression(ar), cname,
		       "%s: compression named", label);
		compare_all(label, ar);
		is_int(ckfs_archive_status(ar, &err), 0,
		       "%s: the decode ended well", label);
		ckfs_archive_free(ar);
		ar = NULL;

		/* the same stream cut in half */
		{
			struct stat st;

			stat(path, &st);
			truncate(path, st.st_size / 2);
		}
		memset(&err, 0, sizeof(err));
		r = ckfs_archive_open(path, &ar, &err);
		if (r == 0) {
			ckfs_archive_count(ar); /* waits for the decode's end */
			r = ckfs_archive_status(ar, &err);
		}
		ok(r < 0, "%s cut in half: an error (%d)", label, r);
		has_str(err.msg, cname, "  naming the file");
		ckfs_archive_free(ar);
		ar = NULL;
	}
	for (i = 1; i < CKFS_ARRAY_SIZE(filters); i++) {
		static const char *const magic[] = {
			NULL, "\x1f\x8b\x08\0\0\0\0\0", "\x28\xb5\x2f\xfd",
			"\xfd\x37\x7a\x58\x5a\x00", "BZh91AY&SY"
		};
		char buf[1024] = { 0 }, name[32];

		fill(buf, sizeof(buf), i);
		memcpy(buf, magic[i], strlen(magic[i]) + (i == 1 ? 4 : 0));
		if (i == 3)
			memcpy(buf, magic[i], 6);
		snprintf(name, sizeof(name), "garbage.%s", filters[i].name);
		write_file(tpath(name), buf, sizeof(buf));
		memset(&err, 0, sizeof(err));
		r = ckfs_archive_open(tpath(name), &ar, &err);
		if (r == 0) {
			ckfs_archive_count(ar);
			r = ckfs_archive_status(ar, &err);
		}
		ok(r < 0, "%s magic then garbage: an error (%d)",
		   filters[i].name, r);
		has_str(err.msg, name, "  naming the file");
		ok(!strchr(err.msg, '\n'), "  in one line");
		ckfs_archive_free(ar);
		ar = NULL;
	}
}

static void test_truncated(void)
{
	struct ckfs_archive *ar = NULL;
	struct ckfs_err err = { 0 };
	const struct ckfs_member *m;
	char *full = tpath("trunc-full.tar"), *cut = tpath("trunc.tar");
	uint64_t off;
	char *buf;
	int fd, r;

	make_specs(0);
	r = write_tar(full, "gnutar", 0);
	free_specs();
	if (!ok(r == 0 && ckfs_archive_open(full, &ar, &err) == 0,
		"a tar to cut"))
		return;
	m = ckfs_archive_find(ar, "checkpoint/pages-1.img");
	off = m ? m->data_off : 0;
	ckfs_archive_free(ar);
	ar = NULL;
	buf = malloc(off + 1000);
	fd = open(full, O_RDONLY);
	r = (int)read(fd, buf, off + 1000);
	close(fd);
	if (r != (int)(off + 1000)) {
		free(buf);
		return;
	}
	/* in the middle of a member's data */
	write_file(cut, buf, off + 1000);
	r = ckfs_archive_open(cut, &ar, &err);
	is_int(r, -EBADMSG, "cut inside a member's data: -EBADMSG");
	has_str(err.msg, "checkpoint/pages-1.img", "  names the member");
	has_str(err.msg, "truncated", "  says truncated");
	/* in the middle of its header */
	write_file(cut, buf, off - 300);
	r = ckfs_archive_open(cut, &ar, &err);
	is_int(r, -EBADMSG, "cut inside a header: -EBADMSG");
	has_str(err.msg, "pstree.img", "  names the member before it");
	/* nothing but a header's first bytes */
	write_file(cut, buf, 100);
	r = ckfs_archive_open(cut, &ar, &err);
	is_int(r, -EBADMSG, "a 100-byte tar: -EBADMSG");
	free(buf);
	ok(ar == NULL, "nothing handed out on failure");

	/* garbage that is no tar at all */
	buf = calloc(1, 4096);
	fill(buf, 4096, 7);
	buf[0] = 'G'; /* not a compression magic */
	write_file(cut, buf, 4096);
	free(buf);
	r = ckfs_archive_open(cut, &ar, &err);
	is_int(r, -EBADMSG, "random bytes: -EBADMSG");
	has_str(err.msg, cut, "  names the file");

	/* a bad checksum in the second header */
	{
		struct raw t = { 0 };

		raw_file(&t, "first", "1", 1);
		raw_file(&t, "second", "2", 1);
		raw_end(&t);
		t.buf[512 * 2 + 150] ^= 1; /* checksum digit of "second" */
		expect_refused("cksum.tar", &t, -EBADMSG,
			       "a bad header checksum", "first");
	}
}

static void test_missing(void)
{
	struct ckfs_archive *ar = (void *)1;
	struct ckfs_err err = { 0 };
	int r;

	r = ckfs_archive_open(tpath("no-such-file"), &ar, &err);
	is_int(r, -ENOENT, "a missing path: -ENOENT");
	ok(ar == NULL, "  *out cleared");
	has_str(err.msg, "no-such-file", "  names it");
	r = ckfs_archive_open("/dev/null", &ar, &err);
	is_int(r, -EINVAL, "a character device: -EINVAL");
	/* a fifo nobody writes to must not block the open */
	mkfifo(tpath("a-fifo"), 0600);
	r = ckfs_archive_open(tpath("a-fifo"), &ar, &err);
	is_int(r, -EINVAL, "a fifo: -EINVAL, without blocking");
	has_str(err.msg, "not a regular file or a directory", "  says why");
	ckfs_archive_free(NULL);
	ok(1, "ckfs_archive_free(NULL) is a no-op");
}

/* ---- directory input ---- */

static void test_directory(void)
{
	struct ckfs_archive *ar = NULL;
	struct ckfs_err err = { 0 };
	const struct ckfs_member *m;
	char dir[4096], data[70000], got[70000];
	char secret[] = "top secret outside the checkpoint\n";
	int r;

	snprintf(dir, sizeof(dir), "%s", tpath("dir"));
	mkdir(dir, 0755);
	mkdir(tpath("dir/checkpoint"), 0755);
	mkdir(tpath("dir/checkpoint/deeper"), 0700);
	mkdir(tpath("outside"), 0755);
	write_file(tpath("outside/secret"), secret, sizeof(secret) - 1);
	write_file(tpath("outside/pages-1.img"), secret, sizeof(secret) - 1);
	fill(data, sizeof(data), 3);
	write_file(tpath("dir/checkpoint/pages-1.img"), data, sizeof(data));
	write_file(tpath("dir/checkpoint/deeper/f"), "deep", 4);
	write_file(tpath("dir/checkpoint/deeper/g"), "never read", 10);
	write_file(tpath("dir/empty"), "", 0);
	write_file(tpath("dir/swap"), "original", 8);
	symlink(tpath("outside/secret"), tpath("dir/abs-link"));
	symlink("../outside/secret", tpath("dir/rel-link"));
	symlink(tpath("outside"), tpath("dir/dir-link"));
	symlink("nowhere", tpath("dir/dangling"));
	mkfifo(tpath("dir/fifo"), 0600);

	r = ckfs_archive_open(dir, &ar, &err);
	if (!ok(r == 0, "directory input opens")) {
		diag("%s", err.msg);
		return;
	}
	ok(ckfs_archive_kind(ar) == CKFS_ARCHIVE_DIR, "kind is DIR");
	is_int(ckfs_archive_file_size(ar), 0, "no file size for a directory");
	is_int(ckfs_archive_count(ar), 12, "every entry once, none via a link");
	m = ckfs_archive_find(ar, "checkpoint/pages-1.img");
	ok(m && m->type == CKFS_MEMBER_REG && m->size == sizeof(data) &&
		   ckfs_archive_pread(ar, m, got, sizeof(got), 0) ==
			   (ssize_t)sizeof(data) &&
		   memcmp(got, data, sizeof(data)) == 0,
	   "a nested file reads byte-exact");
	ok(m && ckfs_archive_pread(ar, m, got, 100, sizeof(data) - 10) == 10 &&
		   memcmp(got, data + sizeof(data) - 10, 10) == 0,
	   "a read past its end is short");
	m = ckfs_archive_find(ar, "checkpoint/deeper");
	ok(m && m->type == CKFS_MEMBER_DIR && m->mode == 0700,
	   "subdirectory listed with its mode");
	m = ckfs_archive_find(ar, "checkpoint/deeper/f");
	ok(m && ckfs_archive_pread(ar, m, got, 10, 0) == 4 &&
		   memcmp(got, "deep", 4) == 0,
	   "two levels down reads");
	m = ckfs_archive_find(ar, "abs-link");
	ok(m && m->type == CKFS_MEMBER_SYMLINK && m->link &&
		   strcmp(m->link, tpath("outside/secret")) == 0,
	   "an absolute symlink is a symlink member with its target");
	ok(m && ckfs_archive_pread(ar, m, got, sizeof(got), 0) == -EIO,
	   "  and reading it is -EIO, not the file outside");
	m = ckfs_archive_find(ar, "rel-link");
	ok(m && m->type == CKFS_MEMBER_SYMLINK &&
		   ckfs_archive_pread(ar, m, got, sizeof(got), 0) == -EIO,
	   "a relative symlink out is -EIO too");
	m = ckfs_archive_find(ar, "dir-link");
	ok(m && m->type == CKFS_MEMBER_SYMLINK,
	   "a symlink to a directory is a symlink member");
	ok(!ckfs_archive_find(ar, "dir-link/secret") &&
		   !ckfs_archive_find(ar, "dir-link/pages-1.img"),
	   "  and is not walked");
	m = ckfs_archive_find(ar, "dangling");
	ok(m && m->type == CKFS_MEMBER_SYMLINK && !strcmp(m->link, "nowhere"),
	   "a dangling symlink is listed");
	m = ckfs_archive_find(ar, "fifo");
	ok(m && m->type == CKFS_MEMBER_OTHER &&
		   ckfs_archive_pread(ar, m, got, 1, 0) == -EIO,
	   "a fifo is OTHER and never opened");
	m = ckfs_archive_find(ar, "empty");
	ok(m && m->size == 0 && ckfs_archive_pread(ar, m, got, 1, 0) == 0,
	   "an empty file reads 0 bytes");

	/* a file swapped for a symlink after indexing is not followed */
	m = ckfs_archive_find(ar, "swap");
	unlink(tpath("dir/swap"));
	symlink(tpath("outside/secret"), tpath("dir/swap"));
	ok(m && ckfs_archive_pread(ar, m, got, 8, 0) == -EIO,
	   "a file replaced by a symlink after indexing reads -EIO");
	/* a directory swapped for a symlink: no path through it */
	rename(tpath("dir/checkpoint/deeper"), tpath("deeper-moved"));
	symlink(tpath("outside"), tpath("dir/checkpoint/deeper"));
	write_file(tpath("outside/g"), secret, sizeof(secret) - 1);
	m = ckfs_archive_find(ar, "checkpoint/deeper/g");
	ok(m && ckfs_archive_pread(ar, m, got, 8, 0) == -EIO,
	   "a directory replaced by a symlink is not crossed");
	m = ckfs_archive_find(ar, "checkpoint/deeper/f");
	ok(m && ckfs_archive_pread(ar, m, got, 4, 0) == 4 &&
		   memcmp(got, "deep", 4) == 0,
	   "a file opened before keeps reading the same file");
	ckfs_archive_free(ar);

	/* a directory holding an unsafe name cannot exist; depth is bounded */
	{
		char deep[4096] = "";
		size_t o, i;

		o = (size_t)snprintf(deep, sizeof(deep), "%s", tpath("nest"));
		mkdir(deep, 0755);
		for (i = 0; i < CKFS_ARCHIVE_DEPTH_MAX + 2; i++) {
			o += (size_t)snprintf(deep + o, sizeof(deep) - o, "/d");
			mkdir(deep, 0755);
		}
		r = ckfs_archive_open(tpath("nest"), &ar, &err);
		is_int(r, -EOVERFLOW,
		       "directories nested too deep: -EOVERFLOW");
		has_str(err.msg, "deeper", "  says so");
	}
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	return remove(path);
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		tap_skip_all("cannot make a temporary directory");
	test_format("ustar", 0);
	test_format("gnutar", 1);
	test_format("pax", 1);
	test_format("paxr", 1); /* pax restricted */
	test_pax_overrides();
	test_pax_big();
	test_unsafe_names();
	test_compressed();
	test_truncated();
	test_missing();
	test_directory();
	free_gots();
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
