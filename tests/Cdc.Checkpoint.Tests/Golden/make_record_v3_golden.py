#!/usr/bin/env python3
"""Writes FileFormat/v3/checkpoint_postgres.json from docs/file-format.md ("Record, version 3"), independently of the
C# serializer: the library's output must match these bytes, and the library must accept them.

CRC-32C: Castagnoli, reflected polynomial 0x82F63B78, init 0xFFFFFFFF, final XOR 0xFFFFFFFF, over the whole file
with the eight hex digits of "crc32c" replaced by eight ASCII zeros.
"""
import json
import os

def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF

assert crc32c(b"123456789") == 0xE3069283

record = {
    "checkpoint_format_version": 3,
    "source_type": "postgres",
    "committed_event_count": 1842,
    "sequence": 1,
    "saved_at": "2026-11-21T23:47:31.0000000Z",
    "offset": {
        "lsn": "0/16B3F70",
        "slot_name": "orders_slot",
        "system_identifier": "7311234567890123456",
        "timeline": 1,
    },
    "crc32c": "00000000",
}
placeholder = (json.dumps(record, indent=2) + "\n").encode("utf-8")
crc = "%08x" % crc32c(placeholder)
data = placeholder.replace(b'"crc32c": "00000000"', b'"crc32c": "' + crc.encode("ascii") + b'"')
here = os.path.dirname(os.path.abspath(__file__))
os.makedirs(os.path.join(here, "FileFormat", "v3"), exist_ok=True)
with open(os.path.join(here, "FileFormat", "v3", "checkpoint_postgres.json"), "wb") as f:
    f.write(data)
print(crc)
