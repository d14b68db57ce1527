"""ACLs with real clients against the real binary (`authorizer: acl`, PLAINTEXT).

Every connection here is `User:ANONYMOUS`, so the config grants that principal
what each test needs: everything on topics `ok-*` and group `g-ok`, and on the
cluster CREATE, DESCRIBE and ALTER (to create topics and manage ACLs). Topics
`no-*` and group `g-no` have no ACL at all, so with `allow.everyone.if.no.acl.found`
off they are denied.

- kafka-python's and confluent-kafka's admin clients create, describe and delete
  ACLs; online ACLs survive a restart and ACLs from the config file cannot be deleted;
- a confluent-kafka producer gets TOPIC_AUTHORIZATION_FAILED on a denied topic while
  another topic works, and an ACL created online lets it through;
- a confluent-kafka consumer is denied on a group (GROUP_AUTHORIZATION_FAILED) and
  consumes in an allowed one;
- each denial leaves one `gregor::audit` line.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType,
                                   NewTopic, ResourcePatternType)
from confluent_kafka.admin import ResourceType as CkResourceType

from kafka_clients import ck_admin, ck_consumer, ck_producer, kp_admin, wait_until

T = 20  # seconds

ACLS_YAML = """\
authorizer: acl
log:
  level: info
  audit: true
acls:
  - principal: User:ANONYMOUS
    resource: {type: topic, name: ok-, pattern: prefixed}
    operations: [all]
    permission: allow
  - principal: User:ANONYMOUS
    resource: {type: group, name: g-ok}
    operations: [all]
    permission: allow
  - principal: User:ANONYMOUS
    resource: {type: cluster, name: kafka-cluster}
    operations: [create, describe, alter]
    permission: allow
  - principal: User:config-defined
    resource: {type: topic, name: from-config}
    operations: [read]
    permission: allow
"""


@pytest.fixture
def broker(gregor_factory):
    return gregor_factory(extra_yaml=ACLS_YAML)


def create_topics(bootstrap: str, *names: str) -> None:
    a = ck_admin(bootstrap)
    futures = a.create_topics([NewTopic(n, num_partitions=1, replication_factor=1) for n in names],
                              operation_timeout=10)
    for f in futures.values():
        f.result(T)


def produce_one(bootstrap: str, topic: str) -> KafkaError | None:
    """Produces one record; the delivery error (None on success)."""
    p = ck_producer(bootstrap, **{"message.timeout.ms": 10000})
    outcome: list = []
    p.produce(topic, value=b"v", on_delivery=lambda err, msg: outcome.append(err))
    p.flush(T)
    assert outcome, f"no delivery report for {topic}"
    return outcome[0]


def audit_lines(g, needle: str) -> list[str]:
    return [l for l in g.logs().splitlines() if "gregor::audit" in l and needle in l]


# ------------------------------------------------------------------ kafka-python admin
def test_kafka_python_admin_creates_describes_and_deletes_acls(broker):
    from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                             ResourcePattern, ResourcePatternFilter, ResourceType)
    admin = kp_admin(broker.bootstrap)
    try:
        acl = ACL(principal="User:alice", host="*", operation=ACLOperation.READ,
                  permission_type=ACLPermissionType.ALLOW,
                  resource_pattern=ResourcePattern(ResourceType.TOPIC, "orders-",
                                                   ACLResourcePatternType.PREFIXED))
        group_acl = ACL(principal="User:alice", host="*", operation=ACLOperation.READ,
                        permission_type=ACLPermissionType.ALLOW,
                        resource_pattern=ResourcePattern(ResourceType.GROUP, "alice-group",
                                                         ACLResourcePatternType.LITERAL))
        result = admin.create_acls([acl, group_acl])
        assert result["failed"] == [] and len(result["succeeded"]) == 2, result

        alice = ACLFilter(principal="User:alice", host=None, operation=ACLOperation.ANY,
                          permission_type=ACLPermissionType.ANY,
                          resource_pattern=ResourcePatternFilter(ResourceType.ANY, None,
                                                                 ACLResourcePatternType.ANY))
        found, error = admin.describe_acls(alice)
        assert error.errno == 0
        assert {(a.resource_pattern.resource_type, a.resource_pattern.resource_name,
                 a.resource_pattern.pattern_type) for a in found} == {
            (ResourceType.TOPIC, "orders-", ACLResourcePatternType.PREFIXED),
            (ResourceType.GROUP, "alice-group", ACLResourcePatternType.LITERAL)}

        # MATCH: what applies to the topic orders-eu (the prefixed ACL)
        match = ACLFilter(principal=None, host=None, operation=ACLOperation.ANY,
                          permission_type=ACLPermissionType.ANY,
                          resource_pattern=ResourcePatternFilter(ResourceType.TOPIC, "orders-eu",
                                                                 ACLResourcePatternType.MATCH))
        found, _ = admin.describe_acls(match)
        assert [a.resource_pattern.resource_name for a in found] == ["orders-"]

        # an invalid binding is refused (a CLUSTER resource must be kafka-cluster)
        bad = ACL(principal="User:alice", host="*", operation=ACLOperation.ALTER,
                  permission_type=ACLPermissionType.ALLOW,
                  resource_pattern=ResourcePattern(ResourceType.CLUSTER, "not-the-cluster",
                                                   ACLResourcePatternType.LITERAL))
        result = admin.create_acls([bad])
        assert len(result["failed"]) == 1 and result["failed"][0].errno == 42  # INVALID_REQUEST

        deleted = admin.delete_acls([alice])
        assert len(deleted) == 1
        _, matching, error = deleted[0]
        assert error.errno == 0 and len(matching) == 2
        found, _ = admin.describe_acls(alice)
        assert found == []
    finally:
        admin.close()


def test_online_acls_survive_a_restart_and_config_acls_stay(broker):
    from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                             ResourcePattern, ResourcePatternFilter, ResourceType)
    admin = kp_admin(broker.bootstrap)
    acl = ACL(principal="User:carol", host="*", operation=ACLOperation.WRITE,
              permission_type=ACLPermissionType.ALLOW,
              resource_pattern=ResourcePattern(ResourceType.TOPIC, "carols", ACLResourcePatternType.LITERAL))
    assert admin.create_acls([acl])["failed"] == []
    admin.close()
    broker.restart()
    admin = kp_admin(broker.bootstrap)
    try:
        every = ACLFilter(principal=None, host=None, operation=ACLOperation.ANY,
                          permission_type=ACLPermissionType.ANY,
                          resource_pattern=ResourcePatternFilter(ResourceType.ANY, None,
                                                                 ACLResourcePatternType.ANY))
        found, _ = admin.describe_acls(every)
        names = {(a.principal, a.resource_pattern.resource_name) for a in found}
        assert ("User:carol", "carols") in names, names
        assert ("User:config-defined", "from-config") in names, names
        # a config ACL is matched but not deleted
        cfg = ACLFilter(principal="User:config-defined", host=None, operation=ACLOperation.ANY,
                        permission_type=ACLPermissionType.ANY,
                        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None,
                                                               ACLResourcePatternType.ANY))
        (_, matching, error), = admin.delete_acls([cfg])
        assert len(matching) == 1
        found, _ = admin.describe_acls(cfg)
        assert len(found) == 1, "config-defined ACLs stay"
    finally:
        admin.close()
    assert (broker.data_dir / "gregor-acls.json").is_file()


# ------------------------------------------------------------------ confluent-kafka admin
def test_confluent_admin_manages_acls(broker):
    a = ck_admin(broker.bootstrap)
    binding = AclBinding(CkResourceType.TOPIC, "dave-topic", ResourcePatternType.LITERAL, "User:dave", "*",
                         AclOperation.READ, AclPermissionType.ALLOW)
    for f in a.create_acls([binding], request_timeout=T).values():
        assert f.result(T) is None
    dave = AclBindingFilter(CkResourceType.ANY, None, ResourcePatternType.ANY, "User:dave", None,
                            AclOperation.ANY, AclPermissionType.ANY)
    found = a.describe_acls(dave, request_timeout=T).result(T)
    assert [(b.name, b.operation) for b in found] == [("dave-topic", AclOperation.READ)]
    deleted = [f.result(T) for f in a.delete_acls([dave], request_timeout=T).values()]
    assert [len(d) for d in deleted] == [1]
    assert a.describe_acls(dave, request_timeout=T).result(T) == []


# ------------------------------------------------------------------ producer and consumer
def test_producer_is_denied_one_topic_and_served_another(broker):
    create_topics(broker.bootstrap, "ok-orders", "no-orders")
    assert produce_one(broker.bootstrap, "ok-orders") is None
    err = produce_one(broker.bootstrap, "no-orders")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    assert audit_lines(broker, "no-orders"), broker.log_tail()

    # an ACL created online lets the same producer configuration through
    a = ck_admin(broker.bootstrap)
    grant = AclBinding(CkResourceType.TOPIC, "no-orders", ResourcePatternType.LITERAL, "User:ANONYMOUS", "*",
                       AclOperation.WRITE, AclPermissionType.ALLOW)
    for f in a.create_acls([grant], request_timeout=T).values():
        f.result(T)
    assert produce_one(broker.bootstrap, "no-orders") is None


def test_consumer_is_denied_a_group_and_served_in_another(broker):
    create_topics(broker.bootstrap, "ok-events")
    assert produce_one(broker.bootstrap, "ok-events") is None

    denied = ck_consumer(broker.bootstrap, **{"group.id": "g-no", "auto.offset.reset": "earliest"})
    denied.subscribe(["ok-events"])
    seen: list[int] = []
    deadline = time.monotonic() + T
    try:
        while time.monotonic() < deadline and KafkaError.GROUP_AUTHORIZATION_FAILED not in seen:
            msg = denied.poll(0.5)
            if msg is not None:
                assert msg.error() is not None, "a denied group must not deliver records"
                seen.append(msg.error().code())
    finally:
        denied.close()
    assert KafkaError.GROUP_AUTHORIZATION_FAILED in seen, seen
    assert audit_lines(broker, "g-no"), broker.log_tail()

    allowed = ck_consumer(broker.bootstrap, **{"group.id": "g-ok", "auto.offset.reset": "earliest"})
    allowed.subscribe(["ok-events"])
    got: list[bytes] = []
    try:
        wait_until(lambda: _poll_into(allowed, got), timeout=T)
    finally:
        allowed.close()
    assert got == [b"v"]


def _poll_into(consumer, out: list) -> bool:
    msg = consumer.poll(0.5)
    if msg is not None and msg.error() is None:
        out.append(msg.value())
    return bool(out)
