"""cxrkit.data."""
