"""Small, self-contained examples used by ``modelyard demo`` and the README."""
