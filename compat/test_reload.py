"""SIGHUP re-reads the config file: users, ACLs (and quotas) change without a restart.

A SASL_PLAINTEXT broker starts with one user, alice. After the config file gains bob,
a SIGHUP lets bob authenticate; after it gains an ACL for bob, bob's producer writes
where it was refused before; after alice is removed, alice is refused. A broken file
changes nothing and is reported. The process is the same throughout (same pid).
"""

from __future__ import annotations

import json
import os
import signal

import confluent_kafka as ck

from kafka_clients import ck_admin, wait_until
from sasl_wire import WireClient

T = 20  # seconds


def users(d, *names) -> str:
    out = "users:\n"
    for n in names:
        (d / f"{n}.pw").write_text(f"{n}-pw")
        out += f"  - name: {n}\n    password_file: {json.dumps(str(d / f'{n}.pw'))}\n"
    return out


BASE = """\
authorizer: acl
super_users: ["User:alice"]
acls:
  - principal: User:alice
    resource: {type: topic, name: reload-, pattern: prefixed}
    operations: [all]
    permission: allow
"""

BOB_ACL = """\
  - principal: User:bob
    resource: {type: topic, name: reload-, pattern: prefixed}
    operations: [write, describe]
    permission: allow
"""


def authenticates(g, user: str) -> bool:
    host, port = g.bootstrap.split(":")
    w = WireClient(host, int(port))
    try:
        return w.plain(user, f"{user}-pw")[0] == 0
    finally:
        w.close()


def sighup_and_wait(g, marker_count: int, word: str) -> None:
    os.kill(g.pid, signal.SIGHUP)
    wait_until(lambda: g.logs().count(word) >= marker_count, timeout=T, what=f"{word!r} in the log")


def bob_produce(g, topic: str) -> ck.KafkaError | None:
    p = ck.Producer({"bootstrap.servers": g.bootstrap, "security.protocol": "SASL_PLAINTEXT",
                     "sasl.mechanism": "PLAIN", "sasl.username": "bob", "sasl.password": "bob-pw",
                     "message.timeout.ms": 5000})
    result = []
    p.produce(topic, b"v", on_delivery=lambda err, msg: result.append(err))
    p.flush(T)
    assert result, "no delivery report"
    return result[0]


def test_sighup_reloads_users_and_acls_from_the_config_file(gregor_factory, tmp_path):
    listeners = [{"name": "SASL", "security": "sasl_plaintext", "sasl": {"mechanisms": ["PLAIN"]}}]
    g = gregor_factory(listeners=listeners, extra_yaml=BASE + users(tmp_path, "alice"))
    pid = g.pid
    topic = "reload-orders"
    admin = ck_admin(g.bootstrap, **{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                                     "sasl.username": "alice", "sasl.password": "alice-pw"})
    admin.create_topics([ck.admin.NewTopic(topic, 1, 1)])[topic].result(timeout=T)
    assert authenticates(g, "alice")
    assert not authenticates(g, "bob")

    # bob appears: he authenticates, but no ACL lets him write yet
    g.extra_yaml = BASE + users(tmp_path, "alice", "bob")
    g.write_config()
    sighup_and_wait(g, 1, "config reloaded")
    assert authenticates(g, "bob")
    err = bob_produce(g, topic)
    assert err is not None and err.code() == ck.KafkaError.TOPIC_AUTHORIZATION_FAILED, err

    # an ACL for bob: the same producer settings now write
    g.extra_yaml = BASE + BOB_ACL + users(tmp_path, "alice", "bob")
    g.write_config()
    sighup_and_wait(g, 2, "config reloaded")
    assert bob_produce(g, topic) is None

    # a broken file changes nothing, and says why
    g.config_path.write_text(g.config_text() + "bogus_key: 1\n")
    sighup_and_wait(g, 1, "config not reloaded")
    assert "bogus_key" in [ln for ln in g.logs().splitlines() if "config not reloaded" in ln][-1]
    assert authenticates(g, "bob") and authenticates(g, "alice")

    # alice removed: refused from now on
    g.extra_yaml = BASE + BOB_ACL + users(tmp_path, "bob")
    g.write_config()
    sighup_and_wait(g, 3, "config reloaded")
    assert not authenticates(g, "alice")
    assert authenticates(g, "bob")
    assert g.pid == pid and g.running()
