#!/usr/bin/env python3
"""Writes stream-snapshot-v2.bin from the field-by-field spec in docs/snapshot-format.md.

Deliberately independent of the C# encoder (own CRC-32C, own layout code), so the golden test checks the C# code
against the specification rather than against itself. Run: python3 make_stream_snapshot_golden.py
"""
import struct

def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF

assert crc32c(b"123456789") == 0xE3069283

def name(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<I", len(b)) + b

# Keys sorted by ordinal UTF-16 order (all keys here are in the BMP, so this equals code point order).
sources = [("src1", 100), ("src2", 200), ("zürich", 300)]
sinks = [("sink1", 50)]
watermarks = [("src1", 5000), ("src2", 6000), ("zürich", -1)]
states = [("empty", b""), ("op1", bytes([1, 2, 3, 4]))]

payload = struct.pack("<QQq", 42, 7, 1_706_400_000_000)
payload += struct.pack("<I", len(sources)) + b"".join(name(k) + struct.pack("<Q", v) for k, v in sources)
payload += struct.pack("<I", len(sinks)) + b"".join(name(k) + struct.pack("<Q", v) for k, v in sinks)
payload += struct.pack("<I", len(watermarks)) + b"".join(name(k) + struct.pack("<q", v) for k, v in watermarks)
payload += struct.pack("<I", len(states)) + b"".join(name(k) + struct.pack("<I", len(v)) + v for k, v in states)

snapshot = bytes([2]) + payload + struct.pack("<I", crc32c(payload))
with open("stream-snapshot-v2.bin", "wb") as f:
    f.write(snapshot)

empty_payload = struct.pack("<QQq", 1, 1, 0) + struct.pack("<IIII", 0, 0, 0, 0)
with open("stream-snapshot-v2-empty.bin", "wb") as f:
    f.write(bytes([2]) + empty_payload + struct.pack("<I", crc32c(empty_payload)))
print(len(snapshot), hex(crc32c(payload)))
