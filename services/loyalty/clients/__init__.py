"""Loyalty's outbound gRPC clients: the other services it asks."""
