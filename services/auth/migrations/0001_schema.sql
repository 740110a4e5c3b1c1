-- The auth schema is created (and owned) by the service's own role when it first starts;
-- this first migration only describes it. Tables arrive with the migrations that need them.
COMMENT ON SCHEMA auth IS 'mentis-auth: owned by the auth service; no other service reads it';
