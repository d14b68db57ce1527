#!/usr/bin/env python3
"""Rebalance latency of gregor's group coordinator, measured with confluent-kafka.

A measurement, not a test. For each group size N (default 2, 10, 50) it starts N
members (threads in this process, each its own `confluent_kafka.Consumer`) on a topic
with P partitions (default 60, so that every member of the largest group gets one),
while a producer writes a record to every partition every ~50 ms whose value is the
moment it was produced. Then, `--trials` times:

  join   a new member calls subscribe() at t0 and polls. Measured: until the group's
         assignment covers every partition exactly once across all N+1 members
         ("assigned"), and until every member has polled a record produced after its
         own last on_assign callback ("consuming") - the moment the whole group is
         consuming again.
  leave  the new member calls close() (LeaveGroup) at t0; the same two times for the
         N remaining members.

Existing members learn of a rebalance from their next heartbeat (eager protocol), so
up to one `heartbeat.interval.ms` of every figure is the clients' heartbeat timer; each
join and leave happens at a random phase of it. The table is printed for each value of
--heartbeat-ms (default: librdkafka's 3000 and 500). "group formed" is the time for the
N members started together to settle (how many rebalances that takes depends on how
their joins interleave).

The broker is a gregor started here (`$GREGOR_BIN`, else target/release/gregor, else
target/debug/gregor) with group.initial.rebalance.delay.ms 0, or --bootstrap HOST:PORT.

    .test-env/venv/bin/python compat/rebalance_latency.py [--sizes 2,10,50] [--trials 3]
"""

from __future__ import annotations

import argparse
import bisect
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import confluent_kafka as ck
from confluent_kafka.admin import AdminClient, NewTopic

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


class Member(threading.Thread):
    def __init__(self, name: str, conf: dict, topic: str):
        super().__init__(daemon=True, name=name)
        self.c = ck.Consumer(conf)
        self.topic = topic
        self.lock = threading.Lock()
        self.assignment: set[int] = set()
        self.assigned_at = 0.0  # monotonic time of the last on_assign
        self.recs: list[tuple[float, float]] = []  # (received, produced), monotonic s
        self.subscribed_at = None
        self.stop = threading.Event()
        self.closed = threading.Event()
        self.close_started = None

    def on_assign(self, _c, parts):
        with self.lock:
            self.assignment = {tp.partition for tp in parts}
            self.assigned_at = time.monotonic()

    def on_revoke(self, _c, parts):
        with self.lock:
            self.assignment = set()

    def run(self):
        self.subscribed_at = time.monotonic()
        self.c.subscribe([self.topic], on_assign=self.on_assign, on_revoke=self.on_revoke)
        while not self.stop.is_set():
            for m in self.c.consume(num_messages=1000, timeout=0.05):
                if m.error():
                    continue
                now = time.monotonic()
                with self.lock:
                    self.recs.append((now, int(m.value()) / 1e9))
            with self.lock:
                if len(self.recs) > 200_000:
                    del self.recs[:100_000]
        self.close_started = time.monotonic()
        self.c.close()
        self.closed.set()

    def snapshot(self):
        with self.lock:
            return set(self.assignment), self.assigned_at

    def first_after(self, produced_after: float) -> float | None:
        """When this member first received a record produced after `produced_after`."""
        with self.lock:
            # nothing received before that moment can have been produced after it
            i = bisect.bisect_left(self.recs, produced_after, key=lambda r: r[0])
            for recv, prod in self.recs[i:]:
                if prod > produced_after:
                    return recv
        return None


class Producer(threading.Thread):
    """A record to every partition every `period` s; the value is time.monotonic_ns()."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, period: float = 0.05):
        super().__init__(daemon=True)
        self.p = ck.Producer({"bootstrap.servers": bootstrap, "linger.ms": 1, "acks": 1})
        self.topic, self.partitions, self.period = topic, partitions, period
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            t = time.monotonic()
            for p in range(self.partitions):
                self.p.produce(self.topic, value=str(time.monotonic_ns()).encode(), partition=p)
            self.p.poll(0)
            left = self.period - (time.monotonic() - t)
            if left > 0:
                time.sleep(left)
        self.p.flush(10)


def settled(members: list[Member], partitions: int) -> bool:
    seen = []
    for m in members:
        a, _ = m.snapshot()
        if not a:
            return False
        seen.extend(a)
    return sorted(seen) == list(range(partitions))


def wait_settled(members, partitions, timeout=120.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if settled(members, partitions):
            return time.monotonic()
        time.sleep(0.005)
    raise RuntimeError(f"group of {len(members)} did not settle within {timeout}s")


def wait_consuming(members, timeout=120.0) -> float:
    """The moment every member has received a record produced after its last
    assignment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        times = []
        for m in members:
            _, at = m.snapshot()
            t = m.first_after(at)
            if t is None:
                break
            times.append(t)
        else:
            return max(times)
        time.sleep(0.01)
    raise RuntimeError(f"group of {len(members)} not consuming within {timeout}s")


def measure(bootstrap: str, size: int, partitions: int, trials: int, heartbeat_ms: int,
            strategy: str) -> dict:
    topic = f"rebalance-{size}-{heartbeat_ms}-{uuid.uuid4().hex[:6]}"
    group = f"g-{topic}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        f.result(30)
    conf = {"bootstrap.servers": bootstrap, "group.id": group,
            "auto.offset.reset": "latest", "enable.auto.commit": True,
            "session.timeout.ms": max(6000, 3 * heartbeat_ms + 1000),
            "heartbeat.interval.ms": heartbeat_ms,
            "partition.assignment.strategy": strategy}
    prod = Producer(bootstrap, topic, partitions)
    prod.start()
    members = [Member(f"m{i}", conf, topic) for i in range(size)]
    t = time.monotonic()
    for m in members:
        m.start()
    wait_settled(members, partitions)
    wait_consuming(members)
    formed = time.monotonic() - t
    rnd = random.Random(size * 7919 + heartbeat_ms)
    res = {"join_assigned": [], "join_consuming": [], "leave_assigned": [],
           "leave_consuming": [], "formed": formed}
    try:
        for _ in range(trials):
            new = Member(f"new{_}", conf, topic)
            # members heartbeat on a timer restarted by every rebalance: join at a random
            # phase of it, not always the same distance from the last rebalance
            time.sleep(rnd.uniform(0, heartbeat_ms / 1000))
            t0 = time.monotonic()
            new.start()
            group_now = members + [new]
            ta = wait_settled(group_now, partitions)
            tc = wait_consuming(group_now)
            res["join_assigned"].append(ta - t0)
            res["join_consuming"].append(tc - t0)
            time.sleep(0.5 + rnd.uniform(0, heartbeat_ms / 1000))
            t0 = time.monotonic()
            new.stop.set()
            ta = wait_settled(members, partitions)
            tc = wait_consuming(members)
            new.closed.wait(30)
            res["leave_assigned"].append(ta - t0)
            res["leave_consuming"].append(tc - t0)
            time.sleep(0.5)
    finally:
        for m in members:
            m.stop.set()
        for m in members:
            m.join(30)
        prod.stop.set()
        prod.join(15)
    return res


def fmt(xs: list[float]) -> str:
    if not xs:
        return "-"
    return f"{statistics.median(xs):6.2f} ({min(xs):.2f}-{max(xs):.2f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", help="use this broker instead of starting gregor")
    ap.add_argument("--sizes", default="2,10,50")
    ap.add_argument("--partitions", type=int, default=60)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--heartbeat-ms", default="3000,500",
                    help="comma-separated heartbeat.interval.ms values")
    ap.add_argument("--strategy", default="range",
                    help="partition.assignment.strategy (range, roundrobin, cooperative-sticky)")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    heartbeats = [int(s) for s in a.heartbeat_ms.split(",")]
    if a.partitions < max(sizes) + 1:
        ap.error("--partitions must exceed the largest group size")

    gregor = None
    tmp = None
    if a.bootstrap:
        bootstrap = a.bootstrap
    else:
        os.environ.setdefault("RUST_LOG", "warn")
        from conftest import Gregor  # the compat harness: free ports, own data dir

        tmp = tempfile.TemporaryDirectory(prefix="gregor-rebalance-")
        gregor = Gregor(Path(tmp.name), broker={"group.initial.rebalance.delay.ms": 0})
        gregor.start()
        bootstrap = gregor.bootstrap
        print(f"gregor {gregor.bin} on {bootstrap}", file=sys.stderr)

    rows = []
    try:
        for hb in heartbeats:
            for n in sizes:
                print(f"measuring: {n} members, heartbeat {hb} ms ...", file=sys.stderr)
                r = measure(bootstrap, n, a.partitions, a.trials, hb, a.strategy)
                rows.append((n, hb, r))
    finally:
        if gregor is not None:
            gregor.stop(check=False)
            tmp.cleanup()

    print(f"\nRebalance latency, confluent-kafka {ck.__version__} (librdkafka "
          f"{ck.libversion()[0]}), strategy {a.strategy}, {a.partitions} partitions, "
          f"group.initial.rebalance.delay.ms 0, {os.cpu_count()} CPUs; "
          f"seconds, median (min-max) of {a.trials} trials.")
    print("'assigned': every partition assigned once across the members; 'consuming': "
          "every member has polled a record produced after its new assignment "
          "(records every 50 ms per partition).\n")
    head = (f"| members | heartbeat ms | group formed | join: assigned | join: consuming "
            f"| leave: assigned | leave: consuming |")
    print(head)
    print("|" + "---|" * 7)
    for n, hb, r in rows:
        print(f"| {n} (+1) | {hb} | {r['formed']:.2f} | {fmt(r['join_assigned'])} | "
              f"{fmt(r['join_consuming'])} | {fmt(r['leave_assigned'])} | "
              f"{fmt(r['leave_consuming'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
