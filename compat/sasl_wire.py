"""A few Kafka requests written by hand, to check exact SASL error codes and when the
broker closes a connection: real clients hide both behind their own retries.

Only what the security tests need: ApiVersions v0, SaslHandshake v1,
SaslAuthenticate v0, Metadata v1 (all non-flexible, request header v1).
"""

from __future__ import annotations

import socket
import ssl
import struct

API_METADATA = 3
API_SASL_HANDSHAKE = 17
API_VERSIONS = 18
API_SASL_AUTHENTICATE = 36


class Closed(Exception):
    """The broker closed the connection."""


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _read_str(buf: bytes, at: int) -> tuple[str | None, int]:
    (n,) = struct.unpack_from(">h", buf, at)
    at += 2
    if n < 0:
        return None, at
    return buf[at:at + n].decode(), at + n


class WireClient:
    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None,
                 source_ip: str | None = None, timeout: float = 15.0):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        if source_ip:
            # each test guesses from its own loopback address, so that the broker's
            # per-address failure delay of one test does not slow another
            sock.bind((source_ip, 0))
        sock.connect((host, port))
        self.sock = tls.wrap_socket(sock, server_hostname=host) if tls else sock
        self.correlation = 0

    def close(self):
        self.sock.close()

    def _recv_exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise Closed()
            out += chunk
        return out

    def request(self, api_key: int, version: int, body: bytes) -> bytes:
        self.correlation += 1
        header = struct.pack(">hhi", api_key, version, self.correlation) + _str("gregor-sasl-wire")
        frame = header + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        (size,) = struct.unpack(">i", self._recv_exact(4))
        payload = self._recv_exact(size)
        (corr,) = struct.unpack_from(">i", payload, 0)
        assert corr == self.correlation, f"correlation id {corr}, want {self.correlation}"
        return payload[4:]

    def is_closed(self, wait: float = 5.0) -> bool:
        """True when the broker has closed the connection (EOF within `wait`)."""
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def api_versions(self) -> dict[int, tuple[int, int]]:
        body = self.request(API_VERSIONS, 0, b"")
        (err, n) = struct.unpack_from(">hi", body, 0)
        assert err == 0, f"ApiVersions error {err}"
        out = {}
        for i in range(n):
            k, lo, hi = struct.unpack_from(">hhh", body, 6 + 6 * i)
            out[k] = (lo, hi)
        return out

    def handshake(self, mechanism: str) -> tuple[int, list[str]]:
        body = self.request(API_SASL_HANDSHAKE, 1, _str(mechanism))
        (err, n) = struct.unpack_from(">hi", body, 0)
        at, mechs = 6, []
        for _ in range(max(n, 0)):
            m, at = _read_str(body, at)
            mechs.append(m)
        return err, mechs

    def authenticate(self, token: bytes) -> tuple[int, str | None, bytes]:
        body = self.request(API_SASL_AUTHENTICATE, 0, struct.pack(">i", len(token)) + token)
        (err,) = struct.unpack_from(">h", body, 0)
        msg, at = _read_str(body, 2)
        (n,) = struct.unpack_from(">i", body, at)
        return err, msg, body[at + 4:at + 4 + max(n, 0)]

    def plain(self, user: str, password: str) -> tuple[int, str | None]:
        err, mechs = self.handshake("PLAIN")
        assert err == 0, f"SaslHandshake PLAIN: error {err}, broker offers {mechs}"
        err, msg, _ = self.authenticate(b"\0" + user.encode() + b"\0" + password.encode())
        return err, msg

    def metadata(self) -> bytes:
        return self.request(API_METADATA, 1, struct.pack(">i", -1))
