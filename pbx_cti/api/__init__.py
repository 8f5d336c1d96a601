"""The agent-application API: HTTP + WebSocket JSON over the CTI engine.  See README.md."""
