#!/usr/bin/env python3
"""OCI image layout tars through a real mount (TAP output).

usage: oci_check.py CHECKPOINTFS PODMAN_NONE_TAR [CONTAINERD_OCI_TAR]

Builds, at test time, OCI image layouts (oci-layout, index.json, a
manifest, a config and layer blobs named by their real sha256) around the
real members of the plain Podman fixture, as `podman save --format
oci-archive` of a `--create-image` checkpoint image would hold them:
  1. one uncompressed layer tar;
  2. one gzip layer, with an unrelated (non-checkpoint) layer before it
     and a nested image index in between;
and checks that each mounts to the same proc/ tree, byte for byte, and the
same archive/ member list as the plain fixture; then that a layout with no
checkpoint layer is refused with one line saying so.  A gzip layer whose
pages-1.img holds 96 MiB more (lib_bigtar) mounts to the same tree as
that plain tar, decoded into the private cache: the daemon's peak RSS is
no more than 32 MiB above the plain tar's after the same reads.

With the real containerd fixture (ctr checkpoint + ctr images export; its
truth is checked by the truth-containerd-oci test): its CRIU images blob
is mounted with the rw layer blob beside it as rootfs-diff.tar, whose
files show under rootfs-diff/.

The layouts compressed as a whole (gzip; zstd, which also holds the gzip
layer inside: a layer cache beside the stream's cache) mount to the same
trees as uncompressed.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib_bigtar  # noqa: E402
import lib_tap  # noqa: E402
from lib_tap import ok  # noqa: E402
import lib_tree  # noqa: E402
from lib_mount import SKIP_CODE, fuse_unavailable, mounted, try_mount, watchdog  # noqa: E402

def add(tf, name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    tf.addfile(ti, io.BytesIO(data))


def desc(media, data):
    return {"mediaType": media,
            "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
            "size": len(data)}


def layout(path, layers, nested_index=False):
    """Write an OCI layout tar; layers: [(media type, blob bytes)]."""
    blobs = {}
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    blobs[hashlib.sha256(config).hexdigest()] = config
    ldescs = []
    for media, data in layers:
        blobs[hashlib.sha256(data).hexdigest()] = data
        ldescs.append(desc(media, data))
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc("application/vnd.oci.image.config.v1+json", config),
        "layers": ldescs}, indent=2).encode()
    blobs[hashlib.sha256(manifest).hexdigest()] = manifest
    top = {"schemaVersion": 2, "manifests": [
        dict(desc("application/vnd.oci.image.manifest.v1+json", manifest),
             annotations={"org.opencontainers.image.ref.name": "ckpt"})]}
    if nested_index:
        inner = json.dumps(top).encode()
        blobs[hashlib.sha256(inner).hexdigest()] = inner
        top = {"schemaVersion": 2, "manifests": [
            desc("application/vnd.oci.image.index.v1+json", inner)]}
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        add(tf, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        add(tf, "index.json", json.dumps(top).encode())
        for hexd, data in sorted(blobs.items()):
            add(tf, "blobs/sha256/" + hexd, data)


def snap(mnt):
    s = lib_tree.snapshot(mnt, "proc")
    s.update({b"archive-list": lib_tree.snapshot(mnt, "archive")})
    return s


def main():
    ckfs, plain = sys.argv[1], sys.argv[2]
    why = fuse_unavailable()
    if why:
        print("1..0 # SKIP " + why)
        return SKIP_CODE
    with open(plain, "rb") as f:
        layer = f.read()
    other = io.BytesIO()
    with tarfile.open(fileobj=other, mode="w") as tf:
        add(tf, "etc/hostname", b"not a checkpoint\n")
    tmp = tempfile.mkdtemp(prefix="ckfs-oci-")
    try:
        one = os.path.join(tmp, "one-layer.oci.tar")
        layout(one, [("application/vnd.oci.image.layer.v1.tar", layer)])
        gz = os.path.join(tmp, "gzip-layer.oci.tar")
        layout(gz, [("application/vnd.oci.image.layer.v1.tar", other.getvalue()),
                    ("application/vnd.oci.image.layer.v1.tar+gzip",
                     gzip.compress(layer, mtime=0))], nested_index=True)
        none = os.path.join(tmp, "no-ckpt.oci.tar")
        layout(none, [("application/vnd.oci.image.layer.v1.tar", other.getvalue())])

        with mounted(ckfs, plain) as m:
            want = snap(m)
        ok(len(want) > 20 and b"proc" in want, "the plain fixture mounts",
           " (%d entries)" % len(want))
        for name, path in (("uncompressed layer", one), ("gzip layer", gz)):
            with mounted(ckfs, path) as m:
                got = snap(m)
                top = sorted(os.listdir(m))
            d = lib_tree.diff(want, got)
            ok(not d, "OCI layout, %s: proc/ and archive/ equal the plain "
               "archive's" % name)
            for line in d:
                print("# " + line)
            ok("proc" in top and "archive" in top,
               "OCI layout, %s: top level %s" % (name, top))
        outer = [("gzip", "one layer", one), ("zstd", "a gzip layer", gz)]
        if len(sys.argv) > 3:
            outer.append(("zstd", "containerd", sys.argv[3]))
        for comp, what, src in outer:
            if shutil.which(comp) is None:
                ok(True, "# SKIP %s is missing" % comp)
                continue
            with mounted(ckfs, src) as m:
                base = snap(m)
            dst = os.path.join(tmp, "outer-%s-%s" % (comp, what))
            os.makedirs(dst)
            # the same file name: views name the archive
            dst = os.path.join(dst, os.path.basename(src))
            with open(dst, "wb") as f:
                subprocess.run([comp, "-c", src], stdout=f, check=True)
            with mounted(ckfs, dst) as m:
                got = snap(m)
            d = lib_tree.diff(base, got)
            ok(not d and len(base) > 20,
               "OCI layout (%s) compressed as a whole with %s: the same "
               "proc/ and archive/ as uncompressed" % (what, comp),
               " (%d entries)" % len(base))
            for line in d[:10]:
                print("# " + line)
        big = os.path.join(tmp, "big.tar")
        lib_bigtar.make_tar(plain, big, 96 << 20, where="sorted")
        with open(big, "rb") as f:
            big_gz_bytes = gzip.compress(f.read(), 1, mtime=0)
        big_oci = os.path.join(tmp, "big-gzip-layer.oci.tar")
        layout(big_oci, [("application/vnd.oci.image.layer.v1.tar+gzip",
                          big_gz_bytes)])
        with mounted(ckfs, big) as m:
            want = snap(m)
            hwm_plain = m.peak_rss()
        t0 = time.monotonic()
        with mounted(ckfs, big_oci, tty=True) as m:
            took = time.monotonic() - t0
            got = snap(m)
            hwm_oci = m.peak_rss()
        shown = [l.replace("\x1b[K", "").strip()
                 for l in m.stderr.replace("\r", "\n").split("\n")]
        shown = [l for l in shown if l]
        layer = "layer " + hashlib.sha256(big_gz_bytes).hexdigest()[:12]
        if took < 0.3:  # reports come every 250 ms: too fast to see one
            ok(True, "OCI layout, a gzip layer: progress on a terminal",
               " # SKIP mounted in %.2f s" % took)
        else:
            ok(shown and all(l.startswith("checkpointfs: %s, gzip: " % layer)
                             for l in shown) and
               "decompressed in" in shown[-1],
               "OCI layout, a gzip layer: its decode's progress on a terminal "
               "names the layer", " (%r)" % shown[-2:])
        d = lib_tree.diff(want, got)
        ok(not d and len(want) > 20,
           "OCI layout, a gzip layer of %d MiB: proc/ and archive/ equal the "
           "plain tar's" % (os.path.getsize(big) >> 20))
        for line in d:
            print("# " + line)
        ok(hwm_oci - hwm_plain < 32 << 20,
           "OCI layout, a gzip layer of %d MiB: decoded into the cache, not "
           "memory" % (os.path.getsize(big) >> 20),
           " (daemon peak RSS %d MiB, %d MiB for the plain tar)" %
           (hwm_oci >> 20, hwm_plain >> 20))
        mnt_ok, rc, err = try_mount(ckfs, none)
        lines = [x for x in err.splitlines() if x.strip()]
        ok(not mnt_ok and rc != 0 and len(lines) == 1 and
           "no layer with CRIU images" in lines[0],
           "a layout without a checkpoint layer is refused with one line",
           " (%r)" % err.strip())
        if len(sys.argv) > 3:
            with mounted(ckfs, sys.argv[3]) as m:
                arch = set(os.listdir(os.path.join(m, "archive")))
                top = set(os.listdir(m))
                marker = os.path.isfile(os.path.join(m, "rootfs-diff", "work",
                                                     "markers.json"))
            ok({"pstree.img", "inventory.img", "rootfs-diff.tar"} <= arch and
               not {"index.json", "oci-layout", "blobs"} & arch,
               "containerd OCI image: archive/ is the CRIU blob plus "
               "rootfs-diff.tar", " (%d members)" % len(arch))
            ok({"proc", "rootfs-diff"} <= top and marker,
               "containerd OCI image: the rw layer shows under rootfs-diff/")
    finally:
        for dp, dn, fn in os.walk(tmp, topdown=False):
            for f in fn:
                os.unlink(os.path.join(dp, f))
            os.rmdir(dp)
    return lib_tap.done()


if __name__ == "__main__":
    with watchdog(240):
        sys.exit(main())
