"""A minimal protobuf reader and writer for the tests (standard library only).

Written from the wire format (criu-format.md §1.2: varints, and fields
keyed by number << 3 | wire type), independently of checkpointfs, so the
tests can read and craft CRIU images without the code under test.

API
---
varint(buf, i) -> (value, i)
    The varint at offset i of buf, and the offset after it. ValueError if
    buf ends inside it or it runs past 10 bytes.
enc_varint(v) -> bytes
    v as a varint; a negative v as its 64-bit two's complement.
fields(buf, fixed_ints=False) -> [(field, wire type, value)]
    Every field of a message, in order: varints as ints, length-delimited
    as bytes, fixed64/fixed32 as their raw 8 or 4 bytes (so that
    encode(fields(b)) == b), or as little-endian ints with fixed_ints.
encode(fields) -> bytes
    The message of [(field, wire type, value)] as fields() returns them.
decode(buf) -> {field: [values]}
    fields(buf, fixed_ints=True), grouped by field number.
field(n, value) -> bytes
    One field: an int as a varint, bytes (or str, as UTF-8) as
    length-delimited.
"""

import struct

WIRE_VARINT, WIRE_I64, WIRE_LEN, WIRE_I32 = 0, 1, 2, 5


def varint(buf, i):
    value = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def enc_varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def fields(buf, fixed_ints=False):
    out, i = [], 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == WIRE_VARINT:
            value, i = varint(buf, i)
        elif wire in (WIRE_I64, WIRE_I32):
            n = 8 if wire == WIRE_I64 else 4
            if i + n > len(buf):
                raise ValueError("truncated fixed field")
            value = bytes(buf[i:i + n])
            if fixed_ints:
                value = struct.unpack("<Q" if n == 8 else "<I", value)[0]
            i += n
        elif wire == WIRE_LEN:
            n, i = varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated length-delimited field")
            value = bytes(buf[i:i + n])
            i += n
        else:
            raise ValueError("wire type %d" % wire)
        out.append((num, wire, value))
    return out


def encode(flds):
    out = bytearray()
    for num, wire, value in flds:
        out += enc_varint(num << 3 | wire)
        if wire == WIRE_VARINT:
            out += enc_varint(value)
        elif wire == WIRE_LEN:
            out += enc_varint(len(value)) + value
        else:
            out += value
    return bytes(out)


def decode(buf):
    out = {}
    for num, _, value in fields(buf, fixed_ints=True):
        out.setdefault(num, []).append(value)
    return out


def field(n, value):
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, (bytes, bytearray)):
        return enc_varint(n << 3 | WIRE_LEN) + enc_varint(len(value)) + bytes(value)
    return enc_varint(n << 3) + enc_varint(value)
