"""Real peers the tests talk to: reference implementations built as their own cffi modules."""
