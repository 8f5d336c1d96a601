"""The ISDN PRI stack: LAPD (Q.921) data link, Q.931 call control, D-channel adapter, traces."""
