"""The notify service (see DOMAIN.md)."""
