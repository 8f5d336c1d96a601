"""The box's own HTTPS certificate (made once, kept, made again when it no longer fits) and the
[webrtc] section's checks."""

from __future__ import annotations

import datetime
import os
import ssl

import pytest
from cryptography import x509

from firmware.config.loader import ConfigError, load_text
from pbx_cti.webrtc.certificate import CERT_NAME, KEY_NAME, ensure_certificate, fingerprint, server_context


def names_in(cert_path) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)) | {str(a) for a in san.get_values_for_type(x509.IPAddress)}


def test_a_certificate_is_made_once_kept_and_made_again_when_the_boxs_names_change(tmp_path):
    cert, key = ensure_certificate(tmp_path, ("pribox.local",), ("127.0.0.1", "192.0.2.10"))
    assert names_in(cert) == {"pribox.local", "127.0.0.1", "192.0.2.10"}
    assert os.stat(key).st_mode & 0o077 == 0, "the private key is readable by others"
    first = fingerprint(cert)
    assert ensure_certificate(tmp_path, ("pribox.local",), ("127.0.0.1",)) == (cert, key)
    assert fingerprint(cert) == first                         # kept: its names cover what is asked
    ensure_certificate(tmp_path, ("pribox.local",), ("192.0.2.20",))
    assert fingerprint(cert) != first and "192.0.2.20" in names_in(cert)
    context = server_context(cert, key)
    assert isinstance(context, ssl.SSLContext) and context.minimum_version >= ssl.TLSVersion.TLSv1_2
    valid = x509.load_pem_x509_certificate(cert.read_bytes()).not_valid_after_utc
    assert valid - datetime.datetime.now(datetime.timezone.utc) > datetime.timedelta(days=800)


def test_a_damaged_certificate_is_replaced_and_a_bad_address_names_itself(tmp_path):
    (tmp_path / CERT_NAME).write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    (tmp_path / KEY_NAME).write_text("garbage")
    cert, key = ensure_certificate(tmp_path, ("localhost",), ("127.0.0.1",))
    assert names_in(cert) == {"localhost", "127.0.0.1"}
    with pytest.raises(ValueError, match="300.1.1.1"):
        ensure_certificate(tmp_path, ("localhost",), ("300.1.1.1",))
    assert names_in(cert) == {"localhost", "127.0.0.1"}       # nothing written for a bad request


def problems(text: str) -> list[str]:
    """What the loader reports about [webrtc] (other sections are not this test's)."""
    try:
        load_text(text, "box.toml")
    except ConfigError as error:
        return [f"{i.path}: {i.message}" for i in error.issues if i.path.startswith("webrtc")]
    return []


def test_the_webrtc_section_names_what_is_wrong():
    assert not problems('[webrtc]\nenabled = true\ncodec = "PCMU"\nice_addresses = ["192.0.2.10"]\n')
    found = problems('[webrtc]\ncodec = "opus"\nice_addresses = []\nhttps_port = 70000\nhttps_names = ["a b"]\n')
    text = "\n".join(found)
    for key in ("webrtc.codec", "webrtc.ice_addresses", "webrtc.https_port", "webrtc.https_names"):
        assert key in text, f"{key} not reported: {found}"
