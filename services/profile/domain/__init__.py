"""Profile rules. Imports neither grpc nor SQLAlchemy."""
