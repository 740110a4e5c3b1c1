/* mentis-metrics: client session metrics and the operators' view of every service */
#include "mentis/service.h"

/* Operations arrive with the issues that build them; "health" is built in. */
static const mentis_service_def_t service = {
    .name = "metrics",
    .description = "client session metrics and the operators' view of every service",
    .ops = NULL,
    .nops = 0,
    .default_admin_port = 9104,
    .schema = "metrics",
};

int main(int argc, char **argv)
{
    return mentis_service_main(&service, argc, argv);
}
