-- mentis database bootstrap: run once per database, by an administrator (a superuser),
-- before any service starts. Safe to run again: it only (re)asserts what it states, and a
-- second run with new passwords rotates them.
--
--   psql -v ON_ERROR_STOP=1 -d postgresql://postgres@host/mentis \
--        -v auth_password=... -v kb_password=... -v curriculum_password=... \
--        -v metrics_password=... -v jobs_password=... -f deploy/db/bootstrap.sql
--
-- Why this file exists: services must not run as a superuser or as the database owner,
-- because Row-Level Security is what keeps one tenant's rows from another's, and a
-- superuser or a BYPASSRLS role skips every policy. So each service gets its own login
-- role with no special attribute. It may create schemas in this database (and nothing
-- else), so its own migrations create and own its schema (auth, kb, curriculum, metrics,
-- jobs): an owner can then FORCE ROW LEVEL SECURITY on its tables, and no service can
-- touch another's tables, since nobody is granted anything on them. The tts service keeps
-- no data here and has no role.
--
-- A password may be given in clear (the server stores a SCRAM-SHA-256 verifier) or as a
-- ready "SCRAM-SHA-256$..." verifier, which keeps the clear text out of server logs.
-- This file is the one source of truth for roles and grants: the test harness, the local
-- stack, docker compose and the Helm chart all run it.

\set ON_ERROR_STOP 1

-- Refuse to run without every password, naming the missing variable.
\if :{?auth_password}
\else
  \echo 'bootstrap.sql: missing psql variable auth_password (psql -v auth_password=...)'
  DO $$ BEGIN RAISE EXCEPTION 'missing psql variable auth_password'; END $$;
\endif
\if :{?kb_password}
\else
  \echo 'bootstrap.sql: missing psql variable kb_password (psql -v kb_password=...)'
  DO $$ BEGIN RAISE EXCEPTION 'missing psql variable kb_password'; END $$;
\endif
\if :{?curriculum_password}
\else
  \echo 'bootstrap.sql: missing psql variable curriculum_password (psql -v curriculum_password=...)'
  DO $$ BEGIN RAISE EXCEPTION 'missing psql variable curriculum_password'; END $$;
\endif
\if :{?metrics_password}
\else
  \echo 'bootstrap.sql: missing psql variable metrics_password (psql -v metrics_password=...)'
  DO $$ BEGIN RAISE EXCEPTION 'missing psql variable metrics_password'; END $$;
\endif
\if :{?jobs_password}
\else
  \echo 'bootstrap.sql: missing psql variable jobs_password (psql -v jobs_password=...)'
  DO $$ BEGIN RAISE EXCEPTION 'missing psql variable jobs_password'; END $$;
\endif

BEGIN;

-- Login roles, created when missing; their attributes are asserted on every run, so a
-- role someone widened by hand is narrowed again.
SELECT format('CREATE ROLE %I LOGIN', r)
  FROM unnest(ARRAY['mentis_auth', 'mentis_kb', 'mentis_curriculum',
                    'mentis_metrics', 'mentis_jobs']) AS r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)
\gexec

ALTER ROLE mentis_auth LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION
  INHERIT PASSWORD :'auth_password';
ALTER ROLE mentis_kb LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION
  INHERIT PASSWORD :'kb_password';
ALTER ROLE mentis_curriculum LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB
  NOREPLICATION INHERIT PASSWORD :'curriculum_password';
ALTER ROLE mentis_metrics LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION
  INHERIT PASSWORD :'metrics_password';
ALTER ROLE mentis_jobs LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION
  INHERIT PASSWORD :'jobs_password';

-- Each service connects to this database and creates (and so owns) its own schema.
SELECT format('GRANT CREATE, CONNECT ON DATABASE %I TO mentis_auth, mentis_kb, '
              'mentis_curriculum, mentis_metrics, mentis_jobs', current_database())
\gexec

-- Nobody puts objects in public: a table there would be shared by every service.
-- (PostgreSQL 15 already defaults to this; older or upgraded clusters do not.)
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

COMMIT;
