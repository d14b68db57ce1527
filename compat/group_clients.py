"""Consumer-group members as separate processes, and what the tests conclude from them.

Every group member in `test_groups.py` is its own OS process, so that it can be
SIGKILLed and so that each has its own client state. All members, whatever the client,
speak the same JSON-lines protocol on stdout, one event a line:

    {"ev": "start", "client": ..., "pid": ...}
    {"ev": "assign", "partitions": [added...], "now": [full assignment]}
    {"ev": "revoke", "partitions": [removed...], "now": [...]}   (also "lost")
    {"ev": "rec", "p": P, "o": O, "v": "id-000123"}
    {"ev": "commit", "offsets": {"P": next_offset, ...}}         a commit the broker accepted
    {"ev": "commit_error", "error": "REBALANCE_IN_PROGRESS", "offsets": {...}}
    {"ev": "error", "error": ...}                                 anything else the client reported
    {"ev": "closed"}                                              after a clean close

A member stops cleanly (commit, close, LeaveGroup unless static) when its stdin
reaches EOF or reads a line `stop`.

Run as a program, this file is the member for the three Python clients:

    python group_clients.py member --client confluent|kafka-python|aiokafka \
        --bootstrap HOST:PORT --topic T --group G [--instance-id I]
        [--session-timeout-ms 6000] [--heartbeat-ms 500]
        [--strategy range|roundrobin|cooperative-sticky] [--commit manual|auto]

With `--commit manual` (the default) a member commits, synchronously, the offsets of
every batch a poll returned before it polls again, and reports the outcome.

The kafkajs and Sarama members are the `group-consume` modes of
`node/kafkajs_driver.js` and `go/sarama_driver`, speaking the same protocol.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
PYTHON = sys.executable
KAFKAJS_DRIVER = HERE / "node" / "kafkajs_driver.js"
SARAMA_DRIVER = REPO_ROOT / ".test-env" / "bin" / "sarama_driver"

ALL_CLIENTS = ["confluent", "kafka-python", "aiokafka", "kafkajs", "sarama"]


def record_value(i: int) -> bytes:
    return b"id-%06d" % i


# ============================================================ test side: member processes
class Member:
    """One group member process and the events it has reported so far."""

    def __init__(self, name: str, argv: list[str], logdir: Path, env: dict | None = None):
        self.name = name
        self.argv = argv
        self.events: list[tuple[float, dict]] = []
        self._lock = threading.Lock()
        self.stderr_path = Path(logdir) / f"member-{name}.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            env=env, start_new_session=True)
        self.killed = False
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"read-{name}")
        self._reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").strip()
            if not line:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"ev": "garbage", "line": line[:300]}
            with self._lock:
                self.events.append((time.monotonic(), ev))

    # ------------------------------------------------------------- views
    def evs(self, kind: str | None = None) -> list[dict]:
        with self._lock:
            return [e for _, e in self.events if kind is None or e.get("ev") == kind]

    def timed(self, kind: str) -> list[tuple[float, dict]]:
        with self._lock:
            return [(t, e) for t, e in self.events if e.get("ev") == kind]

    def assignment(self) -> set[int] | None:
        """The member's current partitions (None before its first assignment)."""
        now = None
        for e in self.evs():
            if e["ev"] in ("assign", "revoke", "lost"):
                now = set(e["now"])
        return now

    def records(self) -> list[tuple[int, int, str]]:
        return [(e["p"], e["o"], e["v"]) for e in self.evs("rec")]

    def committed(self) -> dict[int, int]:
        """Highest offset per partition a commit of this member was accepted for."""
        out: dict[int, int] = {}
        for e in self.evs("commit"):
            for p, o in e["offsets"].items():
                out[int(p)] = max(out.get(int(p), -1), o)
        return out

    def rebalances(self) -> int:
        return len([e for e in self.evs() if e["ev"] in ("assign", "revoke", "lost")])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_tail(self, n: int = 30) -> str:
        try:
            lines = self.stderr_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(lines[-n:])

    def describe(self) -> str:
        errs = [e for e in self.evs() if e["ev"] in ("error", "commit_error", "garbage")]
        return (f"member {self.name} (pid {self.proc.pid}, rc {self.proc.poll()}): "
                f"{len(self.evs('rec'))} records, assignment {sorted(self.assignment() or [])}, "
                f"{self.rebalances()} assign/revoke events, {len(self.evs('commit'))} commits, "
                f"errors {errs[:5]}\n  stderr: {self.stderr_tail(8)}")

    # ------------------------------------------------------------- control
    def stop(self, timeout: float = 30.0) -> int:
        """Asks the member to commit, close and exit; waits."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"stop\n")
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"member {self.name} did not stop within {timeout}s\n"
                                 f"{self.describe()}") from None
        self._reader.join(5)
        return rc

    def kill(self) -> None:
        """SIGKILL (kill -9): no commit, no LeaveGroup."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.killed = True
        self.proc.wait(10)
        self._reader.join(5)

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self._stderr.close()


def member_argv(client: str, bootstrap: str, topic: str, group: str, *,
                instance_id: str | None = None, session_timeout_ms: int = 6000,
                heartbeat_ms: int = 500, strategy: str = "range",
                commit: str = "manual") -> list[str]:
    """The command line of a group member of `client`."""
    if client in ("confluent", "kafka-python", "aiokafka"):
        argv = [PYTHON, str(HERE / "group_clients.py"), "member", "--client", client,
                "--bootstrap", bootstrap, "--topic", topic, "--group", group,
                "--session-timeout-ms", str(session_timeout_ms),
                "--heartbeat-ms", str(heartbeat_ms), "--strategy", strategy,
                "--commit", commit]
        if instance_id:
            argv += ["--instance-id", instance_id]
        return argv
    if client == "kafkajs":
        assert commit == "manual" and strategy == "range" and not instance_id
        return ["node", str(KAFKAJS_DRIVER), "group-consume", "--bootstrap", bootstrap,
                "--topic", topic, "--group", group,
                "--session-timeout-ms", str(session_timeout_ms),
                "--heartbeat-ms", str(heartbeat_ms), "--timeout-ms", "600000"]
    if client == "sarama":
        assert strategy == "range" and not instance_id
        return [str(SARAMA_DRIVER), "group-consume", "-bootstrap", bootstrap,
                "-topic", topic, "-group", group,
                "-session-timeout", f"{session_timeout_ms}ms",
                "-heartbeat", f"{heartbeat_ms}ms"]
    raise ValueError(client)


class Group:
    """The members of one consumer group in a test; stops them all at the end."""

    def __init__(self, client: str, bootstrap: str, topic: str, group: str, logdir: Path,
                 **opts):
        self.client, self.bootstrap, self.topic, self.group = client, bootstrap, topic, group
        self.logdir = Path(logdir)
        self.opts = opts
        self.members: list[Member] = []

    def add(self, name: str | None = None, **overrides) -> Member:
        opts = dict(self.opts)
        opts.update(overrides)
        name = name or f"{self.client}-{len(self.members)}"
        m = Member(name, member_argv(self.client, self.bootstrap, self.topic, self.group,
                                     **opts), self.logdir)
        self.members.append(m)
        return m

    def live(self) -> list[Member]:
        return [m for m in self.members if m.alive() and not m.killed]

    def describe(self) -> str:
        return "\n".join(m.describe() for m in self.members)

    def settled(self, partitions: int, members: list[Member] | None = None) -> bool:
        """Every given member (default: the live ones) holds partitions, and together
        they hold each of `partitions` exactly once."""
        members = self.live() if members is None else members
        seen: list[int] = []
        for m in members:
            a = m.assignment()
            if not a:
                return False
            seen.extend(a)
        return sorted(seen) == list(range(partitions))

    def wait_settled(self, partitions: int, timeout: float = 45.0,
                     members: list[Member] | None = None, what: str = "",
                     quiet: float = 0.0) -> float:
        """Waits until `settled`; with `quiet`, also until no member has had an
        assignment change for that many seconds (clients may rebalance once more right
        after forming a group: kafka-python's leader does when its metadata snapshot
        changes after it assigned)."""
        deadline = time.monotonic() + timeout
        t0 = time.monotonic()
        since, last = None, None
        while time.monotonic() < deadline:
            for m in self.members:
                if not m.alive() and not m.killed and m.proc.returncode not in (None, 0):
                    raise AssertionError(f"member {m.name} exited early\n{self.describe()}")
            if self.settled(partitions, members):
                now = [m.rebalances() for m in self.members]
                if now != last:
                    since, last = time.monotonic(), now
                if time.monotonic() - since >= quiet:
                    return time.monotonic() - t0
            else:
                since, last = None, None
            time.sleep(0.05)
        raise AssertionError(f"group did not settle on {partitions} partitions within "
                             f"{timeout}s {what}\n{self.describe()}")

    def consumed_values(self) -> set[str]:
        return {v for m in self.members for (_, _, v) in m.records()}

    def wait_consumed(self, n: int, timeout: float = 60.0) -> None:
        want = {record_value(i).decode() for i in range(n)}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.consumed_values()
            if want <= got:
                return
            time.sleep(0.1)
        missing = sorted(want - self.consumed_values())
        raise AssertionError(f"{len(missing)} of {n} records never consumed (first "
                             f"{missing[:10]}) within {timeout}s\n{self.describe()}")

    def stop_all(self, timeout: float = 30.0) -> None:
        errors = []
        for m in self.live():
            try:
                self.stop_one(m, timeout)
            except AssertionError as e:
                errors.append(str(e))
        assert not errors, "\n".join(errors)

    @staticmethod
    def stop_one(m: Member, timeout: float = 30.0) -> None:
        rc = m.stop(timeout)
        assert rc == 0, f"member {m.name} exited with {rc}\n{m.describe()}"
        assert m.evs("closed"), f"member {m.name} exited without closing\n{m.describe()}"

    def cleanup(self) -> None:
        for m in self.members:
            m.cleanup()


# ============================================================ test side: verdicts
class Deliveries:
    """Every delivery of every record, across members, and the duplicates among them."""

    def __init__(self, members: list[Member], produced: dict[int, tuple[int, int]]):
        # produced: id -> (partition, offset) from the producer's delivery reports
        self.produced = produced
        self.where = {(p, o): i for i, (p, o) in produced.items()}
        self.by_pos: dict[tuple[int, int], list[str]] = defaultdict(list)
        self.bad_values: list[str] = []
        for m in members:
            for p, o, v in m.records():
                self.by_pos[(p, o)].append(m.name)
                i = self.where.get((p, o))
                if i is None or record_value(i).decode() != v:
                    self.bad_values.append(f"{m.name} got {v!r} at {p}/{o} "
                                           f"(produced there: id {i})")
        self.members = {m.name: m for m in members}

    def lost(self) -> list[tuple[int, int]]:
        return sorted(pos for pos in self.where if pos not in self.by_pos)

    def duplicates(self) -> dict[tuple[int, int], list[str]]:
        return {pos: who for pos, who in self.by_pos.items() if len(who) > 1}

    def unexcused_duplicates(self) -> list[str]:
        """Duplicates that at-least-once does not allow: the member that first got the
        record had a commit accepted past it, so nobody should have been given it again.
        (A record its first consumer never committed may come again: that member died,
        or its commit was refused.)"""
        out = []
        for (p, o), who in sorted(self.duplicates().items()):
            first = self.members[who[0]]
            # per member, positions appear in delivery order; the first delivery is
            # the first member in `who` that got it
            committed = first.committed().get(p, -1)
            if committed > o:
                out.append(f"{p}/{o} delivered to {who}; {first.name} had committed "
                           f"{committed} on partition {p}")
        return out

    def summary(self) -> str:
        d = self.duplicates()
        per_member = Counter(w[0] for w in d.values())
        return (f"{len(self.by_pos)} positions consumed of {len(self.where)} produced, "
                f"{len(self.lost())} lost, {len(d)} duplicated (first consumers: "
                f"{dict(per_member)})")


def commit_errors(members: list[Member]) -> list[str]:
    return [f"{m.name}: {e.get('error')}" for m in members for e in m.evs("commit_error")]


# ============================================================ test side: producing
def produce_ids(bootstrap: str, topic: str, start: int, count: int, rate: float | None = None,
                stop: threading.Event | None = None) -> dict[int, tuple[int, int]]:
    """Produces records id start..start+count-1 (key k-<id>, value id-<id>) with the
    default (keyed) partitioner; returns id -> (partition, offset). With `rate`,
    paced at about that many records a second."""
    import confluent_kafka as ck

    p = ck.Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all",
                     "message.timeout.ms": 30000})
    out: dict[int, tuple[int, int]] = {}
    errors = []

    def cb(err, msg, i):
        if err is not None:
            errors.append((i, err))
        else:
            out[i] = (msg.partition(), msg.offset())

    t0 = time.monotonic()
    for n, i in enumerate(range(start, start + count)):
        if stop is not None and stop.is_set():
            break
        p.produce(topic, key=b"k-%d" % i, value=record_value(i),
                  on_delivery=lambda err, msg, i=i: cb(err, msg, i))
        if rate:
            ahead = (n + 1) / rate - (time.monotonic() - t0)
            if ahead > 0:
                p.poll(ahead)
            else:
                p.poll(0)
    left = p.flush(30)
    assert left == 0 and not errors, f"produce failed: {left} unflushed, errors {errors[:5]}"
    return out


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    a = AdminClient({"bootstrap.servers": bootstrap})
    fs = a.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=10)
    for f in fs.values():
        f.result(20)


# ============================================================ hand-made requests
class Raw:
    """A minimal Kafka wire client for the group APIs (classic, non-flexible versions),
    for requests that clients never send on purpose (stale generations and the like).
    One connection, one request at a time; JoinGroup blocks until the group answers."""

    def __init__(self, bootstrap: str, client_id: str = "gregor-compat-raw", timeout: float = 30):
        import socket

        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.client_id = client_id
        self.corr = 0

    def close(self):
        self.sock.close()

    # encoding
    @staticmethod
    def s(v: str | None) -> bytes:
        import struct

        if v is None:
            return struct.pack(">h", -1)
        b = v.encode()
        return struct.pack(">h", len(b)) + b

    @staticmethod
    def b(v: bytes) -> bytes:
        import struct

        return struct.pack(">i", len(v)) + v

    def call(self, api_key: int, version: int, body: bytes) -> "_Reader":
        import struct

        self.corr += 1
        head = struct.pack(">hhi", api_key, version, self.corr) + self.s(self.client_id)
        msg = head + body
        self.sock.sendall(struct.pack(">i", len(msg)) + msg)
        size = struct.unpack(">i", self._read(4))[0]
        r = _Reader(self._read(size))
        corr = r.i32()
        assert corr == self.corr, f"correlation id {corr} != {self.corr}"
        return r

    def _read(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            buf += chunk
        return buf

    # APIs
    def join(self, group: str, member_id: str = "", topics=("t",), session_ms: int = 6000,
             rebalance_ms: int = 10000) -> dict:
        """JoinGroup v1 with one "range" protocol subscribing to `topics`."""
        import struct

        meta = struct.pack(">hi", 0, len(topics)) + b"".join(self.s(t) for t in topics) + \
            struct.pack(">i", -1)
        body = (self.s(group) + struct.pack(">ii", session_ms, rebalance_ms) + self.s(member_id)
                + self.s("consumer") + struct.pack(">i", 1) + self.s("range") + self.b(meta))
        r = self.call(11, 1, body)
        out = {"error": r.i16(), "generation": r.i32(), "protocol": r.str(),
               "leader": r.str(), "member_id": r.str()}
        out["members"] = [(r.str(), r.bytes()) for _ in range(r.i32())]
        return out

    def sync(self, group: str, generation: int, member_id: str,
             assignments: dict[str, dict[str, list[int]]] | None = None) -> dict:
        """SyncGroup v0; `assignments` member -> topic -> partitions (leader only)."""
        import struct

        parts = []
        for m, topics in (assignments or {}).items():
            a = struct.pack(">hi", 0, len(topics))
            for t, ps in topics.items():
                a += self.s(t) + struct.pack(">i", len(ps)) + b"".join(struct.pack(">i", p) for p in ps)
            a += struct.pack(">i", -1)
            parts.append(self.s(m) + self.b(a))
        body = (self.s(group) + struct.pack(">i", generation) + self.s(member_id)
                + struct.pack(">i", len(parts)) + b"".join(parts))
        r = self.call(14, 0, body)
        return {"error": r.i16(), "assignment": r.bytes()}

    def heartbeat(self, group: str, generation: int, member_id: str) -> int:
        import struct

        return self.call(12, 0, self.s(group) + struct.pack(">i", generation)
                         + self.s(member_id)).i16()

    def leave(self, group: str, member_id: str) -> int:
        return self.call(13, 0, self.s(group) + self.s(member_id)).i16()

    def commit(self, group: str, generation: int, member_id: str, topic: str,
               offsets: dict[int, int]) -> dict[int, int]:
        """OffsetCommit v2; returns partition -> error code."""
        import struct

        body = (self.s(group) + struct.pack(">i", generation) + self.s(member_id)
                + struct.pack(">q", -1) + struct.pack(">i", 1) + self.s(topic)
                + struct.pack(">i", len(offsets))
                + b"".join(struct.pack(">iq", p, o) + self.s("") for p, o in offsets.items()))
        r = self.call(8, 2, body)
        out = {}
        for _ in range(r.i32()):
            r.str()
            for _ in range(r.i32()):
                p = r.i32()
                out[p] = r.i16()
        return out

    def fetch_offsets(self, group: str, topic: str, partitions: list[int]) -> dict[int, tuple[int, int]]:
        """OffsetFetch v1; partition -> (offset, error code)."""
        import struct

        body = (self.s(group) + struct.pack(">i", 1) + self.s(topic)
                + struct.pack(">i", len(partitions))
                + b"".join(struct.pack(">i", p) for p in partitions))
        r = self.call(9, 1, body)
        out = {}
        for _ in range(r.i32()):
            r.str()
            for _ in range(r.i32()):
                p = r.i32()
                off = r.i64()
                r.str()
                out[p] = (off, r.i16())
        return out


class _Reader:
    def __init__(self, data: bytes):
        self.d, self.i = data, 0

    def _take(self, fmt: str):
        import struct

        v = struct.unpack_from(fmt, self.d, self.i)[0]
        self.i += struct.calcsize(fmt)
        return v

    def i16(self):
        return self._take(">h")

    def i32(self):
        return self._take(">i")

    def i64(self):
        return self._take(">q")

    def str(self):
        n = self.i16()
        if n < 0:
            return None
        v = self.d[self.i:self.i + n].decode()
        self.i += n
        return v

    def bytes(self):
        n = self.i32()
        if n < 0:
            return None
        v = self.d[self.i:self.i + n]
        self.i += n
        return v


# ============================================================ member side
class _Stop:
    """Set when stdin says `stop` or reaches EOF."""

    def __init__(self):
        self.ev = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self):
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        self.ev.set()

    def __bool__(self):
        return self.ev.is_set()


_out_lock = threading.Lock()


def emit(**ev) -> None:
    line = json.dumps(ev)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _run_confluent(a, stop: _Stop) -> None:
    import confluent_kafka as ck

    conf = {
        "bootstrap.servers": a.bootstrap,
        "group.id": a.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": a.commit == "auto",
        "auto.commit.interval.ms": 200,
        "session.timeout.ms": a.session_timeout_ms,
        "heartbeat.interval.ms": a.heartbeat_ms,
        "partition.assignment.strategy": a.strategy,
        "topic.metadata.refresh.interval.ms": 2000,
    }
    if a.instance_id:
        conf["group.instance.id"] = a.instance_id
    c = ck.Consumer(conf)
    now: set[int] = set()
    eager = a.strategy != "cooperative-sticky"

    def on_assign(_c, parts):
        now.update(tp.partition for tp in parts)
        emit(ev="assign", partitions=sorted(tp.partition for tp in parts), now=sorted(now))

    def on_revoke(_c, parts):
        gone = {tp.partition for tp in parts}
        now.difference_update(gone)
        emit(ev="revoke", partitions=sorted(gone), now=sorted(now))

    def on_lost(_c, parts):
        gone = {tp.partition for tp in parts}
        now.difference_update(gone)
        emit(ev="lost", partitions=sorted(gone), now=sorted(now))

    c.subscribe([a.topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    emit(ev="start", client="confluent", pid=os.getpid(), eager=eager)
    while not stop:
        msgs = c.consume(num_messages=200, timeout=0.2)
        batch: dict[int, int] = {}
        for m in msgs:
            if m.error():
                emit(ev="error", error=str(m.error()))
                continue
            emit(ev="rec", p=m.partition(), o=m.offset(), v=m.value().decode())
            batch[m.partition()] = m.offset() + 1
        if batch and a.commit == "manual":
            tps = [ck.TopicPartition(a.topic, p, o) for p, o in sorted(batch.items())]
            try:
                res = c.commit(offsets=tps, asynchronous=False)
                bad = {tp.partition: str(tp.error) for tp in res if tp.error}
                ok = {str(tp.partition): tp.offset for tp in res if not tp.error}
                if ok:
                    emit(ev="commit", offsets=ok)
                if bad:
                    emit(ev="commit_error", error=str(bad), offsets=batch)
            except ck.KafkaException as e:
                err = e.args[0]
                emit(ev="commit_error", error=err.name() if hasattr(err, "name") else str(e),
                     offsets={str(p): o for p, o in batch.items()})
    c.close()
    emit(ev="closed")


def _run_kafka_python(a, stop: _Stop) -> None:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.consumer.subscription_state import ConsumerRebalanceListener
    from kafka.errors import KafkaError
    from kafka.structs import OffsetAndMetadata
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    assignors = {"range": [RangePartitionAssignor],
                 "roundrobin": [RoundRobinPartitionAssignor]}[a.strategy]
    kw = dict(bootstrap_servers=a.bootstrap, group_id=a.group, enable_auto_commit=a.commit == "auto",
              auto_commit_interval_ms=200, auto_offset_reset="earliest",
              session_timeout_ms=a.session_timeout_ms, heartbeat_interval_ms=a.heartbeat_ms,
              partition_assignment_strategy=assignors)
    if a.instance_id:
        kw["group_instance_id"] = a.instance_id
    c = KafkaConsumer(**kw)
    now: set[int] = set()

    class L(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            gone = {tp.partition for tp in revoked}
            now.difference_update(gone)
            emit(ev="revoke", partitions=sorted(gone), now=sorted(now))

        def on_partitions_assigned(self, assigned):
            now.update(tp.partition for tp in assigned)
            emit(ev="assign", partitions=sorted(tp.partition for tp in assigned), now=sorted(now))

        def on_partitions_lost(self, lost):
            gone = {tp.partition for tp in lost}
            now.difference_update(gone)
            emit(ev="lost", partitions=sorted(gone), now=sorted(now))

    # kafka-python 3.0.12 can wedge a member for good (no heartbeats, no rejoin, never
    # notices it was evicted): when a leader whose first assignment lacked the topic's
    # metadata rejoins and poll()'s timeout expires during that JoinGroup/SyncGroup,
    # the in-flight join is never completed, because need_rejoin() is False by the
    # next poll. Fetching the topic's metadata before subscribing avoids the
    # metadata-triggered rejoin; a poll timeout longer than a rebalance makes the race
    # rare. See FINDINGS.md.
    c.partitions_for_topic(a.topic)
    c.subscribe([a.topic], listener=L())
    emit(ev="start", client="kafka-python", pid=os.getpid())
    while not stop:
        got = c.poll(timeout_ms=1000, max_records=200)
        batch: dict[int, int] = {}
        for tp, recs in got.items():
            for r in recs:
                emit(ev="rec", p=r.partition, o=r.offset, v=r.value.decode())
                batch[r.partition] = r.offset + 1
        if batch and a.commit == "manual":
            offsets = {TopicPartition(a.topic, p): OffsetAndMetadata(o, "", -1)
                       for p, o in batch.items()}
            try:
                c.commit(offsets)
                emit(ev="commit", offsets={str(p): o for p, o in batch.items()})
            except KafkaError as e:
                emit(ev="commit_error", error=f"{type(e).__name__}: {e}",
                     offsets={str(p): o for p, o in batch.items()})
    c.close()
    emit(ev="closed")


def _run_aiokafka(a, stop: _Stop) -> None:
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.abc import ConsumerRebalanceListener
    from aiokafka.errors import KafkaError
    from aiokafka.coordinator.assignors.range import RangePartitionAssignor
    from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    assignors = {"range": (RangePartitionAssignor,),
                 "roundrobin": (RoundRobinPartitionAssignor,)}[a.strategy]

    async def main():
        kw = dict(bootstrap_servers=a.bootstrap, group_id=a.group,
                  enable_auto_commit=a.commit == "auto", auto_commit_interval_ms=200,
                  auto_offset_reset="earliest", session_timeout_ms=a.session_timeout_ms,
                  heartbeat_interval_ms=a.heartbeat_ms, partition_assignment_strategy=assignors)
        if a.instance_id:
            kw["group_instance_id"] = a.instance_id
        c = AIOKafkaConsumer(**kw)
        now: set[int] = set()

        class L(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked):
                gone = {tp.partition for tp in revoked}
                now.difference_update(gone)
                emit(ev="revoke", partitions=sorted(gone), now=sorted(now))

            async def on_partitions_assigned(self, assigned):
                now.update(tp.partition for tp in assigned)
                emit(ev="assign", partitions=sorted(tp.partition for tp in assigned),
                     now=sorted(now))

        await c.start()
        c.subscribe([a.topic], listener=L())
        emit(ev="start", client="aiokafka", pid=os.getpid())
        try:
            while not stop:
                got = await c.getmany(timeout_ms=200, max_records=200)
                batch: dict[int, int] = {}
                for tp, recs in got.items():
                    for r in recs:
                        emit(ev="rec", p=r.partition, o=r.offset, v=r.value.decode())
                        batch[r.partition] = r.offset + 1
                if batch and a.commit == "manual":
                    try:
                        await c.commit({TopicPartition(a.topic, p): o for p, o in batch.items()})
                        emit(ev="commit", offsets={str(p): o for p, o in batch.items()})
                    except KafkaError as e:
                        emit(ev="commit_error", error=f"{type(e).__name__}: {e}",
                             offsets={str(p): o for p, o in batch.items()})
        finally:
            await c.stop()
        emit(ev="closed")

    asyncio.run(main())


def _member_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="group_clients.py member")
    ap.add_argument("--client", required=True, choices=["confluent", "kafka-python", "aiokafka"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--instance-id")
    ap.add_argument("--session-timeout-ms", type=int, default=6000)
    ap.add_argument("--heartbeat-ms", type=int, default=500)
    ap.add_argument("--strategy", default="range")
    ap.add_argument("--commit", default="manual", choices=["manual", "auto"])
    a = ap.parse_args(argv)
    import logging

    # GROUP_MEMBER_LOG=DEBUG shows the client's own log on the member's stderr
    logging.basicConfig(level=os.environ.get("GROUP_MEMBER_LOG", "WARNING").upper(),
                        stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = _Stop()
    {"confluent": _run_confluent, "kafka-python": _run_kafka_python,
     "aiokafka": _run_aiokafka}[a.client](a, stop)
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "member":
        sys.stderr.write(__doc__)
        sys.exit(2)
    sys.exit(_member_main(sys.argv[2:]))
