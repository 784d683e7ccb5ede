#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The daemon's life: signals, daemonizing, the command line, mount options.

usage: lifecycle.py CKFS_BINARY MAIN_C VERSION ARCHIVE

  - SIGTERM and SIGINT to a foreground daemon: the mount goes away and the
    daemon exits 0.
  - Without -f the command returns 0 once mounted, the daemon serves the
    tree, and `fusermount3 -u` ends it.
  - --help exits 0 and names every option main.c accepts (read from its
    fuse_opt table, so a new option without help fails here), plus the
    libfuse ones the usage promises (-f, -d, -s, -o); -V prints VERSION.
  - A missing archive or mountpoint: non-zero exit, one line, no mount.
  - The default mount is read-only and without allow_other (/proc/mounts),
    and, when run as root, another user cannot even list it; -o
    allow_other is accepted and shows in /proc/mounts.

Exit status: 0 passed, 1 failed, 77 FUSE not usable here.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib_mount  # noqa: E402
import lib_tree  # noqa: E402

TIMEOUT = 10 * lib_mount.timeout_multiplier()


def run(*argv, timeout=TIMEOUT):
    return subprocess.run(list(argv), stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=timeout)


def mount_options(path):
    """The options field of @path's line in /proc/mounts, or None."""
    path = os.path.realpath(path)
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 4 and lib_mount._unescape_mountinfo(fields[1]) == path:
                return fields[3].split(",")
    return None


def check_signal(report, ckfs, archive, sig):
    name = signal.Signals(sig).name
    m = lib_mount.Mount(ckfs, archive)
    try:
        if not report.check(m.start(TIMEOUT), "%s: the daemon mounts" % name,
                            m.stderr):
            return
        os.listdir(os.path.join(m.path, "proc"))
        os.kill(m.proc.pid, sig)
        try:
            rc = m.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            rc = None
        report.check(rc == 0, "%s: the daemon exits 0" % name, "status %r" % rc)
        report.check(not lib_mount.is_mountpoint(m.path),
                     "%s: the mount is gone" % name)
    finally:
        m.stop()
    report.check(not m.sanitizer_lines(), "%s: no sanitizer report" % name,
                 "; ".join(m.sanitizer_lines()[:3]))


def find_daemon(mnt):
    """Pids whose command line names @mnt (the daemonized checkpointfs)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if os.fsencode(mnt) in args:
            out.append(int(d))
    return out


def check_daemonized(report, ckfs, archive, work):
    mnt = os.path.join(work, "daemon-mnt")
    os.mkdir(mnt)
    try:
        r = run(ckfs, archive, mnt)
        report.check(r.returncode == 0, "no -f: the command returns 0",
                     "status %d: %s" % (r.returncode, r.stderr.decode()))
        report.check(lib_mount.is_mountpoint(mnt), "no -f: mounted")
        pids = find_daemon(mnt)
        report.check(len(pids) == 1, "no -f: one daemon left running",
                     repr(pids))
        try:
            names = os.listdir(os.path.join(mnt, "proc"))
        except OSError as e:
            names = e
        report.check(isinstance(names, list) and names,
                     "no -f: the daemon serves proc/", repr(names))
        r = run("fusermount3", "-u", mnt)
        report.check(r.returncode == 0, "fusermount3 -u unmounts",
                     r.stderr.decode())
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and any(
                os.path.exists("/proc/%d" % p) and
                not _is_zombie(p) for p in pids):
            time.sleep(0.05)
        report.check(not [p for p in pids if os.path.exists("/proc/%d" % p)
                          and not _is_zombie(p)],
                     "the daemon ends after the unmount")
        report.check(not lib_mount.is_mountpoint(mnt), "the mount is gone")
    finally:
        if lib_mount.is_mountpoint(mnt):
            run("fusermount3", "-uz", mnt)


def _is_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def accepted_options(main_c):
    """Every option main.c's fuse_opt table accepts, as shown to users."""
    with open(main_c) as f:
        src = f.read()
    table = re.search(r"struct fuse_opt \w+\[\] = \{(.*?)FUSE_OPT_END", src,
                      re.S)
    opts = []
    for m in re.finditer(r'(?:FUSE_OPT_KEY\(|\{\s*)"([^"]+)"',
                         table.group(1) if table else ""):
        opt = m.group(1)
        # "cache_dir=%s" is documented as "cache_dir=..."; "-o" style names
        # are shown as they are
        opts.append(re.sub(r"=%.*$", "=", opt))
    # handled by fuse_parse_cmdline() and promised by the usage text
    return opts + ["-f", "-d", "-s", "-o"]


def check_cli(report, ckfs, main_c, version, archive, work):
    r = run(ckfs, "--help")
    out = r.stdout.decode()
    report.check(r.returncode == 0, "--help exits 0", "status %d" % r.returncode)
    opts = accepted_options(main_c)
    report.check(len(opts) > 6, "main.c's option table read (%d options)"
                 % len(opts), repr(opts))
    for opt in opts:
        pat = r"(?<![\w-])" + re.escape(opt) + (r"(?![\w-])" if not opt.endswith("=") else "")
        report.check(re.search(pat, out) is not None,
                     "--help mentions %s" % opt)
    report.check("allow_other" in out, "--help mentions allow_other")
    r2 = run(ckfs, "-h")
    report.check(r2.returncode == 0 and r2.stdout == r.stdout,
                 "-h is --help")

    for flag in ("-V", "--version"):
        r = run(ckfs, flag)
        out = r.stdout.decode()
        report.check(r.returncode == 0 and
                     out.startswith("checkpointfs %s" % version),
                     "%s prints the version %s" % (flag, version), repr(out))

    mnt = os.path.join(work, "cli-mnt")
    os.mkdir(mnt)
    missing = os.path.join(work, "no-such-archive.tar")
    r = run(ckfs, "-f", missing, mnt)
    err = r.stderr.decode().strip().splitlines()
    report.check(r.returncode != 0, "a missing archive: non-zero exit")
    report.check(len(err) == 1 and missing in err[0],
                 "  one line naming it", repr(err))
    report.check(not lib_mount.is_mountpoint(mnt), "  nothing mounted")
    nomnt = os.path.join(work, "no-such-mountpoint")
    r = run(ckfs, "-f", archive, nomnt)
    err = r.stderr.decode().strip().splitlines()
    report.check(r.returncode != 0, "a missing mountpoint: non-zero exit")
    report.check(len(err) == 1 and nomnt in err[0],
                 "  one line naming it", repr(err))
    r = run(ckfs, "-f", archive)
    err = r.stderr.decode().strip().splitlines()
    report.check(r.returncode != 0 and err and "MOUNTPOINT" in err[0],
                 "no mountpoint argument: non-zero, says so first",
                 repr(err[:2]))
    r = run(ckfs)
    report.check(r.returncode != 0, "no arguments: non-zero exit")
    r = run(ckfs, "-f", "--no-such-option", archive, mnt)
    report.check(r.returncode != 0 and not lib_mount.is_mountpoint(mnt),
                 "an unknown option: non-zero exit, nothing mounted")


def list_as(uid, path):
    """`ls @path` run as @uid: 'ok', 'EACCES', or what went wrong."""
    def demote():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    # the private temporary directory above the mount must be traversable
    os.chmod(os.path.dirname(path), 0o711)
    r = subprocess.run(["ls", "-a", path], capture_output=True,
                       preexec_fn=demote, timeout=TIMEOUT)
    if r.returncode == 0:
        return "ok"
    if b"Permission denied" in r.stderr:
        return "EACCES"
    return r.stderr.decode().strip()


def check_access(report, ckfs, archive):
    with lib_mount.mounted(ckfs, archive) as m:
        opts = mount_options(m.path) or []
        report.check("ro" in opts, "default mount: ro in /proc/mounts",
                     ",".join(opts))
        report.check("allow_other" not in opts,
                     "default mount: no allow_other", ",".join(opts))
        if os.geteuid() == 0:
            got = list_as(65534, str(m.path))
            report.check(got == "EACCES",
                         "default mount: another user cannot list it",
                         got)
        else:
            report.skip("default mount: another user cannot list it",
                        "needs root to switch users")
    try:
        with lib_mount.mounted(ckfs, archive,
                               extra_args=["-o", "allow_other"]) as m:
            opts = mount_options(m.path) or []
            report.check("allow_other" in opts and "ro" in opts,
                         "-o allow_other: accepted, ro, shown in /proc/mounts",
                         ",".join(opts))
            if os.geteuid() == 0:
                got = list_as(65534, str(m.path))
                report.check(got == "ok",
                             "-o allow_other: another user lists the root",
                             got)
    except lib_mount.MountFailed as e:
        if "user_allow_other" in e.stderr:
            report.skip("-o allow_other", "user_allow_other is not set "
                        "in /etc/fuse.conf")
        else:
            report.check(False, "-o allow_other mounts", e.stderr.strip())


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    ckfs, main_c, version, archive = sys.argv[1:]
    report = lib_tree.Report()
    work = tempfile.mkdtemp(prefix="ckfs-life-")
    try:
        check_cli(report, ckfs, main_c, version, archive, work)
        why = lib_mount.fuse_unavailable()
        if why:
            print("SKIP the mounts: %s" % why)
            return lib_mount.SKIP_CODE if not report.failed else 1
        with lib_mount.watchdog(120):
            check_signal(report, ckfs, archive, signal.SIGTERM)
            check_signal(report, ckfs, archive, signal.SIGINT)
            check_daemonized(report, ckfs, archive, work)
            check_access(report, ckfs, archive)
    except KeyboardInterrupt:
        report.check(False, "finished in time", "the watchdog fired")
    finally:
        for d in ("daemon-mnt", "cli-mnt"):
            p = os.path.join(work, d)
            if lib_mount.is_mountpoint(p):
                run("fusermount3", "-uz", p)
        shutil.rmtree(work, ignore_errors=True)
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
