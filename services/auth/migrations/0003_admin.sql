-- Administration: beta tokens and their daily usage, platform admins' view of tenants, and
-- who did what in the audit log.
--
-- Beta tokens are checked by gateways with no tenant at hand (the token is all they
-- have), yet every table here stays under Row-Level Security. The token itself names its
-- tenant: "mtb_" then base64url of 32 random bytes followed by the tenant's 16-byte UUID
-- (64 characters). The service reads the tenant from the token, opens that tenant's
-- transaction and looks the keyed hash of the whole token up there. Changing the tenant
-- part changes the hash, so a forged token finds nothing; a tenant id is no secret. We
-- chose this over a lookup table keyed by hash without Row-Level Security: nothing is
-- then readable across tenants, and a check costs one indexed read in one transaction.

CREATE TABLE beta_tokens (
    id                     uuid PRIMARY KEY,
    tenant_id              uuid NOT NULL REFERENCES tenants (id),
    label                  text NOT NULL CHECK (char_length(label) BETWEEN 1 AND 200),
    -- The first characters of the token ("mtb_" and 8 more), to recognise a leaked one.
    token_prefix           text NOT NULL CHECK (char_length(token_prefix) = 12),
    token_hash             bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    rate_limit_per_minute  integer NOT NULL DEFAULT 0 CHECK (rate_limit_per_minute >= 0),
    daily_request_quota    bigint NOT NULL DEFAULT 0 CHECK (daily_request_quota >= 0),
    daily_tts_char_quota   bigint NOT NULL DEFAULT 0 CHECK (daily_tts_char_quota >= 0),
    expires_at             timestamptz,
    created_by             uuid,          -- the issuing admin; NULL for an Access admin
    created_by_email       text NOT NULL DEFAULT '',
    created_at             timestamptz NOT NULL DEFAULT now(),
    last_used_at           timestamptz,
    revoked_at             timestamptz
);
CREATE INDEX beta_tokens_tenant ON beta_tokens (tenant_id, id DESC);
ALTER TABLE beta_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE beta_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON beta_tokens
    USING (tenant_id = nullif(current_setting('mentis.tenant_id', true), '')::uuid);

-- What each token did per UTC day, as the gateways report it (BetaUsage events).
CREATE TABLE beta_usage (
    tenant_id   uuid NOT NULL,
    token_id    uuid NOT NULL REFERENCES beta_tokens (id) ON DELETE CASCADE,
    day         date NOT NULL,
    requests    bigint NOT NULL DEFAULT 0 CHECK (requests >= 0),
    tts_chars   bigint NOT NULL DEFAULT 0 CHECK (tts_chars >= 0),
    PRIMARY KEY (token_id, day)
);
ALTER TABLE beta_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE beta_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON beta_usage
    USING (tenant_id = nullif(current_setting('mentis.tenant_id', true), '')::uuid);

-- Platform admins list and create tenants. This second policy (permissive policies are
-- OR-ed) opens the tenants table, and only it, to a transaction that set
-- mentis.platform_admin to 'on' with set_config(…, true): transaction-local, so it dies
-- with the transaction and never leaks to the next user of the pooled connection. Only
-- admin.tenants.list and admin.tenants.create set it, after checking the caller's role.
-- Users, sessions and every other table keep the tenant policy alone; no role here has
-- BYPASSRLS.
CREATE POLICY platform_admin ON tenants
    USING (current_setting('mentis.platform_admin', true) = 'on')
    WITH CHECK (current_setting('mentis.platform_admin', true) = 'on');

-- Who acted: the audit log's user_id is the account an event is about; an admin's action
-- also names the admin (actor_id NULL for an admin signed in through the access proxy,
-- known by email alone).
ALTER TABLE audit_log ADD COLUMN actor_id uuid;
ALTER TABLE audit_log ADD COLUMN actor_email text NOT NULL DEFAULT '';
CREATE INDEX audit_log_tenant_event ON audit_log (tenant_id, event, created_at DESC);
