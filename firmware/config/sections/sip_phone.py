"""[[sip_phone]]: SIP phones (desk phones, softphones, browsers) that may register with the box's
registrar, each as one extension: its user name is the extension an agent logs in at, and its
password the digest secret the phone answers the registrar's challenge with.  The PBX rings an
extension on its registered contacts, else on `[pbx] extension_trunk`.  No default credentials:
every phone names its own password.

    [[sip_phone]]
    extension = "2002"
    password = "a-long-secret"
"""

from __future__ import annotations

from ..registry import register_section
from ..schema import Field, Section, Str, Table, TableList

EXTENSION = Str(r"[0-9]{1,15}", what="an extension of digits (at most 15)")
PASSWORD = Str(r"[^\s\"\\]{8,128}", what="a password of 8 to 128 characters without spaces, quotes or backslashes")

register_section(Section("sip_phone", TableList(Table({
    "extension": Field(EXTENSION),
    "password": Field(PASSWORD, doc="the digest secret (RFC 7616) the phone registers with"),
}), unique=("extension",), noun="sip_phone"), doc="SIP phones that register as extensions (the agents' phones)"))
