"""The profile service: tenants, customers and their identities (see docs/product.md)."""
