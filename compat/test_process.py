"""The process contract the other tests rely on: health endpoints, SIGTERM, restart on
the same ports, config validation."""

from __future__ import annotations

import subprocess
import urllib.request

from conftest import _child_env
from kafka_clients import ck_admin


def http_status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status


def test_health_and_ready(gregor):
    assert http_status(gregor.admin_url + "/healthz") == 200
    assert http_status(gregor.admin_url + "/readyz") == 200
    md = ck_admin(gregor.bootstrap).list_topics(timeout=10)
    assert [b.id for b in md.brokers.values()] == [1]


def test_sigterm_exits_zero_and_restarts_on_same_ports(gregor):
    port, admin = gregor.port, gregor.admin_port
    assert gregor.stop() == 0
    assert gregor.readyz() is None, "admin endpoint still answers after exit"
    gregor.start()
    assert (gregor.port, gregor.admin_port) == (port, admin)
    assert ck_admin(gregor.bootstrap).list_topics(timeout=10).brokers


def test_unknown_config_key_is_rejected(gregor_factory):
    g = gregor_factory(broker={"num.partitionz": 3}, start=False)
    r = subprocess.run([str(g.bin), "serve", "--config", str(g.config_path)],
                       capture_output=True, timeout=20, env=_child_env(), cwd=g.dir)
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode != 0, f"gregor accepted an unknown key:\n{out}"
    assert "num.partitionz" in out, out
