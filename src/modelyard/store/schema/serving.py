"""Tables of the serving domain (migration branch `serving`)."""
