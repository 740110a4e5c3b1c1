/*
 * mentis-auth: the signed-in user's own account — password change, forgot/reset,
 * email verification and resend, sessions and devices, login throttling, mail.
 * Files: account_*.c, mail.c. main.c includes this for the operation table and settings.
 */
#ifndef MENTIS_AUTH_ACCOUNT_H
#define MENTIS_AUTH_ACCOUNT_H

#include "auth.h"

/* Entries of main.c's operation table (a comma-separated list, or empty). */
#define MENTIS_AUTH_ACCOUNT_OPS

#endif
