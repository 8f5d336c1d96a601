"""Span drivers: one API for an E1 span whatever is behind it (emulated wire now, DAHDI later)."""
