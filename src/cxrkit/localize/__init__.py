"""cxrkit.localize."""
