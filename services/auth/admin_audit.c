/* The audit log as admins read it, and how admin actions are written into it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

/* Microseconds since the epoch as a timestamptz, exactly (no floating point). */
#define US_TO_TS(param) "('epoch'::timestamptz + interval '1 microsecond' * " param "::bigint)"

/* Writes s at out as the inside of a JSON string (at most 6 bytes a character); returns
 * the end. */
static char *json_chars(char *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *out++ = '\\';
            *out++ = (char)c;
        } else if (c < 0x20) {
            out += snprintf(out, 7, "\\u%04x", (unsigned)c);
        } else {
            *out++ = (char)c;
        }
    }
    return out;
}

mentis_status_t mentis__auth_admin_audit(mentis_ctx_t *ctx, mentis_db_conn_t *conn,
                                         const char *user_id, const char *event,
                                         const char *const *kv)
{
    return mentis__auth_admin_audit_in(ctx, conn, mentis_ctx_tenant(ctx), user_id, event, kv);
}

mentis_status_t mentis__auth_admin_audit_in(mentis_ctx_t *ctx, mentis_db_conn_t *conn,
                                            const char *tenant, const char *user_id,
                                            const char *event, const char *const *kv)
{
    size_t size = 3; /* {} and the NUL */
    for (size_t i = 0; kv != NULL && kv[i] != NULL && kv[i + 1] != NULL; i += 2)
        size += 6 * (strlen(kv[i]) + strlen(kv[i + 1])) + 6; /* "k":"v", */
    char *json = mentis_pool_alloc(mentis_ctx_pool(ctx), size);
    if (json == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "audit: out of memory");
    char *w = json;
    *w++ = '{';
    for (size_t i = 0; kv != NULL && kv[i] != NULL && kv[i + 1] != NULL; i += 2) {
        if (i > 0)
            *w++ = ',';
        *w++ = '"';
        w = json_chars(w, kv[i]);
        memcpy(w, "\":\"", 3);
        w = json_chars(w + 3, kv[i + 1]);
        *w++ = '"';
    }
    *w++ = '}';
    *w = '\0';
    return mentis__auth_audit(ctx, conn, tenant, user_id, event, json);
}

static int64_t us_of(const Mentis__V1__Timestamp *t)
{
    return t->seconds * 1000000 + t->nanos / 1000;
}

mentis_status_t mentis__auth_op_audit_list(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                           ProtobufCMessage *resp)
{
    const Mentis__V1__Auth__ListAuditRequest *in = (const Mentis__V1__Auth__ListAuditRequest *)req;
    Mentis__V1__Auth__ListAuditResponse *out = (Mentis__V1__Auth__ListAuditResponse *)resp;
    mentis_status_t st = mentis__auth_admin_require(ctx, false);
    if (st != MENTIS_OK)
        return st;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    mentis_page_t page;
    st = mentis_page_read(ctx, in->limit, in->cursor, true, &page);
    bool ok = st == MENTIS_OK;
    const char *user_id = in->user_id != NULL && in->user_id[0] != '\0' ? in->user_id : NULL;
    if (user_id != NULL && !mentis__auth_admin_id_valid(ctx, "user_id", user_id))
        ok = false;
    const char *event = in->event != NULL && in->event[0] != '\0' ? in->event : NULL;
    if (event != NULL && strlen(event) > 64) {
        mentis_ctx_field_error(ctx, "event", "must be at most 64 characters");
        ok = false;
    }
    if (in->since != NULL && in->until != NULL && us_of(in->since) >= us_of(in->until)) {
        mentis_ctx_field_error(ctx, "until", "must be after since");
        ok = false;
    }
    if (!ok)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "audit: invalid filters");
    char since[32], until[32], after[32], limit[16];
    if (in->since != NULL)
        snprintf(since, sizeof since, "%lld", (long long)us_of(in->since));
    if (in->until != NULL)
        snprintf(until, sizeof until, "%lld", (long long)us_of(in->until));
    snprintf(after, sizeof after, "%lld", (long long)page.after_us);
    snprintf(limit, sizeof limit, "%d", page.limit + 1);
    const char *p[] = {event,
                       user_id,
                       in->since ? since : NULL,
                       in->until ? until : NULL,
                       page.has_after ? after : NULL,
                       page.has_after ? page.after_id : NULL,
                       limit};
    PGresult *res = NULL;
    /* Newest first, by (created_at, id): ids alone do not follow created_at, which is the
     * transaction's start. One row per detail key (or one for an empty detail). */
    st = mentis_db_exec(
        mentis_ctx_db(ctx),
        "WITH page AS (SELECT a.* FROM auth.audit_log a "
        "WHERE ($1::text IS NULL OR a.event = $1) "
        "AND ($2::uuid IS NULL OR a.user_id = $2::uuid OR a.actor_id = $2::uuid) "
        "AND ($3::bigint IS NULL OR a.created_at >= " US_TO_TS(
            "$3") ") "
                  "AND ($4::bigint IS NULL OR a.created_at < " US_TO_TS(
                      "$4") ") "
                            "AND ($5::bigint IS NULL OR (a.created_at, a.id) < (" US_TO_TS(
                                "$5") ", $6::uuid)) "
                                      "ORDER BY a.created_at DESC, a.id DESC LIMIT $7::int) "
                                      "SELECT p.id, p.event, p.user_id, p.actor_id, p.actor_email, "
                                      "p.ip_address, "
                                      "(extract(epoch FROM p.created_at) * 1000000)::bigint, "
                                      "d.key, d.value "
                                      "FROM page p LEFT JOIN LATERAL jsonb_each_text(p.detail) d "
                                      "ON true "
                                      "ORDER BY p.created_at DESC, p.id DESC, d.key",
        7, p, &res);
    if (st != MENTIS_OK)
        return st;
    int rows = PQntuples(res);
    out->items = mentis_pool_calloc(pool, (size_t)page.limit + 1, sizeof *out->items);
    if (out->items == NULL)
        goto oom;
    Mentis__V1__Auth__AuditEntry *e = NULL;
    bool more = false;
    for (int r = 0; r < rows; r++) {
        if (e == NULL || strcmp(e->id, PQgetvalue(res, r, 0)) != 0) {
            if ((int)out->n_items == page.limit) {
                more = true;
                break;
            }
            if ((e = mentis_pool_calloc(pool, 1, sizeof *e)) == NULL)
                goto oom;
            mentis__v1__auth__audit_entry__init(e);
            e->id = mentis_pool_strdup(pool, PQgetvalue(res, r, 0));
            e->event = mentis_pool_strdup(pool, PQgetvalue(res, r, 1));
            e->user_id = mentis_pool_strdup(pool, PQgetvalue(res, r, 2));
            e->actor_id = mentis_pool_strdup(pool, PQgetvalue(res, r, 3));
            e->actor_email = mentis_pool_strdup(pool, PQgetvalue(res, r, 4));
            e->ip_address = mentis_pool_strdup(pool, PQgetvalue(res, r, 5));
            int64_t us = strtoll(PQgetvalue(res, r, 6), NULL, 10);
            e->created_at = mentis__auth_timestamp(pool, us / 1000);
            if (e->created_at != NULL)
                e->created_at->nanos = (int32_t)(us % 1000000) * 1000;
            /* Every detail key of this entry follows in the next rows. */
            int keys = 0;
            for (int k = r; k < rows && strcmp(PQgetvalue(res, k, 0), e->id) == 0; k++)
                keys += !PQgetisnull(res, k, 7);
            e->detail = mentis_pool_calloc(pool, (size_t)keys + 1, sizeof *e->detail);
            if (e->id == NULL || e->event == NULL || e->user_id == NULL || e->actor_id == NULL ||
                e->actor_email == NULL || e->ip_address == NULL || e->created_at == NULL ||
                e->detail == NULL)
                goto oom;
            out->items[out->n_items++] = e;
            /* The cursor: this entry's time and id, should it end the page. */
            if ((int)out->n_items == page.limit)
                out->next_cursor = mentis_page_cursor(pool, e->id, us, true);
        }
        if (!PQgetisnull(res, r, 7)) {
            Mentis__V1__Auth__AuditEntry__DetailEntry *d = mentis_pool_calloc(pool, 1, sizeof *d);
            if (d == NULL)
                goto oom;
            mentis__v1__auth__audit_entry__detail_entry__init(d);
            d->key = mentis_pool_strdup(pool, PQgetvalue(res, r, 7));
            d->value = mentis_pool_strdup(pool, PQgetvalue(res, r, 8));
            if (d->key == NULL || d->value == NULL)
                goto oom;
            e->detail[e->n_detail++] = d;
        }
    }
    if (!more)
        out->next_cursor = NULL;
    else if (out->next_cursor == NULL)
        goto oom;
    PQclear(res);
    return MENTIS_OK;
oom:
    PQclear(res);
    return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "audit: out of memory");
}
