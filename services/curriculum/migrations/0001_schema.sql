-- The curriculum schema is created (and owned) by the service's own role when it first starts;
-- this first migration only describes it. Tables arrive with the migrations that need them.
COMMENT ON SCHEMA curriculum IS 'mentis-curriculum: owned by the curriculum service; no other service reads it';
