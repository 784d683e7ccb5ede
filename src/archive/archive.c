/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Indexing: a tar is walked once with libarchive, reading headers only (the
 * data of each member is skipped with a seek); the offset of each member's
 * data in the file is recorded, and reads are served with pread() on the
 * archive's fd.  A directory is walked with openat() and never follows a
 * symlink; its files are opened on first read, beneath the directory.
 */
#include "archive/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/mem.h"

struct ckfs_archive {
	char *path;
	enum ckfs_archive_kind kind;
	int fd; /* tar: the file; dir: the directory */
	uint64_t file_size;
	size_t n, cap;
	struct ckfs_member *m;
};

static void member_fini(struct ckfs_member *m)
{
	free(m->name);
	free(m->link);
	if (m->fd >= 0)
		close(m->fd);
}

void ckfs_archive_free(struct ckfs_archive *ar)
{
	size_t i;

	if (!ar)
		return;
	for (i = 0; i < ar->n; i++)
		member_fini(&ar->m[i]);
	free(ar->m);
	if (ar->fd >= 0)
		close(ar->fd);
	free(ar->path);
	free(ar);
}

/*
 * Normalize a stored name into @out: drop leading "./", empty and "."
 * components and a trailing '/'.  Returns 0, 1 for "the archive root
 * itself" (skip it), or -EINVAL for a name that would leave the archive.
 */
static int normalize_name(const char *name, char *out, size_t outsz)
{
	const char *p = name;
	size_t o = 0;

	if (name[0] == '/')
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
	const struct ckfs_member *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static struct ckfs_member *add_member(struct ckfs_archive *ar)
{
	struct ckfs_member *m;

	if (ar->n == ar->cap) {
		size_t cap = ar->cap ? ar->cap * 2 : 64;

		m = reallocarray(ar->m, cap, sizeof(*m));
		if (!m)
			return NULL;
		ar->m = m;
		ar->cap = cap;
	}
	m = &ar->m[ar->n++];
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	return m;
}

/*
 * Sort by name; when a tar holds the same name twice, the later one wins,
 * as tar extraction would do.  qsort is not stable, but a later entry's
 * data offset is always larger, which decides ties.
 */
static void sort_members(struct ckfs_archive *ar)
{
	size_t i, o;

	qsort(ar->m, ar->n, sizeof(*ar->m), member_cmp);
	for (i = 0, o = 0; i < ar->n; i++) {
		if (o > 0 && strcmp(ar->m[o - 1].name, ar->m[i].name) == 0) {
			/* keep the entry that came last in the archive */
			if (ar->m[i].data_off >= ar->m[o - 1].data_off) {
				member_fini(&ar->m[o - 1]);
				ar->m[o - 1] = ar->m[i];
			} else {
				member_fini(&ar->m[i]);
			}
			continue;
		}
		ar->m[o++] = ar->m[i];
	}
	ar->n = o;
}

static int sniff_compression(int fd, const char *path, struct ckfs_err *err)
{
	static const struct {
		const char *name, *magic, *tool;
		size_t len;
	} kinds[] = {
		{ "gzip", "\x1f\x8b", "gzip -d", 2 },
		{ "zstd", "\x28\xb5\x2f\xfd", "zstd -d", 4 },
		{ "xz", "\xfd\x37\x7a\x58\x5a\x00", "xz -d", 6 },
		{ "bzip2", "BZh", "bzip2 -d", 3 },
	};
	unsigned char head[8] = { 0 };
	ssize_t n = pread(fd, head, sizeof(head), 0);
	size_t i;

	if (n < 0)
		return ckfs_err_set(err, -errno, "%s: cannot read: %s", path,
				    strerror(errno));
	for (i = 0; i < CKFS_ARRAY_SIZE(kinds); i++) {
		if ((size_t)n >= kinds[i].len &&
		    memcmp(head, kinds[i].magic, kinds[i].len) == 0)
			return ckfs_err_set(
				err, -ENOTSUP,
				"%s: %s-compressed archives are not supported yet; decompress it first (%s)",
				path, kinds[i].name, kinds[i].tool);
	}
	return 0;
}

static int index_tar(struct ckfs_archive *ar, struct ckfs_err *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ent;
	char name[CKFS_ARCHIVE_NAME_MAX + 2];
	char last[CKFS_ARCHIVE_NAME_MAX + 2] = "";
	int r = 0, ar_r;

	if (!a)
		return ckfs_err_set(err, -ENOMEM, "out of memory");
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	if (archive_read_open_fd(a, ar->fd, 64 * 1024) != ARCHIVE_OK) {
		r = ckfs_err_set(err, -EBADMSG, "%s: not a tar archive: %s",
				 ar->path, archive_error_string(a));
		goto out;
	}
	for (;;) {
		struct ckfs_member *m;
		const char *pathname, *link;
		int64_t off;
		int nr;

		ar_r = archive_read_next_header(a, &ent);
		if (ar_r == ARCHIVE_EOF)
			break;
		if (ar_r != ARCHIVE_OK && ar_r != ARCHIVE_WARN) {
			if (last[0])
				r = ckfs_err_set(err, -EBADMSG,
						 "%s: after member %s: %s",
						 ar->path, last,
						 archive_error_string(a));
			else
				r = ckfs_err_set(err, -EBADMSG, "%s: %s",
						 ar->path,
						 archive_error_string(a));
			goto out;
		}
		pathname = archive_entry_pathname(ent);
		if (!pathname) {
			r = ckfs_err_set(err, -EBADMSG,
					 "%s: member after %s has no name",
					 ar->path, last[0] ? last : "the start");
			goto out;
		}
		nr = normalize_name(pathname, name, sizeof(name));
		if (nr < 0) {
			r = ckfs_err_set(
				err, -EINVAL, "%s: member name %s %s", ar->path,
				pathname,
				nr == -EINVAL ?
					"leaves the archive ('..' or a leading '/'); refusing it" :
					"is too long");
			goto out;
		}
		snprintf(last, sizeof(last), "%s", pathname);
		if (nr == 1)
			continue; /* "./" itself */
		if (ar->n >= CKFS_ARCHIVE_MEMBERS_MAX) {
			r = ckfs_err_set(err, -EOVERFLOW,
					 "%s: more than %u members", ar->path,
					 CKFS_ARCHIVE_MEMBERS_MAX);
			goto out;
		}
		m = add_member(ar);
		if (!m || !(m->name = strdup(name))) {
			r = ckfs_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		m->mode = archive_entry_perm(ent);
		m->mtime = archive_entry_mtime(ent);
		/* the format reader has consumed exactly the headers */
		off = archive_filter_bytes(a, 0);
		m->data_off = off < 0 ? 0 : (uint64_t)off;
		link = archive_entry_hardlink(ent);
		switch (archive_entry_filetype(ent)) {
		case AE_IFREG:
			m->type = CKFS_MEMBER_REG;
			m->size = (uint64_t)archive_entry_size(ent);
			if (link) {
				/* resolved against earlier members below */
				m->link = strdup(link);
				m->size = 0;
			}
			if (archive_entry_sparse_count(ent) > 0)
				m->unreadable = "sparse tar members are not supported";
			break;
		case AE_IFDIR:
			m->type = CKFS_MEMBER_DIR;
			break;
		case AE_IFLNK:
			m->type = CKFS_MEMBER_SYMLINK;
			link = archive_entry_symlink(ent);
			m->link = strdup(link ? link : "");
			break;
		default:
			m->type = CKFS_MEMBER_OTHER;
			break;
		}
		if (m->type == CKFS_MEMBER_REG && !m->link &&
		    (m->data_off > ar->file_size ||
		     m->size > ar->file_size - m->data_off)) {
			r = ckfs_err_set(
				err, -EBADMSG,
				"%s: member %s is truncated: its data ends at byte %llu but the archive has %llu bytes",
				ar->path, m->name,
				(unsigned long long)(m->data_off + m->size),
				(unsigned long long)ar->file_size);
			goto out;
		}
		if (archive_read_data_skip(a) != ARCHIVE_OK) {
			r = ckfs_err_set(err, -EBADMSG, "%s: member %s: %s",
					 ar->path, m->name,
					 archive_error_string(a));
			goto out;
		}
	}
out:
	archive_read_free(a);
	return r;
}

/* Hard links in a tar name an earlier member; serve that member's data. */
static void resolve_hardlinks(struct ckfs_archive *ar)
{
	size_t i;

	for (i = 0; i < ar->n; i++) {
		struct ckfs_member *m = &ar->m[i];
		char name[CKFS_ARCHIVE_NAME_MAX + 2];
		const struct ckfs_member *t;

		if (m->type != CKFS_MEMBER_REG || !m->link)
			continue;
		t = NULL;
		if (normalize_name(m->link, name, sizeof(name)) == 0)
			t = ckfs_archive_find(ar, name);
		if (t && t->type == CKFS_MEMBER_REG && !t->link) {
			m->size = t->size;
			m->data_off = t->data_off;
			m->unreadable = t->unreadable;
		} else {
			m->unreadable = "hard link to a member that is not in the archive";
		}
		free(m->link);
		m->link = NULL;
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
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
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
		m = add_member(ar);
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
	ar->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ar->fd < 0) {
		r = ckfs_err_set(err, -errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(ar->fd, &st) < 0) {
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
		r = sniff_compression(ar->fd, path, err);
		if (r == 0)
			r = index_tar(ar, err);
	} else {
		r = ckfs_err_set(err, -EINVAL,
				 "%s: not a regular file or a directory", path);
	}
	if (r < 0)
		goto fail;
	sort_members(ar);
	resolve_hardlinks(ar);
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

size_t ckfs_archive_count(const struct ckfs_archive *ar)
{
	return ar->n;
}

const struct ckfs_member *ckfs_archive_member(const struct ckfs_archive *ar,
					      size_t i)
{
	return i < ar->n ? &ar->m[i] : NULL;
}

const struct ckfs_member *ckfs_archive_find(const struct ckfs_archive *ar,
					    const char *name)
{
	struct ckfs_member key = { .name = (char *)name };

	return bsearch(&key, ar->m, ar->n, sizeof(*ar->m), member_cmp);
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
		return ar->fd;
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

ssize_t ckfs_archive_pread(struct ckfs_archive *ar,
			   const struct ckfs_member *m, void *buf, size_t len,
			   uint64_t off)
{
	size_t done = 0;
	int fd;

	if (m->type != CKFS_MEMBER_REG || m->unreadable)
		return -EIO;
	if (off >= m->size)
		return 0;
	if (len > m->size - off)
		len = (size_t)(m->size - off);
	fd = member_fd(ar, m);
	if (fd < 0)
		return fd;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  (off_t)(m->data_off + off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -EIO;
		}
		if (n == 0)
			return -EIO; /* the file shrank under us */
		done += (size_t)n;
	}
	return (ssize_t)done;
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
