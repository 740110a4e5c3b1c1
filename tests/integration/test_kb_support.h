/*
 * The stack the knowledge-base tests run against: real nats-server and PostgreSQL,
 * mentis-auth, two mentis-kb replicas started together (the seed must happen once) and
 * mentis-gateway; and the callers: a platform admin and two users of the default tenant,
 * a second tenant's admin and user. Requests go through the gateway like a client's.
 */
#ifndef MENTIS_TEST_KB_SUPPORT_H
#define MENTIS_TEST_KB_SUPPORT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "check.h"
#include "harness.h"
#include "test_gateway_support.h"

typedef struct {
    char id[64];
    char access[2048];
} kt_user_t;

/* The callers, signed in by kt_setup. */
extern kt_user_t kt_root;  /* platform admin of the default tenant */
extern kt_user_t kt_alice; /* user of the default tenant */
extern kt_user_t kt_bob;   /* another user of the default tenant */
extern kt_user_t kt_boss;  /* admin of tenant B */
extern kt_user_t kt_carol; /* user of tenant B */
extern h_pg_t kt_pg;

/* Prints the errors mentis-kb logged (after a failed case: the reasons of 500s). */
void kt_log_errors(void);

/* Stops the kb replicas (they must drain and exit 0), checks their logs hold no sanitizer
 * report, and prints the errors they logged. The last case of a test file. */
void kt_finish(void);

/* Starts everything once; later calls do nothing. */
void kt_setup(void);

/* A request through the gateway with the user's token (NULL: none), extra header lines
 * ("If-Match: \"2\"\r\n") and a JSON body (NULL: none). Returns 0 when answered. */
int kt_call(const char *method, const char *path, const kt_user_t *u, const char *extra,
            const char *body, gt_response_t *r);

/* The body parsed (free with cJSON_Delete); NULL when not JSON. */
cJSON *kt_json(const gt_response_t *r);
/* A top-level string of the body into out ("" when absent). */
const char *kt_str(const gt_response_t *r, const char *key, char *out, size_t size);
/* A top-level number of the body (int64 may come as a string); -1 when absent. */
long long kt_num(const gt_response_t *r, const char *key);
/* The problem's code, and its errors[] fields joined by ','. */
const char *kt_code(const gt_response_t *r);
const char *kt_fields(const gt_response_t *r);
/* Checks status and problem code. */
void kt_problem(const gt_response_t *r, int status, const char *code, const char *what);
/* Whether the problem's errors[] names `field`. */
bool kt_has_field(const gt_response_t *r, const char *field);
/* How many items[] the body has; and how many of them have id (key "id") `id`. */
int kt_items(const gt_response_t *r);
int kt_items_with(const gt_response_t *r, const char *key, const char *value);

/* Makes a question in domain_id with text and answer; `extra` is more JSON members
 * (",\"difficulty\":2") or NULL. Its id into id; false on any other answer than 201. */
bool kt_question(const kt_user_t *u, const char *domain_id, const char *text, const char *answer,
                 const char *extra, char id[64]);
/* Makes a pack; `extra` as above. */
bool kt_pack(const kt_user_t *u, const char *name, const char *extra, char id[64]);
/* The id of the system domain with this slug. */
bool kt_domain(const kt_user_t *u, const char *slug, char id[64]);

#endif
