"""The scoring service (see DOMAIN.md)."""
