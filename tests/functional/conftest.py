"""Fixtures for tests against real services live in ``tests/conftest.py``
(``rabbitmq_url``, ``mysql_url``, ``database_url``): a service that does not
answer skips its tests, except under ``CI=true`` where it fails the run."""
