"""The runtime every Patron service shares: settings, database, gRPC server, errors, telemetry.

Written once here so that the four services differ only in their domain.
"""
