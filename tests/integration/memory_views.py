#!/usr/bin/env python3
"""The memory views of a real fixture, checked with real tools.

usage: memory_views.py CKFS_BINARY ARCHIVE TRUTH_JSON [REFERENCE_DIR]

Mounts ARCHIVE and checks, for every process, what yara, strings, grep and
python's os.lseek see in proc/<pid>/{mem,vma/,smaps,pagemap,memmap,
mem.hexdump,auxv}, the top-level `memory` table and metadata.json, against
values computed here from the CRIU images in the tar (lib_criu.py, written
from criu-format.md, not from checkpointfs) and from the truth file (markers
and the sha256 of every anonymous VMA, with truth_check.py's errata).
REFERENCE_DIR holds checkpointctl's own outputs for the archive
(checkpointctl-memparse.txt, checkpointctl-memparse-pid-N-o.hexdump).

Each check prints `ok - WHAT` or `not ok - WHAT: DETAIL`; the last line is
`N passed, N failed`. Exit status: 0 all passed, 1 something failed, 77 FUSE
is not usable here (skip), 2 usage error.
"""

import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib_criu  # noqa: E402
import lib_mount  # noqa: E402
import truth_check as tc  # noqa: E402

TOOL_TIMEOUT = 60
OVERALL_TIMEOUT = 150
DUMP_NAME_RE = re.compile(r"^pid\.\d+\.vma\.0x[0-9a-f]+-0x[0-9a-f]+\.dmp$")
SMAPS_FIELDS = ["Size", "KernelPageSize", "MMUPageSize", "Rss", "Pss",
                "Pss_Dirty", "Shared_Clean", "Shared_Dirty", "Private_Clean",
                "Private_Dirty", "Referenced", "Anonymous", "KSM", "LazyFree",
                "AnonHugePages", "ShmemPmdMapped", "FilePmdMapped",
                "Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss",
                "Locked", "THPeligible", "VmFlags"]


def run(*argv, ok_codes=(0,)):
    r = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TOOL_TIMEOUT)
    if r.returncode not in ok_codes:
        raise RuntimeError("`%s` exited %d: %s" % (
            " ".join(str(a) for a in argv), r.returncode,
            r.stderr.decode(errors="replace").strip()[:300]))
    return r.stdout


def seek_runs(path):
    """The data runs of a file, walked with SEEK_DATA / SEEK_HOLE."""
    fd = os.open(path, os.O_RDONLY)
    try:
        runs, off = [], 0
        while True:
            try:
                start = os.lseek(fd, off, os.SEEK_DATA)
            except OSError as e:
                if e.errno == 6:  # ENXIO: no data after off
                    return runs
                raise
            end = os.lseek(fd, start, os.SEEK_HOLE)
            if end <= start:
                raise RuntimeError("SEEK_HOLE at %#x gave %#x" % (start, end))
            runs.append((start, end))
            off = end
    finally:
        os.close(fd)


def vma_file(pid, v):
    return "pid.%d.vma.%#x-%#x.dmp" % (pid, v.start, v.end)


def fmt_runs(runs):
    return ["%x-%x" % r for r in runs]


class Checker:
    def __init__(self, report, mnt, dump, truth, refdir):
        self.r, self.mnt, self.dump, self.refdir = report, mnt, dump, refdir
        self.truth = truth
        self.exp = tc.Expected(truth) if truth else None

    def pdir(self, pid):
        return os.path.join(self.mnt, "proc", str(pid))

    def run(self):
        self.top()
        for pid in self.dump.pids:
            if self.dump.state.get(pid) == 2:
                continue  # a zombie has no memory
            tag = "proc/%d" % pid
            tc.guarded(self.r, tag, self.process, pid, tag)

    # ------------------------------------------------------------ top level
    def top(self):
        rows = []
        for pid in self.dump.pids:
            if self.dump.state.get(pid) == 2:
                continue
            mm = self.dump.mm(pid)
            pm = self.dump.pagemap("pagemap-%d.img" % pid)
            mem = sum(e.nr_pages for e in pm.entries) * mm.page_size
            shared = sum(v.end - v.start for v in mm.vmas if v.flags & 1)
            rows.append((str(pid), self.dump.comm[pid],
                         lib_criu.byte_to_string(mem),
                         lib_criu.byte_to_string(shared)))
        with open(os.path.join(self.mnt, "memory"), "rb") as f:
            got = f.read().decode()

        def table():
            lines = got.split("\n")
            if lines[:3] != ["", "Displaying processes memory sizes from %s"
                             % os.path.basename(self.archive), ""]:
                return "heading: %r" % lines[:3]
            cells = [l.split() for l in lines[5:] if l]
            want = [list(r[:1]) + r[1].split() + " ".join(r[2:]).split() for r in rows]
            return tc.differ(cells, want)
        self.r.check("memory: one row per process, checkpointctl's figures", table)
        if self.refdir:
            with open(os.path.join(self.refdir, "checkpointctl-memparse.txt")) as f:
                want = f.read()
            self.r.check("memory equals checkpointctl-memparse.txt",
                         lambda: tc.differ(got, want))

    # ----------------------------------------------------------- a process
    def process(self, pid, tag):
        d = self.pdir(pid)
        mm = self.dump.mm(pid)
        pages = self.dump.present_pages(pid)
        data = self.dump.data_ranges(pid)
        ps = mm.page_size
        readable = [v for v in mm.vmas if v.prot & 1 and v.end < 1 << 63]

        # vma/: Volatility names, one per readable mapping, dense
        names = sorted(os.listdir(os.path.join(d, "vma")))
        self.r.check(tag + "/vma: one file per readable mapping",
                     lambda: tc.set_diff(names, [vma_file(pid, v) for v in readable]))
        self.r.check(tag + "/vma: names match Volatility 3's pattern",
                     lambda: "; ".join(n for n in names if not DUMP_NAME_RE.match(n)) or None)
        sizes = {vma_file(pid, v): v.end - v.start for v in readable}
        self.r.check(tag + "/vma: st_size is end - start",
                     lambda: tc.differ({n: os.stat(os.path.join(d, "vma", n)).st_size
                                        for n in names if n in sizes}, sizes))

        def dense():
            for v in readable[:3]:
                runs = seek_runs(os.path.join(d, "vma", vma_file(pid, v)))
                if runs != [(0, v.end - v.start)]:
                    return "%s: data runs %s" % (vma_file(pid, v), fmt_runs(runs))
            return None
        self.r.check(tag + "/vma: no holes advertised", dense)

        # mem: SEEK_DATA/SEEK_HOLE walk = the real pages, st_blocks
        mem = os.path.join(d, "mem")
        self.r.check(tag + "/mem: SEEK_DATA/SEEK_HOLE walk yields the present runs",
                     lambda: tc.differ(fmt_runs(seek_runs(mem)), fmt_runs(data)))
        st = os.stat(mem)
        self.r.check(tag + "/mem: st_size is the end of the last mapping",
                     lambda: tc.differ(st.st_size, mm.mem_size))
        self.r.check(tag + "/mem: st_blocks counts the present bytes",
                     lambda: tc.differ(st.st_blocks * 512, len(pages) * ps))

        def grep_c():
            env = self.dump_env(pid)
            if not env:
                raise tc.Skip("no environ string")
            out = run("timeout", "30", "grep", "-c", "-F", env, mem)
            return None if int(out) >= 1 else "count %s" % out
        self.r.check(tag + "/mem: grep -c finds environ[0] through the holes", grep_c)

        # the truth: sha256 of anonymous VMAs through vma/, markers with tools
        if self.exp:
            self.truth_vmas(pid, tag, d)
            self.markers(pid, tag, d, mm)

        self.smaps(pid, tag, d, mm, pages)
        self.pagemap(pid, tag, d, mm, pages, data)
        self.memmap(pid, tag, d, mm, pages)
        self.auxv(tag, d, mm)
        self.hexdump(pid, tag, d)
        self.metadata(pid, tag, d, mm)

    def dump_env(self, pid):
        if not self.exp:
            return None
        for p in self.exp.processes:
            if p.pid == pid and p.raw.get("environ"):
                return p.raw["environ"][0]
        return None

    def expected_process(self, pid):
        return next((p for p in self.exp.processes if p.pid == pid), None)

    def truth_vmas(self, pid, tag, d):
        p = self.expected_process(pid)
        if not p or not p.vmas:
            return
        for v in p.vmas:
            if v["path"] not in tc.ANONYMOUS_VMA_NAMES or not v.get("sha256") \
                    or v["perms"][0] != "r" or v["end"] >= 1 << 63:
                continue
            accepted = {v["sha256"], v.get("sha256_after_dump")} - {None}
            path = os.path.join(d, "vma", "pid.%d.vma.%#x-%#x.dmp" % (pid, v["start"], v["end"]))

            def digest(path=path, accepted=accepted):
                h = hashlib.sha256()
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                return None if h.hexdigest() in accepted else "differs from the truth"
            self.r.check("%s/vma %x-%x %s sha256" % (tag, v["start"], v["end"],
                                                      v["path"] or "(anon)"), digest)

    def markers(self, pid, tag, d, mm):
        found = []
        for label, addr, want in tc.marker_locations(self.truth.get("markers")):
            v = next((v for v in mm.vmas if v.start <= addr < v.end and v.prot & 1), None)
            if v:
                found.append((label, addr, want, v))
        if not found:
            return
        rules = os.path.join(self.tmp, "rules-%d.yar" % pid)
        with open(rules, "w") as f:
            for i, (label, addr, want, v) in enumerate(found):
                if i % 2 == 0:  # text and hex rules, alternately
                    f.write('rule m%d { strings: $a = "%s" condition: $a }\n'
                            % (i, want.decode()))
                else:
                    f.write("rule m%d { strings: $a = { %s } condition: $a }\n"
                            % (i, " ".join("%02X" % b for b in want)))
        vdir = os.path.join(d, "vma")
        out = run("yara", "-s", rules, vdir, ok_codes=(0, 1)).decode()
        hits, current = {}, None
        for line in out.splitlines():
            m = re.match(r"^(m\d+) (.*)$", line)
            if m:
                current = (m.group(1), os.path.basename(m.group(2)))
                continue
            m = re.match(r"^0x([0-9a-f]+):\$a:", line)
            if m and current:
                hits.setdefault(current, set()).add(int(m.group(1), 16))
        for i, (label, addr, want, v) in enumerate(found):
            name = vma_file(pid, v)
            off = addr - v.start
            self.r.check("%s: yara -s (%s rule) finds %s at its offset in %s" % (
                tag, "text" if i % 2 == 0 else "hex", label, name),
                lambda i=i, name=name, off=off: None if off in hits.get(("m%d" % i, name), set())
                else "hits %s" % sorted((k, sorted(map(hex, s))) for k, s in hits.items()))

            def strings_grep(name=name, off=off, want=want):
                path = os.path.join(vdir, name)
                s_out = run("strings", "-a", "-t", "x", "-n", "8", path).decode()
                s_offs = set()
                for line in s_out.splitlines():
                    pos, _, text = line.strip().partition(" ")
                    at = text.find(want.decode())
                    if at >= 0:
                        s_offs.add(int(pos, 16) + at)
                g_out = run("grep", "-boa", "-F", want.decode(), path).decode()
                g_offs = {int(l.split(":", 1)[0]) for l in g_out.splitlines()}
                if off not in s_offs or off not in g_offs:
                    return "strings -t x: %s, grep -boa: %s, expected %#x" % (
                        sorted(map(hex, s_offs)), sorted(map(hex, g_offs)), off)
                return None
            self.r.check("%s: strings -t x and grep -boa agree on %s (VA %#x)" % (
                tag, label, addr), strings_grep)

    def smaps(self, pid, tag, d, mm, pages):
        with open(os.path.join(d, "smaps")) as f:
            text = f.read()
        with open(os.path.join(d, "maps")) as f:
            maps = f.read().splitlines()
        blocks, cur = [], None
        for line in text.splitlines():
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                cur = [line, []]
                blocks.append(cur)
            elif cur:
                cur[1].append(line)
        self.r.check(tag + "/smaps: one block per maps line, same header lines",
                     lambda: tc.differ([b[0] for b in blocks], maps))

        def fields():
            for head, lines in blocks:
                keys = [l.split(":")[0] for l in lines]
                if keys != SMAPS_FIELDS:
                    return "%s: %s" % (head[:30], keys)
                for l in lines[:-2]:
                    if not re.match(r"^[A-Za-z_]+: +\d+ kB$", l) or len(l) != 27:
                        return "bad line %r" % l
                if not re.match(r"^THPeligible: +[01]$", lines[-2]) or len(lines[-2]) != 24:
                    return "bad line %r" % lines[-2]
                if not re.match(r"^VmFlags:( [a-z]{2})* $", lines[-1]):
                    return "bad line %r" % lines[-1]
            return None
        self.r.check(tag + "/smaps: the kernel's fields, order and widths", fields)

        def rss():
            got, want = {}, {}
            for (head, lines), v in zip(blocks, mm.vmas):
                f = {l.split(":")[0]: l.split(":")[1].split() for l in lines}
                got[head[:34]] = (int(f["Size"][0]), int(f["Rss"][0]))
                n = sum(1 for va in pages if v.start <= va < v.end)
                want[head[:34]] = ((v.end - v.start) // 1024, n * mm.page_size // 1024)
            return tc.differ(got, want)
        self.r.check(tag + "/smaps: Size, and Rss = present pages x 4 kB", rss)

    def pagemap(self, pid, tag, d, mm, pages, data):
        path = os.path.join(d, "pagemap")
        ps = mm.page_size
        self.r.check(tag + "/pagemap: st_size is 8 bytes per page of mem",
                     lambda: tc.differ(os.stat(path).st_size, mm.mem_size // ps * 8))

        def bits():
            bad = []
            fd = os.open(path, os.O_RDONLY)
            try:
                for v in mm.vmas:
                    if v.end >= 1 << 63:
                        continue
                    n = (v.end - v.start) // ps
                    raw = os.pread(fd, n * 8, v.start // ps * 8)
                    for k, word in enumerate(struct.unpack("<%dQ" % n, raw)):
                        va = v.start + k * ps
                        want = 0
                        if va in pages:
                            want = 1 << 63 | (1 << 61 if pages[va] == "shmem" else 0)
                        if word != want:
                            bad.append("%#x: %#x, expected %#x" % (va, word, want))
            finally:
                os.close(fd)
            return "; ".join(bad[:5]) or None
        self.r.check(tag + "/pagemap: bit 63 exactly on the pages the checkpoint holds", bits)
        want = [(s // ps * 8, e // ps * 8) for s, e in data]
        self.r.check(tag + "/pagemap: SEEK_DATA/SEEK_HOLE walk matches",
                     lambda: tc.differ(fmt_runs(seek_runs(path)), fmt_runs(want)))

    def memmap(self, pid, tag, d, mm, pages):
        with open(os.path.join(d, "memmap")) as f:
            lines = [l for l in f.read().splitlines() if not l.startswith("#")]
        heads = [l for l in lines if not l.startswith(" ")]

        def counts():
            got, want = [], []
            for h, v in zip(heads, mm.vmas):
                f = h.split()
                got.append((f[0], int(f[3]), int(f[4])))
                n = sum(1 for va in pages if v.start <= va < v.end)
                want.append(("%016x-%016x" % (v.start, v.end), (v.end - v.start) // mm.page_size, n))
            return tc.differ(got, want)
        self.r.check(tag + "/memmap: per mapping, its pages and the present ones", counts)

        def runs():
            total = 0
            for l in lines:
                if l.startswith("  "):
                    f = l.split()
                    s, e = (int(x, 16) for x in f[0].split("-"))
                    if int(f[1]) != (e - s) // mm.page_size:
                        return "bad run line %r" % l
                    total += int(f[1])
            want = sum((v.end - v.start) // mm.page_size for v in mm.vmas)
            return tc.differ(total, want)
        self.r.check(tag + "/memmap: the runs cover every page once", runs)

    def auxv(self, tag, d, mm):
        with open(os.path.join(d, "auxv"), "rb") as f:
            raw = f.read()
        words = list(struct.unpack("<%dQ" % (len(raw) // 8), raw))
        pairs = list(zip(words[::2], words[1::2]))
        self.r.check(tag + "/auxv: ends with AT_NULL",
                     lambda: None if pairs and pairs[-1] == (0, 0) else "ends %s" % pairs[-1:])
        self.r.check(tag + "/auxv: AT_PAGESZ is 4096",
                     lambda: None if (6, 4096) in pairs else "no (6, 4096) in %s" % pairs)
        saved = list(zip(mm.auxv[::2], mm.auxv[1::2]))
        if (0, 0) not in saved:
            saved.append((0, 0))
        self.r.check(tag + "/auxv: mm_saved_auxv through AT_NULL",
                     lambda: tc.differ(pairs, saved[:saved.index((0, 0)) + 1]))

    def hexdump(self, pid, tag, d):
        path = os.path.join(d, "mem.hexdump")
        with open(path, "rb") as f:
            got = f.read()
        want = lib_criu.hexdump(self.dump.pagemap_bytes(pid))
        self.r.check(tag + "/mem.hexdump equals the documented format over the pagemap",
                     lambda: tc.differ(got, want))
        self.r.check(tag + "/mem.hexdump: st_size is exact",
                     lambda: tc.differ(os.stat(path).st_size, len(want)))
        ref = os.path.join(self.refdir or "", "checkpointctl-memparse-pid-%d-o.hexdump" % pid)
        if self.refdir and os.path.exists(ref):
            with open(ref, "rb") as f:
                ref_bytes = f.read()
            self.r.check(tag + "/mem.hexdump equals `checkpointctl memparse --pid %d -o`" % pid,
                         lambda: tc.differ(got, ref_bytes))

            def middle():  # a read that starts and ends inside rows
                fd = os.open(path, os.O_RDONLY)
                try:
                    return tc.differ(os.pread(fd, 1000, 12345), ref_bytes[12345:13345])
                finally:
                    os.close(fd)
            self.r.check(tag + "/mem.hexdump: a read inside rows", middle)

    def metadata(self, pid, tag, d, mm):
        with open(os.path.join(d, "metadata.json")) as f:
            meta = json.load(f)
        pm = self.dump.pagemap("pagemap-%d.img" % pid)
        want = {"memory_size": sum(e.nr_pages for e in pm.entries) * mm.page_size,
                "shared_memory_size": sum(v.end - v.start for v in mm.vmas if v.flags & 1)}
        self.r.check(tag + "/metadata.json: memory_size, shared_memory_size",
                     lambda: tc.differ({k: meta.get("memory", {}).get(k) for k in want}, want))


def main(argv):
    if len(argv) not in (4, 5):
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    ckfs, archive, truth_path = argv[1:4]
    refdir = argv[4] if len(argv) == 5 else None
    report = tc.Report()
    reason = lib_mount.fuse_unavailable()
    if reason:
        print("SKIP: " + reason)
        return lib_mount.SKIP_CODE
    for prog in ("yara", "strings", "grep", "timeout"):
        if shutil.which(prog) is None:
            report.not_ok("tools", "%s is not installed (apt-get install yara binutils)" % prog)
            return report.summary()
    tmp = tempfile.mkdtemp(prefix="ckfs-memviews-")
    try:
        dump = lib_criu.Dump(archive)
        truth = tc.load_truth(truth_path, report)
        with lib_mount.watchdog(OVERALL_TIMEOUT) as fired:
            try:
                with lib_mount.mounted(ckfs, archive) as mnt:
                    c = Checker(report, mnt.path, dump, truth, refdir)
                    c.archive, c.tmp = archive, tmp
                    c.run()
                for problem in mnt.daemon_problems():
                    report.not_ok("daemon", problem)
            except KeyboardInterrupt:
                if not fired.is_set():
                    raise
                report.not_ok("overall run", "no result within %g s" % OVERALL_TIMEOUT)
    except Exception as e:
        report.not_ok("test harness", "%s: %s" % (type(e).__name__, e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report.summary()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
