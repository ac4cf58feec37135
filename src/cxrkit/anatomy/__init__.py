"""cxrkit.anatomy."""
