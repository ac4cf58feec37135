"""cxrkit.text."""
