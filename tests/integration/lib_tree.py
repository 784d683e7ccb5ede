# SPDX-License-Identifier: LGPL-2.1-or-later
"""Walk a mounted checkpointfs tree and record what every entry holds.

Standard library only. Used by input_modes.py and stable.py.

API
---
Report()                      ok/not_ok lines, then `N passed, N failed`
    .check(cond, what, detail="")  one line; returns cond
    .skip(what, why)
    .exit_code()              0 all passed, 1 a check failed

snapshot(root, sub="") -> dict
    {relative path (bytes): entry} for `sub` and everything below it,
    never following a symlink. An entry is a tuple:
      ("dir", names)                   names in readdir order (bytes)
      ("link", target | "ERR:<errno name>")
      ("file", st_size, sha256 hex)    read whole, with st_size checked
      ("sparse", st_size, ranges, sha) files over SPARSE_LIMIT bytes
                                       (mem, pagemap): the SEEK_DATA /
                                       SEEK_HOLE ranges and their bytes
      ("err", what, "<errno name>")    the operation that failed
    st_size mismatches are recorded as ("err", "size", ...).

inodes(root, paths) -> {path: (st_ino, st_mode)}  from lstat
"""

import errno
import hashlib
import os
import stat

SPARSE_LIMIT = 64 << 20
CHUNK = 1 << 20


def errname(e):
    return "ERR:" + errno.errorcode.get(e.errno, str(e.errno))


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print("ok - %s" % what, flush=True)
        else:
            self.failed += 1
            print("not ok - %s%s" % (what, ": " + detail if detail else ""),
                  flush=True)
        return cond

    def skip(self, what, why):
        print("ok - %s # SKIP %s" % (what, why), flush=True)

    def exit_code(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 1 if self.failed else 0


def _read_whole(path, size):
    h = hashlib.sha256()
    n = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(CHUNK)
            if not b:
                break
            h.update(b)
            n += len(b)
    if n != size:
        return ("err", "size", "st_size %d but %d bytes read" % (size, n))
    return ("file", size, h.hexdigest())


def _read_sparse(path, size):
    h = hashlib.sha256()
    ranges = []
    fd = os.open(path, os.O_RDONLY)
    try:
        off = 0
        while off < size:
            try:
                data = os.lseek(fd, off, os.SEEK_DATA)
            except OSError as e:
                if e.errno == errno.ENXIO:
                    break
                return ("err", "SEEK_DATA", errname(e))
            hole = os.lseek(fd, data, os.SEEK_HOLE)
            if hole <= data or hole > size:
                return ("err", "SEEK_HOLE", "0x%x after data at 0x%x" % (hole, data))
            pos = data
            while pos < hole:
                b = os.pread(fd, min(CHUNK, hole - pos), pos)
                if not b:
                    return ("err", "read", "EOF at 0x%x" % pos)
                h.update(b)
                pos += len(b)
            ranges.append((data, hole))
            off = hole
            if len(ranges) > 100000:
                return ("err", "SEEK_DATA", "too many ranges")
    finally:
        os.close(fd)
    return ("sparse", size, tuple(ranges), h.hexdigest())


def entry(path):
    try:
        st = os.lstat(path)
    except OSError as e:
        return ("err", "lstat", errname(e))
    try:
        if stat.S_ISDIR(st.st_mode):
            return ("dir", tuple(os.listdir(path)))
        if stat.S_ISLNK(st.st_mode):
            try:
                return ("link", os.readlink(path))
            except OSError as e:
                return ("link", errname(e))
        if stat.S_ISREG(st.st_mode):
            if st.st_size > SPARSE_LIMIT:
                return _read_sparse(path, st.st_size)
            return _read_whole(path, st.st_size)
        return ("other", stat.S_IFMT(st.st_mode))
    except OSError as e:
        return ("err", "read", errname(e))


def snapshot(root, sub=""):
    root = os.fsencode(root)
    out = {}
    left = [os.fsencode(sub)]  # paths still to visit
    while left:
        rel = left.pop()
        e = entry(os.path.join(root, rel) if rel else root)
        out[rel] = e
        if e[0] == "dir":
            for name in e[1]:
                left.append(os.path.join(rel, name) if rel else name)
    return out


def inodes(root, paths):
    root = os.fsencode(root)
    out = {}
    for p in paths:
        try:
            st = os.lstat(os.path.join(root, p) if p else root)
            out[p] = (st.st_ino, st.st_mode)
        except OSError as e:
            out[p] = errname(e)
    return out


def diff(a, b, limit=10):
    """The first differences between two snapshots, as text lines."""
    lines = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            lines.append("%s: %r != %r" % (os.fsdecode(k) or ".",
                                           _short(a.get(k)), _short(b.get(k))))
            if len(lines) >= limit:
                lines.append("...")
                break
    return lines


def _short(v):
    s = repr(v)
    return s if len(s) < 160 else s[:160] + "..."
