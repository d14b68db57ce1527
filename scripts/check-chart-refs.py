#!/usr/bin/env python3
"""Cross-checks a rendered gregor chart where schema validation cannot see: that the
objects point at each other correctly, that the gregor config only names files the
pod actually mounts, and that with replicas > 1 the pods can form a quorum (voters on
the pods' DNS names and a controller port the pods and the headless Service open).

    check-chart-refs.py RENDERED.yaml
        checks; exits 1 with one line per problem
    check-chart-refs.py RENDERED.yaml --extract DIR
        also writes the ConfigMap's gregor.yaml and entrypoint.sh into DIR

Needs PyYAML (kubernetes-validate brings it into the test venv).
"""
import sys
from pathlib import PurePosixPath

import yaml


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def one(docs, kind):
    found = by_kind(docs, kind)
    if len(found) != 1:
        raise SystemExit(f"expected one {kind}, rendered {len(found)}")
    return found[0]


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def under(path, mount):
    return PurePosixPath(mount) in PurePosixPath(path).parents


def check(docs):
    problems = []
    sts = one(docs, "StatefulSet")
    pod = sts["spec"]["template"]
    pod_labels = pod["metadata"]["labels"]
    container = next(c for c in pod["spec"]["containers"] if c["name"] == "gregor")
    port_names = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    services = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}

    if not selects(sts["spec"]["selector"]["matchLabels"], pod_labels):
        problems.append("StatefulSet selector does not match its pod labels")
    headless = services.get(sts["spec"]["serviceName"])
    if headless is None or headless["spec"].get("clusterIP") != "None":
        problems.append(f"StatefulSet serviceName {sts['spec']['serviceName']} is not a rendered headless Service")
    for name, svc in services.items():
        if not selects(svc["spec"]["selector"], pod_labels):
            problems.append(f"Service {name} selects no gregor pod")
        for p in svc["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            if target not in port_names and target not in port_names.values():
                problems.append(f"Service {name} port {p['name']} targets {target}, which the container lacks")
    for pdb in by_kind(docs, "PodDisruptionBudget"):
        if not selects(pdb["spec"]["selector"]["matchLabels"], pod_labels):
            problems.append("PodDisruptionBudget selects no gregor pod")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        port = container.get(probe, {}).get("httpGet", {}).get("port")
        if port not in port_names:
            problems.append(f"{probe} uses port {port}, which the container lacks")

    for sm in by_kind(docs, "ServiceMonitor"):
        chosen = [s for s in services.values() if selects(sm["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
        if len(chosen) != 1:
            problems.append(f"ServiceMonitor selects {len(chosen)} Services (want the headless one only)")
            continue
        svc_ports = {p["name"] for p in chosen[0]["spec"]["ports"]}
        for ep in sm["spec"]["endpoints"]:
            if ep.get("port") not in svc_ports:
                problems.append(f"ServiceMonitor endpoint port {ep.get('port')} is not a port of {chosen[0]['metadata']['name']}")

    volumes = {v["name"] for v in pod["spec"].get("volumes", [])}
    volumes |= {t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates", [])}
    mounts = {}
    for m in container.get("volumeMounts", []):
        if m["name"] not in volumes:
            problems.append(f"volumeMount {m['name']} has no volume")
        mounts[m["mountPath"]] = m
    for outer, m in mounts.items():
        if m.get("readOnly") and not m.get("subPath"):
            for inner in mounts:
                if under(inner, outer):
                    # the runtime cannot create the mount point in a read-only volume
                    problems.append(f"volumeMount {inner} lies inside the read-only mount {outer}")
    writable = [p for p, m in mounts.items() if not m.get("readOnly")]
    secret_mounts = [
        mounts[p]["mountPath"]
        for p in mounts
        for v in pod["spec"].get("volumes", [])
        if v["name"] == mounts[p]["name"] and "secret" in v
    ]

    config = yaml.safe_load(config_map(docs)["data"]["gregor.yaml"])
    problems += check_cluster(sts, container, headless, services, config)
    if not any(under(config["data_dir"], p) for p in writable):
        problems.append(f"data_dir {config['data_dir']} is on no writable volume")
    files = []
    for listener in config["listeners"]:
        for key, path in (listener.get("tls") or {}).items():
            if key != "client_auth":
                files.append((f"listener {listener['name']} tls.{key}", path))
    for user in config.get("users") or []:
        if user.get("password_file"):
            files.append((f"user {user['name']} password_file", user["password_file"]))
    client = (config.get("cluster") or {}).get("inter_broker_client") or {}
    for key, path in (client.get("tls") or {}).items():
        if key != "server_name":
            files.append((f"cluster.inter_broker_client tls.{key}", path))
    if (client.get("sasl") or {}).get("password_file"):
        files.append(("cluster.inter_broker_client sasl.password_file", client["sasl"]["password_file"]))
    for what, path in files:
        if not any(under(path, m) for m in secret_mounts):
            problems.append(f"{what} {path} lies in no mounted Secret")
    return problems


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def check_cluster(sts, container, headless, services, config):
    """What a quorum of pods needs: voters that are the pods' DNS names on a controller
    port the pod and the headless Service open, pods started together and findable
    before they are ready, and readiness that waits for the quorum."""
    problems = []
    replicas = sts["spec"]["replicas"]
    cluster = config.get("cluster")
    numbers = [p["containerPort"] for p in container.get("ports", [])]
    if len(numbers) != len(set(numbers)):
        problems.append(f"container ports repeat a number: {numbers}")
    admin = {p["name"]: p["containerPort"] for p in container.get("ports", [])}.get("admin")
    if admin != port_of(config["admin"]["bind"]):
        problems.append(f"container port admin ({admin}) is not admin.bind ({config['admin']['bind']})")
    ready = container.get("readinessProbe", {}).get("httpGet", {})
    if (ready.get("path"), ready.get("port")) != ("/readyz", "admin"):
        problems.append(f"readinessProbe is {ready}, not /readyz on the admin port")
    if replicas == 1:
        if cluster is not None:
            problems.append("one replica renders a cluster: section")
        return problems
    if cluster is None:
        return problems + [f"{replicas} replicas render no cluster: section"]
    if sts["spec"].get("podManagementPolicy") != "Parallel":
        problems.append("podManagementPolicy is not Parallel: pod 0 would wait for a quorum that never starts")
    if headless is not None and headless["spec"].get("publishNotReadyAddresses") is not True:
        problems.append("the headless Service does not publish not-ready pods: voters cannot find each other")
    controller = {p["name"]: p["containerPort"] for p in container.get("ports", [])}.get("controller")
    if controller is None:
        return problems + ["the container has no port named controller"]
    if headless is not None and controller not in [p["port"] for p in headless["spec"]["ports"]]:
        problems.append(f"the headless Service lacks the controller port {controller}")
    for name, svc in services.items():
        if svc is not headless and controller in [p["port"] for p in svc["spec"]["ports"]]:
            problems.append(f"Service {name} exposes the controller port {controller}")
    if port_of(cluster.get("controller_bind", ":0")) != controller:
        problems.append(f"cluster.controller_bind {cluster.get('controller_bind')} is not on port {controller}")
    namespace = sts["metadata"].get("namespace")
    domain = f"{sts['spec']['serviceName']}.{namespace}.svc."
    voters = cluster.get("voters", [])
    if len(voters) != replicas:
        problems.append(f"{len(voters)} voters for {replicas} replicas")
    for i, voter in enumerate(voters):
        node, address = voter.split("@", 1)
        host = address.rsplit(":", 1)[0]
        if node != str(i + 1) or not host.startswith(f"{sts['metadata']['name']}-{i}.{domain}"):
            problems.append(f"voter {voter} is not node {i + 1} at pod {sts['metadata']['name']}-{i}.{domain}…")
        if port_of(address) != controller:
            problems.append(f"voter {voter} is not on the controller port {controller}")
        if port_of(address) in [port_of(l["bind"]) for l in config["listeners"]]:
            problems.append(f"voter {voter} is on a listener's port")
    inter = [l for l in config["listeners"] if l["name"] == cluster.get("inter_broker_listener")]
    if not inter:
        return problems + [f"inter_broker_listener {cluster.get('inter_broker_listener')} is no listener"]
    security = inter[0].get("security", "plaintext")
    client = cluster.get("inter_broker_client") or {}
    # gregor's rule: the inter-broker client has tls exactly when the listener uses
    # TLS, and sasl exactly when it uses SASL
    if security.endswith("ssl") != bool(client.get("tls")):
        problems.append(f"inter_broker_listener {inter[0]['name']} is {security} but inter_broker_client.tls is "
                        f"{'missing' if security.endswith('ssl') else 'set'}")
    if security.startswith("sasl") != bool(client.get("sasl")):
        problems.append(f"inter_broker_listener {inter[0]['name']} is {security} but inter_broker_client.sasl is "
                        f"{'missing' if security.startswith('sasl') else 'set'}")
    return problems


def config_map(docs):
    return next(d for d in by_kind(docs, "ConfigMap") if "gregor.yaml" in d.get("data", {}))


def main(argv):
    docs = [d for d in yaml.safe_load_all(open(argv[1])) if d]
    problems = check(docs)
    for p in problems:
        print(f"  {p}")
    if len(argv) == 4 and argv[2] == "--extract":
        data = config_map(docs)["data"]
        for name in ("gregor.yaml", "entrypoint.sh"):
            with open(f"{argv[3]}/{name}", "w") as f:
                f.write(data[name])
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
