"""TAP output shared by the integration tests (standard library only).

ok(cond, what, note="") -> cond
    Print "ok N - what" or "not ok N - what" + note, and count it.
diag(msg)
    Print msg as "# " comment lines.
done() -> exit status
    Print the plan "1..N"; 1 if any check failed, else 0.
main(doc, body, prefix, seconds, nargs=2, tools=()) -> exit status
    A test script's main(): usage (doc) unless it got nargs arguments;
    skip (77) when FUSE or one of tools is missing; else body(args, tmp)
    in a fresh temporary directory (removed after), under a watchdog of
    `seconds`, a failed mount or a hang counting as one failed check;
    then the plan.
"""

import shutil
import sys
import tempfile

import lib_mount

count = 0
failed = 0


def ok(cond, what, note=""):
    global count, failed
    count += 1
    if not cond:
        failed += 1
    print("%sok %d - %s%s" % ("" if cond else "not ", count, what, note),
          flush=True)
    return cond


def diag(msg):
    for line in str(msg).splitlines():
        print("# " + line, flush=True)


def done():
    print("1..%d" % count, flush=True)
    return 1 if failed else 0


def main(doc, body, prefix, seconds, nargs=2, tools=()):
    args = sys.argv[1:]
    if len(args) != nargs:
        print(doc)
        return 2
    why = lib_mount.fuse_unavailable()
    for tool in tools:
        if not why and shutil.which(tool) is None:
            why = "the %s CLI is missing" % tool
    if why:
        print("1..0 # SKIP %s" % why)
        return lib_mount.SKIP_CODE
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        with lib_mount.watchdog(seconds):
            body(args, tmp)
    except lib_mount.MountFailed as e:
        ok(False, "mount failed: %s" % e, " (stderr: %s)" % e.stderr.strip())
    except KeyboardInterrupt:
        ok(False, "watchdog: the test hung")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return done()
