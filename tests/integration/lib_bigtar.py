"""Big checkpoint archives made at test time (standard library only).

API
---
big_bytes(off, n) -> bytes
    Bytes [off, off + n) of an endless deterministic stream: 4 KiB pages of
    four kinds (zeros, random, a repeated word, text-like), so it
    compresses about like process memory does (zstd -1: ~2.5x). Any range
    can be recomputed from its offset alone.

make_tar(src, dst, extra, name="checkpoint/pages-1.img", where="end")
    Re-pack the tar `src` into `dst` (PAX), with `extra` bytes of
    big_bytes() appended to member `name` (or to a new member of that name
    when `src` has none). where="end": that member is moved to the end of
    the tar, after pstree.img and every small image, so a mount is usable
    while it still decodes; where="sorted": members are written sorted by
    name, as Podman writes them (pages-*.img before pstree.img). Returns
    (offset of the big bytes within the member, total member size).

compress(path, kind, level=None) -> path
    path + .zst/.gz/.xz/.bz2, made with the zstd CLI (one frame,
    --single-thread; None if zstd is missing) or Python's gzip/lzma/bz2.
"""

import bz2
import gzip
import io
import lzma
import os
import random
import shutil
import subprocess
import tarfile

PAGE = 4096
_TEXT = bytes.maketrans(bytes(range(256)), bytes(b"abcdefghijklmnop"[i % 16]
                                                 for i in range(256)))


def _page(i):
    r = random.Random(i * 0x9E3779B1 + 12345)
    kind = r.randrange(4)
    if kind == 0:
        return bytes(PAGE)
    if kind == 1:
        return r.randbytes(PAGE)
    if kind == 2:
        return r.randbytes(8) * (PAGE // 8)
    return r.randbytes(PAGE).translate(_TEXT)


def big_bytes(off, n):
    out = bytearray()
    first = off // PAGE
    last = (off + n + PAGE - 1) // PAGE
    for i in range(first, last):
        out += _page(i)
    skip = off - first * PAGE
    return bytes(out[skip:skip + n])


class _BigReader(io.RawIOBase):
    """A file-like object over prefix + big_bytes(0, extra)."""

    def __init__(self, prefix, extra):
        self.prefix = prefix
        self.extra = extra
        self.pos = 0

    def readable(self):
        return True

    def readinto(self, b):
        total = len(self.prefix) + self.extra
        if self.pos >= total:
            return 0
        n = min(len(b), total - self.pos, 1 << 20)
        if self.pos < len(self.prefix):
            chunk = self.prefix[self.pos:self.pos + n]
        else:
            chunk = big_bytes(self.pos - len(self.prefix), n)
        b[:len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


def make_tar(src, dst, extra, name="checkpoint/pages-1.img", where="end"):
    with tarfile.open(src, "r:") as tin:
        members = tin.getmembers()
        datas = {m.name: (tin.extractfile(m).read() if m.isfile() else None)
                 for m in members}
    target = None
    for m in members:
        if m.name.lstrip("./") == name:
            target = m
    if target is None:
        target = tarfile.TarInfo(name)
        target.mode = 0o644
        target.mtime = members[0].mtime if members else 0
        members.append(target)
        datas[target.name] = b""
    prefix = datas[target.name]
    target.size = len(prefix) + extra
    if where == "end":
        order = [m for m in members if m is not target] + [target]
    else:
        order = sorted(members, key=lambda m: m.name)
    with tarfile.open(dst, "w:", format=tarfile.PAX_FORMAT) as tout:
        for m in order:
            if m is target:
                tout.addfile(m, io.BufferedReader(_BigReader(prefix, extra),
                                                  1 << 20))
            elif m.isfile():
                tout.addfile(m, io.BytesIO(datas[m.name]))
            else:
                tout.addfile(m)
    return len(prefix), target.size


def compress(path, kind, level=None):
    if kind == "zstd":
        if shutil.which("zstd") is None:
            return None
        out = path + ".zst"
        subprocess.run(["zstd", "-q", "-f", "--single-thread",
                        "-%d" % (level or 1), path, "-o", out], check=True)
        return out
    opener = {"gzip": (gzip.open, ".gz", {"compresslevel": level or 1}),
              "xz": (lzma.open, ".xz", {"preset": level or 0}),
              "bzip2": (bz2.open, ".bz2", {"compresslevel": level or 1})}
    fn, ext, kw = opener[kind]
    out = path + ext
    with open(path, "rb") as fin, fn(out, "wb", **kw) as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
    return out
