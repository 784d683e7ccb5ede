#!/usr/bin/env python3
"""A directory of checkpoint archives through a real mount (TAP output).

usage: ckptdir_check.py CHECKPOINTFS FIXTURES_DIR

A temporary directory holds copies of podman-counter.none.tar,
criu-counter.tar and podman-counter.zstd.tar.zst, a kubelet-named CRI-O
archive built here around the Podman fixture's CRIU images (as
engines_check.py does), and a truncated tar.  Mounted:
  1. the root lists one directory per archive, `checkpoints` and
     `checkpoints.json`; no archive file is open in the daemon
     (/proc/<daemon>/fd) after listing and stat'ing the root, nor after
     reading `checkpoints` (each archive opened for its facts is closed
     again at once, its memfd cache with it);
  2. reading below one archive opens that archive only;
  3. each good archive's proc/ equals a direct mount of that archive,
     byte for byte;
  4. `checkpoints` is checkpointctl list's table: one row per good
     archive, with namespace, pod, container, engine, time checkpointed
     (RFC822Z) and the file name; `checkpoints.json` parses and says the
     same, and names the broken archive's problem;
  5. the broken archive's directory gives EIO, its `.error` file names
     the problem, and the other archives still work;
  6. an archive copied in later appears, a deleted one disappears.
Then, mounted with -o idle_timeout=1 (each wait polls up to 15 s):
  7. once idle, every archive is closed: the daemon's fds no longer
     include it, nor the compressed one's memfd cache; `checkpoints` and
     `checkpoints.json` read the same and open nothing; the archive's
     directory stats the same; accessed again, proc/ and metadata.json
     read the same bytes as before (and as a direct mount);
  8. a file held open across four timeouts keeps its archive open and
     reads on correctly; the archive closes once it is closed;
  9. a shell whose cwd is an archive's directory does not keep it open,
     and pwd -P, ls and cat work there after the close; one whose cwd is
     below it keeps it open, works there, and the archive closes once it
     has left;
 10. 6 reader threads and 2 ls -lR/cat loops in bursts, with pauses
     around the timeout so that closes race new accesses: no error, and
     closes happened; unmount is clean (no sanitizer report);
 11. -o idle_timeout=0 never closes; idle_timeout=soon is refused in one
     line.
"""

import errno
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib_tap  # noqa: E402
from lib_tap import diag, ok  # noqa: E402
import engines_check  # noqa: E402
import lib_tree  # noqa: E402
from lib_mount import SKIP_CODE, fuse_unavailable, mounted, watchdog  # noqa: E402

CRIO_NAME = "checkpoint-counters_default-counter-2026-11-28T10:05:00Z.tar"


def daemon_pid(mnt):
    """The pid of the daemon serving mountpoint @mnt."""
    p = mnt.proc.pid if getattr(mnt, "proc", None) else None
    return p


def open_archives(pid, d):
    out = set()
    fdd = "/proc/%d/fd" % pid
    for fd in os.listdir(fdd):
        try:
            t = os.readlink(os.path.join(fdd, fd))
        except OSError:
            continue
        if t.startswith(d + "/"):
            out.add(os.path.basename(t))
    return out


def table(text):
    lines = text.rstrip("\n").split("\n")
    rows = [re.split(r" {2,}", ln.strip()) for ln in lines[1:]]
    return lines[0], rows


def listdir_later(path, want, absent=(), seconds=5.0):
    end = time.time() + seconds
    while True:
        names = set(os.listdir(path))
        if want <= names and not (set(absent) & names):
            return names
        if time.time() > end:
            return names
        time.sleep(0.2)


def main():
    ckfs, fx = sys.argv[1], sys.argv[2]
    why = fuse_unavailable()
    if why:
        print("1..0 # SKIP " + why)
        return SKIP_CODE
    good = ["podman-counter.none.tar", "criu-counter.tar",
            "podman-counter.zstd.tar.zst"]
    tmp = tempfile.mkdtemp(prefix="ckfs-dir-")
    try:
        d = os.path.join(tmp, "checkpoints")
        os.mkdir(d)
        for g in good:
            shutil.copy(os.path.join(fx, g), d)
        engines_check.build_crio(os.path.join(fx, "podman-counter.none.tar"),
                                 os.path.join(d, CRIO_NAME))
        good.append(CRIO_NAME)
        with open(os.path.join(fx, "criu-counter.tar"), "rb") as f:
            data = f.read()
        with open(os.path.join(d, "broken.tar"), "wb") as f:
            f.write(data[:len(data) // 3])

        direct = {}
        for g in good:
            with mounted(ckfs, os.path.join(d, g)) as m:
                direct[g] = lib_tree.snapshot(m, "proc")

        with mounted(ckfs, d) as m:
            pid = daemon_pid(m)
            top = set(os.listdir(m))
            want = set(good) | {"broken.tar", "checkpoints", "checkpoints.json"}
            ok(top == want, "the root lists the archives and the two files",
               " (%s)" % sorted(top))
            # stat of checkpoints / checkpoints.json opens every archive
            # (their exact size is their content): left for later
            for name in top - {"checkpoints", "checkpoints.json"}:
                os.stat(os.path.join(m, name))
            ok(pid is not None and open_archives(pid, d) == set(),
               "no archive is open after ls and stat of the root",
               " (%s)" % (open_archives(pid, d) if pid else "no pid"))
            # listing opens each archive for its facts, and closes it
            # again: a directory of big compressed archives costs one
            # decode cache at a time, not all of them
            with open(os.path.join(m, "checkpoints")) as f:
                listed = f.read()
            ok(all(g in listed for g in good) and
               open_archives(pid, d) == set() and memfds(pid) == 0,
               "checkpoints: each archive opened for it is closed again at "
               "once, its memfd cache gone",
               " (open: %s, %d memfd)" % (open_archives(pid, d), memfds(pid)))
            os.listdir(os.path.join(m, "criu-counter.tar", "proc"))
            ok(open_archives(pid, d) == {"criu-counter.tar"},
               "reading below one archive opens that archive only",
               " (%s)" % open_archives(pid, d))

            for g in good:
                got = {k: v for k, v in
                       lib_tree.snapshot(os.path.join(m, g), "proc").items()}
                dd = lib_tree.diff(direct[g], got)
                ok(len(got) > 10 and not dd,
                   "%s: proc/ equals a direct mount's" % g)
                for line in dd:
                    diag(line)

            try:
                os.listdir(os.path.join(m, "broken.tar"))
                e = None
            except OSError as ex:
                e = ex.errno
            ok(e == errno.EIO, "the broken archive's directory gives EIO",
               " (%s)" % (errno.errorcode.get(e, e)))
            with open(os.path.join(m, "broken.tar.error")) as f:
                reason = f.read()
            ok(reason.count("\n") == 1 and "broken.tar" in reason and
               "truncated" in reason,
               "broken.tar.error names the problem in one line",
               " (%r)" % reason)
            ok("broken.tar.error" in os.listdir(m),
               "the root lists the error file once the failure is known")

            with open(os.path.join(m, "checkpoints")) as f:
                text = f.read()
            diag(text)
            head, rows = table(text)
            ok(head == "Listing checkpoints in path: " + d,
               "checkpoints: checkpointctl's heading")
            ok(rows[0] == ["NAMESPACE", "POD", "CONTAINER", "ENGINE",
                           "TIME CHECKPOINTED", "CHECKPOINT NAME"],
               "checkpoints: checkpointctl's columns", " (%r)" % rows[0])
            by_name = {r[-1]: r for r in rows[1:]}
            ok(sorted(by_name) == sorted(good) and len(rows) == len(good) + 1,
               "checkpoints: one row per good archive",
               " (%s)" % sorted(by_name))
            ok(by_name.get(CRIO_NAME) == ["default", "counters", "counter",
                                          "CRI-O", "28 Nov 26 10:05 +0000",
                                          CRIO_NAME],
               "checkpoints: the CRI-O archive's row", " (%r)" %
               by_name.get(CRIO_NAME))
            ok(by_name.get("podman-counter.none.tar", [])[2:4] ==
               ["podman-counter", "Podman"] and
               by_name.get("criu-counter.tar", [])[3:4] == ["criu"],
               "checkpoints: Podman and plain CRIU rows")

            for name in ("checkpoints", "checkpoints.json"):
                path = os.path.join(m, name)
                with open(path, "rb") as f:
                    body = f.read()
                ok(os.stat(path).st_size == len(body),
                   "%s: stat gives its exact size" % name,
                   " (%d vs %d)" % (os.stat(path).st_size, len(body)))

            with open(os.path.join(m, "checkpoints.json")) as f:
                js = json.load(f)
            jb = {o["checkpoint_name"]: o for o in js}
            ok(sorted(jb) == sorted(good + ["broken.tar"]),
               "checkpoints.json: one object per archive")
            c = jb.get(CRIO_NAME, {})
            ok(c.get("namespace") == "default" and c.get("pod") == "counters"
               and c.get("container") == "counter" and
               c.get("engine") == "CRI-O" and
               c.get("checkpointed", "").startswith("2026-11-28T10:05:00") and
               c.get("error") is None,
               "checkpoints.json: the CRI-O archive's facts", " (%r)" % c)
            ok("truncated" in (jb.get("broken.tar", {}).get("error") or ""),
               "checkpoints.json: the broken archive's reason")

            shutil.copy(os.path.join(fx, "criu-counter.tar"),
                        os.path.join(d, "late.tar"))
            names = listdir_later(m, {"late.tar"})
            ok("late.tar" in names, "an archive added later appears")
            late = os.listdir(os.path.join(m, "late.tar", "proc"))
            ok([os.fsencode(x) for x in late] ==
               list(direct["criu-counter.tar"][b"proc"][1]) and late,
               "... and can be read", " (proc/: %s)" % late)
            os.unlink(os.path.join(d, "podman-counter.none.tar"))
            names = listdir_later(m, set(), ["podman-counter.none.tar"])
            ok("podman-counter.none.tar" not in names,
               "a deleted archive disappears")
            ok(os.path.isdir(os.path.join(m, "criu-counter.tar", "proc")),
               "the others still work")
        probs = m.daemon_problems()
        ok(not probs, "daemon stderr is clean", " (%s)" % probs)

        idle_checks(ckfs, d, direct)
        idle_option_checks(ckfs, d)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return lib_tap.done()


# ---- closing idle archives (-o idle_timeout=SECONDS) ----

ZST = "podman-counter.zstd.tar.zst"
PLAIN = "criu-counter.tar"
MEMFD = "/memfd:checkpointfs-cache"


def memfds(pid):
    """How many in-memory decode caches the daemon holds."""
    n = 0
    fdd = "/proc/%d/fd" % pid
    for fd in os.listdir(fdd):
        try:
            if os.readlink(os.path.join(fdd, fd)).startswith(MEMFD):
                n += 1
        except OSError:
            pass
    return n


def wait_for(cond, seconds=15.0):
    """Poll @cond until true or @seconds pass; its last value."""
    end = time.monotonic() + seconds
    while True:
        v = cond()
        if v or time.monotonic() > end:
            return v
        time.sleep(0.1)


def small_files(snap, root, limit=1 << 20):
    """{path under @root: sha256} of the regular files of a snapshot."""
    return {os.path.join(os.fsencode(root), k): v[2] for k, v in snap.items()
            if v[0] == "file" and v[1] <= limit}


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def idle_checks(ckfs, d, direct):
    # 1 s: closes happen within the test's generous polls
    with mounted(ckfs, d, extra_args=["-o", "idle_timeout=1"]) as m:
        pid = daemon_pid(m)
        zst = os.path.join(m, ZST)
        plain = os.path.join(m, PLAIN)
        with open(os.path.join(m, "checkpoints")) as f:
            table_before = f.read()
        with open(os.path.join(m, "checkpoints.json")) as f:
            json_before = f.read()
        st_before = os.stat(zst)
        before = lib_tree.snapshot(zst, "proc")
        meta_before = sha(os.path.join(zst, "metadata.json"))
        ok(ZST in open_archives(pid, d) and memfds(pid) == 1,
           "idle: reading below a compressed archive opens it, with its "
           "memfd cache", " (%s, %d memfd)" % (open_archives(pid, d),
                                                memfds(pid)))

        gone = wait_for(lambda: not open_archives(pid, d) and
                        memfds(pid) == 0)
        ok(gone, "idle: once nothing is open below them and they are idle, "
           "every archive is closed: its fd and memfd are gone",
           " (%s, %d memfd)" % (open_archives(pid, d), memfds(pid)))
        with open(os.path.join(m, "checkpoints")) as f:
            table_closed = f.read()
        with open(os.path.join(m, "checkpoints.json")) as f:
            json_closed = f.read()
        ok(table_closed == table_before and json_closed == json_before,
           "idle: checkpoints and checkpoints.json say the same while closed")
        ok(not open_archives(pid, d),
           "idle: ... and reading them opens no archive again",
           " (%s)" % open_archives(pid, d))
        st_closed = os.stat(zst)
        ok((st_closed.st_ino, st_closed.st_mode, st_closed.st_mtime) ==
           (st_before.st_ino, st_before.st_mode, st_before.st_mtime),
           "idle: an archive's directory stats the same open or closed")

        after = lib_tree.snapshot(zst, "proc")
        dd = lib_tree.diff(before, after)
        ok(after == before and after == direct[ZST],
           "idle: reopened, its proc/ reads the same bytes as before")
        for line in dd:
            diag(line)
        ok(sha(os.path.join(zst, "metadata.json")) == meta_before,
           "idle: ... and so does metadata.json")
        ok(ZST in open_archives(pid, d) and memfds(pid) == 1,
           "idle: ... the archive and its cache being open again")

        # a file held open keeps its archive open, and reads on
        big = max((k for k, v in before.items() if v[0] == "file"),
                  key=lambda k: before[k][1])
        path = os.path.join(os.fsencode(zst), big)
        with open(path, "rb") as f:
            whole = f.read()
        ok(wait_for(lambda: ZST not in open_archives(pid, d)),
           "idle: closed again once idle")
        held = open(path, "rb", buffering=0)
        try:
            half = len(whole) // 2
            got = held.read(half)
            time.sleep(4)  # four timeouts, with nothing else going on
            still = ZST in open_archives(pid, d) and memfds(pid) == 1
            got += held.read()
        finally:
            held.close()
        ok(still, "idle: a file held open keeps its archive open",
           " (%s)" % open_archives(pid, d))
        ok(got == whole and len(whole) > 0,
           "idle: ... and reads on correctly (%s, %d bytes)"
           % (os.fsdecode(big), len(whole)))
        ok(wait_for(lambda: ZST not in open_archives(pid, d)),
           "idle: closed once the file is closed")

        cwd_checks(m, pid, d, plain, direct[PLAIN])
        stress(m, pid, d, [(zst, before), (plain, direct[PLAIN])])
        ok(wait_for(lambda: not open_archives(pid, d) and
                    memfds(pid) == 0),
           "idle: all closed after the stress",
           " (%s)" % open_archives(pid, d))
    probs = m.daemon_problems()
    ok(not probs, "idle: clean unmount, daemon stderr clean", " (%s)" % probs)


def run_sh(script, cwd):
    """A shell in @cwd, told to go on by a line on its stdin."""
    return subprocess.Popen(["sh", "-c", script], cwd=cwd,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            env=dict(os.environ, LC_ALL="C"))


def cwd_checks(m, pid, d, plain, snap):
    procs = sorted(os.fsdecode(n) for n in snap[b"proc"][1])
    first = procs[0]
    comm = os.path.join("proc", first, "comm")
    with open(os.path.join(plain, comm)) as f:
        want_comm = f.read()

    # a shell in the archive's directory need not keep it open, and a
    # close under it changes nothing for it
    sh = run_sh("ls >/dev/null && ls proc >/dev/null && echo ready && "
                "read x && pwd -P && ls proc && cat %s" % comm, plain)
    line = sh.stdout.readline()
    closed = wait_for(lambda: PLAIN not in open_archives(pid, d))
    out, err = sh.communicate(b"go\n", timeout=60)
    ok(line == b"ready\n" and closed,
       "idle: a shell whose cwd is an archive's directory does not keep it "
       "open", " (%r, %s)" % (line, open_archives(pid, d)))
    want = "%s\n%s\n%s" % (os.path.realpath(plain), "\n".join(procs),
                           want_comm)
    ok(sh.returncode == 0 and out.decode() == want,
       "idle: ... and works on there after the close (pwd -P, ls, cat)",
       " (status %s, %r, %r)" % (sh.returncode, out[-200:], err[-200:]))

    # a shell in a directory below it keeps the archive open
    ok(wait_for(lambda: PLAIN not in open_archives(pid, d)),
       "idle: closed before the next shell")
    deep = os.path.join(plain, "proc", first)
    sh = run_sh("ls >/dev/null && echo ready && read x && pwd -P && "
                "ls >/dev/null && cat comm", deep)
    line = sh.stdout.readline()
    time.sleep(4)  # four timeouts
    pinned = PLAIN in open_archives(pid, d)
    out, err = sh.communicate(b"go\n", timeout=60)
    ok(line == b"ready\n" and pinned,
       "idle: a shell whose cwd is below an archive's directory keeps it "
       "open", " (%r, %s)" % (line, open_archives(pid, d)))
    ok(sh.returncode == 0 and
       out.decode() == "%s\n%s" % (os.path.realpath(deep), want_comm),
       "idle: ... and works there (pwd -P, ls, cat)",
       " (status %s, %r, %r)" % (sh.returncode, out[-200:], err[-200:]))
    ok(wait_for(lambda: PLAIN not in open_archives(pid, d)),
       "idle: ... and it closes once the shell has left",
       " (%s)" % open_archives(pid, d))


def stress(m, pid, d, trees, rounds=8):
    """Readers in bursts, with pauses around the timeout between them, so
    that closes race the next burst's first accesses."""
    work = []
    for root, snap in trees:
        files = small_files(snap, root)
        dirs = {os.path.join(os.fsencode(root), k): v[1]
                for k, v in snap.items() if v[0] == "dir"}
        work += [("file", p, h) for p, h in sorted(files.items())]
        work += [("dir", p, n) for p, n in sorted(dirs.items())]
    errors = []
    closes = [0]
    go = threading.Event()
    stop = threading.Event()
    nreaders, ntools = 6, 2

    def check(kind, p, want):
        try:
            if kind == "file":
                with open(p, "rb") as f:
                    got = hashlib.sha256(f.read()).hexdigest()
            else:
                got = tuple(os.listdir(p))
        except OSError as e:
            got = "error %s" % e
        if got != want:
            errors.append("%s: %r" % (os.fsdecode(p), got))

    def reader(seed):
        rnd = random.Random(seed)
        while go.wait() and not stop.is_set():
            check(*rnd.choice(work))
            time.sleep(rnd.choice([0, 0, 0, 0.01, 0.05]))

    def tool(seed):
        rnd = random.Random(seed)
        while go.wait() and not stop.is_set():
            root = rnd.choice(trees)[0]
            r = subprocess.run(["ls", "-lR", os.path.join(root, "proc")],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
            if r.returncode != 0:
                errors.append("ls -lR: %r" % r.stderr[-300:])
            r = subprocess.run(["cat", os.path.join(root, "metadata.json")],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
            if r.returncode != 0:
                errors.append("cat: %r" % r.stderr[-300:])

    def watch():
        was = False
        while not stop.is_set():
            now = bool(open_archives(pid, d))
            if was and not now:
                closes[0] += 1
            was = now
            time.sleep(0.02)

    threads = [threading.Thread(target=reader, args=(i,))
               for i in range(nreaders)]
    threads += [threading.Thread(target=tool, args=(100 + i,))
                for i in range(ntools)]
    threads.append(threading.Thread(target=watch))
    for t in threads:
        t.start()
    rnd = random.Random(7)
    try:
        for i in range(rounds):
            go.set()
            time.sleep(rnd.uniform(0.3, 1.0))
            go.clear()
            # around the timeout plus a tick or two: a burst may start
            # just as the archives close, or after they have
            time.sleep(rnd.uniform(1.0, 2.5))
    finally:
        stop.set()
        go.set()
        for t in threads:
            t.join()
    for e in errors[:10]:
        diag(e)
    ok(not errors, "idle stress: %d readers and %d ls -lR/cat loops in %d "
       "bursts: no error" % (nreaders, ntools, rounds),
       " (%d errors)" % len(errors))
    ok(closes[0] >= 1, "idle stress: archives closed between bursts (%d "
       "times)" % closes[0])


def idle_option_checks(ckfs, d):
    with mounted(ckfs, d, extra_args=["-o", "idle_timeout=0"]) as m:
        pid = daemon_pid(m)
        os.listdir(os.path.join(m, PLAIN, "proc"))
        time.sleep(3)
        ok(PLAIN in open_archives(pid, d),
           "idle_timeout=0: an archive stays open")
    ok(not m.daemon_problems(), "idle_timeout=0: clean unmount",
       " (%s)" % m.daemon_problems())
    mnt = tempfile.mkdtemp(prefix="ckfs-idle-bad-")
    try:
        r = subprocess.run([ckfs, "-f", "-o", "idle_timeout=soon", d, mnt],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        err = r.stderr.decode(errors="replace")
        ok(r.returncode != 0 and err.count("\n") == 1 and
           "idle_timeout=soon" in err,
           "idle_timeout=soon: refused in one line", " (%d, %r)"
           % (r.returncode, err))
    finally:
        os.rmdir(mnt)


if __name__ == "__main__":
    with watchdog(240):
        sys.exit(main())
