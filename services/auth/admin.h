/*
 * mentis-auth: administration — beta tokens (and the gateways' check of them), users of
 * a tenant, tenants, the audit log, the bootstrap admin. main.c includes this for the
 * operation table.
 */
#ifndef MENTIS_AUTH_ADMIN_H
#define MENTIS_AUTH_ADMIN_H

#include "auth.h"

/* Entries of main.c's operation table (a comma-separated list, or empty). */
#define MENTIS_AUTH_ADMIN_OPS

#endif
