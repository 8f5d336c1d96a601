"""TLS for SIP (RFC 3261 §26.3.1, RFC 5630): the contexts the TLS transport of `tcp.py` uses,
made from the `[sip]` files.  The box presents its certificate to phones and trunks that connect
to its TLS port; toward a trunk it verifies the carrier's certificate against `ca` (or the
system's authorities) and the trunk's host name or address.  A file that cannot be read or
a certificate that does not match its key is refused with the file named."""

from __future__ import annotations

import ssl
from dataclasses import dataclass


class SipTlsError(ValueError):
    """TLS settings that cannot be used: the file and the reason."""


@dataclass
class TlsSettings:
    port: int
    server: ssl.SSLContext
    client: ssl.SSLContext


def tls_settings(port: int, certificate: str, key: str, ca: str | None = None, verify: bool = True) -> TlsSettings:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        server.load_cert_chain(certificate, key)
    except FileNotFoundError as exc:
        raise SipTlsError(f"[sip] tls_certificate/tls_key: {exc.filename or certificate}: no such file") from None
    except ssl.SSLError as exc:
        raise SipTlsError(f"[sip] tls_certificate {certificate} with tls_key {key}: {exc.reason or exc}") from None
    except OSError as exc:
        raise SipTlsError(f"[sip] tls_certificate {certificate}: {exc.strerror or exc}") from None
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    client.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca is not None:
        try:
            client.load_verify_locations(cafile=ca)
        except (OSError, ssl.SSLError) as exc:
            raise SipTlsError(f"[sip] tls_ca {ca}: {getattr(exc, 'strerror', None) or exc}") from None
    if not verify:
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
    return TlsSettings(port, server, client)
