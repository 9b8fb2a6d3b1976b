"""The loyalty service (see docs/product.md)."""
