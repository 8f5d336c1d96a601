"""The SIP core of the box: sans-I/O parser, transactions, dialogs, auth, SDP, registrar."""
