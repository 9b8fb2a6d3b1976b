"""Tables, queries and migrations of the scoring service's own database."""
