-- Active questions per domain, subcategory and tenant (NULL: the system's), kept by
-- statement-level triggers. A domain's question_count and the categories' counts are sums
-- of these rows under Row-Level Security (the tenant's own and the system's), read in
-- microseconds; counting the questions themselves when read took a second per domain at
-- 200,000 questions.
--
-- Unlike the packs' aggregates (recounted from membership, migration 0002), these are kept
-- by adding each statement's delta: a recount would read every question of the domain on
-- every write. A delta cannot drift because every change of the rows it counts (insert,
-- delete, and an update of domain, subcategory or status) goes through the triggers below,
-- and the increments of concurrent transactions commute.
--
-- Each key has up to 16 rows (shards), and a connection adds to the shard of its backend
-- process: with one row per key, concurrent imports into one tenant waited for each
-- other's row locks until commit (the bench's seeding took half as long again). A shard
-- alone may go below zero (a question counted by one connection, deleted by another); the
-- sum of a key's shards cannot. Each statement writes its rows in key order, so two
-- transactions that meet on a shard never lock two rows in opposite orders.

CREATE TABLE question_counts (
    domain_id    uuid NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    subcategory  text NOT NULL,
    tenant_id    uuid,
    shard        smallint NOT NULL,
    n            bigint NOT NULL,
    UNIQUE NULLS NOT DISTINCT (domain_id, subcategory, tenant_id, shard)
);

ALTER TABLE question_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE question_counts FORCE ROW LEVEL SECURITY;
CREATE POLICY read ON question_counts FOR SELECT
    USING (tenant_id IS NULL OR tenant_id = kb.tenant());
-- Only the triggers write, with mentis.kb_refresh on for their own statement: a change of
-- a system question by a platform admin moves a system row.
CREATE POLICY refresh ON question_counts USING (kb.refreshing()) WITH CHECK (kb.refreshing());

-- Adds the delta (+1 per row of `added`, -1 per row of `removed`, active questions only).
CREATE FUNCTION kb.count_questions(added jsonb, removed jsonb) RETURNS void LANGUAGE plpgsql
    SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    PERFORM set_config('mentis.kb_refresh', 'on', true);
    INSERT INTO kb.question_counts AS c (domain_id, subcategory, tenant_id, shard, n)
    SELECT d.domain_id, d.subcategory, d.tenant_id, pg_backend_pid() % 16, sum(d.n)
      FROM (SELECT (e->>'domain_id')::uuid AS domain_id, e->>'subcategory' AS subcategory,
                   (e->>'tenant_id')::uuid AS tenant_id, 1 AS n
              FROM jsonb_array_elements(coalesce(added, '[]')) e
             WHERE e->>'status' = 'active'
            UNION ALL
            SELECT (e->>'domain_id')::uuid, e->>'subcategory', (e->>'tenant_id')::uuid, -1
              FROM jsonb_array_elements(coalesce(removed, '[]')) e
             WHERE e->>'status' = 'active') d
     GROUP BY 1, 2, 3
    HAVING sum(d.n) <> 0
     ORDER BY 1, 2, 3
    ON CONFLICT (domain_id, subcategory, tenant_id, shard) DO UPDATE SET n = c.n + excluded.n;
    PERFORM set_config('mentis.kb_refresh', '', true);
END $$;

CREATE FUNCTION kb.questions_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM kb.count_questions((SELECT jsonb_agg(to_jsonb(r)) FROM (SELECT domain_id,
        subcategory, tenant_id, status FROM added) r), NULL);
    RETURN NULL;
END $$;
CREATE FUNCTION kb.questions_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM kb.count_questions(NULL, (SELECT jsonb_agg(to_jsonb(r)) FROM (SELECT domain_id,
        subcategory, tenant_id, status FROM removed) r));
    RETURN NULL;
END $$;
CREATE FUNCTION kb.questions_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Only rows whose counted key or status changed: most updates move nothing.
    PERFORM kb.count_questions(
        (SELECT jsonb_agg(to_jsonb(r)) FROM (SELECT n.domain_id, n.subcategory, n.tenant_id,
            n.status FROM after_rows n JOIN before_rows o ON o.id = n.id
            WHERE (o.domain_id, o.subcategory, o.tenant_id, o.status)
                  IS DISTINCT FROM (n.domain_id, n.subcategory, n.tenant_id, n.status)) r),
        (SELECT jsonb_agg(to_jsonb(r)) FROM (SELECT o.domain_id, o.subcategory, o.tenant_id,
            o.status FROM after_rows n JOIN before_rows o ON o.id = n.id
            WHERE (o.domain_id, o.subcategory, o.tenant_id, o.status)
                  IS DISTINCT FROM (n.domain_id, n.subcategory, n.tenant_id, n.status)) r));
    RETURN NULL;
END $$;

CREATE TRIGGER questions_counted AFTER INSERT ON questions
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION kb.questions_added();
CREATE TRIGGER questions_uncounted AFTER DELETE ON questions
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION kb.questions_removed();
CREATE TRIGGER questions_recounted AFTER UPDATE ON questions
    REFERENCING OLD TABLE AS before_rows NEW TABLE AS after_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kb.questions_moved();

-- The questions already there (the migration sees every tenant's with the refresh on).
SELECT set_config('mentis.kb_refresh', 'on', true);
INSERT INTO question_counts (domain_id, subcategory, tenant_id, shard, n)
SELECT domain_id, subcategory, tenant_id, 0, count(*) FROM questions WHERE status = 'active'
 GROUP BY 1, 2, 3;
SELECT set_config('mentis.kb_refresh', '', true);
