#!/usr/bin/env python3
"""Mount a real checkpoint and compare what real tools see with its truth file.

usage: truth_check.py CKFS_BINARY ARCHIVE TRUTH_JSON
       truth_check.py --self-test TRUTH_JSON...

The truth file (tests/fixtures/*.truth.json, layout in tests/fixtures/README.md
and the shared fixtures README) is what /proc showed for the live processes
just before the dump. Each check prints `ok - WHAT` or `not ok - WHAT: DETAIL`;
the last line is `N passed, N failed`. Exit status: 0 all passed, 1 something
failed, 77 FUSE is not usable here (skip), 2 usage error.

--self-test needs no mount: it runs the maps parser, the [vvar] merge, the pid
mapping and the truth errata over the truth files themselves.

Environment: CKFS_WRAPPER and CKFS_TIMEOUT_MULTIPLIER (see lib_mount.py),
TRUTH_CHECK_TIMEOUT (seconds for the whole run, default 120).
"""

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib_mount  # noqa: E402

MOUNT_TIMEOUT = 10.0
TOOL_TIMEOUT = 30.0
OVERALL_TIMEOUT = float(os.environ.get("TRUTH_CHECK_TIMEOUT", "120"))
READ_CHUNK = 1 << 20

# /proc/PID/maps: the kernel prints "%08lx-%08lx %s %08llx %02x:%02x %lu ",
# pads with spaces up to column 73 and then prints the name, if any.
MAPS_NAME_COLUMN = 73
MAPS_RE = re.compile(r"([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][ps]) ([0-9a-f]+) "
                     r"([0-9a-f]+:[0-9a-f]+) ([0-9]+) ?(.*)")

# VMAs whose whole contents a checkpoint holds: CRIU writes every non-zero
# page of anonymous memory (private, or shared via its memfd), and the whole
# vDSO; anything else reads as zeros, exactly like untouched anonymous memory.
# File-backed mappings are NOT compared whole: a checkpoint holds only their
# dirty private pages. The rest lives in the file on the original root file
# system, which is not in the archive, so through the mount it reads as zeros
# while the truth hashed the real file contents.
ANONYMOUS_VMA_NAMES = ("", "[heap]", "[stack]", "[vdso]", "/dev/zero (deleted)")

STATUS_FIELDS_FROM_TRUTH = ("Uid", "Gid", "Threads", "CapEff", "SigIgn",
                            "SigCgt", "SigBlk", "Umask")

COMPRESSION_MAGIC = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"))


def sha256_zeros(size):
    h = hashlib.sha256()
    block = bytes(min(size, READ_CHUNK))
    while size > 0:
        h.update(block[:min(size, len(block))])
        size -= len(block)
    return h.hexdigest()


def _erratum_droppable(truth, pid, start):
    for vma in truth["processes"][pid]["vmas"]:
        if vma["start"] == start:
            vma["sha256"] = sha256_zeros(vma["end"] - vma["start"])
            vma.pop("sha256_after_dump", None)
            return
    raise KeyError("erratum: no VMA at %#x in %s" % (start, pid))


def _erratum_environ(truth, pid, environ):
    truth["processes"][pid]["environ"] = environ


# Known errors in specific truth files, keyed by the sha256 of the exact file.
# Each was confirmed by decoding the CRIU images in the fixture's archive. A
# regenerated truth file has another hash, so these stop applying to it.
TRUTH_ERRATA = {
    # criu-ckpt-test.truth.json
    "d581de6ef321c9783249ea0487802c9b1595aedb1d6c6e6cb1a81a1ea780251a": [(
        "pid 18667 VMA 7f97286f4000-7f97286f5000 is glibc's MAP_DROPPABLE "
        "getrandom state (mm.img flags 0x4028, madv DONTDUMP|WIPEONFORK); CRIU "
        "4.2 never saves droppable memory, so the checkpoint holds zeros there",
        lambda t: _erratum_droppable(t, "18667", 0x7f97286f4000)),
    ],
    # criu41-counter.truth.json (written by hand, not read from /proc)
    "5ab4562c3dc67070f0f24618373529ed1f8b518c349efa06db2d98c67193010f": [(
        "pid 20946 (sleep, run by dash) got dash's exported variables in "
        "dash's order plus PWD, as its dumped memory shows",
        lambda t: _erratum_environ(t, "20946", [
            "HOME=/root", "TERM=xterm", "PATH=/usr/bin:/bin", "PWD=/"])),
    ],
}


# ---------------------------------------------------------------- reporting

class Skip(Exception):
    """Raised by a check to report `ok - WHAT # SKIP reason`."""


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, what, note=""):
        self.passed += 1
        print("ok - %s%s" % (what, note), flush=True)

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
        except Skip as e:
            self.ok(what, " # SKIP %s" % e)
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


def differ(got, expected):
    """None if equal, else what differs; long sequences are shown around
    their first difference."""
    if got == expected:
        return None
    if (type(got) is type(expected) and isinstance(got, (bytes, str, list))
            and max(len(got), len(expected)) > 40):
        at = next((i for i, (g, e) in enumerate(zip(got, expected)) if g != e),
                  min(len(got), len(expected)))
        lo = max(0, at - 20)
        return "differs at index %d (lengths %d, %d): got ...%s, expected ...%s" % (
            at, len(got), len(expected), short(got[lo:at + 40]), short(expected[lo:at + 40]))
    return "got %s, expected %s" % (short(got), short(expected))


def short(value, limit=200):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def set_diff(got, expected):
    got, expected = set(got), set(expected)
    if got == expected:
        return None
    parts = []
    if expected - got:
        parts.append("missing %s" % sorted(expected - got))
    if got - expected:
        parts.append("unexpected %s" % sorted(got - expected))
    return ", ".join(parts)


# -------------------------------------------------------------- real tools

def tool(*argv):
    """Run a command and return its stdout (bytes); raise if it fails."""
    r = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TOOL_TIMEOUT)
    if r.returncode != 0:
        raise RuntimeError("`%s` exited %d: %s" % (
            " ".join(str(a) for a in argv), r.returncode,
            r.stderr.decode(errors="replace").strip() or "(no message)"))
    return r.stdout


def text(data):
    return data.decode("utf-8", errors="surrogateescape")


def cat(path):
    return tool("cat", path)


def ls(path):
    return [n for n in text(tool("ls", "-A", path)).split("\n") if n]


def readlink(path):
    out = text(tool("readlink", path))
    return out[:-1] if out.endswith("\n") else out


def count_z_records(path):
    """NUL-terminated records in a file, counted by `grep -z -c ''`."""
    r = subprocess.run(["grep", "-z", "-c", "", path], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TOOL_TIMEOUT)
    if r.returncode not in (0, 1):  # 1: no records at all
        raise RuntimeError("grep exited %d: %s" % (r.returncode, text(r.stderr).strip()))
    return int(r.stdout)


def stat_sizes(paths):
    if not paths:
        return []
    return [int(n) for n in text(tool("stat", "-c", "%s", "--", *paths)).split()]


def jq_valid(path):
    """jq's verdict on a JSON file: None if valid, else its complaint."""
    try:
        tool("jq", ".", path)
    except RuntimeError as e:
        return str(e)
    return None


def load_json_file(path):
    complaint = jq_valid(path)
    if complaint:
        raise ValueError("not valid JSON: " + complaint)
    return json.loads(cat(path))


# ------------------------------------------------------------ maps parsing

def parse_maps_line(line):
    """Split one /proc/PID/maps line; raise ValueError if it is malformed."""
    m = MAPS_RE.fullmatch(line)
    if not m:
        raise ValueError("unparsable maps line %r" % line)
    path = m.group(7).lstrip(" ")
    return {
        "start": int(m.group(1), 16), "end": int(m.group(2), 16),
        "perms": m.group(3), "offset": int(m.group(4), 16),
        "dev": m.group(5), "inode": int(m.group(6)), "path": path,
        "name_column": len(line) - len(path) if path else None,
    }


def merge_vvar(vmas):
    """The live kernel shows [vvar] and [vvar_vclock] as two VMAs; CRIU
    records them as one VVAR VMA, shown as one [vvar] line."""
    merged = []
    for vma in vmas:
        prev = merged[-1] if merged else None
        if (vma["path"] == "[vvar_vclock]" and prev is not None
                and prev["path"] == "[vvar]" and prev["end"] == vma["start"]):
            merged[-1] = dict(prev, end=vma["end"], size=vma["end"] - prev["start"],
                              sha256=None)
        else:
            merged.append(dict(vma))
    return merged


def vma_key(vma):
    return (vma["start"], vma["end"], vma["perms"], vma["offset"], vma["path"])


def vma_text(key):
    return "%x-%x %s %x %s" % key


def compare_vma_lists(got, expected):
    got = [vma_key(v) for v in got]
    expected = [vma_key(v) for v in expected]
    if got == expected:
        return None
    for i, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            return "line %d: got %r, expected %r (%d vs %d lines)" % (
                i + 1, vma_text(g), vma_text(e), len(got), len(expected))
    return "got %d lines, expected %d" % (len(got), len(expected))


# ------------------------------------------------------ expected process view

class Expected:
    """The truth file, seen from inside the dump's pid namespace."""

    def __init__(self, truth, truth_path=None):
        self.truth = truth
        self.truth_path = truth_path
        self.meta = truth.get("meta", {})
        self.kind = self.meta.get("kind", "")
        self.container = self.kind != "criu-dump"
        self.root_pid = int(truth["root_pid"])
        self.ns_pids = {int(k): int(v) for k, v in truth.get("ns_pids", {}).items()}
        self.processes = [ExpectedProcess(self, int(h), p)
                          for h, p in truth["processes"].items()]

    def ns_pid(self, host_pid):
        host_pid = int(host_pid)
        if host_pid in self.ns_pids:
            return self.ns_pids[host_pid]
        if not self.container:
            return host_pid
        raise KeyError("host pid %d is not in the truth's ns_pids" % host_pid)

    def parent_of(self, host_pid):
        for h, p in self.truth["processes"].items():
            if host_pid in p.get("children", []):
                return int(h)
        return None

    def engine(self):
        return {"criu-dump": "criu", "podman-export": "Podman"}.get(self.kind)


class ExpectedProcess:
    def __init__(self, exp, host_pid, raw):
        self.raw = raw
        self.host_pid = host_pid
        self.pid = exp.ns_pid(host_pid)
        self.comm = raw.get("comm")
        self.status = raw.get("status", {})
        self.ppid = self._ppid(exp)
        self.threads = self._threads(exp)  # {ns tid: comm or None} or None
        self.vmas = merge_vvar(raw["vmas"]) if "vmas" in raw else None

    def _ppid(self, exp):
        # The dump root's parent is outside the dump (the container's conmon,
        # or whoever started a plain dump's root): CRIU records ppid 0 for it.
        if self.host_pid == exp.root_pid:
            return 0
        parent = self.status.get("PPid", self.raw.get("ppid"))
        if parent is None:
            parent = exp.parent_of(self.host_pid)
        return None if parent is None else exp.ns_pid(parent)

    def _threads(self, exp):
        if "threads" in self.raw:
            out = {}
            for tid, thread in self.raw["threads"].items():
                nspid = thread.get("status", {}).get("NSpid")
                # The last NSpid field is the tid in the innermost namespace.
                inner = int(nspid.split()[-1]) if nspid else exp.ns_pid(tid)
                out[inner] = thread.get("comm")
            return out
        tids = exp.truth.get("tids", {}).get(str(self.host_pid))
        if tids is not None:
            return {exp.ns_pid(t): None for t in tids}
        return None


def load_truth(path, report):
    with open(path, "rb") as f:
        raw = f.read()
    truth = json.loads(raw)
    for why, apply in TRUTH_ERRATA.get(hashlib.sha256(raw).hexdigest(), []):
        apply(truth)
        report.note("truth erratum applied: " + why)
    return truth


# ------------------------------------------------------------- tree checks

def check_top_level(report, mnt, exp):
    report.check("top level has metadata.json, archive/ and proc/",
                 lambda: set_diff(set(ls(mnt)) & {"metadata.json", "archive", "proc"},
                                  {"metadata.json", "archive", "proc"}))
    report.check("ls proc lists exactly the dumped pids",
                 lambda: set_diff(ls(os.path.join(mnt, "proc")),
                                  [str(p.pid) for p in exp.processes]))

    meta_path = os.path.join(mnt, "metadata.json")
    report.check("metadata.json is valid JSON (jq .)", jq_valid, meta_path)
    try:
        meta = json.loads(cat(meta_path))
        if not isinstance(meta, dict):
            raise ValueError("top level is not an object")
    except Exception as e:
        report.not_ok("metadata.json readable", e)
        return

    engine = exp.engine()
    if engine is not None:
        report.check("metadata.json engine", lambda: differ(meta.get("engine"), engine))
    check_meta_processes(report, meta, exp)
    if exp.kind == "podman-export":
        check_podman_meta(report, meta, exp)


def check_meta_processes(report, meta, exp):
    procs = meta.get("processes")
    if not isinstance(procs, list):
        report.not_ok("metadata.json processes", "not an array: %s" % short(procs))
        return
    by_pid = {p.get("pid"): p for p in procs if isinstance(p, dict)}
    report.check("metadata.json processes: pids",
                 lambda: set_diff(by_pid, [p.pid for p in exp.processes]))
    for p in exp.processes:
        entry = by_pid.get(p.pid)
        what = "metadata.json process %d" % p.pid
        if entry is None:
            report.not_ok(what, "missing")
            continue

        def fields(entry=entry, p=p):
            bad = [k for k in ("pid", "ppid", "pgid", "sid")
                   if not isinstance(entry.get(k), int)]
            if not isinstance(entry.get("state"), str) or not entry.get("state"):
                bad.append("state")
            if bad:
                return "missing or mistyped: %s" % ", ".join(bad)
            problems = []
            if p.ppid is not None and entry["ppid"] != p.ppid:
                problems.append("ppid %s != %s" % (entry["ppid"], p.ppid))
            if p.comm is not None and entry.get("comm") != p.comm:
                problems.append("comm %r != %r" % (entry.get("comm"), p.comm))
            if p.threads is not None:
                d = set_diff(entry.get("threads") or [], p.threads)
                if d:
                    problems.append("threads: " + d)
            return "; ".join(problems) or None

        report.check(what + " (ppid, pgid, sid, comm, state, threads)", fields)


def find_checkpointctl_reference(truth_path, container_id):
    """checkpointctl's `inspect --all --format json` for this container, if
    kept beside the truth file as reference/<archive>/checkpointctl-inspect-all.json."""
    ref_dir = os.path.join(os.path.dirname(os.path.abspath(truth_path)), "reference")
    if not os.path.isdir(ref_dir):
        return None
    for name in sorted(os.listdir(ref_dir)):
        path = os.path.join(ref_dir, name, "checkpointctl-inspect-all.json")
        if os.path.isfile(path):
            with open(path) as f:
                for entry in json.load(f):
                    if entry.get("id") == container_id:
                        return entry
    return None


def dotted(obj, path):
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            raise KeyError(path)
        obj = obj[part]
    return obj


def check_podman_meta(report, meta, exp):
    ref = find_checkpointctl_reference(exp.truth_path, exp.meta.get("container_id"))
    if ref is None:
        # Fall back to what podman inspect said at checkpoint time.
        inspect = (exp.meta.get("podman_inspect") or [{}])[0]
        created = re.sub(r"\.[0-9]+(?=Z|[+-][0-9]{2}:[0-9]{2}$)", "",
                         inspect.get("Created", ""))
        ref = {"container_name": exp.meta.get("container_name"),
               "image": inspect.get("ImageName"), "id": exp.meta.get("container_id"),
               "runtime": inspect.get("OCIRuntime"), "created": created,
               "engine": "Podman"}
        report.note("no checkpointctl reference for this container; "
                    "identity fields come from the truth's podman inspect")
    fields = ("container_name", "image", "id", "runtime", "created", "engine",
              "checkpoint_size.memory_pages_size",
              "checkpoint_size.root_fs_diff_size", "statistics.pages_written")
    for field in fields:
        def one(field=field):
            try:
                expected = dotted(ref, field)
            except KeyError:
                raise Skip("not in the reference")
            return differ(dotted(meta, field), expected)
        report.check("metadata.json %s matches checkpointctl" % field, one)


# ---------------------------------------------------------- archive checks

def detect_compression(path):
    with open(path, "rb") as f:
        head = f.read(4)
    for magic, name in COMPRESSION_MAGIC:
        if head.startswith(magic):
            return name
    return None


def open_archive_stream(path, compression):
    if compression == "zstd":
        if shutil.which("zstd") is None:
            raise Skip("zstd is not installed, cannot read the archive here")
        proc = subprocess.Popen(["zstd", "-dc", "--", path], stdout=subprocess.PIPE)
        return proc.stdout, proc
    if compression == "gzip":
        return gzip.open(path, "rb"), None
    return open(path, "rb"), None


def oci_layers(path):
    """For an OCI image layout tar: the blobs archive/ shows, else None.

    [(name or None, bytes)]: each layer tar holding CRIU images (its
    members are shown), and for a containerd checkpoint image (a blob of
    media type ...criu.checkpoint.criu.tar) its one other image layer, shown
    as the member rootfs-diff.tar.
    """
    with tarfile.open(path) as tar:
        names = tar.getnames()
        if "oci-layout" not in names or "index.json" not in names:
            return None
        def blob(d):
            return tar.extractfile("blobs/sha256/" + d.split(":", 1)[1]).read()
        descs, docs = [], [json.loads(tar.extractfile("index.json").read())]
        while docs:  # JSON documents left to follow, breadth first
            doc = docs.pop(0)
            for d in doc.get("manifests", []) + [doc.get("config")] + doc.get("layers", []):
                if not d:
                    continue
                data = blob(d["digest"])
                if data[:1] == b"{":
                    docs.append(json.loads(data))
                else:
                    descs.append((d.get("mediaType", ""), data))
    out, rw, criu = [], [], False
    for media, data in descs:
        criu = criu or "criu.checkpoint.criu.tar" in media
        try:
            raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
            with tarfile.open(fileobj=io.BytesIO(raw)) as t:
                members = {n.lstrip("./") for n in t.getnames()}
        except (tarfile.TarError, OSError, EOFError):
            members = set()
        if members & {"pstree.img", "inventory.img", "checkpoint/pstree.img",
                      "checkpoint/inventory.img"}:
            out.append((None, raw))
        elif ".image.layer." in media:
            rw.append(data)
    if criu and len(rw) == 1:
        out.append(("rootfs-diff.tar", rw[0]))
    return out


def archive_members(path, compression):
    """{name: (size, sha256)} of regular files, and the set of directories."""
    files, dirs = {}, set()
    layers = oci_layers(path) if compression is None else None
    if layers is not None:
        for name, data in layers:
            if name:
                files[name] = (len(data), hashlib.sha256(data).hexdigest())
                continue
            f, d = archive_members_of(io.BytesIO(data))
            files.update(f)
            dirs |= d
        return files, dirs
    stream, proc = open_archive_stream(path, compression)
    try:
        return archive_members_of(stream)
    finally:
        stream.close()
        if proc is not None:
            proc.wait()


def archive_members_of(stream):
    """{name: (size, sha256)} of the regular files of a tar stream, and its directories."""
    files, dirs = {}, set()
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            name = member.name.lstrip("/")
            while name.startswith("./"):
                name = name[2:]
            name = name.rstrip("/")
            if not name or name == ".":
                continue
            parent = os.path.dirname(name)
            while parent:
                dirs.add(parent)
                parent = os.path.dirname(parent)
            if member.isdir():
                dirs.add(name)
            elif member.isfile():
                h = hashlib.sha256()
                src = tar.extractfile(member)
                for block in iter(lambda: src.read(READ_CHUNK), b""):
                    h.update(block)
                files[name] = (member.size, h.hexdigest())
    return files, dirs


def check_archive(report, mnt, archive, compression):
    root = os.path.join(mnt, "archive")
    try:
        files, dirs = archive_members(archive, compression)
    except Skip as e:
        report.ok("archive/ contents", " # SKIP %s" % e)
        return
    except Exception as e:
        report.not_ok("reading the archive with python tarfile", e)
        return

    def found(kind):
        out = text(tool("find", root, "-mindepth", "1", "-type", kind, "-printf", "%P\\0"))
        return [n for n in out.split("\0") if n]

    report.check("find archive -type f == tar's regular files",
                 lambda: set_diff(found("f"), files))
    report.check("find archive -type d == tar's directories",
                 lambda: set_diff(found("d"), dirs))

    names = sorted(files)
    paths = [os.path.join(root, n) for n in names]
    try:
        sizes = dict(zip(names, stat_sizes([p for p in paths if os.path.exists(p)])))
    except Exception as e:
        report.not_ok("stat -c %s archive/*", e)
        sizes = {}
    for name, path in zip(names, paths):
        def one(name=name, path=path):
            size, digest = files[name]
            problems = []
            if sizes.get(name) != size:
                problems.append("stat size %s != %d" % (sizes.get(name), size))
            if file_sha256(path) != digest:
                problems.append("sha256 differs from the tar member")
            return "; ".join(problems) or None
        report.check("archive/%s size and sha256" % name, one)


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(READ_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------- process checks

def check_process(report, mnt, exp, p):
    d = os.path.join(mnt, "proc", str(p.pid))
    tag = "proc/%d" % p.pid
    raw = p.raw
    if not os.path.isdir(d):
        report.not_ok(tag, "no such directory; its checks are not run")
        return

    for name in ("cmdline", "environ"):
        if name in raw:
            want = b"".join(s.encode(errors="surrogateescape") + b"\0" for s in raw[name])
            path = os.path.join(d, name)
            report.check("%s/%s" % (tag, name), lambda path=path, want=want:
                         differ(cat(path), want))
            report.check("%s/%s stat size" % (tag, name), lambda path=path, want=want:
                         differ(stat_sizes([path]), [len(want)]))
            report.check("%s/%s entry count (grep -zc)" % (tag, name),
                         lambda path=path, n=len(raw[name]): differ(count_z_records(path), n))
    if p.comm is not None:
        report.check(tag + "/comm", lambda: differ(cat(os.path.join(d, "comm")),
                                                   (p.comm + "\n").encode()))
    check_status(report, d, tag, p)
    check_tasks(report, d, tag, p)
    if p.vmas is not None:
        check_maps(report, d, tag, p)
    if "fds" in raw:
        check_fds(report, d, tag, raw["fds"])
    for link in ("cwd", "root", "exe"):
        if link in raw:
            report.check("%s/%s" % (tag, link), lambda link=link:
                         differ(readlink(os.path.join(d, link)), raw[link]))
    check_process_metadata(report, d, tag, p)
    check_mem(report, d, tag, exp, p)


def check_status(report, d, tag, p):
    try:
        lines = text(cat(os.path.join(d, "status"))).splitlines()
    except Exception as e:
        report.not_ok(tag + "/status", e)
        return
    by_key = {}
    for line in lines:
        by_key.setdefault(line.split(":", 1)[0], line)
    expected = [("Name", p.comm), ("Pid", p.pid), ("PPid", p.ppid)]
    expected += [(k, p.status.get(k)) for k in STATUS_FIELDS_FROM_TRUTH]
    for key, value in expected:
        if value is None:
            continue
        want = "%s:\t%s" % (key, value)
        report.check("%s/status %s" % (tag, key),
                     lambda key=key, want=want: differ(by_key.get(key), want))


def check_tasks(report, d, tag, p):
    if p.threads is None:
        return
    task = os.path.join(d, "task")
    report.check(tag + "/task lists the thread ids",
                 lambda: set_diff(ls(task), [str(t) for t in p.threads]))
    for tid, comm in p.threads.items():
        if comm is not None:
            path = os.path.join(task, str(tid), "comm")
            report.check("%s/task/%d/comm" % (tag, tid), lambda path=path, comm=comm:
                         differ(cat(path), (comm + "\n").encode()))


def check_maps(report, d, tag, p):
    try:
        data = text(cat(os.path.join(d, "maps")))
    except Exception as e:
        report.not_ok(tag + "/maps", e)
        return
    lines = [l for l in data.split("\n") if l]

    def content():
        return compare_vma_lists([parse_maps_line(l) for l in lines], p.vmas)

    def layout():
        bad = [] if data.endswith("\n") else ["no newline at the end"]
        for line in lines:
            vma = parse_maps_line(line)
            if vma["name_column"] not in (None, MAPS_NAME_COLUMN):
                bad.append("%r starts at column %d" % (vma["path"], vma["name_column"]))
        return "; ".join(bad[:3]) or None

    report.check("%s/maps matches the truth (%d VMAs)" % (tag, len(p.vmas)), content)
    report.check("%s/maps names start at column %d" % (tag, MAPS_NAME_COLUMN), layout)


def parse_fdinfo(data):
    out = {}
    for line in text(data).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out.setdefault(key, value.strip())
    return out


def check_fds(report, d, tag, fds):
    report.check(tag + "/fd lists the open fds",
                 lambda: set_diff(ls(os.path.join(d, "fd")), fds))
    for fd, info in sorted(fds.items(), key=lambda kv: int(kv[0])):
        report.check("%s/fd/%s -> %s" % (tag, fd, info["target"]), lambda fd=fd, info=info:
                     differ(readlink(os.path.join(d, "fd", fd)), info["target"]))

        def fdinfo(fd=fd, info=info):
            got = parse_fdinfo(cat(os.path.join(d, "fdinfo", fd)))
            want = {k: info["fdinfo"][k] for k in ("pos", "flags")}
            return differ({k: got.get(k) for k in want}, want)
        report.check("%s/fdinfo/%s pos and flags" % (tag, fd), fdinfo)


def as_int(value, base=10):
    """A number in metadata.json: a JSON integer, or a string in `base`
    (hex strings may carry 0x); anything else raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("boolean %r" % value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value, 0 if value.startswith(("0x", "0X")) else base)
    raise ValueError("not a number: %r" % (value,))


def check_process_metadata(report, d, tag, p):
    what = tag + "/metadata.json"
    try:
        meta = load_json_file(os.path.join(d, "metadata.json"))
    except Exception as e:
        report.not_ok(what, e)
        return
    raw = p.raw
    want = {"pid": p.pid, "ppid": p.ppid, "comm": p.comm}
    want = {k: v for k, v in want.items() if v is not None}
    report.check(what + " " + ", ".join(want), lambda: differ(
        {k: meta.get(k) for k in want}, want))
    for key in ("cmdline", "environ", "cwd", "root", "exe"):
        if key in raw:
            report.check("%s %s" % (what, key), lambda key=key:
                         differ(meta.get(key), raw[key]))
    if p.threads is not None:
        report.check(what + " threads",
                     lambda: set_diff(meta.get("threads") or [], p.threads))
    if "fds" in raw:
        report.check(what + " fds", lambda: compare_meta_fds(meta.get("fds"), raw["fds"]))
    if p.vmas is not None:
        report.check(what + " vmas", lambda: compare_vma_lists(
            [{"start": as_int(v["start"], 16), "end": as_int(v["end"], 16),
              "perms": v["perms"], "offset": as_int(v["offset"], 16),
              "path": v["path"]} for v in meta.get("vmas")], p.vmas))


def compare_meta_fds(entries, fds):
    if not isinstance(entries, list):
        return "fds is not an array: %s" % short(entries)
    problems = []
    seen = {}
    for entry in entries:
        missing = [k for k in ("fd", "type", "target", "flags", "pos") if k not in entry]
        if missing:
            problems.append("entry %s lacks %s" % (short(entry), ", ".join(missing)))
            continue
        seen[str(as_int(entry["fd"]))] = entry
    d = set_diff(seen, fds)
    if d:
        problems.append("fd numbers: " + d)
    for fd, info in fds.items():
        entry = seen.get(fd)
        if entry is None:
            continue
        if entry["target"] != info["target"]:
            problems.append("fd %s target %r != %r" % (fd, entry["target"], info["target"]))
        # flags: octal like fdinfo ("0100002") or the same value as a number
        flags = entry["flags"]
        if flags != info["fdinfo"]["flags"] and as_int(flags, 8) != int(info["fdinfo"]["flags"], 8):
            problems.append("fd %s flags %r != %s" % (fd, flags, info["fdinfo"]["flags"]))
        if as_int(entry["pos"]) != int(info["fdinfo"]["pos"]):
            problems.append("fd %s pos %r != %s" % (fd, entry["pos"], info["fdinfo"]["pos"]))
    return "; ".join(problems) or None


# ------------------------------------------------------------ memory checks

def pread_exact(fd, size, offset):
    out = bytearray()
    while len(out) < size:
        block = os.pread(fd, min(READ_CHUNK, size - len(out)), offset + len(out))
        if not block:
            raise EOFError("short read: %d of %d bytes at %#x" % (len(out), size, offset))
        out += block
    return bytes(out)


def pread_sha256(fd, start, end):
    h = hashlib.sha256()
    offset = start
    while offset < end:
        block = os.pread(fd, min(READ_CHUNK, end - offset), offset)
        if not block:
            raise EOFError("short read at %#x (VMA %#x-%#x)" % (offset, start, end))
        h.update(block)
        offset += len(block)
    return h.hexdigest()


def marker_locations(markers):
    """(label, address, expected bytes) for each memory marker of ckpt-test."""
    if not isinstance(markers, dict):
        return []
    out = []

    def add(label, addr_key, off, value_key):
        if addr_key in markers and value_key in markers:
            out.append((label, markers[addr_key] + off, markers[value_key].encode()))

    add("heap secret", "heap_secret_addr", 0, "heap_secret")
    for off in markers.get("anon_marker_offsets", []):
        add("anon marker +%#x" % off, "anon_addr", off, "anon_marker")
    # The dirty MAP_PRIVATE page of mapped.bin is in the checkpoint.
    add("MAP_PRIVATE file marker", "file_private_map_addr",
        markers.get("file_private_map_marker_offset", 0), "file_private_map_marker")
    # ckpt-test strcpy()s this marker to the start of the MAP_SHARED|ANON region.
    add("shared anon marker", "shared_anon_addr", 0, "shared_anon_marker")
    # Not checked: the MAP_SHARED file marker. CRIU never saves MAP_SHARED file
    # pages (the data is in mapped.bin, outside the archive).
    return out


def check_mem(report, d, tag, exp, p):
    path = os.path.join(d, "mem")
    report.check(tag + "/mem stat size > 0", lambda: None if stat_sizes([path])[0] > 0
                 else "size is 0")
    vmas = [v for v in (p.vmas or [])
            if v["path"] in ANONYMOUS_VMA_NAMES and v.get("sha256")]
    markers = [(label, addr, want)
               for label, addr, want in marker_locations(exp.truth.get("markers"))
               if any(v["start"] <= addr < v["end"] for v in p.vmas or [])]
    if not vmas and not markers:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        report.not_ok(tag + "/mem open", e)
        return
    try:
        for v in vmas:
            accepted = {v["sha256"], v.get("sha256_after_dump")} - {None}
            what = "%s/mem %x-%x %s sha256" % (tag, v["start"], v["end"], v["path"] or "(anon)")
            report.check(what, lambda v=v, accepted=accepted:
                         None if pread_sha256(fd, v["start"], v["end"]) in accepted
                         else "differs from the truth")
        for label, addr, want in markers:
            report.check("%s/mem %s at %#x" % (tag, label, addr), lambda addr=addr, want=want:
                         differ(pread_exact(fd, len(want), addr), want))
    finally:
        os.close(fd)


# -------------------------------------------------------------------- main

def refusal_ok(mount, compression):
    """A compressed archive may be refused for now: non-zero exit and a
    one-line message that names the compression."""
    lines = [l for l in mount.stderr.splitlines() if l.strip()]
    return (mount.returncode not in (0, None) and not mount.killed
            and len(lines) == 1 and compression in lines[0].lower()), lines


def guarded(report, what, fn, *args):
    """Run a group of checks; an unexpected error fails only that group."""
    try:
        fn(*args)
    except Exception as e:
        report.not_ok(what, "%s: %s" % (type(e).__name__, e))


def run_checks(report, mnt, archive, exp, compression):
    guarded(report, "top level", check_top_level, report, mnt, exp)
    guarded(report, "archive/", check_archive, report, mnt, archive, compression)
    for p in exp.processes:
        guarded(report, "proc/%d" % p.pid, check_process, report, mnt, exp, p)


def check_mount(report, ckfs, archive, truth_path):
    truth = load_truth(truth_path, report)
    exp = Expected(truth, truth_path)
    compression = detect_compression(archive)
    mount = lib_mount.Mount(ckfs, archive)
    with lib_mount.watchdog(OVERALL_TIMEOUT) as fired:
        try:
            try:
                if mount.start(MOUNT_TIMEOUT):
                    run_checks(report, mount.path, archive, exp, compression)
            finally:
                mount.stop()
        except KeyboardInterrupt:
            if not fired.is_set():
                raise
            mount.stop()  # in case the interrupt cut the first stop() short
            report.not_ok("overall run", "no result within %g s; mount torn down"
                          % OVERALL_TIMEOUT)

    if not mount.mounted:
        refused, lines = refusal_ok(mount, compression) if compression else (False, [])
        if refused:
            report.ok("refused compressed archive (%s)" % lines[0].strip(),
                      " # SKIP compressed support pending")
            return
        if mount.killed:
            why = "no mount within %g s; daemon killed" % MOUNT_TIMEOUT
        else:
            why = "daemon exited with status %s before mounting" % mount.returncode
        if compression:
            why += " (a refusal of this %s archive must exit non-zero with a " \
                   "one-line message naming %s)" % (compression, compression)
        report.not_ok("mount", why)
        report.note("daemon stderr:\n" + (mount.stderr or "(empty)"))
        return
    report.check("daemon exited 0 after unmount", mount.exit_problem)
    report.check("daemon stderr has no sanitizer reports",
                 lambda: "; ".join(mount.sanitizer_lines()[:5]) or None)
    for note in mount.unmount_notes:
        report.note(note)
    if report.failed and mount.stderr.strip():
        report.note("daemon stderr:\n" + mount.stderr)


def self_test(report, truth_paths):
    """Check this script's own parsing against the truth files."""
    for path in truth_paths:
        name = os.path.basename(path)
        truth = load_truth(path, report)
        try:
            exp = Expected(truth)
        except Exception as e:
            report.not_ok("%s: pid mapping" % name, e)
            continue
        report.ok("%s: pid mapping (%s)" % (name, ", ".join(
            "%d->%d" % (p.host_pid, p.pid) for p in exp.processes)))
        for p in exp.processes:
            if "maps" not in p.raw:
                continue
            what = "%s pid %d" % (name, p.host_pid)
            lines = p.raw["maps"].splitlines()

            def parsed(lines=lines, vmas=p.raw["vmas"]):
                def full_key(v):
                    return vma_key(v) + (v["dev"], v["inode"])
                return differ([full_key(parse_maps_line(l)) for l in lines],
                              [full_key(v) for v in vmas])

            def columns(lines=lines):
                bad = [l for l in lines if parse_maps_line(l)["name_column"]
                       not in (None, MAPS_NAME_COLUMN)]
                return "; ".join(bad) or None

            def merged(p=p):
                names = [v["path"] for v in p.vmas]
                vvar = [v for v in p.vmas if v["path"] == "[vvar]"]
                if "[vvar_vclock]" in names or len(vvar) != 1:
                    return "merge left %s" % names
                return differ(len(p.vmas), len(p.raw["vmas"]) - 1)

            report.check(what + ": maps text parses to the truth vmas", parsed)
            report.check(what + ": maps names start at column 73", columns)
            report.check(what + ": [vvar]+[vvar_vclock] merge into one [vvar]", merged)
    return report.summary()


def main(argv):
    report = Report()
    if len(argv) >= 3 and argv[1] == "--self-test":
        return self_test(report, argv[2:])
    if len(argv) != 4:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    ckfs, archive, truth_path = argv[1:]
    reason = lib_mount.fuse_unavailable()
    if reason:
        print("SKIP: " + reason)
        return lib_mount.SKIP_CODE
    try:
        check_mount(report, ckfs, archive, truth_path)
    except Exception as e:
        report.not_ok("test harness", "%s: %s" % (type(e).__name__, e))
    return report.summary()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
