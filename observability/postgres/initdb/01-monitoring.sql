-- First start of an empty data directory (docker-entrypoint-initdb.d), as POSTGRES_USER in
-- POSTGRES_DB. Extensions the lab relies on; the monitoring role needs a password from the
-- environment, so it is made by 02-monitoring-role.sh.

-- Per-statement statistics for postgres-exporter and the reports (needs the preload in
-- postgresql.conf to collect anything).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

-- Trigram indexes behind the inventory and customer search (the app's migrations use them).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
