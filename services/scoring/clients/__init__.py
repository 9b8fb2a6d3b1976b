"""Scoring's outbound gRPC clients (of the other services)."""
