/*
 * A service on the real runtime with no operations and no database, named by
 * GW_FAKE_SERVICE (e.g. "curriculum"): it answers mentis.v1.<name>.health and $SRV.* like
 * any real service, so the gateway tests can kill a genuine service process with -9.
 */
#include <stdlib.h>

#include "mentis/service.h"

int main(int argc, char **argv)
{
    const char *name = getenv("GW_FAKE_SERVICE");
    mentis_service_def_t def = {
        .name = name && *name ? name : "curriculum",
        .description = "a stand-in service for the gateway tests",
        .default_admin_port = 0,
    };
    return mentis_service_main(&def, argc, argv);
}
