"""Tables of the profile service's behaviour capability (declared on the shared metadata)."""
