#!/usr/bin/env python3
"""What each Python client does while capture.py records it.

    clients.py confluent|kafka-python|aiokafka BOOTSTRAP

Each scenario exercises the client's admin API (create topics with a config,
describe/alter configs, create partitions, describe cluster, delete topics), its
producer with every compression codec it can load, its consumer in a group (fetch,
list offsets, commit, leave) and the group admin calls. A step the client or broker
refuses is reported on stderr and skipped: the capture wants the requests, not the
outcome.
"""

import asyncio
import logging
import sys
import time
import traceback

CODECS = ["gzip", "snappy", "lz4", "zstd", None]
N = 6


def step(name, fn):
    try:
        fn()
        print(f"  ok   {name}", file=sys.stderr)
    except Exception as e:  # noqa: BLE001 - a refused step is reported, not fatal
        print(f"  FAIL {name}: {e!r}", file=sys.stderr)
        traceback.print_exc(limit=1, file=sys.stderr)


def confluent(bootstrap):
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                       NewPartitions, NewTopic, OffsetSpec, ResourceType)
    base = {"bootstrap.servers": bootstrap, "client.id": "golden-confluent"}
    admin = AdminClient(base)
    t = "ck-topic"
    step("create_topics", lambda: admin.create_topics(
        [NewTopic(t, 2, 1, config={"retention.ms": "3600000"})])[t].result(10))
    res = ConfigResource(ResourceType.TOPIC, t)
    step("describe_configs", lambda: list(admin.describe_configs([res]).values())[0].result(10))
    inc = ConfigResource(ResourceType.TOPIC, t, incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET)])
    step("incremental_alter_configs", lambda: list(admin.incremental_alter_configs([inc]).values())[0].result(10))
    step("create_partitions", lambda: admin.create_partitions([NewPartitions(t, 3)])[t].result(10))
    step("describe_cluster", lambda: admin.describe_cluster().result(10))
    for codec in CODECS:
        def produce(codec=codec):
            conf = dict(base, **{"compression.type": codec or "none", "linger.ms": 5})
            p = Producer(conf)
            for i in range(N):
                p.produce(t, key=f"k{i}".encode(), value=f"{codec}-value-{i}".encode() * 4,
                          headers=[("h", b"v")], partition=i % 3)
            assert p.flush(10) == 0
        step(f"produce {codec}", produce)
    tp = TopicPartition(t, 0)
    step("list_offsets", lambda: list(admin.list_offsets({tp: OffsetSpec.latest()}).values())[0].result(10))

    def consume():
        c = Consumer(dict(base, **{"group.id": "ck-group", "auto.offset.reset": "earliest",
                                   "enable.auto.commit": False, "session.timeout.ms": 10000}))
        c.subscribe([t])
        got, deadline = 0, time.time() + 20
        while got < N * len(CODECS) and time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got += 1
        c.commit(asynchronous=False)
        c.committed([tp], timeout=10)
        c.get_watermark_offsets(tp, timeout=10)
        c.offsets_for_times([TopicPartition(t, 0, int(time.time() * 1000) - 60_000)], timeout=10)
        c.close()
    step("consume in a group", consume)
    step("list_consumer_groups", lambda: admin.list_consumer_groups().result(10))
    step("describe_consumer_groups", lambda: list(admin.describe_consumer_groups(["ck-group"]).values())[0].result(10))
    from confluent_kafka import ConsumerGroupTopicPartitions
    step("list_consumer_group_offsets", lambda: list(admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions("ck-group")]).values())[0].result(10))
    step("delete_consumer_groups", lambda: list(admin.delete_consumer_groups(["ck-group"]).values())[0].result(10))
    step("delete_topics", lambda: admin.delete_topics([t])[t].result(10))


def kafka_python(bootstrap):
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="golden-kafka-python")
    t = "kp-topic"
    step("create_topics", lambda: admin.create_topics([NewTopic(t, 2, 1, topic_configs={"retention.ms": "3600000"})]))
    step("describe_configs", lambda: admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t)]))
    step("alter_configs", lambda: admin.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, t, configs={"retention.ms": "7200000"})]))
    step("create_partitions", lambda: admin.create_partitions({t: NewPartitions(3)}))
    step("describe_cluster", lambda: admin.describe_cluster())
    for codec in CODECS:
        def produce(codec=codec):
            p = KafkaProducer(bootstrap_servers=bootstrap, client_id="golden-kafka-python",
                              compression_type=codec, linger_ms=5, enable_idempotence=False)
            for i in range(N):
                p.send(t, key=f"k{i}".encode(), value=f"{codec}-value-{i}".encode() * 4,
                       headers=[("h", b"v")], partition=i % 3)
            p.flush(10)
            p.close()
        step(f"produce {codec}", produce)

    def consume():
        c = KafkaConsumer(t, bootstrap_servers=bootstrap, client_id="golden-kafka-python", group_id="kp-group",
                          auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=5000)
        for _ in c:
            pass
        c.commit()
        tp = TopicPartition(t, 0)
        c.committed(tp)
        c.end_offsets([tp])
        c.beginning_offsets([tp])
        c.offsets_for_times({tp: int(time.time() * 1000) - 60_000})
        c.close()
    step("consume in a group", consume)
    step("list_groups", lambda: admin.list_groups())
    step("describe_groups", lambda: admin.describe_groups(["kp-group"]))
    step("list_group_offsets", lambda: admin.list_group_offsets({"kp-group": None}))
    step("delete_group_offsets", lambda: admin.delete_group_offsets("kp-group", [TopicPartition(t, 0)]))
    step("delete_groups", lambda: admin.delete_groups(["kp-group"]))
    step("delete_topics", lambda: admin.delete_topics([t]))
    admin.close()


def aiokafka(bootstrap):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    t = "aio-topic"

    async def run():
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="golden-aiokafka")
        await admin.start()

        async def astep(name, coro_fn):
            try:
                await coro_fn()
                print(f"  ok   {name}", file=sys.stderr)
            except Exception as e:  # noqa: BLE001
                print(f"  FAIL {name}: {e!r}", file=sys.stderr)

        await astep("create_topics", lambda: admin.create_topics(
            [NewTopic(t, 2, 1, topic_configs={"retention.ms": "3600000"})]))
        await astep("describe_configs", lambda: admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t)]))
        await astep("alter_configs", lambda: admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t, configs={"retention.ms": "7200000"})]))
        await astep("create_partitions", lambda: admin.create_partitions({t: NewPartitions(3)}))
        await astep("describe_cluster", lambda: admin.describe_cluster())
        for codec in CODECS:
            async def produce(codec=codec):
                p = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="golden-aiokafka",
                                     compression_type=codec, linger_ms=5)
                await p.start()
                try:
                    for i in range(N):
                        await p.send_and_wait(t, key=f"k{i}".encode(), value=f"{codec}-value-{i}".encode() * 4,
                                              headers=[("h", b"v")], partition=i % 3)
                finally:
                    await p.stop()
            await astep(f"produce {codec}", produce)

        async def consume():
            c = AIOKafkaConsumer(t, bootstrap_servers=bootstrap, client_id="golden-aiokafka", group_id="aio-group",
                                 auto_offset_reset="earliest", enable_auto_commit=False)
            await c.start()
            try:
                deadline = time.time() + 15
                got = 0
                while got < N and time.time() < deadline:
                    batch = await c.getmany(timeout_ms=500)
                    got += sum(len(v) for v in batch.values())
                await c.commit()
                tp = TopicPartition(t, 0)
                await c.committed(tp)
                await c.end_offsets([tp])
                await c.beginning_offsets([tp])
                await c.offsets_for_times({tp: int(time.time() * 1000) - 60_000})
            finally:
                await c.stop()
        await astep("consume in a group", consume)
        await astep("list_consumer_groups", lambda: admin.list_consumer_groups())
        await astep("describe_consumer_groups", lambda: admin.describe_consumer_groups(["aio-group"]))
        await astep("list_consumer_group_offsets", lambda: admin.list_consumer_group_offsets("aio-group"))
        await astep("describe_topics", lambda: admin.describe_topics([t]))
        await astep("delete_topics", lambda: admin.delete_topics([t]))
        await admin.close()

    asyncio.run(run())


SCENARIOS = {"confluent": confluent, "kafka-python": kafka_python, "aiokafka": aiokafka}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in SCENARIOS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(SCENARIOS)}}} BOOTSTRAP")
    SCENARIOS[sys.argv[1]](sys.argv[2])
