/*
 * Domains and categories: the subject areas of questions. Every statement on kb.domains
 * is in this file. A domain's question_count counts the active questions the caller's
 * tenant sees (its own and the system's): the sum of its rows of kb.question_counts, which
 * triggers keep (migration 0003) and Row-Level Security narrows to those two.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb.h"

#define COLUMNS                                                                                    \
    "d.id, d.slug, d.name, d.icon, d.weight, to_json(d.subcategories), d.tenant_id IS NULL, "      \
    "d.version, (extract(epoch FROM d.created_at) * 1000)::bigint, "                               \
    "(extract(epoch FROM d.updated_at) * 1000)::bigint, coalesce(d.owner_id::text, ''), "          \
    "(SELECT coalesce(sum(c.n), 0) FROM kb.question_counts c WHERE c.domain_id = d.id)"

#define NAME_MAX_CHARS 100
#define SUB_MAX        100

static void domain_read(mentis_pool_t *pool, const PGresult *res, int row,
                        Mentis__V1__Kb__Domain *d)
{
    mentis__v1__kb__domain__init(d);
    d->id = mentis__kb_str(pool, res, row, 0);
    d->slug = mentis__kb_str(pool, res, row, 1);
    d->name = mentis__kb_str(pool, res, row, 2);
    d->icon = mentis__kb_str(pool, res, row, 3);
    d->weight = (int32_t)mentis__kb_int(res, row, 4);
    mentis__kb_strings(pool, PQgetvalue(res, row, 5), &d->subcategories, &d->n_subcategories);
    d->is_system = mentis__kb_bool(res, row, 6);
    d->version = mentis__kb_int(res, row, 7);
    d->created_at = mentis__kb_timestamp(pool, PQgetvalue(res, row, 8));
    d->updated_at = mentis__kb_timestamp(pool, PQgetvalue(res, row, 9));
    d->question_count = mentis__kb_int(res, row, 11);
}

mentis_status_t mentis__kb_domain_visible(mentis_ctx_t *ctx, const char *id, bool *found)
{
    PGresult *res = NULL;
    const char *p[] = {id};
    mentis_status_t st =
        mentis__kb_query(ctx, "SELECT 1 FROM kb.domains WHERE id = $1", 1, p, &res);
    if (st == MENTIS_OK)
        *found = PQntuples(res) == 1;
    PQclear(res);
    return st;
}

static bool slug_ok(mentis_ctx_t *ctx, const char *field, const char *slug)
{
    size_t n = strlen(slug);
    if (n >= 1 && n <= 63 && strspn(slug, "abcdefghijklmnopqrstuvwxyz0123456789_") == n)
        return true;
    mentis_ctx_field_error(ctx, field, "must be 1 to 63 of a-z, 0-9 and _");
    return false;
}

mentis_status_t mentis__kb_domain_insert(mentis_ctx_t *ctx, const mentis_kb_caller_t *c,
                                         const char *id, const char *slug, const char *name,
                                         const char *icon, int32_t weight,
                                         char *const *subcategories, size_t nsub, bool system)
{
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    PGresult *res = NULL;
    const char *q[] = {slug};
    mentis_status_t st =
        mentis__kb_query(ctx, "SELECT 1 FROM kb.domains WHERE slug = $1", 1, q, &res);
    bool taken = st == MENTIS_OK && PQntuples(res) > 0;
    PQclear(res);
    if (st != MENTIS_OK)
        return st;
    if (taken)
        return mentis_err_set(MENTIS_ERR_CONFLICT, "slug_exists", "a domain %s exists", slug);
    const char *p[] = {id,
                       system ? NULL : c->user,
                       slug,
                       name,
                       icon ? icon : "",
                       mentis__kb_itoa(pool, weight),
                       mentis__kb_strings_json(pool, subcategories, nsub),
                       system ? "t" : "f"};
    st = mentis__kb_query(
        ctx,
        "INSERT INTO kb.domains (id, tenant_id, owner_id, slug, name, icon, weight, "
        "subcategories) VALUES ($1, CASE WHEN $8::boolean THEN NULL ELSE kb.tenant() "
        "END, $2, $3, $4, $5, $6, " KB_TEXT_ARRAY("$7") ")",
        8, p, NULL);
    if (st == MENTIS_ERR_CONFLICT)
        return mentis_err_set(MENTIS_ERR_CONFLICT, "slug_exists", "a domain %s exists", slug);
    return st;
}

/* The domain's kind and owner, as the caller sees it; not_found when it does not. */
static mentis_status_t domain_owner(mentis_ctx_t *ctx, const char *id, bool *is_system,
                                    char **owner)
{
    PGresult *res = NULL;
    const char *p[] = {id};
    mentis_status_t st =
        mentis__kb_query(ctx,
                         "SELECT tenant_id IS NULL, coalesce(owner_id::text, '') FROM kb.domains "
                         "WHERE id = $1",
                         1, p, &res);
    if (st == MENTIS_OK && PQntuples(res) != 1)
        st = mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "no domain %s", id);
    if (st == MENTIS_OK) {
        *is_system = mentis__kb_bool(res, 0, 0);
        *owner = mentis__kb_str(mentis_ctx_pool(ctx), res, 0, 1);
    }
    PQclear(res);
    return st;
}

static mentis_status_t domain_get(mentis_ctx_t *ctx, const char *id, Mentis__V1__Kb__Domain *out)
{
    PGresult *res = NULL;
    const char *p[] = {id};
    mentis_status_t st =
        mentis__kb_query(ctx, "SELECT " COLUMNS " FROM kb.domains d WHERE d.id = $1", 1, p, &res);
    if (st == MENTIS_OK && PQntuples(res) != 1)
        st = mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "no domain %s", id);
    if (st == MENTIS_OK)
        domain_read(mentis_ctx_pool(ctx), res, 0, out);
    PQclear(res);
    return st;
}

/* One page of domains by weight (heaviest first), slug, id; the cursor key "weight.slug". */
static mentis_status_t domain_page(mentis_ctx_t *ctx, int32_t limit, const char *cursor,
                                   const char *q, const char *only_id, PGresult **res,
                                   mentis_kb_page_t *page)
{
    mentis_status_t st = mentis__kb_page_read(ctx, limit, cursor, 'd', page);
    if (st != MENTIS_OK)
        return st;
    char weight[32] = "", *slug = NULL;
    if (page->has_after) {
        char *dot = strchr(page->key, '.');
        if (dot == NULL) {
            mentis_ctx_field_error(ctx, "cursor", "is not a cursor of this list");
            return mentis__kb_invalid("page");
        }
        snprintf(weight, sizeof weight, "%.*s", (int)(dot - page->key), page->key);
        slug = dot + 1;
    }
    const char *p[] = {page->has_after ? weight : NULL,
                       slug,
                       page->has_after ? page->id : NULL,
                       q && q[0] ? q : NULL,
                       only_id && only_id[0] ? only_id : NULL,
                       mentis__kb_itoa(mentis_ctx_pool(ctx), page->limit + 1)};
    return mentis__kb_query(
        ctx,
        "SELECT " COLUMNS " FROM kb.domains d WHERE ($1::int IS NULL OR "
        "(-d.weight, d.slug, d.id) > (-$1::int, $2::text, $3::uuid)) AND "
        "($4::text IS NULL OR strpos(lower(d.name || ' ' || d.slug), lower($4)) > 0) "
        "AND ($5::uuid IS NULL OR d.id = $5::uuid) "
        "ORDER BY d.weight DESC, d.slug, d.id LIMIT $6",
        6, p, res);
}

static char *domain_cursor(mentis_pool_t *pool, const Mentis__V1__Kb__Domain *d)
{
    char key[96];
    snprintf(key, sizeof key, "%d.%s", d->weight, d->slug);
    return mentis__kb_page_cursor(pool, 'd', key, d->id);
}

KB_HANDLER(mentis__kb_op_domains_list)
{
    const Mentis__V1__Kb__ListDomainsRequest *in = (const void *)req;
    Mentis__V1__Kb__ListDomainsResponse *out = (void *)resp;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    if (strlen(in->q) > 200) {
        mentis_ctx_field_error(ctx, "q", "must be at most 200 bytes");
        return mentis__kb_invalid("domains.list");
    }
    mentis_kb_page_t page;
    PGresult *res = NULL;
    mentis_status_t st = domain_page(ctx, in->limit, in->cursor, in->q, NULL, &res, &page);
    if (st != MENTIS_OK)
        return st;
    int n = PQntuples(res), shown = n > page.limit ? page.limit : n;
    out->items = mentis_pool_calloc(pool, (size_t)shown + 1, sizeof *out->items);
    for (int i = 0; out->items && i < shown; i++) {
        out->items[i] = mentis_pool_alloc(pool, sizeof *out->items[i]);
        domain_read(pool, res, i, out->items[i]);
        out->n_items++;
    }
    if (n > page.limit && shown > 0)
        out->next_cursor = domain_cursor(pool, out->items[shown - 1]);
    PQclear(res);
    return MENTIS_OK;
}

static bool domain_fields_ok(mentis_ctx_t *ctx, const char *name, bool name_required,
                             const char *icon, int32_t weight, char *const *subs, size_t nsub)
{
    bool ok = true;
    if (name_required || name[0] != '\0')
        ok = mentis__kb_text_ok(ctx, "name", name, 1, NAME_MAX_CHARS, false) && ok;
    if (icon != NULL)
        ok = mentis__kb_text_ok(ctx, "icon", icon, 0, 64, false) && ok;
    if (weight < 0 || weight > 1000) {
        mentis_ctx_field_error(ctx, "weight", "must be from 0 to 1000");
        ok = false;
    }
    return mentis__kb_list_ok(ctx, "subcategories", subs, nsub, SUB_MAX, 100, false) && ok;
}

KB_HANDLER(mentis__kb_op_domains_create)
{
    const Mentis__V1__Kb__CreateDomainRequest *in = (const void *)req;
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
    bool ok = slug_ok(ctx, "slug", in->slug);
    ok = domain_fields_ok(ctx, in->name, true, in->icon, in->weight, in->subcategories,
                          in->n_subcategories) &&
         ok;
    if (!ok)
        return mentis__kb_invalid("domains.create");
    mentis_status_t st = in->system ? mentis__kb_may_change(ctx, &c, true, NULL, "domains")
                                    : mentis__kb_need_user(&c);
    if (st != MENTIS_OK)
        return st;
    char *id = mentis__kb_new_id(mentis_ctx_pool(ctx));
    st = mentis__kb_domain_insert(ctx, &c, id, in->slug, in->name, in->icon,
                                  in->weight ? in->weight : 100, in->subcategories,
                                  in->n_subcategories, in->system);
    return st == MENTIS_OK ? domain_get(ctx, id, (Mentis__V1__Kb__Domain *)resp) : st;
}

KB_HANDLER(mentis__kb_op_domains_get)
{
    const Mentis__V1__Kb__DomainRef *in = (const void *)req;
    if (!mentis__kb_uuid_ok(ctx, "id", in->id))
        return mentis__kb_invalid("domains.get");
    return domain_get(ctx, in->id, (Mentis__V1__Kb__Domain *)resp);
}

KB_HANDLER(mentis__kb_op_domains_update)
{
    const Mentis__V1__Kb__UpdateDomainRequest *in = (const void *)req;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
    bool has_icon = in->icon_set_case == MENTIS__V1__KB__UPDATE_DOMAIN_REQUEST__ICON_SET_ICON;
    bool has_weight =
        in->weight_set_case == MENTIS__V1__KB__UPDATE_DOMAIN_REQUEST__WEIGHT_SET_WEIGHT;
    bool ok = mentis__kb_uuid_ok(ctx, "id", in->id);
    ok = domain_fields_ok(ctx, in->name, false, has_icon ? in->icon : NULL,
                          has_weight ? in->weight : 0, in->subcategories, in->n_subcategories) &&
         ok;
    if (in->clear_subcategories && in->n_subcategories > 0) {
        mentis_ctx_field_error(ctx, "clear_subcategories", "conflicts with subcategories");
        ok = false;
    }
    if (!ok)
        return mentis__kb_invalid("domains.update");
    int64_t want = 0;
    mentis_status_t st = mentis__kb_expected_version(in->version, in->expected_version, &want);
    bool is_system = false;
    char *owner = NULL;
    if (st == MENTIS_OK)
        st = domain_owner(ctx, in->id, &is_system, &owner);
    if (st == MENTIS_OK)
        st = mentis__kb_may_change(ctx, &c, is_system, owner, "domains");
    if (st != MENTIS_OK)
        return st;
    const char *subs = in->n_subcategories > 0 || in->clear_subcategories
                           ? mentis__kb_strings_json(pool, in->subcategories, in->n_subcategories)
                           : NULL;
    const char *p[] = {in->id,
                       in->name[0] ? in->name : NULL,
                       has_icon ? in->icon : NULL,
                       has_weight ? mentis__kb_itoa(pool, in->weight) : NULL,
                       subs,
                       want ? mentis__kb_itoa(pool, want) : NULL};
    PGresult *res = NULL;
    st = mentis__kb_query(
        ctx,
        "UPDATE kb.domains SET name = coalesce($2, name), icon = coalesce($3, icon), "
        "weight = coalesce($4::int, weight), subcategories = CASE WHEN $5::json IS "
        "NULL THEN subcategories ELSE " KB_TEXT_ARRAY(
            "$5") " END, "
                  "version = version + 1, updated_at = now() "
                  "WHERE id = $1 AND ($6::bigint IS NULL OR version = $6::bigint) RETURNING id",
        6, p, &res);
    bool done = st == MENTIS_OK && PQntuples(res) == 1;
    PQclear(res);
    if (st != MENTIS_OK)
        return st;
    if (!done)
        return mentis__kb_version_mismatch("domain", in->id, want);
    return domain_get(ctx, in->id, (Mentis__V1__Kb__Domain *)resp);
}

KB_HANDLER(mentis__kb_op_domains_delete)
{
    (void)resp;
    const Mentis__V1__Kb__DomainRef *in = (const void *)req;
    mentis_kb_caller_t c;
    mentis__kb_caller(ctx, &c);
    if (!mentis__kb_uuid_ok(ctx, "id", in->id))
        return mentis__kb_invalid("domains.delete");
    bool is_system = false;
    char *owner = NULL;
    mentis_status_t st = domain_owner(ctx, in->id, &is_system, &owner);
    if (st == MENTIS_OK)
        st = mentis__kb_may_change(ctx, &c, is_system, owner, "domains");
    if (st != MENTIS_OK)
        return st;
    const char *p[] = {in->id};
    /* Questions of every tenant count: the foreign key sees them all. */
    st = mentis__kb_query(ctx, "DELETE FROM kb.domains WHERE id = $1", 1, p, NULL);
    if (st == MENTIS_ERR_CONFLICT)
        return mentis_err_set(MENTIS_ERR_CONFLICT, "domain_in_use",
                              "questions still belong to domain %s", in->id);
    return st;
}

/* ---- categories ---- */

KB_HANDLER(mentis__kb_op_categories_list)
{
    const Mentis__V1__Kb__ListCategoriesRequest *in = (const void *)req;
    Mentis__V1__Kb__ListCategoriesResponse *out = (void *)resp;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    if (!mentis__kb_uuid_opt_ok(ctx, "domain_id", in->domain_id))
        return mentis__kb_invalid("categories.list");
    mentis_kb_page_t page;
    PGresult *res = NULL;
    mentis_status_t st = domain_page(ctx, in->limit, in->cursor, NULL, in->domain_id, &res, &page);
    if (st != MENTIS_OK)
        return st;
    int n = PQntuples(res), shown = n > page.limit ? page.limit : n;
    Mentis__V1__Kb__Domain *doms = mentis_pool_calloc(pool, (size_t)shown + 1, sizeof *doms);
    char **ids = mentis_pool_calloc(pool, (size_t)shown + 1, sizeof *ids);
    out->items = mentis_pool_calloc(pool, (size_t)shown + 1, sizeof *out->items);
    if (doms == NULL || ids == NULL || out->items == NULL) {
        PQclear(res);
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "categories: out of memory");
    }
    for (int i = 0; i < shown; i++) {
        domain_read(pool, res, i, &doms[i]);
        ids[i] = doms[i].id;
    }
    PQclear(res);
    res = NULL;
    const char *p[] = {mentis__kb_strings_json(pool, ids, (size_t)shown)};
    st = mentis__kb_query(
        ctx,
        "SELECT domain_id, subcategory, sum(n) FROM kb.question_counts WHERE domain_id = "
        "ANY(ARRAY(SELECT json_array_elements_text($1::json))::uuid[]) GROUP BY 1, 2 "
        "HAVING sum(n) > 0 ORDER BY 1, 2",
        1, p, &res);
    if (st != MENTIS_OK)
        return st;
    int rows = PQntuples(res);
    for (int i = 0; i < shown; i++) {
        Mentis__V1__Kb__Category *cat = mentis_pool_alloc(pool, sizeof *cat);
        mentis__v1__kb__category__init(cat);
        cat->domain_id = doms[i].id;
        cat->slug = doms[i].slug;
        cat->name = doms[i].name;
        cat->question_count = doms[i].question_count;
        /* Declared subcategories first (in their order), then the others questions use. */
        size_t cap = doms[i].n_subcategories + (size_t)rows;
        cat->subcategories = mentis_pool_calloc(pool, cap + 1, sizeof *cat->subcategories);
        for (size_t k = 0; k < doms[i].n_subcategories; k++) {
            Mentis__V1__Kb__Subcategory *s = mentis_pool_alloc(pool, sizeof *s);
            mentis__v1__kb__subcategory__init(s);
            s->name = doms[i].subcategories[k];
            cat->subcategories[cat->n_subcategories++] = s;
        }
        for (int r = 0; r < rows; r++) {
            if (strcmp(PQgetvalue(res, r, 0), doms[i].id) != 0)
                continue;
            const char *name = PQgetvalue(res, r, 1);
            Mentis__V1__Kb__Subcategory *s = NULL;
            for (size_t k = 0; k < cat->n_subcategories && s == NULL; k++)
                if (strcmp(cat->subcategories[k]->name, name) == 0)
                    s = cat->subcategories[k];
            if (s == NULL) {
                s = mentis_pool_alloc(pool, sizeof *s);
                mentis__v1__kb__subcategory__init(s);
                s->name = mentis__kb_str(pool, res, r, 1);
                cat->subcategories[cat->n_subcategories++] = s;
            }
            s->question_count = mentis__kb_int(res, r, 2);
        }
        out->items[out->n_items++] = cat;
    }
    PQclear(res);
    if (n > page.limit && shown > 0)
        out->next_cursor = domain_cursor(pool, &doms[shown - 1]);
    return MENTIS_OK;
}
