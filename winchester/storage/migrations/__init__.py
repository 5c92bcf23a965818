"""Alembic migrations of the winchester schema (run them with ``winchester-db``)."""
