#!/usr/bin/env python3
"""Multi-frame zstd archives, read by frame, through a real mount (TAP).

usage: zstd_frames.py CHECKPOINTFS FIXTURES_DIR

The archives are made here from the plain Podman fixture with the real
`zstd` CLI: the tar is cut into chunks, each chunk compressed on its own
(one frame each, with its content size and XXH64 checksum), and the frames
concatenated, as t2sz or a seekable-format writer would.

1. Chunks of 64 KiB, 4 KiB (with a skippable frame between), and 64 KiB
   compressed from stdin (no content sizes) followed by a seek table of the
   seekable format appended here: each mounts to a tree byte-identical to
   the plain tar's, whole, without a cache file (read by frame: the
   seek-table one can only be read so through its table).  One frame
   without a content size among sized ones: streamed (a cache file), and
   still identical.
2. Crafted seek tables (sizes that do not add up, 2^32-1 frames, reserved
   bits) are ignored: the mount is streamed or walked, and identical.  A
   table that lies about a decoded size only the decode can check: the
   mount is refused with one line naming the archive.
3. A big archive (the fixture with CKFS_TEST_BIG_MIB, default 64, MiB more
   in pages-1.img, moved last) in 1 MiB frames: after the mount and the
   first byte of proc/1/cmdline the daemon has read (rchar in
   /proc/PID/io) a small part of the archive only; proc/ matches the
   plain tar's mount, and so do random preads of pages-1.img and
   proc/1/mem by several threads at once, two sequential readers of
   pages-1.img (the frames after theirs decoded ahead) with two random
   ones at once, and the whole pages-1.img.
4. A byte flipped inside one frame of the big member's data: only the
   reads that touch that frame fail, with EIO (twice: nothing bad is
   kept), also for a reader going through it in order (whom the
   read-ahead is likely to precede there); reads elsewhere and proc/ are right; the daemon is
   clean.
5. Cut inside a frame or at a frame's start: refused with one line, or
   mounted with EIO reads; no hang, no crash.
6. A pzstd archive (a skippable frame first): mounted, identical.
"""

import errno
import os
import random
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib_tap  # noqa: E402
from lib_tap import diag, ok  # noqa: E402
from compressed_check import (BigArchive, cache_fds, compare,  # noqa: E402
                              mem_ranges, proc_snapshot, refused_or_eio,
                              stderr_lines, walk)
from lib_mount import Mount, mounted  # noqa: E402

BIG_MIB = int(os.environ.get("CKFS_TEST_BIG_MIB", "64"))
SEEKABLE_MAGIC = 0x8F92EAB1
SEEKTABLE_MAGIC = 0x184D2A5E

# ---- making multi-frame files with the zstd CLI ----

class Frames:
    """A multi-frame .zst: data, and [(coff, csize, doff, dsize)]."""

    def __init__(self):
        self.data = bytearray()
        self.frames = []
        self.doff = 0

    def add(self, blob, dsize):
        self.frames.append((len(self.data), len(blob), self.doff, dsize))
        self.data += blob
        self.doff += dsize

    def add_skippable(self, payload):
        self.data += struct.pack("<II", 0x184D2A53, len(payload)) + payload
        self.frames.append((len(self.data) - 8 - len(payload),
                            8 + len(payload), self.doff, 0))

    def add_seek_table(self, fix=None):
        """The seekable format's table; fix(entries, footer) may lie."""
        entries = [[c, d] for _, c, _, d in self.frames]
        footer = [len(entries), 0]
        if fix:
            fix(entries, footer)
        body = b"".join(struct.pack("<II", c, d) for c, d in entries)
        body += struct.pack("<IBI", footer[0], footer[1], SEEKABLE_MAGIC)
        self.data += struct.pack("<II", SEEKTABLE_MAGIC, len(body)) + body

    def write(self, tmp, tag):
        """Written as TMP/TAG/podman-counter.none.tar: every copy keeps the
        plain one's file name (views show it), and zstd is told by magic."""
        d = os.path.join(tmp, tag)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "podman-counter.none.tar")
        with open(path, "wb") as f:
            f.write(self.data)
        return path


def multiframe(src, chunk, tmp, level=3, nosize=(), skippable_after=None,
               all_nosize=False):
    """src cut in chunks of `chunk` bytes, each compressed by the zstd CLI
    alone; chunk indexes in `nosize` (or all) from stdin, so their frame
    has no content size."""
    work = tempfile.mkdtemp(prefix="chunks-", dir=tmp)
    with open(src, "rb") as f:
        raw = f.read()
    names = []
    for i in range(0, len(raw), chunk):
        p = os.path.join(work, "c%06d" % (i // chunk))
        with open(p, "wb") as f:
            f.write(raw[i:i + chunk])
        names.append(p)
    sized = [p for k, p in enumerate(names) if not all_nosize and k not in nosize]
    for i in range(0, len(sized), 500):
        subprocess.run(["zstd", "-q", "-f", "--single-thread", "-%d" % level]
                       + sized[i:i + 500], check=True)
    for k, p in enumerate(names):
        if all_nosize or k in nosize:
            with open(p, "rb") as fin, open(p + ".zst", "wb") as fout:
                subprocess.run(["zstd", "-q", "-c", "--no-content-size",
                                "-%d" % level], stdin=fin, stdout=fout,
                               check=True)
    fr = Frames()
    for k, p in enumerate(names):
        with open(p + ".zst", "rb") as f:
            fr.add(f.read(), os.path.getsize(p))
        if skippable_after is not None and k == skippable_after:
            fr.add_skippable(b"a skippable frame holds anything")
    shutil.rmtree(work)
    return fr


def block_content_byte(fr, i):
    """An offset inside the content of the biggest compressed block of
    frame i (not a header): a byte there is decoded, and checked."""
    coff, csize, _, _ = fr.frames[i]
    d = fr.data
    fhd = d[coff + 4]
    single = (fhd >> 5) & 1
    fcs = [1 if single else 0, 2, 4, 8][fhd >> 6]
    pos = coff + 4 + 1 + (0 if single else 1) + [0, 1, 2, 4][fhd & 3] + fcs
    best = None
    while True:
        bh = d[pos] | d[pos + 1] << 8 | d[pos + 2] << 16
        btype, bsize = (bh >> 1) & 3, bh >> 3
        if btype == 2 and (best is None or bsize > best[1]):
            best = (pos + 3, bsize)
        pos += 3 + (1 if btype == 1 else bsize)
        if bh & 1:
            break
    return best[0] + best[1] // 2


# ---- the daemon ----

def streamed(m):
    """Whether the daemon decodes into a cache file (the streaming path)."""
    return any("checkpointfs-cache" in t or t.endswith("(deleted)")
               for _, t in cache_fds(m.proc.pid))


def proc_io(pid):
    with open("/proc/%d/io" % pid) as f:
        return {k: int(v) for k, v in (l.split(":") for l in f)}


# ---- the checks ----

def check_small(ckfs, fixtures, tmp):
    plain = os.path.join(fixtures, "podman-counter.none.tar")
    with mounted(ckfs, plain) as m:
        want = walk(m.path)
    variants = [
        ("64 KiB frames", multiframe(plain, 64 << 10, tmp), False),
        ("4 KiB frames, level 19, a skippable frame between",
         multiframe(plain, 4 << 10, tmp, level=19, skippable_after=5), False),
        ("64 KiB frames without content sizes, and a seek table",
         multiframe(plain, 64 << 10, tmp, all_nosize=True), False),
        ("64 KiB frames, one without a content size",
         multiframe(plain, 64 << 10, tmp, nosize=(1,)), True),
    ]
    variants[2][1].add_seek_table()
    for what, fr, want_streamed in variants:
        path = fr.write(tmp, "small")
        with mounted(ckfs, path) as m:
            got = walk(m.path)
            was_streamed = streamed(m)
        ok(was_streamed == want_streamed, "%s (%d frames): %s" % (
            what, sum(1 for f in fr.frames if f[3]),
            "streamed into a cache file" if want_streamed
            else "read by frame, no cache file"))
        compare(got, want, "%s: a tree identical to the plain tar's (%d entries)"
                % (what, len(want)))
        ok(not m.daemon_problems(), "%s: daemon clean" % what,
           "" if not m.daemon_problems() else " %s" % m.daemon_problems())
    check_pzstd(ckfs, plain, tmp, want)
    return want


def check_pzstd(ckfs, plain, tmp, want):
    """pzstd's output starts with a skippable frame (each of its frames
    is preceded by one holding the frame's size): still zstd."""
    if shutil.which("pzstd") is None:
        ok(True, "pzstd archive # SKIP pzstd is missing")
        return
    # the plain one's file name (views show it); zstd is told by magic
    os.makedirs(os.path.join(tmp, "pzstd"), exist_ok=True)
    path = os.path.join(tmp, "pzstd", os.path.basename(plain))
    subprocess.run(["pzstd", "-q", "-f", "-p", "2", plain, "-o", path],
                   check=True)
    with open(path, "rb") as f:
        head = f.read(4)
    with mounted(ckfs, path) as m:
        got = walk(m.path)
    problems = m.daemon_problems()
    compare(got, want, "pzstd archive (starts with %s): a tree identical to "
            "the plain tar's" % head.hex())
    ok(not problems, "pzstd archive: daemon clean", " %s" % problems)


def check_tables(ckfs, fixtures, tmp, want):
    plain = os.path.join(fixtures, "podman-counter.none.tar")

    def bad_sum(e, f):
        e[1][0] += 1

    def huge(e, f):
        f[0] = 0xFFFFFFFF

    def reserved(e, f):
        f[1] = 0x08

    def lie(e, f):
        e[0][1] += 100
        e[1][1] -= 100

    for sized in (True, False):
        for what, fix in (("sizes that do not add up", bad_sum),
                          ("2^32-1 frames", huge), ("reserved bits", reserved)):
            fr = multiframe(plain, 64 << 10, tmp, all_nosize=not sized)
            fr.add_seek_table(fix)
            path = fr.write(tmp, "crafted")
            with mounted(ckfs, path) as m:
                got = walk(m.path)
                was_streamed = streamed(m)
            ok(was_streamed != sized,
               "seek table with %s, frames %s: ignored, %s" % (
                   what, "with content sizes" if sized else "without",
                   "frames walked" if sized else "streamed"))
            compare(got, want, "seek table with %s: identical tree" % what)
            ok(not m.daemon_problems(), "seek table with %s: daemon clean" % what)
    fr = multiframe(plain, 64 << 10, tmp, all_nosize=True)
    fr.add_seek_table(lie)
    path = fr.write(tmp, "lying")
    refused_or_eio(ckfs, path, (path + ": zstd frame 0 decodes to 65536 bytes, not the 65636 its seek table says",),
                   "a seek table lying about a decoded size")


class Big(BigArchive):
    """compressed_check's big archive, also in 1 MiB frames."""

    def __init__(self, fixtures, tmp):
        super().__init__(fixtures, tmp, BIG_MIB)
        with tarfile.open(self.tar) as t:
            self.data_off = t.getmember("checkpoint/pages-1.img").offset_data
        self.fr = multiframe(self.tar, 1 << 20, tmp, level=1)
        self.zst = self.fr.write(tmp, "big")


def random_reads(path, seed, n, want, results, avoid=None):
    """n preads at random offsets; want(off, len) -> bytes; avoid: a range
    of offsets not to read (with a margin)."""
    r = random.Random(seed)
    bad = errs = 0
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    try:
        for _ in range(n):
            ln = r.choice((1, 4096, 65536, 1 << 20, r.randrange(1, 300000)))
            off = r.randrange(size)
            if avoid and off < avoid[1] + (2 << 20) and off + ln > avoid[0] - (2 << 20):
                continue
            try:
                got = os.pread(fd, ln, off)
            except OSError:
                errs += 1
                continue
            if got != want(off, ln):
                bad += 1
    finally:
        os.close(fd)
    results.append((bad, errs))


def in_threads(nthreads, fn, *args, **kw):
    results = []
    ts = [threading.Thread(target=fn, args=(*args[:1], 11 * i + 1, *args[1:], results),
                           kwargs=kw) for i in range(nthreads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return (len(results) == nthreads, sum(b for b, _ in results),
            sum(e for _, e in results))


def mem_reads(mnt, seed, n, plain_mnt, results):
    r = random.Random(seed)
    bad = errs = 0
    want_fd = {}
    for _ in range(n):
        pid = r.choice(("1", "5"))
        ranges = mem_ranges(os.path.join(mnt, "proc", pid, "maps"))
        a, b = r.choice(ranges)
        off = r.randrange(a, b)
        ln = min(b - off, r.choice((1, 4096, 100000)))
        try:
            fd = os.open(os.path.join(mnt, "proc", pid, "mem"), os.O_RDONLY)
            try:
                got = os.pread(fd, ln, off)
            finally:
                os.close(fd)
        except OSError:
            errs += 1
            continue
        wfd = want_fd.get(pid)
        if wfd is None:
            wfd = want_fd[pid] = os.open(os.path.join(plain_mnt, "proc", pid, "mem"),
                                         os.O_RDONLY)
        if got != os.pread(wfd, ln, off):
            bad += 1
    for fd in want_fd.values():
        os.close(fd)
    results.append((bad, errs))


def seq_read(path, start, end, chunk, want, results):
    """[start, end) of path read in order, chunk bytes at a time, as cat
    does, out of the daemon (the page cache dropped first): a short read
    goes on where it stopped, an EIO skips the chunk.  results gets
    (wrong reads, [(offset, length) of each EIO], other errors)."""
    bad, eio, errs = 0, [], 0
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        pos = start
        while pos < end:
            n = min(chunk, end - pos)
            try:
                got = os.pread(fd, n, pos)
            except OSError as e:
                if e.errno == errno.EIO:
                    eio.append((pos, n))
                else:
                    errs += 1
                pos += n
                continue
            if not got:
                bad += 1
                break
            if got != want(pos, len(got)):
                bad += 1
            pos += len(got)
    finally:
        os.close(fd)
    results.append((bad, eio, errs))


def same_file(a, b, chunk=4 << 20):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(chunk), fb.read(chunk)
            if x != y:
                return False
            if not x:
                return True


def check_big(ckfs, tmp, big):
    zsize = os.path.getsize(big.zst)
    diag("big archive: %d MiB tar, %d MiB in %d frames" % (
        os.path.getsize(big.tar) >> 20, zsize >> 20, len(big.fr.frames)))
    with mounted(ckfs, big.tar) as pm:
        want_proc = big.want_proc = proc_snapshot(pm.path)
        t0 = time.monotonic()
        with mounted(ckfs, big.zst, timeout=60) as m:
            t_mount = time.monotonic() - t0
            pid = m.proc.pid
            with open(os.path.join(m.path, "proc", "1", "cmdline"), "rb") as f:
                first = f.read(1)
            rchar = proc_io(pid)["rchar"]
            ok(first == b"s" and rchar < zsize // 4,
               "big: mount + first byte of proc/1/cmdline read %d KiB of the %d KiB archive"
               % (rchar >> 10, zsize >> 10), " (mounted in %.2f s)" % t_mount)
            ok(not streamed(m), "big: read by frame, no cache file")
            got_proc = proc_snapshot(m.path)
            compare(got_proc, want_proc, "big: proc/ (memory included) as the plain tar's")
            member = os.path.join(m.path, "archive", "checkpoint", "pages-1.img")
            done, bad, errs = in_threads(4, random_reads, member, 60, big.expected)
            ok(done and bad == 0 and errs == 0,
               "big: 240 random preads of the %d MiB pages-1.img by 4 threads at once"
               % (big.size >> 20), " (%d wrong, %d errors)" % (bad, errs))
            # sequential readers (the read-ahead) and random ones at once
            sres, rres = [], []
            ts = [threading.Thread(target=seq_read,
                                   args=(member, start, big.size, chunk,
                                         big.expected, sres))
                  for start, chunk in ((0, 128 << 10),
                                       (big.size // 3 + 1234, 100000))]
            ts += [threading.Thread(target=random_reads,
                                    args=(member, 91 + i, 40, big.expected, rres))
                   for i in range(2)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            bad = sum(b for b, _, _ in sres) + sum(b for b, _ in rres)
            errs = (sum(len(e) + x for _, e, x in sres) +
                    sum(e for _, e in rres))
            ok(len(sres) == 2 and len(rres) == 2 and bad == 0 and errs == 0,
               "big: 2 sequential readers of pages-1.img and 2 random ones at once",
               " (%d wrong, %d errors)" % (bad, errs))
            results = []
            ts = [threading.Thread(target=mem_reads,
                                   args=(m.path, 5 * i, 40, pm.path, results))
                  for i in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            bad = sum(b for b, _ in results)
            errs = sum(e for _, e in results)
            ok(len(results) == 4 and bad == 0 and errs == 0,
               "big: 160 random preads of proc/{1,5}/mem by 4 threads at once as the plain tar's",
               " (%d wrong, %d errors)" % (bad, errs))
            t1 = time.monotonic()
            whole = same_file(member, os.path.join(pm.path, "archive", "checkpoint",
                                                   "pages-1.img"))
            ok(whole, "big: the whole pages-1.img as the plain tar's",
               " (%.2f s through both mounts)" % (time.monotonic() - t1))
            diag("big: daemon VmHWM %d MiB, rchar after everything %d MiB" % (
                m.peak_rss() >> 20, proc_io(pid)["rchar"] >> 20))
        ok(not m.daemon_problems(), "big: daemon clean",
           "" if not m.daemon_problems() else " %s" % m.daemon_problems())


def check_corrupt(ckfs, tmp, big):
    # a frame in the middle of the big data
    fr = big.fr
    want_doff = big.data_off + big.size // 2
    k = next(i for i, f in enumerate(fr.frames) if f[2] <= want_doff < f[2] + f[3])
    coff, csize, doff, dsize = fr.frames[k]
    bad = bytearray(fr.data)
    bad[block_content_byte(fr, k)] ^= 0x55
    path = os.path.join(tmp, "corrupt.tar.zst")
    with open(path, "wb") as f:
        f.write(bad)
    lo, hi = doff - big.data_off, doff + dsize - big.data_off  # in the member
    with mounted(ckfs, path, timeout=60) as m:
        member = os.path.join(m.path, "archive", "checkpoint", "pages-1.img")
        res = []
        for _ in range(2):
            fd = os.open(member, os.O_RDONLY)
            try:
                os.pread(fd, 4096, lo + dsize // 2)
                res.append("read")
            except OSError as e:
                res.append(errno.errorcode.get(e.errno))
            finally:
                os.close(fd)
        ok(res == ["EIO", "EIO"],
           "corrupt frame %d: a read inside it fails with EIO, again the second time" % k,
           " (%s)" % res)
        # read(2) through the page cache returns what it got before the
        # failing page, if anything, and EIO otherwise
        fd = os.open(member, os.O_RDONLY)
        try:
            try:
                got = os.pread(fd, 2 << 20, lo - (1 << 20))
                across = "%d bytes" % len(got)
                good = len(got) <= 1 << 20 and got == big.expected(lo - (1 << 20), len(got))
            except OSError as e:
                across = errno.errorcode.get(e.errno)
                good = across == "EIO"
        finally:
            os.close(fd)
        ok(good, "corrupt frame: a read that runs into it stops before it (short or EIO)",
           " (%s)" % across)
        # in order through it, 128 KiB at a time (the read-ahead likely
        # gets there first): EIO only for the reads that touch its pages
        page_lo, page_hi = lo & ~4095, (hi + 4095) & ~4095
        for n in ("first", "second"):
            sres = []
            seq_read(member, max(0, page_lo - (6 << 20)),
                     min(big.size, page_hi + (6 << 20)), 128 << 10,
                     big.expected, sres)
            nbad, eio, errs = sres[0]
            stray = [(p, ln) for p, ln in eio if p >= page_hi or p + ln <= page_lo]
            ok(nbad == 0 and errs == 0 and eio and not stray,
               "corrupt frame, read in order (%s time): EIO only for the reads "
               "that touch it, the others right" % n,
               " (%d EIO, %d wrong, %d other errors, stray EIO at %s)" % (
                   len(eio), nbad, errs, stray[:4]))
        done, nbad, errs = in_threads(3, random_reads, member, 80, big.expected,
                                      avoid=(lo, hi))
        ok(done and nbad == 0 and errs == 0,
           "corrupt frame: random reads elsewhere by 3 threads are right",
           " (%d wrong, %d errors)" % (nbad, errs))
        compare(proc_snapshot(m.path), big.want_proc,
                "corrupt frame: proc/ (memory included) as the plain tar's")
    ok(not m.daemon_problems(), "corrupt frame: daemon clean",
       "" if not m.daemon_problems() else " %s" % m.daemon_problems())


def check_truncated(ckfs, fixtures, tmp, big):
    plain = os.path.join(fixtures, "podman-counter.none.tar")
    fr = multiframe(plain, 64 << 10, tmp)
    d = bytes(fr.data)
    cut = os.path.join(tmp, "cut.tar.zst")
    for what, n in (("inside frame 2", fr.frames[2][0] + fr.frames[2][1] // 2),
                    ("at frame 2's start", fr.frames[2][0]),
                    ("inside frame 1", fr.frames[1][0] + 100)):
        with open(cut, "wb") as f:
            f.write(d[:n])
        refused_or_eio(ckfs, cut, ("truncated",), "64 KiB frames cut %s" % what)
    # the big one cut at a frame start inside pages-1.img: refused at once
    k = len(big.fr.frames) // 2
    with open(cut, "wb") as f:
        f.write(big.fr.data[:big.fr.frames[k][0]])
    t0 = time.monotonic()
    m = Mount(ckfs, cut)
    try:
        up = m.start(30)
    finally:
        m.stop()
    lines = stderr_lines(m)
    ok(not up and len(lines) == 1 and "pages-1.img is truncated" in lines[0],
       "big, cut at frame %d's start: refused with one line" % k,
       " (%s, %.2f s)" % (lines, time.monotonic() - t0))


def run(args, tmp):
    ckfs, fixtures = args
    want = check_small(ckfs, fixtures, tmp)
    check_tables(ckfs, fixtures, tmp, want)
    big = Big(fixtures, tmp)
    check_big(ckfs, tmp, big)
    check_corrupt(ckfs, tmp, big)
    check_truncated(ckfs, fixtures, tmp, big)


if __name__ == "__main__":
    sys.exit(lib_tap.main(__doc__, run, "ckfs-zframes-", 280, tools=("zstd",)))
