"""cxrkit.evaluate."""
