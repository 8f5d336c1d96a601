"""Live figures of the box: Prometheus /metrics, the console's show queues / show agents, and
the statistics over the API."""
