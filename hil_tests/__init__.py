"""The test bench: carrier simulator, call generator, audio probes and scenarios."""
