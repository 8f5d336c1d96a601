"""What makes the box a gateway appliance: ISDN, configuration, console, the daemon and its
services (appliance/), network and update agent.  The one clock and the event bus are in
runtime/ (see README.md)."""
