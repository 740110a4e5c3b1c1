/* mentis-kb: question packs, questions, domains, search, import and export */
#include "mentis/service.h"

/* Operations arrive with the issues that build them; "health" is built in. */
static const mentis_service_def_t service = {
    .name = "kb",
    .description = "question packs, questions, domains, search, import and export",
    .ops = NULL,
    .nops = 0,
    .default_admin_port = 9102,
    .schema = "kb",
};

int main(int argc, char **argv)
{
    return mentis_service_main(&service, argc, argv);
}
