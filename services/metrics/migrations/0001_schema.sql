-- The metrics schema is created (and owned) by the service's own role when it first starts;
-- this first migration only describes it. Tables arrive with the migrations that need them.
COMMENT ON SCHEMA metrics IS 'mentis-metrics: owned by the metrics service; no other service reads it';
