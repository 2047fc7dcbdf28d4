"""Tables of the auth domain (migration branch `auth`)."""
