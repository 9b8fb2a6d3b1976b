"""The REST gateway: authenticates storefront backends and operators, validates, calls the services."""
