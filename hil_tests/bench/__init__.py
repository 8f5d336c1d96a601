"""The bench under load: load, leaks, soak, the report and `python -m hil_tests.bench`."""
