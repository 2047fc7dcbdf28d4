"""Tables of the monitoring domain (migration branch `monitoring`)."""
