"""TLS material: the operator's certificate, or a local CA and server certificate made on first run.

Agents pin the CA (copied onto rescue images and into the agent config), so the generated CA lives
for ten years while the server certificate it signs is re-issued whenever the names change. Agents
bind their device-key signature to the SHA-256 of the certificate they saw (RFC 5929
tls-server-end-point); `certificate_fingerprint` is the server's side of that binding.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY = dt.timedelta(days=3650)
SERVER_VALIDITY = dt.timedelta(days=825)


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    ca: Path | None  # set when the CA was generated here; None for an operator's certificate
    generated: bool  # True when this call created new files


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _make_ca(now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "RME local CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _make_server_cert(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, names: list[str], now: dt.datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + SERVER_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_san(names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _cert_names(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in san.get_values_for_type(x509.DNSName)} | {
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    }


def ensure_local_tls(directory: Path, names: list[str]) -> TlsFiles:
    """Make (or reuse) `ca.pem`, `ca.key`, `server.pem`, `server.key` under `directory`.

    The server certificate is re-issued when it lacks one of `names` or expires within 30 days.
    """
    directory.mkdir(parents=True, exist_ok=True)
    wanted = list(dict.fromkeys(["localhost", "127.0.0.1", "::1", *names]))
    ca_pem, ca_key_pem = directory / "ca.pem", directory / "ca.key"
    cert_pem, key_pem = directory / "server.pem", directory / "server.key"
    now = dt.datetime.now(dt.UTC)
    generated = False
    if ca_pem.exists() and ca_key_pem.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_pem.read_bytes())
        loaded = serialization.load_pem_private_key(ca_key_pem.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{ca_key_pem} is not an EC key")
        ca_key = loaded
    else:
        ca_key, ca_cert = _make_ca(now)
        _write_private(ca_key_pem, _key_pem(ca_key))
        ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        generated = True
    fresh = False
    if cert_pem.exists() and key_pem.exists() and not generated:
        current = x509.load_pem_x509_certificate(cert_pem.read_bytes())
        fresh = set(wanted) <= _cert_names(current) and current.not_valid_after_utc - now > dt.timedelta(
            days=30
        )
    if not fresh:
        key, cert = _make_server_cert(ca_key, ca_cert, wanted, now)
        _write_private(key_pem, _key_pem(key))
        cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        generated = True
    return TlsFiles(cert=cert_pem, key=key_pem, ca=ca_pem, generated=generated)


def certificate_fingerprint(cert_path: Path) -> bytes:
    """SHA-256 of the DER of the first certificate in `cert_path` (RFC 5929 tls-server-end-point)."""
    cert = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()
