"""pytest fixtures that run a real gregor process for the compatibility tests.

`Gregor` owns one broker process: free loopback ports, a config file and a data
directory in the test's tmp dir, the process's output in a log file there. It waits for
`/readyz` by polling (bounded), and its log tail is attached to every failing test's
report.

The binary is `$GREGOR_BIN` (relative paths are taken from the repo root), else
`target/release/gregor`, else `target/debug/gregor`.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = float(os.environ.get("GREGOR_TEST_READY_TIMEOUT", "30"))
STOP_TIMEOUT_S = 20.0


class GregorError(AssertionError):
    """The broker did not start, did not become ready, or did not stop cleanly."""


def find_binary() -> Path:
    env = os.environ.get("GREGOR_BIN")
    if env:
        path = Path(env)
        if not path.is_absolute():
            path = REPO_ROOT / path
        if not path.is_file():
            raise GregorError(f"GREGOR_BIN={env} does not exist ({path})")
        return path
    for rel in ("target/release/gregor", "target/debug/gregor"):
        path = REPO_ROOT / rel
        if path.is_file():
            return path
    raise GregorError(
        "no gregor binary: build it (cargo build --release) or set GREGOR_BIN"
    )


def _port_range() -> tuple[int, int]:
    """Ports below the kernel's ephemeral range, where outgoing connections never
    land: a node killed and restarted finds its port still free. (The kernel's own
    pick, bind to port 0, comes from that range and could be taken meanwhile.)"""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return (low - 12000, low) if low > 13024 else (low, low + 12000)


_PORT_RANGE = _port_range()
_PORTS_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now and that no earlier call
    in this test run handed out (its process may not have bound it yet)."""
    while True:
        port = random.randrange(*_PORT_RANGE)
        if port in _PORTS_HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_HANDED_OUT.add(port)
        return port


def fresh_port(taken: set[int]) -> int:
    """A free port not in `taken` (ports picked for processes that have not bound
    them yet), added to it."""
    p = free_port()
    while p in taken:
        p = free_port()
    taken.add(p)
    return p


def _yaml_scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _child_env() -> dict:
    # gregor reads every GREGOR_* variable as a config override (GREGOR_A__B=v sets
    # a.b), so variables meant for this harness (GREGOR_BIN, ...) must not reach it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREGOR_")}
    env.setdefault("RUST_BACKTRACE", "1")
    return env


class Gregor:
    """One gregor broker process on loopback, with its own config and data dir."""

    _ids = itertools.count(1)

    def __init__(self, workdir: Path, broker: dict | None = None, binary: Path | None = None,
                 node_id: int = 1, listeners: list[dict] | None = None, extra_yaml: str = ""):
        """`listeners`: [{"name": ..., "security": ..., "tls": {...}, "sasl": {...}}], each
        bound to its own free port unless it names one (`port`), and advertised there
        unless it names another (`advertised_port`: a relay in front); the first is
        `bootstrap`. `extra_yaml`: top-level config text appended as is (users, acls, ...)."""
        self.id = next(self._ids)
        self.dir = Path(workdir) / f"gregor-{self.id}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.bin = Path(binary) if binary else find_binary()
        self.node_id = node_id
        self.data_dir = self.dir / "data"
        self.config_path = self.dir / "gregor.yaml"
        self.log_path = self.dir / "gregor.log"
        self.listener_specs = listeners or [{"name": "PLAINTEXT", "security": "plaintext"}]
        self.extra_yaml = extra_yaml
        taken: set[int] = set()
        self.ports = {spec["name"]: spec.get("port") or fresh_port(taken) for spec in self.listener_specs}
        self.port = self.ports[self.listener_specs[0]["name"]]
        self.admin_port = fresh_port(taken)
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.admin_url = f"http://127.0.0.1:{self.admin_port}"
        self.broker_settings = {
            "auto.create.topics.enable": True,
            "num.partitions": 1,
            "log.segment.bytes": 1073741824,
        }
        self.broker_settings.update(broker or {})
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.exit_codes: list[int] = []
        self.write_config()

    # ------------------------------------------------------------------ config
    def config_text(self) -> str:
        lines = [
            f"node_id: {self.node_id}",
            f"data_dir: {_yaml_scalar(str(self.data_dir))}",
            "listeners:",
        ]
        for spec in self.listener_specs:
            port = self.ports[spec["name"]]
            lines += [
                f"  - name: {spec['name']}",
                f"    bind: 127.0.0.1:{port}",
                f"    advertised: {spec.get('advertised_host', '127.0.0.1')}:{spec.get('advertised_port', port)}",
                f"    security: {spec.get('security', 'plaintext')}",
            ]
            # JSON is YAML: nested settings go in as flow mappings
            for key in ("tls", "sasl"):
                if key in spec:
                    lines.append(f"    {key}: {json.dumps(spec[key])}")
        lines += [
            "admin:",
            f"  bind: 127.0.0.1:{self.admin_port}",
            "broker:",
        ]
        for k, v in self.broker_settings.items():
            lines.append(f"  {k}: {_yaml_scalar(v)}")
        return "\n".join(lines) + "\n" + self.extra_yaml

    def write_config(self) -> None:
        self.config_path.write_text(self.config_text())

    # ------------------------------------------------------------------ process
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = READY_TIMEOUT_S, wait: bool = True) -> "Gregor":
        if self.running():
            raise GregorError(f"gregor #{self.id} already running (pid {self.pid})")
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts}: {self.bin} serve --config "
                      f"{self.config_path} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [str(self.bin), "serve", "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.dir, env=_child_env(), start_new_session=True,
            )
        if wait:
            self.wait_ready(timeout)
        return self

    def listener(self, name: str) -> str:
        """host:port of the named listener."""
        return f"127.0.0.1:{self.ports[name]}"

    def readyz(self) -> int | None:
        """HTTP status of GET /readyz, or None when nothing answers."""
        try:
            with urllib.request.urlopen(self.admin_url + "/readyz", timeout=1.0) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except (urllib.error.URLError, ConnectionError, OSError, TimeoutError):
            return None

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.exit_codes.append(rc)
                raise GregorError(
                    f"gregor exited with {rc} before becoming ready\n{self.log_tail()}")
            last = self.readyz()
            if last == 200:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
                except OSError as e:
                    raise GregorError(
                        f"/readyz is 200 but the Kafka listener {self.bootstrap} refuses "
                        f"connections: {e}\n{self.log_tail()}") from None
                return
            time.sleep(0.05)
        raise GregorError(
            f"gregor not ready after {timeout:.0f}s (last /readyz: {last})\n{self.log_tail()}")

    def _signal_and_wait(self, sig: int, timeout: float) -> int:
        assert self.proc is not None, "gregor was never started"
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill_group()
            rc = self.proc.wait(timeout=10)
            self.exit_codes.append(rc)
            raise GregorError(
                f"gregor did not exit within {timeout:.0f}s of signal {sig}; killed\n"
                f"{self.log_tail()}") from None
        self.exit_codes.append(rc)
        return rc

    def stop(self, timeout: float = STOP_TIMEOUT_S, check: bool = True) -> int:
        """SIGTERM and wait. With check, a non-zero exit status is an error."""
        rc = self._signal_and_wait(signal.SIGTERM, timeout)
        self._kill_group()  # anything it spawned
        if check and rc != 0:
            raise GregorError(f"gregor exited with {rc} on SIGTERM (want 0)\n{self.log_tail()}")
        return rc

    def kill(self) -> int:
        """SIGKILL (kill -9) and wait."""
        rc = self._signal_and_wait(signal.SIGKILL, 10)
        self._kill_group()
        return rc

    def pause(self) -> None:
        """SIGSTOP: the process freezes with its sockets open, as a hung node or one
        cut off from the network looks to its peers."""
        assert self.running(), "gregor is not running"
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after pause()."""
        assert self.proc is not None, "gregor was never started"
        os.kill(self.proc.pid, signal.SIGCONT)

    def restart(self, clean: bool = True, timeout: float = READY_TIMEOUT_S) -> "Gregor":
        if clean:
            self.stop()
        else:
            self.kill()
        return self.start(timeout)

    def _kill_group(self) -> None:
        # The process was started in its own session, so its group id is its pid: this
        # reaches only what this harness started.
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def cleanup(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)  # a paused process cannot stop
            except ProcessLookupError:
                pass
            try:
                self.stop(timeout=10, check=False)
            except GregorError:
                pass
        self._kill_group()

    # ------------------------------------------------------------------ files
    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        text = self.logs().splitlines()
        tail = "\n".join(text[-lines:])
        return f"--- gregor #{self.id} log tail ({self.log_path}) ---\n{tail}\n--- end ---"

    def partition_dir(self, topic: str, partition: int = 0) -> Path:
        return self.data_dir / f"{topic}-{partition}"

    def active_segment(self, topic: str, partition: int = 0) -> Path:
        """The .log file with the highest base offset of a partition."""
        logs = sorted(self.partition_dir(topic, partition).glob("*.log"))
        if not logs:
            raise AssertionError(f"no .log files in {self.partition_dir(topic, partition)}")
        return logs[-1]

    def __repr__(self) -> str:
        return f"<Gregor #{self.id} {self.bootstrap} pid={self.pid}>"


# ---------------------------------------------------------------------- hooks
@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for g in getattr(item, "_gregors", []):
            report.sections.append((f"gregor #{g.id} log ({report.when})", g.log_tail(80)))
    return report


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def gregor_bin() -> Path:
    try:
        return find_binary()
    except GregorError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture
def gregor_factory(tmp_path, request, gregor_bin):
    """make(broker={...}, start=True) -> Gregor; all are stopped at teardown."""
    made: list[Gregor] = []
    request.node._gregors = made

    def make(broker: dict | None = None, start: bool = True, **kwargs) -> Gregor:
        g = Gregor(tmp_path, broker=broker, binary=gregor_bin, **kwargs)
        made.append(g)
        if start:
            g.start()
        return g

    yield make
    for g in made:
        g.cleanup()


@pytest.fixture
def gregor(gregor_factory) -> Gregor:
    """A started broker with default settings (auto-create on, 1 partition)."""
    return gregor_factory()


@pytest.fixture
def new_topic(request):
    """new_topic(prefix='t') -> a topic name not used before in this run."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40].strip("-")
    counter = itertools.count()

    def make(prefix: str = "") -> str:
        return f"{prefix or base}-{next(counter)}-{uuid.uuid4().hex[:8]}"

    return make
