#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Input modes: a directory and a tar of the same checkpoint look the same.

usage: input_modes.py CKFS_BINARY FIXTURES_DIR

Built at test time in a private temporary directory, from the fixtures:
  - a bare CRIU images directory (criu-counter.tar extracted),
  - a tar of that directory made here (GNU format, './' names and root),
  - an extracted container checkpoint (podman-counter.none.tar extracted,
    images under checkpoint/).
Each is mounted next to the fixture tar it came from, and everything under
proc/ (every file's bytes, mem and pagemap by their data ranges, every
symlink target, every listing) and under archive/ (names, types, bytes)
must be identical.

Then a copy of the bare directory gets symlinks that point outside it:
archive/ shows them as symlinks whose readlink fails with EIO, an image
replaced by a symlink to a good copy outside is never loaded through it
(the views built on it fail with EIO, the rest works), and a symlinked
pstree.img refuses the mount with one line.

Exit status: 0 passed, 1 failed, 77 FUSE not usable here.
"""

import errno
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib_mount  # noqa: E402
import lib_tree  # noqa: E402

SUBTREES = ("proc", "archive")


def extract(tar_path, dest):
    os.makedirs(dest)
    with tarfile.open(tar_path) as t:
        try:
            t.extractall(dest, filter="fully_trusted")
        except TypeError:  # Python without extraction filters
            t.extractall(dest)


def tar_of_dir(src, dest):
    """A GNU tar of @src with './' names and a './' root entry."""
    with tarfile.open(dest, "w", format=tarfile.GNU_FORMAT) as t:
        t.add(src, arcname=".", recursive=True)


def snap(mnt):
    out = {}
    for sub in SUBTREES:
        out.update(lib_tree.snapshot(mnt, sub))
    return out


def compare_mounts(report, ckfs, label, a_path, b_path):
    try:
        with lib_mount.mounted(ckfs, a_path) as ma:
            with lib_mount.mounted(ckfs, b_path) as mb:
                sa, sb = snap(ma), snap(mb)
    except lib_mount.MountFailed as e:
        report.check(False, "%s: mounts" % label,
                     "%s; stderr: %s" % (e, e.stderr.strip()))
        return
    report.check(True, "%s: both mount" % label)
    pids = [n for n in sa.get(b"proc", ("", ()))[1]]
    report.check(len(pids) > 0, "%s: proc/ lists the tasks" % label,
                 repr(sa.get(b"proc")))
    errs = [k for k, v in sa.items() if v[0] == "err"]
    report.check(not errs, "%s: every entry of the tar mount reads" % label,
                 ", ".join(os.fsdecode(k) for k in errs[:10]))
    for pid in pids:
        for name in (b"cmdline", b"environ", b"maps", b"status", b"mem"):
            k = os.path.join(b"proc", pid, name)
            report.check(k in sa and sa.get(k) == sb.get(k),
                         "%s: proc/%s/%s identical" % (label, os.fsdecode(pid),
                                                      os.fsdecode(name)),
                         "%r != %r" % (lib_tree._short(sa.get(k)),
                                       lib_tree._short(sb.get(k))))
    for sub in SUBTREES:
        pa = {k: v for k, v in sa.items() if k.split(b"/")[0] == os.fsencode(sub)}
        pb = {k: v for k, v in sb.items() if k.split(b"/")[0] == os.fsencode(sub)}
        d = lib_tree.diff(pa, pb)
        report.check(not d, "%s: all of %s/ identical (%d entries)"
                     % (label, sub, len(pa)), "; ".join(d))


def check_symlinks(report, ckfs, bare, work):
    evil = os.path.join(work, "evil")
    outside = os.path.join(work, "outside")
    shutil.copytree(bare, evil, symlinks=True)
    os.makedirs(outside)
    with open(os.path.join(bare, "pstree.img"), "rb") as f:
        pstree = f.read()
    cores = sorted(n for n in os.listdir(bare) if n.startswith("core-"))
    core = cores[0]
    pid = core[len("core-"):-len(".img")]
    shutil.copy(os.path.join(bare, core), os.path.join(outside, core))
    os.unlink(os.path.join(evil, core))
    os.symlink(os.path.join(outside, core), os.path.join(evil, core))
    os.symlink("/etc/passwd", os.path.join(evil, "evil-passwd"))
    os.symlink("../../../../../../etc/passwd", os.path.join(evil, "evil-rel"))
    os.symlink(outside, os.path.join(evil, "evil-dir"))
    os.symlink("pstree.img", os.path.join(evil, "inner-link"))

    try:
        with lib_mount.mounted(ckfs, evil) as m:
            arch = os.path.join(m, "archive")
            names = os.listdir(arch)
            for link in ("evil-passwd", "evil-rel", "evil-dir"):
                p = os.path.join(arch, link)
                try:
                    st = os.lstat(p)
                    is_link = (st.st_mode & 0o170000) == 0o120000
                except OSError as e:
                    is_link = e
                report.check(link in names and is_link is True,
                             "archive/%s is listed as a symlink" % link,
                             repr(is_link))
                try:
                    got = os.readlink(p)
                    report.check(False, "readlink archive/%s: EIO" % link,
                                 "it gave %r" % got)
                except OSError as e:
                    report.check(e.errno == errno.EIO,
                                 "readlink archive/%s: EIO" % link,
                                 errno.errorcode.get(e.errno))
                try:
                    with open(p, "rb") as f:
                        data = f.read()
                    report.check(False, "open archive/%s fails" % link,
                                 "read %d bytes" % len(data))
                except OSError:
                    report.check(True, "open archive/%s fails" % link)
            report.check(not os.path.exists(os.path.join(arch, "evil-dir",
                                                         core)),
                         "a symlinked directory is not walked")
            report.check(os.readlink(os.path.join(arch, "inner-link")) ==
                         "pstree.img",
                         "a symlink inside the archive shows its target")
            with open(os.path.join(arch, "inner-link"), "rb") as f:
                report.check(f.read() == pstree,
                             "and resolves inside the mount")
            try:
                os.readlink(os.path.join(arch, core))
                report.check(False, "archive/%s (a symlink out): EIO" % core)
            except OSError as e:
                report.check(e.errno == errno.EIO,
                             "archive/%s (a symlink out): EIO" % core)
            proc = os.path.join(m, "proc", pid)
            try:
                with open(os.path.join(proc, "status"), "rb") as f:
                    f.read()
                report.check(False, "proc/%s/status (needs %s, a symlink "
                             "out) fails" % (pid, core), "it read")
            except OSError as e:
                report.check(e.errno == errno.EIO,
                             "proc/%s/status (needs %s, a symlink out) "
                             "fails with EIO" % (pid, core),
                             errno.errorcode.get(e.errno))
            with open(os.path.join(proc, "cmdline"), "rb") as f:
                report.check(len(f.read()) > 0,
                             "proc/%s/cmdline (mm, pagemap) still reads" % pid)
    except lib_mount.MountFailed as e:
        report.check(False, "a directory with symlinks out mounts",
                     "%s; stderr: %s" % (e, e.stderr.strip()))

    # pstree.img itself a symlink to a good copy: the mount is refused
    shutil.copy(os.path.join(bare, "pstree.img"),
                os.path.join(outside, "pstree.img"))
    os.unlink(os.path.join(evil, "pstree.img"))
    os.symlink(os.path.join(outside, "pstree.img"),
               os.path.join(evil, "pstree.img"))
    mounted, rc, err = lib_mount.try_mount(ckfs, evil)
    lines = err.strip().splitlines()
    report.check(not mounted and rc not in (0, None),
                 "a symlinked pstree.img refuses the mount", "rc %s" % rc)
    report.check(len(lines) == 1 and "pstree.img" in lines[0] and
                 "symlink" in lines[0],
                 "  with one line naming it as a symlink", repr(err))


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    ckfs, fixtures = sys.argv[1], sys.argv[2]
    why = lib_mount.fuse_unavailable()
    if why:
        print("SKIP: %s" % why)
        return lib_mount.SKIP_CODE
    report = lib_tree.Report()
    work = tempfile.mkdtemp(prefix="ckfs-modes-")
    try:
        with lib_mount.watchdog(240):
            bare = os.path.join(work, "bare")
            extract(os.path.join(fixtures, "criu-counter.tar"), bare)
            bare_tar = os.path.join(work, "bare.tar")
            tar_of_dir(bare, bare_tar)
            podman = os.path.join(work, "podman")
            extract(os.path.join(fixtures, "podman-counter.none.tar"), podman)
            report.check(os.path.isdir(os.path.join(podman, "checkpoint")),
                         "the container checkpoint has checkpoint/")

            compare_mounts(report, ckfs, "bare images dir",
                           os.path.join(fixtures, "criu-counter.tar"), bare)
            compare_mounts(report, ckfs, "tar of the bare dir",
                           os.path.join(fixtures, "criu-counter.tar"),
                           bare_tar)
            compare_mounts(report, ckfs, "extracted container checkpoint",
                           os.path.join(fixtures, "podman-counter.none.tar"),
                           podman)
            check_symlinks(report, ckfs, bare, work)
    except KeyboardInterrupt:
        report.check(False, "finished in time", "the watchdog fired")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
