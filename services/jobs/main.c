/* mentis-jobs: durable background jobs: imports, audio prefetch, retention */
#include "mentis/service.h"

/* Operations arrive with the issues that build them; "health" is built in. */
static const mentis_service_def_t service = {
    .name = "jobs",
    .description = "durable background jobs: imports, audio prefetch, retention",
    .ops = NULL,
    .nops = 0,
    .default_admin_port = 9106,
    .schema = "jobs",
};

int main(int argc, char **argv)
{
    return mentis_service_main(&service, argc, argv);
}
