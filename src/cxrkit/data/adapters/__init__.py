"""cxrkit.data.adapters."""
