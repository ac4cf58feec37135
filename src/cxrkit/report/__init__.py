"""cxrkit.report."""
