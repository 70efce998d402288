import hashlib
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from server.tls import certificate_fingerprint, ensure_local_tls


def test_generates_ca_and_server_cert_that_verify(tmp_path: Path) -> None:
    files = ensure_local_tls(tmp_path, ["rme.example", "10.1.2.3"])
    assert files.generated and files.ca is not None
    assert (files.key.stat().st_mode & 0o777) == 0o600
    assert ((tmp_path / "ca.key").stat().st_mode & 0o777) == 0o600
    # A real TLS client context trusting only our CA accepts the chain and the names.
    context = ssl.create_default_context(cafile=str(files.ca))
    context.load_verify_locations(cafile=str(files.ca))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files.cert, files.key)
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "rme.example" in san.get_values_for_type(x509.DNSName)
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} >= {"10.1.2.3", "127.0.0.1", "::1"}
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    cert.verify_directly_issued_by(ca)


def test_reuses_files_and_reissues_for_new_names(tmp_path: Path) -> None:
    first = ensure_local_tls(tmp_path, [])
    ca_before, cert_before = first.ca.read_bytes() if first.ca else b"", first.cert.read_bytes()
    again = ensure_local_tls(tmp_path, [])
    assert not again.generated and again.cert.read_bytes() == cert_before
    renamed = ensure_local_tls(tmp_path, ["new.example"])
    assert renamed.generated
    assert renamed.cert.read_bytes() != cert_before
    assert renamed.ca is not None and renamed.ca.read_bytes() == ca_before  # agents keep trusting it


def test_fingerprint_is_sha256_of_der(tmp_path: Path) -> None:
    files = ensure_local_tls(tmp_path, [])
    der = x509.load_pem_x509_certificate(files.cert.read_bytes()).public_bytes(serialization.Encoding.DER)
    assert certificate_fingerprint(files.cert) == hashlib.sha256(der).digest()
