#!/usr/bin/env python3
"""Loopback Kafka relay that records every request frame a client sends.

    capture.py --listen 19092 --upstream 127.0.0.1:19093 --out protocol-tests/golden --client kcat

Clients connect to --listen; each connection is relayed to --upstream (a running
gregor whose listener advertises the --listen address, so that connections made
after bootstrap come through the relay too). Every complete request frame from a
client is written, without its 4-byte size prefix, as lowercase hex (32 bytes a
line) to

    <out>/<client>/<ApiName>-v<version>-<n>.hex

n counts from 1 per (API, version). Frames that differ from one already kept only
in their correlation id are not kept again, and at most --max-per-version frames
are kept per (API, version). Responses are relayed untouched and not recorded.
Runs until SIGINT/SIGTERM; prints what it kept on exit.
"""

import argparse
import os
import selectors
import signal
import socket
import struct
import sys
import threading

# Kafka's API names by key (org.apache.kafka.common.protocol.ApiKeys).
API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 4: "LeaderAndIsr",
    5: "StopReplica", 6: "UpdateMetadata", 7: "ControlledShutdown", 8: "OffsetCommit",
    9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
    13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups", 16: "ListGroups",
    17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics",
    21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
    24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn", 27: "WriteTxnMarkers",
    28: "TxnOffsetCommit", 29: "DescribeAcls", 30: "CreateAcls", 31: "DeleteAcls",
    32: "DescribeConfigs", 33: "AlterConfigs", 34: "AlterReplicaLogDirs",
    35: "DescribeLogDirs", 36: "SaslAuthenticate", 37: "CreatePartitions",
    38: "CreateDelegationToken", 39: "RenewDelegationToken", 40: "ExpireDelegationToken",
    41: "DescribeDelegationToken", 42: "DeleteGroups", 43: "ElectLeaders",
    44: "IncrementalAlterConfigs", 45: "AlterPartitionReassignments",
    46: "ListPartitionReassignments", 47: "OffsetDelete", 48: "DescribeClientQuotas",
    49: "AlterClientQuotas", 50: "DescribeUserScramCredentials",
    51: "AlterUserScramCredentials", 55: "DescribeQuorum", 57: "UpdateFeatures",
    60: "DescribeCluster", 61: "DescribeProducers", 64: "UnregisterBroker",
    65: "DescribeTransactions", 66: "ListTransactions", 68: "ConsumerGroupHeartbeat",
    69: "ConsumerGroupDescribe", 71: "GetTelemetrySubscriptions", 72: "PushTelemetry",
    74: "ListConfigResources", 75: "DescribeTopicPartitions",
}

# Larger frames are relayed but not kept: golden files stay reviewable.
KEEP_FRAME_BYTES_MAX = 256 * 1024


class Recorder:
    def __init__(self, out_dir, client, max_per_version):
        self.dir = os.path.join(out_dir, client)
        self.max_per_version = max_per_version
        self.lock = threading.Lock()
        self.seen = {}  # (key, version) -> list of frames with the correlation id zeroed
        self.kept = []
        os.makedirs(self.dir, exist_ok=True)

    def record(self, frame):
        if len(frame) < 8 or len(frame) > KEEP_FRAME_BYTES_MAX:
            return
        key, version = struct.unpack(">hh", frame[:4])
        masked = frame[:4] + b"\0\0\0\0" + frame[8:]
        with self.lock:
            frames = self.seen.setdefault((key, version), [])
            if masked in frames or len(frames) >= self.max_per_version:
                return
            frames.append(masked)
            name = API_NAMES.get(key, f"Api{key}")
            path = os.path.join(self.dir, f"{name}-v{version}-{len(frames)}.hex")
            hexed = frame.hex()
            lines = [hexed[i:i + 64] for i in range(0, len(hexed), 64)]
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            self.kept.append(path)


def relay(client_sock, upstream_addr, recorder):
    try:
        upstream = socket.create_connection(upstream_addr)
    except OSError as e:
        print(f"capture: upstream {upstream_addr}: {e}", file=sys.stderr)
        client_sock.close()
        return
    for s in (client_sock, upstream):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sel = selectors.DefaultSelector()
    sel.register(client_sock, selectors.EVENT_READ, "client")
    sel.register(upstream, selectors.EVENT_READ, "upstream")
    pending = b""  # client bytes not yet forming a whole frame
    try:
        while True:
            for key, _ in sel.select():
                data = key.fileobj.recv(1 << 16)
                if not data:
                    return
                if key.data == "upstream":
                    client_sock.sendall(data)
                    continue
                upstream.sendall(data)
                pending += data
                while len(pending) >= 4:
                    (size,) = struct.unpack(">i", pending[:4])
                    if size < 0 or len(pending) < 4 + size:
                        break
                    recorder.record(pending[4:4 + size])
                    pending = pending[4 + size:]
    except OSError:
        pass
    finally:
        sel.close()
        client_sock.close()
        upstream.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", type=int, required=True, help="loopback port clients connect to")
    ap.add_argument("--upstream", required=True, help="host:port of the broker")
    ap.add_argument("--out", required=True, help="golden directory")
    ap.add_argument("--client", required=True, help="subdirectory name for this client")
    ap.add_argument("--max-per-version", type=int, default=6)
    args = ap.parse_args()
    host, port = args.upstream.rsplit(":", 1)
    upstream_addr = (host, int(port))
    recorder = Recorder(args.out, args.client, args.max_per_version)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.listen))
    listener.listen(64)

    def stop(*_):
        for path in sorted(recorder.kept):
            print(path)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"capture: 127.0.0.1:{args.listen} -> {args.upstream}, recording to {recorder.dir}", file=sys.stderr, flush=True)
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=relay, args=(sock, upstream_addr, recorder), daemon=True).start()


if __name__ == "__main__":
    main()
