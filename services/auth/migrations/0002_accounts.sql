-- Accounts, devices, sessions, refresh tokens, signing keys and the audit log.
--
-- Every tenant-owned table has ENABLE + FORCE ROW LEVEL SECURITY with the policy form of
-- libs/db (nullif: an unset tenant matches no row). signing_keys is not tenant-owned:
-- one key set signs the access tokens of every tenant.

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name        text NOT NULL,
    is_active   boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- The default tenant: public requests that name no tenant belong to it. Seeded before
-- Row-Level Security is switched on, as no tenant is set while migrations run.
INSERT INTO tenants (id, slug, name)
VALUES ('00000000-0000-7000-8000-000000000001', 'default', 'Default');
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON tenants
    USING (id = nullif(current_setting('mentis.tenant_id', true), '')::uuid);

CREATE TABLE users (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    email           text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    password_hash   text NOT NULL,
    display_name    text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 100),
    avatar_url      text NOT NULL DEFAULT '' CHECK (char_length(avatar_url) <= 2048),
    locale          text NOT NULL DEFAULT '' CHECK (char_length(locale) <= 35),
    timezone        text NOT NULL DEFAULT '' CHECK (char_length(timezone) <= 64),
    role            text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin', 'platform_admin')),
    is_active       boolean NOT NULL DEFAULT true,
    locked_until    timestamptz,
    email_verified  boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_login_at   timestamptz,
    version         bigint NOT NULL DEFAULT 1
);
-- One account per address and tenant, whatever the case (no citext: lower() suffices for
-- the ASCII addresses we accept).
CREATE UNIQUE INDEX users_tenant_email_key ON users (tenant_id, lower(email));
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON users
    USING (tenant_id = nullif(current_setting('mentis.tenant_id', true), '')::uuid);

CREATE TABLE devices (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    fingerprint   text NOT NULL CHECK (char_length(fingerprint) BETWEEN 1 AND 200),
    name          text NOT NULL DEFAULT '',
    type          text NOT NULL DEFAULT '' CHECK (type IN ('', 'ios', 'android', 'web', 'desktop')),
    model         text NOT NULL DEFAULT '',
    os_version    text NOT NULL DEFAULT '',
    app_version   text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, user_id, fingerprint)
);
ALTER TABLE devices ENABLE ROW LEVEL SECURITY;
ALTER TABLE devices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON devices
    USING (tenant_id = nullif(current_setting('mentis.tenant_id', true), '')::uuid);

CREATE TABLE sessions (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL,
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id         uuid REFERENCES devices (id) ON DELETE SET NULL,
    ip_address        text NOT NULL DEFAULT '',
    user_agent        text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_activity_at  timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    revoked_at        timestamptz,
    revoked_reason    text
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id) WHERE revoked_at IS NULL;
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sessions
    USING (tenant_id = nullif(current_setting('mentis.tenant_id', true), '')::uuid);

-- Refresh tokens: only a keyed BLAKE2b-256 hash of each is kept. A family is the chain
-- of rotations of one login; reuse of a rotated token outside the grace window revokes it.
CREATE TABLE refresh_tokens (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    session_id   uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id      uuid NOT NULL,
    family_id    uuid NOT NULL,
    generation   integer NOT NULL CHECK (generation >= 0),
    parent_id    uuid REFERENCES refresh_tokens (id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    revoked_at   timestamptz,
    UNIQUE (family_id, generation)
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON refresh_tokens
    USING (tenant_id = nullif(current_setting('mentis.tenant_id', true), '')::uuid);

-- Ed25519 signing keys, for every tenant. The secret key is sealed (XSalsa20-Poly1305)
-- with MENTIS_AUTH_KEY_ENCRYPTION_KEY: nonce (24 bytes) followed by the box.
CREATE TABLE signing_keys (
    kid          text PRIMARY KEY CHECK (kid ~ '^[A-Za-z0-9_-]{1,63}$'),
    public_key   bytea NOT NULL CHECK (octet_length(public_key) = 32),
    secret_box   bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    retired_at   timestamptz
);
-- At most one active key.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE retired_at IS NULL;

CREATE TABLE audit_log (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    user_id     uuid,
    event       text NOT NULL,
    ip_address  text NOT NULL DEFAULT '',
    detail      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant_time ON audit_log (tenant_id, created_at DESC);
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON audit_log
    USING (tenant_id = nullif(current_setting('mentis.tenant_id', true), '')::uuid);
