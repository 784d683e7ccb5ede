#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Bad-input test: checkpointfs against damaged and hostile archives.

usage: bad_input.py CKFS_BINARY FIXTURE_TAR
       bad_input.py --craft-only FIXTURE_TAR [OUTDIR]

FIXTURE_TAR is a good plain-CRIU checkpoint tar (criu-counter.tar).  At test
time this script builds bad archives from it in a private temporary directory
and mounts each one with `CKFS -f ARCHIVE MNT`.  It checks one of two
behaviours:

  refused  checkpointfs exits non-zero before mounting, and its stderr is one
           line `checkpointfs: ...` that names the bad member and says what
           is wrong with it;
  mounts   the mount works, the files built from the damaged image fail with
           EIO, and the files that do not depend on it still read.

Every archive is first checked against the intent of the case (the damage is
exactly the one wanted, and nothing else changed), so a `not ok` on the mount
side is about checkpointfs, not about the crafting.  `--craft-only` runs only
those checks (no FUSE needed) and can leave the archives in OUTDIR.

Output: one `ok - ...` / `not ok - ...` line per check, then
`N passed, N failed`.  Exit status: 0 all passed, 1 a check failed, 77 skip
(no /dev/fuse or fusermount3), 99 bad usage or an unusable fixture.

Environment: CKFS_WRAPPER (a command put before the binary, e.g. valgrind),
CKFS_TIMEOUT (seconds for each mount or file operation, default 10),
CKFS_KEEP_TEMP=1 (keep the temporary directory).

Python standard library only.
"""

import copy
import errno
import io
import os
import re
import shlex
import shutil
import stat
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

# --------------------------------------------------------------------------
# CRIU constants (docs: criu-format.md sections 1.3, 2.5 and 3.2)

HEAD_MAGIC = 0x54564319  # IMG_COMMON_MAGIC; not on inventory.img
PSTREE_MAGIC = 0x50273030
CORE_MAGIC = 0x55053847
MM_MAGIC = 0x57492820
PAGEMAP_MAGIC = 0x56084025
BAD_MAGIC = 0xDEADBEEF  # not the magic of any CRIU image

PE_PARENT = 2
PE_PRESENT = 4

# pagemap_entry fields
PM_VADDR = 1
PM_NR_PAGES_U32 = 2  # CRIU <= 4.1 (compat_nr_pages, written as 0 by 4.2+)
PM_IN_PARENT = 3
PM_FLAGS = 4
PM_NR_PAGES_U64 = 5  # CRIU >= 4.2
# pagemap_head fields
PM_HEAD_PAGES_ID = 1
# pstree_entry fields
PSTREE_PID = 1
PSTREE_PPID = 2
# mm_entry fields
MM_SAVED_AUXV = 13
AT_PAGESZ = 6

U64 = 1 << 64
TAR_BLOCK = 512
TAR_RECORD = 20 * TAR_BLOCK

SANITIZER_RE = re.compile(r"Sanitizer|runtime error:|==\d+==")

# --------------------------------------------------------------------------
# Protobuf wire format (proto2, only what the crafted images need)

WT_VARINT, WT_FIXED64, WT_LEN, WT_FIXED32 = 0, 1, 2, 5


class FormatError(Exception):
    """Malformed protobuf, image framing or archive data."""


def encode_varint(value):
    """Encode an unsigned value below 2**64 as a base-128 varint.

    A negative value is taken as its 64-bit two's complement, as protobuf
    does for int32/int64 (it becomes a 10-byte varint).
    """
    if value < 0:
        value += U64
    if not 0 <= value < U64:
        raise ValueError("varint out of range: %d" % value)
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def decode_varint(buf, pos):
    """Decode the varint at buf[pos:]; return (value, next position)."""
    value = 0
    for i in range(10):
        if pos + i >= len(buf):
            raise FormatError("truncated varint at %d" % pos)
        byte = buf[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if value >= U64:
                raise FormatError("varint above 64 bits at %d" % pos)
            return value, pos + i + 1
    raise FormatError("varint longer than 10 bytes at %d" % pos)


def parse_message(buf):
    """Split a message into a list of (field number, wire type, value).

    value is an int for varint and fixed fields, bytes for length-delimited
    ones.  Order and repeats are kept, so encode_message() gives back the
    same bytes for a message written in canonical form.
    """
    fields = []
    pos = 0
    while pos < len(buf):
        key, pos = decode_varint(buf, pos)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise FormatError("field number 0")
        if wt == WT_VARINT:
            value, pos = decode_varint(buf, pos)
        elif wt == WT_FIXED64 or wt == WT_FIXED32:
            width = 8 if wt == WT_FIXED64 else 4
            if pos + width > len(buf):
                raise FormatError("truncated fixed field %d" % num)
            value = int.from_bytes(buf[pos:pos + width], "little")
            pos += width
        elif wt == WT_LEN:
            length, pos = decode_varint(buf, pos)
            if pos + length > len(buf):
                raise FormatError("truncated bytes field %d" % num)
            value = bytes(buf[pos:pos + length])
            pos += length
        else:
            raise FormatError("unsupported wire type %d" % wt)
        fields.append((num, wt, value))
    return fields


def encode_message(fields):
    """Inverse of parse_message()."""
    out = bytearray()
    for num, wt, value in fields:
        out += encode_varint(num << 3 | wt)
        if wt == WT_VARINT:
            out += encode_varint(value)
        elif wt == WT_FIXED64:
            out += value.to_bytes(8, "little")
        elif wt == WT_FIXED32:
            out += value.to_bytes(4, "little")
        elif wt == WT_LEN:
            out += encode_varint(len(value)) + value
        else:
            raise ValueError("unsupported wire type %d" % wt)
    return bytes(out)


def get_field(fields, num, default=None):
    """The last value of field num (proto2 semantics), or default."""
    found = default
    for n, _, value in fields:
        if n == num:
            found = value
    return found


def has_field(fields, num):
    return any(n == num for n, _, _ in fields)


def set_field(fields, num, value, wt=WT_VARINT):
    """A copy of fields with field num set to value (appended if absent)."""
    out = []
    done = False
    for n, w, v in fields:
        if n == num:
            if not done:
                out.append((n, wt, value))
                done = True
            continue
        out.append((n, w, v))
    if not done:
        out.append((num, wt, value))
    return out


def repeated_u64(fields, num):
    """All values of a repeated 64-bit varint field, packed or not."""
    values = []
    for n, wt, value in fields:
        if n != num:
            continue
        if wt == WT_VARINT:
            values.append(value)
        elif wt == WT_LEN:
            pos = 0
            while pos < len(value):
                v, pos = decode_varint(value, pos)
                values.append(v)
    return values


# --------------------------------------------------------------------------
# CRIU image framing: [HEAD_MAGIC] TYPE_MAGIC {u32 SIZE, PAYLOAD[SIZE]}*


class Image:
    """A decoded image: its magics and the raw payload of each entry."""

    def __init__(self, type_magic, entries, head_magic=HEAD_MAGIC):
        self.head_magic = head_magic  # None for inventory.img (no head)
        self.type_magic = type_magic
        self.entries = list(entries)

    def header(self):
        words = [self.type_magic]
        if self.head_magic is not None:
            words.insert(0, self.head_magic)
        return b"".join(struct.pack("<I", w) for w in words)

    def to_bytes(self):
        return self.header() + b"".join(frame_entry(e) for e in self.entries)


def frame_entry(payload):
    return struct.pack("<I", len(payload)) + payload


def parse_image(data, has_head=True):
    """Decode the framing of an image; FormatError if it is not well-formed.

    Only little-endian images are handled; the fixtures are x86_64 dumps.
    """
    pos = 0
    head = None
    if has_head:
        if len(data) < 4:
            raise FormatError("no head magic")
        (head,) = struct.unpack_from("<I", data, 0)
        if head != HEAD_MAGIC:
            raise FormatError("head magic %#x" % head)
        pos = 4
    if len(data) < pos + 4:
        raise FormatError("no type magic")
    (type_magic,) = struct.unpack_from("<I", data, pos)
    pos += 4
    entries = []
    while pos < len(data):
        if pos + 4 > len(data):
            raise FormatError("truncated SIZE at %d" % pos)
        (size,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if pos + size > len(data):
            raise FormatError("entry at %d: SIZE %d but %d bytes remain"
                              % (pos - 4, size, len(data) - pos))
        entries.append(bytes(data[pos:pos + size]))
        pos += size
    return Image(type_magic, entries, head)


def entry_offsets(image):
    """File offset of each entry's SIZE word in image.to_bytes()."""
    offsets = []
    pos = len(image.header())
    for entry in image.entries:
        offsets.append(pos)
        pos += 4 + len(entry)
    return offsets


def with_type_magic(data, magic):
    """Image bytes with the type magic (the u32 after the head) replaced."""
    parse_image(data)  # only a well-formed image with a head magic
    return data[:4] + struct.pack("<I", magic) + data[8:]


def with_last_size_overrun(data, extra=1):
    """Image bytes whose last entry's SIZE claims extra bytes past EOF."""
    image = parse_image(data)
    if not image.entries:
        raise FormatError("image has no entry")
    off = entry_offsets(image)[-1]
    size = len(image.entries[-1]) + extra
    return data[:off] + struct.pack("<I", size) + data[off + 4:]


# --------------------------------------------------------------------------
# pagemap images (criu-format.md section 3.2)


class PagemapEntry:
    def __init__(self, fields):
        self.fields = fields

    @property
    def vaddr(self):
        return get_field(self.fields, PM_VADDR, 0)

    @property
    def nr_pages(self):
        if has_field(self.fields, PM_NR_PAGES_U64):
            return get_field(self.fields, PM_NR_PAGES_U64)
        return get_field(self.fields, PM_NR_PAGES_U32, 0)

    @property
    def flags(self):
        if has_field(self.fields, PM_FLAGS):
            return get_field(self.fields, PM_FLAGS)
        # Images from before CRIU 3.5 have no flags (section 3.2).
        if get_field(self.fields, PM_IN_PARENT):
            return PE_PARENT
        return PE_PRESENT

    @property
    def present(self):
        return bool(self.flags & PE_PRESENT)

    def replaced(self, vaddr=None, nr_pages=None, flags=None):
        """A copy with some values changed, in the layout of this entry.

        A count goes into field 5 when the entry already uses it or the count
        does not fit field 2's uint32; otherwise into field 2.
        """
        fields = list(self.fields)
        if vaddr is not None:
            fields = set_field(fields, PM_VADDR, vaddr)
        if flags is not None:
            fields = set_field(fields, PM_FLAGS, flags)
        if nr_pages is not None:
            if has_field(fields, PM_NR_PAGES_U64) or nr_pages >= 1 << 32:
                fields = set_field(fields, PM_NR_PAGES_U64, nr_pages)
                if has_field(fields, PM_NR_PAGES_U32):
                    fields = set_field(fields, PM_NR_PAGES_U32, 0)
            else:
                fields = set_field(fields, PM_NR_PAGES_U32, nr_pages)
        return PagemapEntry(fields)

    def encode(self):
        return encode_message(self.fields)


class Pagemap:
    def __init__(self, head_fields, entries, type_magic=PAGEMAP_MAGIC):
        self.head_fields = head_fields
        self.entries = entries
        self.type_magic = type_magic

    @classmethod
    def parse(cls, data):
        image = parse_image(data)
        if image.type_magic != PAGEMAP_MAGIC or not image.entries:
            raise FormatError("not a pagemap image")
        head = parse_message(image.entries[0])
        entries = [PagemapEntry(parse_message(e)) for e in image.entries[1:]]
        return cls(head, entries, image.type_magic)

    @property
    def pages_id(self):
        return get_field(self.head_fields, PM_HEAD_PAGES_ID)

    def to_bytes(self):
        payloads = [encode_message(self.head_fields)]
        payloads += [e.encode() for e in self.entries]
        return Image(self.type_magic, payloads).to_bytes()

    def present_bytes(self, page_size):
        """Exact (unbounded) number of bytes the PRESENT runs need."""
        return sum(e.nr_pages * page_size for e in self.entries if e.present)

    def present_bytes_u64(self, page_size):
        """The same sum done the naive way, in wrapping 64-bit arithmetic."""
        total = 0
        for e in self.entries:
            if e.present:
                total = (total + e.nr_pages * page_size) % U64
        return total

    def last_present_index(self):
        for i in range(len(self.entries) - 1, -1, -1):
            if self.entries[i].present:
                return i
        raise FormatError("pagemap has no PRESENT entry")

    def with_entry(self, index, entry):
        entries = list(self.entries)
        entries[index] = entry
        return Pagemap(self.head_fields, entries, self.type_magic)

    def with_appended(self, entry):
        return Pagemap(self.head_fields, self.entries + [entry],
                       self.type_magic)


# --------------------------------------------------------------------------
# Tar archives, rewritten member by member.  Members not touched keep their
# original header and data bytes, so a crafted archive differs from the good
# one only where a case says it does.


def pad_block(n):
    return -n % TAR_BLOCK


class Member:
    def __init__(self, info, raw):
        self.info = info  # tarfile.TarInfo
        self.raw = raw  # header block(s) + data + padding, as written

    @classmethod
    def new(cls, info, data=b""):
        info = copy.copy(info)
        info.size = len(data) if info.isreg() else 0
        header = info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
        body = data if info.isreg() else b""
        return cls(info, header + body + bytes(pad_block(len(body))))


class Archive:
    """A tar archive as an ordered list of members.

    prefix is the image directory inside the tar ('' for a plain CRIU dump,
    'checkpoint/' for a Podman export); names given to the methods are
    relative to it.
    """

    def __init__(self, members, prefix, record=TAR_RECORD):
        self.members = members
        self.prefix = prefix
        self.record = record  # to_bytes() pads the archive to this size

    @classmethod
    def load(cls, path):
        with open(path, "rb") as f:
            blob = f.read()
        members = []
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as tf:
            for info in tf:
                end = info.offset_data
                if info.isreg():
                    end += info.size + pad_block(info.size)
                if end > len(blob):
                    raise FormatError("%s: truncated member %s"
                                      % (path, info.name))
                members.append(Member(info, blob[info.offset:end]))
        prefixes = [m.info.name[:-len("pstree.img")] for m in members
                    if m.info.isreg()
                    and os.path.basename(m.info.name) == "pstree.img"]
        if len(prefixes) != 1:
            raise FormatError("%s: expected exactly one pstree.img" % path)
        # GNU tar pads to whole 10 KiB records, Go's archive/tar (Podman)
        # does not; keep the fixture's habit so that an unchanged archive
        # is rewritten byte for byte.
        record = TAR_RECORD if len(blob) % TAR_RECORD == 0 else TAR_BLOCK
        return cls(members, prefixes[0], record)

    def find(self, name):
        return self.find_full(self.prefix + name)

    def find_full(self, full):
        """Index of the member whose name, as written, is full."""
        for i, m in enumerate(self.members):
            if m.info.name == full:
                return i
        raise KeyError(full)

    def member(self, name):
        return self.members[self.find(name)]

    def names(self):
        """Regular member names relative to the image directory."""
        return [m.info.name[len(self.prefix):] for m in self.members
                if m.info.isreg() and m.info.name.startswith(self.prefix)]

    def data(self, name):
        m = self.member(name)
        return m.raw[len(m.raw) - m.info.size - pad_block(m.info.size):][
            :m.info.size]

    def _copy(self, members):
        return Archive(members, self.prefix, self.record)

    def replaced(self, name, data):
        """A copy with member name's data replaced (same header fields)."""
        members = list(self.members)
        i = self.find(name)
        members[i] = Member.new(members[i].info, data)
        return self._copy(members)

    def replaced_by_symlink(self, name, target):
        members = list(self.members)
        i = self.find(name)
        info = copy.copy(members[i].info)
        info.type = tarfile.SYMTYPE
        info.linkname = target
        info.mode = 0o777
        members[i] = Member.new(info)
        return self._copy(members)

    def without(self, name):
        members = list(self.members)
        del members[self.find(name)]
        return self._copy(members)

    def with_added(self, name, data=b"", symlink_to=None, absolute=False):
        """A copy with a new member at the end.

        name is taken relative to the image directory unless absolute is
        true, in which case it is the member name exactly as written.
        """
        info = tarfile.TarInfo(name if absolute else self.prefix + name)
        info.mtime = self.members[-1].info.mtime
        info.mode = 0o644
        if symlink_to is not None:
            info.type = tarfile.SYMTYPE
            info.linkname = symlink_to
            info.mode = 0o777
        return self._copy(self.members + [Member.new(info, data)])

    def to_bytes(self):
        """The archive with its two zero end blocks, padded to a record."""
        body = b"".join(m.raw for m in self.members) + bytes(2 * TAR_BLOCK)
        return body + bytes(-len(body) % self.record)


def raw_member_names(blob):
    """(name, type flag, link name) of each header, read from the bytes.

    Used to check that crafted names reach the archive unchanged (tarfile
    itself does not sanitize names, but this does not rely on that).
    GNU long-name and pax headers are not expected in crafted archives.
    """
    out = []
    pos = 0
    while pos + TAR_BLOCK <= len(blob):
        block = blob[pos:pos + TAR_BLOCK]
        if block == bytes(TAR_BLOCK):
            break
        name = block[0:100].split(b"\0", 1)[0].decode("utf-8",
                                                       "surrogateescape")
        typeflag = block[156:157]
        size = int(block[124:136].split(b"\0", 1)[0].strip() or b"0", 8)
        linkname = block[157:257].split(b"\0", 1)[0].decode()
        out.append((name, typeflag, linkname))
        pos += TAR_BLOCK + size + pad_block(size)
    return out


# --------------------------------------------------------------------------
# What the good dump contains


class Dump:
    """The facts of the good fixture that the cases are built from."""

    def __init__(self, archive):
        self.archive = archive
        pstree = parse_image(archive.data("pstree.img"))
        if pstree.type_magic != PSTREE_MAGIC:
            raise FormatError("pstree.img: type magic %#x"
                              % pstree.type_magic)
        self.pids = []
        roots = []
        for payload in pstree.entries:
            fields = parse_message(payload)
            pid = get_field(fields, PSTREE_PID)
            self.pids.append(pid)
            if get_field(fields, PSTREE_PPID, 0) == 0:
                roots.append(pid)
        if len(roots) != 1:
            raise FormatError("pstree.img: %d root processes" % len(roots))
        self.root = roots[0]
        self.others = [p for p in self.pids if p != self.root]
        for pid in self.pids:
            for kind in ("core", "mm", "pagemap"):
                archive.member("%s-%d.img" % (kind, pid))
        mm = parse_image(archive.data(self.mm_name))
        if mm.type_magic != MM_MAGIC or len(mm.entries) != 1:
            raise FormatError("%s: not one mm_entry" % self.mm_name)
        auxv = repeated_u64(parse_message(mm.entries[0]), MM_SAVED_AUXV)
        pairs = dict(zip(auxv[0::2], auxv[1::2]))
        self.page_size = pairs.get(AT_PAGESZ, 4096)
        self.pagemap = Pagemap.parse(archive.data(self.pagemap_name))
        self.pages_name = "pages-%d.img" % self.pagemap.pages_id
        self.pages_size = archive.member(self.pages_name).info.size
        if self.pagemap.present_bytes(self.page_size) != self.pages_size:
            raise FormatError("%s does not add up to the size of %s"
                              % (self.pagemap_name, self.pages_name))
        core = parse_image(archive.data(self.core_name))
        if core.type_magic != CORE_MAGIC or len(core.entries) != 1:
            raise FormatError("%s: not one core_entry" % self.core_name)
        # A page that reads from the pages file in the good dump: the first
        # page of the first PRESENT run (offset 0 of the pages file).
        first = next(e for e in self.pagemap.entries if e.present)
        self.probe_vaddr = first.vaddr
        self.probe_bytes = archive.data(self.pages_name)[:64]

    @property
    def core_name(self):
        return "core-%d.img" % self.root

    @property
    def mm_name(self):
        return "mm-%d.img" % self.root

    @property
    def pagemap_name(self):
        return "pagemap-%d.img" % self.root

    def archive_path(self, name):
        """Path of an image member under the mount's archive/ directory."""
        return "archive/" + self.archive.prefix + name


# --------------------------------------------------------------------------
# The cases


class Refused:
    """Contract A: no mount, exit status > 0, one stderr line naming a member.

    names: accepted member names (any one must appear);
    says:  a regex (case-insensitive) the message must match, or None;
    alt:   a regex that, when it matches, is accepted in place of names
           (used where libarchive cannot know the member's name).
    """

    def __init__(self, names, says=None, alt=None):
        self.names = names
        self.says = says
        self.alt = alt


class Mounts:
    """Contract B: mounts; eio paths fail with EIO, ok paths read.

    eio:          paths read with open()/read() that must fail with EIO;
    eio_mem:      (path, [offsets]) for a mem file: open, or each pread,
                  must fail with EIO;
    eio_readlink: paths whose readlink must fail with EIO;
    ok:           (path, expected bytes or None for "any non-empty");
    ok_mem:       (path, offset, expected bytes).
    """

    def __init__(self, eio=(), eio_mem=None, eio_readlink=(), ok=(),
                 ok_mem=None):
        self.eio = list(eio)
        self.eio_mem = eio_mem
        self.eio_readlink = list(eio_readlink)
        self.ok = list(ok)
        self.ok_mem = ok_mem


class Case:
    def __init__(self, cid, title, build, expect):
        self.cid = cid
        self.title = title
        self.build = build  # () -> (archive bytes, [verification notes])
        self.expect = expect  # Refused, Mounts, or a callable(path) -> one


class CraftError(Exception):
    """A crafted archive is not what its case intends (a test bug)."""


def require(cond, what):
    if not cond:
        raise CraftError(what)


def proc_files(pid, names=("status", "comm", "maps", "cmdline")):
    return ["proc/%d/%s" % (pid, n) for n in names]


def same_except(good, bad, names):
    """Check that bad has good's members, in order, except for names.

    names are relative to the image directory.
    """
    skip = {good.prefix + n for n in names}
    good_names = [m.info.name for m in good.members]
    bad_by_name = {m.info.name: m for m in bad.members}
    for m in good.members:
        if m.info.name in skip:
            continue
        other = bad_by_name.get(m.info.name)
        require(other is not None and other.raw == m.raw,
                "member %s changed" % m.info.name)
    kept = [n for n in (m.info.name for m in bad.members) if n in good_names]
    require(kept == [n for n in good_names if n in kept],
            "member order changed")


def reparse(blob, prefix):
    """Read a crafted tar back with tarfile, and with this file's reader."""
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as tf:
        infos = tf.getmembers()
    members = []
    for info in infos:
        end = info.offset_data + (info.size + pad_block(info.size)
                                  if info.isreg() else 0)
        members.append(Member(info, blob[info.offset:end]))
    return Archive(members, prefix)


def make_cases(fixture_blob, dump):
    good = dump.archive
    root, others = dump.root, dump.others
    ps = dump.page_size
    pm = dump.pagemap
    cases = []

    def member_read_ok(names):
        return [(dump.archive_path(n), good.data(n)) for n in names]

    # The files of every process must read in the good archive.
    tree_ok = [(p, None) for pid in dump.pids for p in proc_files(pid)]
    other_ok = [(p, None) for pid in others for p in proc_files(pid)]
    other_mem_ok = [(p, None) for pid in others
                    for p in proc_files(pid, ("comm", "maps", "cmdline"))]

    # 0. control: the writer reproduces the fixture, and it mounts.
    def build_control():
        blob = good.to_bytes()
        require(blob == fixture_blob,
                "rewriting the unchanged archive changed its bytes")
        return blob, ["byte-identical to the fixture"]

    cases.append(Case(
        "control", "unchanged archive (rewritten) mounts and reads",
        build_control,
        Mounts(ok=tree_ok + member_read_ok(["pstree.img", dump.core_name]),
               ok_mem=("proc/%d/mem" % root, dump.probe_vaddr,
                       dump.probe_bytes))))

    # 1. truncated tar
    def cut_at(info_name, where):
        """Cut the fixture inside a member (full name) or its header."""
        i = good.find_full(info_name)
        info = good.members[i].info
        if where == "data":
            require(info.size >= 2, "%s has no data to cut" % info_name)
            cut = info.offset_data + info.size // 2
        else:
            cut = info.offset + TAR_BLOCK // 2
        blob = fixture_blob[:cut]
        require(len(blob) == cut, "cut length")
        if where == "data":
            require(info.offset_data < cut < info.offset_data + info.size,
                    "cut is not inside the data of %s" % info_name)
        else:
            require(info.offset < cut < info.offset + TAR_BLOCK,
                    "cut is not inside the header of %s" % info_name)
        # Every member before the cut one is complete; the cut one is not.
        for m in good.members[:i]:
            end = m.info.offset + len(m.raw)
            require(end <= cut, "an earlier member is cut too")
        notes = ["archive cut at byte %d (%s of %s: %s)" % (
            cut, where, info_name,
            "%d of %d data bytes kept" % (cut - info.offset_data, info.size)
            if where == "data" else
            "%d of 512 header bytes kept" % (cut - info.offset))]
        if where == "header":
            # Python's tarfile takes a partial last header for the end of
            # the archive, so only the bytes can be checked here.
            require(blob[info.offset:] == fixture_blob[info.offset:cut]
                    and len(blob) % TAR_BLOCK == TAR_BLOCK // 2,
                    "the archive does not end in half a header")
            return blob, notes
        try:
            with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as tf:
                for m in tf:
                    if m.isreg():
                        tf.extractfile(m).read()
            raise CraftError("tarfile reads the cut archive without error")
        except tarfile.ReadError:
            notes.append("python tarfile also reports it as truncated")
        return blob, notes

    last_data = [m.info.name for m in good.members
                 if m.info.isreg() and m.info.size >= 2][-1]
    last_member = good.members[-1].info.name
    pages_full = good.prefix + dump.pages_name
    cases.append(Case(
        "truncated-data-last",
        "tar cut in the middle of the data of %s" % last_data,
        lambda: cut_at(last_data, "data"), Refused([last_data])))
    cases.append(Case(
        "truncated-data-pages",
        "tar cut in the middle of the data of %s" % dump.pages_name,
        lambda: cut_at(pages_full, "data"),
        Refused([dump.pages_name])))
    cases.append(Case(
        "truncated-header",
        "tar cut in the middle of the header block of %s" % last_member,
        lambda: cut_at(last_member, "header"),
        lambda path: Refused(
            [last_member],
            alt=r"(?=.*truncat)(?=.*%s)" % re.escape(path))))

    # 2. missing pstree.img
    def build_missing_pstree():
        bad = good.without("pstree.img")
        blob = bad.to_bytes()
        back = reparse(blob, good.prefix)
        require("pstree.img" not in back.names(), "pstree.img still there")
        same_except(good, back, {"pstree.img"})
        return blob, ["pstree.img removed, all other members unchanged"]

    cases.append(Case("missing-pstree", "archive without pstree.img",
                      build_missing_pstree, Refused(["pstree.img"])))

    # Helper for cases that replace one image member.
    def replace_member(name, new_data, check):
        bad = good.replaced(name, new_data)
        blob = bad.to_bytes()
        back = reparse(blob, good.prefix)
        require(back.data(name) == new_data, "%s data not as built" % name)
        same_except(good, back, {name})
        notes = check(good.data(name), back.data(name))
        return blob, notes

    # 3. pstree.img with an unknown type magic
    def check_magic(old, new):
        require(len(old) == len(new) and old[:4] == new[:4]
                and old[8:] == new[8:], "more than the type magic changed")
        require(struct.unpack_from("<I", new, 4)[0] == BAD_MAGIC,
                "type magic is not %#x" % BAD_MAGIC)
        return ["type magic %#x -> %#x, nothing else changed"
                % (struct.unpack_from("<I", old, 4)[0], BAD_MAGIC)]

    cases.append(Case(
        "pstree-bad-magic", "pstree.img with type magic 0xdeadbeef",
        lambda: replace_member(
            "pstree.img",
            with_type_magic(good.data("pstree.img"), BAD_MAGIC),
            check_magic),
        Refused(["pstree.img"], says=r"magic")))

    # 4. pstree.img whose last SIZE runs past the end of the file
    def check_overrun(old, new):
        image = parse_image(old)
        off = entry_offsets(image)[-1]
        (size,) = struct.unpack_from("<I", new, off)
        remain = len(new) - off - 4
        require(size > remain, "SIZE does not run past EOF")
        require(old[:off] == new[:off] and old[off + 4:] == new[off + 4:],
                "more than the last SIZE changed")
        try:
            parse_image(new)
            raise CraftError("framing still parses")
        except FormatError:
            pass
        return ["last entry (at byte %d) SIZE %d, %d bytes remain"
                % (off, size, remain)]

    cases.append(Case(
        "pstree-entry-overrun",
        "pstree.img whose last entry's SIZE is past the end of the file",
        lambda: replace_member(
            "pstree.img", with_last_size_overrun(good.data("pstree.img")),
            check_overrun),
        Refused(["pstree.img"])))

    # 5, 6. a damaged core image: status/comm EIO, the rest of the tree reads
    def core_expect(bad_core):
        return Mounts(
            eio=["proc/%d/status" % root, "proc/%d/comm" % root],
            ok=[(p, None) for p in proc_files(root, ("maps", "cmdline"))]
            + other_ok
            + [(dump.archive_path(dump.core_name), bad_core)])

    core = good.data(dump.core_name)
    core_cut = core[:8 + 4 + len(parse_image(core).entries[0]) // 2]

    def check_core_cut(old, new):
        require(old.startswith(new) and len(new) < len(old),
                "not a prefix of the good core image")
        payload = len(parse_image(old).entries[0])
        kept = len(new) - 12
        require(0 < kept < payload, "the cut is not inside the entry")
        try:
            parse_image(new)
            raise CraftError("framing still parses")
        except FormatError:
            pass
        return ["%s cut to %d bytes: %d of the entry's %d payload bytes"
                % (dump.core_name, len(new), kept, payload)]

    cases.append(Case(
        "core-truncated", "%s cut in the middle of its entry"
        % dump.core_name,
        lambda: replace_member(dump.core_name, core_cut, check_core_cut),
        core_expect(core_cut)))

    core_magic = with_type_magic(core, BAD_MAGIC)
    cases.append(Case(
        "core-bad-magic", "%s with type magic 0xdeadbeef" % dump.core_name,
        lambda: replace_member(dump.core_name, core_magic, check_magic),
        core_expect(core_magic)))

    # 7-9. damaged memory images: maps, cmdline and mem EIO; comm reads.
    def mem_expect(offsets):
        return Mounts(
            eio=["proc/%d/maps" % root, "proc/%d/cmdline" % root],
            eio_mem=("proc/%d/mem" % root, offsets),
            ok=[("proc/%d/comm" % root, None)] + other_mem_ok)

    cases.append(Case(
        "mm-entry-overrun",
        "%s whose entry's SIZE is past the end of the file" % dump.mm_name,
        lambda: replace_member(
            dump.mm_name, with_last_size_overrun(good.data(dump.mm_name)),
            check_overrun),
        mem_expect([dump.probe_vaddr])))

    def build_pagemap(new_pm, check):
        def verify(old, new):
            old_pm = Pagemap.parse(old)
            new_pm2 = Pagemap.parse(new)
            require(new_pm2.head_fields == old_pm.head_fields,
                    "pagemap head changed")
            return check(old_pm, new_pm2)
        return replace_member(dump.pagemap_name, new_pm.to_bytes(), verify)

    def unchanged_but(old_pm, new_pm, indexes):
        for i, e in enumerate(old_pm.entries):
            if i not in indexes:
                require(new_pm.entries[i].encode() == e.encode(),
                        "pagemap entry %d changed" % i)

    li = pm.last_present_index()
    last = pm.entries[li]

    # 8a. the last PRESENT run one page longer than the pages file allows
    def check_longer(old_pm, new_pm):
        unchanged_but(old_pm, new_pm, {li})
        need = new_pm.present_bytes(ps)
        require(need == dump.pages_size + ps and need > dump.pages_size,
                "pages needed do not exceed the pages file by one page")
        e = new_pm.entries[li]
        require(e.nr_pages == last.nr_pages + 1 and e.vaddr == last.vaddr,
                "entry not extended by one page")
        return ["entry %d nr_pages %d -> %d: needs %d bytes, %s has %d"
                % (li, last.nr_pages, e.nr_pages, need, dump.pages_name,
                   dump.pages_size)]

    cases.append(Case(
        "pagemap-run-past-pages",
        "%s: last PRESENT run one page past the end of %s"
        % (dump.pagemap_name, dump.pages_name),
        lambda: build_pagemap(
            pm.with_entry(li, last.replaced(nr_pages=last.nr_pages + 1)),
            check_longer),
        mem_expect([dump.probe_vaddr, last.vaddr])))

    # 8b. an extra PRESENT run of 1000 pages at a high, unused address
    ends = [e.vaddr + e.nr_pages * ps for e in pm.entries]
    extra_vaddr = 0x7FFF00000000
    while any(e.vaddr < extra_vaddr + 1000 * ps and extra_vaddr < end
              for e, end in zip(pm.entries, ends)):
        extra_vaddr += 0x1000000
    extra = last.replaced(vaddr=extra_vaddr, nr_pages=1000, flags=PE_PRESENT)

    def check_extra(old_pm, new_pm):
        unchanged_but(old_pm, new_pm, set())
        require(len(new_pm.entries) == len(old_pm.entries) + 1,
                "no entry appended")
        e = new_pm.entries[-1]
        require(e.vaddr == extra_vaddr and e.nr_pages == 1000
                and e.flags == PE_PRESENT, "appended entry is wrong")
        need = new_pm.present_bytes(ps)
        require(need == dump.pages_size + 1000 * ps, "pages arithmetic")
        return ["appended vaddr=%#x nr_pages=1000 flags=PE_PRESENT: "
                "needs %d bytes, %s has %d"
                % (extra_vaddr, need, dump.pages_name, dump.pages_size)]

    cases.append(Case(
        "pagemap-extra-run",
        "%s: extra PRESENT run of 1000 pages past the end of %s"
        % (dump.pagemap_name, dump.pages_name),
        lambda: build_pagemap(pm.with_appended(extra), check_extra),
        mem_expect([dump.probe_vaddr])))

    # 9a. nr_pages = 2^64 - 1 (field 5)
    def check_u64_max(old_pm, new_pm):
        unchanged_but(old_pm, new_pm, {li})
        e = new_pm.entries[li]
        require(e.nr_pages == U64 - 1, "nr_pages is not 2^64-1")
        varint = encode_varint(U64 - 1)
        require(varint == b"\xff" * 9 + b"\x01", "varint of 2^64-1")
        require(encode_varint(PM_NR_PAGES_U64 << 3) + varint in e.encode(),
                "field 5 does not hold the 10-byte varint")
        return ["entry %d nr_pages (field 5) = 0xffffffffffffffff, "
                "encoded %s" % (li, (encode_varint(PM_NR_PAGES_U64 << 3)
                                     + varint).hex(" "))]

    cases.append(Case(
        "pagemap-count-u64-max",
        "%s: a PRESENT run with nr_pages 2^64-1" % dump.pagemap_name,
        lambda: build_pagemap(
            pm.with_entry(li, last.replaced(nr_pages=U64 - 1)),
            check_u64_max),
        mem_expect([dump.probe_vaddr, last.vaddr])))

    # 9b. a run that starts near 2^64 and wraps past 0.  The page count is
    # kept (at least 2), so only the address arithmetic is wrong.
    wrap_i = max(range(len(pm.entries)),
                 key=lambda i: (pm.entries[i].present
                                and pm.entries[i].nr_pages >= 2, i))
    wrap_e = pm.entries[wrap_i]
    wrap_vaddr = U64 - ps

    def check_wrap(old_pm, new_pm):
        unchanged_but(old_pm, new_pm, {wrap_i})
        e = new_pm.entries[wrap_i]
        require(e.present and e.nr_pages == wrap_e.nr_pages >= 2,
                "no PRESENT run of 2+ pages to move")
        require(e.vaddr == wrap_vaddr and e.vaddr + e.nr_pages * ps > U64,
                "the run does not wrap past 2^64")
        require(new_pm.present_bytes(ps) == dump.pages_size,
                "the page total changed")
        return ["entry %d vaddr %#x -> %#x with nr_pages %d: end wraps to "
                "%#x; page total still %d"
                % (wrap_i, wrap_e.vaddr, e.vaddr, e.nr_pages,
                   (e.vaddr + e.nr_pages * ps) % U64, dump.pages_size)]

    cases.append(Case(
        "pagemap-vaddr-wraps",
        "%s: a PRESENT run at vaddr 2^64-%d that wraps past 0"
        % (dump.pagemap_name, ps),
        lambda: build_pagemap(
            pm.with_entry(wrap_i, wrap_e.replaced(vaddr=wrap_vaddr)),
            check_wrap),
        mem_expect([dump.probe_vaddr])))

    # 9c. nr_pages += 2^64/PAGE_SIZE: a wrapping 64-bit sum of
    # nr_pages * PAGE_SIZE equals the pages file size exactly.
    wrap_count = last.nr_pages + U64 // ps

    def check_sneaky(old_pm, new_pm):
        unchanged_but(old_pm, new_pm, {li})
        e = new_pm.entries[li]
        require(e.nr_pages == wrap_count and e.nr_pages < U64,
                "nr_pages not as intended")
        require(new_pm.present_bytes_u64(ps) == dump.pages_size,
                "the wrapping sum does not match the pages size")
        require(new_pm.present_bytes(ps) > U64, "true sum is not huge")
        return ["entry %d nr_pages %d -> %#x: true need %#x bytes, "
                "64-bit wrapped sum %d == size of %s"
                % (li, last.nr_pages, wrap_count, new_pm.present_bytes(ps),
                   new_pm.present_bytes_u64(ps), dump.pages_name)]

    cases.append(Case(
        "pagemap-count-wraps",
        "%s: nr_pages whose 64-bit byte count wraps to the pages size"
        % dump.pagemap_name,
        lambda: build_pagemap(
            pm.with_entry(li, last.replaced(nr_pages=wrap_count)),
            check_sneaky),
        mem_expect([dump.probe_vaddr, last.vaddr])))

    # 10, 11. hostile member names
    def build_added(name, absolute=False, symlink_to=None):
        bad = good.with_added(name, b"" if symlink_to else b"evil\n",
                              symlink_to=symlink_to, absolute=absolute)
        blob = bad.to_bytes()
        full = name if absolute else good.prefix + name
        raw = raw_member_names(blob)
        require(raw[-1][0] == full, "member name is %r, not %r"
                % (raw[-1][0], full))
        if symlink_to:
            require(raw[-1][1] == tarfile.SYMTYPE
                    and raw[-1][2] == symlink_to, "not the wanted symlink")
        back = reparse(blob, good.prefix)
        same_except(good, back, set())
        require(len(back.members) == len(good.members) + 1, "member count")
        kind = "symlink -> %s" % symlink_to if symlink_to else "regular file"
        return blob, ["member %r (%s) appended; header bytes checked"
                      % (full, kind)]

    for cid, name in (("dotdot-member", "../evil"),
                      ("nested-dotdot-member", "a/../../evil")):
        cases.append(Case(
            cid, "member named %s" % name,
            lambda name=name: build_added(name),
            Refused([good.prefix + name])))
    cases.append(Case(
        "absolute-member", "member named /etc/evil",
        lambda: build_added("/etc/evil", absolute=True),
        Refused(["/etc/evil"])))

    # 12. symlinks
    cases.append(Case(
        "symlink-member", "member evil -> /etc/passwd (symlink)",
        lambda: build_added("evil", symlink_to="/etc/passwd"),
        Mounts(eio_readlink=[dump.archive_path("evil")],
               ok=tree_ok + member_read_ok(["pstree.img", dump.core_name]))))

    def build_pstree_symlink():
        bad = good.replaced_by_symlink("pstree.img", "/etc/passwd")
        blob = bad.to_bytes()
        back = reparse(blob, good.prefix)
        info = back.members[good.find("pstree.img")].info
        require(info.name == good.prefix + "pstree.img" and info.issym()
                and info.linkname == "/etc/passwd", "pstree.img not a symlink")
        same_except(good, back, {"pstree.img"})
        return blob, ["pstree.img replaced in place by a symlink to "
                      "/etc/passwd"]

    cases.append(Case(
        "pstree-symlink", "pstree.img is a symlink to /etc/passwd",
        build_pstree_symlink,
        Refused(["pstree.img"], says=r"not (a )?regular")))

    return cases


# --------------------------------------------------------------------------
# Running checkpointfs


class Hang(Exception):
    pass


def mount_points():
    """Mount points of this mount namespace, from /proc/self/mountinfo.

    Reading mountinfo never touches the FUSE file system, so it cannot
    hang on a stuck daemon (os.path.ismount() would stat the mount).
    """
    points = set()
    with open("/proc/self/mountinfo", encoding="utf-8",
              errors="surrogateescape") as f:
        for line in f:
            field = line.split(" ")[4]
            points.add(re.sub(r"\\([0-7]{3})",
                              lambda m: chr(int(m.group(1), 8)), field))
    return points


class Daemon:
    """One `CKFS -f ARCHIVE MNT` run; always stopped by stop()."""

    def __init__(self, ckfs, archive, mnt, log_prefix, timeout):
        self.ckfs = ckfs
        self.archive = archive
        self.mnt = mnt
        self.log_prefix = log_prefix
        self.timeout = timeout
        self.proc = None
        self.ever_mounted = False
        self.hung = False
        self.cleanup_notes = []

    def mounted(self):
        now = self.mnt in mount_points()
        self.ever_mounted |= now
        return now

    def start(self):
        wrapper = shlex.split(os.environ.get("CKFS_WRAPPER", ""))
        cmd = wrapper + [self.ckfs, "-f", self.archive, self.mnt]
        with open(self.log_prefix + ".stdout", "wb") as out, \
                open(self.log_prefix + ".stderr", "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err)

    def wait_mount_or_exit(self):
        """'mounted', 'exited' or 'timeout'."""
        deadline = time.monotonic() + self.timeout
        while True:
            if self.mounted():
                return "mounted"
            if self.proc.poll() is not None:
                return "mounted" if self.mounted() else "exited"
            if time.monotonic() > deadline:
                return "timeout"
            time.sleep(0.02)

    def stderr(self):
        with open(self.log_prefix + ".stderr", "rb") as f:
            return f.read().decode("utf-8", "replace")

    def call(self, fn):
        """Run a file-system operation, failing with Hang after timeout.

        A stuck call stays blocked in its thread until stop() kills the
        daemon, which aborts the FUSE connection.  After one hang, later
        calls fail at once instead of waiting again.
        """
        if self.hung:
            raise Hang("skipped: an earlier operation hung")
        box = {}

        def run():
            try:
                box["value"] = fn()
            except BaseException as e:  # re-raised in the caller
                box["error"] = e

        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(self.timeout)
        if t.is_alive():
            self.hung = True
            raise Hang("no answer within %g s" % self.timeout)
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def _fusermount(self, *opts):
        try:
            r = subprocess.run(["fusermount3", *opts, self.mnt],
                               stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=self.timeout)
            return r.returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def stop(self):
        """Unmount what was mounted and end the daemon; return its status.

        The result is the exit status after a clean unmount, or None when
        the daemon had to be killed.
        """
        if self.proc is None:
            return None
        if self.proc.poll() is None and not self.mounted():
            # Never mounted (or already gone): nothing to unmount, and the
            # caller has reported the hang already.
            self.proc.kill()
            self.proc.wait()
            return None
        killed = False
        if self.mounted() and not self.hung:
            if not self._fusermount("-u"):
                self.cleanup_notes.append("fusermount3 -u failed")
        if self.hung or self.mounted():
            # Kill first so that a blocked request returns, then detach.
            self.proc.kill()
            killed = True
        try:
            self.proc.wait(self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            killed = True
            self.proc.wait()
        if self.mounted():
            if not self._fusermount("-uz"):
                self.cleanup_notes.append("fusermount3 -uz failed")
        if self.mounted():
            self.cleanup_notes.append("%s is still mounted" % self.mnt)
        if killed:
            self.cleanup_notes.append("daemon had to be killed")
            return None
        return self.proc.returncode


# --------------------------------------------------------------------------
# Checks


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, detail=None):
        if ok:
            self.passed += 1
            print("ok - %s" % what)
        else:
            self.failed += 1
            print("not ok - %s" % what)
            for line in (detail or "").rstrip("\n").splitlines():
                print("#   %s" % line)
        sys.stdout.flush()
        return ok

    def note(self, text):
        for line in text.splitlines():
            print("# %s" % line)
        sys.stdout.flush()


def describe_error(e):
    if isinstance(e, OSError) and e.errno is not None:
        return "%s (%s)" % (errno.errorcode.get(e.errno, e.errno),
                            os.strerror(e.errno))
    return "%s: %s" % (type(e).__name__, e)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def pread_file(path, offset, length):
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, length, offset)
    finally:
        os.close(fd)


def expect_eio(daemon, fn):
    """(True, '') when fn fails with EIO, else (False, what happened)."""
    try:
        result = daemon.call(fn)
    except OSError as e:
        if e.errno == errno.EIO:
            return True, ""
        return False, "failed with %s, not EIO" % describe_error(e)
    except Hang as e:
        return False, "hang: %s" % e
    return False, "succeeded: %r" % (result[:80] if result else result,)


def mem_eio(daemon, path, offsets):
    """EIO at open, or else EIO from a pread at each offset."""
    fd = None
    try:
        fd = daemon.call(lambda: os.open(path, os.O_RDONLY))
    except OSError as e:
        if e.errno == errno.EIO:
            return True, "open gives EIO"
        return False, "open failed with %s, not EIO" % describe_error(e)
    except Hang as e:
        return False, "open: hang: %s" % e
    problems = []
    try:
        for off in offsets:
            ok, what = expect_eio(daemon, lambda off=off: os.pread(fd, 64,
                                                                    off))
            if not ok:
                problems.append("pread at %#x %s" % (off, what))
    finally:
        try:
            daemon.call(lambda: os.close(fd))
        except (OSError, Hang):
            pass
    return not problems, "\n".join(problems)


def escape_paths(work):
    """Places an archive member named evil could escape to."""
    parent = os.path.dirname(work)
    candidates = [
        os.path.join(work, "evil"), os.path.join(parent, "evil"),
        os.path.join(os.path.dirname(parent), "evil"),
        os.path.join(os.getcwd(), "evil"), "/evil", "/etc/evil",
        "/etc/passwd",
    ]
    return sorted(set(candidates))


def snapshot(paths):
    out = {}
    for p in paths:
        try:
            st = os.lstat(p)
            out[p] = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode)
        except FileNotFoundError:
            out[p] = None
    return out


def check_refused(report, label, daemon, state, expect, archive_path):
    rc = daemon.proc.returncode
    err = daemon.stderr()
    report.check(not daemon.ever_mounted and state != "mounted",
                 "%s: does not mount" % label,
                 "the archive was mounted")
    if not report.check(state == "exited", "%s: exits" % label,
                        "still running after %g s (hang)" % daemon.timeout
                        if state == "timeout" else
                        "mounted instead of exiting"):
        return
    report.check(rc is not None and rc > 0,
                 "%s: exit status is non-zero" % label,
                 "killed by signal %d" % -rc if rc is not None and rc < 0
                 else "exit status %s" % rc)
    lines = err.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    shown = "stderr:\n" + (err if err else "(empty)")
    report.check(len(lines) == 1,
                 "%s: stderr is exactly one line" % label,
                 "%d lines; %s" % (len(lines), shown))
    msg = lines[0] if lines else ""
    report.check(msg.startswith("checkpointfs: "),
                 "%s: message starts with 'checkpointfs: '" % label, shown)
    named = any(n in msg for n in expect.names)
    alt = bool(expect.alt and re.search(expect.alt, msg, re.I))
    want = " or ".join(repr(n) for n in expect.names)
    if expect.alt:
        want += " (or says truncated and names %s)" % archive_path
    report.check(named or alt, "%s: message names %s" % (label, want), shown)
    rest = msg[len("checkpointfs: "):] if msg.startswith(
        "checkpointfs: ") else msg
    for n in expect.names + [archive_path]:
        rest = rest.replace(n, " ")
    described = re.search(r"[A-Za-z]{3,}", rest) is not None
    if expect.says:
        described = re.search(expect.says, msg, re.I) is not None
    report.check(described,
                 "%s: message describes the problem%s"
                 % (label, " (matches /%s/)" % expect.says
                    if expect.says else ""), shown)


def check_mounted(report, label, daemon, state, expect):
    if not report.check(state == "mounted", "%s: mounts" % label,
                        ("did not mount within %g s" % daemon.timeout
                         if state == "timeout" else
                         "exited with status %s\nstderr:\n%s"
                         % (daemon.proc.returncode, daemon.stderr()))):
        return
    mnt = daemon.mnt

    def at(rel):
        return os.path.join(mnt, rel)

    for rel, want in expect.ok:
        try:
            data = daemon.call(lambda rel=rel: read_file(at(rel)))
        except (OSError, Hang) as e:
            report.check(False, "%s: %s reads" % (label, rel),
                         describe_error(e))
            continue
        if want is None:
            report.check(len(data) > 0, "%s: %s reads" % (label, rel),
                         "empty")
        else:
            report.check(data == want,
                         "%s: %s reads, bytes as in the archive"
                         % (label, rel),
                         "got %d bytes, want %d" % (len(data), len(want)))
    if expect.ok_mem:
        rel, off, want = expect.ok_mem
        try:
            data = daemon.call(lambda: pread_file(at(rel), off, len(want)))
            ok, detail = data == want, "got %r" % (data,)
        except (OSError, Hang) as e:
            ok, detail = False, describe_error(e)
        report.check(ok, "%s: %s at %#x reads the dumped page"
                     % (label, rel, off), detail)
    for rel in expect.eio:
        ok, detail = expect_eio(daemon, lambda rel=rel: read_file(at(rel)))
        report.check(ok, "%s: reading %s gives EIO" % (label, rel), detail)
    if expect.eio_mem:
        rel, offsets = expect.eio_mem
        ok, detail = mem_eio(daemon, at(rel), offsets)
        report.check(ok, "%s: %s gives EIO (open, or pread at %s)"
                     % (label, rel, ", ".join("%#x" % o for o in offsets)),
                     detail)
    for rel in expect.eio_readlink:
        ok, detail = expect_eio(daemon, lambda rel=rel: os.readlink(at(rel)))
        report.check(ok, "%s: readlink %s gives EIO" % (label, rel), detail)
    report.check(daemon.proc.poll() is None,
                 "%s: daemon still running after the reads" % label,
                 "exited with status %s" % daemon.proc.returncode)


def run_case(report, ckfs, work, case, blob, timeout):
    label = case.cid
    archive = os.path.join(work, case.cid + ".tar")
    with open(archive, "wb") as f:
        f.write(blob)
    mnt = os.path.join(work, "mnt-" + case.cid)
    os.mkdir(mnt)
    expect = case.expect(archive) if callable(case.expect) else case.expect

    watched = escape_paths(work)
    before = snapshot(watched)
    daemon = Daemon(ckfs, archive, mnt, os.path.join(work, case.cid),
                    timeout)
    try:
        daemon.start()
    except OSError as e:
        report.check(False, "%s: %s starts" % (label, ckfs),
                     describe_error(e))
        return
    status = None
    try:
        state = daemon.wait_mount_or_exit()
        if isinstance(expect, Refused):
            check_refused(report, label, daemon, state, expect, archive)
        else:
            check_mounted(report, label, daemon, state, expect)
    finally:
        status = daemon.stop()
    if isinstance(expect, Mounts) and daemon.ever_mounted:
        rc = daemon.proc.returncode
        report.check(status == 0 and not daemon.cleanup_notes,
                     "%s: unmounts, daemon exits 0" % label,
                     "; ".join(daemon.cleanup_notes
                               + ["killed by signal %d" % -rc
                                  if rc is not None and rc < 0 else
                                  "exit status %s" % rc]))
    elif daemon.cleanup_notes:
        report.check(False, "%s: clean stop" % label,
                     "; ".join(daemon.cleanup_notes))
    err = daemon.stderr()
    bad = [line for line in err.splitlines() if SANITIZER_RE.search(line)]
    report.check(not bad, "%s: no sanitizer report in daemon stderr" % label,
                 "\n".join(bad[:20]))
    after = snapshot(watched)
    changed = [p for p in watched if before[p] != after[p]]
    report.check(not changed,
                 "%s: nothing created or changed outside the temp dir"
                 % label, "changed: " + ", ".join(changed))


def craft_all(report, fixture_blob, dump, outdir=None):
    """Build and verify every case; return [(case, blob)] of good builds."""
    built = []
    for case in make_cases(fixture_blob, dump):
        try:
            blob, notes = case.build()
        except (CraftError, FormatError, tarfile.TarError, KeyError) as e:
            report.check(False, "%s: crafted archive is as intended"
                         % case.cid, describe_error(e))
            continue
        report.check(True, "%s: crafted archive is as intended (%s)"
                     % (case.cid, "; ".join(notes)))
        if outdir:
            with open(os.path.join(outdir, case.cid + ".tar"), "wb") as f:
                f.write(blob)
        built.append((case, blob))
    return built


def fuse_usable():
    try:
        if not stat.S_ISCHR(os.stat("/dev/fuse").st_mode):
            return False
    except OSError:
        return False
    return (os.access("/dev/fuse", os.R_OK | os.W_OK)
            and shutil.which("fusermount3") is not None)


def load_fixture(path):
    with open(path, "rb") as f:
        blob = f.read()
    archive = Archive.load(path)
    return blob, Dump(archive)


def main(argv):
    craft_only = len(argv) >= 2 and argv[1] == "--craft-only"
    if craft_only and len(argv) in (3, 4):
        fixture = argv[2]
        outdir = argv[3] if len(argv) == 4 else None
    elif not craft_only and len(argv) == 3:
        ckfs, fixture = os.path.abspath(argv[1]), argv[2]
        outdir = None
    else:
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 99

    if not craft_only and not fuse_usable():
        print("# SKIP: /dev/fuse or fusermount3 is not usable")
        return 77
    try:
        fixture_blob, dump = load_fixture(fixture)
    except (OSError, FormatError, tarfile.TarError, KeyError) as e:
        sys.stderr.write("bad_input.py: %s: unusable fixture: %s\n"
                         % (fixture, describe_error(e)))
        return 99
    if not craft_only and not os.access(ckfs, os.X_OK):
        sys.stderr.write("bad_input.py: %s is not executable\n" % ckfs)
        return 99

    report = Report()
    report.note("fixture %s: image dir %r, root pid %d, other pids %s, "
                "page size %d" % (fixture, dump.archive.prefix, dump.root,
                                  dump.others, dump.page_size))
    if craft_only:
        if outdir:
            os.makedirs(outdir, exist_ok=True)
        craft_all(report, fixture_blob, dump, outdir)
    else:
        timeout = float(os.environ.get("CKFS_TIMEOUT", "10"))
        work = tempfile.mkdtemp(prefix="ckfs-bad-input.")
        keep = os.environ.get("CKFS_KEEP_TEMP") == "1"
        try:
            for case, blob in craft_all(report, fixture_blob, dump):
                report.note("case %s: %s" % (case.cid, case.title))
                run_case(report, ckfs, work, case, blob, timeout)
        finally:
            left = [p for p in mount_points()
                    if p == work or p.startswith(work + "/")]
            for p in left:
                subprocess.run(["fusermount3", "-uz", p],
                               stdin=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            if keep or any(p in mount_points() for p in left):
                report.note("temp dir kept: %s" % work)
            else:
                shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (report.passed, report.failed))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
