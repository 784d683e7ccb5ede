#!/usr/bin/env python3
"""A directory of checkpoint archives through a real mount (TAP output).

usage: ckptdir_check.py CHECKPOINTFS FIXTURES_DIR

A temporary directory holds copies of podman-counter.none.tar,
criu-counter.tar and podman-counter.zstd.tar.zst, a kubelet-named CRI-O
archive built here around the Podman fixture's CRIU images (as
engines_check.py does), and a truncated tar.  Mounted:
  1. the root lists one directory per archive, `checkpoints` and
     `checkpoints.json`; no archive file is open in the daemon
     (/proc/<daemon>/fd) after listing and stat'ing the root;
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
"""

import errno
import json
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engines_check  # noqa: E402
import lib_tree  # noqa: E402
from lib_mount import SKIP_CODE, fuse_unavailable, mounted, watchdog  # noqa: E402

count = 0
failed = 0

CRIO_NAME = "checkpoint-counters_default-counter-2026-11-28T10:05:00Z.tar"


def ok(cond, what, note=""):
    global count, failed
    count += 1
    if not cond:
        failed += 1
    print("%sok %d - %s%s" % ("" if cond else "not ", count, what, note),
          flush=True)
    return cond


def diag(msg):
    for line in str(msg).splitlines():
        print("# " + line, flush=True)


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
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % count)
    return 1 if failed else 0


if __name__ == "__main__":
    with watchdog(240):
        sys.exit(main())
