"""Topic administration through real admin clients: confluent-kafka's AdminClient
(librdkafka), kafka-python's KafkaAdminClient and aiokafka's AIOKafkaAdminClient."""

from __future__ import annotations

import asyncio

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from kafka_clients import (
    ck_admin,
    ck_consume,
    ck_consumer,
    ck_produce,
    kp_admin,
    make_specs,
    wait_until,
)

T = 20  # seconds


def ck_error_code(fut) -> int:
    with pytest.raises(KafkaException) as ei:
        fut.result(T)
    return ei.value.args[0].code()


def ck_topic_configs(admin, topic) -> dict:
    res = ConfigResource(ResourceType.TOPIC, topic)
    (fut,) = admin.describe_configs([res]).values()
    return fut.result(T)


def ck_partitions(admin, topic) -> dict:
    md = admin.list_topics(timeout=5)
    assert topic in md.topics, f"{topic} not in metadata: {sorted(md.topics)}"
    t = md.topics[topic]
    assert t.error is None, t.error
    return t.partitions


# ------------------------------------------------------------------ confluent-kafka
def test_confluent_admin_topic_lifecycle(gregor, new_topic):
    a = ck_admin(gregor.bootstrap)
    t = new_topic()
    fs = a.create_topics([NewTopic(t, num_partitions=3, replication_factor=1, config={
        "retention.ms": "3600000", "cleanup.policy": "delete", "max.message.bytes": "200000"})],
        operation_timeout=10)
    assert fs[t].result(T) is None

    # list: all partitions led by node 1, replicas and ISR = [1]
    parts = wait_until(lambda: ck_partitions(a, t), what="topic in metadata")
    assert sorted(parts) == [0, 1, 2]
    for p in parts.values():
        assert (p.leader, p.replicas, p.isrs, p.error) == (1, [1], [1], None), p

    # describe configs: the ones given at creation, and defaults for the rest
    cfg = ck_topic_configs(a, t)
    assert cfg["retention.ms"].value == "3600000"
    assert not cfg["retention.ms"].is_default
    assert cfg["cleanup.policy"].value == "delete"
    assert cfg["max.message.bytes"].value == "200000"
    assert "segment.bytes" in cfg, sorted(cfg)

    # incremental alter: SET one key, DELETE (back to default) another
    res = ConfigResource(ResourceType.TOPIC, t, incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("max.message.bytes", None, incremental_operation=AlterConfigOpType.DELETE),
    ])
    (fut,) = a.incremental_alter_configs([res]).values()
    fut.result(T)
    cfg = ck_topic_configs(a, t)
    assert cfg["retention.ms"].value == "7200000"
    assert cfg["cleanup.policy"].value == "delete", "untouched key must keep its value"
    assert cfg["max.message.bytes"].is_default, cfg["max.message.bytes"]
    # Kafka's topic default for max.message.bytes is the broker's message.max.bytes
    assert cfg["max.message.bytes"].value == "1048588"

    # create partitions: 3 -> 5, and the new partition takes writes
    (fut,) = a.create_partitions([NewPartitions(t, 5)], operation_timeout=10).values()
    fut.result(T)
    parts = wait_until(lambda: (p := ck_partitions(a, t)) and len(p) == 5 and p,
                       what="5 partitions in metadata")
    assert sorted(parts) == [0, 1, 2, 3, 4]
    specs = make_specs(3, 1, big=False)
    for s in specs:
        s.partition = 4
    d = ck_produce(gregor.bootstrap, t, specs)
    assert [(x.partition, x.offset) for x in d] == [(4, 0), (4, 1), (4, 2)]
    got = ck_consume(gregor.bootstrap, t, [4], 3)
    assert [(r.partition, r.offset, r.value) for r in got] == \
        [(4, i, s.value) for i, s in enumerate(specs)]

    # delete: gone from metadata and its partition directories are gone
    (fut,) = a.delete_topics([t], operation_timeout=10).values()
    assert fut.result(T) is None
    wait_until(lambda: t not in a.list_topics(timeout=5).topics, what="topic gone from metadata")
    wait_until(lambda: not any(gregor.partition_dir(t, p).exists() for p in range(5)),
               what="partition directories removed or renamed")
    (fut,) = a.delete_topics([t], operation_timeout=10).values()
    assert ck_error_code(fut) == KafkaError.UNKNOWN_TOPIC_OR_PART

    # the name can be reused, and the new topic starts empty
    fs = a.create_topics([NewTopic(t, num_partitions=1, replication_factor=1)])
    fs[t].result(T)
    c = ck_consumer(gregor.bootstrap)
    try:
        assert wait_until(lambda: c.get_watermark_offsets(TopicPartition(t, 0), timeout=5,
                                                          cached=False)) == (0, 0)
    finally:
        c.close()


def test_confluent_admin_errors(gregor, new_topic):
    a = ck_admin(gregor.bootstrap)
    t = new_topic()
    a.create_topics([NewTopic(t, num_partitions=2, replication_factor=1)])[t].result(T)

    dup = a.create_topics([NewTopic(t, num_partitions=2, replication_factor=1)])[t]
    assert ck_error_code(dup) == KafkaError.TOPIC_ALREADY_EXISTS

    t2 = new_topic()
    bad_rf = a.create_topics([NewTopic(t2, num_partitions=1, replication_factor=3)])[t2]
    assert ck_error_code(bad_rf) == KafkaError.INVALID_REPLICATION_FACTOR

    t3 = new_topic()
    bad_cfg = a.create_topics([NewTopic(t3, num_partitions=1, replication_factor=1,
                                        config={"no.such.config": "1"})])[t3]
    assert ck_error_code(bad_cfg) == KafkaError.INVALID_CONFIG

    (shrink,) = a.create_partitions([NewPartitions(t, 1)]).values()
    assert ck_error_code(shrink) == KafkaError.INVALID_PARTITIONS

    (missing,) = a.create_partitions([NewPartitions(new_topic("missing"), 3)]).values()
    assert ck_error_code(missing) == KafkaError.UNKNOWN_TOPIC_OR_PART

    md = a.list_topics(timeout=5).topics
    assert t in md and len(md[t].partitions) == 2
    assert t2 not in md and t3 not in md


def test_confluent_describe_cluster(gregor):
    a = ck_admin(gregor.bootstrap)
    desc = a.describe_cluster(request_timeout=10).result(T)
    assert desc.cluster_id, "cluster id must be set"
    assert desc.controller is not None and desc.controller.id == 1
    assert [(n.id, n.host, n.port) for n in desc.nodes] == [(1, "127.0.0.1", gregor.port)]
    md = a.list_topics(timeout=5)
    assert md.cluster_id == desc.cluster_id
    assert md.controller_id == 1
    assert {b.id: (b.host, b.port) for b in md.brokers.values()} == {1: ("127.0.0.1", gregor.port)}


def test_confluent_describe_broker_configs(gregor_factory):
    g = gregor_factory(broker={"num.partitions": 3})
    a = ck_admin(g.bootstrap)
    res = ConfigResource(ResourceType.BROKER, "1")
    (fut,) = a.describe_configs([res]).values()
    cfg = fut.result(T)
    assert cfg["num.partitions"].value == "3"
    assert cfg["auto.create.topics.enable"].value == "true"


# ------------------------------------------------------------------ kafka-python
def test_kafka_python_admin_topic_lifecycle(gregor, new_topic):
    from kafka.admin import ConfigResource as KConfigResource
    from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

    a = kp_admin(gregor.bootstrap)
    try:
        t = new_topic()
        r = a.create_topics({t: {"num_partitions": 3, "replication_factor": 1,
                                 "configs": {"retention.ms": "3600000"}}})
        assert [(x["name"], x["error_code"]) for x in r["topics"]] == [(t, 0)]

        assert t in wait_until(lambda: (ts := a.list_topics()) and t in ts and ts,
                               what="topic listed")
        (desc,) = a.describe_topics([t])
        assert desc["error_code"] == 0
        assert sorted(p["partition_index"] for p in desc["partitions"]) == [0, 1, 2]
        assert all(p["leader_id"] == 1 for p in desc["partitions"])

        cfg = a.describe_configs([KConfigResource("TOPIC", t)], config_filter="all")
        assert cfg["topic"][t]["retention.ms"]["value"] == "3600000"
        assert "cleanup.policy" in cfg["topic"][t]

        res = a.alter_configs([KConfigResource("TOPIC", t, {"retention.ms": "7200000"})],
                              incremental=True)
        assert res == {"topic": {t: "OK"}}
        cfg = a.describe_configs([KConfigResource("TOPIC", t)])  # default filter: modified
        assert cfg["topic"][t]["retention.ms"]["value"] == "7200000"

        a.create_partitions({t: 4})
        wait_until(lambda: len(a.describe_topics([t])[0]["partitions"]) == 4,
                   what="4 partitions")

        with pytest.raises(TopicAlreadyExistsError):
            a.create_topics({t: {"num_partitions": 1, "replication_factor": 1}})

        a.delete_topics([t])
        wait_until(lambda: t not in a.list_topics(), what="topic gone")
        with pytest.raises(UnknownTopicOrPartitionError):
            a.delete_topics([t])

        dc = a.describe_cluster()
        assert dc["controller_id"] == 1
        assert [(b["broker_id"], b["host"], b["port"]) for b in dc["brokers"]] == \
            [(1, "127.0.0.1", gregor.port)]
    finally:
        a.close()


# ------------------------------------------------------------------ aiokafka
def test_aiokafka_admin_topics(gregor, new_topic):
    from aiokafka.admin import AIOKafkaAdminClient, NewPartitions as ANewPartitions
    from aiokafka.admin import NewTopic as ANewTopic
    from aiokafka.admin.config_resource import ConfigResource as AConfigResource
    from aiokafka.admin.config_resource import ConfigResourceType

    t = new_topic()

    async def run():
        a = AIOKafkaAdminClient(bootstrap_servers=gregor.bootstrap)
        await a.start()
        try:
            resp = await a.create_topics([ANewTopic(t, 2, 1, topic_configs={"retention.ms": "3600000"})])
            errs = [(e[0], e[1]) for e in resp.topic_errors]
            assert errs == [(t, 0)], resp
            dup = await a.create_topics([ANewTopic(t, 2, 1)])
            assert [e[1] for e in dup.topic_errors] == [KafkaError.TOPIC_ALREADY_EXISTS]

            assert t in await a.list_topics()
            (cfg_resp,) = await a.describe_configs([AConfigResource(ConfigResourceType.TOPIC, t)])
            obj = cfg_resp.to_object()
            (res,) = obj["resources"]
            assert res["error_code"] == 0, res
            values = {e["config_names"]: e["config_value"] for e in res["config_entries"]}
            assert values["retention.ms"] == "3600000"

            await a.create_partitions({t: ANewPartitions(3)})
            (desc,) = await a.describe_topics([t])
            assert len(desc["partitions"]) == 3

            resp = await a.delete_topics([t])
            assert [tuple(x)[:2] for x in resp.topic_error_codes] == [(t, 0)]
            assert t not in await a.list_topics()
        finally:
            await a.close()

    asyncio.run(run())
