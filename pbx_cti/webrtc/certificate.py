"""The box's own certificate for HTTPS: browsers give the microphone only to a secure origin
(https://, or http://localhost).  Made on first start with `cryptography` (already installed
with aiortc) and kept in the state directory; made again when it is missing, unreadable,
expiring within 30 days, or does not name the box's current addresses.

    cert, key = ensure_certificate(state_dir, names=("pribox.local",), addresses=("192.0.2.10",))
    context = server_context(cert, key)

The certificate is self-signed, so IT either trusts this one certificate in the browsers' store (its SHA-256 fingerprint is logged and shown by
`fingerprint()`), or replaces both files with ones from the company's own CA (kept as they are
while they are valid for the box's names).  See docs/webrtc.md.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

log = logging.getLogger("pribox.webrtc")

CERT_NAME, KEY_NAME = "https-cert.pem", "https-key.pem"
LIFETIME_DAYS = 825              # the most browsers accept for a server certificate
RENEW_BEFORE_DAYS = 30


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _still_good(cert_path: Path, key_path: Path, names: tuple[str, ...], addresses: tuple[str, ...]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        if cert_path.exists():
            log.warning("HTTPS certificate %s unusable (%s): making a new one", cert_path, exc)
        return False
    if cert.not_valid_after_utc - _now() < datetime.timedelta(days=RENEW_BEFORE_DAYS):
        log.info("HTTPS certificate %s expires %s: making a new one", cert_path, cert.not_valid_after_utc.date())
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = set(san.get_values_for_type(x509.DNSName)) | {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    missing = (set(names) | set(addresses)) - have
    if missing:
        log.info("HTTPS certificate %s does not name %s: making a new one", cert_path, ", ".join(sorted(missing)))
        return False
    return True


def ensure_certificate(state_dir: str | os.PathLike, names: tuple[str, ...] = ("localhost",),
                       addresses: tuple[str, ...] = ("127.0.0.1",)) -> tuple[Path, Path]:
    """(certificate, key) paths in `state_dir`, made (self-signed, ECDSA P-256) when needed."""
    directory = Path(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    for address in addresses:
        ipaddress.ip_address(address)        # ValueError names a bad one before anything is written
    if _still_good(cert_path, key_path, names, addresses):
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (names or addresses or ("pribox",))[0]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pribox")])
    san = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=LIFETIME_DAYS))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    # The key first, private from its first byte; then the certificate; each replaced atomically.
    temporary = key_path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    os.replace(temporary, key_path)
    temporary = cert_path.with_suffix(".tmp")
    temporary.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(temporary, cert_path)
    log.warning("HTTPS: made a self-signed certificate for %s, SHA-256 fingerprint %s (docs/webrtc.md: how IT "
                "trusts it)", ", ".join(list(names) + list(addresses)), fingerprint(cert_path))
    return cert_path, key_path


def fingerprint(cert_path: str | os.PathLike) -> str:
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def server_context(cert_path: str | os.PathLike, key_path: str | os.PathLike) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert_path), str(key_path))
    return context
