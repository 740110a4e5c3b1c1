/*
 * admin.import: a UMCF document stored in one transaction. The document is checked and
 * taken apart completely before the first row is written, so a refusal lists every
 * problem and writes nothing; the runtime's transaction makes a failure halfway (a
 * concurrent import of the same identifier) leave nothing either.
 */
#include <stdio.h>
#include <string.h>

#include "curriculum.h"
#include "mentis/crypto.h"

static mentis_status_t store(mentis_ctx_t *ctx, cur_doc_t *d, const char *id)
{
    const char *identifier = d->identifier != NULL ? d->identifier : id;
    PGresult *res = NULL;
    mentis_status_t st = mentis_db_exec(mentis_ctx_db(ctx),
                                        "SELECT id FROM curriculum.curricula WHERE identifier = $1",
                                        1, (const char *const[]){identifier}, &res);
    if (st != MENTIS_OK)
        return st;
    bool taken = PQntuples(res) > 0;
    PQclear(res);
    if (taken) {
        mentis_ctx_field_error(ctx, "id", "a curriculum with this identifier exists already");
        return mentis_err_set(MENTIS_ERR_CONFLICT, "curriculum_exists",
                              "a curriculum with identifier \"%.200s\" exists already", identifier);
    }
    const char *user = mentis__cur_user(ctx);
    cJSON *row = d->curriculum;
    if (cJSON_AddStringToObject(row, "id", id) == NULL ||
        cJSON_AddStringToObject(row, "identifier", identifier) == NULL ||
        (user != NULL ? cJSON_AddStringToObject(row, "created_by", user)
                      : cJSON_AddNullToObject(row, "created_by")) == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "import: no memory");
    cJSON *one = cJSON_CreateArray();
    if (one == NULL || !cJSON_AddItemReferenceToArray(one, row)) {
        cJSON_Delete(one);
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "import: no memory");
    }
    st = mentis__cur_insert(ctx, &mentis__cur_curricula, one, id);
    cJSON_Delete(one);
    /* Nodes first: the other rows refer to them. */
    const struct {
        const cur_entity_t *e;
        const cJSON *rows;
    } tables[] = {
        {&mentis__cur_nodes, d->nodes},
        {&mentis__cur_segments, d->segments},
        {&mentis__cur_objectives, d->objectives},
        {&mentis__cur_glossary, d->glossary},
        {&mentis__cur_misconceptions, d->misconceptions},
        {&mentis__cur_examples, d->examples},
        {&mentis__cur_assessments, d->assessments},
        {&mentis__cur_media, d->media},
    };
    for (size_t i = 0; st == MENTIS_OK && i < sizeof tables / sizeof tables[0]; i++)
        st = mentis__cur_insert(ctx, tables[i].e, tables[i].rows, id);
    if (st == MENTIS_ERR_CONFLICT &&
        strcmp(mentis_db_err_constraint(), "curricula_tenant_id_identifier_key") == 0) {
        mentis_ctx_field_error(ctx, "id", "a curriculum with this identifier exists already");
        return mentis_err_set(MENTIS_ERR_CONFLICT, "curriculum_exists",
                              "a curriculum with identifier \"%.200s\" exists already", identifier);
    }
    return st;
}

mentis_status_t mentis__cur_op_import(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                      ProtobufCMessage *resp)
{
    const Mentis__V1__Curriculum__ImportCurriculumRequest *in = (const void *)req;
    Mentis__V1__Curriculum__ImportCurriculumResponse *out = (void *)resp;
    mentis_status_t st = mentis__cur_admin_require(ctx);
    if (st != MENTIS_OK)
        return st;
    const char *json = in->document != NULL ? in->document->json : NULL;
    if (json == NULL || json[0] == '\0') {
        mentis_ctx_field_error(ctx, "document", "required: a UMCF document");
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "invalid_curriculum",
                              "no document to import");
    }
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithOpts(json, &end, true);
    if (doc == NULL) {
        char msg[96];
        snprintf(msg, sizeof msg, "is not JSON (at byte %zu)",
                 end != NULL ? (size_t)(end - json) : 0);
        mentis_ctx_field_error(ctx, "document", msg);
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, "invalid_curriculum",
                              "the document is not JSON");
    }
    cur_doc_t d;
    Mentis__V1__FieldViolation **warnings = NULL;
    size_t nwarnings = 0;
    st = mentis__cur_umcf_take(ctx, doc, &d, &warnings, &nwarnings);
    char id[37];
    mentis_crypto_uuid_v7(id);
    if (st == MENTIS_OK)
        st = store(ctx, &d, id);
    mentis__cur_doc_free(&d);
    cJSON_Delete(doc);
    if (st != MENTIS_OK)
        return st;
    out->id = mentis_pool_strdup(mentis_ctx_pool(ctx), id);
    if (out->id == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "no memory");
    out->warnings = warnings;
    out->n_warnings = nwarnings;
    if ((st = mentis__cur_load_summary(ctx, id, &out->curriculum)) != MENTIS_OK)
        return st;
    return mentis__cur_event(ctx, "curriculum_imported", out->curriculum);
}
