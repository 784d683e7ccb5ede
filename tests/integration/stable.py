#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Stable behaviour: two mounts of one archive are the same tree.

usage: stable.py CKFS_BINARY ARCHIVE...

For each archive, two mounts run side by side and the whole tree of each
is walked, skipping nothing: every file is read whole (mem, pagemap and
other files over 64 MiB by their SEEK_DATA/SEEK_HOLE ranges), and its
st_size must equal the bytes read; every symlink is read; every directory
listed.  Then:
  - both mounts give identical bytes, targets and listings;
  - every listing is sorted (bytewise) and has no repeats;
  - inode numbers are unique in a mount, and stable: the same after the
    whole tree was read, and after the kernel dropped its dentry cache
    (when run as root).
Exit status: 0 passed, 1 failed, 77 FUSE not usable here.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib_mount  # noqa: E402
import lib_tree  # noqa: E402


def drop_dentries():
    """Ask the kernel to forget cached dentries and inodes (root only)."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("2\n")
        return True
    except OSError:
        return False


def check_archive(report, ckfs, archive):
    label = os.path.basename(archive)
    try:
        with lib_mount.mounted(ckfs, archive) as ma:
            with lib_mount.mounted(ckfs, archive) as mb:
                first = lib_tree.inodes(ma, [b""])
                sa = lib_tree.snapshot(ma)
                ino1 = lib_tree.inodes(ma, list(sa))
                sb = lib_tree.snapshot(mb)
                ino2 = lib_tree.inodes(ma, list(sa))
                dropped = drop_dentries()
                ino3 = lib_tree.inodes(ma, list(sa))
                inob = lib_tree.inodes(mb, list(sb))
    except lib_mount.MountFailed as e:
        report.check(False, "%s: mounts twice" % label,
                     "%s; stderr: %s" % (e, e.stderr.strip()))
        return
    counts = {}
    for v in sa.values():
        counts[v[0]] = counts.get(v[0], 0) + 1
    report.check(len(sa) > 20, "%s: walked %d entries (%s)" % (
        label, len(sa), ", ".join("%d %s" % (n, k)
                                  for k, n in sorted(counts.items()))))
    errs = sorted(k for k, v in sa.items() if v[0] == "err")
    # a file may legitimately fail with EIO (a unit the checkpoint cannot
    # build); it must fail the same way in both mounts, which the diff
    # below checks; a wrong st_size is never legitimate
    size_errs = [k for k in errs if sa[k][1] == "size"]
    report.check(not size_errs, "%s: every file's st_size is its length"
                 % label, "; ".join("%s: %s" % (os.fsdecode(k), sa[k][2])
                                    for k in size_errs[:5]))
    if errs:
        print("# %s: %d entries fail alike in both mounts: %s" % (
            label, len(errs), ", ".join(os.fsdecode(k) for k in errs[:8])))
    d = lib_tree.diff(sa, sb)
    report.check(not d, "%s: two mounts give identical bytes, targets and "
                 "listings" % label, "; ".join(d))

    unsorted = [k for k, v in sa.items() if v[0] == "dir" and
                list(v[1]) != sorted(set(v[1]))]
    report.check(not unsorted, "%s: every listing sorted, no repeats" % label,
                 ", ".join(os.fsdecode(k) or "." for k in unsorted[:5]))

    bad = [k for k in ino1 if not isinstance(ino1[k], tuple)]
    report.check(not bad, "%s: every entry stats" % label,
                 ", ".join(os.fsdecode(k) for k in bad[:5]))
    seen = {}
    dups = []
    for k, v in ino1.items():
        if isinstance(v, tuple):
            if v[0] in seen:
                dups.append((seen[v[0]], k))
            seen[v[0]] = k
    report.check(not dups, "%s: inode numbers unique in a mount" % label,
                 "; ".join("%s and %s" % (os.fsdecode(a), os.fsdecode(b))
                           for a, b in dups[:5]))
    report.check(first[b""] == ino1[b""], "%s: root inode stable" % label)
    report.check(ino1 == ino2, "%s: inodes stable after reading everything"
                 % label, "; ".join(lib_tree.diff(ino1, ino2)))
    if dropped:
        report.check(ino1 == ino3, "%s: inodes stable after the kernel "
                     "forgot them" % label,
                     "; ".join(lib_tree.diff(ino1, ino3)))
    else:
        report.skip("%s: inodes stable after drop_caches" % label,
                    "cannot write /proc/sys/vm/drop_caches")
    # not required, but worth knowing: numbering follows the walk order
    print("# %s: the second mount numbers inodes %s" % (
        label, "alike" if inob == ino1 else "differently"))


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    ckfs = sys.argv[1]
    why = lib_mount.fuse_unavailable()
    if why:
        print("SKIP: %s" % why)
        return lib_mount.SKIP_CODE
    report = lib_tree.Report()
    try:
        with lib_mount.watchdog(150 * (len(sys.argv) - 2)):
            for archive in sys.argv[2:]:
                check_archive(report, ckfs, archive)
    except KeyboardInterrupt:
        report.check(False, "finished in time", "the watchdog fired")
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
