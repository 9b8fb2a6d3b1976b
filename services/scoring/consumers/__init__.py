"""Scoring's consumers of the other services' event streams."""
