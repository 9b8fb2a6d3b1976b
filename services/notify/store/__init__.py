"""Tables, queries and migrations of the notify service's own database."""
