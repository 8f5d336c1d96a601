"""The box's own network: interfaces, addresses, VLANs and routes, the `network` service and
`show interfaces` (see README.md)."""
