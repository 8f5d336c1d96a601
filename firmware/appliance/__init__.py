"""The daemon, its supervisor and the services it runs (see README.md)."""
