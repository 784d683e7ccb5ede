#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Regenerate the seed corpora of the fuzz targets from the real fixtures.

usage: make_corpus.py [FIXTURES_DIR] [CORPUS_DIR]

Seeds are small real CRIU images taken with tarfile from the fixture tars
(never edited), small tars built from them in each tar dialect, and for
fuzz_decoders a selector byte (the decoder) followed by an image.  Crash
inputs found later are added by hand under the same directories, named
crash-*, and are kept when this script runs again.
"""

import gzip
import hashlib
import io
import os
import shutil
import struct
import subprocess
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "fixtures")
CORPUS = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "corpus")

# fuzz_decoders.c: the order of its enum
DECODERS = ["inventory", "pstree", "core", "ids", "mm", "fdinfo", "files",
            "fs", "remaps", "memfds", "stats"]


def members(tar_name, prefix=""):
    """{name: bytes} of the small regular members of a fixture tar."""
    out = {}
    with tarfile.open(os.path.join(FIXTURES, tar_name)) as t:
        for m in t.getmembers():
            if m.isfile() and m.size <= 8192 and m.name.startswith(prefix):
                out[m.name[len(prefix):]] = t.extractfile(m).read()
    return out


def zstd_frames(data, chunk, seek_table=False):
    """data in frames of `chunk` bytes, each compressed alone by the zstd
    CLI (with its content size), and the seekable format's table."""
    frames = []
    for i in range(0, len(data), chunk):
        part = data[i:i + chunk]
        frames.append((subprocess.run(
            ["zstd", "-q", "-c", "-3", "--stream-size=%d" % len(part)],
            input=part, stdout=subprocess.PIPE, check=True).stdout, len(part)))
    out = b"".join(c for c, _ in frames)
    if seek_table:
        body = b"".join(struct.pack("<II", len(c), n) for c, n in frames)
        body += struct.pack("<IBI", len(frames), 0, 0x8F92EAB1)
        out += struct.pack("<II", 0x184D2A5E, len(body)) + body
    return out


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def tar_bytes(fmt, entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                t.addfile(info)
            elif kind == "sym":
                info.type = tarfile.SYMTYPE
                info.linkname = data
                t.addfile(info)
            elif kind == "hard":
                info.type = tarfile.LNKTYPE
                info.linkname = data
                t.addfile(info)
            else:
                info.size = len(data)
                info.mode = 0o644
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def main():
    c42 = members("criu-counter.tar")
    c41 = members("criu41-counter.tar")
    ckpt = members("criu-ckpt-test.tar")
    pod = members("podman-counter.none.tar", "checkpoint/")

    # framing: one real image of each framing kind
    for name in ["inventory.img", "pstree.img", "stats-dump", "fdinfo-2.img",
                 "seccomp.img", "timens-0.img"]:
        put("framing", "criu42-" + name, c42[name])
    core = sorted(n for n in c42 if n.startswith("core-"))[0]
    put("framing", "criu42-core.img", c42[core])
    put("framing", "ckpt-test-files.img", ckpt["files.img"])
    put("framing", "ckpt-test-memfd.img", ckpt["memfd.img"])

    # pagemap: both page-count encodings, shared memory, a container
    for src, tag in ((c42, "criu42"), (c41, "criu41"), (ckpt, "ckpt-test"),
                     (pod, "podman")):
        for name in sorted(n for n in src if n.startswith("pagemap-")):
            put("pagemap", tag + "-" + name, src[name])

    # decoders: selector byte + image
    picks = {
        "inventory": c42["inventory.img"],
        "pstree": ckpt["pstree.img"],
        "core": ckpt[sorted(n for n in ckpt if n.startswith("core-"))[0]],
        "ids": c42[sorted(n for n in c42 if n.startswith("ids-"))[0]],
        "mm": c42[sorted(n for n in c42 if n.startswith("mm-"))[0]],
        "fdinfo": ckpt["fdinfo-2.img"],
        "files": ckpt["files.img"],
        "fs": ckpt[sorted(n for n in ckpt if n.startswith("fs-"))[0]],
        "remaps": ckpt["remap-fpath.img"],
        "memfds": ckpt["memfd.img"],
        "stats": c42["stats-dump"],
    }
    for i, kind in enumerate(DECODERS):
        put("decoders", "%02d-%s" % (i, kind), bytes([i]) + picks[kind])

    # archive_index: small tars in each dialect, one compressed
    small = [("pstree.img", c42["pstree.img"]), ("inventory.img", c42["inventory.img"])]
    long_name = "checkpoint/" + "d" * 90 + "/" + "f" * 60 + ".img"
    entries = [
        ("./", "dir", None),
        ("./checkpoint/", "dir", None),
        ("./checkpoint/pstree.img", "file", c42["pstree.img"]),
        ("./checkpoint/fdinfo-2.img", "file", c42["fdinfo-2.img"]),
        ("link", "sym", "checkpoint/pstree.img"),
        ("hard", "hard", "./checkpoint/pstree.img"),
        (long_name, "file", c42["inventory.img"]),
        ("./checkpoint/pstree.img", "file", b"duplicate, later wins"),
    ]
    put("archive_index", "ustar-plain.tar",
        tar_bytes(tarfile.USTAR_FORMAT, [(n, "file", d) for n, d in small]))
    put("archive_index", "gnu-mixed.tar", tar_bytes(tarfile.GNU_FORMAT, entries))
    put("archive_index", "pax-mixed.tar", tar_bytes(tarfile.PAX_FORMAT, entries))
    put("archive_index", "gnu-mixed.tar.gz",
        gzip.compress(tar_bytes(tarfile.GNU_FORMAT, entries), mtime=0))
    put("archive_index", "truncated.tar",
        tar_bytes(tarfile.GNU_FORMAT, entries)[:1536 + 100])
    # multi-frame zstd, read by frame (zseek.c): frame headers, a seek table
    if shutil.which("zstd"):
        pax = tar_bytes(tarfile.PAX_FORMAT, entries)
        put("archive_index", "pax-mixed.frames.tar.zst", zstd_frames(pax, 2048))
        put("archive_index", "pax-mixed.seekable.tar.zst",
            zstd_frames(pax, 3000, seek_table=True))
        # one frame with raw blocks (incompressible bytes), read in place
        noise = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(9600))
        raw = tar_bytes(tarfile.PAX_FORMAT, [(n, "file", d) for n, d in small] +
                        [("noise.bin", "file", noise)])
        put("archive_index", "raw-blocks.tar.zst", subprocess.run(
            ["zstd", "-q", "-c", "-3"], input=raw, stdout=subprocess.PIPE,
            check=True).stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
