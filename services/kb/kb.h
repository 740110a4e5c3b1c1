/*
 * mentis-kb inside: what the handler files share.
 *
 * Each entity keeps its SQL in one file (domains.c, questions.c, packs.c); handlers are
 * small: validate the request naming every bad field, check who may do it (access.c), run
 * the entity's statement, read the rows back. Every handler runs inside the runtime's
 * tenant-scoped transaction (MENTIS_OP_DB | MENTIS_OP_TENANT), so a refusal anywhere writes
 * nothing.
 */
#ifndef MENTIS_KB_H
#define MENTIS_KB_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mentis/service.h"
#include "mentis/v1/kb.pb-c.h"

/* ---- access.c: who is calling, and what they may change ---- */

typedef struct {
    const char *tenant; /* Mentis-Tenant */
    const char *user;   /* the principal's id, NULL for a beta token (owns nothing) */
    bool admin;         /* a tenant admin or a platform admin */
    bool platform;      /* a platform admin: may change system content */
} mentis_kb_caller_t;

void mentis__kb_caller(const mentis_ctx_t *ctx, mentis_kb_caller_t *out);
/* "t" or "f": the $2 of the visibility clause below. */
const char *mentis__kb_caller_admin(const mentis_kb_caller_t *c);

/*
 * Whether the caller may change a row: system rows (is_system) are read-only except to
 * platform admins (403 read_only), a tenant's rows to their owner and the tenant's admins
 * (403 not_owner). For a platform admin's change to system rows it switches on
 * mentis.kb_system for the transaction, which the tables' policies ask for.
 */
mentis_status_t mentis__kb_may_change(mentis_ctx_t *ctx, const mentis_kb_caller_t *c,
                                      bool is_system, const char *owner_id, const char *what);
/* Switches on writes to system rows for this transaction. */
mentis_status_t mentis__kb_system_writes(mentis_ctx_t *ctx);
/* Creating needs a user to own the row (a beta token is refused: 403). */
mentis_status_t mentis__kb_need_user(const mentis_kb_caller_t *c);

/* ---- check.c: field validation; each false has recorded a field error ---- */

bool mentis__kb_uuid_ok(mentis_ctx_t *ctx, const char *field, const char *id);
/* Optional id: empty is fine. */
bool mentis__kb_uuid_opt_ok(mentis_ctx_t *ctx, const char *field, const char *id);
/* Text of min..max characters (UTF-8 code points), no control characters except
 * newlines and tabs when multiline. */
/* The problem of a text (NULL: none), the message written to buf when it needs one. */
const char *mentis__kb_text_problem(const char *s, size_t min, size_t max, bool multiline,
                                    char *buf, size_t size);
bool mentis__kb_text_ok(mentis_ctx_t *ctx, const char *field, const char *s, size_t min, size_t max,
                        bool multiline);
/* A list of at most max items, each 1..item_max characters (newlines when multiline). */
bool mentis__kb_list_ok(mentis_ctx_t *ctx, const char *field, char *const *items, size_t n,
                        size_t max, size_t item_max, bool multiline);
/* A list of 1..max ids, each a UUID, none twice. */
bool mentis__kb_ids_ok(mentis_ctx_t *ctx, const char *field, char *const *ids, size_t n,
                       size_t max);
/* A field error for an index of a list: "question_ids[3]". */
void mentis__kb_item_error(mentis_ctx_t *ctx, const char *field, size_t i, const char *message);
mentis_status_t mentis__kb_invalid(const char *what);
/* The version an update is conditional on: If-Match, else the body's, else 0. Both and
 * different: 412. */
mentis_status_t mentis__kb_expected_version(int64_t body, int64_t if_match, int64_t *out);
mentis_status_t mentis__kb_version_mismatch(const char *what, const char *id, int64_t want);

/* ---- util.c: rows, JSON lists, enums, timestamps ---- */

Mentis__V1__Timestamp *mentis__kb_timestamp(mentis_pool_t *pool, const char *ms_text);
char *mentis__kb_str(mentis_pool_t *pool, const PGresult *res, int row, int col);
int64_t mentis__kb_int(const PGresult *res, int row, int col);
bool mentis__kb_bool(const PGresult *res, int row, int col);
/* A JSON array of strings (a column read as to_json(text[])) into a pooled list. */
void mentis__kb_strings(mentis_pool_t *pool, const char *json, char ***out, size_t *n);
/* A list as a JSON array text, for "ARRAY(SELECT json_array_elements_text($n::json))". */
char *mentis__kb_strings_json(mentis_pool_t *pool, char *const *items, size_t n);
#define KB_TEXT_ARRAY(p) "ARRAY(SELECT json_array_elements_text(" p "::json))"

const char *mentis__kb_status_str(Mentis__V1__Kb__Status s);
Mentis__V1__Kb__Status mentis__kb_status_from(const char *s);
const char *mentis__kb_pack_type_str(Mentis__V1__Kb__PackType t);
Mentis__V1__Kb__PackType mentis__kb_pack_type_from(const char *s);
const char *mentis__kb_question_type_str(Mentis__V1__Kb__QuestionType t);
Mentis__V1__Kb__QuestionType mentis__kb_question_type_from(const char *s);
const char *mentis__kb_tier_str(Mentis__V1__Kb__DifficultyTier t);
Mentis__V1__Kb__DifficultyTier mentis__kb_tier_from(const char *s);
/* One statement; its result in *out (PQclear it). */
mentis_status_t mentis__kb_query(mentis_ctx_t *ctx, const char *sql, int n,
                                 const char *const *params, PGresult **out);
char *mentis__kb_new_id(mentis_pool_t *pool);

/* ---- page.c: keyset cursors ---- */

#define KB_PAGE_DEFAULT 50
#define KB_PAGE_MAX     200

/*
 * A cursor is base64url of "<kind>:<key>:<id>": the sort key and id of the last row of
 * the previous page, the next page starting right after it. `kind` is one letter per
 * ordering ('s' list order, 'r' rank, 'p' position in a pack, 'd' domains), so a cursor of
 * one ordering is refused by another.
 */
typedef struct {
    int limit;
    bool has_after;
    char key[64]; /* the sort key as text */
    char id[64];  /* the tie-breaker (a UUID, or kind:UUID for search) */
} mentis_kb_page_t;

mentis_status_t mentis__kb_page_read(mentis_ctx_t *ctx, int32_t limit, const char *cursor,
                                     char kind, mentis_kb_page_t *out);
char *mentis__kb_page_cursor(mentis_pool_t *pool, char kind, const char *key, const char *id);
/* "t"... helper: a number as pooled text */
char *mentis__kb_itoa(mentis_pool_t *pool, long long v);

/* ---- domains.c ---- */

/* Whether the caller sees a domain of this id. */
mentis_status_t mentis__kb_domain_visible(mentis_ctx_t *ctx, const char *id, bool *found);
mentis_status_t mentis__kb_domain_insert(mentis_ctx_t *ctx, const mentis_kb_caller_t *c,
                                         const char *id, const char *slug, const char *name,
                                         const char *icon, int32_t weight,
                                         char *const *subcategories, size_t nsub, bool system);

/* ---- questions.c ---- */

/* The question columns (read with kb_question_read), from alias q. */
extern const char KB_QUESTION_COLUMNS[];
#define KB_QUESTION_NCOLS 23
void mentis__kb_question_read(mentis_pool_t *pool, const PGresult *res, int row,
                              Mentis__V1__Kb__Question *q);
/* Validates a new question's fields (field names prefixed with `prefix`, "" or
 * "questions[3]."), checking its domain is visible. */
bool mentis__kb_question_fields_ok(mentis_ctx_t *ctx, const char *prefix,
                                   const Mentis__V1__Kb__CreateQuestionRequest *in,
                                   bool check_domain);
/* Inserts a validated question owned by the caller (system when c is NULL) with id. */
mentis_status_t mentis__kb_question_insert(mentis_ctx_t *ctx, const mentis_kb_caller_t *c,
                                           const char *id,
                                           const Mentis__V1__Kb__CreateQuestionRequest *in);

/* q cut to 256 bytes on a character boundary: any text is a query, long ones are cut. */
const char *mentis__kb_query_text(mentis_pool_t *pool, const char *q);

/* ---- packs.c ---- */

extern const char KB_PACK_COLUMNS[];
#define KB_PACK_NCOLS 16
void mentis__kb_pack_read(mentis_pool_t *pool, const PGresult *res, int row,
                          Mentis__V1__Kb__Pack *p);
/* Reads one visible pack (with per-domain counts when `counts`) into p; not_found. */
mentis_status_t mentis__kb_pack_load(mentis_ctx_t *ctx, const mentis_kb_caller_t *c, const char *id,
                                     bool counts, Mentis__V1__Kb__Pack *p);
mentis_status_t mentis__kb_pack_insert(mentis_ctx_t *ctx, const mentis_kb_caller_t *c,
                                       const char *id, const char *type, const char *name,
                                       const char *description, Mentis__V1__Kb__DifficultyTier tier,
                                       Mentis__V1__Kb__Status status, const char *system_key);
/* Appends visible questions (in order, ones already there skipped) to a pack; each id
 * not visible is a field error of `field`[i]. */
mentis_status_t mentis__kb_pack_append(mentis_ctx_t *ctx, const mentis_kb_caller_t *c,
                                       const char *pack_id, const char *field, char *const *ids,
                                       size_t n);
/* Bumps the version of a pack the caller may change, locking its row (404, 403, 412). */
mentis_status_t mentis__kb_pack_touch(mentis_ctx_t *ctx, const mentis_kb_caller_t *c,
                                      const char *id, int64_t want, Mentis__V1__Kb__Pack *pack);

/* ---- seed.c ---- */

mentis_status_t mentis__kb_seed(mentis_service_t *svc);

/* ---- pack_doc.c, transfer.c: the pack document and the apps' question file ---- */

/* A problem of a document: its JSON path and what is wrong. */
typedef struct {
    char *field;
    char *message;
} mentis_kb_problem_t;

typedef struct {
    mentis_pool_t *pool;
    mentis_kb_problem_t *items;
    size_t count, cap, dropped;
} mentis_kb_problems_t;

#define MENTIS_KB_FORMAT         "mentis.kb.pack"
#define MENTIS_KB_FORMAT_VERSION 1

/* Adds a problem (at most 200 are kept; the others are counted in `dropped`). */
__attribute__((format(printf, 3, 4))) void
mentis__kb_problem(mentis_kb_problems_t *p, const char *field, const char *fmt, ...);

/* A document read and checked, before its domains are looked up or anything is written. */
typedef struct {
    cJSON *root; /* the parsed document: the strings below point into it */
    const char *name, *description, *tier, *status; /* of "pack"; NULL when absent */
    cJSON *domains;   /* [{slug, name, icon, weight, subcategories}] defined by the document */
    cJSON *questions; /* normalised: the pack format's question fields, "domain" a slug */
} mentis_kb_doc_t;

/*
 * Parses `len` bytes of json (no NUL needed) and checks the document, either format, every
 * problem into pr. False when it is not JSON (one problem, nothing else read). A document
 * with problems keeps no domains and no questions. `keep_ids`: the apps' question ids that
 * are UUIDs are kept (system content). Free with mentis__kb_doc_free, even after false.
 */
bool mentis__kb_doc_read(mentis_kb_problems_t *pr, const char *json, size_t len, bool keep_ids,
                         mentis_kb_doc_t *d);
void mentis__kb_doc_free(mentis_kb_doc_t *d);

/*
 * Reads, checks and writes a document (docs/internals/kb.md, "The pack document") on conn
 * inside the caller's transaction: every problem is gathered into `problems` and, when
 * there is any, nothing is written and MENTIS_ERR_INVALID_ARGUMENT returned. Otherwise the
 * domains it defines that the tenant lacks are made, then its questions and a pack of
 * them. `owner` NULL makes system content (the seed: question ids are kept, system_key
 * names the pack); *pack_id receives the pack's id.
 */
mentis_status_t mentis__kb_import_document(mentis_db_conn_t *conn, mentis_kb_problems_t *problems,
                                           const char *owner, const char *json, size_t len,
                                           const char *name, const char *system_key,
                                           char **pack_id);

/* ---- handlers ---- */

#define KB_HANDLER(name)                                                                           \
    mentis_status_t name(mentis_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)

KB_HANDLER(mentis__kb_op_packs_list);
KB_HANDLER(mentis__kb_op_packs_create);
KB_HANDLER(mentis__kb_op_packs_get);
KB_HANDLER(mentis__kb_op_packs_update);
KB_HANDLER(mentis__kb_op_packs_delete);
KB_HANDLER(mentis__kb_op_pack_questions_list);
KB_HANDLER(mentis__kb_op_pack_questions_add);
KB_HANDLER(mentis__kb_op_pack_questions_remove);
KB_HANDLER(mentis__kb_op_packs_bundle);
KB_HANDLER(mentis__kb_op_packs_export);
KB_HANDLER(mentis__kb_op_import);
KB_HANDLER(mentis__kb_op_questions_list);
KB_HANDLER(mentis__kb_op_questions_create);
KB_HANDLER(mentis__kb_op_questions_get);
KB_HANDLER(mentis__kb_op_questions_update);
KB_HANDLER(mentis__kb_op_questions_delete);
KB_HANDLER(mentis__kb_op_questions_bulk_update);
KB_HANDLER(mentis__kb_op_domains_list);
KB_HANDLER(mentis__kb_op_domains_create);
KB_HANDLER(mentis__kb_op_domains_get);
KB_HANDLER(mentis__kb_op_domains_update);
KB_HANDLER(mentis__kb_op_domains_delete);
KB_HANDLER(mentis__kb_op_categories_list);
KB_HANDLER(mentis__kb_op_search);

#endif
