"""Tables, queries and migrations of the profile service's own database."""
