"""The scoring service (see docs/product.md)."""
