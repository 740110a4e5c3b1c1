/* mentis-auth: accounts, sessions, tokens, beta tokens, tenants and email flows */
#include "mentis/service.h"

/* Operations arrive with the issues that build them; "health" is built in. */
static const mentis_service_def_t service = {
    .name = "auth",
    .description = "accounts, sessions, tokens, beta tokens, tenants and email flows",
    .ops = NULL,
    .nops = 0,
    .default_admin_port = 9101,
    .schema = "auth",
};

int main(int argc, char **argv)
{
    return mentis_service_main(&service, argc, argv);
}
