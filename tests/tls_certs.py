"""Throwaway TLS files for tests: a CA, a server certificate for localhost and a client
certificate, and a one-shot TLS server on 127.0.0.1 that requires a client certificate."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CLIENT_NAME = "tonebridge-test-client"
KEY_PASSWORD = "key-passphrase"


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path  # encrypted with KEY_PASSWORD


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey]
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer[0]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )


def _write(
    path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, password: str = ""
) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
    if password:
        encryption = serialization.BestAvailableEncryption(password.encode())
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    path.with_suffix(".key").write_bytes(key_bytes)


def make_tls_files(folder: Path) -> TlsFiles:
    """A CA and two leaf certificates it signed, as PEM files in ``folder``."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        _certificate("tonebridge test CA", ca_key, ("tonebridge test CA", ca_key))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(folder / "ca", ca, ca_key)
    server_key, client_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = (
        _certificate("localhost", server_key, ("tonebridge test CA", ca_key))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(folder / "server", server, server_key)
    client = (
        _certificate(CLIENT_NAME, client_key, ("tonebridge test CA", ca_key))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(folder / "client", client, client_key, KEY_PASSWORD)
    return TlsFiles(
        folder / "ca.crt",
        folder / "server.crt",
        folder / "server.key",
        folder / "client.crt",
        folder / "client.key",
    )


def client_subject_seen_by_server(files: TlsFiles, client: ssl.SSLContext) -> str | None:
    """Handshake ``client`` with a server that requires a client certificate signed by the
    test CA; the common name the server saw, or None when the handshake failed."""
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(files.ca))
    server.load_cert_chain(files.server_cert, files.server_key)
    server.verify_mode = ssl.CERT_REQUIRED
    seen: list[str | None] = [None]
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        thread = threading.Thread(target=_serve_once, args=(listener, server, seen))
        thread.start()
        try:
            _handshake(listener.getsockname()[1], client)
        finally:
            thread.join(timeout=10)
    return seen[0]


def _serve_once(listener: socket.socket, context: ssl.SSLContext, seen: list[str | None]) -> None:
    connection, _ = listener.accept()
    try:
        with context.wrap_socket(connection, server_side=True) as tls:
            subject = dict(pair[0] for pair in tls.getpeercert()["subject"])  # type: ignore[index]
            seen[0] = str(subject["commonName"])
            tls.sendall(b"k")
    except (ssl.SSLError, OSError):
        seen[0] = None


def _handshake(port: int, context: ssl.SSLContext) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.recv(1)  # TLS 1.3 checks the client certificate after the client's handshake
        except (ssl.SSLError, OSError):
            return
