"""cxrkit.train."""
