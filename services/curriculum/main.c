/* mentis-curriculum: UMCF curricula, topics, transcripts and learner progress */
#include "mentis/service.h"

/* Operations arrive with the issues that build them; "health" is built in. */
static const mentis_service_def_t service = {
    .name = "curriculum",
    .description = "UMCF curricula, topics, transcripts and learner progress",
    .ops = NULL,
    .nops = 0,
    .default_admin_port = 9103,
    .schema = "curriculum",
};

int main(int argc, char **argv)
{
    return mentis_service_main(&service, argc, argv);
}
