-- The account half: login throttling, one-time tokens (email verification, password
-- reset) and the mail outbox.
--
-- Tenant-owned tables get the usual ENABLE + FORCE ROW LEVEL SECURITY and nullif policy.
-- The background mail sender serves every tenant, so these three tables have a second
-- (OR-ed) policy admitting a transaction that set mentis.auth_sender to 'on' with
-- set_config(…, true): only the sender's claim and housekeeping statements do; request
-- transactions never do. users and the other tables keep the tenant policy alone.

-- Consecutive failed logins of an account and when the last one was; a successful login,
-- a password reset and an administrator's unlock set the count back to 0.
ALTER TABLE users ADD COLUMN failed_login_count integer NOT NULL DEFAULT 0
    CHECK (failed_login_count >= 0);
ALTER TABLE users ADD COLUMN last_failed_login_at timestamptz;

-- Failed logins counted by something other than an account: a client address
-- ('ip:<address>') or an address that has no account ('email:<address>', so that unknown
-- addresses are throttled and locked exactly like known ones).
CREATE TABLE login_throttle (
    tenant_id        uuid NOT NULL,
    key              text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 300),
    failures         integer NOT NULL CHECK (failures >= 0),
    last_failure_at  timestamptz NOT NULL DEFAULT now(),
    locked_until     timestamptz,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX login_throttle_age ON login_throttle (last_failure_at);
ALTER TABLE login_throttle ENABLE ROW LEVEL SECURITY;
ALTER TABLE login_throttle FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON login_throttle
    USING (tenant_id = nullif(current_setting('mentis.tenant_id', true), '')::uuid);
CREATE POLICY sender ON login_throttle
    USING (current_setting('mentis.auth_sender', true) = 'on')
    WITH CHECK (current_setting('mentis.auth_sender', true) = 'on');

-- Single-use tokens sent by mail. Only a keyed BLAKE2b-256 hash is kept. `email` is the
-- address a verification token was sent to: it verifies that address only.
CREATE TABLE one_time_tokens (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
    token_hash  bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    email       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX one_time_tokens_user ON one_time_tokens (user_id, purpose) WHERE used_at IS NULL;
CREATE INDEX one_time_tokens_expiry ON one_time_tokens (expires_at);
ALTER TABLE one_time_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE one_time_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON one_time_tokens
    USING (tenant_id = nullif(current_setting('mentis.tenant_id', true), '')::uuid);
CREATE POLICY sender ON one_time_tokens
    USING (current_setting('mentis.auth_sender', true) = 'on')
    WITH CHECK (current_setting('mentis.auth_sender', true) = 'on');

-- Mail waiting to go out. A request only inserts a row (the same row whether or not the
-- address has an account); the sender resolves the account, makes the token, seals the
-- message (message_box: nonce ‖ crypto_secretbox under a key derived from the
-- key-encryption key, so the link is never in the clear at rest) and sends it, retrying
-- with backoff. A sent row is deleted; one that keeps failing is kept with failed_at and
-- without its message.
CREATE TABLE mail_outbox (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('verify_email', 'password_reset')),
    email            text NOT NULL CHECK (char_length(email) BETWEEN 1 AND 254),
    user_id          uuid,
    message_box      bytea,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    failed_at        timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE failed_at IS NULL;
ALTER TABLE mail_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE mail_outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON mail_outbox
    USING (tenant_id = nullif(current_setting('mentis.tenant_id', true), '')::uuid);
CREATE POLICY sender ON mail_outbox
    USING (current_setting('mentis.auth_sender', true) = 'on')
    WITH CHECK (current_setting('mentis.auth_sender', true) = 'on');
