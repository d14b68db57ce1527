#!/usr/bin/env python3
"""Runs the gregor chart's rendered cluster without Kubernetes: one real gregor process
per pod on 127.0.0.1, each started through the chart's own entrypoint with the
rendered gregor.yaml, then checks that they form a working cluster.

    check-chart-cluster.py DIR GREGOR_BIN
        DIR holds gregor.yaml and entrypoint.sh from a render with replicas > 1
        (check-chart-refs.py --extract writes them)

What stands in for Kubernetes, per pod <sts>-<i> (the pod names, namespace and DNS
names come from the rendered cluster.voters):
  - the environment: a clean one with only POD_NAME and POD_NAMESPACE, as the
    StatefulSet sets them, plus the overrides below;
  - the pod network: every pod has all ports to itself, here they share 127.0.0.1, so
    each (pod, container port) gets a free host port, and bind addresses move there
    by GREGOR_… overrides: listeners[j].bind, admin.bind, cluster.controller_bind;
  - DNS: <pod>.<headless>.<ns>.svc.<domain>:<port> becomes 127.0.0.1:<that pod's host
    port>, in cluster.voters (a GREGOR_CLUSTER__VOTERS override) and in the advertised
    addresses the entrypoint exports: a `gregor` on PATH first checks that the
    entrypoint set GREGOR_NODE_ID and every listener's advertised address to this
    pod's own, rewrites those names, then execs the real gregor (same PID);
  - the volume: data_dir moves to a temporary directory per pod (GREGOR_DATA_DIR);
  - the Secrets: every file the config names (listener TLS files, users' and the
    inter-broker client's password files, the inter-broker client's CA) moves to a
    temporary directory holding test ones: a CA (`ca`, `client_ca`), a server
    certificate and key it signed for 127.0.0.1 (`cert`, `key`; the pods' DNS names
    resolve there), and a random password per password file.
Nothing else of the rendered config changes.

Then: all pods' /readyz answer 200 on the admin port; a Metadata request to each node
lists every broker at its (mapped) advertised address; a topic with replication factor
= replicas takes one record with acks=all, shows a full ISR, and the record reads back.
Clients use the first listener: with TLS they trust the test CA, with SASL they log in
as the first super user that has a password file, with the listener's first mechanism.
Followers replicate over the rendered inter-broker listener with the rendered
inter_broker_client settings, so a full ISR shows that path works too.
The processes are stopped by PID (SIGTERM, then SIGKILL) and the directory removed
on every exit.

Needs PyYAML, confluent-kafka and kafka-python (the test venv has them).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compat"))
from certs import make_certs  # noqa: E402  (the compat tests' certificates)

READY_TIMEOUT_S = 30
CLIENT_TIMEOUT_S = 15
STOP_TIMEOUT_S = 15
TOPIC = "chart-cluster-check"

# Runs as `gregor` after the entrypoint's `exec gregor "$@"`: checks what the
# entrypoint exported for this pod, maps pod DNS names to 127.0.0.1, execs gregor.
SHIM = """#!{python}
import json, os, sys
plan = json.load(open(os.environ.pop("CHART_POD_PLAN")))
env = dict(os.environ)
def fail(message):
    sys.exit(f"pod {{plan['pod']}}: entrypoint: {{message}}")
if env.get("GREGOR_NODE_ID") != str(plan["node_id"]):
    fail(f"GREGOR_NODE_ID={{env.get('GREGOR_NODE_ID')}}, want {{plan['node_id']}}")
for var, want in plan["advertised"].items():
    if env.get(var) != want:
        fail(f"{{var}}={{env.get(var)}}, want {{want}}")
    env[var] = plan["addresses"][want]
os.execve(plan["gregor"], ["gregor"] + sys.argv[1:], env)
"""


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def free_ports(count):
    """Distinct free ports on 127.0.0.1 (held open together so none repeats)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Pods:
    def __init__(self, config_dir, gregor, work):
        self.config_path = config_dir / "gregor.yaml"
        self.entrypoint = config_dir / "entrypoint.sh"
        self.gregor = str(Path(gregor).resolve())
        self.work = work
        self.config = yaml.safe_load(self.config_path.read_text())
        cluster = self.config.get("cluster") or sys.exit("the rendered config has no cluster: section")
        self.voters = []  # (node id, DNS name, controller port), in pod order
        for voter in cluster["voters"]:
            node, address = voter.split("@", 1)
            self.voters.append((int(node), address.rsplit(":", 1)[0], port_of(address)))
        self.namespace = self.voters[0][1].split(".")[2]
        self.container_ports = sorted(
            {port_of(l["bind"]) for l in self.config["listeners"]}
            | {port_of(self.config["admin"]["bind"]), port_of(cluster["controller_bind"])}
        )
        host_ports = iter(free_ports(len(self.voters) * len(self.container_ports)))
        # (pod index, container port) -> host port on 127.0.0.1
        self.host_port = {(i, p): next(host_ports) for i in range(len(self.voters)) for p in self.container_ports}
        # "<pod DNS name>:<container port>" -> "127.0.0.1:<host port>"
        self.addresses = {
            f"{host}:{p}": f"127.0.0.1:{self.host_port[(i, p)]}"
            for i, (_, host, _) in enumerate(self.voters)
            for p in self.container_ports
        }
        self.secrets, self.secret_env = self.stand_in_secrets(work / "secrets")
        self.procs = []
        self.shim_dir = work / "path"
        self.shim_dir.mkdir()
        shim = self.shim_dir / "gregor"
        shim.write_text(SHIM.format(python=sys.executable))
        shim.chmod(0o755)

    def stand_in_secrets(self, d):
        """({original path: test file}, {GREGOR_… override: test file}) for every
        file the config names."""
        named = []  # (override variable, role, original path)
        for j, listener in enumerate(self.config["listeners"]):
            for key in ("cert", "key", "client_ca"):
                if (listener.get("tls") or {}).get(key):
                    named.append((f"GREGOR_LISTENERS__{j}__TLS__{key.upper()}", key, listener["tls"][key]))
        for k, user in enumerate(self.config.get("users") or []):
            if user.get("password_file"):
                named.append((f"GREGOR_USERS__{k}__PASSWORD_FILE", "password_file", user["password_file"]))
        client = self.config["cluster"].get("inter_broker_client") or {}
        for key in ("ca", "cert", "key"):
            if (client.get("tls") or {}).get(key):
                named.append((f"GREGOR_CLUSTER__INTER_BROKER_CLIENT__TLS__{key.upper()}", key, client["tls"][key]))
        if (client.get("sasl") or {}).get("password_file"):
            named.append(("GREGOR_CLUSTER__INTER_BROKER_CLIENT__SASL__PASSWORD_FILE", "password_file",
                          client["sasl"]["password_file"]))
        self.ca = None
        if not named:
            return {}, {}
        d.mkdir()
        pki = make_certs(d)
        self.ca = pki.ca
        by_role = {"cert": pki.server.cert, "key": pki.server.key, "ca": pki.ca, "client_ca": pki.ca}
        files, env = {}, {}
        for var, role, original in named:
            if original not in files:
                if role == "password_file":
                    files[original] = str(d / f"password-{len(files)}")
                    Path(files[original]).write_text(os.urandom(12).hex())
                else:
                    files[original] = by_role[role]
            env[var] = files[original]
        print(f"  Secrets: {len(files)} files stood in for under {d}")
        return files, env

    def client_config(self):
        """librdkafka settings for the first listener (see the docstring)."""
        listener = self.config["listeners"][0]
        security = listener.get("security", "plaintext")
        conf = {"security.protocol": security.upper()}
        if security.endswith("ssl"):
            conf["ssl.ca.location"] = self.ca
        if security.startswith("sasl"):
            users = {u["name"]: u for u in self.config.get("users") or [] if u.get("password_file")}
            name = next(p.split(":", 1)[1] for p in self.config.get("super_users") or []
                        if p.split(":", 1)[1] in users)
            conf.update({"sasl.mechanism": listener["sasl"]["mechanisms"][0], "sasl.username": name,
                         "sasl.password": Path(self.secrets[users[name]["password_file"]]).read_text()})
        return conf

    def local(self, i, port):
        return f"127.0.0.1:{self.host_port[(i, port)]}"

    def pod_env(self, i):
        node, host, _ = self.voters[i]
        pod_dir = self.work / f"pod-{i}"
        (pod_dir / "volume").mkdir(parents=True)
        plan = {
            "pod": host.split(".")[0],
            "gregor": self.gregor,
            "node_id": node,
            "addresses": self.addresses,
            "advertised": {
                f"GREGOR_LISTENERS__{j}__ADVERTISED": f"{host}:{port_of(l['bind'])}"
                for j, l in enumerate(self.config["listeners"])
                if not l.get("advertised")
            },
        }
        (pod_dir / "plan.json").write_text(json.dumps(plan))
        cluster = self.config["cluster"]
        voters = [f"{n}@{self.addresses[f'{h}:{p}']}" for n, h, p in self.voters]
        env = {
            "PATH": f"{self.shim_dir}:/usr/bin:/bin",
            "POD_NAME": plan["pod"],
            "POD_NAMESPACE": self.namespace,
            "CHART_POD_PLAN": str(pod_dir / "plan.json"),
            "GREGOR_DATA_DIR": str(pod_dir / "volume" / "data"),
            "GREGOR_ADMIN__BIND": self.local(i, port_of(self.config["admin"]["bind"])),
            "GREGOR_CLUSTER__CONTROLLER_BIND": self.local(i, port_of(cluster["controller_bind"])),
            "GREGOR_CLUSTER__VOTERS": json.dumps(voters),
            **self.secret_env,
        }
        for j, l in enumerate(self.config["listeners"]):
            env[f"GREGOR_LISTENERS__{j}__BIND"] = self.local(i, port_of(l["bind"]))
        return env, pod_dir

    def start(self):
        for i in range(len(self.voters)):
            env, pod_dir = self.pod_env(i)
            args = ["sh", str(self.entrypoint), "serve", "--config", str(self.config_path)]
            with open(pod_dir / "gregor.log", "wb") as log:
                self.procs.append((subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT), pod_dir))
            print(f"  pod {env['POD_NAME']}: node {self.voters[i][0]}, pid {self.procs[-1][0].pid}, "
                  + ", ".join(f"{p}->{self.host_port[(i, p)]}" for p in self.container_ports))

    def stop(self):
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def logs_tail(self, lines=15):
        for proc, pod_dir in self.procs:
            text = (pod_dir / "gregor.log").read_text(errors="replace").splitlines()
            print(f"--- {pod_dir.name} (exit {proc.poll()}), last {lines} log lines:", file=sys.stderr)
            print("\n".join(text[-lines:]), file=sys.stderr)

    def admin_url(self, i):
        return f"http://{self.local(i, port_of(self.config['admin']['bind']))}/readyz"

    def kafka_port(self):
        """The container port of the listener clients use here: the first one."""
        return port_of(self.config["listeners"][0]["bind"])

    def wait_ready(self):
        pending = set(range(len(self.voters)))
        deadline = time.monotonic() + READY_TIMEOUT_S
        while pending:
            for proc, pod_dir in self.procs:
                if proc.poll() is not None:
                    raise Failure(f"{pod_dir.name} exited with {proc.returncode} before it was ready")
            for i in sorted(pending):
                try:
                    with urllib.request.urlopen(self.admin_url(i), timeout=1) as r:
                        if r.status == 200:
                            pending.discard(i)
                except OSError:
                    pass
            if pending and time.monotonic() > deadline:
                raise Failure(f"/readyz not 200 after {READY_TIMEOUT_S} s on pods {sorted(pending)}")
            time.sleep(0.2)


class Failure(Exception):
    pass


def kafka_python_config(conf):
    """kafka-python's names for `Pods.client_config` settings."""
    names = {"security.protocol": "security_protocol", "ssl.ca.location": "ssl_cafile",
             "sasl.mechanism": "sasl_mechanism", "sasl.username": "sasl_plain_username",
             "sasl.password": "sasl_plain_password"}
    return {names[k]: v for k, v in conf.items()}


def metadata_brokers(pods, i):
    """Sends Metadata to pod i's node itself and returns ({node id: "host:port"},
    controller id): a client, once it knows several brokers, sends Metadata to
    whichever it likes, and the point is to ask each node."""
    from kafka.admin import KafkaAdminClient
    from kafka.protocol.metadata import MetadataRequest

    node = pods.voters[i][0]
    admin = KafkaAdminClient(bootstrap_servers=pods.local(i, pods.kafka_port()),
                             request_timeout_ms=CLIENT_TIMEOUT_S * 1000,
                             **kafka_python_config(pods.client_config()))
    try:
        async def ask():
            return await admin._manager.send(MetadataRequest(topics=[], allow_auto_topic_creation=False),
                                             node_id=node)
        answer = admin._manager.run(ask)
    finally:
        admin.close()
    return {b.node_id: f"{b.host}:{b.port}" for b in answer.brokers}, answer.controller_id


def check_metadata(pods):
    port = pods.kafka_port()
    want = {n: pods.local(i, port) for i, (n, _, _) in enumerate(pods.voters)}
    for i, (node, _, _) in enumerate(pods.voters):
        address = pods.local(i, port)
        # Each node applies the others' registrations from the metadata log in its own
        # time: give it a moment to agree.
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while (answer := metadata_brokers(pods, i))[0] != want:
            if time.monotonic() > deadline:
                raise Failure(f"Metadata from node {node} ({address}) lists {answer[0]}, want {want}")
            time.sleep(0.2)
        got, controller = answer
        print(f"  node {node} ({address}): Metadata lists brokers {sorted(got)}, controller {controller}")


def check_topic(pods):
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    from kafka import KafkaConsumer, TopicPartition

    replicas = len(pods.voters)
    bootstrap = ",".join(pods.local(i, pods.kafka_port()) for i in range(replicas))
    security = pods.client_config()
    admin = AdminClient({"bootstrap.servers": bootstrap, **security})
    futures = admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=replicas)])
    futures[TOPIC].result(timeout=CLIENT_TIMEOUT_S)
    delivered = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": CLIENT_TIMEOUT_S * 1000,
                         **security})
    producer.produce(TOPIC, key=b"chart", value=b"renders a working cluster",
                     on_delivery=lambda err, msg: delivered.append((err, msg.offset())))
    if producer.flush(CLIENT_TIMEOUT_S) != 0 or not delivered or delivered[0][0] is not None:
        raise Failure(f"acks=all produce to {TOPIC} failed: {delivered or 'no delivery report'}")
    offset = delivered[0][1]
    partition = admin.list_topics(TOPIC, timeout=CLIENT_TIMEOUT_S).topics[TOPIC].partitions[0]
    if len(partition.replicas) != replicas or sorted(partition.isrs) != sorted(partition.replicas):
        raise Failure(f"{TOPIC}-0: replicas {partition.replicas}, ISR {partition.isrs}: want {replicas} in sync")
    print(f"  {TOPIC}-0: leader {partition.leader}, replicas {partition.replicas}, ISR {partition.isrs}; "
          f"acks=all produce at offset {offset}")
    # No consumer group: assign() needs none.
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None, enable_auto_commit=False,
                             consumer_timeout_ms=CLIENT_TIMEOUT_S * 1000, **kafka_python_config(security))
    tp = TopicPartition(TOPIC, 0)
    consumer.assign([tp])
    consumer.seek(tp, offset)
    record = next(iter(consumer), None)
    consumer.close()
    if record is None or (record.key, record.value) != (b"chart", b"renders a working cluster"):
        raise Failure(f"reading {TOPIC}-0 at offset {offset} gave {record}")
    print(f"  read back from the leader: key={record.key!r} value={record.value!r}")


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="gregor-chart-cluster-"))
    pods = None
    try:
        pods = Pods(Path(argv[1]), argv[2], work)
        print(f"starting {len(pods.voters)} pods through entrypoint.sh (namespace {pods.namespace})")
        pods.start()
        pods.wait_ready()
        print(f"  all /readyz 200 after {time.monotonic() - started:.1f} s")
        check_metadata(pods)
        check_topic(pods)
    except Exception as e:  # any failure: show the pods' logs, then fail
        if not isinstance(e, Failure):
            traceback.print_exc()
        print(f"check-chart-cluster: FAILED: {e}", file=sys.stderr)
        if pods is not None:
            pods.logs_tail()
        return 1
    finally:
        if pods is not None:
            pods.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"cluster of {len(pods.voters)} pods: OK in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
