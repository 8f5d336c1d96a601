"""Automatic call distribution: the PBX's calls queued and offered to agents by the CTI."""
