"""Tables of the profile service's tag capability (declared on the shared metadata)."""
