"""The test harness: real PostgreSQL, PgBouncer, Redis and Prometheus for the test suite."""
