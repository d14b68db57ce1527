"""Operations: `/metrics` read by promtool and by a real Prometheus server, metrics
moved by real clients, the connection and slow-request log lines, and metrics off.

Values are checked against what the clients did: records produced, the log end
offset, a group's lag after a partial commit, error codes of refused requests,
authentication outcomes by mechanism.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import confluent_kafka as ck
import pytest
from confluent_kafka.admin import NewTopic

from conftest import free_port
from kafka_clients import ck_admin, ck_produce, make_specs, wait_until
from sasl_wire import WireClient

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def scrape(g) -> str:
    with urllib.request.urlopen(g.admin_url + "/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    out = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if not m:
            continue
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(text: str, name: str, **labels) -> float | None:
    want = frozenset((k, str(v)) for k, v in labels.items())
    for (n, ls), v in samples(text).items():
        if n == name and want <= ls:
            return v
    return None


def promtool_check(text: str) -> None:
    assert PROMTOOL, "promtool is installed by scripts/install-test-deps.sh (Debian package prometheus)"
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    assert r.returncode == 0, f"promtool check metrics:\n{r.stdout.decode()}{r.stderr.decode()}"


def test_metrics_follow_what_clients_did_and_pass_promtool(gregor_factory, new_topic):
    g = gregor_factory(broker={"num.partitions": 1})
    topic = new_topic()
    n = 40
    ck_produce(g.bootstrap, topic, make_specs(n, 1))

    # a group reads everything and commits half way: lag = n - committed
    committed = 15
    c = ck.Consumer({"bootstrap.servers": g.bootstrap, "group.id": "metrics-g", "auto.offset.reset": "earliest",
                     "enable.auto.commit": False})
    c.subscribe([topic])
    got = 0
    deadline = time.monotonic() + 30
    while got < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got += 1
    assert got == n
    c.commit(offsets=[ck.TopicPartition(topic, 0, committed)], asynchronous=False)
    members_seen = value(scrape(g), "gregor_group_members", group="metrics-g")
    c.close()

    # a refused request: creating a topic that exists
    admin = ck_admin(g.bootstrap)
    fs = admin.create_topics([NewTopic(topic, 1, 1)])
    with pytest.raises(ck.KafkaException) as refused:
        fs[topic].result(timeout=10)
    assert refused.value.args[0].code() == ck.KafkaError.TOPIC_ALREADY_EXISTS

    text = scrape(g)
    promtool_check(text)
    assert members_seen == 1
    assert value(text, "gregor_topic_records_in_total", topic=topic) == n
    assert value(text, "gregor_topic_bytes_in_total", topic=topic) > 0
    assert value(text, "gregor_topic_bytes_out_total", topic=topic) >= value(
        text, "gregor_topic_bytes_in_total", topic=topic)
    assert value(text, "gregor_log_end_offset", topic=topic, partition=0) == n
    assert value(text, "gregor_log_high_watermark", topic=topic, partition=0) == n
    assert value(text, "gregor_log_start_offset", topic=topic, partition=0) == 0
    assert value(text, "gregor_log_segments", topic=topic, partition=0) == 1
    assert value(text, "gregor_log_size_bytes", topic=topic, partition=0) == value(
        text, "gregor_topic_bytes_in_total", topic=topic)
    assert value(text, "gregor_group_lag_records", group="metrics-g", topic=topic, partition=0) == n - committed
    assert value(text, "gregor_groups_by_state", state="Empty") >= 1
    assert value(text, "gregor_cluster_under_replicated_partitions") == 0
    assert value(text, "gregor_cluster_offline_partitions") == 0
    assert value(text, "gregor_kafka_requests_total", api="Produce") >= 1
    assert value(text, "gregor_kafka_request_latency_seconds_count", api="Fetch") >= 1
    assert value(text, "gregor_kafka_request_queue_time_seconds_count", api="Fetch") >= 1
    assert value(text, "gregor_kafka_request_handle_time_seconds_count", api="Fetch") >= 1
    assert value(text, "gregor_kafka_request_errors_total", api="CreateTopics",
                 error="TOPIC_ALREADY_EXISTS", error_code=36) == 1
    assert value(text, "gregor_network_connection_attempts_total", listener="PLAINTEXT") >= 2
    assert value(text, "gregor_network_connections_active", listener="PLAINTEXT") >= 0
    assert value(text, "gregor_process_resident_memory_bytes") > 1 << 20
    assert value(text, "gregor_process_open_fds") > 3

    # the group left: its lag stays, its member count goes with the members
    assert value(text, "gregor_group_members", group="metrics-g") == 0


def test_authentications_by_mechanism_and_connection_log_lines(gregor_factory, tmp_path):
    (tmp_path / "alice.pw").write_text("alice-pw")
    g = gregor_factory(
        listeners=[{"name": "SASL", "security": "sasl_plaintext", "sasl": {"mechanisms": ["PLAIN", "SCRAM-SHA-512"]}}],
        extra_yaml=f"users:\n  - name: alice\n    password_file: {json.dumps(str(tmp_path / 'alice.pw'))}\n")
    host, port = g.bootstrap.split(":")
    w = WireClient(host, int(port))
    assert w.plain("alice", "alice-pw")[0] == 0
    w.close()
    bad = WireClient(host, int(port))
    assert bad.plain("alice", "wrong")[0] == 58
    bad.close()

    text = scrape(g)
    assert value(text, "gregor_security_authentications_total", mechanism="PLAIN", outcome="success") == 1
    assert value(text, "gregor_security_authentications_total", mechanism="PLAIN", outcome="failure") == 1
    # one line per connection opened and closed, with the client's address and principal
    wait_until(lambda: "principal=User:alice" in g.logs(), timeout=10)
    closed = [ln for ln in g.logs().splitlines() if "connection closed" in ln and "listener=SASL" in ln]
    assert any("principal=User:alice" in ln and "client=127.0.0.1:" in ln for ln in closed), closed
    assert sum("connection opened" in ln for ln in g.logs().splitlines()) >= 2


def test_slow_requests_are_logged_over_the_threshold(gregor_factory, new_topic):
    # creating 200 partitions (directories, segment and index files) takes far more
    # than 1 ms; a Fetch's long poll is not counted against the threshold
    g = gregor_factory(extra_yaml="log:\n  slow_request_ms: 1\n")
    topic = new_topic()
    admin = ck_admin(g.bootstrap)
    admin.create_topics([NewTopic(topic, 200, 1)])[topic].result(timeout=30)
    wait_until(lambda: "slow request" in g.logs(), timeout=10)
    slow = [ln for ln in g.logs().splitlines() if "slow request" in ln]
    assert any("api=CreateTopics" in ln and "elapsed_ms=" in ln and "client=127.0.0.1:" in ln for ln in slow), slow
    assert not any("api=Fetch" in ln for ln in slow), slow


def test_metrics_off_serves_404_and_health_still_works(gregor_factory):
    g = gregor_factory(extra_yaml="")
    g.stop()
    g.config_path.write_text(g.config_text().replace(
        f"admin:\n  bind: 127.0.0.1:{g.admin_port}\n", f"admin:\n  bind: 127.0.0.1:{g.admin_port}\n  metrics: false\n"))
    g.start()
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(g.admin_url + "/metrics", timeout=5)
    assert e.value.code == 404
    assert g.readyz() == 200


class PrometheusServer:
    def __init__(self, workdir: Path, target: str):
        self.port = free_port()
        self.dir = workdir
        cfg = workdir / "prometheus.yml"
        cfg.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: gregor\n"
            f"    static_configs:\n      - targets: ['{target}']\n")
        self.log = open(workdir / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def query(self, q: str) -> list:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                body = json.loads(r.read())
        except (urllib.error.URLError, ConnectionError, OSError):
            return []
        assert body["status"] == "success", body
        return body["data"]["result"]

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is installed by scripts/install-test-deps.sh")
def test_a_real_prometheus_scrapes_gregor(gregor, new_topic, tmp_path):
    topic = new_topic()
    ck_produce(gregor.bootstrap, topic, make_specs(25, 1))
    prom = PrometheusServer(tmp_path, f"127.0.0.1:{gregor.admin_port}")
    try:
        def scalar(q):
            r = prom.query(q)
            return float(r[0]["value"][1]) if r else None

        wait_until(lambda: scalar('up{job="gregor"}') == 1.0, timeout=60, what="Prometheus to scrape gregor")
        wait_until(lambda: scalar(f'gregor_topic_records_in_total{{topic="{topic}"}}') == 25.0, timeout=30,
                   what="the produced records in Prometheus")
        assert scalar(f'gregor_log_end_offset{{topic="{topic}",partition="0"}}') == 25.0
        assert scalar('sum(gregor_kafka_requests_total{api="Produce"})') >= 1
        # a histogram is usable as one: a quantile over the latency buckets
        assert scalar('histogram_quantile(0.99, sum by (le) (gregor_kafka_request_latency_seconds_bucket))') > 0
    finally:
        prom.close()
