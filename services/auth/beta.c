/*
 * Beta tokens on the gateways' side: the format, the check a gateway asks for when a
 * bearer token starts with "mtb_", and the usage the gateways report.
 *
 * A token is "mtb_" and base64url of 32 random bytes followed by its tenant's UUID. The
 * check has no tenant but the one the token names: it looks the token's keyed hash up in
 * that tenant's transaction, so Row-Level Security holds here too (migration 0003 says
 * why this beats a lookup table outside it). Only the hash is stored, keyed with a key
 * derived from MENTIS_AUTH_KEY_ENCRYPTION_KEY, like refresh tokens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin.h"

#define RANDOM_BYTES 32

static void token_hash(const mentis_auth_t *app, const char *token, char out[67])
{
    uint8_t h[32];
    mentis_crypto_keyed_hash(app->beta_hash_key, token, strlen(token), h);
    memcpy(out, "\\x", 2);
    mentis_crypto_hex(h, sizeof h, out + 2);
}

void mentis__auth_beta_token_new(const mentis_auth_t *app, const char *tenant,
                                 char token[MENTIS_AUTH_BETA_LEN + 1], char hash[67],
                                 char prefix[MENTIS_AUTH_BETA_PREFIX_LEN + 1])
{
    uint8_t raw[RANDOM_BYTES + 16];
    mentis_crypto_random(raw, RANDOM_BYTES);
    (void)mentis_crypto_uuid_parse(tenant, raw + RANDOM_BYTES); /* checked by the caller */
    memcpy(token, MENTIS_AUTH_BETA_PREFIX, 4);
    (void)mentis_crypto_base64url_encode(raw, sizeof raw, token + 4, MENTIS_AUTH_BETA_LEN - 4 + 1);
    token_hash(app, token, hash);
    memcpy(prefix, token, MENTIS_AUTH_BETA_PREFIX_LEN);
    prefix[MENTIS_AUTH_BETA_PREFIX_LEN] = '\0';
}

static mentis_status_t refuse(const char *code, const char *msg)
{
    return mentis_err_set(MENTIS_ERR_UNAUTHENTICATED, code, "%s", msg);
}

mentis_status_t mentis__auth_op_beta_check(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                           ProtobufCMessage *resp)
{
    const Mentis__V1__Auth__BetaCheckRequest *in = (const Mentis__V1__Auth__BetaCheckRequest *)req;
    Mentis__V1__Auth__BetaCheckResponse *out = (Mentis__V1__Auth__BetaCheckResponse *)resp;
    mentis_auth_t *app = mentis__auth_app(ctx);
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    const char *token = in->token ? in->token : "";
    uint8_t raw[RANDOM_BYTES + 16];
    size_t n = 0;
    if (strlen(token) != MENTIS_AUTH_BETA_LEN || strncmp(token, MENTIS_AUTH_BETA_PREFIX, 4) != 0 ||
        mentis_crypto_base64url_decode(token + 4, MENTIS_AUTH_BETA_LEN - 4, raw, sizeof raw, &n) !=
            MENTIS_OK ||
        n != sizeof raw)
        return refuse("invalid_token", "not a beta token");
    char tenant[37], hash[67];
    mentis_crypto_uuid_format(raw + RANDOM_BYTES, tenant);
    token_hash(app, token, hash);

    mentis_db_conn_t *conn = NULL;
    mentis_status_t st = mentis__auth_tx_begin(ctx, tenant, &conn);
    if (st == MENTIS_ERR_INVALID_ARGUMENT || st == MENTIS_ERR_PERMISSION_DENIED)
        return refuse("invalid_token", "its tenant does not exist or is not active");
    if (st != MENTIS_OK)
        return st;
    const char *p[] = {hash};
    PGresult *res = NULL;
    st = mentis_db_exec(
        conn,
        "SELECT b.id, b.tenant_id, b.label, b.rate_limit_per_minute, b.daily_request_quota, "
        "b.daily_tts_char_quota, floor(extract(epoch FROM b.expires_at) * 1000)::bigint, "
        "b.revoked_at IS NOT NULL, coalesce(b.expires_at <= now(), false), "
        "coalesce(u.requests, 0), coalesce(u.tts_chars, 0) "
        "FROM auth.beta_tokens b LEFT JOIN auth.beta_usage u ON u.token_id = b.id "
        "AND u.day = (now() AT TIME ZONE 'UTC')::date WHERE b.token_hash = $1::bytea",
        1, p, &res);
    st = mentis__auth_tx_end(ctx, conn, st, false);
    if (st != MENTIS_OK)
        goto out;
    if (PQntuples(res) != 1) {
        st = refuse("invalid_token", "unknown beta token");
        goto out;
    }
    if (PQgetvalue(res, 0, 7)[0] == 't') {
        st = refuse("token_revoked", "this beta token was revoked");
        goto out;
    }
    if (PQgetvalue(res, 0, 8)[0] == 't') {
        st = refuse("token_expired", "this beta token has expired");
        goto out;
    }
    out->token_id = mentis_pool_strdup(pool, PQgetvalue(res, 0, 0));
    out->tenant_id = mentis_pool_strdup(pool, PQgetvalue(res, 0, 1));
    out->label = mentis_pool_strdup(pool, PQgetvalue(res, 0, 2));
    out->rate_limit_per_minute = (int32_t)strtol(PQgetvalue(res, 0, 3), NULL, 10);
    out->daily_request_quota = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
    out->daily_tts_char_quota = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
    if (!PQgetisnull(res, 0, 6))
        out->expires_at = mentis__auth_timestamp(pool, strtoll(PQgetvalue(res, 0, 6), NULL, 10));
    out->requests_today = strtoll(PQgetvalue(res, 0, 9), NULL, 10);
    out->tts_chars_today = strtoll(PQgetvalue(res, 0, 10), NULL, 10);
    if (out->token_id == NULL || out->tenant_id == NULL || out->label == NULL)
        st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "beta.check: out of memory");
out:
    PQclear(res);
    return st;
}

/* Adds items[0..n) — all of one tenant — in one transaction of that tenant. */
static mentis_status_t
count_tenant(mentis_ctx_t *ctx, const Mentis__V1__Gateway__BetaTokenUsage *const *items, size_t n)
{
    const char *tenant = items[0]->tenant_id;
    mentis_db_conn_t *conn = NULL;
    mentis_status_t st = mentis__auth_tx_begin(ctx, tenant, &conn);
    if (st != MENTIS_OK)
        return st;
    for (size_t i = 0; i < n && st == MENTIS_OK; i++) {
        char requests[32];
        snprintf(requests, sizeof requests, "%lld", (long long)items[i]->requests);
        const char *p[] = {items[i]->token_id, requests};
        /* The token must be this tenant's (Row-Level Security sees no other): a report that
         * names a token of another tenant, or one since deleted, adds nothing. */
        st = mentis_db_exec(
            conn,
            "WITH t AS (UPDATE auth.beta_tokens SET last_used_at = now() WHERE id = $1 "
            "RETURNING id, tenant_id) "
            "INSERT INTO auth.beta_usage AS u (tenant_id, token_id, day, requests) "
            "SELECT tenant_id, id, (now() AT TIME ZONE 'UTC')::date, $2::bigint FROM t "
            "ON CONFLICT (token_id, day) DO UPDATE SET requests = u.requests + EXCLUDED.requests",
            2, p, NULL);
    }
    return mentis__auth_tx_end(ctx, conn, st, false);
}

static int by_tenant(const void *a, const void *b)
{
    const Mentis__V1__Gateway__BetaTokenUsage *x =
        *(const Mentis__V1__Gateway__BetaTokenUsage *const *)a;
    const Mentis__V1__Gateway__BetaTokenUsage *y =
        *(const Mentis__V1__Gateway__BetaTokenUsage *const *)b;
    return strcasecmp(x->tenant_id, y->tenant_id);
}

/* Tenant, then token: replicas counting reports at once lock a tenant's tokens in the same
 * order, so they wait for each other instead of deadlocking. */
static int by_tenant_token(const void *a, const void *b)
{
    int c = by_tenant(a, b);
    if (c != 0)
        return c;
    return strcasecmp((*(const Mentis__V1__Gateway__BetaTokenUsage *const *)a)->token_id,
                      (*(const Mentis__V1__Gateway__BetaTokenUsage *const *)b)->token_id);
}

mentis_status_t mentis__auth_on_beta_usage(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                           ProtobufCMessage *resp)
{
    (void)resp;
    const Mentis__V1__Gateway__BetaUsage *ev = (const Mentis__V1__Gateway__BetaUsage *)req;
    const Mentis__V1__Gateway__BetaTokenUsage **items =
        mentis_pool_calloc(mentis_ctx_pool(ctx), ev->n_items + 1, sizeof *items);
    if (items == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "beta usage: out of memory");
    size_t n = 0;
    for (size_t i = 0; i < ev->n_items; i++) {
        const Mentis__V1__Gateway__BetaTokenUsage *u = ev->items[i];
        uint8_t id[16];
        if (u->requests > 0 && mentis_crypto_uuid_parse(u->tenant_id, id) &&
            mentis_crypto_uuid_parse(u->token_id, id))
            items[n++] = u;
    }
    /* One transaction per tenant: a tenant's items are counted together or not at all. */
    qsort(items, n, sizeof *items, by_tenant_token);
    mentis_status_t st = MENTIS_OK;
    for (size_t i = 0, end; i < n; i = end) {
        for (end = i + 1; end < n && by_tenant(&items[i], &items[end]) == 0; end++)
            ;
        mentis_status_t tst = count_tenant(ctx, items + i, end - i);
        if (tst != MENTIS_OK && st == MENTIS_OK)
            st = tst;
    }
    if (st == MENTIS_OK && n < ev->n_items)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "beta usage from %s: %zu malformed items ignored",
                              ev->instance_id ? ev->instance_id : "?", ev->n_items - n);
    return st;
}
