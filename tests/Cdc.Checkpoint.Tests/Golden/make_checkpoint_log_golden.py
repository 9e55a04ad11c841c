#!/usr/bin/env python3
"""Writes CheckpointLog/checkpoint_log.seg from docs/checkpoint-log-format.md, independently of the C# writer: the
library's segment must start with these bytes (and be zeros after them), and the library must read them.

Two frames of postgres records (sequences 1 and 2, counts 1842 and 1900) in segment 7; then 16 zero bytes stand for
the zero-filled rest of the segment. Each payload is a version 3 record file (docs/file-format.md), its own CRC-32C
included.
"""
import json
import os
import struct

def crc32c(data: bytes, crc: int = 0) -> int:
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF

assert crc32c(b"123456789") == 0xE3069283
assert crc32c(b"56789", crc32c(b"1234")) == 0xE3069283  # continuing a CRC

def record(count: int, sequence: int, lsn: str, saved_at: str) -> bytes:
    value = {
        "checkpoint_format_version": 3,
        "source_type": "postgres",
        "committed_event_count": count,
        "sequence": sequence,
        "saved_at": saved_at,
        "offset": {"lsn": lsn, "slot_name": "orders_slot", "system_identifier": "7311234567890123456", "timeline": 1},
        "crc32c": "00000000",
    }
    placeholder = (json.dumps(value, indent=2) + "\n").encode("utf-8")
    crc = ("%08x" % crc32c(placeholder)).encode("ascii")
    return placeholder.replace(b'"crc32c": "00000000"', b'"crc32c": "' + crc + b'"')

def header(segment_id: int) -> bytes:
    first = b"CDCCKLOG" + struct.pack("<IIQI", 1, 32, segment_id, 0)
    return first + struct.pack("<I", crc32c(first))

def frame(sequence: int, payload: bytes) -> bytes:
    length = (16 + len(payload) + 7) // 8 * 8
    padding = b"\0" * (length - 16 - len(payload))
    length_field = struct.pack("<I", len(payload))
    covered = struct.pack("<Q", sequence) + payload + padding
    crc = crc32c(covered, crc32c(length_field))
    return length_field + struct.pack("<I", crc) + covered

data = header(7)
data += frame(1, record(1842, 1, "0/16B3F70", "2026-11-21T23:47:31.0000000Z"))
data += frame(2, record(1900, 2, "0/16B4000", "2026-11-21T23:47:32.0000000Z"))
data += b"\0" * 16
here = os.path.dirname(os.path.abspath(__file__))
os.makedirs(os.path.join(here, "CheckpointLog"), exist_ok=True)
with open(os.path.join(here, "CheckpointLog", "checkpoint_log.seg"), "wb") as f:
    f.write(data)
print(len(data))
