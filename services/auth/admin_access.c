/* Who may administer: the roles the gateway vouches for, checked again here. */
#include <string.h>

#include "admin.h"

bool mentis__auth_admin_is_platform(const mentis_ctx_t *ctx)
{
    return mentis_ctx_has_role(ctx, "platform_admin");
}

mentis_status_t mentis__auth_admin_require(mentis_ctx_t *ctx, bool platform)
{
    /* The gateway only routes admins here; a message that reached us some other way (or a
     * gateway with a wrong route) must still be refused. */
    if (mentis__auth_admin_is_platform(ctx))
        return MENTIS_OK;
    if (platform)
        return mentis_err_set(MENTIS_ERR_PERMISSION_DENIED, NULL,
                              "only platform admins may do this");
    if (mentis_ctx_has_role(ctx, "admin"))
        return MENTIS_OK;
    return mentis_err_set(MENTIS_ERR_PERMISSION_DENIED, NULL, "only admins may do this");
}

const char *mentis__auth_admin_caller(const mentis_ctx_t *ctx)
{
    const char *p = mentis_ctx_principal(ctx);
    uint8_t id[16];
    return p != NULL && !mentis_ctx_has_role(ctx, "beta") && mentis_crypto_uuid_parse(p, id) ? p
                                                                                             : NULL;
}

const char *mentis__auth_role_str(Mentis__V1__Auth__Role role)
{
    switch (role) {
    case MENTIS__V1__AUTH__ROLE__ROLE_USER:
        return "user";
    case MENTIS__V1__AUTH__ROLE__ROLE_ADMIN:
        return "admin";
    case MENTIS__V1__AUTH__ROLE__ROLE_PLATFORM_ADMIN:
        return "platform_admin";
    default:
        return NULL;
    }
}

bool mentis__auth_admin_id_valid(mentis_ctx_t *ctx, const char *field, const char *id)
{
    uint8_t bytes[16];
    if (id != NULL && mentis_crypto_uuid_parse(id, bytes))
        return true;
    mentis_ctx_field_error(ctx, field, "must be a UUID");
    return false;
}
