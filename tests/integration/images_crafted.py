#!/usr/bin/env python3
"""images/*.json for crafted images: the renderings real dumps rarely hold.

usage: images_crafted.py CKFS_BINARY BASE_TAR GOLDEN_DIR
       images_crafted.py --write-golden BASE_TAR GOLDEN_DIR

BASE_TAR is a plain `criu dump` archive (criu-counter.tar). Its images are
copied into a private directory together with images written here, byte by
byte: unix socket names in every quoted-printable corner, IPv4/IPv6
addresses (compressed, mixed IPv4-mapped), crit's socket dictionaries with
unknown values, non-ASCII and control characters in strings, negative and
flag-residue numbers, dev numbers in both encodings, chunked and whole
ghost files, pipe and socket queue payloads (one cut short), and images crit
fails on (a record running past the end, garbage). The directory is mounted
and every crafted image's images/<name>.json is compared with GOLDEN_DIR,
which holds what real `crit decode --pretty` (CRIU 4.2.1, Debian 13) printed
for the same bytes (`<name>.json`, or `<name>.json.err` when crit failed,
in which case reading our file must fail with EIO). The crafted images are
deterministic; --write-golden regenerates GOLDEN_DIR with crit (found as in
images_check.py: $CKFS_CRIT, or chroot $FX_ROOT). When crit can be run, the
test also compares with it live.

Output: `ok`/`not ok` lines, then `N passed, N failed`. Exit 0, 1, 77 (no
FUSE), 2 usage error.
"""

import errno
import ipaddress
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import images_check  # noqa: E402
import lib_mount  # noqa: E402
import lib_pb  # noqa: E402

IMG_COMMON = 0x54564319
MAGIC = {
    "UNIXSK": 0x54373943, "INETSK": 0x56443851, "UTSNS": 0x54473203,
    "GHOST_FILE": 0x52583605, "TCP_STREAM": 0x51465506,
    "PIPES_DATA": 0x56453709, "SK_QUEUES": 0x56264026, "VMAS": 0x54123737,
    "FS": 0x51403912, "CORE": 0x55053847,
}


# ---- a minimal protobuf writer (lib_pb) ----

varint = lib_pb.enc_varint


def u(n, v):
    return varint(n << 3) + varint(v)


def s64(n, v):
    return u(n, (v << 1) ^ (v >> 63))


def ld(n, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(n << 3 | 2) + varint(len(b)) + b


def image(magic, records):
    """records: [(payload bytes, extra bytes)]"""
    out = struct.pack("<II", IMG_COMMON, MAGIC[magic])
    for rec, extra in records:
        out += struct.pack("<I", len(rec)) + rec + extra
    return out


FOWN = b"".join(u(i, 0) for i in range(1, 6))
SK_OPTS = b"".join(u(i, v) for i, v in
                   ((1, 212992), (2, 212992), (3, 0), (4, 0), (5, 0), (6, 0)))


def words(addr):
    """An address as CRIU stores it: network-order bytes read as host u32."""
    packed = ipaddress.ip_address(addr).packed
    return [struct.unpack("<I", packed[i:i + 4])[0]
            for i in range(0, len(packed), 4)]


def unixsk():
    names = [b"", b"\x00abstract-name", b"/run/a socket ", b"=eq\tand tab\t",
             b"line1\nline2 \n.\n", b"crlf\r\nnext\t\r\n", b"x" * 150,
             bytes(range(256)), b".", b".\x00z", b"tail space ", b"mid\rcr",
             b"y" * 74 + b"=" + b"z" * 10]
    types = (1, 2, 5, 3, 9)
    states = (1, 7, 10, 3, 42)
    recs = []
    for i, name in enumerate(names):
        r = (u(1, i + 1) + u(2, 1000 + i) + u(3, types[i % 5]) +
             u(4, states[i % 5]) + u(5, 2) + u(6, i) + u(7, 0) + u(8, 0) +
             ld(9, FOWN) + ld(10, SK_OPTS) + ld(11, name))
        recs.append((r, b""))
    return image("UNIXSK", recs)


def inetsk():
    cases = [  # family, type, proto, state, src, dst
        (10, 1, 6, 10, "::1", "::"),
        (10, 1, 6, 1, "2001:db8::8:800:200c:417a", "fe80::1:0:0:1"),
        (10, 2, 17, 7, "::ffff:10.1.2.3", "1:0:0:2:0:0:3:4"),
        (10, 3, 136, 55, "1:2:3:4:5:6:7:8", "0:0:1::"),
        (2, 1, 6, 1, "192.168.1.254", "0.0.0.0"),
        (2, 5, 99, 2, "255.255.255.255", None),
        (7, 10, 0, 0, None, None),
    ]
    recs = []
    for i, (fam, typ, proto, st, src, dst) in enumerate(cases):
        r = (u(1, i + 1) + u(2, 2000 + i) + u(3, fam) + u(4, typ) +
             u(5, proto) + u(6, st) + u(7, 80 + i) + u(8, 0) + u(9, 0x802) +
             u(10, i))
        for field, addr in ((11, src), (12, dst)):
            for w in words(addr) if addr else []:
                r += u(field, w)
        if i == 6:  # five words: crit prints the first four as IPv6
            r += b"".join(u(11, w) for w in words("::2") + [7])
        r += ld(13, FOWN) + ld(14, SK_OPTS)
        recs.append((r, b""))
    return image("INETSK", recs)


def utsns():
    pairs = [("h\u00e9llo w\u00f6rld", "(none)"),
             ("\U0001f600 emoji", 'tab\tquote"back\\slash'),
             ("ctrl\x01\x1f\x7f", "/slash/\u2028"),
             ("", "\u65e5\u672c\u8a9e")]
    return image("UTSNS", [(ld(1, a) + ld(2, b), b"") for a, b in pairs])


def old_dev(major, minor):
    """glibc's makedev(), truncated to the 32 bits CRIU stores."""
    return ((minor & 0xff) | ((major & 0xfff) << 8) |
            ((minor & ~0xff) << 12)) & 0xffffffff


def ghost(chunks):
    head = (u(1, 1000) + u(2, 1000) + u(3, 0o100600) +
            u(4, (259 << 20) | 5) + u(5, 123456) + u(6, old_dev(136, 300)) +
            ld(7, u(1, 1700000000) + u(2, 1)) + ld(8, u(1, 2) + u(2, 999999)))
    if not chunks:
        data = bytes((i * 7) & 0xff for i in range(200))
        return image("GHOST_FILE", [(head + u(10, 200), data)])
    recs = [(head + u(9, 1) + u(10, 4166), b"")]
    recs.append((u(1, 5) + u(2, 0), b"hello"))
    recs.append((u(1, 70) + u(2, 4096), bytes(range(70))))
    return image("GHOST_FILE", recs)


def tcp_stream():
    r = (u(1, 10) + u(2, 1) + u(3, 60) + u(4, 2) + u(5, 0x7) + u(6, 7) +
         u(7, 1460) + u(10, 1) + u(11, 0))
    return image("TCP_STREAM", [(r, b"0123456789" + bytes(range(60)))])


def pipes_data():
    return image("PIPES_DATA", [
        (u(1, 1) + u(2, 3) + u(3, 4096), b"abc"),
        (u(1, 2) + u(2, 100), b"cut short"),
    ])


def sk_queues():
    return image("SK_QUEUES", [(u(1, 7) + u(2, 5), b"hello"),
                               (u(1, 8) + u(2, 0), b"")])


def vmas():
    a = (u(1, 0x400000) + u(2, 0x401000) + u(3, 0) + u(4, 0) + u(5, 7) +
         u(6, 0x1022) + u(7, 0) + s64(8, -1) + u(9, 0x10000) + u(10, 0))
    b = (u(1, 0x7ffff7dd0000) + u(2, 0xffffffffff601000) + u(3, 1 << 40) +
         u(4, 3) + u(5, 0) + u(6, 0x108) + u(7, 1 | 1 << 9 | 1 << 16) +
         s64(8, -(1 << 63)) + u(10, 0o2000002))
    return image("VMAS", [(a, b""), (b, b"")])


def bad_images():
    fs = struct.pack("<II", IMG_COMMON, MAGIC["FS"])
    fs += struct.pack("<I", 50) + u(1, 5) + u(2, 6)  # record past the end
    core = struct.pack("<II", IMG_COMMON, MAGIC["CORE"])
    core += struct.pack("<I", 6) + b"\xff\xff\xff\xff\xff\xff"
    return {"fs-crafted-truncated.img": fs, "core-crafted-garbage.img": core}


def crafted():
    imgs = {
        "unixsk-crafted.img": unixsk(),
        "inetsk-crafted.img": inetsk(),
        "utsns-crafted.img": utsns(),
        "ghost-file-90.img": ghost(True),
        "ghost-file-91.img": ghost(False),
        "tcp-stream-crafted.img": tcp_stream(),
        "pipes-data-crafted.img": pipes_data(),
        "sk-queues-crafted.img": sk_queues(),
        "vmas-crafted.img": vmas(),
    }
    imgs.update(bad_images())
    return imgs


def make_dir(base_tar, dest):
    with tarfile.open(base_tar) as tar:
        for m in tar.getmembers():
            if m.isfile() and "/" not in m.name.strip("./"):
                with open(os.path.join(dest, os.path.basename(m.name)),
                          "wb") as out:
                    shutil.copyfileobj(tar.extractfile(m), out)
    for name, data in crafted().items():
        with open(os.path.join(dest, name), "wb") as f:
            f.write(data)


def run_crit(argv, root, path):
    inside = "/" + os.path.relpath(path, root) if root else path
    return subprocess.run([*argv, "decode", "--pretty", "-i", inside],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)


def write_golden(golden):
    argv, root = images_check.find_crit()
    if argv is None:
        print("cannot write goldens: %s" % root, file=sys.stderr)
        return 1
    os.makedirs(golden, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="ckfs-crafted-",
                           dir=os.path.join(root, "tmp") if root else None)
    try:
        for name, data in sorted(crafted().items()):
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(data)
            r = run_crit(argv, root, path)
            for old in (name + ".json", name + ".json.err"):
                if os.path.exists(os.path.join(golden, old)):
                    os.unlink(os.path.join(golden, old))
            if r.returncode == 0:
                out, body = name + ".json", r.stdout
            else:
                out, body = name + ".json.err", r.stderr
            with open(os.path.join(golden, out), "wb") as f:
                f.write(body)
            print("%s: %s" % (name, out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def check(rep, got, name, golden):
    ref = os.path.join(golden, name + ".json")
    if os.path.exists(ref + ".err"):
        err = got.get(name + ".json")
        rep.check(isinstance(err, OSError) and err.errno == errno.EIO,
                  "images/%s.json fails with EIO (crit fails on it)" % name,
                  "read gave %r" % (err if isinstance(err, OSError) else
                                    "%d bytes" % len(err or b"")))
        return
    with open(ref, "rb") as f:
        want = f.read()
    data = got.get(name + ".json")
    if isinstance(data, OSError):
        rep.check(False, "images/%s.json reads" % name, str(data))
        return
    ok = {k: v for k, v in got.items() if isinstance(v, bytes)}
    images_check.compare(rep, ok, name + ".json", want, "crit 4.2.1", True)


def main(argv):
    if len(argv) == 4 and argv[1] == "--write-golden":
        return write_golden(argv[3])
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    ckfs, base_tar, golden = argv[1:]
    why = lib_mount.fuse_unavailable()
    if why:
        print("# SKIP: %s" % why)
        return lib_mount.SKIP_CODE

    rep = images_check.Report()
    names = sorted(crafted())
    src = tempfile.mkdtemp(prefix="ckfs-crafted-src-")
    mount = None
    got = {}
    try:
        make_dir(base_tar, src)
        with lib_mount.watchdog(images_check.OVERALL_TIMEOUT) as fired:
            try:
                with lib_mount.mounted(ckfs, src,
                                       images_check.MOUNT_TIMEOUT) as mnt:
                    mount = mnt
                    listed = set(os.listdir(os.path.join(mnt, "images")))
                    for name in names:
                        path = os.path.join(mnt, "images", name + ".json")
                        if name + ".json" not in listed:
                            got[name + ".json"] = None
                            continue
                        try:
                            with open(path, "rb") as f:
                                got[name + ".json"] = f.read()
                        except OSError as e:
                            got[name + ".json"] = e
            except lib_mount.MountFailed as e:
                rep.check(False, "mount", "%s\n%s" % (e, e.stderr))
            except KeyboardInterrupt:
                if not fired.is_set():
                    raise
                rep.check(False, "finished in time")
        for name in names:
            if got.get(name + ".json") is None:
                rep.check(False, "images/%s.json is listed" % name)
            else:
                check(rep, got, name, golden)
        argv_crit, root = images_check.find_crit()
        if argv_crit is None:
            rep.note("SKIP the live crit comparison: %s" % root)
        else:
            live = tempfile.mkdtemp(
                prefix="ckfs-crafted-",
                dir=os.path.join(root, "tmp") if root else None)
            try:
                for name in names:
                    path = os.path.join(live, name)
                    shutil.copyfile(os.path.join(src, name), path)
                    r = run_crit(argv_crit, root, path)
                    data = got.get(name + ".json")
                    if r.returncode != 0:
                        rep.check(isinstance(data, OSError),
                                  "images/%s.json fails (live crit fails)"
                                  % name)
                    elif isinstance(data, bytes):
                        images_check.compare(rep, {name + ".json": data},
                                             name + ".json", r.stdout,
                                             "live crit", False)
            finally:
                shutil.rmtree(live, ignore_errors=True)
    finally:
        shutil.rmtree(src, ignore_errors=True)
    if mount is not None:
        problems = mount.daemon_problems()
        rep.check(not problems, "daemon exited cleanly", "; ".join(problems))
    print("%d passed, %d failed" % (rep.passed, rep.failed))
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
