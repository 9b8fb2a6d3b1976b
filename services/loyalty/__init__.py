"""The loyalty service (see DOMAIN.md)."""
