"""The profile service: tenants, customers and their identities (see DOMAIN.md section 1)."""
