"""Signed A/B firmware updates through RAUC: the update agent, `pribox upgrade` and the console's
`upgrade ...` commands (see README.md)."""
