"""TLS, mTLS and SASL with real clients over real sockets.

One broker per module serves four listeners: SASL_SSL (SCRAM-SHA-512, SCRAM-SHA-256,
PLAIN), SSL with required client certificates, SASL_PLAINTEXT (PLAIN only) and
PLAINTEXT. Certificates are made by the test with openssl (compat/certs.py). Each
client produces records and reads them back byte for byte on each secure listener.

Negative cases check Kafka's error code where the protocol carries one (by hand-written
requests, compat/sasl_wire.py, since clients wrap errors in their own retries), that
real clients fail, that nothing was written, and that a good client on the same
broker is unaffected. Tests that make clients fail repeatedly get a broker of their own
so that the per-address failure delay they cause cannot slow the others.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import time
import types
from pathlib import Path

import confluent_kafka as ck
import pytest

from certs import make_certs
from conftest import Gregor
from kafka_clients import (aio_produce, assert_same_records, ck_admin, ck_produce, consume,
                           expected_by_partition, kp_produce, make_specs)
from sasl_wire import Closed, WireClient
from test_kafkajs_sarama import _kafkajs_missing, kafkajs

ALICE_PASSWORD = "alice-s3cret!"
ADMIN_PASSWORD = "admin-pw"
KCAT = shutil.which("kcat")
MECHANISMS = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("pki"))


def secure_listeners(pki, reauth: bool = False) -> list[dict]:
    tls = {"cert": pki.server.cert, "key": pki.server.key}
    return [
        {"name": "SASL_SSL", "security": "sasl_ssl", "tls": tls, "sasl": {"mechanisms": MECHANISMS}},
        {"name": "SSL", "security": "ssl",
         "tls": dict(tls, client_ca=pki.ca, client_auth="required")},
        {"name": "SASL_PLAINTEXT", "security": "sasl_plaintext", "sasl": {"mechanisms": ["PLAIN"]}},
        {"name": "PLAINTEXT", "security": "plaintext"},
    ]


def users_yaml(d: Path) -> str:
    (d / "alice.pw").write_text(ALICE_PASSWORD + "\n")
    (d / "admin.pw").write_text(ADMIN_PASSWORD)
    return (
        "log:\n  level: info\n  audit: true\n"
        "users:\n"
        f"  - name: alice\n    password_file: {json.dumps(str(d / 'alice.pw'))}\n"
        f"  - name: admin\n    password_file: {json.dumps(str(d / 'admin.pw'))}\n"
    )


def start_secure(workdir: Path, pki, gregor_bin, broker: dict | None = None) -> Gregor:
    workdir.mkdir(parents=True, exist_ok=True)
    g = Gregor(workdir, binary=gregor_bin, broker=broker, listeners=secure_listeners(pki),
               extra_yaml=users_yaml(workdir))
    return g.start()


@pytest.fixture(scope="module")
def secure(tmp_path_factory, pki, gregor_bin):
    g = start_secure(tmp_path_factory.mktemp("secure"), pki, gregor_bin)
    yield g
    g.cleanup()


@pytest.fixture
def own_secure(tmp_path, pki, gregor_bin, request):
    made = []
    request.node._gregors = made

    def make(broker: dict | None = None) -> Gregor:
        g = start_secure(tmp_path / f"b{len(made)}", pki, gregor_bin, broker)
        made.append(g)
        return g

    yield make
    for g in made:
        g.cleanup()


# ------------------------------------------------------------------ client settings
def ck_conf(pki, listener: str, mechanism: str | None = None, user: str = "alice",
            password: str = ALICE_PASSWORD, cert=None) -> dict:
    c = {}
    if listener in ("SASL_SSL", "SSL"):
        c["ssl.ca.location"] = pki.ca
    if listener in ("SASL_SSL", "SASL_PLAINTEXT"):
        c.update({"sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password})
    if cert is not None:
        c.update({"ssl.certificate.location": cert.cert, "ssl.key.location": cert.key})
    c["security.protocol"] = listener
    return c


def kp_conf(pki, listener: str, mechanism: str | None = None, user: str = "alice",
            password: str = ALICE_PASSWORD, cert=None) -> dict:
    c = {"security_protocol": listener}
    if listener in ("SASL_SSL", "SSL"):
        c["ssl_cafile"] = pki.ca
    if listener in ("SASL_SSL", "SASL_PLAINTEXT"):
        c.update(sasl_mechanism=mechanism, sasl_plain_username=user, sasl_plain_password=password)
    if cert is not None:
        c.update(ssl_certfile=cert.cert, ssl_keyfile=cert.key)
    return c


def aio_conf(pki, listener: str, mechanism: str | None = None, user: str = "alice",
             password: str = ALICE_PASSWORD, cert=None) -> dict:
    from aiokafka.helpers import create_ssl_context
    c = {"security_protocol": listener}
    if listener in ("SASL_SSL", "SSL"):
        c["ssl_context"] = create_ssl_context(
            cafile=pki.ca, certfile=cert.cert if cert else None, keyfile=cert.key if cert else None)
    if listener in ("SASL_SSL", "SASL_PLAINTEXT"):
        c.update(sasl_mechanism=mechanism, sasl_plain_username=user, sasl_plain_password=password)
    return c


def kafkajs_args(pki, listener: str, mechanism: str | None = None, user: str = "alice",
                 password: str = ALICE_PASSWORD, cert=None) -> list[str]:
    a = []
    if listener in ("SASL_SSL", "SSL"):
        a += ["--ssl-ca", pki.ca]
    if listener in ("SASL_SSL", "SASL_PLAINTEXT"):
        a += ["--sasl-mechanism", mechanism.lower(), "--sasl-username", user, "--sasl-password", password]
    if cert is not None:
        a += ["--ssl-cert", cert.cert, "--ssl-key", cert.key]
    return a


def kcat_args(pki, listener: str, mechanism: str | None = None, user: str = "alice",
              password: str = ALICE_PASSWORD, cert=None) -> list[str]:
    return [x for k, v in ck_conf(pki, listener, mechanism, user, password, cert).items()
            for x in ("-X", f"{k.replace('sasl.mechanism', 'sasl.mechanisms')}={v}")]


# ------------------------------------------------------------------ round trips
def python_round_trip(client: str, bootstrap: str, topic: str, conf: dict, n: int = 30):
    specs = make_specs(n, partitions=1, seed=len(topic), big=False)
    produce = {"confluent": ck_produce, "kafka-python": kp_produce, "aiokafka": aio_produce}[client]
    delivered = produce(bootstrap, topic, specs, **conf)
    got = consume(client, bootstrap, topic, [0], n, **conf)
    assert_same_records(expected_by_partition(specs, delivered), got, f"{client} over {conf}")


def kafkajs_round_trip(bootstrap: str, topic: str, args: list[str], n: int = 20):
    target = types.SimpleNamespace(bootstrap=bootstrap)
    lines = kafkajs(target, "produce", "--topic", topic, "--count", n, *args).lines
    assert len(lines) == n, lines
    got = kafkajs(target, "consume-group", "--topic", topic, "--group", f"g-{topic}", "--count", n,
                  "--from-beginning", *args).lines
    assert sorted(int(r["offset"]) for r in got) == list(range(n)), got


def kcat_round_trip(bootstrap: str, topic: str, args: list[str], n: int = 20):
    if not KCAT:
        pytest.fail("kcat is not installed: run scripts/install-test-deps.sh", pytrace=False)
    values = [f"kcat-{i}" for i in range(n)]
    p = subprocess.run([KCAT, "-b", bootstrap, "-P", "-t", topic, *args],
                       input="\n".join(values).encode() + b"\n", capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode(errors="replace")[-2000:]
    c = subprocess.run([KCAT, "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", *args],
                       capture_output=True, timeout=60)
    assert c.returncode == 0, c.stderr.decode(errors="replace")[-2000:]
    assert c.stdout.decode().split() == values


def round_trip(client: str, g: Gregor, pki, listener: str, topic: str, mechanism=None, cert=None):
    bootstrap = g.listener(listener)
    if client == "kafkajs":
        if _kafkajs_missing():
            pytest.fail(_kafkajs_missing(), pytrace=False)
        kafkajs_round_trip(bootstrap, topic, kafkajs_args(pki, listener, mechanism, cert=cert))
    elif client == "kcat":
        kcat_round_trip(bootstrap, topic, kcat_args(pki, listener, mechanism, cert=cert))
    else:
        conf = {"confluent": ck_conf, "kafka-python": kp_conf, "aiokafka": aio_conf}[client](
            pki, listener, mechanism, cert=cert)
        python_round_trip(client, bootstrap, topic, conf)


CLIENTS = ["confluent", "kafka-python", "aiokafka", "kafkajs", "kcat"]


@pytest.mark.parametrize("client", CLIENTS)
def test_sasl_ssl_scram_sha_512(secure, pki, client, new_topic):
    round_trip(client, secure, pki, "SASL_SSL", new_topic(), "SCRAM-SHA-512")


@pytest.mark.parametrize("client", CLIENTS)
def test_sasl_ssl_plain(secure, pki, client, new_topic):
    round_trip(client, secure, pki, "SASL_SSL", new_topic(), "PLAIN")


@pytest.mark.parametrize("client", ["confluent", "kafka-python", "aiokafka"])
def test_sasl_ssl_scram_sha_256(secure, pki, client, new_topic):
    round_trip(client, secure, pki, "SASL_SSL", new_topic(), "SCRAM-SHA-256")


@pytest.mark.parametrize("client", CLIENTS)
def test_ssl_with_client_certificate(secure, pki, client, new_topic):
    round_trip(client, secure, pki, "SSL", new_topic(), cert=pki.client)


def test_client_certificate_subject_is_the_principal(secure, pki, new_topic):
    round_trip("confluent", secure, pki, "SSL", new_topic(), cert=pki.other_client)
    audit = [line for line in secure.logs().splitlines() if "gregor::audit" in line]
    assert any("User:CN=bob,OU=ops,O=acme" in line and "success" in line for line in audit), audit[-5:]


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_sasl_plaintext_plain(secure, pki, client, new_topic):
    round_trip(client, secure, pki, "SASL_PLAINTEXT", new_topic(), "PLAIN")


def test_api_versions_advertises_sasl(secure):
    w = WireClient("127.0.0.1", secure.ports["SASL_PLAINTEXT"])
    try:
        versions = w.api_versions()
        assert versions[17] == (0, 1), versions.get(17)
        assert versions[36][0] == 0 and versions[36][1] >= 1, versions.get(36)
        assert w.handshake("PLAIN") == (0, ["PLAIN"])
    finally:
        w.close()


# ------------------------------------------------------------------ negative cases
def tls_context(pki, cert=None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki.ca)
    if cert is not None:
        ctx.load_cert_chain(cert.cert, cert.key)
    return ctx


def test_wrong_password_and_unknown_user_get_the_same_error(secure, pki):
    answers = []
    for i, (user, password) in enumerate([("alice", "wrong"), ("nobody", "whatever")]):
        w = WireClient("127.0.0.1", secure.ports["SASL_SSL"], tls=tls_context(pki),
                       source_ip=f"127.0.0.{20 + i}")
        try:
            err, msg = w.plain(user, password)
            assert err == 58, (err, msg)  # SASL_AUTHENTICATION_FAILED
            assert w.is_closed(), "the connection must close after a failed authentication"
            answers.append(msg)
        finally:
            w.close()
    assert answers[0] == answers[1], "unknown user and wrong password must be indistinguishable"
    assert "wrong" not in answers[0] and ALICE_PASSWORD not in secure.logs()


def test_mechanism_not_enabled_on_the_listener(secure):
    w = WireClient("127.0.0.1", secure.ports["SASL_PLAINTEXT"], source_ip="127.0.0.22")
    try:
        # SASL_PLAINTEXT offers only PLAIN: SCRAM is refused at the handshake
        err, mechs = w.handshake("SCRAM-SHA-512")
        assert (err, mechs) == (33, ["PLAIN"])  # UNSUPPORTED_SASL_MECHANISM
        assert w.is_closed()
    finally:
        w.close()


def test_unsupported_mechanism(secure, pki):
    w = WireClient("127.0.0.1", secure.ports["SASL_SSL"], tls=tls_context(pki), source_ip="127.0.0.23")
    try:
        err, mechs = w.handshake("GSSAPI")
        assert err == 33 and sorted(mechs) == sorted(MECHANISMS), (err, mechs)
        assert w.is_closed()
    finally:
        w.close()


def test_requests_before_authentication_close_the_connection(secure):
    w = WireClient("127.0.0.1", secure.ports["SASL_PLAINTEXT"], source_ip="127.0.0.24")
    try:
        w.api_versions()  # allowed before authentication
        with pytest.raises(Closed):
            w.metadata()
    finally:
        w.close()
    w = WireClient("127.0.0.1", secure.ports["SASL_PLAINTEXT"], source_ip="127.0.0.24")
    try:
        with pytest.raises(Closed):
            w.authenticate(b"\0alice\0" + ALICE_PASSWORD.encode())  # no handshake first
    finally:
        w.close()
    # and after a successful authentication, everything flows
    w = WireClient("127.0.0.1", secure.ports["SASL_PLAINTEXT"], source_ip="127.0.0.24")
    try:
        assert w.plain("alice", ALICE_PASSWORD)[0] == 0
        assert len(w.metadata()) > 0
    finally:
        w.close()


def test_sasl_requests_on_a_plaintext_listener_get_illegal_sasl_state(secure):
    w = WireClient("127.0.0.1", secure.ports["PLAINTEXT"])
    try:
        err, _ = w.handshake("PLAIN")
        assert err == 34  # ILLEGAL_SASL_STATE
        assert len(w.metadata()) > 0, "the connection stays usable"
    finally:
        w.close()


def test_failed_authentications_from_one_address_slow_down(secure, pki):
    started = time.monotonic()
    for _ in range(4):
        w = WireClient("127.0.0.1", secure.ports["SASL_PLAINTEXT"], source_ip="127.0.0.30")
        try:
            assert w.plain("alice", "guess")[0] == 58
        finally:
            w.close()
    # 100 + 200 + 400 + 800 ms held before the four answers (base delay 100 ms)
    assert time.monotonic() - started >= 1.5
    # another address is not held up
    started = time.monotonic()
    w = WireClient("127.0.0.1", secure.ports["SASL_PLAINTEXT"], source_ip="127.0.0.31")
    try:
        assert w.plain("alice", ALICE_PASSWORD)[0] == 0
    finally:
        w.close()
    assert time.monotonic() - started < 1.4


def ck_error(bootstrap: str, conf: dict, timeout: float = 10.0) -> ck.KafkaError:
    """The first error a confluent client reports while it tries to connect."""
    errors: list = []
    p = ck.Producer(dict(conf, **{"bootstrap.servers": bootstrap, "error_cb": errors.append,
                                  "reconnect.backoff.max.ms": 1000}))
    deadline = time.monotonic() + timeout
    while not errors and time.monotonic() < deadline:
        p.poll(0.2)
    assert errors, f"no error within {timeout}s for {conf}"
    return errors[0]


def test_real_clients_with_bad_credentials_fail_and_write_nothing(own_secure, pki, new_topic):
    g = own_secure()
    topic = new_topic()
    # wrong users and passwords, none of them alice's: the failure delay is per
    # (user, address), and alice's good client below must not wait behind them
    for conf in (ck_conf(pki, "SASL_SSL", "SCRAM-SHA-512", user="admin", password="nope"),
                 ck_conf(pki, "SASL_SSL", "PLAIN", user="mallory")):
        err = ck_error(g.listener("SASL_SSL"), conf)
        assert err.code() == ck.KafkaError._AUTHENTICATION, err
        assert "SASL_AUTHENTICATION_FAILED" in str(err) or "authentication failed" in str(err), err
    from kafka.errors import KafkaError as KpError
    with pytest.raises(KpError):
        kp_produce(g.listener("SASL_SSL"), topic, make_specs(1, 1), timeout=5,
                   **kp_conf(pki, "SASL_SSL", "SCRAM-SHA-256", user="mallory", password="nope"))
    # the good client still works, and the failed ones wrote nothing
    round_trip("confluent", g, pki, "SASL_SSL", new_topic(), "SCRAM-SHA-512")
    md = ck_admin(g.listener("SASL_SSL"), **ck_conf(pki, "SASL_SSL", "SCRAM-SHA-512")).list_topics(timeout=10)
    assert topic not in md.topics


def test_wrong_protocol_on_each_port(own_secure, pki, new_topic):
    g = own_secure()
    # a plaintext client on the TLS port, a TLS client on the plaintext port
    ck_error(g.listener("SSL"), {"security.protocol": "PLAINTEXT"})
    ck_error(g.listener("PLAINTEXT"), {"security.protocol": "SSL", "ssl.ca.location": pki.ca})
    ck_error(g.listener("SASL_SSL"), ck_conf(pki, "SASL_PLAINTEXT", "PLAIN"))
    assert "a TLS handshake arrived on a listener without TLS" in g.logs()
    round_trip("kafka-python", g, pki, "PLAINTEXT", new_topic())


@pytest.mark.parametrize("which", ["expired_client", "untrusted_client", None])
def test_bad_client_certificates_are_refused(own_secure, pki, which, new_topic):
    g = own_secure()
    cert = getattr(pki, which) if which else None
    err = ck_error(g.listener("SSL"), ck_conf(pki, "SSL", cert=cert))
    assert "SSL" in str(err) or "certificate" in str(err), err
    w = None
    with pytest.raises((ssl.SSLError, Closed, ConnectionResetError, BrokenPipeError)):
        w = WireClient("127.0.0.1", g.ports["SSL"], tls=tls_context(pki, cert))
        w.api_versions()
    if w:
        w.close()
    round_trip("confluent", g, pki, "SSL", new_topic(), cert=pki.client)


def test_reauthentication(own_secure, pki, new_topic):
    """KIP-368: sessions expire after connections.max.reauth.ms; librdkafka
    re-authenticates on the same connection and keeps producing; a client that does
    not is disconnected at its next request."""
    g = own_secure(broker={"connections.max.reauth.ms": 1500})
    topic = new_topic()
    conf = ck_conf(pki, "SASL_SSL", "SCRAM-SHA-512")
    p = ck.Producer(dict(conf, **{"bootstrap.servers": g.listener("SASL_SSL"), "linger.ms": 0}))
    delivered = []
    for i in range(12):
        p.produce(topic, value=b"%d" % i, on_delivery=lambda e, m: delivered.append(e or m.offset()))
        p.flush(10)
        time.sleep(0.4)
    assert delivered == list(range(12)), delivered
    audit = [line for line in g.logs().splitlines() if "gregor::audit" in line and "success" in line]
    per_conn: dict[str, int] = {}
    for line in audit:
        conn = re.search(r"conn\S*?=\S*?(\d+)", line.split("listener")[-1])
        if conn:
            per_conn[conn.group(1)] = per_conn.get(conn.group(1), 0) + 1
    assert max(per_conn.values(), default=0) >= 2, f"no connection re-authenticated: {audit}"
    # a client that never re-authenticates is cut off after the session lifetime
    w = WireClient("127.0.0.1", g.ports["SASL_PLAINTEXT"])
    try:
        assert w.plain("alice", ALICE_PASSWORD)[0] == 0
        w.metadata()
        time.sleep(1.7)
        with pytest.raises(Closed):
            w.metadata()
    finally:
        w.close()


def test_certificate_rotation_keeps_open_connections(pki, tmp_path, gregor_bin):
    """New certificate files are picked up (SIGHUP here; a file change is picked up
    within a second too): new handshakes present the new chain, an open connection
    carries on with the one it started with."""
    rotated = make_certs(tmp_path / "rotated")
    cert_dir = tmp_path / "live"
    cert_dir.mkdir()
    live_cert, live_key = cert_dir / "server.pem", cert_dir / "server.key"
    shutil.copy(pki.server.cert, live_cert)
    shutil.copy(pki.server.key, live_key)
    listeners = secure_listeners(pki)
    listeners[0]["tls"] = {"cert": str(live_cert), "key": str(live_key)}
    g2 = Gregor(tmp_path / "rot", binary=gregor_bin, listeners=listeners, extra_yaml=users_yaml(tmp_path))
    g2.start()
    try:
        old = WireClient("127.0.0.1", g2.ports["SASL_SSL"], tls=tls_context(pki))
        assert old.plain("alice", ALICE_PASSWORD)[0] == 0
        shutil.copy(rotated.server.cert, live_cert)
        shutil.copy(rotated.server.key, live_key)
        os.kill(g2.pid, signal.SIGHUP)

        def new_chain_served():
            w = WireClient("127.0.0.1", g2.ports["SASL_SSL"], tls=tls_context(rotated))
            w.close()
            return True
        from kafka_clients import wait_until
        wait_until(new_chain_served, timeout=10, interval=0.2, what="the rotated certificate to be served")
        with pytest.raises(ssl.SSLError):
            WireClient("127.0.0.1", g2.ports["SASL_SSL"], tls=tls_context(pki))
        assert len(old.metadata()) > 0, "the connection opened before the rotation still works"
        old.close()
        assert "TLS certificates reloaded" in g2.logs()
    finally:
        g2.cleanup()


def test_acls_follow_sasl_and_certificate_principals(own_secure, pki, new_topic):
    """The principal a client authenticated as is the one ACLs see: alice over SCRAM and
    the certificate CN=alice,OU=eng,… (mapped to `alice` by a rule) may write `orders.*`
    only; a denied topic fails with TOPIC_AUTHORIZATION_FAILED and stays empty while
    the allowed one is written."""
    acls = (
        "authorizer: acl\n"
        "super_users: [\"User:admin\"]\n"
        "acls:\n"
        "  - { principal: \"User:alice\", resource: { type: topic, name: \"orders.\", pattern: prefixed },"
        " operations: [write, read, describe, create], permission: allow }\n"
    )
    g = own_secure(broker={"ssl.principal.mapping.rules": "RULE:^CN=([^,]+),OU=eng,.*$/$1/,DEFAULT"})
    g.extra_yaml += acls
    g.write_config()
    g.restart()
    allowed, denied = f"orders.{new_topic()}", new_topic()
    admin = ck_admin(g.listener("SASL_SSL"), **ck_conf(pki, "SASL_SSL", "SCRAM-SHA-512", "admin", ADMIN_PASSWORD))
    from confluent_kafka.admin import NewTopic
    for f in admin.create_topics([NewTopic(t, 1, 1) for t in (allowed, denied)]).values():
        f.result(timeout=20)
    for conf, listener in ((ck_conf(pki, "SASL_SSL", "SCRAM-SHA-512"), "SASL_SSL"),
                           (ck_conf(pki, "SSL", cert=pki.client), "SSL")):
        results = {}
        p = ck.Producer(dict(conf, **{"bootstrap.servers": g.listener(listener), "message.timeout.ms": 10000}))
        for t in (allowed, denied):
            p.produce(t, value=b"x", on_delivery=lambda e, m, t=t: results.__setitem__(t, e))
        p.flush(20)
        assert results[allowed] is None, results
        assert results[denied] is not None and \
            results[denied].code() == ck.KafkaError.TOPIC_AUTHORIZATION_FAILED, results
    # bob's certificate maps to no ACL: denied everywhere
    err = {}
    p = ck.Producer(dict(ck_conf(pki, "SSL", cert=pki.other_client),
                         **{"bootstrap.servers": g.listener("SSL"), "message.timeout.ms": 10000}))
    p.produce(allowed, value=b"x", on_delivery=lambda e, m: err.__setitem__("e", e))
    p.flush(20)
    assert err["e"] is not None and err["e"].code() == ck.KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    # the admin sees exactly two records in the allowed topic and none in the denied one
    c = ck.Consumer(dict(ck_conf(pki, "SASL_SSL", "SCRAM-SHA-512", "admin", ADMIN_PASSWORD),
                         **{"bootstrap.servers": g.listener("SASL_SSL"), "group.id": "audit"}))
    for t, want in ((allowed, 2), (denied, 0)):
        low, high = c.get_watermark_offsets(ck.TopicPartition(t, 0), timeout=10)
        assert high - low == want, (t, low, high)
    c.close()
    denials = [line for line in g.logs().splitlines() if "gregor::audit" in line and "authorization denied" in line]
    assert any("principal=User:CN=bob,OU=ops,O=acme" in line and allowed in line for line in denials), denials
    assert any("principal=User:alice" in line and denied in line for line in denials), denials


def test_large_fetches_over_tls_arrive_whole(secure, pki, new_topic):
    """Multi-megabyte fetch responses over TLS to a consumer of many partitions. (The
    missing-flush stall the benchmark found over sasl_ssl does not reproduce at this
    size; `--security plaintext,sasl_ssl --mib 128` in bench/ does.)"""
    from confluent_kafka.admin import NewTopic
    topic = new_topic()
    admin = ck_admin(secure.listener("PLAINTEXT"))
    admin.create_topics([NewTopic(topic, 8, 1)])[topic].result(timeout=20)
    value = bytes(range(256)) * 32  # 8 KiB
    p = ck.Producer({"bootstrap.servers": secure.listener("PLAINTEXT"), "linger.ms": 20,
                     "batch.size": 1_000_000})
    n = 3200  # ~26 MB over 8 partitions
    for i in range(n):
        p.produce(topic, value=value, partition=i % 8)
        p.poll(0)
    assert p.flush(60) == 0
    conf = ck_conf(pki, "SASL_SSL", "SCRAM-SHA-512")
    got = consume("confluent", secure.listener("SASL_SSL"), topic, range(8), n, timeout=60,
                  **dict(conf, **{"fetch.max.bytes": 52428800, "max.partition.fetch.bytes": 10485760,
                                  "socket.timeout.ms": 10000}))
    assert len(got) == n, f"{len(got)} of {n} records over SASL_SSL"
    assert all(r.value == value for r in got)
