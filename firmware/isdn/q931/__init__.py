"""Q.931 call control for an E1 PRI (ETSI EN 300 403-1), both user and network side.

ies (information elements), messages (codec), causes (Q.850 table), calls (per-call state
machine and timers), channels (B-channel maintenance state), events, and link — the entity
over one data link and the API the layers above use (see its docstring)."""
