"""The voice gateway: number mapping per trunk group and direction, and trunk groups with
outgoing B-channel hunting (see README.md).  Pure functions over a validated plan; the console
and CLI front ends live in console.py and cli.py."""
