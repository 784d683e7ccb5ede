#!/usr/bin/env python3
"""Crafted variants of a real dump: page sources the fixtures do not have.

usage: memory_crafted.py CKFS_BINARY ARCHIVE

ARCHIVE is a plain `criu dump` tar (criu-counter.tar). From it this script
builds, with python, tars that real CRIU makes but the fixtures lack, mounts
each next to the original and checks that the bytes at every address stay
where they were (no offset shifts):

  - the pagemaps rewritten CRIU 4.1-style (count in field 2) and pre-3.5
    style (field 2, no flags): the same bytes as CRIU 4.2's field 5;
  - an incremental dump: runs marked PE_PARENT with their pages removed,
    a `parent` symlink (through a second symlink) to a middle dump whose own
    PE_PARENT runs lead to the original, two levels deep;
  - a lazy-only entry (PE_LAZY without PE_PRESENT): zeros, flagged in memmap;
  - broken chains (no `parent`, a loop, a link out of the archive): EIO on
    those pages only;
  - -o rootfs=DIR: file-backed pages the dump lacks come from DIR, never
    from the host, even through symlinks and '..';
  - -o strict_mem: /proc semantics for mem.

Each check prints `ok - WHAT` or `not ok - WHAT: DETAIL`; the last line is
`N passed, N failed`. Exit status: 0 all passed, 1 something failed, 77 FUSE
is not usable here (skip), 2 usage error.
"""

import contextlib
import errno
import io
import os
import shutil
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib_criu  # noqa: E402
import lib_mount  # noqa: E402
import truth_check as tc  # noqa: E402

from lib_criu import PE_LAZY, PE_PARENT, PE_PRESENT, pb_field  # noqa: E402

OVERALL_TIMEOUT = 150
HOST_SECRET = b"CKPTFS-HOST-SECRET-must-never-show-0123456789"


# ------------------------------------------------------------ building tars

def write_tar(path, files, links=None):
    with tarfile.open(path, "w") as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(files[name]))
        for name, target in sorted((links or {}).items()):
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)


def encode_entry(e, flags, style):
    """A pagemap_entry: style "v42" (count in field 5, field 2 = 0),
    "v41" (count in field 2) or "old" (field 2, no flags: in_parent)."""
    out = pb_field(1, e.vaddr)
    if style == "v42":
        out += pb_field(2, 0) + pb_field(4, flags) + pb_field(5, e.nr_pages)
    elif style == "v41":
        out += pb_field(2, e.nr_pages) + pb_field(4, flags)
    else:
        out += pb_field(2, e.nr_pages)
        if flags & PE_PARENT:
            out += pb_field(3, 1)
    return out


def rewrite(dump, images, pid, flags_of, style):
    """Rewrite pagemap-<pid>.img (and its pages image) in @images: entry i
    gets flags_of(i, entry); only PRESENT entries keep their pages."""
    name = "pagemap-%d.img" % pid
    pm = dump.pagemap(name)
    ps = dump.mm(pid).page_size
    old_pages = dump.image("pages-%d.img" % pm.pages_id)
    recs, pages, off = [pb_field(1, pm.pages_id)], [], 0
    for i, e in enumerate(pm.entries):
        n = e.nr_pages * ps
        data = old_pages[off:off + n] if e.flags & PE_PRESENT else None
        if e.flags & PE_PRESENT:
            off += n
        flags = flags_of(i, e)
        if flags & PE_PRESENT:
            pages.append(data)
        recs.append(encode_entry(e, flags, style))
    images[name] = lib_criu.image_join(pm.header, recs)
    images["pages-%d.img" % pm.pages_id] = b"".join(pages)


def prefixed(images, prefix):
    return {prefix + k: v for k, v in images.items()}


# ----------------------------------------------------------------- reading

def vma_bytes(mnt, pid, mm):
    """{mapping: its bytes, or the errno of the first failing page}."""
    out = {}
    path = os.path.join(mnt, "proc", str(pid), "mem")
    fd = os.open(path, os.O_RDONLY)
    try:
        for v in mm.vmas:
            if v.end >= 1 << 63:
                continue
            chunks = []
            for va in range(v.start, v.end, mm.page_size):
                try:
                    chunks.append(os.pread(fd, mm.page_size, va))
                except OSError as e:
                    chunks.append(e.errno)
            out["%x-%x" % (v.start, v.end)] = chunks
    finally:
        os.close(fd)
    return out


def page_map(blocks, mm):
    """{page VA: bytes or errno} from vma_bytes()."""
    out = {}
    for key, chunks in blocks.items():
        start = int(key.split("-")[0], 16)
        for k, c in enumerate(chunks):
            out[start + k * mm.page_size] = c
    return out


def read(path, size=None, offset=0):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read() if size is None else f.read(size)


def seek_runs(path):
    fd = os.open(path, os.O_RDONLY)
    runs, off = [], 0
    try:
        while True:
            try:
                s = os.lseek(fd, off, os.SEEK_DATA)
            except OSError as e:
                if e.errno == errno.ENXIO:
                    return runs
                raise
            off = os.lseek(fd, s, os.SEEK_HOLE)
            runs.append((s, off))
    finally:
        os.close(fd)


# ------------------------------------------------------------------ checks

class Crafted:
    def __init__(self, report, ckfs, archive, tmp):
        self.r, self.ckfs, self.archive, self.tmp = report, ckfs, archive, tmp
        self.dump = lib_criu.Dump(archive)
        if self.dump.dir:
            raise RuntimeError("needs a plain criu dump (images at the top)")
        self.base = dict(self.dump.members)
        self.pids = [p for p in self.dump.pids if self.dump.state.get(p) != 2]
        self.mm = {p: self.dump.mm(p) for p in self.pids}
        self.want = {}

    @contextlib.contextmanager
    def mount(self, path, extra=()):
        with lib_mount.mounted(self.ckfs, path, extra_args=extra) as m:
            yield m
        for problem in m.daemon_problems():
            self.r.not_ok("daemon for %s %s" % (os.path.basename(path), " ".join(extra)),
                          problem)

    def tar(self, name, files, links=None):
        path = os.path.join(self.tmp, name)
        write_tar(path, files, links)
        return path

    def run(self):
        with self.mount(self.archive) as mnt:
            for pid in self.pids:
                self.want[pid] = page_map(vma_bytes(mnt.path, pid, self.mm[pid]), self.mm[pid])
                self.want[pid, "hexdump"] = read(os.path.join(mnt.path, "proc", str(pid), "mem.hexdump"))
                self.want[pid, "runs"] = seek_runs(os.path.join(mnt.path, "proc", str(pid), "mem"))
        for what, fn in (("pagemap styles", self.styles), ("incremental", self.incremental),
                         ("lazy", self.lazy), ("broken chains", self.broken),
                         ("rootfs", self.rootfs), ("strict_mem", self.strict)):
            tc.guarded(self.r, what, fn)

    def same_pages(self, mnt, tag, changed=None):
        """Every page reads as in the original, except @changed {va: bytes}."""
        for pid in self.pids:
            got = page_map(vma_bytes(mnt, pid, self.mm[pid]), self.mm[pid])
            want = dict(self.want[pid])
            want.update((changed or {}).get(pid, {}))
            bad = ["%#x" % va for va in sorted(want) if got.get(va) != want[va]]
            self.r.check("%s: pid %d: every page reads as expected (no shift)" % (tag, pid),
                         lambda bad=bad: "%d pages differ, first %s" % (len(bad), bad[:5])
                         if bad else None)

    def styles(self):
        for style, label in (("v41", "CRIU 4.1 pagemap (count in field 2)"),
                             ("old", "pre-3.5 pagemap (field 2, no flags)")):
            images = dict(self.base)
            for pid in self.pids:
                rewrite(self.dump, images, pid, lambda i, e: e.flags, style)
            with self.mount(self.tar(style + ".tar", images)) as mnt:
                self.same_pages(mnt.path, label)
                for pid in self.pids:
                    hd = read(os.path.join(mnt.path, "proc", str(pid), "mem.hexdump"))
                    self.r.check("%s: pid %d: mem.hexdump unchanged" % (label, pid),
                                 lambda hd=hd, pid=pid: tc.differ(hd, self.want[pid, "hexdump"]))

    def incremental(self):
        # top: entries 1, 2 (mod 3) in a parent; middle: entries 1 (mod 3)
        # in its own parent, the original dump.
        top, mid = dict(self.base), dict(self.base)
        for pid in self.pids:
            rewrite(self.dump, top, pid, lambda i, e: PE_PARENT if i % 3 else e.flags, "v42")
            rewrite(self.dump, mid, pid, lambda i, e: PE_PARENT if i % 3 == 1 else e.flags, "v42")
        files = dict(top)
        files.update(prefixed(mid, "mid/"))
        files.update(prefixed(self.base, "pre/"))
        links = {"parent": "chain", "chain": "mid", "mid/parent": "../pre"}
        with self.mount(self.tar("incremental.tar", files, links)) as mnt:
            tag = "incremental dump (parent -> chain -> mid -> ../pre)"
            self.same_pages(mnt.path, tag)
            for pid in self.pids:
                d = os.path.join(mnt.path, "proc", str(pid))
                self.r.check("%s: pid %d: SEEK_DATA/SEEK_HOLE runs unchanged" % (tag, pid),
                             lambda d=d, pid=pid: tc.differ(seek_runs(os.path.join(d, "mem")),
                                                            self.want[pid, "runs"]))
                self.r.check("%s: pid %d: mem.hexdump shows the parents' bytes" % (tag, pid),
                             lambda d=d, pid=pid: tc.differ(read(os.path.join(d, "mem.hexdump")),
                                                            self.want[pid, "hexdump"]))
                memmap = read(os.path.join(d, "memmap")).decode()

                def sources(memmap=memmap):
                    need = [" parent  1 mid/pages-", " parent  2 pre/pages-"]
                    missing = [n for n in need if n not in memmap]
                    return "memmap lacks %s" % missing if missing else None
                self.r.check("%s: pid %d: memmap names the parent members and depths"
                             % (tag, pid), sources)

    def lazy(self):
        images = dict(self.base)
        changed = {}
        pid = self.pids[0]
        pm = self.dump.pagemap("pagemap-%d.img" % pid)
        ps = self.mm[pid].page_size
        # the second entry becomes lazy-only: its pages are not in the tar
        lazy = pm.entries[1]
        rewrite(self.dump, images, pid, lambda i, e: PE_LAZY if i == 1 else e.flags, "v42")
        changed[pid] = {lazy.vaddr + k * ps: bytes(ps) for k in range(lazy.nr_pages)
                        if lazy.vaddr + k * ps in self.want[pid]}
        with self.mount(self.tar("lazy.tar", images)) as mnt:
            tag = "lazy-only entry at %#x" % lazy.vaddr
            self.same_pages(mnt.path, tag, changed)
            d = os.path.join(mnt.path, "proc", str(pid))
            memmap = read(os.path.join(d, "memmap")).decode()
            def flagged():
                pages = 0
                for line in memmap.splitlines():
                    f = line.split()
                    if line.startswith("  ") and f[2] == "lazy":
                        s, e = (int(x, 16) for x in f[0].split("-"))
                        if s < lazy.vaddr or e > lazy.vaddr + lazy.nr_pages * ps:
                            return "lazy run %s outside the entry" % f[0]
                        pages += int(f[1])
                return tc.differ(pages, lazy.nr_pages)
            self.r.check(tag + ": memmap flags its pages lazy", flagged)
            runs = seek_runs(os.path.join(d, "mem"))
            want = lib_criu.subtract(self.want[pid, "runs"],
                                     [(lazy.vaddr, lazy.vaddr + lazy.nr_pages * ps)])
            self.r.check(tag + ": SEEK_DATA skips it", lambda: tc.differ(runs, want))
            hd = read(os.path.join(d, "mem.hexdump"))
            orig = self.want[pid, "hexdump"]
            self.r.check(tag + ": mem.hexdump keeps its size, rows in place",
                         lambda: tc.differ((len(hd), hd[:172 + 86]), (len(orig), orig[:172 + 86])))

    def broken(self):
        pid = self.pids[0]
        ps = self.mm[pid].page_size
        pm = self.dump.pagemap("pagemap-%d.img" % pid)
        victim = pm.entries[0]
        images = dict(self.base)
        rewrite(self.dump, images, pid, lambda i, e: PE_PARENT if i == 0 else e.flags, "v42")
        cases = (("no parent link", {}),
                 ("a parent link loop (parent -> .)", {"parent": "."}),
                 ("a parent link out of the archive", {"parent": "../../etc"}),
                 ("an absolute parent link", {"parent": "/tmp"}))
        for label, links in cases:
            with self.mount(self.tar("broken.tar", images, links)) as mnt:
                got = page_map(vma_bytes(mnt.path, pid, self.mm[pid]), self.mm[pid])
                lost = {victim.vaddr + k * ps for k in range(victim.nr_pages)} & set(got)

                def check(got=got, lost=lost):
                    bad = [va for va in lost if got[va] != errno.EIO]
                    bad += [va for va in got if va not in lost and got[va] != self.want[pid][va]]
                    return "pages %s" % [hex(v) for v in bad[:5]] if bad else None
                self.r.check("%s: EIO on its PE_PARENT pages only" % label, check)
                mm_text = read(os.path.join(mnt.path, "proc", str(pid), "memmap")).decode()
                self.r.check("%s: memmap says lost" % label,
                             lambda t=mm_text: None if " lost " in t else "no lost run")

    def rootfs(self):
        pid = self.pids[0]
        mm = self.mm[pid]
        ps = mm.page_size
        root = os.path.join(self.tmp, "rootfs")
        host = os.path.join(self.tmp, "host")
        os.makedirs(os.path.join(root, "usr/bin"))
        os.makedirs(os.path.join(root, "usr/lib/x86_64-linux-gnu"))
        os.makedirs(host)
        with open(os.path.join(host, "secret"), "wb") as f:
            f.write(HOST_SECRET * 4096)
        pattern = bytes((i * 7 + (i >> 12)) & 0xFF for i in range(0x1F000 + 100))
        with open(os.path.join(root, "usr/bin/dash"), "wb") as f:
            f.write(pattern)
        lib = os.path.join(root, "usr/lib/x86_64-linux-gnu")
        os.symlink(os.path.join(host, "secret"), os.path.join(lib, "libc.so.6"))
        os.symlink("../" * 12 + host.lstrip("/") + "/secret",
                   os.path.join(lib, "ld-linux-x86-64.so.2"))
        dash = []
        with self.mount(self.archive) as mnt0:
            maps = read(os.path.join(mnt0.path, "proc", str(pid), "maps")).decode()
        for line in maps.splitlines():
            f = line.split()
            if len(f) == 6 and f[5] == "/usr/bin/dash":
                s, e = (int(x, 16) for x in f[0].split("-"))
                dash.append((s, e, int(f[2], 16)))
        present = self.dump.present_pages(pid)
        changed = {}
        for s, e, pgoff in dash:
            for va in range(s, e, ps):
                if va not in present:
                    off = pgoff + va - s
                    changed[va] = pattern[off:off + ps].ljust(ps, b"\0")
        with self.mount(self.archive, ("-o", "rootfs=" + root)) as mnt:
            tag = "-o rootfs"
            self.same_pages(mnt.path, tag + " (dash from DIR, libc/ld links lead nowhere)",
                            {pid: changed})
            d = os.path.join(mnt.path, "proc", str(pid))
            found = []
            for name in os.listdir(os.path.join(d, "vma")):
                if HOST_SECRET[:16] in read(os.path.join(d, "vma", name)):
                    found.append(name)
            self.r.check(tag + ": no byte of the host file behind the symlinks shows",
                         lambda: "found in %s" % found if found else None)
            memmap = read(os.path.join(d, "memmap")).decode()
            self.r.check(tag + ": memmap: file runs for dash, nofile for the escaping links",
                         lambda: None if "rootfs:/usr/bin/dash" in memmap and
                         "(the rootfs entry is not a regular file)" not in memmap and
                         " nofile " in memmap else "memmap:\n" + memmap[:2000])
            runs = seek_runs(os.path.join(d, "mem"))
            want = lib_criu.merge(self.want[pid, "runs"] +
                                  [(va, va + ps) for va in changed])
            self.r.check(tag + ": SEEK_DATA counts the rootfs pages as data",
                         lambda: tc.differ(runs, want))

    def strict(self):
        pid = self.pids[0]
        mm = self.mm[pid]
        with self.mount(self.archive, ("-o", "strict_mem")) as mnt:
            path = os.path.join(mnt.path, "proc", str(pid), "mem")
            fd = os.open(path, os.O_RDONLY)
            try:
                tag = "-o strict_mem"
                self.r.check(tag + ": st_size 0",
                             lambda: tc.differ(os.fstat(fd).st_size, 0))
                v = mm.vmas[0]
                self.r.check(tag + ": a mapped page reads as without it",
                             lambda: tc.differ(os.pread(fd, mm.page_size, v.start),
                                               self.want[pid][v.start]))

                def gap():
                    try:
                        os.pread(fd, 16, 0)
                    except OSError as e:
                        return None if e.errno == errno.EIO else "errno %d" % e.errno
                    return "read succeeded"
                self.r.check(tag + ": a read in a gap fails with EIO", gap)
                ends = [a.end for a, b in zip(mm.vmas, mm.vmas[1:]) if a.end < b.start]
                self.r.check(tag + ": a read across the end of a mapping is short",
                             lambda: tc.differ(len(os.pread(fd, 8192, ends[0] - 4096)), 4096))

                def seek():
                    try:
                        os.lseek(fd, 0, os.SEEK_DATA)
                    except OSError as e:
                        return None if e.errno == errno.EINVAL else "errno %d" % e.errno
                    return "SEEK_DATA succeeded"
                self.r.check(tag + ": SEEK_DATA fails with EINVAL, as on /proc", seek)
            finally:
                os.close(fd)


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    ckfs, archive = argv[1:]
    report = tc.Report()
    reason = lib_mount.fuse_unavailable()
    if reason:
        print("SKIP: " + reason)
        return lib_mount.SKIP_CODE
    tmp = tempfile.mkdtemp(prefix="ckfs-crafted-")
    try:
        with lib_mount.watchdog(OVERALL_TIMEOUT) as fired:
            try:
                Crafted(report, ckfs, archive, tmp).run()
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
