/* Who is calling, and what they may change (docs/internals/kb.md, "Ownership"). */
#include <string.h>

#include "kb.h"
#include "mentis/crypto.h"

void mentis__kb_caller(const mentis_ctx_t *ctx, mentis_kb_caller_t *out)
{
    memset(out, 0, sizeof *out);
    out->tenant = mentis_ctx_tenant(ctx);
    const char *p = mentis_ctx_principal(ctx);
    uint8_t id[16];
    /* A beta token's principal is the token, not a user: it reads, and owns nothing. */
    if (p != NULL && !mentis_ctx_has_role(ctx, "beta") && mentis_crypto_uuid_parse(p, id))
        out->user = p;
    out->platform = mentis_ctx_has_role(ctx, "platform_admin");
    out->admin = out->platform || mentis_ctx_has_role(ctx, "admin");
}

const char *mentis__kb_caller_admin(const mentis_kb_caller_t *c)
{
    return c->admin ? "t" : "f";
}

mentis_status_t mentis__kb_system_writes(mentis_ctx_t *ctx)
{
    return mentis_db_exec(mentis_ctx_db(ctx), "SELECT set_config('mentis.kb_system', 'on', true)",
                          0, NULL, NULL);
}

mentis_status_t mentis__kb_need_user(const mentis_kb_caller_t *c)
{
    if (c->user == NULL)
        return mentis_err_set(MENTIS_ERR_PERMISSION_DENIED, "user_required",
                              "only a signed-in user may create content");
    return MENTIS_OK;
}

mentis_status_t mentis__kb_may_change(mentis_ctx_t *ctx, const mentis_kb_caller_t *c,
                                      bool is_system, const char *owner_id, const char *what)
{
    if (is_system) {
        if (!c->platform)
            return mentis_err_set(MENTIS_ERR_PERMISSION_DENIED, "read_only",
                                  "system %s are read-only", what);
        return mentis__kb_system_writes(ctx);
    }
    if (c->admin)
        return MENTIS_OK;
    if (c->user != NULL && owner_id != NULL && strcmp(c->user, owner_id) == 0)
        return MENTIS_OK;
    return mentis_err_set(MENTIS_ERR_PERMISSION_DENIED, "not_owner",
                          "only the owner or an admin may change these %s", what);
}
