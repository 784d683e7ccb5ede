#!/usr/bin/env python3
"""Compressed archives through a real mount (TAP output).

usage: compressed_check.py CHECKPOINTFS FIXTURES_DIR

1. The plain, gzip and zstd Podman fixtures: each one's archive/ holds
   exactly the members of its own (decompressed) archive, and the three
   proc/ trees are identical, every file, symlink target and mapped byte
   of memory. (The three are separate exports of one frozen container, so
   the members that record the export itself -- inventory.img's dump id,
   stats-dump, timens -- differ, and so does metadata.json.)
2. The plain fixture re-compressed here with zstd, gzip, xz and bzip2
   mounts to a tree byte-identical to the plain one, whole.
3. A big archive (the fixture with CKFS_TEST_BIG_MIB, default 200, MiB
   of deterministic data appended to pages-1.img, moved last): the mount
   comes up, and proc/1/cmdline reads, while the decode runs; proc/ reads
   and random preads of the big member by several threads at once return
   the right bytes.
4. The cache file: a memfd, or an unlinked file in cache_dir, never a
   name in a directory; nothing is left after unmount or SIGKILL.
5. A truncated .zst and a .gz with a bad CRC fail cleanly: the mount is
   refused with one line naming the problem, or reads get EIO; no hang.
6. cache_max: refused up front when the size is known, EIO past the limit
   when found during the decode, and the cache never grows past it.
7. Progress: in the foreground on a terminal (a pseudo-terminal here), a
   line with percent, bytes, rate and ETA while the decode runs, then a
   summary; nothing at all when stderr is not a terminal.
8. Incompressible data (random bytes, as encrypted memory is) in a zstd
   archive: every byte right, read whole and by odd preads across the
   edges between random and compressible runs, while the daemon's cache
   holds almost none of it (zstd stores it as raw blocks, read from the
   archive file itself).
"""

import errno
import hashlib
import io
import os
import random
import re
import shutil
import signal
import stat
import sys
import tarfile
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib_tap  # noqa: E402
from lib_tap import diag, ok  # noqa: E402
import lib_bigtar  # noqa: E402
from lib_mount import Mount, mounted  # noqa: E402

BIG_MIB = int(os.environ.get("CKFS_TEST_BIG_MIB", "200"))
CAP = 64 << 20  # bytes read from one file at most

# ---- walking a mount ----

def mem_ranges(maps_path):
    ranges = []
    with open(maps_path) as f:
        for line in f:
            a, b = (int(x, 16) for x in line.split()[0].split("-"))
            if b <= 1 << 63:
                ranges.append((a, b))
    return ranges


def file_digest(path, size):
    """sha256 of a file; for a big sparse one, of its mapped/data ranges."""
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        if size <= CAP:
            h.update(_read_all(fd))
            return h.hexdigest()
        maps = os.path.join(os.path.dirname(path), "maps")
        if os.path.basename(path) == "mem" and os.path.exists(maps):
            for a, b in mem_ranges(maps):
                h.update(b"%x-%x:" % (a, b))
                h.update(os.pread(fd, b - a, a))
            return h.hexdigest()
        h.update(os.pread(fd, CAP, 0))
        return h.hexdigest() + "(first %d bytes)" % CAP
    finally:
        os.close(fd)


def _read_all(fd):
    chunks = []
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def walk(root, sub=""):
    """{relative path: description} for everything under root/sub."""
    out = {}
    top = os.path.join(root, sub)
    for dirpath, dirnames, filenames in os.walk(top):
        rel_dir = os.path.relpath(dirpath, root)
        out[rel_dir] = ("dir", tuple(sorted(dirnames + filenames)))
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            try:
                st = os.lstat(p)
                if stat.S_ISLNK(st.st_mode):
                    out[rel] = ("link", os.readlink(p))
                elif stat.S_ISREG(st.st_mode):
                    out[rel] = ("file", st.st_size, file_digest(p, st.st_size))
            except OSError as e:
                out[rel] = ("error", errno.errorcode.get(e.errno, e.errno))
    return out


def compare(a, b, what, limit=8):
    diffs = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    ok(not diffs, what, "" if not diffs else
       " (%d differ, e.g. %s)" % (len(diffs), ", ".join(diffs[:limit])))
    for k in diffs[:limit]:
        diag("%s: %r != %r" % (k, a.get(k), b.get(k)))
    return not diffs


def archive_members(path):
    """{name: sha256 | 'dir' | ('link', target)} of a tar, any compression."""
    if path.endswith(".zst"):
        tmp = tempfile.NamedTemporaryFile(suffix=".tar", delete=False)
        tmp.close()
        os.system("zstd -q -d -f -o %s %s" % (tmp.name, path))
        try:
            return archive_members(tmp.name)
        finally:
            os.unlink(tmp.name)
    out = {}
    with tarfile.open(path, "r:*") as t:
        for m in t.getmembers():
            name = os.path.normpath(m.name.lstrip("/"))
            if name == ".":
                continue
            if m.isdir():
                out[name] = "dir"
            elif m.issym():
                out[name] = ("link", m.linkname)
            elif m.isfile():
                out[name] = hashlib.sha256(t.extractfile(m).read()).hexdigest()
    return out


def mounted_members(mnt):
    out = {}
    base = os.path.join(mnt, "archive")
    for k, v in walk(mnt, "archive").items():
        rel = os.path.relpath(os.path.join(mnt, k), base)
        if rel == ".":
            continue
        if v[0] == "dir":
            out[rel] = "dir"
        elif v[0] == "link":
            out[rel] = ("link", v[1])
        elif v[0] == "file":
            out[rel] = v[2]
        else:
            out[rel] = v
    return out


# ---- the daemon's cache file ----

def cache_fds(pid):
    """[(fd path, link target)] of the daemon's cache files."""
    out = []
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            t = os.readlink(os.path.join(d, fd))
        except OSError:
            continue
        if "checkpointfs-cache" in t or t.endswith("(deleted)"):
            out.append((os.path.join(d, fd), t))
    return out


def cache_size(pid):
    sizes = []
    for p, _ in cache_fds(pid):
        try:
            sizes.append(os.stat(p).st_size)
        except OSError:
            pass
    return max(sizes) if sizes else None


def stderr_lines(m):
    return [l for l in m.stderr.splitlines() if l.strip()]


# ---- the checks ----

def check_fixtures(ckfs, fixtures):
    names = ["podman-counter.none.tar", "podman-counter.gzip.tar.gz",
             "podman-counter.zstd.tar.zst"]
    procs = {}
    for n in names:
        path = os.path.join(fixtures, n)
        if n.endswith(".zst") and shutil.which("zstd") is None:
            ok(True, "%s" % n, " # SKIP zstd CLI missing")
            continue
        with mounted(ckfs, path) as m:
            compare(mounted_members(m.path), archive_members(path),
                    "%s: archive/ holds exactly its own members" % n)
            procs[n] = walk(m.path, "proc")
        ok(not m.daemon_problems(), "%s: daemon clean" % n,
           "" if not m.daemon_problems() else " %s" % m.daemon_problems())
    base = procs.get(names[0])
    for n in names[1:]:
        if n in procs:
            compare(procs[n], base,
                    "%s: proc/ identical to the plain export's (memory included)" % n)


def check_recompressed(ckfs, fixtures, tmp):
    # Every copy keeps the plain one's file name (views may show it):
    # compression is told by magic, never by name.
    base = "podman-counter.none.tar"
    plain = os.path.join(tmp, "none", base)
    os.mkdir(os.path.dirname(plain))
    shutil.copy(os.path.join(fixtures, base), plain)
    with mounted(ckfs, plain) as m:
        want = walk(m.path)
    for kind in ("zstd", "gzip", "xz", "bzip2"):
        made = lib_bigtar.compress(plain, kind, level=3 if kind == "zstd" else None)
        if made is None:
            ok(True, "re-compressed %s" % kind, " # SKIP no compressor")
            continue
        path = os.path.join(tmp, kind, base)
        os.mkdir(os.path.dirname(path))
        os.rename(made, path)
        with mounted(ckfs, path) as m:
            got = walk(m.path)
        compare(got, want,
                "the plain fixture re-compressed with %s mounts to an identical tree (%d entries)"
                % (kind, len(want)))
        ok(not m.daemon_problems(), "%s: daemon clean" % kind)


class BigArchive:
    """The plain fixture with @mib MiB of lib_bigtar's bytes appended to
    pages-1.img (moved last), and the bytes that member should read."""

    def __init__(self, fixtures, tmp, mib=BIG_MIB):
        self.plain = os.path.join(fixtures, "podman-counter.none.tar")
        self.tar = os.path.join(tmp, "big.tar")
        self.big_off, self.size = lib_bigtar.make_tar(
            self.plain, self.tar, mib << 20)
        with tarfile.open(self.plain) as t:
            self.prefix = t.extractfile("checkpoint/pages-1.img").read()
        self.total = os.path.getsize(self.tar)

    def expected(self, off, n):
        n = max(0, min(n, self.size - off))
        head = b""
        if off < self.big_off:
            head = self.prefix[off:off + n]
            n -= len(head)
            off = self.big_off
        return head + lib_bigtar.big_bytes(off - self.big_off, n)


def proc_snapshot(mnt):
    """What a tool reads first: cmdline, status, maps and mapped memory."""
    out = {}
    for pid in ("1", "5"):
        d = os.path.join(mnt, "proc", pid)
        for f in ("cmdline", "status", "maps", "comm", "environ"):
            with open(os.path.join(d, f), "rb") as fh:
                out[pid + "/" + f] = fh.read()
        fd = os.open(os.path.join(d, "mem"), os.O_RDONLY)
        try:
            for a, b in mem_ranges(os.path.join(d, "maps")):
                out["%s/mem@%x" % (pid, a)] = hashlib.sha256(
                    os.pread(fd, b - a, a)).hexdigest()
        finally:
            os.close(fd)
    return out


def random_reads(path, big, seed, n, results):
    r = random.Random(seed)
    bad = errs = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        for _ in range(n):
            off = r.randrange(big.size)
            ln = r.choice((1, 4096, 65536, 1 << 20, r.randrange(1, 300000)))
            try:
                got = os.pread(fd, ln, off)
            except OSError:
                errs += 1
                continue
            if got != big.expected(off, ln):
                bad += 1
    finally:
        os.close(fd)
    results.append((bad, errs))


def check_big(ckfs, fixtures, tmp, big):
    with mounted(ckfs, big.plain) as m:
        want = proc_snapshot(m.path)
    for kind in ("zstd", "gzip"):
        path = lib_bigtar.compress(big.tar, kind)
        if path is None:
            ok(True, "big %s" % kind, " # SKIP no compressor")
            continue
        diag("big archive: %d MiB tar, %d MiB %s" % (
            big.total >> 20, os.path.getsize(path) >> 20, kind))
        t0 = time.monotonic()
        with mounted(ckfs, path, timeout=60) as m:
            t_mount = time.monotonic() - t0
            pid = m.proc.pid
            fds = cache_fds(pid)
            ok(any("memfd:checkpointfs-cache" in t for _, t in fds),
               "big %s: the cache is a memfd (%s)" % (kind, [t for _, t in fds]))
            at_mount = cache_size(pid) or 0
            with open(os.path.join(m.path, "proc", "1", "cmdline"), "rb") as f:
                cmdline = f.read()
            at_cmdline = cache_size(pid) or 0
            got = proc_snapshot(m.path)
            t_proc = time.monotonic() - t0
            decoded = cache_size(pid) or 0
            results = []
            member = os.path.join(m.path, "archive", "checkpoint", "pages-1.img")
            readers = [threading.Thread(target=random_reads,
                                        args=(member, big, 7 * i, 60, results))
                       for i in range(4)]
            for t in readers:
                t.start()
            for t in readers:
                t.join()
            compare(got, want, "big %s: proc/ (memory included) read at once is right" % kind)
            note = (" (mounted after %.2f s with %d of %d MiB decoded; proc/ read after %.2f s with %d MiB)"
                    % (t_mount, at_mount >> 20, big.total >> 20, t_proc, decoded >> 20))
            if at_mount < big.total:
                ok(True, "big %s: the mount came up during the decode" % kind, note)
            else:
                ok(True, "big %s: the mount came up during the decode" % kind,
                   " # SKIP the decode had ended first" + note)
            # cmdline is in the first pages of pages-1.img: its own bytes
            # only, not the optional images the stream ends without
            note = " (%d of %d MiB decoded by then)" % (at_cmdline >> 20, big.total >> 20)
            if at_mount < big.total:
                ok(cmdline == want["1/cmdline"] and at_cmdline < big.total,
                   "big %s: proc/1/cmdline reads right while the decode runs" % kind, note)
            else:
                ok(cmdline == want["1/cmdline"], "big %s: proc/1/cmdline reads right" % kind,
                   " # SKIP the decode had ended first" + note)
            bad = sum(b for b, _ in results)
            errs = sum(e for _, e in results)
            ok(len(results) == 4 and bad == 0 and errs == 0,
               "big %s: 240 random preads of the %d MiB member by 4 threads at once are right"
               % (kind, big.size >> 20), " (%d wrong, %d errors)" % (bad, errs))
            ok(cache_size(pid) == big.total,
               "big %s: the cache holds the whole decoded tar (%s bytes)"
               % (kind, cache_size(pid)))
        ok(not m.daemon_problems(), "big %s: daemon clean" % kind,
           "" if not m.daemon_problems() else " %s" % m.daemon_problems())


def check_progress(ckfs, big):
    path = big.tar + ".gz"
    if not os.path.exists(path):
        ok(True, "progress", " # SKIP no big .gz")
        return
    t0 = time.monotonic()
    with mounted(ckfs, path, timeout=60, tty=True) as m:
        # its last bytes: the whole stream decoded
        with open(os.path.join(m.path, "archive", "checkpoint", "pages-1.img"), "rb") as f:
            f.seek(-4096, os.SEEK_END)
            f.read()
        took = time.monotonic() - t0
    lines = [l.replace("\x1b[K", "").strip()
             for l in m.stderr.replace("\r", "\n").split("\n")]
    lines = [l for l in lines if l]
    if took < 0.3:  # reports come every 250 ms: too fast to see one
        ok(True, "progress on a terminal", " # SKIP decoded in %.2f s" % took)
        return
    ok(any(re.fullmatch(r"checkpointfs: gzip: \d+% of [\d.]+ MiB read, [\d.]+ [KMG]?i?B "
                        r"decompressed, [\d.]+ [KMG]?i?B/s, ETA \d+ s", l) for l in lines),
       "progress on a terminal: percent read, bytes, rate and ETA while it decodes",
       " (%r)" % lines[:3])
    ok(any(re.fullmatch(r"checkpointfs: gzip: [\d.]+ MiB decompressed in [\d.]+ s "
                        r"\([\d.]+ [KMG]?i?B/s\)", l) for l in lines),
       "progress on a terminal: a summary once decoded", " (%r)" % lines[-2:])
    ok(not m.daemon_problems(), "progress on a terminal: daemon clean")
    with mounted(ckfs, path, timeout=60) as m:
        os.listdir(os.path.join(m.path, "proc"))
    ok(m.stderr == "", "progress: nothing on stderr when it is not a terminal",
       " (%r)" % m.stderr[:200])


def cache_allocated(pid):
    """Bytes of memory or disk the daemon's cache files really take."""
    total = 0
    for p, _ in cache_fds(pid):
        try:
            total += os.stat(p).st_blocks * 512
        except OSError:
            pass
    return total


def check_incompressible(ckfs, fixtures, tmp):
    rng = random.Random(5)
    rand = rng.randbytes(48 << 20)
    mixed = b"".join(rng.randbytes(192 << 10) + (b"text %06d " % i) * 16384
                     for i in range(24))
    plain = os.path.join(tmp, "incompressible.tar")
    with tarfile.open(os.path.join(fixtures, "podman-counter.none.tar")) as src, \
            tarfile.open(plain, "w") as dst:
        for ti in src.getmembers():
            dst.addfile(ti, src.extractfile(ti) if ti.isfile() else None)
        for name, data in (("random.bin", rand), ("mixed.bin", mixed)):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            dst.addfile(ti, io.BytesIO(data))
    path = lib_bigtar.compress(plain, "zstd")
    if path is None:
        ok(True, "incompressible zstd", " # SKIP zstd CLI missing")
        return
    with mounted(ckfs, path, timeout=60) as m:
        for name, data in (("random.bin", rand), ("mixed.bin", mixed)):
            f = os.path.join(m.path, "archive", name)
            with open(f, "rb") as fh:
                whole = fh.read()
            ok(hashlib.sha256(whole).digest() == hashlib.sha256(data).digest(),
               "incompressible zstd: %s (%d MiB) reads back whole" % (name, len(data) >> 20))
            bad = 0
            fd = os.open(f, os.O_RDONLY)
            try:
                for _ in range(200):
                    off = rng.randrange(len(data))
                    n = rng.choice((1, 4095, 4097, 131071, 131075, 600000))
                    if os.pread(fd, n, off) != data[off:off + n]:
                        bad += 1
            finally:
                os.close(fd)
            ok(bad == 0, "incompressible zstd: 200 odd preads of %s are right" % name,
               " (%d wrong)" % bad)
        size, used = cache_size(m.proc.pid), cache_allocated(m.proc.pid)
        ok(size == os.path.getsize(plain),
           "incompressible zstd: the cache file spans the decoded tar (%s bytes)" % size)
        ok(used < (len(rand) + len(mixed)) // 4,
           "incompressible zstd: the cache holds almost none of the random bytes",
           " (%d KiB allocated for %d MiB of them)" % (used >> 10, (len(rand) + len(mixed)) >> 20))
    ok(not m.daemon_problems(), "incompressible zstd: daemon clean")


def check_cache_files(ckfs, tmp, big):
    path = big.tar + ".zst"
    if not os.path.exists(path):
        ok(True, "cache_dir", " # SKIP no big .zst")
        return
    cdir = tempfile.mkdtemp(prefix="cache-", dir=tmp)
    with mounted(ckfs, path, extra_args=["-o", "cache_dir=" + cdir]) as m:
        fds = cache_fds(m.proc.pid)
        ok(any(t.startswith(cdir) and t.endswith("(deleted)") for _, t in fds),
           "cache_dir: the cache is an unlinked file in it (%s)" % [t for _, t in fds])
        ok(os.listdir(cdir) == [],
           "cache_dir: no name in it while mounted (unlinked from the start)")
        os.listdir(os.path.join(m.path, "archive"))  # waits for the decode
        ok(os.listdir(cdir) == [], "cache_dir: still none once decoded")
    ok(os.listdir(cdir) == [] and not m.daemon_problems(),
       "cache_dir: nothing left after unmount")
    # SIGKILL in the middle of the decode
    m = Mount(ckfs, path, ["-o", "cache_dir=" + cdir])
    try:
        ok(m.start(30), "cache_dir: mounted again")
        ok(len(cache_fds(m.proc.pid)) >= 1, "cache_dir: the daemon holds its cache")
        os.kill(m.proc.pid, signal.SIGKILL)
        m.proc.wait(10)
        m.killed = False
    finally:
        m.stop()
    ok(os.listdir(cdir) == [], "cache_dir: nothing left after SIGKILL")


def refused_or_eio(ckfs, path, words, what, extra=()):
    """The mount is refused with one line naming the problem, or every
    read that fails fails with EIO (and some do)."""
    m = Mount(ckfs, path, list(extra))
    try:
        up = m.start(30)
        if up:
            tree = walk(m.path)
            # an index that ended early, or poisoned reads
            errs = {k: v for k, v in tree.items() if v[0] == "error"}
            others = {k: v for k, v in errs.items() if v[1] != "EIO"}
    finally:
        m.stop()
    if not up:
        lines = [l for l in stderr_lines(m) if "checkpointfs" in l]
        return ok(m.returncode not in (0, None) and len(stderr_lines(m)) == 1 and
                  any(w.lower() in lines[0].lower() for w in words),
                  "%s: refused with one line naming the problem" % what,
                  " (%s)" % stderr_lines(m))
    return ok(errs and not others and not m.daemon_problems(),
              "%s: mounted, and the affected reads fail with EIO" % what,
              " (%d EIO%s)" % (len(errs), ", others: %s" % others if others else ""))


def check_broken(ckfs, fixtures, tmp, big):
    zst = os.path.join(fixtures, "podman-counter.zstd.tar.zst")
    gz = os.path.join(fixtures, "podman-counter.gzip.tar.gz")
    data = open(zst, "rb").read()
    for frac in (0.3, 0.6, 0.9, None):
        cut = os.path.join(tmp, "cut.tar.zst")
        with open(cut, "wb") as f:
            f.write(data[:int(len(data) * frac)] if frac else data[:-64])
        refused_or_eio(ckfs, cut, ("truncated", "zstd"),
                       "zstd fixture cut at %s" % ("%d%%" % (frac * 100) if frac else "-64 bytes"))
    bad = bytearray(open(gz, "rb").read())
    bad[-8] ^= 0xFF  # the CRC-32 in the gzip trailer
    crc = os.path.join(tmp, "badcrc.tar.gz")
    open(crc, "wb").write(bad)
    refused_or_eio(ckfs, crc, ("crc",), "gzip fixture with a bad CRC")
    # big ones: the mount comes up before the damage is reached
    bz = big.tar + ".zst"
    if os.path.exists(bz):
        d = open(bz, "rb").read()
        cut = os.path.join(tmp, "bigcut.tar.zst")
        open(cut, "wb").write(d[:len(d) // 2])
        m = Mount(ckfs, cut)
        head = tail = None
        try:
            up = m.start(60)
            if up:
                member = os.path.join(m.path, "archive", "checkpoint", "pages-1.img")
                fd = os.open(member, os.O_RDONLY)
                try:
                    head = os.pread(fd, 65536, 0)
                    try:
                        os.pread(fd, 4096, big.size - 4096)
                        tail = "read"
                    except OSError as e:
                        tail = errno.errorcode.get(e.errno)
                finally:
                    os.close(fd)
        finally:
            m.stop()
        if up:
            ok(head == big.expected(0, 65536) and tail == "EIO" and not m.daemon_problems(),
               "big zstd cut in half: mounted; bytes before the cut read, after it EIO (%s)" % tail)
        else:
            ok(len(stderr_lines(m)) == 1 and "truncated" in m.stderr,
               "big zstd cut in half: the decode failed before the mount, refused with one line",
               " (%s)" % stderr_lines(m))
    bg = big.tar + ".gz"
    if os.path.exists(bg):
        d = bytearray(open(bg, "rb").read())
        d[-8] ^= 0xFF
        p = os.path.join(tmp, "bigcrc.tar.gz")
        open(p, "wb").write(d)
        m = Mount(ckfs, p)
        try:
            up = m.start(60)
            if up:
                try:
                    os.listdir(os.path.join(m.path, "archive"))  # the whole decode
                    with open(os.path.join(m.path, "archive", "config.dump"), "rb") as f:
                        f.read()
                    res = "read"
                except OSError as e:
                    res = errno.errorcode.get(e.errno)
        finally:
            m.stop()
        if up:
            ok(res == "EIO" and not m.daemon_problems(),
               "big gzip with a bad CRC: mounted; once found, reads fail with EIO (%s)" % res)
        else:
            ok(len(stderr_lines(m)) == 1 and "CRC" in m.stderr,
               "big gzip with a bad CRC: found before the mount, refused with one line",
               " (%s)" % stderr_lines(m))


def check_cache_max(ckfs, fixtures, tmp, big):
    zst = os.path.join(fixtures, "podman-counter.zstd.tar.zst")
    gz = os.path.join(fixtures, "podman-counter.gzip.tar.gz")
    for path, note in ((zst, "no size in the frame: found while decoding"),
                       (gz, "the gzip trailer tells")):
        m = Mount(ckfs, path, ["-o", "cache_max=100K"])
        try:
            up = m.start(30)
        finally:
            m.stop()
        lines = stderr_lines(m)
        ok(not up and len(lines) == 1 and "cache limit" in lines[0] and
           "cache_max" in lines[0],
           "cache_max=100K on %s (%s): refused with a clear message" % (os.path.basename(path), note),
           " (%s)" % lines)
    plain_copy = os.path.join(tmp, "fcs.tar")
    shutil.copy(os.path.join(fixtures, "podman-counter.none.tar"), plain_copy)
    cli = lib_bigtar.compress(plain_copy, "zstd")
    if cli:
        m = Mount(ckfs, cli, ["-o", "cache_max=100K"])
        try:
            up = m.start(30)
        finally:
            m.stop()
        lines = stderr_lines(m)
        ok(not up and len(lines) == 1 and "by its zstd frame header" in lines[0],
           "cache_max=100K, size in the zstd frame: refused before decoding", " (%s)" % lines)
    m = Mount(ckfs, plain_copy if cli else zst, ["-o", "cache_max=lots"])
    try:
        up = m.start(30)
    finally:
        m.stop()
    ok(not up and "not a size" in m.stderr, "cache_max=lots: refused", " (%s)" % stderr_lines(m))
    # found during the decode of a big one: EIO past the limit, never more
    if shutil.which("zstd"):
        p = os.path.join(tmp, "nosize.tar.zst")
        os.system("zstd -q -f -1 --single-thread --no-content-size %s -o %s"
                  % (big.tar, p))
        limit = (BIG_MIB // 2) << 20
        m = Mount(ckfs, p, ["-o", "cache_max=%d" % limit])
        res = size = None
        try:
            up = m.start(60)
            if up:
                pid = m.proc.pid
                member = os.path.join(m.path, "archive", "checkpoint", "pages-1.img")
                try:
                    os.listdir(os.path.join(m.path, "archive"))
                    fd = os.open(member, os.O_RDONLY)
                    try:
                        os.pread(fd, 4096, big.size - 4096)
                        res = "read"
                    finally:
                        os.close(fd)
                except OSError as e:
                    res = errno.errorcode.get(e.errno)
                size = cache_size(pid)
        finally:
            m.stop()
        if up:
            ok(res == "EIO", "cache_max reached during the decode: reads past it fail with EIO (%s)" % res)
            ok(size is not None and size <= limit,
               "cache_max: the cache never grew past it (%s <= %d)" % (size, limit))
            ok(not m.daemon_problems(), "cache_max during decode: daemon clean")
        else:
            ok(len(stderr_lines(m)) == 1 and "cache limit" in m.stderr and
               "stopped after %d.0 MiB" % (limit >> 20) in m.stderr,
               "cache_max reached during the decode, before the mount: refused, "
               "and the decode stopped at the limit", " (%s)" % stderr_lines(m))


def run(args, tmp):
    ckfs, fixtures = args
    check_fixtures(ckfs, fixtures)
    check_recompressed(ckfs, fixtures, tmp)
    big = BigArchive(fixtures, tmp)
    check_big(ckfs, fixtures, tmp, big)
    check_cache_files(ckfs, tmp, big)
    check_progress(ckfs, big)
    check_broken(ckfs, fixtures, tmp, big)
    check_cache_max(ckfs, fixtures, tmp, big)
    check_incompressible(ckfs, fixtures, tmp)


if __name__ == "__main__":
    sys.exit(lib_tap.main(__doc__, run, "ckfs-compressed-", 280))
