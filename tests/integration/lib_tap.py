"""TAP output shared by the integration tests (standard library only).

ok(cond, what, note="") -> cond
    Print "ok N - what" or "not ok N - what" + note, and count it.
diag(msg)
    Print msg as "# " comment lines.
done() -> exit status
    Print the plan "1..N"; 1 if any check failed, else 0.
"""

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
