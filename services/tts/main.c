/* mentis-tts: text to speech with a content-addressed audio cache */
#include "mentis/service.h"

/* Operations arrive with the issues that build them; "health" is built in. */
static const mentis_service_def_t service = {
    .name = "tts",
    .description = "text to speech with a content-addressed audio cache",
    .ops = NULL,
    .nops = 0,
    .default_admin_port = 9105,
    .schema = NULL,
};

int main(int argc, char **argv)
{
    return mentis_service_main(&service, argc, argv);
}
