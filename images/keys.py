"""Signing keys for firmware bundles: a root CA whose certificate is the device keyring, and a
signing key pair issued by it.  Made with the openssl command-line tool.

The CA key signs only signing certificates and belongs offline; the signing key signs bundles
on the build host; the box trusts the CA certificate alone (its keyring), so signing keys can be
rotated without touching deployed boxes.  See docs/firmware-signing.md.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


class SigningKeyError(Exception):
    """A key operation failed; the message says which file and why."""


@dataclass(frozen=True)
class SigningKeys:
    keyring: Path  # the CA certificate: what the device trusts
    cert: Path  # the signing certificate, issued by the CA
    key: Path  # the signing private key


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SigningKeyError(f"openssl {args[0]} failed in {cwd}: {proc.stderr.strip().splitlines()[-1:]}")


def make_keys(directory: str | Path, *, organisation: str = "pribox", days: int = 3650,
              signer_name: str = "pribox firmware signing") -> SigningKeys:
    """Create a CA and one signing key pair in `directory` (kept if they already exist)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = d / "ca.key.pem", d / "ca.cert.pem"
    if not ca_cert.exists():
        _openssl("req", "-x509", "-newkey", "rsa:3072", "-nodes", "-keyout", ca_key.name, "-out", ca_cert.name,
                 "-days", str(days), "-subj", f"/O={organisation}/CN={organisation} firmware CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        ca_key.chmod(0o600)
    return issue_signing_key(d, ca_key, ca_cert, name="signing", organisation=organisation, days=days,
                             signer_name=signer_name)


def issue_signing_key(directory: str | Path, ca_key: Path, ca_cert: Path, *, name: str,
                      organisation: str = "pribox", days: int = 730,
                      signer_name: str = "pribox firmware signing") -> SigningKeys:
    """Issue a new signing key pair under the CA (also how a signing key is rotated)."""
    d = Path(directory)
    key, csr, cert = d / f"{name}.key.pem", d / f"{name}.csr.pem", d / f"{name}.cert.pem"
    if not cert.exists():
        _openssl("req", "-newkey", "rsa:3072", "-nodes", "-keyout", key.name, "-out", csr.name,
                 "-subj", f"/O={organisation}/CN={signer_name}", cwd=d)
        key.chmod(0o600)
        ext = d / f"{name}.ext"
        ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n")
        _openssl("x509", "-req", "-in", csr.name, "-CA", str(ca_cert.resolve()), "-CAkey", str(ca_key.resolve()),
                 "-CAcreateserial", "-out", cert.name, "-days", str(days), "-extfile", ext.name, cwd=d)
        csr.unlink()
        ext.unlink()
    return SigningKeys(keyring=ca_cert, cert=cert, key=key)
