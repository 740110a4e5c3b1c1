/*
 * Beta tokens, as admins manage them: issue (the secret shown once), list with today's
 * usage, revoke. Every revocation is published as BetaTokenRevoked, so gateways drop the
 * token from their caches at once instead of when the cached answer runs out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

/* The columns read_token reads, from beta_tokens b and today's beta_usage u. */
#define TOKEN_COLUMNS                                                                              \
    "b.id, b.tenant_id, b.label, b.token_prefix, b.rate_limit_per_minute, "                        \
    "b.daily_request_quota, b.daily_tts_char_quota, "                                              \
    "floor(extract(epoch FROM b.expires_at) * 1000)::bigint, "                                     \
    "floor(extract(epoch FROM b.created_at) * 1000)::bigint, b.created_by, b.created_by_email, "   \
    "floor(extract(epoch FROM b.last_used_at) * 1000)::bigint, "                                   \
    "floor(extract(epoch FROM b.revoked_at) * 1000)::bigint, coalesce(u.requests, 0), "            \
    "coalesce(u.tts_chars, 0)"
#define TOKEN_FROM                                                                                 \
    " FROM auth.beta_tokens b LEFT JOIN auth.beta_usage u ON u.token_id = b.id "                   \
    "AND u.day = (now() AT TIME ZONE 'UTC')::date "

static Mentis__V1__Timestamp *time_or_null(mentis_pool_t *pool, const PGresult *res, int row,
                                           int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return mentis__auth_timestamp(pool, strtoll(PQgetvalue(res, row, col), NULL, 10));
}

static Mentis__V1__Auth__BetaToken *read_token(mentis_pool_t *pool, const PGresult *res, int row,
                                               Mentis__V1__Auth__BetaToken *t)
{
    if (t == NULL && (t = mentis_pool_calloc(pool, 1, sizeof *t)) == NULL)
        return NULL;
    mentis__v1__auth__beta_token__init(t);
    t->id = mentis_pool_strdup(pool, PQgetvalue(res, row, 0));
    t->tenant_id = mentis_pool_strdup(pool, PQgetvalue(res, row, 1));
    t->label = mentis_pool_strdup(pool, PQgetvalue(res, row, 2));
    t->prefix = mentis_pool_strdup(pool, PQgetvalue(res, row, 3));
    t->rate_limit_per_minute = (int32_t)strtol(PQgetvalue(res, row, 4), NULL, 10);
    t->daily_request_quota = strtoll(PQgetvalue(res, row, 5), NULL, 10);
    t->daily_tts_char_quota = strtoll(PQgetvalue(res, row, 6), NULL, 10);
    t->expires_at = time_or_null(pool, res, row, 7);
    t->created_at = time_or_null(pool, res, row, 8);
    t->created_by = mentis_pool_strdup(pool, PQgetvalue(res, row, 9));
    t->created_by_email = mentis_pool_strdup(pool, PQgetvalue(res, row, 10));
    t->last_used_at = time_or_null(pool, res, row, 11);
    t->revoked_at = time_or_null(pool, res, row, 12);
    t->requests_today = strtoll(PQgetvalue(res, row, 13), NULL, 10);
    t->tts_chars_today = strtoll(PQgetvalue(res, row, 14), NULL, 10);
    if (t->id == NULL || t->tenant_id == NULL || t->label == NULL || t->prefix == NULL ||
        t->created_by == NULL || t->created_by_email == NULL)
        return NULL;
    return t;
}

mentis_status_t mentis__auth_op_beta_tokens_create(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                                   ProtobufCMessage *resp)
{
    const Mentis__V1__Auth__CreateBetaTokenRequest *in =
        (const Mentis__V1__Auth__CreateBetaTokenRequest *)req;
    Mentis__V1__Auth__BetaToken *out = (Mentis__V1__Auth__BetaToken *)resp;
    mentis_status_t st = mentis__auth_admin_require(ctx, false);
    if (st != MENTIS_OK)
        return st;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    bool ok = true;
    if (!mentis__auth_text_valid(in->label, 200)) {
        mentis_ctx_field_error(ctx, "label",
                               "must be 1 to 200 characters without control characters");
        ok = false;
    }
    int64_t expires_ms = 0;
    if (in->expires_at != NULL) {
        expires_ms = in->expires_at->seconds * 1000 + in->expires_at->nanos / 1000000;
        if (expires_ms <= mentis__auth_now() * 1000) {
            mentis_ctx_field_error(ctx, "expires_at", "must be in the future");
            ok = false;
        }
    }
    if (in->rate_limit_per_minute < 0) {
        mentis_ctx_field_error(ctx, "rate_limit_per_minute", "must be 0 (the default) or more");
        ok = false;
    }
    if (in->daily_request_quota < 0) {
        mentis_ctx_field_error(ctx, "daily_request_quota", "must be 0 (unlimited) or more");
        ok = false;
    }
    if (in->daily_tts_char_quota < 0) {
        mentis_ctx_field_error(ctx, "daily_tts_char_quota", "must be 0 (unlimited) or more");
        ok = false;
    }
    if (!ok)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "beta token: invalid fields");

    mentis_auth_t *app = mentis__auth_app(ctx);
    const char *tenant = mentis_ctx_tenant(ctx);
    uint8_t tid[16];
    if (!mentis_crypto_uuid_parse(tenant, tid))
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "invalid_tenant",
                              "tenant is not a UUID");
    char id[37], token[MENTIS_AUTH_BETA_LEN + 1], hash[67], prefix[MENTIS_AUTH_BETA_PREFIX_LEN + 1];
    char rate[16], quota[32], tts[32], expires[32];
    mentis_crypto_uuid_v7(id);
    mentis__auth_beta_token_new(app, tenant, token, hash, prefix);
    snprintf(rate, sizeof rate, "%d", in->rate_limit_per_minute);
    snprintf(quota, sizeof quota, "%lld", (long long)in->daily_request_quota);
    snprintf(tts, sizeof tts, "%lld", (long long)in->daily_tts_char_quota);
    snprintf(expires, sizeof expires, "%lld", (long long)expires_ms);
    const char *email = mentis_ctx_header(ctx, MENTIS_AUTH_HDR_EMAIL);
    const char *p[] = {id,
                       tenant,
                       in->label,
                       prefix,
                       hash,
                       rate,
                       quota,
                       tts,
                       in->expires_at ? expires : NULL,
                       mentis__auth_admin_caller(ctx),
                       email ? email : ""};
    mentis_db_conn_t *conn = mentis_ctx_db(ctx);
    st = mentis_db_exec(
        conn,
        "INSERT INTO auth.beta_tokens (id, tenant_id, label, token_prefix, token_hash, "
        "rate_limit_per_minute, daily_request_quota, daily_tts_char_quota, expires_at, "
        "created_by, created_by_email) VALUES ($1, $2, $3, $4, $5::bytea, $6::int, $7::bigint, "
        "$8::bigint, to_timestamp($9::bigint / 1000.0), $10, left($11, 254))",
        11, p, NULL);
    if (st != MENTIS_OK)
        return st;
    PGresult *res = NULL;
    st = mentis_db_exec(conn, "SELECT " TOKEN_COLUMNS TOKEN_FROM "WHERE b.id = $1", 1, p, &res);
    if (st != MENTIS_OK)
        return st;
    if (PQntuples(res) != 1 || read_token(pool, res, 0, out) == NULL ||
        (out->token = mentis_pool_strdup(pool, token)) == NULL)
        st = mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "beta token %s: not read back", id);
    PQclear(res);
    if (st != MENTIS_OK)
        return st;
    const char *kv[] = {"token_id", id, "label", in->label, "prefix", prefix, NULL};
    return mentis__auth_admin_audit(ctx, mentis_ctx_db(ctx), NULL, "beta_token_issued", kv);
}

mentis_status_t mentis__auth_op_beta_tokens_list(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                                 ProtobufCMessage *resp)
{
    const Mentis__V1__Auth__ListBetaTokensRequest *in =
        (const Mentis__V1__Auth__ListBetaTokensRequest *)req;
    Mentis__V1__Auth__ListBetaTokensResponse *out =
        (Mentis__V1__Auth__ListBetaTokensResponse *)resp;
    mentis_status_t st = mentis__auth_admin_require(ctx, false);
    if (st != MENTIS_OK)
        return st;
    mentis_page_t page;
    if ((st = mentis_page_read(ctx, in->limit, in->cursor, false, &page)) != MENTIS_OK)
        return st;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    char limit[16];
    snprintf(limit, sizeof limit, "%d", page.limit + 1);
    const char *p[] = {page.has_after ? page.after_id : NULL, limit};
    PGresult *res = NULL;
    /* Newest first: ids are UUIDv7, in the order of creation. */
    st = mentis_db_exec(
        mentis_ctx_db(ctx),
        "SELECT " TOKEN_COLUMNS TOKEN_FROM
        "WHERE ($1::uuid IS NULL OR b.id < $1::uuid) ORDER BY b.id DESC LIMIT $2::int",
        2, p, &res);
    if (st != MENTIS_OK)
        return st;
    int n = PQntuples(res);
    int shown = n > page.limit ? page.limit : n;
    out->items = mentis_pool_calloc(pool, (size_t)shown + 1, sizeof *out->items);
    for (int i = 0; out->items != NULL && i < shown; i++) {
        if ((out->items[i] = read_token(pool, res, i, NULL)) == NULL)
            break;
        out->n_items++;
    }
    if (out->n_items != (size_t)shown)
        st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "beta tokens: out of memory");
    else if (n > page.limit && (out->next_cursor = mentis_page_cursor(
                                    pool, out->items[shown - 1]->id, 0, false)) == NULL)
        st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "beta tokens: out of memory");
    PQclear(res);
    return st;
}

mentis_status_t mentis__auth_op_beta_tokens_revoke(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                                   ProtobufCMessage *resp)
{
    (void)resp;
    const Mentis__V1__Auth__RevokeBetaTokenRequest *in =
        (const Mentis__V1__Auth__RevokeBetaTokenRequest *)req;
    mentis_status_t st = mentis__auth_admin_require(ctx, false);
    if (st != MENTIS_OK)
        return st;
    if (!mentis__auth_admin_id_valid(ctx, "id", in->id))
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "beta token id is not a UUID");
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    const char *tenant = mentis_ctx_tenant(ctx);
    const char *p[] = {in->id};
    PGresult *res = NULL;
    /* The first revocation's time stays; a repeated one changes nothing in the table. */
    st = mentis_db_exec(
        mentis_ctx_db(ctx),
        "WITH old AS (SELECT id, revoked_at FROM auth.beta_tokens WHERE id = $1 FOR UPDATE) "
        "UPDATE auth.beta_tokens b SET revoked_at = coalesce(b.revoked_at, now()) FROM old "
        "WHERE b.id = old.id RETURNING floor(extract(epoch FROM b.revoked_at) * 1000)::bigint, "
        "old.revoked_at IS NULL, b.label, b.id",
        1, p, &res);
    if (st != MENTIS_OK)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "beta token %s not found", in->id);
    }
    int64_t revoked_ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    bool first = PQgetvalue(res, 0, 1)[0] == 't';
    char *label = mentis_pool_strdup(pool, PQgetvalue(res, 0, 2));
    char *id = mentis_pool_strdup(pool, PQgetvalue(res, 0, 3));
    PQclear(res);
    if (label == NULL || id == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "beta revoke: out of memory");
    if (first) {
        const char *kv[] = {"token_id", id, "label", label, NULL};
        if ((st = mentis__auth_admin_audit(ctx, mentis_ctx_db(ctx), NULL, "beta_token_revoked",
                                           kv)) != MENTIS_OK)
            return st;
    }
    /* Published again on a repeated revoke: events are not stored, and a gateway that missed
     * the first one learns of it now. */
    Mentis__V1__Auth__BetaTokenRevoked *ev = mentis_pool_calloc(pool, 1, sizeof *ev);
    if (ev == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "beta revoke: out of memory");
    mentis__v1__auth__beta_token_revoked__init(ev);
    ev->tenant_id = mentis_pool_strdup(pool, tenant);
    ev->token_id = id;
    ev->revoked_at = mentis__auth_timestamp(pool, revoked_ms);
    return mentis_ctx_publish_event(ctx, "beta_revoked", tenant, &ev->base);
}
