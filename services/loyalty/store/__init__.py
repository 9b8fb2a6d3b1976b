"""Tables, queries and migrations of the loyalty service's own database."""
