"""Tables of the profile service's order capability (declared on the shared metadata)."""
