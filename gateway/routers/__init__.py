"""REST routers: validate, call a service, shape the answer."""
