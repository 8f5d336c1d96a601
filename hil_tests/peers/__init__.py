"""Real peers the tests talk to, each built as its own cffi module: libpri (Asterisk's PRI
stack) as the far end of a D-channel, raw bcg729 as the G.729 reference, spandsp as the DTMF
reference."""
