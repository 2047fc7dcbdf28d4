"""Tables of the datasets domain (migration branch `datasets`)."""
