"""The SIP core, sans-I/O: messages, transactions, dialogs, digest auth, SDP offer/answer, the
registrar; udp.py and tcp.py are the thin asyncio adapters (see README.md)."""
