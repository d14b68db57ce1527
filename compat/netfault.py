"""A fault-injecting network between gregor nodes on one machine: a TCP relay per
directed link, so that a link can be cut or slowed without touching the others.

Every node reaches every other through its own relay port (node a's controller RPCs
to node b go through relay a→b, and so do a's replica fetches from b), so a relay
knows both ends of everything it carries. Clients are node 0.

A cut link holds what it carries, in both directions, until it is healed: to both
ends the peer falls silent, as in a real partition, where TCP retransmits until the
link returns or a timeout gives up. A delayed link forwards each chunk that much
later.
"""

from __future__ import annotations

import socket
import threading
import time

CLIENT = 0
_CHUNK = 65536


class Net:
    def __init__(self):
        self._cut: set[frozenset[int]] = set()
        self._delay_s: dict[frozenset[int], float] = {}
        self._changed = threading.Condition()
        self._closed = False
        self._listeners: list[socket.socket] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ links
    def relay(self, src: int, dst: int, target_port: int, avoid: set[int] = frozenset()) -> int:
        """A port on 127.0.0.1 whose connections reach 127.0.0.1:`target_port` (on
        node `dst`) over the link src–dst; not one of `avoid` (ports picked for
        processes that have not bound them yet)."""
        held = []
        while True:
            ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            ls.bind(("127.0.0.1", 0))
            if ls.getsockname()[1] not in avoid:
                break
            held.append(ls)  # kept bound until a good one is found, so it is not offered again
        for h in held:
            h.close()
        ls.listen(64)
        port = ls.getsockname()[1]
        self._listeners.append(ls)
        threading.Thread(target=self._accept, args=(ls, src, dst, target_port), daemon=True).start()
        return port

    def partition(self, alone: int, others: list[int]) -> None:
        """Cuts every link between `alone` and `others` (clients keep reaching it)."""
        for o in others:
            self.cut(alone, o)

    def cut(self, a: int, b: int) -> None:
        with self._changed:
            self._cut.add(frozenset((a, b)))
            self._changed.notify_all()

    def restore(self, a: int, b: int) -> None:
        with self._changed:
            self._cut.discard(frozenset((a, b)))
            self._changed.notify_all()

    def delay(self, a: int, b: int, seconds: float) -> None:
        with self._changed:
            self._delay_s[frozenset((a, b))] = seconds

    def heal(self) -> None:
        with self._changed:
            self._cut.clear()
            self._delay_s.clear()
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        for s in self._listeners + self._conns:
            try:
                s.close()
            except OSError:
                pass

    # ------------------------------------------------------------------ relaying
    def _accept(self, ls: socket.socket, src: int, dst: int, target_port: int) -> None:
        while not self._closed:
            try:
                a, _ = ls.accept()
            except OSError:
                return
            try:
                b = socket.create_connection(("127.0.0.1", target_port), timeout=5)
            except OSError:
                a.close()  # the node is down: as it would refuse
                continue
            b.settimeout(None)
            for s in (a, b):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns += [a, b]
            link = frozenset((src, dst))
            threading.Thread(target=self._pump, args=(a, b, link), daemon=True).start()
            threading.Thread(target=self._pump, args=(b, a, link), daemon=True).start()

    def _pump(self, frm: socket.socket, to: socket.socket, link: frozenset[int]) -> None:
        try:
            while True:
                data = frm.recv(_CHUNK)
                if not data:
                    break
                with self._changed:
                    while link in self._cut and not self._closed:
                        self._changed.wait(1.0)
                    delay = self._delay_s.get(link, 0.0)
                if self._closed:
                    break
                if delay:
                    time.sleep(delay)
                to.sendall(data)
        except OSError:
            pass
        finally:
            for s in (frm, to):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            frm.close()
            with self._lock:
                if frm in self._conns:
                    self._conns.remove(frm)
