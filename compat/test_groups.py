"""Consumer groups (classic protocol) with real clients against a real gregor.

Every group member is its own process (`group_clients.py`: confluent-kafka,
kafka-python and aiokafka members; the `group-consume` modes of the kafkajs and Sarama
drivers), reporting assignments, records and accepted commits as JSON lines. Records
carry their id in the value ("id-000123"), so that each delivery can be checked against
what the producer was told (partition, offset) and counted across members.

The broker runs with `group.initial.rebalance.delay.ms: 0` and members with the
minimum session timeout (6 s) and a 500 ms heartbeat, so that rebalances are quick.

Regression tests for two OffsetCommit bugs these tests found (FINDINGS.md, "Consumer
groups"): a commit from a current member while the group is PreparingRebalance must be
accepted, as Kafka does, or members that never died receive records again
(`test_confluent_member_joins_and_member_killed_mid_stream`,
`test_offset_commit_accepted_while_preparing_rebalance`); an offsets-only commit to a
group with members gets UNKNOWN_MEMBER_ID
(`test_offset_commit_without_member_to_active_group`).
"""

from __future__ import annotations

import threading
import time

import confluent_kafka as ck
import pytest
from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka.admin import AdminClient

from group_clients import (ALL_CLIENTS, SARAMA_DRIVER, Deliveries, Group, Raw, commit_errors,
                           create_topic, produce_ids, record_value)
from kafka_clients import wait_until

GROUP_BROKER = {
    "group.initial.rebalance.delay.ms": 0,
    "group.min.session.timeout.ms": 6000,
}

# Kafka error codes
NONE, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS = 0, 22, 25, 27


@pytest.fixture
def gbroker(gregor_factory):
    return gregor_factory(broker=GROUP_BROKER)


@pytest.fixture
def paced():
    """paced(bootstrap, topic, start, count, rate) -> a started Paced producer, halted at
    teardown."""
    made: list[Paced] = []

    def make(*args) -> Paced:
        p = Paced(*args)
        made.append(p)
        p.start()
        return p

    yield make
    for p in made:
        p.halt.set()


@pytest.fixture
def groups(tmp_path):
    """groups(client, bootstrap, topic, group, **member_opts) -> Group; every member
    process is killed at teardown."""
    made: list[Group] = []

    def make(client, bootstrap, topic, group, **opts) -> Group:
        g = Group(client, bootstrap, topic, group, tmp_path, **opts)
        made.append(g)
        return g

    yield make
    for g in made:
        g.cleanup()


def end_offsets(produced: dict[int, tuple[int, int]]) -> dict[int, int]:
    out: dict[int, int] = {}
    for p, o in produced.values():
        out[p] = max(out.get(p, 0), o + 1)
    return out


def committed_offsets(bootstrap: str, group: str, topic: str, partitions) -> dict[int, int]:
    """The group's committed offsets (OffsetFetch through confluent's AdminClient);
    partitions without one are left out."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    req = ConsumerGroupTopicPartitions(group, [ck.TopicPartition(topic, p) for p in partitions])
    res = admin.list_consumer_group_offsets([req])[group].result(20)
    out = {}
    for tp in res.topic_partitions:
        assert tp.error is None, f"OffsetFetch {group} {topic}/{tp.partition}: {tp.error}"
        if tp.offset >= 0:
            out[tp.partition] = tp.offset
    return out


def wait_committed(bootstrap: str, group: str, topic: str, want: dict[int, int],
                   grp: Group | None = None, timeout: float = 20.0) -> None:
    last = {}

    def done():
        nonlocal last
        last = committed_offsets(bootstrap, group, topic, want)
        return last == want

    try:
        wait_until(done, timeout=timeout, interval=0.2, what="committed offsets == end offsets")
    except AssertionError as e:
        raise AssertionError(f"{e}: committed {last}, want {want}\n"
                             f"commit errors: {commit_errors(grp.members)[:10] if grp else '-'}\n"
                             f"{grp.describe() if grp else ''}") from None


class Paced(threading.Thread):
    """Produces ids [start, start+count) at `rate` records/s in the background."""

    def __init__(self, bootstrap, topic, start, count, rate):
        super().__init__(daemon=True)
        self.args = (bootstrap, topic, start, count, rate)
        self.produced: dict[int, tuple[int, int]] = {}
        self.error: BaseException | None = None
        self.halt = threading.Event()

    def run(self):
        try:
            self.produced = produce_ids(*self.args, stop=self.halt)
        except BaseException as e:  # noqa: BLE001 - reported by finish()
            self.error = e

    def finish(self, timeout=60) -> dict[int, tuple[int, int]]:
        self.join(timeout)
        assert not self.is_alive(), "paced producer did not finish"
        if self.error:
            raise self.error
        return self.produced


def wait_records(grp: Group, n: int, timeout: float = 30.0, members=None) -> None:
    members = members or grp.members
    wait_until(lambda: sum(len(m.evs("rec")) for m in members) >= n, timeout=timeout,
               interval=0.05, what=f"{n} records consumed\n{grp.describe()}")


# ============================================================================ 1
@pytest.mark.parametrize("client", ALL_CLIENTS)
def test_group_of_three_consumes_every_record_once(client, gbroker, new_topic, groups):
    """Three members of one client share a 6-partition topic: each gets 2 partitions,
    3,000 keyed records are each delivered exactly once, and the group's committed
    offsets reach the end of every partition."""
    if client == "sarama" and not SARAMA_DRIVER.exists():
        pytest.fail(f"{SARAMA_DRIVER} missing: run scripts/install-test-deps.sh")
    b = gbroker.bootstrap
    topic = new_topic("g3")
    group = f"grp-{topic}"
    create_topic(b, topic, 6)
    grp = groups(client, b, topic, group)
    for _ in range(3):
        grp.add()
    grp.wait_settled(6, timeout=60, what="(3 members)", quiet=1.5)
    assert sorted(len(m.assignment()) for m in grp.members) == [2, 2, 2], grp.describe()
    rebalances_before = [m.rebalances() for m in grp.members]
    assigned = {m.name: m.assignment() for m in grp.members}

    produced = produce_ids(b, topic, 0, 3000)
    assert len(produced) == 3000
    grp.wait_consumed(3000, timeout=60)
    wait_committed(b, group, topic, end_offsets(produced), grp)
    assert [m.rebalances() for m in grp.members] == rebalances_before, \
        f"the group rebalanced while consuming\n{grp.describe()}"
    grp.stop_all()

    d = Deliveries(grp.members, produced)
    assert not d.bad_values, d.bad_values[:10]
    assert not d.lost(), d.summary()
    assert not d.duplicates(), f"{d.summary()}: {list(d.duplicates().items())[:10]}"
    for m in grp.members:
        parts = {p for p, _, _ in m.records()}
        assert parts == assigned[m.name], \
            f"{m.name} consumed partitions {parts}, assigned {assigned[m.name]}"
    # the members' final commits on close do not move anything backwards
    assert committed_offsets(b, group, topic, range(6)) == end_offsets(produced)


# ============================================================================ 2
def test_confluent_member_joins_and_member_killed_mid_stream(gbroker, new_topic, groups, paced):
    """A 4th member joins while records flow, then a member is SIGKILLed: after its
    session times out the others take its partitions and resume from its last commit.
    Nothing is lost; the only records delivered twice are ones the killed member got
    after its last accepted commit."""
    b = gbroker.bootstrap
    topic = new_topic("gk")
    group = f"grp-{topic}"
    create_topic(b, topic, 6)
    grp = groups("confluent", b, topic, group)
    for _ in range(3):
        grp.add()
    grp.wait_settled(6, what="(3 members)")

    total = 4000
    prod = paced(b, topic, 0, total, 400)
    wait_records(grp, 600)
    newcomer = grp.add()
    grp.wait_settled(6, what="(after the 4th member joined)")
    assert newcomer.assignment(), grp.describe()

    victim = grp.members[0]
    n = len(victim.evs("rec"))
    c = len(victim.evs("commit"))
    wait_until(lambda: len(victim.evs("rec")) > n + 20 and len(victim.evs("commit")) > c,
               timeout=20, what=f"the victim consuming after the join\n{grp.describe()}")
    victim.kill()
    t_kill = time.monotonic()
    survivors = [m for m in grp.members if m is not victim]
    grp.wait_settled(6, timeout=30, members=survivors, what="(after the kill)")
    took = time.monotonic() - t_kill

    produced = prod.finish()
    grp.wait_consumed(total, timeout=60)
    wait_committed(b, group, topic, end_offsets(produced), grp)
    grp.stop_all()

    d = Deliveries(grp.members, produced)
    assert not d.bad_values, d.bad_values[:10]
    assert not d.lost(), d.summary()
    wrong = []
    last_commit = victim.committed()
    for (p, o), who in sorted(d.duplicates().items()):
        if who[0] != victim.name:
            wrong.append(f"{p}/{o} to {who}: first consumer {who[0]} was not killed")
        elif o < last_commit.get(p, -1):
            wrong.append(f"{p}/{o} to {who}: below the victim's last commit {last_commit[p]}")
    assert not wrong, (f"{d.summary()}; rebalance after kill took {took:.1f}s\n"
                       + "\n".join(wrong[:15])
                       + f"\ncommit errors: {commit_errors(grp.members)[:10]}")
    # the survivors only got the victim's partitions after its session expired
    assert took >= 4.0, f"rebalance after the kill took {took:.1f}s (session timeout 6s)"


# ============================================================================ 3
def test_confluent_cooperative_sticky_incremental_rebalance(gbroker, new_topic, groups, paced):
    """cooperative-sticky: a joining member takes partitions from the others without
    them giving up everything; a leaving member's partitions are added to the rest
    without revocations. Every record is consumed."""
    b = gbroker.bootstrap
    topic = new_topic("gc")
    group = f"grp-{topic}"
    create_topic(b, topic, 6)
    grp = groups("confluent", b, topic, group, strategy="cooperative-sticky")
    for _ in range(3):
        grp.add()
    grp.wait_settled(6, what="(3 cooperative members)")
    first_three = list(grp.members)
    before = {m.name: m.assignment() for m in first_three}

    total = 3000
    prod = paced(b, topic, 0, total, 400)
    wait_records(grp, 500)
    mark = {m.name: len(m.evs()) for m in first_three}
    grp.add()
    grp.wait_settled(6, what="(after the 4th member joined)")
    # incremental: nobody lost everything; what was revoked was given up from what it had
    revoked_on_join = {}
    for m in first_three:
        evs = m.evs()[mark[m.name]:]
        for e in evs:
            if e["ev"] in ("revoke", "lost"):
                assert e["ev"] == "revoke", f"{m.name} lost partitions: {e}"
                assert e["now"], f"{m.name} had everything revoked (eager?) {e}"
                assert set(e["partitions"]) <= before[m.name]
                revoked_on_join.setdefault(m.name, []).extend(e["partitions"])
        assert m.assignment() and m.assignment() <= before[m.name], \
            f"{m.name}: {before[m.name]} -> {m.assignment()}"
    # 2,2,2 -> 2,2,1,1: one partition has to move, and sticky moves no more
    assert sum(len(v) for v in revoked_on_join.values()) == 1, \
        f"revoked {revoked_on_join}\n{grp.describe()}"

    leaver = first_three[1]
    stayers = [m for m in grp.members if m is not leaver]
    mark = {m.name: len(m.evs()) for m in stayers}
    Group.stop_one(leaver)
    grp.wait_settled(6, members=stayers, what="(after a member left)")
    for m in stayers:
        for e in m.evs()[mark[m.name]:]:
            assert e["ev"] not in ("revoke", "lost"), \
                f"{m.name} had to give up partitions when a member left: {e}"

    produced = prod.finish()
    grp.wait_consumed(total, timeout=60)
    wait_committed(b, group, topic, end_offsets(produced), grp)
    grp.stop_all()
    d = Deliveries(grp.members, produced)
    assert not d.bad_values, d.bad_values[:10]
    assert not d.lost(), d.summary()
    bad = d.unexcused_duplicates()
    assert not bad, f"{d.summary()}\n" + "\n".join(bad[:15])


# ============================================================================ 4
def test_confluent_static_member_restart_keeps_partitions_without_rebalance(
        gbroker, new_topic, groups):
    """group.instance.id: a member killed and restarted within its session timeout gets
    its partitions back under a new member id, the other members see no rebalance, the
    group stays Stable, and the restarted member resumes from its committed offsets."""
    b = gbroker.bootstrap
    topic = new_topic("gs")
    group = f"grp-{topic}"
    create_topic(b, topic, 6)
    grp = groups("confluent", b, topic, group, session_timeout_ms=15000)
    for i in range(3):
        grp.add(name=f"static-{i}", instance_id=f"inst-{i}")
    grp.wait_settled(6, what="(3 static members)")
    admin = AdminClient({"bootstrap.servers": b})

    def describe():
        return admin.describe_consumer_groups([group])[group].result(20)

    before = describe()
    ids_before = {m.group_instance_id: m.member_id for m in before.members}
    assert set(ids_before) == {"inst-0", "inst-1", "inst-2"}, before

    produced = produce_ids(b, topic, 0, 600)
    grp.wait_consumed(600)
    wait_committed(b, group, topic, end_offsets(produced), grp)

    old = grp.members[1]
    others = [grp.members[0], grp.members[2]]
    events_before = {m.name: m.rebalances() for m in others}
    mine = old.assignment()
    old.kill()
    again = grp.add(name="static-1-again", instance_id="inst-1")
    wait_until(lambda: again.assignment() is not None, timeout=20,
               what=f"the restarted static member's assignment\n{grp.describe()}")
    assert again.assignment() == mine, f"{mine} before the restart, {again.assignment()} after"

    produced.update(produce_ids(b, topic, 600, 600))
    grp.wait_consumed(1200)
    wait_committed(b, group, topic, end_offsets(produced), grp)
    assert {m.name: m.rebalances() for m in others} == events_before, \
        f"the other members rebalanced\n{grp.describe()}"
    after = describe()
    assert after.state == ck.ConsumerGroupState.STABLE, after.state
    ids_after = {m.group_instance_id: m.member_id for m in after.members}
    assert set(ids_after) == set(ids_before)
    assert ids_after["inst-0"] == ids_before["inst-0"]
    assert ids_after["inst-2"] == ids_before["inst-2"]
    assert ids_after["inst-1"] != ids_before["inst-1"], "the restart should get a new member id"

    d = Deliveries(grp.members, produced)
    assert not d.bad_values, d.bad_values[:10]
    assert not d.lost(), d.summary()
    assert not d.duplicates(), d.summary()
    # the restarted member resumed where the old one had committed
    firsts = {}
    for p, o, _ in again.records():
        firsts.setdefault(p, o)
    for p, o in firsts.items():
        assert o == old.committed()[p], f"partition {p}: resumed at {o}, committed {old.committed()}"
    grp.stop_all()


# ============================================================================ 5
@pytest.mark.parametrize("how", ["clean", "kill"])
def test_offsets_and_groups_survive_restart(how, gbroker, new_topic, groups):
    """Committed offsets survive a restart (SIGTERM or SIGKILL): OffsetFetch returns them,
    ListGroups still lists the group, a new consumer resumes exactly there, and a member
    that stayed up across the restart carries on in its restored group."""
    b = gbroker.bootstrap
    topic = new_topic("gr")
    group = f"grp-{topic}"
    live_group = f"live-{topic}"
    create_topic(b, topic, 3)
    produced = produce_ids(b, topic, 0, 300)

    # a member that stays up across the restart, in its own group
    live = groups("confluent", b, topic, live_group)
    member = live.add()
    live.wait_settled(3)
    live.wait_consumed(300)
    wait_committed(b, live_group, topic, end_offsets(produced), live)

    # consume about half of each partition and commit exactly that
    c = ck.Consumer({"bootstrap.servers": b, "group.id": group, "enable.auto.commit": False,
                     "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    c.subscribe([topic])
    half = {p: o // 2 for p, o in end_offsets(produced).items()}
    seen: dict[int, int] = {}
    deadline = time.monotonic() + 30
    while any(seen.get(p, 0) < half[p] for p in half) and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        if m.offset() < half[m.partition()]:
            seen[m.partition()] = m.offset() + 1
    assert seen == half, f"consumed {seen}, wanted {half}"
    res = c.commit(offsets=[ck.TopicPartition(topic, p, o) for p, o in half.items()],
                   asynchronous=False)
    assert all(tp.error is None for tp in res), res
    c.close()
    assert committed_offsets(b, group, topic, range(3)) == half

    if how == "clean":
        gbroker.stop()
    else:
        gbroker.kill()
    gbroker.start()

    assert committed_offsets(b, group, topic, range(3)) == half
    assert committed_offsets(b, live_group, topic, range(3)) == end_offsets(produced)
    admin = AdminClient({"bootstrap.servers": b})
    listed = {g.group_id: g for g in admin.list_consumer_groups().result(20).valid}
    assert group in listed and live_group in listed, listed.keys()
    assert listed[group].state == ck.ConsumerGroupState.EMPTY

    c2 = ck.Consumer({"bootstrap.servers": b, "group.id": group, "enable.auto.commit": False,
                      "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    got = c2.committed([ck.TopicPartition(topic, p) for p in range(3)], timeout=20)
    assert {tp.partition: tp.offset for tp in got} == half
    c2.subscribe([topic])
    recs = []
    deadline = time.monotonic() + 30
    want = sum(end_offsets(produced).values()) - sum(half.values())
    while len(recs) < want and time.monotonic() < deadline:
        m = c2.poll(0.2)
        if m is not None and not m.error():
            recs.append((m.partition(), m.offset(), m.value()))
    c2.close()
    firsts = {}
    for p, o, _ in recs:
        firsts.setdefault(p, o)
    assert firsts == half, f"resumed at {firsts}, committed {half}"
    assert sorted((p, o) for p, o, _ in recs) == sorted(
        pos for pos in produced.values() if pos[1] >= half[pos[0]])
    for p, o, v in recs:
        i = next(i for i, pos in produced.items() if pos == (p, o))
        assert v == record_value(i)

    # the member that stayed up consumes what is produced after the restart
    produced.update(produce_ids(b, topic, 300, 300))
    live.wait_consumed(600, timeout=45)
    wait_committed(b, live_group, topic, end_offsets(produced), live)
    live.stop_all()
    d = Deliveries(live.members, produced)
    assert not d.lost(), d.summary()
    bad = d.unexcused_duplicates()
    assert not bad, f"{d.summary()}\n" + "\n".join(bad[:10])
    assert member.evs("closed")


# ============================================================================ 6
def test_admin_list_describe_delete_groups(gbroker, new_topic, groups):
    """kafka-python's KafkaAdminClient and confluent-kafka's AdminClient: list, describe,
    fetch/alter/delete offsets (OffsetDelete) and delete groups, with the Kafka error codes for a group
    that still has members (NON_EMPTY_GROUP), an unknown group (GROUP_ID_NOT_FOUND) and
    offsets of a topic the group is subscribed to (GROUP_SUBSCRIBED_TO_TOPIC)."""
    from kafka import KafkaAdminClient, TopicPartition
    from kafka.structs import OffsetAndMetadata

    b = gbroker.bootstrap
    topic = new_topic("ga")
    active, offsets_only, unknown = f"active-{topic}", f"store-{topic}", f"nobody-{topic}"
    create_topic(b, topic, 2)
    produced = produce_ids(b, topic, 0, 40)
    ends = end_offsets(produced)

    grp = groups("confluent", b, topic, active)
    member = grp.add()
    grp.wait_settled(2)
    grp.wait_consumed(40)
    wait_committed(b, active, topic, ends, grp)

    ca = AdminClient({"bootstrap.servers": b})
    # offsets for a group with no members (generation -1): AlterConsumerGroupOffsets
    res = ca.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(
        offsets_only, [ck.TopicPartition(topic, 0, 5), ck.TopicPartition(topic, 1, 7)])])
    r = res[offsets_only].result(20)
    assert all(tp.error is None for tp in r.topic_partitions), r.topic_partitions

    ka = KafkaAdminClient(bootstrap_servers=b)
    try:
        # ---- kafka-python
        listed = {g["group_id"]: g for g in ka.list_groups()}
        assert active in listed and offsets_only in listed, listed
        assert listed[active]["protocol_type"] == "consumer"
        desc = ka.describe_groups([active])[active]
        assert desc["error"] is None, desc
        assert desc["group_state"] == "Stable", desc
        assert desc["protocol_type"] == "consumer" and desc["protocol_data"] == "range", desc
        assert len(desc["members"]) == 1
        assignment = desc["members"][0]["member_assignment"]
        # decoded ConsumerProtocolAssignment, as a dict
        assert sorted((t["topic"], sorted(t["partitions"]))
                      for t in assignment["assigned_partitions"]) == [(topic, [0, 1])], assignment
        offs = ka.list_group_offsets(active)[active]
        assert {tp.partition: om.offset for tp, om in offs.items()} == ends
        offs = ka.list_group_offsets(offsets_only)[offsets_only]
        assert {tp.partition: om.offset for tp, om in offs.items()} == {0: 5, 1: 7}
        assert ka.delete_groups([active]) == {active: "NonEmptyGroupError"}
        assert ka.delete_groups([unknown]) == {unknown: "GroupIdNotFoundError"}
        alt = ka.alter_group_offsets(offsets_only, {TopicPartition(topic, 0): OffsetAndMetadata(6, "", -1)})
        assert {tp.partition: e.__name__ for tp, e in alt.items()} == {0: "NoError"}

        # ---- confluent-kafka
        cl = {g.group_id: g for g in ca.list_consumer_groups().result(20).valid}
        assert cl[active].state == ck.ConsumerGroupState.STABLE
        assert cl[offsets_only].state == ck.ConsumerGroupState.EMPTY
        assert not cl[active].is_simple_consumer_group
        d = ca.describe_consumer_groups([active])[active].result(20)
        assert d.state == ck.ConsumerGroupState.STABLE and d.partition_assignor == "range"
        assert len(d.members) == 1
        assert sorted(tp.partition for tp in d.members[0].assignment.topic_partitions) == [0, 1]
        fetched = ca.list_consumer_group_offsets([ConsumerGroupTopicPartitions(offsets_only)])
        got = fetched[offsets_only].result(20)
        assert {tp.partition: tp.offset for tp in got.topic_partitions} == {0: 6, 1: 7}

        with pytest.raises(ck.KafkaException) as ei:
            ca.delete_consumer_groups([active])[active].result(20)
        assert ei.value.args[0].code() == ck.KafkaError.NON_EMPTY_GROUP, ei.value
        with pytest.raises(ck.KafkaException) as ei:
            ca.delete_consumer_groups([unknown])[unknown].result(20)
        assert ei.value.args[0].code() == ck.KafkaError.GROUP_ID_NOT_FOUND, ei.value

        # OffsetDelete (kafka-python; confluent-kafka's Python AdminClient has no
        # delete_consumer_group_offsets): refused per partition for a topic the active
        # group consumes, done for the group without members
        r = ka.delete_group_offsets(active, [TopicPartition(topic, 0)])
        assert {tp.partition: e.__name__ for tp, e in r.items()} == \
            {0: "GroupSubscribedToTopicError"}, r
        r = ka.delete_group_offsets(offsets_only, [TopicPartition(topic, 0)])
        assert {tp.partition: e.__name__ for tp, e in r.items()} == {0: "NoError"}, r
        assert committed_offsets(b, offsets_only, topic, range(2)) == {1: 7}
        assert committed_offsets(b, active, topic, range(2)) == ends

        # once its member is gone the group can be deleted, with its offsets
        grp.stop_all()
        wait_until(lambda: ka.describe_groups([active])[active]["group_state"] == "Empty",
                   what="the group to be empty after its member left")
        assert ka.delete_groups([active]) == {active: "OK"}
        ca.delete_consumer_groups([offsets_only])[offsets_only].result(20)
        names = {g["group_id"] for g in ka.list_groups()}
        assert active not in names and offsets_only not in names, names
        assert {g.group_id for g in ca.list_consumer_groups().result(20).valid} \
            .isdisjoint({active, offsets_only})
        assert committed_offsets(b, active, topic, range(2)) == {}
        assert ka.delete_groups([active]) == {active: "GroupIdNotFoundError"}
    finally:
        ka.close()
    assert member.evs("closed")


# ============================================================================ limits
def test_confluent_group_size_and_session_timeout_limits(gregor_factory, new_topic, groups):
    """group.max.size and group.min/max.session.timeout.ms: a member beyond the size
    limit gets GROUP_MAX_SIZE_REACHED, one with a session timeout out of bounds
    INVALID_SESSION_TIMEOUT (librdkafka reports both as consumer errors and keeps
    retrying), and the members already in the group are left alone."""
    g = gregor_factory(broker={**GROUP_BROKER, "group.max.size": 2,
                               "group.max.session.timeout.ms": 10000})
    b = g.bootstrap
    topic = new_topic("gl")
    create_topic(b, topic, 6)
    grp = groups("confluent", b, topic, f"grp-{topic}")
    first = [grp.add(), grp.add()]
    grp.wait_settled(6, what="(2 members)")
    events = [m.rebalances() for m in first]
    extra = grp.add(name="third")
    too_short = grp.add(name="short-session", session_timeout_ms=3000)
    too_long = grp.add(name="long-session", session_timeout_ms=20000)

    def error_seen(m, code):
        return any(code in e.get("error", "") for e in m.evs("error"))

    for m, code in ((extra, "GROUP_MAX_SIZE_REACHED"), (too_short, "INVALID_SESSION_TIMEOUT"),
                    (too_long, "INVALID_SESSION_TIMEOUT")):
        wait_until(lambda: error_seen(m, code), timeout=20,
                   what=f"{m.name} to report {code}\n{grp.describe()}")
        assert m.assignment() is None, m.describe()
    assert [m.rebalances() for m in first] == events, grp.describe()
    assert grp.settled(6, first)
    grp.stop_all()


# ============================================================================ 7
def commit_scenario(b: str, topic: str) -> tuple[dict, dict]:
    """Two hand-made members (clients never commit with a stale generation on purpose)
    walk a group through Stable -> PreparingRebalance -> CompletingRebalance -> Stable ->
    Empty, committing with right and wrong generations and member ids (OffsetCommit v2)
    at each step. Returns (what gregor answered, what Kafka's classic group
    coordinator answers), keyed by step."""
    group = f"grp-{topic}-{time.monotonic_ns()}"
    a, bb = Raw(b, "raw-a"), Raw(b, "raw-b")
    got, want = {}, {}
    try:
        ja = a.join(group, topics=(topic,))
        assert ja["error"] == NONE and ja["generation"] == 1, ja
        ma = ja["member_id"]
        assert a.sync(group, 1, ma, {ma: {topic: [0]}})["error"] == NONE

        def commit(label, gen, member, off, expect):
            got[label] = a.commit(group, gen, member, topic, {0: off})[0]
            want[label] = expect

        commit("stable, current generation", 1, ma, 1, NONE)
        commit("stable, older generation", 0, ma, 2, ILLEGAL_GENERATION)
        commit("stable, newer generation", 2, ma, 2, ILLEGAL_GENERATION)
        commit("stable, unknown member", 1, "nobody", 2, UNKNOWN_MEMBER_ID)
        commit("stable, no member (generation -1)", -1, "", 2, UNKNOWN_MEMBER_ID)

        # a second member joins: the group prepares a rebalance; b's JoinGroup waits
        jb_box = {}
        t = threading.Thread(target=lambda: jb_box.update(bb.join(group, topics=(topic,))))
        t.start()
        wait_until(lambda: a.heartbeat(group, 1, ma) == REBALANCE_IN_PROGRESS, timeout=10,
                   what="heartbeat to answer REBALANCE_IN_PROGRESS")
        commit("preparing rebalance, current generation", 1, ma, 3, NONE)

        ja2 = a.join(group, member_id=ma, topics=(topic,))
        t.join(10)
        assert ja2["error"] == NONE and ja2["generation"] == 2, ja2
        assert jb_box.get("error") == NONE and jb_box["generation"] == 2, jb_box
        mb = jb_box["member_id"]
        commit("completing rebalance, current generation", 2, ma, 4, REBALANCE_IN_PROGRESS)
        commit("completing rebalance, old generation", 1, ma, 4, ILLEGAL_GENERATION)

        # the follower's SyncGroup waits for the leader's
        assert ja2["leader"] in (ma, mb) and jb_box["leader"] == ja2["leader"]
        (lr, lid), (fr, fid) = ((a, ma), (bb, mb)) if ja2["leader"] == ma else ((bb, mb), (a, ma))
        sf = {}
        t = threading.Thread(target=lambda: sf.update(fr.sync(group, 2, fid)))
        t.start()
        sl = lr.sync(group, 2, lid, {lid: {topic: [0]}, fid: {}})
        t.join(10)
        assert sl["error"] == NONE and sf.get("error") == NONE, (sl, sf)
        commit("stable again, stale generation", 1, ma, 5, ILLEGAL_GENERATION)
        commit("stable again, current generation", 2, ma, 6, NONE)
        commit("stable again, other member", 2, mb, 7, NONE)

        got["committed offset"] = a.fetch_offsets(group, topic, [0])[0]
        want["committed offset"] = (7, NONE)
        assert a.leave(group, ma) == NONE
        assert bb.leave(group, mb) == NONE
        commit("empty group, generation -1", -1, "", 8, NONE)
        commit("empty group, former member", 2, ma, 9, UNKNOWN_MEMBER_ID)
    finally:
        a.close()
        bb.close()
    return got, want


def check_commit_answers(got: dict, want: dict, steps) -> None:
    diff = {k: f"got {got.get(k)}, Kafka answers {want[k]}" for k in steps
            if got.get(k) != want[k]}
    assert not diff, "OffsetCommit answers that differ from Kafka:\n" + \
        "\n".join(f"  {k}: {v}" for k, v in diff.items())


STEPS_STALE = [
    "stable, current generation", "stable, older generation", "stable, newer generation",
    "stable, unknown member", "completing rebalance, current generation",
    "completing rebalance, old generation", "stable again, stale generation",
    "stable again, current generation", "stable again, other member", "committed offset",
    "empty group, generation -1", "empty group, former member",
]


def test_offset_commit_stale_generation_and_unknown_member(gbroker, new_topic):
    """ILLEGAL_GENERATION for an older or newer generation (also right after a
    rebalance), UNKNOWN_MEMBER_ID for a stranger or a member that left,
    REBALANCE_IN_PROGRESS between JoinGroup and SyncGroup; commits of the current
    generation and offsets-only commits (generation -1) to an empty group are stored."""
    topic = new_topic("gg")
    create_topic(gbroker.bootstrap, topic, 1)
    check_commit_answers(*commit_scenario(gbroker.bootstrap, topic), STEPS_STALE)


def test_offset_commit_accepted_while_preparing_rebalance(gbroker, new_topic):
    """Kafka accepts a commit of the current generation while the group is
    PreparingRebalance: members commit in onPartitionsRevoked before they rejoin, and
    the coordinator "relies on the heartbeat response to eventually notify the
    rebalance" (GroupCoordinator.doCommitOffsets; ClassicGroup.validateOffsetCommit
    refuses only in CompletingRebalance). Refusing it loses those commits: the records
    are delivered again after the rebalance (see the kill/join test)."""
    topic = new_topic("gp")
    create_topic(gbroker.bootstrap, topic, 1)
    check_commit_answers(*commit_scenario(gbroker.bootstrap, topic),
                         ["preparing rebalance, current generation"])


def test_offset_commit_without_member_to_active_group(gbroker, new_topic):
    """An offsets-only commit (generation -1, no member id) to a group that has members
    is refused with UNKNOWN_MEMBER_ID ("only members can commit offsets")."""
    topic = new_topic("gn")
    create_topic(gbroker.bootstrap, topic, 1)
    check_commit_answers(*commit_scenario(gbroker.bootstrap, topic),
                         ["stable, no member (generation -1)"])
