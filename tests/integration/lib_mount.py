"""Mount and unmount checkpointfs for the integration tests (standard library only).

API
---
SKIP_CODE = 77
    The exit code meson (and automake) count as "skipped".

fuse_unavailable() -> str | None
    Why FUSE cannot be used here (no /dev/fuse, /dev/fuse not usable,
    fusermount3 not on PATH), or None when it can.

with mounted(ckfs, archive, timeout=10.0, extra_args=(), tty=False) as mnt:
    ...                                  # mnt is path-like:
    os.listdir(os.path.join(mnt, "proc"))
mnt.daemon_problems()                    # after the block; [] when clean

    Starts `CKFS -f [EXTRA_ARGS...] ARCHIVE MNT` (extra_args: e.g.
    ["-o", "strict_mem"]) on a mountpoint inside a private temporary
    directory and waits up to `timeout` seconds for the mount. tty=True:
    its stderr is a pseudo-terminal (as a user's is), still recorded. Raises
    MountFailed (attributes: returncode, stderr) if the daemon exits first or
    the mount does not appear in time. Leaving the block ALWAYS unmounts
    (`fusermount3 -u`, falling back to `fusermount3 -uz`), waits for the
    daemon (kills it after 5 s), records its exit status and stderr, and
    removes the temporary directory, even when the block raised.

try_mount(ckfs, archive, timeout=10.0) -> (mounted, returncode, stderr)
    Mount, then unmount at once (same cleanup as above). mounted: whether
    the mount appeared; returncode: the daemon's exit status (negative: the
    signal that ended it); stderr: all the daemon wrote to stderr, as text.

with watchdog(seconds) as fired:
    ...
    After `seconds`, every live Mount is torn down (daemon killed, lazy
    unmount), which makes any read blocked on the mount return, and
    KeyboardInterrupt is raised in the main thread; `fired.is_set()` then
    tells a timeout from a real Ctrl-C. If the main thread is still stuck 15 s
    later, the process exits with status 1.

Mount(ckfs, archive, extra_args=(), tty=False) is the object behind all of these: .start(timeout) ->
bool, .stop(), .path, .mounted, .returncode, .stderr, .killed, and
.peak_rss() (the daemon's VmHWM in bytes, while it runs).

Environment
-----------
CKFS_WRAPPER              command prefix for the daemon, e.g. "valgrind -q
                          --error-exitcode=1" (the house style's vgdaemon setup)
CKFS_TIMEOUT_MULTIPLIER   scales every timeout here (default 1; use ~10 with
                          valgrind)
"""

import _thread
import contextlib
import os
import pty
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

SKIP_CODE = 77

# What sanitizers and valgrind print: "==1234==ERROR: AddressSanitizer",
# "file.c:12:3: runtime error: ...", "==1234== Invalid read of size 4".
SANITIZER_RE = re.compile(r"Sanitizer|runtime error:|==[0-9]+==")

_live_mounts = set()


def timeout_multiplier():
    try:
        return max(1.0, float(os.environ.get("CKFS_TIMEOUT_MULTIPLIER", "1")))
    except ValueError:
        return 1.0


def fuse_unavailable():
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not readable and writable by this user"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is not on PATH"
    return None


def _unescape_mountinfo(field):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def is_mountpoint(path):
    """True if `path` is a mount point, read from /proc/self/mountinfo.

    os.path.ismount() would stat the FUSE root, which blocks for as long as a
    hung daemon does not answer; mountinfo never touches the file system.
    """
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo", encoding="utf-8",
              errors="surrogateescape") as f:
        for line in f:
            fields = line.split(" ")
            if len(fields) > 4 and _unescape_mountinfo(fields[4]) == path:
                return True
    return False


def _fusermount(*args):
    try:
        r = subprocess.run(["fusermount3", *args], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=10 * timeout_multiplier())
    except subprocess.TimeoutExpired:
        return False, "fusermount3 %s timed out" % " ".join(args)
    return r.returncode == 0, r.stdout.decode(errors="replace").strip()


class MountFailed(Exception):
    def __init__(self, message, returncode, stderr):
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


class Mount:
    """One checkpointfs daemon on a private mountpoint; see the module doc."""

    def __init__(self, ckfs, archive, extra_args=(), tty=False):
        self.ckfs = ckfs
        self.tty = tty
        self._pty_reader = None
        self.archive = archive
        self.extra_args = [str(a) for a in extra_args]
        self.tmpdir = None
        self.path = None
        self.proc = None
        self.mounted = False
        self.returncode = None
        self.stderr = ""
        self.killed = False
        self.unmount_notes = []
        self._log = None

    def __fspath__(self):
        return self.path

    def __str__(self):
        return self.path

    def start(self, timeout=10.0):
        """Start the daemon; True once the mount is there, False otherwise."""
        self.tmpdir = os.path.realpath(tempfile.mkdtemp(prefix="ckfs-test-"))
        self.path = os.path.join(self.tmpdir, "mnt")
        os.mkdir(self.path)
        self._log = open(os.path.join(self.tmpdir, "daemon.stderr"), "wb")
        wrapper = shlex.split(os.environ.get("CKFS_WRAPPER", ""))
        _live_mounts.add(self)
        err = self._log
        if self.tty:
            master, err = pty.openpty()
            self._pty_reader = threading.Thread(
                target=_drain, args=(master, self._log), daemon=True)
        self.proc = subprocess.Popen(
            [*wrapper, self.ckfs, "-f", *self.extra_args, self.archive,
             self.path],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=err, start_new_session=True)
        if self.tty:
            os.close(err)  # the daemon holds the terminal now
            self._pty_reader.start()
        deadline = time.monotonic() + timeout * timeout_multiplier()
        while time.monotonic() < deadline:
            if is_mountpoint(self.path):
                self.mounted = True
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def stop(self):
        """Unmount, reap the daemon and remove the temporary directory.

        Safe to call more than once, and after a failed or partial start().
        """
        if self.proc is None:  # never started, or already stopped
            if self._log is not None:
                self._log.close()
            _live_mounts.discard(self)
            self._remove_tmpdir()
            return
        try:
            if self.mounted and self.proc.poll() is None:
                self._unmount()
            try:
                self.returncode = self.proc.wait(timeout=5 * timeout_multiplier())
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.killed = True
                self.returncode = self.proc.wait()
            # A daemon that died (or was killed) leaves a dead mount behind.
            if is_mountpoint(self.path):
                self._unmount()
        finally:
            if self._pty_reader is not None:
                self._pty_reader.join(5)
                self._pty_reader = None
            self._log.close()
            with open(self._log.name, "rb") as f:
                self.stderr = f.read().decode(errors="replace")
            _live_mounts.discard(self)
            self.proc = None
            self._remove_tmpdir()

    def abort(self):
        """Emergency teardown from another thread (the watchdog).

        Killing the daemon closes its /dev/fuse fd, which fails every request
        still waiting for an answer with ENOTCONN; the lazy unmount detaches
        what is left. stop() still has to run afterwards.
        """
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            self.killed = True
        if self.path:
            _fusermount("-uz", self.path)

    def peak_rss(self):
        """The daemon's peak resident set (VmHWM), in bytes."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) << 10
        return 0

    def _unmount(self):
        ok, msg = _fusermount("-u", self.path)
        if not ok:
            self.unmount_notes.append("fusermount3 -u failed: " + msg)
            ok, msg = _fusermount("-uz", self.path)
            if not ok:
                self.unmount_notes.append("fusermount3 -uz failed: " + msg)

    def _remove_tmpdir(self):
        if self.tmpdir and not (self.path and is_mountpoint(self.path)):
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def exit_problem(self):
        """Why the daemon's end was not clean, or None (call after stop())."""
        if self.killed:
            return "daemon did not exit within 5 s after unmount and was killed"
        if self.returncode != 0:
            return "daemon exit status %s" % self.returncode
        return None

    def sanitizer_lines(self):
        return [l for l in self.stderr.splitlines() if SANITIZER_RE.search(l)]

    def daemon_problems(self):
        problems = list(self.unmount_notes)
        if self.exit_problem():
            problems.append(self.exit_problem())
        problems += ["daemon stderr: " + l for l in self.sanitizer_lines()]
        return problems


def _drain(master, log):
    """Copy what the daemon writes on its terminal into its log."""
    try:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the daemon closed the terminal
                break
            if not data:
                break
            log.write(data)
            log.flush()
    finally:
        os.close(master)


@contextlib.contextmanager
def mounted(ckfs, archive, timeout=10.0, extra_args=(), tty=False):
    m = Mount(ckfs, archive, extra_args, tty)
    try:
        if not m.start(timeout):
            m.stop()
            if m.returncode is not None and not m.killed:
                why = "daemon exited with status %s before mounting" % m.returncode
            else:
                why = "mount did not appear within %g s" % timeout
            raise MountFailed(why, m.returncode, m.stderr)
        yield m
    finally:
        m.stop()


def try_mount(ckfs, archive, timeout=10.0):
    m = Mount(ckfs, archive)
    try:
        ok = m.start(timeout)
    finally:
        m.stop()
    return ok, m.returncode, m.stderr


@contextlib.contextmanager
def watchdog(seconds, grace=15.0):
    fired = threading.Event()
    done = threading.Event()
    seconds *= timeout_multiplier()

    def fire():
        if done.wait(seconds):
            return
        fired.set()
        print("# watchdog: no result after %g s, tearing the mount down"
              % seconds, flush=True)
        for m in list(_live_mounts):
            m.abort()
        _thread.interrupt_main()
        if not done.wait(grace):
            print("# watchdog: main thread still stuck, exiting", flush=True)
            sys.stdout.flush()
            os._exit(1)

    thread = threading.Thread(target=fire, name="watchdog", daemon=True)
    thread.start()
    try:
        yield fired
    finally:
        done.set()
