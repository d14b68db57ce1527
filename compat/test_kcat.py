"""kcat (librdkafka 2.0.x as packaged by Debian): metadata listing, producing keyed
records with each codec, consuming with -J and -f."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from kafka_clients import (
    CODECS,
    Spec,
    api_versions,
    ck_consume,
    ck_create_topic,
    kp_produce,
)
from segments import read_partition

KCAT = shutil.which("kcat")


def kcat_librdkafka_version() -> tuple[int, ...]:
    out = subprocess.run([KCAT, "-V"], capture_output=True, text=True).stdout
    m = re.search(r"librdkafka (\d+)\.(\d+)\.(\d+)", out)
    assert m, out
    return tuple(int(x) for x in m.groups())


def kcat_sends_codec(bootstrap: str, codec: str | None) -> str | None:
    """The codec kcat really puts on the wire. librdkafka up to 2.11.0 (issue 4956 in
    its tracker) checks gzip, snappy and lz4 support by asking whether the broker takes
    Produce v0; a broker whose Produce floor is v3 (Apache Kafka 4.0 after KIP-896, and
    gregor) gets those batches uncompressed, with the log line "Broker does not support
    compression type gzip: not compressing batch". zstd is checked against Produce v7
    and is unaffected."""
    if codec in ("gzip", "snappy", "lz4") and kcat_librdkafka_version() <= (2, 11, 0):
        produce_min = api_versions(bootstrap)[0][0]
        if produce_min > 0:
            return None
    return codec


@pytest.fixture(scope="module", autouse=True)
def _need_kcat():
    if KCAT is None:
        pytest.fail("kcat is not installed: run scripts/install-test-deps.sh", pytrace=False)


def kcat(bootstrap: str, *args: str, stdin: bytes | None = None, timeout: float = 30):
    r = subprocess.run([KCAT, "-b", bootstrap, *args], input=stdin, capture_output=True,
                       timeout=timeout)
    assert r.returncode == 0, \
        f"kcat {' '.join(args)} exited {r.returncode}\nstderr:\n{r.stderr.decode(errors='replace')[-3000:]}"
    return r


def kcat_consume_json(bootstrap: str, topic: str) -> list[dict]:
    r = kcat(bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-J", "-q")
    return [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]


def test_kcat_metadata_json(gregor, new_topic):
    t = new_topic()
    ck_create_topic(gregor.bootstrap, t, partitions=3)
    md = json.loads(kcat(gregor.bootstrap, "-L", "-J").stdout)
    assert md["brokers"] == [{"id": 1, "name": f"127.0.0.1:{gregor.port}"}]
    assert md["controllerid"] == 1
    topics = {x["topic"]: x for x in md["topics"]}
    assert t in topics, sorted(topics)
    assert "error" not in topics[t], topics[t]
    parts = sorted(topics[t]["partitions"], key=lambda p: p["partition"])
    assert [p["partition"] for p in parts] == [0, 1, 2]
    for p in parts:
        assert p["leader"] == 1
        assert p["replicas"] == [{"id": 1}]
        assert p["isrs"] == [{"id": 1}]

    one = json.loads(kcat(gregor.bootstrap, "-L", "-J", "-t", t).stdout)
    assert [x["topic"] for x in one["topics"]] == [t]


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c or "none")
def test_kcat_produce_consume(gregor, new_topic, codec):
    t = new_topic()
    ck_create_topic(gregor.bootstrap, t, partitions=2)
    lines = [(f"key{i % 17}", f"value-{i}-" + "x" * (i % 50)) for i in range(200)]
    stdin = "".join(f"{k}:{v}\n" for k, v in lines).encode()
    args = ["-P", "-t", t, "-K:", "-H", "src=kcat"]
    if codec:
        args += ["-z", codec]
    kcat(gregor.bootstrap, *args, stdin=stdin)

    msgs = kcat_consume_json(gregor.bootstrap, t)
    assert len(msgs) == 200, f"kcat read {len(msgs)} of 200"
    per_part: dict[int, list[dict]] = {}
    for m in msgs:
        per_part.setdefault(m["partition"], []).append(m)
    for p, ms in per_part.items():
        assert [m["offset"] for m in ms] == list(range(len(ms))), f"partition {p} offsets"
    assert sorted((m["key"], m["payload"]) for m in msgs) == sorted(lines)
    assert all(m["headers"] == ["src", "kcat"] for m in msgs), msgs[0]
    # a key always lands in one partition, and its values keep their order
    for key in {k for k, _ in lines}:
        assert len({m["partition"] for m in msgs if m["key"] == key}) == 1
        assert [m["payload"] for m in sorted((m for m in msgs if m["key"] == key),
                                             key=lambda m: m["offset"])] == \
            [v for k, v in lines if k == key]

    # the same records through librdkafka 2.16 (confluent-kafka), with the same offsets
    got = ck_consume(gregor.bootstrap, t, [0, 1], 200)
    assert sorted((r.partition, r.offset, r.key.decode(), r.value.decode(), r.headers)
                  for r in got) == \
        sorted((m["partition"], m["offset"], m["key"], m["payload"], (("src", b"kcat"),))
               for m in msgs)

    # -f formatting of the same data
    r = kcat(gregor.bootstrap, "-C", "-t", t, "-o", "beginning", "-e", "-q",
             "-f", r"%p|%o|%k|%s\n")
    formatted = sorted(r.stdout.decode().splitlines())
    assert formatted == sorted(f"{m['partition']}|{m['offset']}|{m['key']}|{m['payload']}"
                               for m in msgs)

    on_wire = kcat_sends_codec(gregor.bootstrap, codec)
    gregor.stop()
    for p in (0, 1):
        batches = [b for s in read_partition(gregor.partition_dir(t, p)) for b in s.batches]
        assert {b.codec for b in batches} == {on_wire}, \
            f"kcat -z {codec}: expected {on_wire} batches on disk"
        assert all(b.crc_ok for b in batches)


def test_kcat_reads_python_records(gregor, new_topic):
    """Tombstones, null keys and headers written by kafka-python, as kcat shows them."""
    t = new_topic()
    specs = [
        Spec(0, b"a", b"first", (("h", b"1"), ("h", b"2")), None),
        Spec(0, b"a", None, (), None),
        Spec(0, None, b"no key", (), None),
        Spec(0, b"b", b"", (), None),
    ]
    kp_produce(gregor.bootstrap, t, specs, codec="snappy")  # auto-creates the topic
    msgs = kcat_consume_json(gregor.bootstrap, t)
    assert [(m["offset"], m["key"], m["payload"]) for m in msgs] == \
        [(0, "a", "first"), (1, "a", None), (2, None, "no key"), (3, "b", "")]
    assert msgs[0]["headers"] == ["h", "1", "h", "2"]
    assert all(m["tstype"] == "create" and m["ts"] > 0 for m in msgs)


def test_kcat_produce_to_partition_and_offsets(gregor, new_topic):
    t = new_topic()
    ck_create_topic(gregor.bootstrap, t, partitions=3)
    kcat(gregor.bootstrap, "-P", "-t", t, "-p", "2", stdin=b"one\ntwo\nthree\n")
    kcat(gregor.bootstrap, "-P", "-t", t, "-p", "2", stdin=b"four\n")
    r = kcat(gregor.bootstrap, "-C", "-t", t, "-p", "2", "-o", "1", "-e", "-q",
             "-f", r"%o=%s\n")
    assert r.stdout.decode().splitlines() == ["1=two", "2=three", "3=four"]
    r = kcat(gregor.bootstrap, "-C", "-t", t, "-p", "2", "-o", "-2", "-e", "-q",
             "-f", r"%o=%s\n")
    assert r.stdout.decode().splitlines() == ["2=three", "3=four"]
    r = kcat(gregor.bootstrap, "-Q", "-t", f"{t}:2:-1")  # offset query: latest
    assert f"{t} [2] offset 4" in r.stdout.decode(), r.stdout
