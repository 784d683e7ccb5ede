#!/usr/bin/env python3
"""Reads answered with file ranges (spliced) at odd offsets and sizes (TAP).

usage: splice_reads.py CHECKPOINTFS FIXTURES_DIR

A read of an archive member of a plain tar or of a streamed (zstd, gzip)
archive, or of proc/<pid>/mem and vma/ backed by pages images, is answered
with where its bytes lie (file ranges and runs of zeros) for libfuse to
splice; everything else is copied.  The same preads are done on a plain
tar, its zstd and gzip forms (spliced) and its extracted directory (always
copied), the Podman fixture with BIG_MIB MiB appended to pages-1.img:

1. every archive member, whole, equals the tar's bytes;
2. pread of pages-1.img at unaligned offsets and sizes (crossing member
   ends, at EOF, past EOF), buffered and O_DIRECT (the daemon then sees
   the odd offsets itself), equals the tar's bytes;
3. the same kind of preads of proc/<pid>/mem around its data/hole
   boundaries (SEEK_DATA / SEEK_HOLE) and of every vma/ file equal the
   directory mount's;
4. the daemons are clean.
"""

import os
import random
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib_tap  # noqa: E402
from lib_tap import ok  # noqa: E402
import lib_bigtar  # noqa: E402
from lib_mount import mounted  # noqa: E402

BIG_MIB = 16
SEEK_DATA, SEEK_HOLE = 3, 4

def pread(path, off, n, direct=False):
    """Bytes read at off (as many as one pread returns, up to EOF)."""
    flags = os.O_RDONLY | (os.O_DIRECT if direct else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if not direct:
            raise
        fd = os.open(path, os.O_RDONLY)
    try:
        out = b""
        while len(out) < n:
            b = os.pread(fd, n - len(out), off + len(out))
            if not b:
                break
            out += b
        return out
    finally:
        os.close(fd)


def odd_ranges(size, rng, extra=()):
    """(off, n) pairs: unaligned, crossing 4 KiB and 128 KiB, at the ends."""
    out = [(0, 1), (1, 4095), (4095, 8194), (131071, 131074),
           (size - 1, 10), (size, 5), (size + 4096, 4096),
           (max(0, size - 700000), 700001), (max(0, size - 131073), 1 << 20)]
    for _ in range(24):
        out.append((rng.randrange(0, size + 1),
                    rng.choice([1, 4097, 65537, 131072 + 7, 300001, 524289,
                                1 << 20])))
    for b in extra:
        for d in (-4097, -1, 0, 1, 4096 + 3):
            if b + d >= 0:
                out.append((b + d, 2 * 131072 + 11))
    return out


def boundaries(path, limit=64):
    """Data/hole boundaries of a file (SEEK_DATA / SEEK_HOLE)."""
    out = []
    fd = os.open(path, os.O_RDONLY)
    try:
        pos = 0
        while len(out) < limit:
            try:
                d = os.lseek(fd, pos, SEEK_DATA)
                h = os.lseek(fd, d, SEEK_HOLE)
            except OSError:
                break
            out += [d, h]
            pos = h
    finally:
        os.close(fd)
    return out


def check_members(mnt, tar, what):
    with tarfile.open(tar) as t:
        bad = []
        for m in t.getmembers():
            if not m.isreg():
                continue
            want = t.extractfile(m).read()
            p = os.path.join(mnt, "archive", m.name)
            with open(p, "rb") as f:
                if f.read() != want:
                    bad.append(m.name)
        ok(not bad, "%s: every member whole" % what, " (%s)" % bad[:3])
        m = t.getmember("checkpoint/pages-1.img")
        data = t.extractfile(m).read()
    rng = random.Random(7)
    p = os.path.join(mnt, "archive", "checkpoint", "pages-1.img")
    for direct in (False, True):
        bad = [(o, n) for o, n in odd_ranges(len(data), rng)
               if pread(p, o, n, direct) != data[o:o + n]]
        ok(not bad, "%s: pages-1.img at odd offsets%s" %
           (what, " (O_DIRECT)" if direct else ""), " (%s)" % bad[:3])


def mem_files(mnt):
    out = []
    proc = os.path.join(mnt, "proc")
    for pid in sorted(os.listdir(proc)):
        out.append("proc/%s/mem" % pid)
        vdir = os.path.join(proc, pid, "vma")
        if os.path.isdir(vdir):
            out += ["proc/%s/vma/%s" % (pid, v) for v in sorted(os.listdir(vdir))]
    return out


def mem_reads(mnt, files):
    """{(file, off, n, direct): bytes} for odd ranges of the memory files."""
    rng = random.Random(11)
    out = {}
    for f in files:
        p = os.path.join(mnt, f)
        size = os.stat(p).st_size
        extra = boundaries(p) if f.endswith("/mem") else ()
        ranges = odd_ranges(size, rng, extra)
        if not f.endswith("/mem"):
            ranges = ranges[:12]
        for o, n in ranges:
            for direct in (False, True):
                out[(f, o, n, direct)] = pread(p, o, n, direct)
    return out


def run(args, tmp):
    ckfs, fixtures = args
    tar = os.path.join(tmp, "big.tar")
    lib_bigtar.make_tar(os.path.join(fixtures, "podman-counter.none.tar"),
                        tar, BIG_MIB << 20, where="sorted")
    d = os.path.join(tmp, "dir")
    os.mkdir(d)
    with tarfile.open(tar) as t:
        t.extractall(d, filter="tar" if hasattr(tarfile, "tar_filter")
                     else None)
    with mounted(ckfs, d) as mnt:
        files = mem_files(mnt)
        want = mem_reads(mnt, files)
    ok(files and mnt.daemon_problems() == [],
       "directory mount: %d memory files read" % len(files))
    inputs = [("plain tar", tar)]
    for kind in ("zstd", "gzip"):
        z = lib_bigtar.compress(tar, kind)
        if z:
            inputs.append((kind, z))
    for what, path in inputs:
        with mounted(ckfs, path) as mnt:
            check_members(mnt, tar, what)
            got = mem_reads(mnt, files)
            bad = [k for k in want if got.get(k) != want[k]]
            ok(not bad, "%s: mem and vma/ at odd offsets, as the "
               "directory's" % what, " (%s)" % bad[:3])
        ok(mnt.daemon_problems() == [], "%s: daemon clean" % what,
           " (%s)" % mnt.daemon_problems())


if __name__ == "__main__":
    sys.exit(lib_tap.main(__doc__, run, "ckfs-splice-", 240))
