"""Loyalty's event consumers: other services' streams turned into loyalty's use cases."""
