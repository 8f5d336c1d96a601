"""Real peers the tests talk to: reference implementations built as their own cffi modules
(libpri, Asterisk's PRI stack, on a D-channel socket; bcg729)."""
