"""cxrkit.explain."""
