"""Test certificates, made with the openssl command line (offline).

One CA signs the server certificate (SAN localhost and 127.0.0.1) and the client
certificates; a second, untrusted CA signs a client certificate the broker must
refuse; one client certificate is already expired.
"""

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Pair:
    cert: str
    key: str


@dataclass
class Certs:
    ca: str
    server: Pair
    client: Pair  # subject CN=alice,OU=eng,O=acme
    other_client: Pair  # CN=bob,OU=ops,O=acme
    expired_client: Pair
    untrusted_client: Pair


def _run(*args, cwd):
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def _ca(d: Path, name: str) -> Pair:
    _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
         "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=d)
    return Pair(str(d / f"{name}.pem"), str(d / f"{name}.key"))


def _signed(d: Path, ca: Pair, name: str, subject: str, ext: str = "", dates=None) -> Pair:
    """A key and certificate signed by `ca`. `dates` = (start, end) in openssl's
    YYYYMMDDHHMMSSZ form, for certificates that are not valid now."""
    _run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
         "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
    extfile = d / f"{name}.ext"
    extfile.write_text(ext or "basicConstraints=CA:FALSE\n")
    if dates is None:
        _run("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", ca.cert, "-CAkey", ca.key,
             "-CAcreateserial", "-days", "30", "-extfile", str(extfile), "-out", f"{name}.pem", cwd=d)
    else:
        # `openssl x509` cannot back-date; `openssl ca` can
        db = d / f"{name}-db"
        db.mkdir()
        (db / "index.txt").write_text("")
        (db / "serial").write_text("1000\n")
        conf = d / f"{name}-ca.cnf"
        conf.write_text(
            "[ca]\ndefault_ca=x\n[x]\n"
            f"database={db}/index.txt\nserial={db}/serial\nnew_certs_dir={db}\n"
            f"certificate={ca.cert}\nprivate_key={ca.key}\ndefault_md=sha256\n"
            "policy=p\nemail_in_dn=no\nunique_subject=no\n[p]\ncommonName=supplied\n"
            "organizationalUnitName=optional\norganizationName=optional\n"
        )
        _run("openssl", "ca", "-batch", "-config", str(conf), "-in", f"{name}.csr",
             "-startdate", dates[0], "-enddate", dates[1], "-extfile", str(extfile),
             "-out", f"{name}.pem", cwd=d)
    for f in (f"{name}.key",):
        os.chmod(d / f, 0o600)
    return Pair(str(d / f"{name}.pem"), str(d / f"{name}.key"))


def make_certs(d: Path) -> Certs:
    d.mkdir(parents=True, exist_ok=True)
    ca = _ca(d, "ca")
    other_ca = _ca(d, "other-ca")
    server = _signed(d, ca, "server", "/CN=localhost",
                     "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                     "extendedKeyUsage=serverAuth\n")
    client_ext = "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"
    client = _signed(d, ca, "client", "/O=acme/OU=eng/CN=alice", client_ext)
    other = _signed(d, ca, "client-bob", "/O=acme/OU=ops/CN=bob", client_ext)
    expired = _signed(d, ca, "client-expired", "/O=acme/OU=eng/CN=old", client_ext,
                      dates=("20200101000000Z", "20200201000000Z"))
    untrusted = _signed(d, other_ca, "client-untrusted", "/O=evil/CN=mallory", client_ext)
    return Certs(ca.cert, server, client, other, expired, untrusted)
