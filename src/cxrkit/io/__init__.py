"""cxrkit.io."""
