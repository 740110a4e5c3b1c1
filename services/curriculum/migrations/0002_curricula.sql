-- Curricula normalised from UMCF documents, and learner progress.
--
-- Every table is tenant-owned: ENABLE + FORCE ROW LEVEL SECURITY with the policy form of
-- libs/db (nullif: an unset tenant matches no row).
--
-- Round trip: each row keeps the modelled fields in columns and, in `extra`, every key of
-- its UMCF object the service does not model (and the original of a modelled key whose value
-- had another shape than the column's, or an id given as an object), so GET …/full rebuilds
-- the imported document key for key and in the same order of arrays. `lists` names the
-- arrays a node had (even empty), so an empty "children": [] comes back too.
-- Child rows name their node by its UMCF id; `position` is the index in the array they came
-- from. Columns marked "derived" are computed at import for lists and filters and are never
-- used to rebuild the document.

CREATE TABLE curricula (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL,
    identifier          text NOT NULL,           -- UMCF id.value
    title               text NOT NULL,
    description         text,
    curriculum_version  text,                    -- derived: version.number
    lifecycle           jsonb,
    metadata            jsonb,
    educational         jsonb,
    rights              jsonb,
    glossary_extra      jsonb,                   -- the glossary object but its terms; NULL: no glossary object
    keywords            text[] NOT NULL DEFAULT '{}', -- derived: metadata.keywords
    difficulty          text,                    -- derived: educational.difficulty
    language            text,                    -- derived: metadata.language
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    topic_count         integer NOT NULL DEFAULT 0,    -- derived
    total_duration      bigint NOT NULL DEFAULT 0,     -- derived: seconds
    extra               jsonb NOT NULL DEFAULT '{}',
    version             bigint NOT NULL DEFAULT 1,
    created_by          uuid,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, identifier)
);
CREATE INDEX curricula_tenant_created ON curricula (tenant_id, created_at DESC, id DESC);
ALTER TABLE curricula ENABLE ROW LEVEL SECURITY;
ALTER TABLE curricula FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON curricula
    USING (tenant_id = nullif(current_setting('mentis.tenant_id', true), '')::uuid);

-- The content tree, any depth. `seq` is the node's place in document (pre-)order.
CREATE TABLE nodes (
    tenant_id         uuid NOT NULL,
    curriculum_id     uuid NOT NULL REFERENCES curricula (id) ON DELETE CASCADE,
    node_id           text NOT NULL,
    seq               integer NOT NULL,
    parent_id         text,                      -- NULL: a member of the top-level content
    position          integer NOT NULL,
    depth             integer NOT NULL,
    is_topic          boolean NOT NULL,          -- derived: no child nodes
    topic_order       integer,                   -- derived: place among the topics
    type              text,
    title             text,
    description       text,
    order_index       integer,
    time_estimates    jsonb,
    prerequisites     jsonb,
    duration          bigint NOT NULL DEFAULT 0, -- derived: seconds
    transcript_extra  jsonb,                     -- the transcript object but its segments
    media_extra       jsonb,                     -- the media object but its embedded/reference lists
    lists             text[] NOT NULL DEFAULT '{}',
    extra             jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (curriculum_id, node_id),
    UNIQUE (curriculum_id, seq)
);
CREATE INDEX nodes_topics ON nodes (curriculum_id, topic_order) WHERE is_topic;
ALTER TABLE nodes ENABLE ROW LEVEL SECURITY;
ALTER TABLE nodes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON nodes
    USING (tenant_id = nullif(current_setting('mentis.tenant_id', true), '')::uuid);

CREATE TABLE segments (
    tenant_id       uuid NOT NULL,
    curriculum_id   uuid NOT NULL,
    node_id         text NOT NULL,
    position        integer NOT NULL,
    item_id         text,
    type            text,
    content         text,
    spoken_text     text,                        -- spokenText
    spoken_content  text,                        -- spokenContent
    speaking_notes  jsonb,
    stopping_point  jsonb,
    checkpoint      jsonb,
    glossary_refs   jsonb,
    extra           jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (curriculum_id, node_id, position),
    FOREIGN KEY (curriculum_id, node_id) REFERENCES nodes (curriculum_id, node_id) ON DELETE CASCADE
);

CREATE TABLE objectives (
    tenant_id       uuid NOT NULL,
    curriculum_id   uuid NOT NULL,
    node_id         text NOT NULL,
    position        integer NOT NULL,
    item_id         text,
    statement       text,
    blooms_level    text,
    extra           jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (curriculum_id, node_id, position),
    FOREIGN KEY (curriculum_id, node_id) REFERENCES nodes (curriculum_id, node_id) ON DELETE CASCADE
);

-- node_id '' holds the curriculum-wide glossary (glossary.terms).
CREATE TABLE glossary_terms (
    tenant_id          uuid NOT NULL,
    curriculum_id      uuid NOT NULL REFERENCES curricula (id) ON DELETE CASCADE,
    node_id            text NOT NULL,
    position           integer NOT NULL,
    item_id            text,
    term               text,
    definition         text,
    spoken_definition  text,
    pronunciation      text,
    extra              jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (curriculum_id, node_id, position)
);

CREATE TABLE misconceptions (
    tenant_id          uuid NOT NULL,
    curriculum_id      uuid NOT NULL,
    node_id            text NOT NULL,
    position           integer NOT NULL,
    item_id            text,
    misconception      text,
    correction         text,
    severity           text,
    trigger_phrases    jsonb,
    extra              jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (curriculum_id, node_id, position),
    FOREIGN KEY (curriculum_id, node_id) REFERENCES nodes (curriculum_id, node_id) ON DELETE CASCADE
);

CREATE TABLE examples (
    tenant_id          uuid NOT NULL,
    curriculum_id      uuid NOT NULL,
    node_id            text NOT NULL,
    position           integer NOT NULL,
    item_id            text,
    type               text,
    title              text,
    content            text,
    spoken_content     text,
    extra              jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (curriculum_id, node_id, position),
    FOREIGN KEY (curriculum_id, node_id) REFERENCES nodes (curriculum_id, node_id) ON DELETE CASCADE
);

CREATE TABLE assessments (
    tenant_id          uuid NOT NULL,
    curriculum_id      uuid NOT NULL,
    node_id            text NOT NULL,
    position           integer NOT NULL,
    item_id            text,
    type               text,
    title              text,
    prompt             text,
    spoken_prompt      text,
    choices            jsonb,
    extra              jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (curriculum_id, node_id, position),
    FOREIGN KEY (curriculum_id, node_id) REFERENCES nodes (curriculum_id, node_id) ON DELETE CASCADE
);

-- media.embedded and media.reference items; `collection` says which.
CREATE TABLE media (
    tenant_id          uuid NOT NULL,
    curriculum_id      uuid NOT NULL,
    node_id            text NOT NULL,
    collection         text NOT NULL,
    position           integer NOT NULL,
    item_id            text,
    type               text,
    title              text,
    url                text,
    extra              jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (curriculum_id, node_id, collection, position),
    FOREIGN KEY (curriculum_id, node_id) REFERENCES nodes (curriculum_id, node_id) ON DELETE CASCADE
);

-- One learner's progress on one topic.
CREATE TABLE progress (
    tenant_id           uuid NOT NULL,
    curriculum_id       uuid NOT NULL,
    user_id             uuid NOT NULL,
    topic_id            text NOT NULL,
    status              text NOT NULL CHECK (status IN ('not_started', 'in_progress', 'completed')),
    score               double precision NOT NULL DEFAULT 0 CHECK (score BETWEEN 0 AND 100),
    time_spent_seconds  bigint NOT NULL DEFAULT 0 CHECK (time_spent_seconds >= 0),
    last_segment        integer NOT NULL DEFAULT 0 CHECK (last_segment >= 0),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (curriculum_id, user_id, topic_id),
    FOREIGN KEY (curriculum_id, topic_id) REFERENCES nodes (curriculum_id, node_id) ON DELETE CASCADE
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['segments', 'objectives', 'glossary_terms', 'misconceptions',
                             'examples', 'assessments', 'media', 'progress'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON %I USING (tenant_id = '
                       'nullif(current_setting(''mentis.tenant_id'', true), '''')::uuid)', t);
    END LOOP;
END $$;
