/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfs/multi.c: closing the idle archives of a directory of archives, with
 * the kernel played by the test: its lookups and forgets, and many threads
 * using inodes while another closes whatever is idle.  An inode the
 * "kernel" holds must always reach a live tree with the same bytes; a
 * closed archive holds no fd and no decode cache.
 *
 * usage: test_multi PLAIN_TAR ZSTD_TAR
 */
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vfs/multi.h"

#define ROOT	1
#define HOUR_NS (3600 * 1000000000LL)
#define THREADS 4
#define ROUNDS	400

static const char *plain_path, *zst_path;

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* How many of our fds lead to @target ("memfd:" prefixes too). */
static int fds_to(const char *target)
{
	char path[64], link[PATH_MAX];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		ssize_t len;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		len = readlink(path, link, sizeof(link) - 1);
		if (len < 0)
			continue;
		link[len] = 0;
		if (strncmp(link, target, strlen(target)) == 0)
			n++;
	}
	return n;
}

static int invals;
static char inval_name[256];

static void on_inval(void *arg, const char *name)
{
	invals++;
	snprintf(inval_name, sizeof(inval_name), "%s", name);
}

/* Close whatever is idle now ("now" an hour on, no idle time needed). */
static int idle_now(struct ckfs_multi *m)
{
	return ckfs_multi_idle(m, mono_ns() + HOUR_NS, 1000000000LL, on_inval,
			       NULL);
}

static uint64_t lookup(struct ckfs_multi *m, uint64_t parent, const char *name)
{
	struct ckfs_multi_ent e;
	int r = ckfs_multi_lookup(m, parent, name, &e);

	return r == 0 ? e.ino : 0;
}

/* The whole of file @ino, read through a handle, in @buf. */
static ssize_t read_file(struct ckfs_multi *m, uint64_t ino, char *buf,
			 size_t size)
{
	struct ckfs_multi_file *f;
	bool dio, keep;
	ssize_t n;

	if (ckfs_multi_open(m, ino, &f, &dio, &keep) < 0)
		return -1;
	n = ckfs_multi_read(f, buf, size, 0);
	ckfs_multi_release(f);
	return n;
}

static void test_close_reopen(struct ckfs_multi *m)
{
	uint64_t slot, proc, pid, comm, comm2;
	struct ckfs_multi_ent e;
	struct ckfs_multi_file *f;
	struct ckfs_multi_dir *d;
	struct stat st1, st2;
	char a[4096], b[4096], pidname[64];
	ssize_t na, nb;
	const char *name;
	bool vol, dio, keep;

	slot = lookup(m, ROOT, "a.tar");
	ok(slot && (slot & 0xffffffffffULL) == 1, "the archive's directory");
	is_int(fds_to(plain_path), 0, "a lookup of it opens nothing");
	ok(ckfs_multi_stat(m, slot, &st1, &vol) == 0 && S_ISDIR(st1.st_mode),
	   "its attributes, closed");

	proc = lookup(m, slot, "proc");
	ok(proc != 0, "proc/ below it");
	is_int(fds_to(plain_path), 1, "which opened the archive");
	ok(ckfs_multi_lookup(m, proc, "..", &e) == 0 && e.ino == slot &&
		   e.generation == 1,
	   "proc/.. is the archive's directory, generation 1");
	if (!ok(ckfs_multi_opendir(m, proc, &d, &keep) == 0, "opendir proc/"))
		return;
	ok(ckfs_multi_dirent(d, 2, true, &name, &e) == 1, "its first entry");
	snprintf(pidname, sizeof(pidname), "%s", name);
	pid = e.ino;
	ckfs_multi_remember(m, pid); /* a readdirplus entry */
	ckfs_multi_releasedir(d);
	comm = lookup(m, pid, "comm");
	ok(comm != 0, "proc/%s/comm", pidname);
	na = read_file(m, comm, a, sizeof(a));
	ok(na > 0, "read it (%zd bytes)", na);

	invals = 0;
	is_int(idle_now(m), 0, "held inodes: not closed ...");
	is_int(invals, 1, "... the kernel is asked to drop them");
	is_str(inval_name, "a.tar", "... by the archive's name");
	is_int(idle_now(m), 0, "not closed on the next tick either");
	is_int(invals, 1, "... nor asked again within the timeout");

	ckfs_multi_forget(m, comm, 1);
	ckfs_multi_forget(m, pid, 1);
	is_int(idle_now(m), 0, "proc/ still held: not closed");
	ckfs_multi_forget(m, proc, 1);
	ckfs_multi_forget(m, slot, 5); /* its directory is never counted */
	is_int(idle_now(m), 1, "all forgotten: closed");
	is_int(fds_to(plain_path), 0, "the archive's fd is closed");
	ok(ckfs_multi_stat(m, proc, &st2, &vol) == -ENOENT,
	   "a number of the closed tree reaches nothing");
	ok(ckfs_multi_stat(m, slot, &st2, &vol) == 0 &&
		   st2.st_ino == st1.st_ino && st2.st_mode == st1.st_mode &&
		   st2.st_mtime == st1.st_mtime,
	   "its directory stats the same, closed");

	proc = lookup(m, slot, "proc");
	is_int(fds_to(plain_path), 1, "a lookup below it reopens it");
	ok(ckfs_multi_lookup(m, proc, pidname, &e) == 0 && e.generation == 2,
	   "entries of the new tree: generation 2");
	pid = e.ino;
	comm2 = lookup(m, pid, "comm");
	nb = read_file(m, comm2, b, sizeof(b));
	ok(nb == na && memcmp(a, b, (size_t)na) == 0, "the same bytes again");

	/* an open file keeps it open, and reads on */
	if (!ok(ckfs_multi_open(m, comm2, &f, &dio, &keep) == 0, "open comm"))
		return;
	ckfs_multi_forget(m, comm2, 1);
	ckfs_multi_forget(m, pid, 1);
	ckfs_multi_forget(m, proc, 1);
	is_int(idle_now(m), 0, "an open file: not closed");
	nb = ckfs_multi_read(f, b, sizeof(b), 0);
	ok(nb == na && memcmp(a, b, (size_t)na) == 0, "... and reads on");
	ckfs_multi_release(f);
	is_int(idle_now(m), 1, "released: closed");

	/* so does an open directory */
	if (!ok(ckfs_multi_opendir(m, slot, &d, &keep) == 0 && !keep,
		"opendir of the archive's directory reopens it, uncached"))
		return;
	is_int(idle_now(m), 0, "an open directory: not closed");
	ok(ckfs_multi_dirent(d, 0, true, &name, &e) == 1 && e.ino == slot &&
		   e.generation == 1,
	   "its . is itself, generation 1");
	ok(ckfs_multi_dirent(d, 2, true, &name, &e) == 1 && e.generation == 3,
	   "its entries: generation 3, as the third tree's");
	proc = lookup(m, slot, name);
	ok(ckfs_multi_lookup(m, slot, name, &e) == 0 && e.ino == proc &&
		   e.generation == 3,
	   "... as a lookup gives them");
	ckfs_multi_forget(m, proc, 2);
	ckfs_multi_releasedir(d);
	is_int(idle_now(m), 1, "released: closed");
	is_int(fds_to(plain_path), 0, "no fd left");
}

static void test_facts(struct ckfs_multi *m)
{
	char a[8192], b[8192];
	ssize_t na, nb;

	na = read_file(m, 2, a, sizeof(a)); /* checkpoints */
	ok(na > 0 && memmem(a, (size_t)na, "z.tar.zst", 9) &&
		   memmem(a, (size_t)na, "a.tar", 5),
	   "checkpoints lists both archives");
	/* opened for its facts, then closed at once: nothing held it */
	is_int(fds_to("/memfd:checkpointfs-cache"), 0,
	       "the compressed one, opened for it, is closed again: its cache is freed");
	is_int(fds_to(zst_path), 0, "and its fd");
	is_int(idle_now(m), 0, "nothing is left for the idle close");
	nb = read_file(m, 2, b, sizeof(b));
	ok(nb == na && memcmp(a, b, (size_t)na) == 0,
	   "checkpoints reads the same while they are closed");
	ok(fds_to(zst_path) == 0 && fds_to(plain_path) == 0,
	   "... opening none");
}

/*
 * The "kernel": lookups down to a file, stats and reads of what it holds,
 * then forgets; another thread closes whatever is idle meanwhile.
 */
struct worker {
	struct ckfs_multi *m;
	uint64_t slot;
	const char *pid;
	const char *want;
	size_t want_len;
	int errors;
};

static int stop_closer;

static void *closer(void *arg)
{
	struct ckfs_multi *m = arg;
	long closed = 0;

	while (!__atomic_load_n(&stop_closer, __ATOMIC_ACQUIRE))
		closed +=
			ckfs_multi_idle(m, mono_ns() + HOUR_NS, 0, NULL, NULL);
	return (void *)closed;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	char buf[4096];
	struct stat st;
	bool vol;

	for (int i = 0; i < ROUNDS; i++) {
		uint64_t proc = lookup(w->m, w->slot, "proc");
		uint64_t pid = proc ? lookup(w->m, proc, w->pid) : 0;
		uint64_t comm = pid ? lookup(w->m, pid, "comm") : 0;
		ssize_t n;

		if (!comm) {
			w->errors++;
			continue;
		}
		if (i % 3 == 0)
			sched_yield();
		/* held: these must reach a live tree */
		if (ckfs_multi_stat(w->m, pid, &st, &vol) < 0 ||
		    !S_ISDIR(st.st_mode))
			w->errors++;
		n = read_file(w->m, comm, buf, sizeof(buf));
		if (n != (ssize_t)w->want_len ||
		    memcmp(buf, w->want, w->want_len) != 0)
			w->errors++;
		ckfs_multi_forget(w->m, comm, 1);
		ckfs_multi_forget(w->m, pid, 1);
		ckfs_multi_forget(w->m, proc, 1);
		/* now and then all let go at once, and it closes */
		if (i % 8 == 0)
			usleep(300);
	}
	return NULL;
}

static void test_race(struct ckfs_multi *m)
{
	struct worker w[THREADS];
	struct ckfs_multi_dir *d;
	struct ckfs_multi_ent e;
	pthread_t th[THREADS], ct;
	const char *name;
	char pid[64], want[4096];
	uint64_t slot = lookup(m, ROOT, "a.tar"), proc, p, comm;
	ssize_t n;
	bool keep;
	void *closed;
	int errors = 0;

	proc = lookup(m, slot, "proc");
	if (ckfs_multi_opendir(m, proc, &d, &keep) < 0 ||
	    ckfs_multi_dirent(d, 2, false, &name, &e) != 1) {
		ok(0, "race: a pid to read");
		return;
	}
	snprintf(pid, sizeof(pid), "%s", name);
	ckfs_multi_releasedir(d);
	p = lookup(m, proc, pid);
	comm = lookup(m, p, "comm");
	n = read_file(m, comm, want, sizeof(want));
	ckfs_multi_forget(m, comm, 1);
	ckfs_multi_forget(m, p, 1);
	ckfs_multi_forget(m, proc, 1);

	__atomic_store_n(&stop_closer, 0, __ATOMIC_RELEASE);
	pthread_create(&ct, NULL, closer, m);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .m = m,
					.slot = slot,
					.pid = pid,
					.want = want,
					.want_len = (size_t)n };
		pthread_create(&th[i], NULL, work, &w[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		errors += w[i].errors;
	}
	__atomic_store_n(&stop_closer, 1, __ATOMIC_RELEASE);
	pthread_join(ct, &closed);
	is_int(errors, 0,
	       "race: %d threads x %d lookups, stats and reads while another "
	       "closes: every held inode reached a live tree, same bytes",
	       THREADS, ROUNDS);
	ok((long)closed > 0, "race: the archive was closed %ld times meanwhile",
	   (long)closed);
	idle_now(m);
	is_int(fds_to(plain_path), 0, "race: closed at the end");
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/ckfs-test-multi-XXXXXX", path[PATH_MAX];
	static char plain[PATH_MAX], zst[PATH_MAX];
	struct ckfs_multi *m;
	struct ckfs_err err = { 0 };

	if (argc != 3)
		tap_skip_all("usage: test_multi PLAIN_TAR ZSTD_TAR");
	if (!realpath(argv[1], plain) || !realpath(argv[2], zst))
		tap_skip_all("fixtures not found");
	plain_path = plain;
	zst_path = zst;
	if (!mkdtemp(dir))
		tap_skip_all("mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/a.tar", dir);
	ok(symlink(plain, path) == 0, "a.tar");
	snprintf(path, sizeof(path), "%s/z.tar.zst", dir);
	ok(symlink(zst, path) == 0, "z.tar.zst");
	ok(ckfs_multi_new_dir(dir, NULL, &m, &err) == 0, "new_dir: %s",
	   err.msg);
	if (m) {
		test_close_reopen(m);
		test_facts(m);
		test_race(m);
		ckfs_multi_free(m);
	}
	snprintf(path, sizeof(path), "%s/a.tar", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/z.tar.zst", dir);
	unlink(path);
	rmdir(dir);
	return tap_done();
}
