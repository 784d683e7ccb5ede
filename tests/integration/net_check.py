#!/usr/bin/env python3
"""Mount a real checkpoint and check the socket, saved-data and per-task views.

usage: net_check.py CKFS_BINARY ARCHIVE TRUTH_JSON
       net_check.py --crafted CKFS_BINARY criu-ckpt-test.tar

ARCHIVE must be an uncompressed tar (the test also reads CRIU images from it
with its own small protobuf reader, to check registers and limits against an
independent decode). What is checked, per process of the truth file:

  net/{tcp,tcp6,udp,udp6,unix,packet,netlink}  /proc/net's headers and line
      formats; with the ckpt-test markers: the TCP listener, client and
      accepted sockets (127.0.0.1:<port> in /proc's hex, states, inodes,
      rx_queue) and both unix socketpair ends
  net/queues/<ino>.recv  the unread TCP data both ways and the unread unix
      data equal the truth markers
  saved/<fd>  the unread pipe data (both ends), the ghost file and the memfd
      contents equal the markers; metadata.json "saved" names every file of
      saved/ with its original path; podman: tmpfs-dev-*.tar.gz are gzip tars
      of tmpfs mountpoints
  limits      the kernel's header and columns, values equal to core-<pid>.img
  task/<tid>/regs  27 registers in user_regs_struct order, equal to
      core-<tid>.img's gpregs (rip included)
  stat        52 fields; pid, comm, state, threads, kstkesp/kstkeip
  status      SigQ and Seccomp_filters lines
  ns/         pid/net/ipc/uts/mnt/user/cgroup/time links "<type>:[<id>]"
  cgroup      "hier:controllers:path" lines ending with the v2 "0::path"
  mountinfo   when mountpoints-<id>.img exists: fields parsed like the
      kernel's, ids unique, parents known, / and /proc present; else absent
  fdinfo      the eventfd count marker

--crafted mounts a copy of the ckpt-test images with sk-queues.img,
pipes-data.img, a tcp-stream image and cgroup.img broken, and checks that
only the files built on them fail (EIO), with the reasons in metadata.json;
its TCP listener is rewritten as an IPv6 one on 2001:db8::1, which net/tcp6
must print as the kernel does (B80D0120000000000000000001000000).

Prints `ok - WHAT` / `not ok - WHAT: DETAIL` and `N passed, N failed`.
Exit status: 0 all passed, 1 something failed, 2 usage, 77 FUSE unusable.
"""

import gzip
import io
import json
import os
import re
import struct
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib_mount  # noqa: E402
import lib_pb  # noqa: E402
from lib_pb import varint  # noqa: E402

OVERALL_TIMEOUT = float(os.environ.get("NET_CHECK_TIMEOUT", "120"))

TCP4_HEADER = ("  sl  local_address rem_address   st tx_queue rx_queue tr "
               "tm->when retrnsmt   uid  timeout inode")
TCP6_HEADER = ("  sl  local_address                         remote_address"
               "                        st tx_queue rx_queue tr tm->when "
               "retrnsmt   uid  timeout inode")
UDP4_HEADER = ("   sl  local_address rem_address   st tx_queue rx_queue tr "
               "tm->when retrnsmt   uid  timeout inode ref pointer drops")
UDP6_HEADER = TCP6_HEADER + " ref pointer drops"
NET_HEADERS = {
    "tcp": TCP4_HEADER.ljust(149),
    "tcp6": TCP6_HEADER,
    "udp": UDP4_HEADER.ljust(127),
    "udp6": UDP6_HEADER,
    "unix": "Num       RefCount Protocol Flags    Type St Inode Path",
    "packet": "sk               RefCnt Type Proto  Iface R Rmem   User   Inode",
    "netlink": "sk               Eth Pid        Groups   Rmem     Wmem     "
               "Dump  Locks    Drops    Inode",
}
TCP_RE = re.compile(
    r"^ *(\d+): ([0-9A-F]{8}|[0-9A-F]{32}):([0-9A-F]{4}) "
    r"([0-9A-F]{8}|[0-9A-F]{32}):([0-9A-F]{4}) "
    r"([0-9A-F]{2}) ([0-9A-F]{8}):([0-9A-F]{8}) [0-9A-F]{2}:[0-9A-F]{8} "
    r"[0-9A-F]{8} +(\d+) +-?\d+ (\d+) ")
UNIX_RE = re.compile(r"^[0-9a-f]{16}: [0-9A-F]{8} [0-9A-F]{8} ([0-9A-F]{8}) "
                     r"([0-9A-F]{4}) ([0-9A-F]{2}) +(\d+)( .*)?$")
LIMITS_HEADER = "%-25s %-20s %-20s %-10s" % ("Limit", "Soft Limit",
                                             "Hard Limit", "Units")
LIMIT_NAMES = [
    "Max cpu time", "Max file size", "Max data size", "Max stack size",
    "Max core file size", "Max resident set", "Max processes",
    "Max open files", "Max locked memory", "Max address space",
    "Max file locks", "Max pending signals", "Max msgqueue size",
    "Max nice priority", "Max realtime priority", "Max realtime timeout",
]
REG_NAMES = [
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
    "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags",
    "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs",
]
NS_NAMES = ["pid", "net", "ipc", "uts", "mnt", "user", "cgroup", "time"]
MOUNTINFO_RE = re.compile(
    r"^(\d+) (\d+) (\d+):(\d+) (\S+) (\S+) ((?:ro|rw)(?:,\S+)?)"
    r"((?: (?:shared|master|propagate_from):\d+| unbindable)*)"
    r" - (\S+) (\S+) ((?:ro|rw)(?:,\S*)?)$")
U64_MAX = (1 << 64) - 1


# ---------------------------------------------------------------- reporting

class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, what):
        self.passed += 1
        print("ok - %s" % what, flush=True)

    def not_ok(self, what, detail):
        self.failed += 1
        detail = " ".join(str(detail).split("\n"))
        if len(detail) > 600:
            detail = detail[:600] + "..."
        print("not ok - %s: %s" % (what, detail), flush=True)

    def check(self, what, fn, *args):
        """Run fn(*args): None means pass, a string is the failure detail."""
        try:
            detail = fn(*args)
        except Exception as e:  # one broken check must not stop the others
            self.not_ok(what, "%s: %s" % (type(e).__name__, e))
        else:
            if detail is None:
                self.ok(what)
            else:
                self.not_ok(what, detail)

    def note(self, text):
        for line in str(text).splitlines() or [""]:
            print("# " + line, flush=True)

    def summary(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 1 if self.failed else 0


def expect(got, expected, what="got"):
    if got == expected:
        return None
    return "%s %r, expected %r" % (what, got, expected)


# ------------------------------------------- a tiny protobuf + CRIU reader

def pb_fields(buf):
    """[(field number, value)]: ints for varint/fixed, bytes for LEN."""
    return [(f, v) for f, _, v in lib_pb.fields(buf, fixed_ints=True)]


def pb_one(buf, field, default=None):
    for f, v in pb_fields(buf):
        if f == field:
            return v
    return default


def pb_all(buf, field):
    return [v for f, v in pb_fields(buf) if f == field]


def pb_raw_fields(buf):
    """[(field, wire type, raw value bytes)], to re-encode a message."""
    out, i = [], 0
    while i < len(buf):
        start = i
        key, i = varint(buf, i)
        wire = key & 7
        if wire == 0:
            _, i = varint(buf, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n, i = varint(buf, i)
            i += n
        out.append((key >> 3, wire, bytes(buf[start:i])))
    return out


def img_records(data):
    """Payloads of a CRIU image without raw EXTRA data (criu-format.md §1.1)."""
    magic = struct.unpack_from("<I", data, 0)[0]
    pos = 8 if magic in (0x54564319, 0x55105940) else 4
    recs = []
    while pos < len(data):
        size = struct.unpack_from("<I", data, pos)[0]
        recs.append(data[pos + 4:pos + 4 + size])
        pos += 4 + size
    return recs


class Images:
    """The CRIU images of an uncompressed tar, read with tarfile."""

    def __init__(self, path):
        self.tar = tarfile.open(path, "r:")
        names = self.tar.getnames()
        self.dir = "checkpoint/" if "checkpoint/pstree.img" in names else ""
        self.names = set(names)

    def has(self, name):
        return self.dir + name in self.names

    def read(self, name):
        return self.tar.extractfile(self.dir + name).read()

    def core(self, tid):
        return img_records(self.read("core-%d.img" % tid))[0]

    def gpregs(self, tid):
        """user_x86_regs_entry fields 1..27 of core-<tid>.img."""
        ti = pb_one(self.core(tid), 2)  # core_entry.thread_info
        gp = pb_one(ti, 2)             # thread_info_x86.gpregs
        values = dict(pb_fields(gp))
        return [values.get(i, 0) for i in range(1, 28)]

    def rlimits(self, pid):
        tc = pb_one(self.core(pid), 3)          # core_entry.tc
        rl = pb_one(tc, 8)                      # task_core_entry.rlimits
        return [(pb_one(e, 1, 0), pb_one(e, 2, 0)) for e in pb_all(rl, 1)]

    def pstree(self):
        """{pid: [tids]} of pstree.img (pstree_entry #1 pid, #5 threads)."""
        tree = {}
        for rec in img_records(self.read("pstree.img")):
            pid = pb_one(rec, 1)
            tree[pid] = pb_all(rec, 5) or [pid]
        return tree

    def mnt_ns_ids(self, pid):
        ids = img_records(self.read("ids-%d.img" % pid))[0]
        return pb_one(ids, 9)


# ---------------------------------------------------------------- the tree

def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def socket_ino(target):
    m = re.fullmatch(r"socket:\[(\d+)\]", target)
    return int(m.group(1)) if m else None


def ip4_hex(ip):
    """/proc/net's hex for a dotted quad: the __be32 printed as a host u32."""
    return "%08X" % struct.unpack("<I", bytes(int(x) for x in ip.split(".")))[0]


class Proc:
    """A truth process, with its pid and threads as pstree.img has them."""

    def __init__(self, truth, host_pid, pstree):
        self.host_pid = int(host_pid)
        self.raw = truth["processes"][str(host_pid)]
        self.pid = int(truth.get("ns_pids", {}).get(str(host_pid), host_pid))
        self.tids = pstree[self.pid]
        if "threads" in self.raw and len(self.raw["threads"]) != len(self.tids):
            raise ValueError("pid %d: %d threads in pstree.img, %d in the truth"
                             % (self.pid, len(self.tids), len(self.raw["threads"])))
        self.fds = {int(fd): v for fd, v in self.raw.get("fds", {}).items()}

    def dir(self, mnt):
        return os.path.join(mnt, "proc", str(self.pid))


def net_lines(proc_dir, name):
    return read(os.path.join(proc_dir, "net", name)).split("\n")[:-1]


def tcp_rows(proc_dir, name="tcp"):
    rows = []
    for line in net_lines(proc_dir, name)[1:]:
        m = TCP_RE.match(line)
        if not m:
            raise ValueError("unparsable %s line %r" % (name, line))
        rows.append({"local": (m.group(2), int(m.group(3), 16)),
                     "remote": (m.group(4), int(m.group(5), 16)),
                     "st": int(m.group(6), 16), "tx": int(m.group(7), 16),
                     "rx": int(m.group(8), 16), "ino": int(m.group(10)),
                     "len": len(line)})
    return rows


# ---------------------------------------------------------------- checks

def check_headers(d):
    bad = []
    for name, header in NET_HEADERS.items():
        lines = net_lines(d, name)
        if not lines or lines[0] != header:
            bad.append("%s header %r" % (name, lines[0] if lines else None))
        if name in ("tcp", "udp"):
            width = 149 if name == "tcp" else 127
            bad += ["%s line of %d chars, not %d" % (name, len(l), width)
                    for l in lines if len(l) != width]
    return "; ".join(bad) or None


def check_limits(d, images, pid):
    lines = read(os.path.join(d, "limits")).split("\n")
    if lines[-1] != "":
        return "no final newline"
    lines = lines[:-1]
    if lines[0] != LIMITS_HEADER:
        return expect(lines[0], LIMITS_HEADER, "header")
    want = images.rlimits(pid)
    if len(lines) - 1 != len(want):
        return "%d rows, core-%d.img has %d rlimits" % (len(lines) - 1, pid, len(want))
    for i, line in enumerate(lines[1:]):
        name, soft, hard = line[:25].rstrip(), line[26:46].rstrip(), line[47:67].rstrip()
        units = line[68:]
        if name != LIMIT_NAMES[i] or line[25] != " " or line[46] != " " or line[67] != " ":
            return "row %d not in the kernel's columns: %r" % (i, line)
        if units and len(units) != 10:
            return "row %d units column %r" % (i, units)
        got = tuple(U64_MAX if v == "unlimited" else int(v) for v in (soft, hard))
        if got != want[i]:
            return "%s: %r, core-%d.img says %r" % (name, got, pid, want[i])
    return None


def check_regs(d, images, tid):
    lines = read(os.path.join(d, "task", str(tid), "regs")).splitlines()
    names = [l.split(":")[0] for l in lines]
    if names != REG_NAMES:
        return expect(names, REG_NAMES, "register names")
    got = [int(l.split(": ")[1], 16) for l in lines]
    want = images.gpregs(tid)
    for name, g, w in zip(REG_NAMES, got, want):
        if g != w:
            return "%s: 0x%x, core-%d.img says 0x%x" % (name, g, tid, w)
    return None


def check_stat(d, images, p):
    line = read(os.path.join(d, "stat"))
    if not line.endswith("\n"):
        return "no final newline"
    head, _, rest = line.rstrip("\n").rpartition(") ")
    pid, comm = head.split(" (", 1)
    fields = [pid, comm] + rest.split(" ")
    if len(fields) != 52:
        return "%d fields, not 52: %r" % (len(fields), line)
    regs = images.gpregs(p.pid)
    return (expect(int(fields[0]), p.pid, "pid")
            or expect(comm, p.raw["comm"], "comm")
            or expect(fields[2], p.raw.get("stat_state", "S"), "state")
            or expect(int(fields[19]), len(p.tids), "num_threads")
            or expect(int(fields[28]), regs[19], "kstkesp")
            or expect(int(fields[29]), regs[16], "kstkeip"))


def check_status(d, p):
    status = dict(l.split(":\t", 1) for l in read(os.path.join(d, "status")).splitlines()
                  if ":\t" in l)
    if not re.fullmatch(r"\d+/\d+", status.get("SigQ", "")):
        return "SigQ %r" % status.get("SigQ")
    if not re.fullmatch(r"\d+", status.get("Seccomp_filters", "")):
        return "Seccomp_filters %r" % status.get("Seccomp_filters")
    truth = p.raw.get("status", {})
    if "Seccomp" in truth:
        return expect(status.get("Seccomp"), truth["Seccomp"], "Seccomp")
    return None


def check_ns(d):
    links = {}
    for name in NS_NAMES:
        target = os.readlink(os.path.join(d, "ns", name))
        if not re.fullmatch(r"%s:\[\d+\]" % name, target):
            return "ns/%s -> %r" % (name, target)
        links[name] = target
    return links


def check_cgroup(d):
    lines = read(os.path.join(d, "cgroup")).splitlines()
    bad = [l for l in lines if not re.fullmatch(r"\d+:[^:]*:/.*", l)]
    if bad:
        return "lines %r" % bad
    if not lines[-1].startswith("0::/"):
        return "last line %r is not the v2 0::path" % lines[-1]
    hiers = [int(l.split(":")[0]) for l in lines]
    if hiers != sorted(hiers, reverse=True) or len(set(hiers)) != len(hiers):
        return "hierarchy numbers %r" % hiers
    return None


def check_saved_meta(d):
    meta = json.loads(read(os.path.join(d, "metadata.json")))
    if "saved" not in meta:
        return "metadata.json has no \"saved\""
    names = sorted(e["name"] for e in meta["saved"])
    listed = sorted(os.listdir(os.path.join(d, "saved")))
    if names != listed:
        return expect(names, listed, "saved entries")
    for e in meta["saved"]:
        size = os.stat(os.path.join(d, "saved", e["name"])).st_size
        if size != e["size"] or not e.get("path") or not e.get("kind"):
            return "entry %r (file size %d)" % (e, size)
    return None


def saved_meta(d, name):
    for e in json.loads(read(os.path.join(d, "metadata.json")))["saved"]:
        if e["name"] == name:
            return e
    return None


def check_mountinfo(d):
    lines = read(os.path.join(d, "mountinfo")).splitlines()
    mounts = {}
    for line in lines:
        m = MOUNTINFO_RE.match(line)
        if not m:
            return "line not in the kernel's format: %r" % line
        mnt_id = int(m.group(1))
        if mnt_id in mounts:
            return "mount id %d twice" % mnt_id
        mounts[mnt_id] = {"parent": int(m.group(2)), "root": m.group(5),
                          "mountpoint": m.group(6), "fstype": m.group(9)}
    roots = [i for i, m in mounts.items() if m["mountpoint"] == "/"]
    if len(roots) != 1:
        return "mounts on /: %r" % roots
    orphans = [i for i, m in mounts.items()
               if m["parent"] not in mounts and i != roots[0]]
    if orphans:
        return "mounts whose parent is not listed: %r" % orphans
    fs = {m["mountpoint"]: m["fstype"] for m in mounts.values()}
    if fs.get("/proc") != "proc":
        return "/proc is %r" % fs.get("/proc")
    if sorted(mounts) != list(mounts):
        return "not in mount id order"
    return None


def check_tmpfs(d, mountinfo):
    fstypes = {}
    for line in mountinfo.splitlines():
        f = line.split(" ")
        fstypes[f[4]] = f[f.index("-") + 1]
    found = 0
    for e in json.loads(read(os.path.join(d, "metadata.json")))["saved"]:
        if e["kind"] != "tmpfs":
            continue
        found += 1
        if fstypes.get(e["path"]) != "tmpfs":
            return "%s: path %r is not a tmpfs mountpoint" % (e["name"], e["path"])
        data = read(os.path.join(d, "saved", e["name"]), "rb")
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as t:
            t.getmembers()
    return None if found else "no tmpfs in saved/"


def tcp_checks(report, mnt, procs, markers):
    parent, child = procs[0], procs[1]
    pfd, cfd = markers["parent_fds"], markers["child_fds"]
    lhost, lport = markers["tcp_listen"].split(":")
    lport, cport = int(lport), int(markers["tcp_client_port"])
    loop = ip4_hex(lhost)
    listen_ino = socket_ino(parent.fds[pfd["tcp_listen"]]["target"])
    client_ino = socket_ino(parent.fds[pfd["tcp_client"]]["target"])
    accepted_ino = socket_ino(child.fds[cfd["tcp_accepted"]]["target"])
    s2c = markers["tcp_server_to_client_unread"].encode()
    c2s = markers["tcp_client_to_server_unread"].encode()

    def row(proc, ino):
        rows = [r for r in tcp_rows(proc.dir(mnt)) if r["ino"] == ino]
        if len(rows) != 1:
            raise ValueError("%d net/tcp rows with inode %d" % (len(rows), ino))
        return rows[0]

    def listener():
        r = row(parent, listen_ino)
        return (expect(r["local"], (loop, lport), "local") or
                expect(r["st"], 0x0A, "state (LISTEN)") or
                expect(r["remote"], ("00000000", 0), "remote"))

    def client():
        r = row(parent, client_ino)
        return (expect(r["local"], (loop, cport), "local") or
                expect(r["remote"], (loop, lport), "remote") or
                expect(r["st"], 0x01, "state (ESTABLISHED)") or
                expect(r["rx"], len(s2c), "rx_queue"))

    def accepted():
        r = row(child, accepted_ino)
        return (expect(r["local"], (loop, lport), "local") or
                expect(r["remote"], (loop, cport), "remote") or
                expect(r["st"], 0x01, "state (ESTABLISHED)") or
                expect(r["rx"], len(c2s), "rx_queue"))

    def queue(proc, ino, data):
        q = os.path.join(proc.dir(mnt), "net", "queues", "%d.recv" % ino)
        return expect(read(q, "rb"), data, "%d.recv" % ino)

    report.check("net/tcp: listener on %s in the parent" % markers["tcp_listen"], listener)
    report.check("net/tcp: client 127.0.0.1:%d -> :%d in the parent" % (cport, lport), client)
    report.check("net/tcp: accepted socket in the child", accepted)
    report.check("net/queues: unread server->client TCP data",
                 queue, parent, client_ino, s2c)
    report.check("net/queues: unread client->server TCP data",
                 queue, child, accepted_ino, c2s)
    report.check("net/queues: TCP send queues are empty files",
                 lambda: expect(os.path.getsize(os.path.join(
                     parent.dir(mnt), "net", "queues", "%d.send" % client_ino)), 0, "size"))


def marker_checks(report, mnt, procs, markers):
    parent, child = procs[0], procs[1]
    pfd, cfd = markers["parent_fds"], markers["child_fds"]

    def unix():
        inos = {socket_ino(parent.fds[pfd["unix"]]["target"]): parent,
                socket_ino(child.fds[cfd["unix"]]["target"]): child}
        for ino, proc in inos.items():
            rows = [UNIX_RE.match(l) for l in net_lines(proc.dir(mnt), "unix")[1:]]
            if None in rows:
                return "unparsable net/unix line in %d" % proc.pid
            mine = [r for r in rows if int(r.group(4)) == ino]
            if len(mine) != 1 or mine[0].group(2) != "0001" or mine[0].group(3) != "03":
                return "pid %d: net/unix rows for %d: %r" % (
                    proc.pid, ino, [r.group(0) for r in mine])
        data = markers["unix_data"].encode()
        got = {}
        for ino, proc in inos.items():
            q = os.path.join(proc.dir(mnt), "net", "queues", "%d.recv" % ino)
            if os.path.exists(q):
                got[ino] = read(q, "rb")
        if data not in got.values():
            return "no unix receive queue holds the marker: %r" % got
        return None

    def saved(proc, fd, data):
        return expect(read(os.path.join(proc.dir(mnt), "saved", str(fd)), "rb"),
                      data, "saved/%d" % fd)

    def ghost():
        fd = pfd["ghost"]
        got = read(os.path.join(parent.dir(mnt), "saved", str(fd)), "rb")
        target = parent.fds[fd]["target"]
        meta = saved_meta(parent.dir(mnt), str(fd))
        return (expect(got.rstrip(b"\n"), markers["ghost_data"].encode(), "contents")
                or expect(len(got), int(parent.fds[fd]["fdinfo"]["pos"]), "size")
                or expect(meta and meta["path"], target[:-len(" (deleted)")], "path")
                or expect(meta and meta["kind"], "ghost", "kind"))

    def memfd():
        fd = pfd["memfd"]
        meta = saved_meta(parent.dir(mnt), str(fd))
        return (saved(parent, fd, markers["memfd_data"].encode())
                or expect(meta and meta["path"], "/memfd:" + markers["memfd_name"], "path"))

    def eventfd():
        info = read(os.path.join(parent.dir(mnt), "fdinfo", str(pfd["eventfd"])))
        m = re.search(r"^eventfd-count: *([0-9a-f]+)$", info, re.M)
        return expect(m and int(m.group(1), 16), markers["eventfd_count"], "count")

    pipe = markers["pipe_data"].encode()
    report.check("net/unix lists both socketpair ends; unread unix data", unix)
    report.check("saved/%d: unread pipe data (write end, parent)" % pfd["pipe_w"],
                 saved, parent, pfd["pipe_w"], pipe)
    report.check("saved/%d: unread pipe data (read end, child)" % cfd["pipe_r"],
                 saved, child, cfd["pipe_r"], pipe)
    report.check("saved/%d: ghost file contents and original path" % pfd["ghost"], ghost)
    report.check("saved/%d: memfd contents and path" % pfd["memfd"], memfd)
    report.check("fdinfo/%d: eventfd count" % pfd["eventfd"], eventfd)


def run_checks(report, mnt, images, truth):
    pstree = images.pstree()
    procs = [Proc(truth, pid, pstree) for pid in truth["pids"]]
    markers = truth.get("markers") or {}
    net_ids = {}
    for p in procs:
        d = p.dir(mnt)
        what = "pid %d" % p.pid
        report.check("%s: net/* headers and widths" % what, check_headers, d)
        report.check("%s: limits (kernel columns, = core-%d.img)" % (what, p.pid),
                     check_limits, d, images, p.pid)
        for tid in p.tids:
            report.check("%s: task/%d/regs = core-%d.img gpregs" % (what, tid, tid),
                         check_regs, d, images, tid)
        report.check("%s: stat" % what, check_stat, d, images, p)
        report.check("%s: status SigQ, Seccomp_filters" % what, check_status, d, p)

        def ns(d=d, pid=p.pid):
            links = check_ns(d)
            if isinstance(links, str):
                return links
            net_ids[pid] = links["net"]
            return None
        report.check("%s: ns/ links" % what, ns)
        if images.has("cgroup.img"):
            report.check("%s: cgroup" % what, check_cgroup, d)
        report.check("%s: metadata.json \"saved\" matches saved/" % what,
                     check_saved_meta, d)
        ns_id = images.mnt_ns_ids(p.pid)
        if ns_id is not None and images.has("mountpoints-%d.img" % ns_id):
            report.check("%s: mountinfo like the kernel's" % what, check_mountinfo, d)
            report.check("%s: saved tmpfs tarballs" % what, lambda d=d: check_tmpfs(
                d, read(os.path.join(d, "mountinfo"))))
        else:
            report.check("%s: no mountinfo without a dumped mount namespace" % what,
                         lambda d=d: None if not os.path.exists(os.path.join(d, "mountinfo"))
                         else "mountinfo exists")
    report.check("all tasks share one net namespace id",
                 lambda: None if len(set(net_ids.values())) == 1 else "ids %r" % net_ids)
    if markers:
        marker_checks(report, mnt, procs, markers)
        if markers.get("with_tcp"):
            tcp_checks(report, mnt, procs, markers)


def crafted_checks(report, mnt):
    """Broken payload images fail only the files built on them."""
    d = os.path.join(mnt, "proc", "18667")
    child = os.path.join(mnt, "proc", "18671")

    def eio(path):
        try:
            if os.path.isdir(path):
                os.listdir(path)
            else:
                read(path, "rb")
        except OSError as e:
            return None if e.errno == 5 else "errno %d" % e.errno
        return "readable"

    def ipv6_listener():
        rows = tcp_rows(d, "tcp6")
        want = ("B80D0120000000000000000001000000", 40367)
        if len(rows) != 1:
            return "%d tcp6 rows" % len(rows)
        return (expect(rows[0]["local"], want, "local (2001:db8::1)") or
                expect(rows[0]["remote"], ("0" * 32, 0), "remote") or
                expect(rows[0]["st"], 0x0A, "state"))

    def tcp_still_listed():
        rows = tcp_rows(d)
        return expect([r["ino"] for r in rows], [160272], "tcp inodes")

    def meta_errors():
        meta = json.loads(read(os.path.join(d, "metadata.json")))
        pipe = [e for e in meta["saved"] if e["kind"] == "pipe"]
        if not pipe or "pipes-data.img" not in pipe[0].get("error", ""):
            return "saved pipe entry %r" % pipe
        if "sk-queues.img" not in meta.get("net_saved_error", ""):
            return "net_saved_error %r" % meta.get("net_saved_error")
        return None

    def memfd_intact():
        return None if os.path.getsize(os.path.join(d, "saved", "13")) == 45 else "size"

    report.check("crafted: an IPv6 listener in net/tcp6, address words as /proc",
                 ipv6_listener)
    report.check("crafted: net/tcp still lists the client socket", tcp_still_listed)
    report.check("crafted: net/queues/ fails (EIO) with sk-queues.img broken",
                 eio, os.path.join(d, "net", "queues"))
    report.check("crafted: saved/6 fails (EIO) with pipes-data.img broken",
                 eio, os.path.join(d, "saved", "6"))
    report.check("crafted: saved/5 of the child fails too",
                 eio, os.path.join(child, "saved", "5"))
    report.check("crafted: the reasons are in metadata.json", meta_errors)
    report.check("crafted: cgroup fails (EIO) with cgroup.img broken",
                 eio, os.path.join(d, "cgroup"))
    report.check("crafted: other saved files still read", memfd_intact)
    report.check("crafted: limits and regs still read",
                 lambda: None if read(os.path.join(d, "limits")) and
                 read(os.path.join(d, "task", "18672", "regs")) else "empty")


def crafted_dir(archive, tmp):
    """The ckpt-test images with sk-queues, pipes-data, tcp-stream and
    cgroup images cut short or garbled."""
    with tarfile.open(archive, "r:") as t:
        t.extractall(tmp)
    for name, size in (("sk-queues.img", 30), ("pipes-data.img", 40),
                       ("tcp-stream-27210.img", 100)):
        with open(os.path.join(tmp, name), "r+b") as f:
            f.truncate(size)
    with open(os.path.join(tmp, "cgroup.img"), "wb") as f:
        f.write(b"\x19\x43\x56\x54\x30\x33\x38\x59\x05\x00\x00\x00\xff\xff")
    ipv6_listener(os.path.join(tmp, "files.img"), 160271)


def ipv6_listener(path, ino):
    """Make inet socket @ino of files.img an AF_INET6 one on 2001:db8::1."""
    addr = bytes.fromhex("20010db8000000000000000000000001")
    words = struct.unpack("<4I", addr)  # network bytes read as host u32s
    data = open(path, "rb").read()
    out, pos = bytearray(data[:8]), 8
    while pos < len(data):
        size = struct.unpack_from("<I", data, pos)[0]
        rec = data[pos + 4:pos + 4 + size]
        pos += 4 + size
        isk = pb_one(rec, 4)
        if isk is not None and pb_one(isk, 2) == ino:
            body = b""
            for field, _, raw in pb_raw_fields(isk):
                if field == 3:
                    body += lib_pb.field(3, 10)
                elif field == 11:
                    continue
                else:
                    body += raw
            body += b"".join(lib_pb.field(11, w) for w in words)
            rec = b"".join(lib_pb.field(4, body) if f == 4 else raw
                           for f, _, raw in pb_raw_fields(rec))
        out += struct.pack("<I", len(rec)) + rec
    with open(path, "wb") as f:
        f.write(out)


def main(argv):
    report = Report()
    crafted = len(argv) == 4 and argv[1] == "--crafted"
    if len(argv) != 4:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    reason = lib_mount.fuse_unavailable()
    if reason:
        print("SKIP: " + reason)
        return lib_mount.SKIP_CODE
    if crafted:
        import tempfile
        with tempfile.TemporaryDirectory(prefix="ckfs-net-") as tmp:
            crafted_dir(argv[3], tmp)
            mount = None
            try:
                with lib_mount.mounted(argv[2], tmp) as mount:
                    crafted_checks(report, mount.path)
            except lib_mount.MountFailed as e:
                report.not_ok("mount", "%s; stderr: %s" % (e, e.stderr))
            if mount is not None:
                problems = mount.daemon_problems()
                report.check("daemon exited cleanly, no sanitizer reports",
                             lambda: "; ".join(problems[:5]) or None)
        return report.summary()
    ckfs, archive, truth_path = argv[1:]
    with open(truth_path) as f:
        truth = json.load(f)
    images = Images(archive)
    mount = None
    try:
        with lib_mount.watchdog(OVERALL_TIMEOUT) as fired:
            try:
                with lib_mount.mounted(ckfs, archive) as mount:
                    run_checks(report, mount.path, images, truth)
            except KeyboardInterrupt:
                if not fired.is_set():
                    raise
                report.not_ok("overall run", "no result within %g s" % OVERALL_TIMEOUT)
    except lib_mount.MountFailed as e:
        report.not_ok("mount", "%s; stderr: %s" % (e, e.stderr))
    except Exception as e:
        report.not_ok("test harness", "%s: %s" % (type(e).__name__, e))
    if mount is not None:
        problems = mount.daemon_problems()
        report.check("daemon exited cleanly, no sanitizer reports",
                     lambda: "; ".join(problems[:5]) or None)
    return report.summary()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
