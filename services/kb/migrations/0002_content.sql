-- Domains, questions, packs, pack membership, bundle sources and search vectors.
--
-- Rows with tenant_id NULL are system content: every tenant reads them, and only a
-- transaction that set mentis.kb_system to 'on' (set_config(…, true): transaction-local)
-- writes them; the service does that for platform admins and for the seed alone. Every
-- other row belongs to its tenant under the policy form of libs/db. Which rows of its
-- tenant a caller may see (drafts) or change (owner, admins) is decided by the service,
-- which knows the caller; the database keeps tenants apart.
--
-- Aggregates of packs (question_count, domain_count, audio_count) are kept by triggers on
-- every change that moves them: membership added or removed, a question's domain or audio
-- changed. The refresh reads and writes packs of every tenant (a system question can sit
-- in any tenant's pack), so it runs with mentis.kb_refresh on for its own statements only.

-- The visibility rules, once.
CREATE FUNCTION kb.tenant() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('mentis.tenant_id', true), '')::uuid $$;
CREATE FUNCTION kb.system_writer() RETURNS boolean LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('mentis.kb_system', true), '') = 'on' $$;
CREATE FUNCTION kb.refreshing() RETURNS boolean LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('mentis.kb_refresh', true), '') = 'on' $$;

-- Text of a list for the search vector (array_to_string is only stable in general).
CREATE FUNCTION kb.joined(text[]) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(array_to_string($1, ' '), '') $$;
-- A question's text with case, spacing and punctuation left out: what bundles compare.
CREATE FUNCTION kb.normalised(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT btrim(regexp_replace(lower($1), '[^[:alnum:]]+', ' ', 'g')) $$;

CREATE TABLE domains (
    id             uuid PRIMARY KEY,
    tenant_id      uuid,
    owner_id       uuid,
    slug           text NOT NULL CHECK (slug ~ '^[a-z0-9_]{1,63}$'),
    name           text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    icon           text NOT NULL DEFAULT '' CHECK (char_length(icon) <= 64),
    weight         integer NOT NULL DEFAULT 100 CHECK (weight BETWEEN 0 AND 1000),
    subcategories  text[] NOT NULL DEFAULT '{}',
    version        bigint NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
-- A slug names one domain among those a tenant sees: its own and the system's.
CREATE UNIQUE INDEX domains_system_slug ON domains (slug) WHERE tenant_id IS NULL;
CREATE UNIQUE INDEX domains_tenant_slug ON domains (tenant_id, slug) WHERE tenant_id IS NOT NULL;

CREATE TABLE questions (
    id                  uuid PRIMARY KEY,
    seq                 bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    tenant_id           uuid,
    owner_id            uuid,
    domain_id           uuid NOT NULL REFERENCES domains (id) ON DELETE RESTRICT,
    subcategory         text NOT NULL DEFAULT '' CHECK (char_length(subcategory) <= 100),
    question_text       text NOT NULL CHECK (char_length(question_text) BETWEEN 1 AND 4000),
    answer_text         text NOT NULL CHECK (char_length(answer_text) BETWEEN 1 AND 1000),
    acceptable_answers  text[] NOT NULL DEFAULT '{}',
    difficulty          integer NOT NULL DEFAULT 3 CHECK (difficulty BETWEEN 1 AND 5),
    question_type       text NOT NULL DEFAULT 'toss_up'
                        CHECK (question_type IN ('toss_up', 'bonus', 'pyramid', 'lightning')),
    question_source     text NOT NULL DEFAULT '' CHECK (char_length(question_source) <= 500),
    source_attribution  text NOT NULL DEFAULT '' CHECK (char_length(source_attribution) <= 500),
    hints               text[] NOT NULL DEFAULT '{}',
    explanation         text NOT NULL DEFAULT '' CHECK (char_length(explanation) <= 4000),
    tags                text[] NOT NULL DEFAULT '{}',
    mcq_options         text[] NOT NULL DEFAULT '{}',
    status              text NOT NULL DEFAULT 'active'
                        CHECK (status IN ('active', 'draft', 'archived')),
    has_audio           boolean NOT NULL DEFAULT false,
    version             bigint NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX questions_domain ON questions (domain_id, subcategory);
CREATE INDEX questions_tenant_seq ON questions (tenant_id, seq);

CREATE TABLE packs (
    id               uuid PRIMARY KEY,
    seq              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    tenant_id        uuid,
    owner_id         uuid,
    system_key       text UNIQUE,   -- what the seed knows a system pack by
    name             text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description      text NOT NULL DEFAULT '' CHECK (char_length(description) <= 4000),
    type             text NOT NULL CHECK (type IN ('system', 'custom', 'bundle')),
    difficulty_tier  text NOT NULL DEFAULT 'open'
                     CHECK (difficulty_tier IN ('elementary', 'middle_school', 'high_school',
                                                'college', 'open')),
    status           text NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'draft', 'archived')),
    question_count   bigint NOT NULL DEFAULT 0,
    domain_count     bigint NOT NULL DEFAULT 0,
    audio_count      bigint NOT NULL DEFAULT 0,
    version          bigint NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((type = 'system') = (tenant_id IS NULL))
);
CREATE INDEX packs_tenant_seq ON packs (tenant_id, seq);

CREATE TABLE pack_questions (
    pack_id      uuid NOT NULL REFERENCES packs (id) ON DELETE CASCADE,
    question_id  uuid NOT NULL REFERENCES questions (id) ON DELETE RESTRICT,
    tenant_id    uuid,           -- the pack's
    position     integer NOT NULL,
    PRIMARY KEY (pack_id, question_id),
    UNIQUE (pack_id, position)
);
CREATE INDEX pack_questions_question ON pack_questions (question_id);

-- A bundle's sources, in order: a source pack cannot go while a bundle names it.
CREATE TABLE bundle_sources (
    bundle_id   uuid NOT NULL REFERENCES packs (id) ON DELETE CASCADE,
    source_id   uuid NOT NULL REFERENCES packs (id) ON DELETE RESTRICT,
    tenant_id   uuid NOT NULL,
    position    integer NOT NULL,
    PRIMARY KEY (bundle_id, source_id)
);
CREATE INDEX bundle_sources_source ON bundle_sources (source_id);

-- Full-text search vectors, one row per question and per pack, kept by the triggers below.
-- Question text outranks answers, which outrank hints and the explanation; a pack's name
-- outranks its description.
--
-- These two tables alone have no Row-Level Security, on purpose: PostgreSQL never uses an
-- index for an operator that is not leakproof (as @@ is not) on a table with RLS, so a
-- search of kb.questions itself reads every row. Every query of them names the tenant
-- (tenant_id IS NULL OR tenant_id = kb.tenant()) and reads what it shows from the question
-- or pack by id under its own RLS, so another tenant's row never comes back; they hold ids,
-- lexemes and status, and only the triggers write them.
-- fastupdate off: each write updates the index itself, rather than a pending list that one
-- unlucky writer must merge (seconds, under concurrent imports, past the statement timeout).
-- Who may see a row (status, owner) and its domain are copied here too, so a search ranks
-- and filters its matches without reading each one's question.
CREATE TABLE question_search (
    question_id  uuid PRIMARY KEY REFERENCES questions (id) ON DELETE CASCADE,
    tenant_id    uuid,
    owner_id     uuid,
    domain_id    uuid NOT NULL,
    status       text NOT NULL,
    search       tsvector NOT NULL
);
CREATE INDEX question_search_gin ON question_search USING gin (search) WITH (fastupdate = off);
CREATE TABLE pack_search (
    pack_id    uuid PRIMARY KEY REFERENCES packs (id) ON DELETE CASCADE,
    tenant_id  uuid,
    owner_id   uuid,
    status     text NOT NULL,
    search     tsvector NOT NULL
);
CREATE INDEX pack_search_gin ON pack_search USING gin (search) WITH (fastupdate = off);

CREATE FUNCTION kb.questions_indexed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO kb.question_search (question_id, tenant_id, owner_id, domain_id, status, search)
    SELECT n.id, n.tenant_id, n.owner_id, n.domain_id, n.status,
           setweight(to_tsvector('english', n.question_text), 'A') ||
           setweight(to_tsvector('english', n.answer_text || ' ' ||
                                 kb.joined(n.acceptable_answers)), 'B') ||
           setweight(to_tsvector('english', kb.joined(n.hints) || ' ' || n.explanation), 'C')
      FROM written n
    ON CONFLICT (question_id) DO UPDATE
        SET tenant_id = EXCLUDED.tenant_id, owner_id = EXCLUDED.owner_id,
            domain_id = EXCLUDED.domain_id, status = EXCLUDED.status, search = EXCLUDED.search;
    RETURN NULL;
END $$;
CREATE FUNCTION kb.packs_indexed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO kb.pack_search (pack_id, tenant_id, owner_id, status, search)
    SELECT n.id, n.tenant_id, n.owner_id, n.status,
           setweight(to_tsvector('english', n.name), 'A') ||
           setweight(to_tsvector('english', n.description), 'B')
      FROM written n
    ON CONFLICT (pack_id) DO UPDATE
        SET tenant_id = EXCLUDED.tenant_id, owner_id = EXCLUDED.owner_id,
            status = EXCLUDED.status, search = EXCLUDED.search;
    RETURN NULL;
END $$;
CREATE TRIGGER questions_indexed AFTER INSERT ON questions
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION kb.questions_indexed();
CREATE TRIGGER questions_reindexed AFTER UPDATE ON questions
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION kb.questions_indexed();
CREATE TRIGGER packs_indexed AFTER INSERT ON packs
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION kb.packs_indexed();
CREATE TRIGGER packs_reindexed AFTER UPDATE ON packs
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION kb.packs_indexed();

-- Row-Level Security: read own tenant's rows and the system's; write own tenant's rows,
-- or system rows with mentis.kb_system on; the aggregate refresh sees everything.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['domains', 'questions', 'packs', 'pack_questions', 'bundle_sources']
    LOOP
        EXECUTE format('ALTER TABLE kb.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE kb.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY read ON kb.%I FOR SELECT '
                       'USING (tenant_id IS NULL OR tenant_id = kb.tenant())', t);
        EXECUTE format('CREATE POLICY tenant ON kb.%I '
                       'USING (tenant_id = kb.tenant()) WITH CHECK (tenant_id = kb.tenant())', t);
        EXECUTE format('CREATE POLICY system ON kb.%I '
                       'USING (tenant_id IS NULL AND kb.system_writer()) '
                       'WITH CHECK (tenant_id IS NULL AND kb.system_writer())', t);
        EXECUTE format('CREATE POLICY refresh ON kb.%I USING (kb.refreshing()) '
                       'WITH CHECK (kb.refreshing())', t);
    END LOOP;
END $$;

-- Recounts the given packs from their membership. Planned afresh on each call
-- (force_custom_plan): a plan PL/pgSQL cached on a connection while the tables were small
-- would keep scanning them whole once they are not.
CREATE FUNCTION kb.refresh_packs(ids uuid[]) RETURNS void LANGUAGE plpgsql
    SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    PERFORM set_config('mentis.kb_refresh', 'on', true);
    UPDATE kb.packs p
       SET question_count = s.n, domain_count = s.d, audio_count = s.a
      FROM (SELECT x.id, count(q.id) AS n, count(DISTINCT q.domain_id) AS d,
                   count(q.id) FILTER (WHERE q.has_audio) AS a
              FROM unnest(ids) AS x (id)
              LEFT JOIN kb.pack_questions pq ON pq.pack_id = x.id
              LEFT JOIN kb.questions q ON q.id = pq.question_id
             GROUP BY x.id) s
     WHERE p.id = s.id
       AND (p.question_count, p.domain_count, p.audio_count) IS DISTINCT FROM (s.n, s.d, s.a);
    PERFORM set_config('mentis.kb_refresh', '', true);
END $$;

CREATE FUNCTION kb.membership_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM kb.refresh_packs(ARRAY(SELECT DISTINCT pack_id FROM added));
    RETURN NULL;
END $$;
CREATE FUNCTION kb.membership_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM kb.refresh_packs(ARRAY(SELECT DISTINCT pack_id FROM removed));
    RETURN NULL;
END $$;
CREATE FUNCTION kb.questions_changed() RETURNS trigger LANGUAGE plpgsql
    SET plan_cache_mode = force_custom_plan AS $$
DECLARE ids uuid[];
BEGIN
    PERFORM set_config('mentis.kb_refresh', 'on', true);
    SELECT array_agg(DISTINCT pq.pack_id) INTO ids
      FROM before_rows o JOIN after_rows n ON n.id = o.id
      JOIN kb.pack_questions pq ON pq.question_id = n.id
     WHERE o.domain_id <> n.domain_id OR o.has_audio <> n.has_audio;
    PERFORM set_config('mentis.kb_refresh', '', true);
    PERFORM kb.refresh_packs(ids);
    RETURN NULL;
END $$;

CREATE TRIGGER membership_added AFTER INSERT ON pack_questions
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION kb.membership_added();
CREATE TRIGGER membership_removed AFTER DELETE ON pack_questions
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION kb.membership_removed();
CREATE TRIGGER questions_changed AFTER UPDATE ON questions
    REFERENCING OLD TABLE AS before_rows NEW TABLE AS after_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kb.questions_changed();

-- The system domains. Seeded before anything reads them; no tenant is set while migrations
-- run, so the insert says it writes system rows.
SELECT set_config('mentis.kb_system', 'on', true);
INSERT INTO domains (id, slug, name, icon, weight, subcategories) VALUES
    (gen_random_uuid(), 'science', 'Science', 'atom', 150,
     '{physics,chemistry,biology,"earth and space",astronomy,energy,"general science"}'),
    (gen_random_uuid(), 'mathematics', 'Mathematics', 'function', 120,
     '{algebra,geometry,calculus,statistics,"number theory",general}'),
    (gen_random_uuid(), 'literature', 'Literature', 'book', 110,
     '{novels,poetry,drama,authors,general}'),
    (gen_random_uuid(), 'history', 'History', 'scroll', 110,
     '{"world history","american history",ancient,modern,general}'),
    (gen_random_uuid(), 'social_studies', 'Social studies', 'people', 90,
     '{people,world,economics,government,general}'),
    (gen_random_uuid(), 'arts', 'Arts', 'palette', 90,
     '{music,painting,sculpture,architecture,film,general}'),
    (gen_random_uuid(), 'language', 'Language', 'speech', 60,
     '{grammar,vocabulary,etymology,"foreign languages"}'),
    (gen_random_uuid(), 'religion_philosophy', 'Religion and philosophy', 'lotus', 50,
     '{religion,philosophy,mythology}'),
    (gen_random_uuid(), 'geography', 'Geography', 'globe', 80,
     '{countries,capitals,physical,general}'),
    (gen_random_uuid(), 'current_events', 'Current events', 'news', 40,
     '{politics,science,culture}'),
    (gen_random_uuid(), 'technology', 'Technology', 'chip', 70,
     '{"computer science",engineering,inventions}'),
    (gen_random_uuid(), 'pop_culture', 'Pop culture', 'star', 60,
     '{film,television,music,games,sports}');
SELECT set_config('mentis.kb_system', '', true);
