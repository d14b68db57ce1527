"""A fault-injecting TCP relay for Kafka connections on loopback.

Clients connect to the relay; for each client connection it opens one to the broker
(`upstream`) and forwards bytes both ways, frame by frame (Kafka's 4-byte size
prefix). It remembers which request each response answers (responses come back in
request order on a Kafka connection) and, on a seeded schedule, injects the fault an
idempotent producer exists for: the Produce request reaches the broker (which appends
it), the broker's response is read and thrown away, and the client's connection is
closed. The client cannot tell whether its batch was written, so it retries it; the
broker must recognise the retry as a duplicate.

Schedule: `every_n` (the Nth, 2Nth, ... Produce request seen by the relay) and/or
`probability` (each Produce request, from `random.Random(seed)`), at most `max_faults`
in all, only while `enabled`. Produce requests with acks=0 get no response and are never
faulted. Requests a client pipelines behind the faulted one are still forwarded (their
responses are lost with the connection too), as a real network would.

The relay must sit in the broker's Metadata too, or clients would bypass it after
bootstrapping: give the broker a listener whose `advertised` address is the relay's
(`test_idempotence.py` does so with a second listener).

    relay = Relay(("127.0.0.1", broker_port), every_n=5, seed=1).start()
    ... clients use relay.bootstrap ...
    relay.faults, relay.stats(); relay.stop()
"""

from __future__ import annotations

import asyncio
import collections
import random
import socket
import struct
import threading

PRODUCE = 0
# Request header v2 (tagged fields) starts at this Produce version.
PRODUCE_FLEXIBLE_MIN = 9
FRAME_BYTES_MAX = 256 * 1024 * 1024


def _uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift > 35:
            raise ValueError("varint too long")


def produce_acks(body: bytes) -> int | None:
    """The acks of a Produce request frame body (without the size), None if unreadable."""
    try:
        api_key, version = struct.unpack_from(">hh", body, 0)
        if api_key != PRODUCE or version < 3:
            return None
        pos = 8  # api key, version, correlation id
        (client_id_len,) = struct.unpack_from(">h", body, pos)
        pos += 2 + max(client_id_len, 0)
        flexible = version >= PRODUCE_FLEXIBLE_MIN
        if flexible:  # header tagged fields
            count, pos = _uvarint(body, pos)
            for _ in range(count):
                _, pos = _uvarint(body, pos)
                size, pos = _uvarint(body, pos)
                pos += size
            n, pos = _uvarint(body, pos)  # transactional id: compact nullable string
            pos += max(n - 1, 0)
        else:
            (n,) = struct.unpack_from(">h", body, pos)
            pos += 2 + max(n, 0)
        (acks,) = struct.unpack_from(">h", body, pos)
        return acks
    except (struct.error, IndexError, ValueError):
        return None


class _Buf:
    """A cursor over Kafka's primitive types (enough for Produce request/response)."""

    def __init__(self, buf: bytes, pos: int = 0):
        self.buf, self.pos = buf, pos

    def take(self, fmt: str):
        v = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def uvarint(self) -> int:
        v, self.pos = _uvarint(self.buf, self.pos)
        return v

    def array_len(self, flexible: bool) -> int:
        return self.uvarint() - 1 if flexible else self.take(">i")

    def string(self, flexible: bool) -> str | None:
        n = self.uvarint() - 1 if flexible else self.take(">h")
        if n < 0:
            return None
        s = self.buf[self.pos:self.pos + n].decode(errors="replace")
        self.pos += n
        return s

    def raw(self, flexible: bool) -> bytes | None:
        n = self.uvarint() - 1 if flexible else self.take(">i")
        if n < 0:
            return None
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.pos += self.uvarint()


def produce_request_batches(body: bytes) -> list[tuple]:
    """(topic, partition, producer id, epoch, base sequence, record count) of every
    batch in a Produce request frame body; [] if unreadable."""
    try:
        api_key, version = struct.unpack_from(">hh", body, 0)
        if api_key != PRODUCE or version < 3 or version >= 13:
            return []
        flexible = version >= PRODUCE_FLEXIBLE_MIN
        b = _Buf(body, 8)
        n = b.take(">h")
        b.pos += max(n, 0)
        if flexible:
            b.skip_tags()
        b.string(flexible)  # transactional id
        b.take(">hi")  # acks, timeout
        out = []
        for _ in range(b.array_len(flexible)):
            topic = b.string(flexible)
            for _ in range(b.array_len(flexible)):
                partition = b.take(">i")
                records = b.raw(flexible) or b""
                pos = 0
                while pos + 61 <= len(records):
                    (length,) = struct.unpack_from(">i", records, pos + 8)
                    pid, epoch, seq, count = struct.unpack_from(">qhii", records, pos + 43)
                    out.append((topic, partition, pid, epoch, seq, count))
                    pos += 12 + length
                if flexible:
                    b.skip_tags()
            if flexible:
                b.skip_tags()
        return out
    except (struct.error, IndexError, ValueError):
        return []


def produce_response_partitions(frame_body: bytes, version: int) -> list[tuple]:
    """(topic, partition, error code, base offset) of a Produce response (frame body
    without the size, starting at the correlation id); [] if unreadable."""
    try:
        flexible = version >= PRODUCE_FLEXIBLE_MIN
        b = _Buf(frame_body, 4)
        if flexible:
            b.skip_tags()
        out = []
        for _ in range(b.array_len(flexible)):
            topic = b.string(flexible)
            for _ in range(b.array_len(flexible)):
                partition, err, base = b.take(">ihq")
                if version >= 2:
                    b.take(">q")
                if version >= 5:
                    b.take(">q")
                if version >= 8:
                    for _ in range(b.array_len(flexible)):
                        b.take(">i")
                        b.string(flexible)
                        if flexible:
                            b.skip_tags()
                    b.string(flexible)
                if flexible:
                    b.skip_tags()
                out.append((topic, partition, err, base))
            if flexible:
                b.skip_tags()
        return out
    except (struct.error, IndexError, ValueError):
        return []


class _Pending:
    __slots__ = ("correlation_id", "api_key", "version", "fault")

    def __init__(self, correlation_id: int, api_key: int, version: int, fault: bool):
        self.correlation_id = correlation_id
        self.api_key = api_key
        self.version = version
        self.fault = fault


class Relay:
    """See the module docstring. Runs its own asyncio loop in a daemon thread."""

    def __init__(self, upstream: tuple[str, int], *, every_n: int | None = None,
                 probability: float = 0.0, seed: int = 0, max_faults: int | None = None,
                 host: str = "127.0.0.1", port: int = 0, trace: bool = False):
        self.upstream = upstream
        # with trace, every Produce request's batches and every response's partition
        # results, in order: ("req", conn, corr, batches, fault) / ("resp", conn, corr,
        # partitions, dropped) (see produce_request_batches, produce_response_partitions)
        self.trace: list[tuple] | None = [] if trace else None
        self.every_n = every_n
        self.probability = probability
        self.max_faults = max_faults
        self.enabled = True
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        # counters (read them through stats())
        self.faults = 0
        self.connections = 0
        self.upstream_failures = 0
        self.produce_requests = 0
        self.requests = 0
        self.responses = 0
        self.mismatches = 0
        # bind now, so the port is known before the broker (which advertises it) starts
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(128)
        self.host, self.port = self._sock.getsockname()[:2]
        self.bootstrap = f"{self.host}:{self.port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server = None
        self._conns: set[asyncio.Task] = set()

    # ------------------------------------------------------------------ control
    def start(self) -> "Relay":
        ready = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)

            async def serve():
                self._server = await asyncio.start_server(self._accept, sock=self._sock)
                ready.set()

            self._loop.run_until_complete(serve())
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name=f"relay-{self.port}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("relay did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shutdown():
            self._server.close()
            for t in list(self._conns):
                t.cancel()
            await asyncio.gather(*self._conns, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def drop_all(self) -> None:
        """Closes every relayed connection now (clients reconnect)."""
        if self._loop is not None:
            for t in list(self._conns):
                self._loop.call_soon_threadsafe(t.cancel)

    def stats(self) -> dict:
        with self._lock:
            return {
                "faults": self.faults, "connections": self.connections,
                "upstream_failures": self.upstream_failures,
                "produce_requests": self.produce_requests, "requests": self.requests,
                "responses": self.responses, "mismatches": self.mismatches,
            }

    def resent(self) -> dict:
        """From the trace: batches a client sent again (same topic, partition, producer
        id, epoch, base sequence), how many records they held, and how many of those
        were answered without error (the broker acknowledged a duplicate or appended a
        batch it never got)."""
        assert self.trace is not None, "Relay(trace=True) needed"
        seen: set = set()
        resent_keys: dict = {}
        out = {"resent_batches": 0, "resent_records": 0, "resent_acked": 0}
        for event in list(self.trace):
            kind, conn, corr, items, _fault = event
            if kind == "req":
                for topic, partition, pid, epoch, seq, count in items:
                    if pid < 0:
                        continue
                    key = (topic, partition, pid, epoch, seq)
                    if key in seen:
                        out["resent_batches"] += 1
                        out["resent_records"] += count
                        resent_keys[(conn, corr, topic, partition)] = True
                    seen.add(key)
            else:
                for topic, partition, err, _base in items:
                    if err == 0 and resent_keys.pop((conn, corr, topic, partition), False):
                        out["resent_acked"] += 1
        return out

    def __enter__(self) -> "Relay":
        return self.start() if self._loop is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ schedule
    def _decide(self, api_key: int, body: bytes) -> bool:
        """Counts the request; True when its response is to be dropped."""
        with self._lock:
            self.requests += 1
            if api_key != PRODUCE:
                return False
            self.produce_requests += 1
            n = self.produce_requests
            if not self.enabled or produce_acks(body) == 0:
                return False
            if self.max_faults is not None and self.faults >= self.max_faults:
                return False
            hit = bool(self.every_n) and n % self.every_n == 0
            if self.probability and self._rng.random() < self.probability:
                hit = True
            return hit

    # ------------------------------------------------------------------ relaying
    async def _accept(self, creader, cwriter):
        task = asyncio.current_task()
        self._conns.add(task)
        with self._lock:
            self.connections += 1
        uwriter = None
        try:
            try:
                ureader, uwriter = await asyncio.wait_for(
                    asyncio.open_connection(*self.upstream), timeout=5)
            except (OSError, asyncio.TimeoutError):
                with self._lock:
                    self.upstream_failures += 1
                return
            pending: collections.deque[_Pending] = collections.deque()
            with self._lock:
                conn = self.connections
            up = asyncio.ensure_future(self._client_to_broker(creader, uwriter, pending, conn))
            down = asyncio.ensure_future(self._broker_to_client(ureader, cwriter, pending, conn))
            try:
                await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in (up, down):
                    t.cancel()
                await asyncio.gather(up, down, return_exceptions=True)
        except asyncio.CancelledError:
            pass
        finally:
            for w in (cwriter, uwriter):
                if w is not None:
                    _abort(w)
            self._conns.discard(task)

    async def _client_to_broker(self, reader, writer, pending, conn):
        while True:
            frame = await _read_frame(reader)
            if frame is None:
                return
            body = frame[4:]
            if len(body) < 8:
                return
            api_key, version, corr = struct.unpack_from(">hhi", body, 0)
            fault = self._decide(api_key, body)
            if self.trace is not None and api_key == PRODUCE:
                self.trace.append(("req", conn, corr, produce_request_batches(body), fault))
            if not (api_key == PRODUCE and produce_acks(body) == 0):
                pending.append(_Pending(corr, api_key, version, fault))
            writer.write(frame)
            await writer.drain()

    async def _broker_to_client(self, reader, writer, pending, conn):
        while True:
            frame = await _read_frame(reader)
            if frame is None:
                return
            (corr,) = struct.unpack_from(">i", frame, 4)
            if not pending or pending[0].correlation_id != corr:
                with self._lock:
                    self.mismatches += 1
                return
            p = pending.popleft()
            if self.trace is not None and p.api_key == PRODUCE:
                self.trace.append(("resp", conn, corr, produce_response_partitions(frame[4:], p.version),
                                   p.fault))
            with self._lock:
                self.responses += 1
                if p.fault:
                    # written to the broker, answered, answer lost: drop the client
                    self.faults += 1
            if p.fault:
                return
            writer.write(frame)
            await writer.drain()


async def _read_frame(reader) -> bytes | None:
    try:
        head = await reader.readexactly(4)
        (size,) = struct.unpack(">i", head)
        if size < 0 or size > FRAME_BYTES_MAX:
            return None
        return head + await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError, OSError):
        return None


def _abort(writer) -> None:
    try:
        writer.transport.abort()
    except Exception:  # noqa: BLE001 - closing is best effort
        pass
