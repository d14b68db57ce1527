"""Reads Kafka log segment files (`NNNNNNNNNNNNNNNNNNNN.log`) as the tests' independent
check of what gregor wrote to disk: magic v2 record batches back to back, each with a
valid CRC32C. Written from the Kafka record batch format description (KIP-98)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

# Record batch header (magic 2), big-endian:
#   baseOffset i64, batchLength i32, partitionLeaderEpoch i32, magic i8, crc u32,
#   attributes i16, lastOffsetDelta i32, baseTimestamp i64, maxTimestamp i64,
#   producerId i64, producerEpoch i16, baseSequence i32, recordsCount i32
HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
LOG_OVERHEAD = 12  # baseOffset + batchLength
CRC_START = 21  # attributes start: CRC covers attributes .. end of batch

CODECS = {0: None, 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def _crc32c_table():
    poly = 0x82F63B78
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    t = _TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


@dataclass
class Batch:
    position: int
    base_offset: int
    batch_length: int
    leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int
    crc_ok: bool

    @property
    def size(self) -> int:
        return LOG_OVERHEAD + self.batch_length

    @property
    def end(self) -> int:
        return self.position + self.size

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def codec(self) -> str | None:
        return CODECS.get(self.attributes & 0x7, f"unknown({self.attributes & 0x7})")

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & 0x20)


@dataclass
class Segment:
    path: Path
    batches: list[Batch]
    size: int
    valid_bytes: int  # end of the last complete batch

    @property
    def tail_bytes(self) -> int:
        """Bytes after the last complete batch (a torn or garbage tail)."""
        return self.size - self.valid_bytes


def read_segment(path: Path | str) -> Segment:
    data = Path(path).read_bytes()
    batches: list[Batch] = []
    pos = 0
    while pos + LOG_OVERHEAD <= len(data):
        base_offset, batch_length = struct.unpack_from(">qi", data, pos)
        if batch_length < HEADER_SIZE - LOG_OVERHEAD or pos + LOG_OVERHEAD + batch_length > len(data):
            break
        fields = HEADER.unpack_from(data, pos)
        end = pos + LOG_OVERHEAD + batch_length
        crc_ok = fields[4] == crc32c(data[pos + CRC_START:end])
        batches.append(Batch(pos, *fields, crc_ok=crc_ok))
        pos = end
    return Segment(Path(path), batches, len(data), pos)


def read_partition(partition_dir: Path | str) -> list[Segment]:
    """All segments of a partition directory, by base offset."""
    return [read_segment(p) for p in sorted(Path(partition_dir).glob("*.log"))]
