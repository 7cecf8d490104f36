"""Test-suite set-up: a real PostgreSQL cluster per test worker, a fresh database per test.

See tests/README.md. Nothing here mocks a connection.
"""

pytest_plugins = ["tests.fixtures.pg", "tests.fixtures.cli", "tests.fixtures.pgbouncer"]
