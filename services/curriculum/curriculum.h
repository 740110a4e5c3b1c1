/*
 * mentis-curriculum inside: what its files share.
 *
 * A UMCF document is stored normalised (docs/internals/curriculum.md): the curriculum row,
 * one row per content node, and one row per transcript segment, learning objective,
 * glossary term, misconception, example, assessment and media item. Each row keeps the
 * fields the service models in columns and every other key of its object in `extra`, so
 * the document can be rebuilt as it came. The column maps (umcf_map.c) drive both ways.
 */
#ifndef MENTIS_CURRICULUM_H
#define MENTIS_CURRICULUM_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "mentis/page.h"
#include "mentis/rows.h"
#include "mentis/service.h"
#include "mentis/v1/common.pb-c.h"
#include "mentis/v1/curriculum.pb-c.h"

/* Problems one refusal lists at most; past that the last entry says how many more. */
#define CUR_MAX_PROBLEMS 100

/* ---- umcf_map.c: columns ⇄ UMCF keys ---- */

typedef enum {
    CUR_COL_TEXT, /* a string; any other value stays in extra */
    CUR_COL_JSON, /* any value but null, as jsonb */
    CUR_COL_INT,  /* an integral number that fits an int32 */
    CUR_COL_ID,   /* "x" or {"value": "x", …}: the column holds x; an object also stays in
                     extra whole, so its other keys (catalog) come back */
} cur_col_kind_t;

typedef struct {
    const char *key;    /* the UMCF key ("orderIndex") */
    const char *column; /* its column ("order_index") */
    cur_col_kind_t kind;
} cur_col_t;

/*
 * A kind of row. `fixed` are the structural columns the importer sets itself (with their
 * SQL types, as jsonb_to_recordset wants them: "node_id text, position integer"); `cols`
 * the mapped ones. Rows of every table but curricula also carry curriculum_id.
 */
typedef struct {
    const char *table; /* "segments" */
    const char *fixed;
    const cur_col_t *cols;
    int ncols;
    const char *text_column; /* for an item given as a bare string: the column it fills
                                (derived; the string itself is what is rebuilt), or NULL */
} cur_entity_t;

extern const cur_entity_t mentis__cur_curricula;
extern const cur_entity_t mentis__cur_nodes;
extern const cur_entity_t mentis__cur_segments;
extern const cur_entity_t mentis__cur_objectives;
extern const cur_entity_t mentis__cur_glossary;
extern const cur_entity_t mentis__cur_misconceptions;
extern const cur_entity_t mentis__cur_examples;
extern const cur_entity_t mentis__cur_assessments;
extern const cur_entity_t mentis__cur_media;

/*
 * Splits one UMCF object into `row` (a cJSON object keyed by column: the mapped values and
 * "extra", the object of every other key). Keys named in `skip` (NULL-terminated, may be
 * NULL) are left out entirely: the caller stores them elsewhere. A value that is not an
 * object is kept whole as extra (and fills e->text_column when it is a string). Returns
 * false when out of memory.
 */
bool mentis__cur_split(const cur_entity_t *e, const cJSON *obj, const char *const *skip,
                       cJSON *row);

/*
 * Rebuilds the UMCF object of result row `r`: extra, plus each mapped column that is not
 * NULL and whose key extra does not already hold. The result's columns must be named as
 * the entity's (SELECT extra, <cols>): they are looked up by name. NULL when out of memory
 * or extra is not JSON; caller frees with cJSON_Delete.
 */
cJSON *mentis__cur_join(const cur_entity_t *e, const PGresult *res, int r);

/* "<p>extra, <p>col1, <p>col2, …": a SELECT of the entity's rebuildable columns, each
 * prefixed by `p` ("t." or ""), in the pool. */
char *mentis__cur_columns(mentis_pool_t *pool, const cur_entity_t *e, const char *p);

/*
 * Inserts `rows` (a cJSON array of split rows with their fixed columns) into the entity's
 * table in one statement (jsonb_to_recordset), for `tenant` and `curriculum_id`.
 */
mentis_status_t mentis__cur_insert(mentis_ctx_t *ctx, const cur_entity_t *e, const cJSON *rows,
                                   const char *curriculum_id);

/* ---- umcf_check.c / import.c: a document taken apart ---- */

/* Every row of one document, ready to insert, and what was found wrong with it. */
typedef struct {
    cJSON *curriculum; /* one split row */
    cJSON *nodes, *segments, *objectives, *glossary, *misconceptions, *examples, *assessments,
        *media;             /* arrays of split rows */
    const char *identifier; /* UMCF id.value (in doc), or NULL when absent */
    int topic_count;
    int64_t total_duration;
    int nerrors, nwarnings;
} cur_doc_t;

/*
 * Validates and takes apart a parsed UMCF document. Problems go to the context: errors as
 * field errors (mentis_ctx_field_error), warnings to `warnings` (FieldViolation pointers
 * in the pool, up to CUR_MAX_PROBLEMS). Returns MENTIS_OK when the document may be stored
 * (out->nerrors == 0), MENTIS_ERR_INVALID_ARGUMENT otherwise (no rows kept, counts 0),
 * MENTIS_ERR_NO_MEMORY. Free `out` with mentis__cur_doc_free in every case.
 */
mentis_status_t mentis__cur_umcf_take(mentis_ctx_t *ctx, const cJSON *doc, cur_doc_t *out,
                                      Mentis__V1__FieldViolation ***warnings, size_t *nwarnings);
void mentis__cur_doc_free(cur_doc_t *d);

/* ISO 8601 duration ("PT1H30M", "P1D") in seconds; -1 when not one or longer than ten
 * years. */
int64_t mentis__cur_duration(const char *text);

/* ---- rows.c: what the handlers share ---- */

/* The caller's tenant (Mentis-Tenant; the runtime refused the message without it). */
const char *mentis__cur_tenant(const mentis_ctx_t *ctx);
/* The caller's user id when it is a UUID (a user, not a beta token or access admin). */
const char *mentis__cur_user(const mentis_ctx_t *ctx);
/* Refuses (permission_denied) a caller without the admin or platform_admin role. */
mentis_status_t mentis__cur_admin_require(mentis_ctx_t *ctx);
/* Checks `id` is a UUID (field error on `field` otherwise). */
bool mentis__cur_id_valid(mentis_ctx_t *ctx, const char *field, const char *id);
/* not_found unless curriculum `id` exists in the tenant; its status into *archived. */
mentis_status_t mentis__cur_exists(mentis_ctx_t *ctx, const char *id, bool *archived);

/* A time given as milliseconds since the epoch (text, as selected) → the proto type; NULL
 * for NULL. */
Mentis__V1__Timestamp *mentis__cur_timestamp(mentis_pool_t *pool, const char *ms_text);
/* A JsonValue holding `text` (copied into the pool); NULL for NULL. */
Mentis__V1__JsonValue *mentis__cur_json(mentis_pool_t *pool, const char *text);
/* Column `name` of row r: its text, NULL when SQL NULL or no such column. */
const char *mentis__cur_get(const PGresult *res, int r, const char *name);
/* A copy in the pool of column `name` ("" when NULL). */
char *mentis__cur_str(mentis_pool_t *pool, const PGresult *res, int r, const char *name);

/* Curriculum `id`'s summary as stored, in a new Curriculum of the pool (not_found: none). */
mentis_status_t mentis__cur_load_summary(mentis_ctx_t *ctx, const char *id,
                                         Mentis__V1__Curriculum__Curriculum **out);
/* Fills a Curriculum from a row of curricula (SELECT mentis__cur_summary_columns). */
extern const char mentis__cur_summary_columns[];
mentis_status_t mentis__cur_summary(mentis_pool_t *pool, const PGresult *res, int r,
                                    Mentis__V1__Curriculum__Curriculum *out);
/* The columns of nodes a Topic is read from with mentis_row_read (mentis/rows.h). */
extern const char mentis__cur_topic_columns[];

/* Publishes a CurriculumEvent about c on mentis.v1.evt.curriculum.<event>.<tenant> (after
 * the commit). */
mentis_status_t mentis__cur_event(mentis_ctx_t *ctx, const char *event,
                                  const Mentis__V1__Curriculum__Curriculum *c);

/* ---- operations ---- */

mentis_status_t mentis__cur_op_import(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                      ProtobufCMessage *resp);
mentis_status_t mentis__cur_op_update(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                      ProtobufCMessage *resp);
mentis_status_t mentis__cur_op_delete(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                      ProtobufCMessage *resp);
mentis_status_t mentis__cur_op_list(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                    ProtobufCMessage *resp);
mentis_status_t mentis__cur_op_get(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                   ProtobufCMessage *resp);
mentis_status_t mentis__cur_op_subjects(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                        ProtobufCMessage *resp);
mentis_status_t mentis__cur_op_topics(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                      ProtobufCMessage *resp);
mentis_status_t mentis__cur_op_transcript(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                          ProtobufCMessage *resp);
mentis_status_t mentis__cur_op_full(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                    ProtobufCMessage *resp);
mentis_status_t mentis__cur_op_progress_get(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                            ProtobufCMessage *resp);
mentis_status_t mentis__cur_op_progress_put(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                            ProtobufCMessage *resp);

#endif
