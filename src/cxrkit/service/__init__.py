"""cxrkit.service."""
