#!/usr/bin/env python3
"""Mount a real checkpoint and compare images/*.json with crit's JSON.

usage: images_check.py CKFS_BINARY ARCHIVE [CRIT_DECODE_DIR]

images/<image>.json must be what `crit decode --pretty -i <image>` prints.
Checks, each printed as `ok - WHAT` or `not ok - WHAT: DETAIL`:

* every images/*.json parses, is {"magic": str, "entries": list} and its
  st_size is the number of bytes it reads;
* no image of the archive that crit refuses is listed (raw images such as
  pages-*.img, and members that are not CRIU images at all);
* with CRIT_DECODE_DIR (crit's saved output, `<image>.json`, and
  `<image>.json.err` for an image crit refused): every image crit decoded
  is listed, equal as parsed JSON, and byte for byte; none it refused is
  listed; a listed file without a reference is allowed only for an image
  that lives outside the CRIU image directory (Podman's stats-dump);
* when crit can be run, the same comparison (parsed JSON) against crit run
  now on every member of the image directory.  crit is looked for as
  $CKFS_CRIT (a command line, e.g. "crit"), else in the Debian 13 tree
  $FX_ROOT (default /tmp/fx-root; see the shared make-fixtures.sh), run as
  `chroot $FX_ROOT crit`.  Without either this part is skipped, and says so.

The last line is `N passed, N failed`. Exit status: 0 all passed, 1 something
failed, 77 FUSE is not usable here (skip), 2 usage error.

Environment: CKFS_WRAPPER and CKFS_TIMEOUT_MULTIPLIER (see lib_mount.py),
CKFS_CRIT, FX_ROOT, IMAGES_CHECK_TIMEOUT (seconds for the whole run, default
150).
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib_mount  # noqa: E402

MOUNT_TIMEOUT = 10.0
CRIT_TIMEOUT = 60.0
CRIT_JOBS = 4
OVERALL_TIMEOUT = float(os.environ.get("IMAGES_CHECK_TIMEOUT", "150"))
IMAGE_DIRS = ("checkpoint/", "")
SUFFIX = ".json"


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print("ok - %s" % what, flush=True)
        else:
            self.failed += 1
            print("not ok - %s%s" % (what, ": " + detail if detail else ""),
                  flush=True)
        return ok

    def note(self, text):
        print("# " + text, flush=True)


def first_difference(a, b, path="$"):
    """Where two parsed JSON values first differ, as a short string."""
    if type(a) is not type(b):
        return "%s: %r vs %r" % (path, a, b)
    if isinstance(a, dict):
        if list(a) != list(b):
            return "%s: keys %s vs %s" % (path, list(a), list(b))
        for k in a:
            d = first_difference(a[k], b[k], "%s.%s" % (path, k))
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return "%s: %d vs %d items" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    return None if a == b else "%s: %r vs %r" % (path, a, b)


def image_dir(names):
    """The CRIU image directory of the archive, as checkpointfs finds it."""
    for d in IMAGE_DIRS:
        if d + "pstree.img" in names or d + "inventory.img" in names:
            return d
    return None


def archive_images(archive):
    """{json name: member name} of every candidate image of the archive."""
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
    names = {m.name[2:] if m.name.startswith("./") else m.name
             for m in members}
    d = image_dir(names)
    out = {}
    if d is None:
        return None, out
    for n in sorted(names):
        if n.startswith(d) and "/" not in n[len(d):]:
            out[n[len(d):] + SUFFIX] = n
    if d and "stats-dump" in names and "stats-dump" + SUFFIX not in out:
        out["stats-dump" + SUFFIX] = "stats-dump"
    return d, out


def read_mounted(rep, mnt):
    """{name: bytes} of images/*.json, with the generic checks."""
    top = os.path.join(mnt, "images")
    got = {}
    if not rep.check(os.path.isdir(top), "images/ exists"):
        return got
    for name in sorted(os.listdir(top)):
        path = os.path.join(top, name)
        try:
            size = os.stat(path).st_size
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            rep.check(False, "images/%s reads" % name, str(e))
            continue
        got[name] = data
        rep.check(size == len(data), "images/%s: st_size is exact" % name,
                  "stat says %d, read %d" % (size, len(data)))
        try:
            doc = json.loads(data)
        except ValueError as e:
            rep.check(False, "images/%s parses" % name, str(e))
            continue
        rep.check(isinstance(doc, dict) and list(doc) == ["magic", "entries"]
                  and isinstance(doc["magic"], str)
                  and isinstance(doc["entries"], list),
                  "images/%s is {magic, entries}" % name,
                  "keys %s" % (list(doc) if isinstance(doc, dict) else doc))
    return got


def compare(rep, got, name, ref_bytes, source, exact_bytes):
    data = got.get(name)
    if not rep.check(data is not None, "images/%s is listed (%s decodes it)"
                     % (name, source)):
        return
    try:
        want = json.loads(ref_bytes)
        have = json.loads(data)
    except ValueError as e:
        rep.check(False, "images/%s equals %s's JSON" % (name, source),
                  str(e))
        return
    rep.check(have == want, "images/%s equals %s's JSON" % (name, source),
              first_difference(have, want) or "")
    if exact_bytes:
        rep.check(data == ref_bytes,
                  "images/%s is byte-identical to %s's output" % (name, source),
                  "%d vs %d bytes" % (len(data), len(ref_bytes)))


def check_reference(rep, got, refdir, candidates):
    decoded = {}
    refused = set()
    for f in sorted(os.listdir(refdir)):
        if f.endswith(SUFFIX + ".err"):
            refused.add(f[:-len(".err")])
        elif f.endswith(SUFFIX):
            with open(os.path.join(refdir, f), "rb") as fh:
                decoded[f] = fh.read()
    decoded = {k: v for k, v in decoded.items() if k not in refused}
    rep.note("reference: %d images crit decoded, %d it refused"
             % (len(decoded), len(refused)))
    for name in sorted(decoded):
        compare(rep, got, name, decoded[name], "the reference crit", True)
    for name in sorted(refused):
        rep.check(name not in got, "images/%s is not listed (crit refused "
                  "it)" % name)
    for name in sorted(set(got) - set(decoded)):
        rep.check(name not in refused and candidates.get(name) == "stats-dump",
                  "images/%s without a reference is the stats-dump beside "
                  "the image directory" % name)


def find_crit():
    """(argv prefix, root for image paths or None) or (None, why)."""
    cmd = os.environ.get("CKFS_CRIT")
    if cmd:
        return shlex.split(cmd), None
    root = os.environ.get("FX_ROOT", "/tmp/fx-root")
    if os.path.exists(os.path.join(root, "usr/bin/crit")):
        if os.geteuid() != 0:
            return None, "crit is in %s but chroot needs root" % root
        return ["chroot", root, "crit"], root
    return None, "no crit: CKFS_CRIT is unset and %s/usr/bin/crit is " \
        "missing" % root


def check_live_crit(rep, got, archive, candidates):
    argv, root = find_crit()
    if argv is None:
        rep.note("SKIP the live crit comparison: %s" % root)
        return
    tmp = tempfile.mkdtemp(prefix="ckfs-crit-",
                           dir=os.path.join(root, "tmp") if root else None)
    try:
        with tarfile.open(archive) as tar:
            for name, member in sorted(candidates.items()):
                src = tar.extractfile(member)
                dest = os.path.join(tmp, name[:-len(SUFFIX)])
                with open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
        rep.note("live crit: %s on %d images" % (" ".join(argv),
                                                 len(candidates)))

        def decode(name):
            path = os.path.join(tmp, name[:-len(SUFFIX)])
            inside = "/" + os.path.relpath(path, root) if root else path
            try:
                return subprocess.run(
                    [*argv, "decode", "--pretty", "-i", inside],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, timeout=CRIT_TIMEOUT)
            except (OSError, subprocess.TimeoutExpired) as e:
                return e

        names = sorted(candidates)
        with ThreadPoolExecutor(CRIT_JOBS) as pool:
            results = list(pool.map(decode, names))
        for name, r in zip(names, results):
            if isinstance(r, Exception):
                rep.check(False, "crit runs on %s" % name, str(r))
                continue
            if r.returncode == 0:
                compare(rep, got, name, r.stdout, "live crit", False)
            else:
                why = (r.stderr.decode(errors="replace").strip()
                       .splitlines() or ["?"])[-1]
                rep.check(name not in got, "images/%s is not listed (crit "
                          "refuses it: %s)" % (name, why))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    ckfs, archive = argv[1], argv[2]
    refdir = argv[3] if len(argv) == 4 else None
    why = lib_mount.fuse_unavailable()
    if why:
        print("# SKIP: %s" % why)
        return lib_mount.SKIP_CODE

    rep = Report()
    d, candidates = archive_images(archive)
    rep.check(d is not None, "the archive has a CRIU image directory")
    mount = None
    with lib_mount.watchdog(OVERALL_TIMEOUT) as fired:
        try:
            with lib_mount.mounted(ckfs, archive, MOUNT_TIMEOUT) as mnt:
                mount = mnt
                got = read_mounted(rep, mnt)
        except lib_mount.MountFailed as e:
            rep.check(False, "mount", "%s\n%s" % (e, e.stderr))
            got = None
        except KeyboardInterrupt:
            if not fired.is_set():
                raise
            rep.check(False, "finished within %g s" % OVERALL_TIMEOUT)
            got = None
    if got is not None:
        rep.note("%d images listed, %d candidate members"
                 % (len(got), len(candidates)))
        for name in sorted(got):
            rep.check(name in candidates, "images/%s names a member of the "
                      "image directory" % name)
        pages = [n for n in candidates if n.startswith("pages-")]
        rep.check(not any(n in got for n in pages),
                  "no pages-*.img is listed (%d in the archive)" % len(pages))
        if refdir:
            check_reference(rep, got, refdir, candidates)
        check_live_crit(rep, got, archive, candidates)
    if mount is not None:
        problems = mount.daemon_problems()
        rep.check(not problems, "daemon exited cleanly", "; ".join(problems))
    print("%d passed, %d failed" % (rep.passed, rep.failed))
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
