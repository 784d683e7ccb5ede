"""Read, and rewrite, the CRIU images of a fixture (standard library only).

Written from criu-format.md (§1 framing, §2.5-2.6 mm and pagemap, §3 memory)
independently of checkpointfs, so that the memory tests compute what they
expect without asking the code under test.

API
---
Dump(archive)                 the CRIU images of an uncompressed tar
  .dir                        image directory prefix: "checkpoint/" or ""
  .members                    {name: bytes} of every regular member
  .pids                       pids in pstree order (.ppid, .comm, .state)
  .image(name)                the bytes of an image of the image directory
  .pagemap(name)              Pagemap (pages_id, entries in file order)
  .mm(pid)                    Mm (vmas without GUARD, auxv, page_size)
  .present_pages(pid)         {page VA in a mapping: "task" | "shmem"}
  .data_ranges(pid)           [(start, end)] of those pages, merged
  .pagemap_bytes(pid)         [(vaddr, bytes)] per pagemap entry
hexdump(entries)              `checkpointctl memparse --pid N -o` text
byte_to_string(n)             checkpointctl's size strings
pb_decode(bytes) -> {field: [values]}, pb_field(field, value) -> bytes
image_split(bytes) -> (header, [payloads]), image_join(header, payloads)
merge(ranges), subtract(ranges, cut), intersect(ranges, window)
"""

import os
import struct
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib_pb import decode as pb_decode, field as pb_field  # noqa: E402

MAGIC_COMMON = 0x54564319
MAGIC_SERVICE = 0x55105940
PE_PARENT, PE_LAZY, PE_PRESENT = 1, 2, 4
VMA_ANON_SHARED, VMA_SYSVIPC, VMA_MEMFD = 1 << 8, 1 << 10, 1 << 14
VMA_GUARD = 1 << 16
AT_PAGESZ = 6


# ---------------------------------------------------------------- protobuf

def first(msg, field, default=0):
    return msg.get(field, [default])[0]


def image_split(data):
    """(magic header bytes, [record payloads]) of a protobuf image."""
    magic = struct.unpack_from("<I", data, 0)[0]
    i = 8 if magic in (MAGIC_COMMON, MAGIC_SERVICE) else 4
    header, recs = data[:i], []
    while i < len(data):
        n = struct.unpack_from("<I", data, i)[0]
        recs.append(data[i + 4:i + 4 + n])
        i += 4 + n
    return header, recs


def image_join(header, payloads):
    return header + b"".join(struct.pack("<I", len(p)) + p for p in payloads)


# ----------------------------------------------------------------- ranges

def merge(ranges):
    out = []
    for s, e in sorted(r for r in ranges if r[1] > r[0]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def subtract(ranges, cut):
    out = []
    for s, e in merge(ranges):
        for cs, ce in merge(cut):
            if ce <= s or cs >= e:
                continue
            if cs > s:
                out.append((s, cs))
            s = max(s, ce)
            if s >= e:
                break
        if s < e:
            out.append((s, e))
    return out


def intersect(ranges, window):
    ws, we = window
    return [(max(s, ws), min(e, we)) for s, e in ranges if s < we and e > ws]


# ------------------------------------------------------------------- dump

class Entry:
    def __init__(self, msg):
        self.msg = msg
        self.vaddr = first(msg, 1)
        self.nr_pages = first(msg, 5) if 5 in msg else first(msg, 2)
        if 4 in msg:
            self.flags = first(msg, 4)
        else:
            self.flags = PE_PARENT if first(msg, 3) else PE_PRESENT


class Pagemap:
    def __init__(self, data):
        self.header, recs = image_split(data)
        self.pages_id = first(pb_decode(recs[0]), 1)
        self.entries = [Entry(pb_decode(r)) for r in recs[1:]]


class Vma:
    def __init__(self, msg):
        self.start, self.end = first(msg, 1), first(msg, 2)
        self.pgoff, self.shmid = first(msg, 3), first(msg, 4)
        self.prot, self.flags = first(msg, 5), first(msg, 6)
        self.status, self.madv = first(msg, 7), first(msg, 9)


class Mm:
    def __init__(self, data):
        _, recs = image_split(data)
        msg = pb_decode(recs[0])
        self.vmas = sorted((Vma(pb_decode(v)) for v in msg.get(14, [])),
                           key=lambda v: v.start)
        self.vmas = [v for v in self.vmas if not v.status & VMA_GUARD]
        self.auxv = list(msg.get(13, []))
        self.page_size = 4096
        for i in range(0, len(self.auxv) - 1, 2):
            if self.auxv[i] == AT_PAGESZ:
                self.page_size = self.auxv[i + 1]
        self.mem_size = max([v.end for v in self.vmas if v.end < 1 << 63] or [0])


class Dump:
    def __init__(self, archive):
        self.members = {}
        with tarfile.open(archive) as tar:
            for m in tar.getmembers():
                if m.isfile():
                    name = m.name[2:] if m.name.startswith("./") else m.name
                    self.members[name] = tar.extractfile(m).read()
        self.dir = "checkpoint/" if "checkpoint/pstree.img" in self.members else ""
        _, recs = image_split(self.members[self.dir + "pstree.img"])
        self.pids, self.ppid, self.comm, self.state = [], {}, {}, {}
        for r in recs:
            msg = pb_decode(r)
            pid = first(msg, 1)
            self.pids.append(pid)
            self.ppid[pid] = first(msg, 2)
            core = pb_decode(image_split(self.members[self.dir + "core-%d.img" % pid])[1][0])
            tc = pb_decode(first(core, 3, b""))  # task_core_entry
            self.comm[pid] = first(tc, 6, b"").decode(errors="replace")
            self.state[pid] = first(tc, 1, 1)
        self._shm_of_memfd = self._memfd_shmids()

    def image(self, name):
        return self.members.get(self.dir + name)

    def pagemap(self, name):
        data = self.image(name)
        return Pagemap(data) if data is not None else None

    def mm(self, pid):
        return Mm(self.image("mm-%d.img" % pid))

    def _memfd_shmids(self):
        """{files.img id of a MEMFD: shmid of its memfd.img inode}."""
        files, inodes = self.image("files.img"), self.image("memfd.img")
        if files is None or inodes is None:
            return {}
        shmid = {}
        for r in image_split(inodes)[1]:
            msg = pb_decode(r)
            shmid[first(msg, 7)] = first(msg, 5)
        out = {}
        for r in image_split(files)[1]:
            msg = pb_decode(r)
            if 20 in msg:
                memfd = pb_decode(msg[20][0])
                out[first(msg, 2)] = shmid.get(first(memfd, 5))
        return out

    def shm_id(self, vma):
        if vma.status & VMA_MEMFD:
            return self._shm_of_memfd.get(vma.shmid)
        if vma.status & (VMA_ANON_SHARED | VMA_SYSVIPC):
            return vma.shmid
        return None

    def present_pages(self, pid):
        """{VA of every page the checkpoint holds: "task" or "shmem"}, for
        the pages inside a mapping (what mem, smaps and pagemap show)."""
        mm, pm = self.mm(pid), self.pagemap("pagemap-%d.img" % pid)
        ps = mm.page_size
        covered, pages = set(), {}
        for e in pm.entries:
            for k in range(e.nr_pages):
                va = e.vaddr + k * ps
                covered.add(va)
                if e.flags & PE_PRESENT and any(v.start <= va < v.end for v in mm.vmas):
                    pages[va] = "task"
        for v in mm.vmas:
            sid = self.shm_id(v)
            spm = self.pagemap("pagemap-shmem-%d.img" % sid) if sid else None
            if spm is None:
                continue
            for e in spm.entries:
                if not e.flags & PE_PRESENT:
                    continue
                for k in range(e.nr_pages):
                    va = v.start + e.vaddr + k * ps - v.pgoff
                    if v.start <= va < v.end and va not in covered:
                        pages[va] = "shmem"
        return pages

    def data_ranges(self, pid):
        ps = self.mm(pid).page_size
        return merge((va, va + ps) for va in self.present_pages(pid))

    def pagemap_bytes(self, pid):
        """[(vaddr, bytes)] for each entry, file order, as checkpointctl reads
        them (PRESENT entries: their pages; others: zeros)."""
        pm = self.pagemap("pagemap-%d.img" % pid)
        ps = self.mm(pid).page_size
        pages = self.image("pages-%d.img" % pm.pages_id) or b""
        out, off = [], 0
        for e in pm.entries:
            n = e.nr_pages * ps
            if e.flags & PE_PRESENT:
                out.append((e.vaddr, pages[off:off + n]))
                off += n
            else:
                out.append((e.vaddr, bytes(n)))
        return out


def hexdump(entries):
    """`checkpointctl memparse --pid N -o FILE` (memory-views.md §7): two
    header lines, then "%016x  " + 16 x "%02x " + " |ascii|" rows."""
    out = [b"Address           Hexadecimal                                       ASCII            \n",
           b"-" * 85 + b"\n"]
    for vaddr, data in entries:
        for i in range(0, len(data), 16):
            row = data[i:i + 16]
            text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
            out.append(("%016x  %s |%s|\n" % (
                vaddr + i, "".join("%02x " % b for b in row), text)).encode())
    return b"".join(out)


def byte_to_string(b):
    """checkpointctl's lib.ByteToString."""
    if b < 1024:
        return "%d B" % b
    div, exp, n = 1024, 0, b // 1024
    while n >= 1024:
        div *= 1024
        exp += 1
        n //= 1024
    return "%.1f %siB" % (b / div, "KMGTPE"[exp])
