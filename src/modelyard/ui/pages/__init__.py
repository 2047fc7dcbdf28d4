"""The dashboard's pages, one module per section (see ``ui.nav`` for how to add one)."""
