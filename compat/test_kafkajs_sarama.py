"""kafkajs (Node) and Sarama (Go) against a real gregor.

Both clients are driven through small CLIs that print JSON lines:
  - compat/node/kafkajs_driver.js      (kafkajs 2.2.4, `npm ci` in compat/node)
  - .test-env/bin/sarama_driver        (Sarama 1.22.1, built from compat/go/sarama_driver)
scripts/install-test-deps.sh installs and builds both. A test whose client is missing is
skipped with the reason; everything else asserts real outcomes.

Records are generated here and handed to the drivers as JSON lines (base64 bytes, null
for null), so the comparison is byte for byte: what was sent == what the producer
reports as acknowledged == what a consumer reads back, per partition and in order.

kafkajs cannot consume without a consumer group, so kafkajs-produced data is read back
with Sarama's partition consumers (or confluent-kafka's assign() when Sarama is not
built). The kafkajs group-consume test is an expected failure until groups exist.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "compat" / "node"
KAFKAJS_DRIVER = NODE_DIR / "kafkajs_driver.js"
SARAMA_DRIVER = ROOT / ".test-env" / "bin" / "sarama_driver"
NODE = shutil.which("node")

NODE_ID = 1  # the conftest's broker is node_id 1
DRIVER_TIMEOUT = 60.0  # seconds, per driver run
SARAMA_MAX = "2.2.0"  # sarama.MaxVersion in 1.22.1
SARAMA_CODECS = ["none", "gzip", "snappy", "lz4"]

pytestmark = pytest.mark.timeout(300)


def _kafkajs_missing() -> str | None:
    if NODE is None:
        return "node is not installed"
    if not (NODE_DIR / "node_modules" / "kafkajs" / "package.json").is_file():
        return "kafkajs is not installed (run scripts/install-test-deps.sh, or npm ci in compat/node)"
    return None


def _sarama_missing() -> str | None:
    if not os.access(SARAMA_DRIVER, os.X_OK):
        return ("Sarama driver not built at .test-env/bin/sarama_driver "
                "(run scripts/install-test-deps.sh)")
    return None


def _confluent_available() -> bool:
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        return False
    return True


needs_kafkajs = pytest.mark.skipif(_kafkajs_missing() is not None, reason=_kafkajs_missing() or "")
needs_sarama = pytest.mark.skipif(_sarama_missing() is not None, reason=_sarama_missing() or "")


# ====================================================================== records
class Rec(NamedTuple):
    """A record as a producer acknowledged it or a consumer read it."""
    partition: int
    offset: int | None
    key: bytes | None
    value: bytes | None
    headers: tuple  # ((key bytes, value bytes | None), ...) in wire order
    timestamp: int | None


@dataclass(frozen=True)
class Spec:
    """A record to produce."""
    key: bytes | None
    value: bytes | None
    headers: tuple = ()
    partition: int | None = None
    timestamp: int | None = None

    def to_json(self) -> str:
        d = {
            "key": _b64(self.key),
            "value": _b64(self.value),
            "headers": [[_b64(k), _b64(v)] for k, v in self.headers],
        }
        if self.partition is not None:
            d["partition"] = self.partition
        if self.timestamp is not None:
            d["timestamp"] = self.timestamp
        return json.dumps(d)


def _b64(b: bytes | None) -> str | None:
    return None if b is None else base64.b64encode(b).decode()


def _unb64(s: str | None) -> bytes | None:
    return None if s is None else base64.b64decode(s)


def rec_from_json(d: dict) -> Rec:
    return Rec(
        partition=d["partition"],
        offset=d.get("offset"),
        key=_unb64(d["key"]),
        value=_unb64(d["value"]),
        headers=tuple((_unb64(k), _unb64(v)) for k, v in (d.get("headers") or [])),
        timestamp=d.get("timestamp"),
    )


def specs_for(n: int, partitions: int | None = 1, seed: int = 7, ts_base: int | None = None,
              sarama_only_headers: bool = False, with_headers: bool = True,
              keyed: bool = False) -> list[Spec]:
    """Deterministic records that exercise the awkward cases: binary keys and values,
    null keys, null values (tombstones), empty values, large compressible values,
    headers with a repeated key, an empty value and binary bytes, explicit timestamps.

    partitions=None leaves the choice to the client's partitioner. kafkajs can only send
    UTF-8 header keys, non-null header values and repeated keys next to each other;
    sarama_only_headers adds the cases only Sarama can send (null header value, a
    non-UTF-8 header key, a repeated key split by another)."""
    rnd = random.Random(seed)
    if ts_base is None:
        ts_base = int(time.time() * 1000) - 3_600_000
    out = []
    for i in range(n):
        if keyed:
            key = b"k%d" % (i % 17)
        elif i % 7 == 3:
            key = None
        else:
            key = b"key-%d-" % i + bytes([i % 256, 0, 0xFF])
        if i % 5 == 4:
            value = None
        elif i % 11 == 6:
            value = b""
        elif i % 13 == 0:
            value = (b"compressible %d " % i) * rnd.randint(100, 400)
        else:
            value = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 200)))
        headers: tuple = ()
        if with_headers and i % 3 != 0:
            headers = ((b"h1", b"v%d" % i), (b"h1", b""), (b"bin", bytes([0, i % 256, 0xFF])))
            if sarama_only_headers and i % 2 == 0:
                headers += ((b"\xff\xfe-raw", b"x"), (b"nullv", None), (b"h1", b"again"))
        out.append(Spec(key, value, headers,
                        None if partitions is None else i % partitions, ts_base + i))
    return out


def by_partition(recs: Iterable[Rec]) -> dict[int, list[Rec]]:
    out: dict[int, list[Rec]] = {}
    for r in recs:
        out.setdefault(r.partition, []).append(r)
    return out


def _short(r) -> str:
    return repr(r)[:400]


def assert_acked(specs: list[Spec], acked: list[Rec], what: str,
                 first_offsets: dict[int, int] | None = None) -> None:
    """The producer acknowledged every record, each with the content sent, and each
    partition's offsets run contiguously from first_offsets (default 0) in send order."""
    assert len(acked) == len(specs), f"{what}: {len(acked)} acks for {len(specs)} records"
    for i, (s, a) in enumerate(zip(specs, acked)):
        assert (a.key, a.value, a.headers, a.timestamp) == (s.key, s.value, s.headers, s.timestamp), \
            f"{what}: record {i} was reported as sent differently:\n got  {_short(a)}\n want {_short(s)}"
        if s.partition is not None:
            assert a.partition == s.partition, f"{what}: record {i} went to {a.partition}, not {s.partition}"
        assert a.offset is not None and a.offset >= 0, f"{what}: record {i} has no offset: {a}"
    for p, recs in by_partition(acked).items():
        start = (first_offsets or {}).get(p, 0)
        offsets = [r.offset for r in recs]
        assert offsets == list(range(start, start + len(recs))), \
            f"{what}: partition {p} acked offsets not contiguous from {start}: {offsets[:30]}"


def assert_same(expected: list[Rec], got: list[Rec], what: str, timestamps: bool = True) -> None:
    """Per partition: the same records, in the same order, at the same offsets.
    Timestamps are compared when the expected record carries one, and must be present
    unless timestamps=False (magic-0 messages have none)."""
    exp_p, got_p = by_partition(expected), by_partition(got)
    assert sorted(got_p) == sorted(exp_p), \
        f"{what}: records in partitions {sorted(got_p)}, expected {sorted(exp_p)} " \
        f"({len(got)} of {len(expected)} records)"
    for p, exp in exp_p.items():
        g = got_p[p]
        assert [r.offset for r in g] == [r.offset for r in exp], \
            f"{what}: partition {p}: offsets {[r.offset for r in g][:30]} != {[r.offset for r in exp][:30]}"
        for e, r in zip(exp, g):
            want = e if e.timestamp is not None else e._replace(timestamp=r.timestamp)
            assert r == want, \
                f"{what}: partition {p} offset {e.offset} differs:\n got  {_short(r)}\n want {_short(want)}"
            if timestamps:
                assert r.timestamp is not None, f"{what}: partition {p} offset {e.offset}: no timestamp"


# ====================================================================== drivers
@dataclass
class Run:
    argv: list
    rc: int
    lines: list
    stderr: str

    @property
    def error(self) -> dict:
        """The driver's final error object (its last JSON line on stderr with "error")."""
        for line in reversed(self.stderr.splitlines()):
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if isinstance(d, dict) and "error" in d:
                return d
        return {}

    def describe(self) -> str:
        tail = "\n".join(self.stderr.splitlines()[-25:])
        return f"$ {' '.join(map(str, self.argv))}\nexit {self.rc}\nstderr (tail):\n{tail}"


def _run(argv: list, input_text: str | None, timeout: float, check: bool) -> Run:
    try:
        p = subprocess.run(argv, input=input_text, capture_output=True, text=True,
                           timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        raise AssertionError(f"driver did not finish within {timeout}s: {' '.join(map(str, argv))}\n"
                             f"stdout: {out[-2000:]}\nstderr: {err[-3000:]}") from None
    lines = []
    for line in p.stdout.splitlines():
        if line.strip():
            try:
                lines.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"driver printed a non-JSON line {line!r}\n"
                                     + Run(argv, p.returncode, [], p.stderr).describe()) from None
    run = Run(argv, p.returncode, lines, p.stderr)
    if check and run.rc != 0:
        raise AssertionError("driver failed:\n" + run.describe())
    return run


def kafkajs(gregor, command: str, *args, input_text: str | None = None,
            timeout: float = DRIVER_TIMEOUT, check: bool = True) -> Run:
    argv = [NODE, str(KAFKAJS_DRIVER), command, "--bootstrap", gregor.bootstrap,
            "--timeout-ms", str(int((timeout - 5) * 1000)), *map(str, args)]
    return _run(argv, input_text, timeout, check)


def sarama(gregor, command: str, *args, input_text: str | None = None,
           timeout: float = DRIVER_TIMEOUT, check: bool = True) -> Run:
    argv = [str(SARAMA_DRIVER), command, "-bootstrap", gregor.bootstrap, *map(str, args)]
    return _run(argv, input_text, timeout, check)


def kafkajs_produce(gregor, topic: str, specs: list[Spec], *args, check: bool = True) -> list[Rec] | Run:
    run = kafkajs(gregor, "produce", "--topic", topic, "--input", "-", *args,
                  input_text="\n".join(s.to_json() for s in specs) + "\n", check=check)
    return [rec_from_json(d) for d in run.lines] if check else run


def sarama_produce(gregor, topic: str, specs: list[Spec], *args, check: bool = True) -> list[Rec] | Run:
    # Sarama 1.22 now and then fails a batch with "kafka: broker not connected" (its
    # ErrNotConnected, raised before the request is written; the broker logs nothing)
    # when it races its own connection setup under load. With no retries that surfaced
    # as a failure in ~1 of 5 runs of this file. A few retries let Sarama reconnect;
    # they cannot hide duplicates, which the exact record/offset assertions would catch.
    run = sarama(gregor, "produce", "-topic", topic, "-input", "-", "-retries", 3, *args,
                 input_text="\n".join(s.to_json() for s in specs) + "\n", check=check)
    return [rec_from_json(d) for d in run.lines] if check else run


def sarama_consume(gregor, topic: str, count: int, *args, timeout: float = 30.0) -> list[Rec]:
    """Partition consumers (no group) until `count` records arrived; the driver itself
    gives up after `timeout` (exit 4) and then this fails with what did arrive."""
    run = sarama(gregor, "consume", "-topic", topic, "-count", count, "-timeout", f"{timeout}s",
                 *args, timeout=timeout + 30, check=False)
    recs = [rec_from_json(d) for d in run.lines]
    assert run.rc == 0, f"Sarama consumed {len(recs)} of {count} records\n{run.describe()}"
    return recs


def consume_back(gregor, topic: str, partitions: list[int], count: int) -> list[Rec]:
    """Read `count` records from the start of `partitions` with a group-less consumer:
    Sarama's partition consumers, else confluent-kafka assign(), else skip."""
    if _sarama_missing() is None:
        return sarama_consume(gregor, topic, count, "-partitions", ",".join(map(str, partitions)))
    if _confluent_available():
        import kafka_clients as kc  # the Python-client helpers beside this file
        got = kc.ck_consume(gregor.bootstrap, topic, partitions, count, timeout=30.0)
        return [Rec(r.partition, r.offset, r.key, r.value,
                    tuple((k.encode() if isinstance(k, str) else k, v) for k, v in r.headers),
                    r.timestamp) for r in got]
    pytest.skip(f"no group-less consumer to read back with: {_sarama_missing()}; "
                "confluent-kafka not installed either")


def wait_until(pred: Callable[[], object], timeout: float = 30.0, interval: float = 0.2,
               what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = pred()
            if v:
                return v
            last = v
        except AssertionError as e:
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {str(last)[:1500]}")
        time.sleep(interval)


def kafkajs_offsets(gregor, topic: str) -> dict[int, tuple[int, int]]:
    """partition -> (low, high) as kafkajs' fetchTopicOffsets reports them."""
    return {d["partition"]: (d["low"], d["high"])
            for d in kafkajs(gregor, "offsets", "--topic", topic).lines}


def kafkajs_topic_partitions(gregor, topic: str) -> list[dict]:
    lines = kafkajs(gregor, "metadata", "--topic", topic).lines
    topics = [d for d in lines if d.get("type") == "topic" and d["name"] == topic]
    assert len(topics) == 1, f"metadata for {topic}: {lines}"
    return topics[0]["partitions"]


# ----------------------------------------------------------------- raw ApiVersions
def api_versions(bootstrap: str) -> dict[int, tuple[int, int]]:
    """ApiVersions v0 over a plain socket: api key -> (min, max) the broker advertises."""
    host, port = bootstrap.rsplit(":", 1)
    client_id = b"gregor-compat-probe"
    body = struct.pack(">hhih", 18, 0, 12345, len(client_id)) + client_id
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(struct.pack(">i", len(body)) + body)

        def read(n: int) -> bytes:
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                if not chunk:
                    raise AssertionError(f"ApiVersions: connection closed after {len(buf)} of {n} bytes")
                buf += chunk
            return buf

        (size,) = struct.unpack(">i", read(4))
        resp = read(size)
    corr, err, n = struct.unpack(">ihi", resp[:10])
    assert corr == 12345, f"ApiVersions: correlation id {corr}"
    assert err == 0, f"ApiVersions v0: error code {err}"
    out = {}
    for i in range(n):
        key, lo, hi = struct.unpack(">hhh", resp[10 + 6 * i: 16 + 6 * i])
        out[key] = (lo, hi)
    return out


def supports(versions: dict, api_key: int, version: int) -> bool:
    lo, hi = versions.get(api_key, (1, 0))
    return lo <= version <= hi


PRODUCE, FETCH, LIST_OFFSETS, METADATA, ALTER_CONFIGS = 0, 1, 2, 3, 33


# ====================================================================== kafkajs
@needs_kafkajs
def test_kafkajs_describe_cluster(gregor):
    lines = kafkajs(gregor, "metadata").lines
    cluster = next(d for d in lines if d["type"] == "cluster")
    host, port = gregor.bootstrap.rsplit(":", 1)
    assert cluster["brokers"] == [{"nodeId": NODE_ID, "host": host, "port": int(port)}], cluster
    assert cluster["controller"] == NODE_ID, cluster
    assert isinstance(cluster["clusterId"], str) and cluster["clusterId"], cluster


@needs_kafkajs
def test_kafkajs_admin_create_topic(gregor, new_topic):
    topic = new_topic()
    assert kafkajs(gregor, "admin-create", "--topic", topic, "--partitions", 3).lines == \
        [{"topic": topic, "created": True}]
    parts = kafkajs_topic_partitions(gregor, topic)
    assert [p["partition"] for p in parts] == [0, 1, 2], parts
    for p in parts:
        assert (p["leader"], p["replicas"], p["isr"], p["errorCode"]) == (NODE_ID, [NODE_ID], [NODE_ID], 0), p
    assert topic in kafkajs(gregor, "list-topics").lines[0]["topics"]
    # kafkajs maps TOPIC_ALREADY_EXISTS to `false`
    assert kafkajs(gregor, "admin-create", "--topic", topic, "--partitions", 3).lines == \
        [{"topic": topic, "created": False}]
    assert kafkajs_offsets(gregor, topic) == {0: (0, 0), 1: (0, 0), 2: (0, 0)}


@needs_kafkajs
def test_kafkajs_create_partitions(gregor, new_topic):
    topic = new_topic()
    kafkajs(gregor, "admin-create", "--topic", topic, "--partitions", 1)
    kafkajs(gregor, "admin-create-partitions", "--topic", topic, "--count", 3)
    wait_until(lambda: [p["partition"] for p in kafkajs_topic_partitions(gregor, topic)] == [0, 1, 2],
               what=f"{topic} to have 3 partitions")
    # the new partitions take records
    specs = specs_for(6, partitions=3)
    acked = kafkajs_produce(gregor, topic, specs)
    assert_acked(specs, acked, "kafkajs after createPartitions")
    assert kafkajs_offsets(gregor, topic) == {0: (0, 2), 1: (0, 2), 2: (0, 2)}
    # shrinking is refused (INVALID_PARTITIONS)
    run = kafkajs(gregor, "admin-create-partitions", "--topic", topic, "--count", 2, check=False)
    assert run.rc != 0, f"createPartitions to fewer partitions succeeded\n{run.describe()}"
    assert "INVALID_PARTITIONS" in run.stderr, run.describe()
    assert [p["partition"] for p in kafkajs_topic_partitions(gregor, topic)] == [0, 1, 2]


@needs_kafkajs
def test_kafkajs_delete_topic(gregor, new_topic):
    topic = new_topic()
    kafkajs(gregor, "admin-create", "--topic", topic, "--partitions", 2)
    acked = kafkajs_produce(gregor, topic, specs_for(10, partitions=2))
    assert len(acked) == 10
    assert kafkajs(gregor, "admin-delete", "--topic", topic).lines == [{"deleted": [topic]}]
    wait_until(lambda: topic not in kafkajs(gregor, "list-topics").lines[0]["topics"],
               what=f"{topic} to leave the topic list")
    # created again it starts empty, with the new partition count
    wait_until(lambda: kafkajs(gregor, "admin-create", "--topic", topic, "--partitions", 1,
                               check=False).lines == [{"topic": topic, "created": True}],
               what=f"{topic} to be created again")
    assert kafkajs_offsets(gregor, topic) == {0: (0, 0)}


@needs_kafkajs
@pytest.mark.parametrize("codec", ["none", "gzip"])
def test_kafkajs_produce_roundtrip(gregor, new_topic, codec):
    """kafkajs produces (several batches per partition); a group-less consumer reads
    every partition back byte for byte."""
    topic = new_topic()
    kafkajs(gregor, "admin-create", "--topic", topic, "--partitions", 3)
    specs = specs_for(150, partitions=3)
    acked = kafkajs_produce(gregor, topic, specs, "--compression", codec, "--batch-size", 40)
    assert_acked(specs, acked, f"kafkajs {codec}")
    counts = {p: len(r) for p, r in by_partition(acked).items()}
    assert kafkajs_offsets(gregor, topic) == {p: (0, n) for p, n in counts.items()}
    got = consume_back(gregor, topic, [0, 1, 2], len(specs))
    assert_same(acked, got, f"kafkajs {codec} -> read back")


@needs_kafkajs
def test_kafkajs_produce_autocreates_topic_and_partitions_by_key(gregor, new_topic):
    """No CreateTopics: Metadata auto-creates the topic (num.partitions=1) and kafkajs'
    partitioner sends keyed records there."""
    topic = new_topic()
    specs = specs_for(30, partitions=None, keyed=True)
    acked = kafkajs_produce(gregor, topic, specs, "--compression", "gzip")
    assert_acked(specs, acked, "kafkajs auto-create")
    assert {r.partition for r in acked} == {0}
    assert [p["partition"] for p in kafkajs_topic_partitions(gregor, topic)] == [0]
    assert_same(acked, consume_back(gregor, topic, [0], len(specs)), "kafkajs auto-create -> read back")


@needs_kafkajs
def test_kafkajs_offsets_by_timestamp(gregor, new_topic):
    topic = new_topic()
    kafkajs(gregor, "admin-create", "--topic", topic, "--partitions", 1)
    base = int(time.time() * 1000) - 600_000
    specs = [Spec(b"k%d" % i, b"v%d" % i, partition=0, timestamp=base + 1000 * i) for i in range(10)]
    acked = kafkajs_produce(gregor, topic, specs, "--batch-size", 3)
    assert_acked(specs, acked, "kafkajs timestamps")

    def at(ts: int) -> int:
        lines = kafkajs(gregor, "offsets-by-time", "--topic", topic, "--ts", ts).lines
        assert [d["partition"] for d in lines] == [0], lines
        return lines[0]["offset"]

    assert at(0) == 0
    assert at(base) == 0
    assert at(base + 1) == 1
    assert at(base + 3500) == 4
    assert at(base + 9000) == 9
    # past the last record Kafka answers -1, which kafkajs turns into the high watermark
    assert at(base + 60_000) == 10


@needs_kafkajs
def test_kafkajs_describe_configs(gregor, new_topic):
    topic = new_topic()
    kafkajs(gregor, "admin-create", "--topic", topic, "--partitions", 1,
            "--config", "retention.ms=123456789", "--config", "cleanup.policy=delete")
    res = kafkajs(gregor, "describe-configs", "--topic", topic).lines
    assert len(res) == 1 and res[0]["resourceName"] == topic and res[0]["errorCode"] == 0, res
    entries = {e["name"]: e for e in res[0]["configEntries"]}
    assert entries.get("retention.ms", {}).get("value") == "123456789", entries.get("retention.ms")
    assert entries["retention.ms"]["isDefault"] is False, entries["retention.ms"]
    assert entries.get("cleanup.policy", {}).get("value") == "delete", entries.get("cleanup.policy")
    # asking for one name returns just that one
    one = kafkajs(gregor, "describe-configs", "--topic", topic, "--name", "retention.ms").lines
    assert [(e["name"], e["value"]) for e in one[0]["configEntries"]] == [("retention.ms", "123456789")]


@needs_kafkajs
def test_kafkajs_alter_configs(gregor, new_topic):
    """kafkajs' alterConfigs uses the legacy AlterConfigs API (key 33), not
    IncrementalAlterConfigs. If the broker advertises it, it must work; if not, kafkajs
    must fail cleanly with 'does not support' and the config must be unchanged."""
    topic = new_topic()
    kafkajs(gregor, "admin-create", "--topic", topic, "--partitions", 1, "--config", "retention.ms=1000000")
    run = kafkajs(gregor, "alter-configs", "--topic", topic, "--set", "retention.ms=2000000", check=False)

    def retention() -> str:
        lines = kafkajs(gregor, "describe-configs", "--topic", topic, "--name", "retention.ms").lines
        return lines[0]["configEntries"][0]["value"]

    if ALTER_CONFIGS in api_versions(gregor.bootstrap):
        assert run.rc == 0, run.describe()
        assert run.lines and all(d["errorCode"] == 0 for d in run.lines), run.lines
        wait_until(lambda: retention() == "2000000", what="retention.ms to become 2000000")
    else:
        assert run.rc == 1 and "does not support" in run.stderr, run.describe()
        assert retention() == "1000000"


@needs_kafkajs
def test_kafkajs_consume_group(gregor, new_topic):
    topic = new_topic()
    kafkajs(gregor, "admin-create", "--topic", topic, "--partitions", 2)
    specs = specs_for(40, partitions=2)
    acked = kafkajs_produce(gregor, topic, specs, "--compression", "gzip")
    run = kafkajs(gregor, "consume-group", "--topic", topic, "--group", f"g-{topic}",
                  "--count", len(specs), "--from-beginning", "--retries", 1, timeout=45)
    assert_same(acked, [rec_from_json(d) for d in run.lines], "kafkajs group consumer")


# ====================================================================== Sarama
@needs_sarama
@pytest.mark.parametrize("version", [SARAMA_MAX, "0.11.0.0"])  # Metadata v5 / v1
def test_sarama_metadata(gregor, new_topic, version):
    topic = new_topic()
    lines = sarama(gregor, "metadata", "-topic", topic, "-version", version).lines  # auto-creates
    cluster = next(d for d in lines if d["type"] == "cluster")
    assert cluster["brokers"] == [{"id": NODE_ID, "addr": gregor.bootstrap}], cluster
    assert cluster["controller"] == NODE_ID, cluster
    t = next(d for d in lines if d["type"] == "topic")
    assert t == {"type": "topic", "name": topic,
                 "partitions": [{"partition": 0, "leader": NODE_ID, "replicas": [NODE_ID], "isr": [NODE_ID]}]}, t


@needs_sarama
def test_sarama_create_topic(gregor, new_topic):
    topic = new_topic()
    assert sarama(gregor, "create-topic", "-topic", topic, "-partitions", 4).lines == \
        [{"topic": topic, "created": True}]
    assert sarama(gregor, "create-topic", "-topic", topic, "-partitions", 4).lines == \
        [{"topic": topic, "created": False}]
    offs = sarama(gregor, "offsets", "-topic", topic).lines
    assert offs == [{"partition": p, "oldest": 0, "newest": 0} for p in range(4)]


@needs_sarama
@pytest.mark.parametrize("version", [SARAMA_MAX, "0.11.0.0"])
@pytest.mark.parametrize("codec", SARAMA_CODECS)
def test_sarama_roundtrip(gregor, new_topic, codec, version):
    """SyncProducer (Produce v3, record batches) then partition consumers (Fetch v4):
    keys, headers, nulls, every codec, byte-identical and in order."""
    topic = new_topic()
    sarama(gregor, "create-topic", "-topic", topic, "-partitions", 2)
    specs = specs_for(200, partitions=2, sarama_only_headers=True)
    acked = sarama_produce(gregor, topic, specs, "-compression", codec, "-version", version,
                           "-flush-messages", 30)
    assert_acked(specs, acked, f"Sarama {codec} {version}")
    counts = {p: len(r) for p, r in by_partition(acked).items()}
    offs = sarama(gregor, "offsets", "-topic", topic, "-version", version).lines
    assert offs == [{"partition": p, "oldest": 0, "newest": counts[p]} for p in (0, 1)]
    got = sarama_consume(gregor, topic, len(specs), "-partitions", "all", "-version", version)
    assert_same(acked, got, f"Sarama {codec} {version} -> Sarama")


@needs_sarama
@pytest.mark.parametrize("version", ["2.1.0", SARAMA_MAX])
def test_sarama_zstd(gregor, new_topic, version):
    """Sarama 1.22 sends zstd batches in Produce v3 and reads with Fetch v4. Apache Kafka
    only allows zstd from Produce v7 / Fetch v10 on and answers
    UNSUPPORTED_COMPRESSION_TYPE (76). Either the broker accepts and serves the records
    intact, or it refuses them with 76 and appends nothing; nothing else."""
    topic = new_topic()
    sarama(gregor, "create-topic", "-topic", topic, "-partitions", 1)
    specs = specs_for(60, partitions=1, sarama_only_headers=True)
    run = sarama_produce(gregor, topic, specs, "-compression", "zstd", "-version", version, check=False)
    if run.rc == 0:
        acked = [rec_from_json(d) for d in run.lines]
        assert_acked(specs, acked, f"Sarama zstd {version}")
        assert_same(acked, sarama_consume(gregor, topic, len(specs), "-version", version),
                    f"Sarama zstd {version} -> Sarama")
    else:
        assert run.error.get("code") == 76, \
            f"zstd in Produce v3 refused, but not with UNSUPPORTED_COMPRESSION_TYPE (76):\n{run.describe()}"
        assert sarama(gregor, "offsets", "-topic", topic).lines == [{"partition": 0, "oldest": 0, "newest": 0}]
    # either way the partition still takes other codecs
    more = specs_for(5, partitions=1, seed=99)
    first = {0: 0 if run.rc != 0 else len(specs)}
    acked2 = sarama_produce(gregor, topic, more, "-compression", "gzip", "-version", version)
    assert_acked(more, acked2, "gzip after zstd", first_offsets=first)


@needs_sarama
def test_sarama_hash_partitioner_keeps_key_order(gregor, new_topic):
    topic = new_topic()
    sarama(gregor, "create-topic", "-topic", topic, "-partitions", 3)
    specs = specs_for(120, partitions=None, keyed=True, sarama_only_headers=True)
    acked = sarama_produce(gregor, topic, specs, "-partitioner", "hash", "-compression", "snappy")
    assert_acked(specs, acked, "Sarama hash partitioner")
    where = {}
    for s, a in zip(specs, acked):
        assert where.setdefault(s.key, a.partition) == a.partition, f"key {s.key!r} in two partitions"
    assert len(set(where.values())) > 1, f"17 keys all hashed to one partition: {where}"
    assert_same(acked, sarama_consume(gregor, topic, len(specs), "-partitions", "all"),
                "Sarama hash partitioner -> Sarama")


@needs_sarama
def test_sarama_consume_from_offset(gregor, new_topic):
    topic = new_topic()
    specs = specs_for(25, partitions=1)
    acked = sarama_produce(gregor, topic, specs, "-compression", "lz4", "-flush-messages", 5)
    assert_acked(specs, acked, "Sarama lz4 small batches")
    # offset 7 is inside the batch 5..9: records before it must not be delivered
    got = sarama_consume(gregor, topic, 18, "-offset", 7)
    assert_same(acked[7:], got, "Sarama from offset 7")
    # nothing past the end
    run = sarama(gregor, "consume", "-topic", topic, "-offset", 25, "-count", 1, "-timeout", "2s", check=False)
    assert run.rc == 4 and run.lines == [], run.describe()
    # past the high watermark is out of range
    run = sarama(gregor, "consume", "-topic", topic, "-offset", 1000, "-count", 1, "-timeout", "10s", check=False)
    assert run.rc == 1 and run.error.get("code") == 1, run.describe()  # OFFSET_OUT_OF_RANGE


@needs_sarama
def test_sarama_default_version(gregor, new_topic):
    """Sarama's default Config.Version is 0.8.2.0: Metadata v0, Produce v0 (magic-0
    message sets, no timestamps or headers), Fetch v0, ListOffsets v0, and it never asks
    ApiVersions. Whatever the broker advertises for those must hold: if it advertises
    them all, the round trip must work; otherwise Sarama must fail (no hang) and the
    broker must carry on serving modern clients with nothing appended."""
    topic = new_topic()
    sarama(gregor, "create-topic", "-topic", topic, "-partitions", 1)
    versions = api_versions(gregor.bootstrap)
    legacy = {"Metadata v0": supports(versions, METADATA, 0), "Produce v0": supports(versions, PRODUCE, 0),
              "Fetch v0": supports(versions, FETCH, 0), "ListOffsets v0": supports(versions, LIST_OFFSETS, 0)}
    specs = [Spec(None if i % 4 == 1 else b"k%d" % i, None if i % 5 == 4 else b"v%d" % i, partition=0)
             for i in range(20)]
    run = sarama_produce(gregor, topic, specs, "-version", "default", check=False)
    if all(legacy.values()):
        assert run.rc == 0, f"broker advertises {legacy} but Sarama default version failed:\n{run.describe()}"
        acked = [rec_from_json(d) for d in run.lines]
        assert_acked(specs, acked, "Sarama default version")
        got = sarama_consume(gregor, topic, len(specs), "-version", "default")
        assert_same(acked, got, "Sarama default version -> Sarama", timestamps=False)
    else:
        assert run.rc != 0, \
            f"broker advertises {legacy}, yet Sarama's default-version produce succeeded: {run.lines[:3]}"
        assert sarama(gregor, "offsets", "-topic", topic).lines == [{"partition": 0, "oldest": 0, "newest": 0}]
    # the broker is still up and serving modern clients
    more = specs_for(5, partitions=1)
    first = {0: len(specs) if run.rc == 0 else 0}
    acked2 = sarama_produce(gregor, topic, more)
    assert_acked(more, acked2, "Sarama max version after default version", first_offsets=first)
    assert gregor.running(), "gregor exited"


# ====================================================================== cross-client
@needs_kafkajs
@needs_sarama
def test_kafkajs_produces_sarama_consumes(gregor, new_topic):
    """kafkajs (gzip, several batches) -> Sarama partition consumers (Fetch v4, with
    Metadata v5 at 2.2.0 and v1 at 0.11.0.0), and confluent-kafka too when installed."""
    topic = new_topic()
    kafkajs(gregor, "admin-create", "--topic", topic, "--partitions", 2)
    specs = specs_for(120, partitions=2)
    acked = kafkajs_produce(gregor, topic, specs, "--compression", "gzip", "--batch-size", 25)
    assert_acked(specs, acked, "kafkajs gzip")
    for version in (SARAMA_MAX, "0.11.0.0"):
        got = sarama_consume(gregor, topic, len(specs), "-partitions", "0,1", "-version", version)
        assert_same(acked, got, f"kafkajs -> Sarama {version}")
    # both clients agree on the offsets (ListOffsets v2+ from kafkajs, v1 from Sarama)
    ko = kafkajs_offsets(gregor, topic)
    so = {d["partition"]: (d["oldest"], d["newest"]) for d in sarama(gregor, "offsets", "-topic", topic).lines}
    assert ko == so, (ko, so)
    if _confluent_available():
        import kafka_clients as kc
        got = kc.ck_consume(gregor.bootstrap, topic, [0, 1], len(specs), timeout=30.0)
        got = [Rec(r.partition, r.offset, r.key, r.value,
                   tuple((k.encode() if isinstance(k, str) else k, v) for k, v in r.headers),
                   r.timestamp) for r in got]
        assert_same(acked, got, "kafkajs -> confluent-kafka")


@needs_kafkajs
@needs_sarama
@pytest.mark.parametrize("codec", ["none", "snappy", "lz4"])
def test_sarama_produces_kafkajs_sees_offsets(gregor, new_topic, codec):
    """Sarama writes (also with codecs kafkajs cannot decode without plugins); kafkajs'
    admin sees the right offsets, including by timestamp. Sarama 1.22 leaves every
    batch's max_timestamp at -1; Apache Kafka recomputes it from the records (CreateTime),
    so timestamp lookups still find them."""
    topic = new_topic()
    sarama(gregor, "create-topic", "-topic", topic, "-partitions", 2)
    base = int(time.time() * 1000) - 600_000
    specs = specs_for(40, partitions=2, ts_base=base)
    acked = sarama_produce(gregor, topic, specs, "-compression", codec)
    assert_acked(specs, acked, f"Sarama {codec}")
    assert kafkajs_offsets(gregor, topic) == {0: (0, 20), 1: (0, 20)}
    # record i went to partition i % 2 at offset i // 2 with timestamp base + i
    by_ts = {d["partition"]: d["offset"]
             for d in kafkajs(gregor, "offsets-by-time", "--topic", topic, "--ts", base + 21).lines}
    # first timestamp >= base + 21: record 22 (partition 0, offset 11), record 21 (1, 10)
    assert by_ts == {0: 11, 1: 10}, \
        f"ListOffsets by timestamp {base + 21} on Sarama-written batches gave {by_ts} " \
        f"(20 = the high watermark, i.e. nothing found); want {{0: 11, 1: 10}}"
