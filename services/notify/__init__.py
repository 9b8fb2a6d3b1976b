"""The notify service (see docs/product.md)."""
