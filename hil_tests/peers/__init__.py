"""Real far ends for tests: libpri (Asterisk's PRI stack) on a D-channel socket."""
