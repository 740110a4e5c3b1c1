/*
 * admin.update and admin.delete: a curriculum's title, description and status changed, an
 * archive, or a purge. Each publishes its event after the commit, so listeners (the
 * WebSocket channel, other services) never hear of a change that was rolled back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curriculum.h"

#define MAX_TITLE       500
#define MAX_DESCRIPTION 20000

mentis_status_t mentis__cur_op_update(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                      ProtobufCMessage *resp)
{
    const Mentis__V1__Curriculum__UpdateCurriculumRequest *in = (const void *)req;
    Mentis__V1__Curriculum__Curriculum *out = (void *)resp;
    mentis_status_t st = mentis__cur_admin_require(ctx);
    if (st != MENTIS_OK)
        return st;
    bool ok = mentis__cur_id_valid(ctx, "id", in->id);
    bool set_title = in->title_change_case ==
                     MENTIS__V1__CURRICULUM__UPDATE_CURRICULUM_REQUEST__TITLE_CHANGE_TITLE;
    bool set_description =
        in->description_change_case ==
        MENTIS__V1__CURRICULUM__UPDATE_CURRICULUM_REQUEST__DESCRIPTION_CHANGE_DESCRIPTION;
    if (set_title && (in->title == NULL || in->title[0] == '\0' || strlen(in->title) > MAX_TITLE)) {
        mentis_ctx_field_error(ctx, "title", "must be 1 to 500 characters");
        ok = false;
    }
    if (set_description && in->description != NULL && strlen(in->description) > MAX_DESCRIPTION) {
        mentis_ctx_field_error(ctx, "description", "must be at most 20000 characters");
        ok = false;
    }
    const char *status = NULL;
    if (in->status == MENTIS__V1__CURRICULUM__STATUS__STATUS_ACTIVE)
        status = "active";
    else if (in->status == MENTIS__V1__CURRICULUM__STATUS__STATUS_ARCHIVED)
        status = "archived";
    if (!ok)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "invalid update");
    PGresult *res = NULL;
    st = mentis_db_exec(mentis_ctx_db(ctx),
                        "SELECT status, version FROM curriculum.curricula WHERE id = $1 FOR UPDATE",
                        1, (const char *const[]){in->id}, &res);
    if (st != MENTIS_OK)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "no such curriculum");
    }
    bool was_archived = strcmp(PQgetvalue(res, 0, 0), "archived") == 0;
    long long version = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    if (in->expected_version != 0 && in->expected_version != version)
        return mentis_err_set(MENTIS_ERR_PRECONDITION_FAILED, "version_mismatch",
                              "the curriculum is at version %lld, not %lld", version,
                              (long long)in->expected_version);
    const char *params[] = {
        in->id, set_title ? in->title : NULL, set_description ? "true" : "false",
        set_description && in->description != NULL ? in->description : "", status};
    st = mentis_db_exec(
        mentis_ctx_db(ctx),
        "UPDATE curriculum.curricula SET title = coalesce($2, title), "
        "description = CASE WHEN $3::boolean THEN nullif($4, '') ELSE description END, "
        "status = coalesce($5, status), version = version + 1, updated_at = now(), "
        /* A value of another shape kept in extra would hide the new one from …/full. */
        "extra = extra - array_remove(ARRAY[CASE WHEN $2 IS NOT NULL THEN 'title' END, "
        "                                   CASE WHEN $3::boolean THEN 'description' END], NULL) "
        "WHERE id = $1",
        5, params, NULL);
    Mentis__V1__Curriculum__Curriculum *c = NULL;
    if (st == MENTIS_OK)
        st = mentis__cur_load_summary(ctx, in->id, &c);
    if (st != MENTIS_OK)
        return st;
    *out = *c;
    bool archived = c->status == MENTIS__V1__CURRICULUM__STATUS__STATUS_ARCHIVED;
    return mentis__cur_event(
        ctx, archived && !was_archived ? "curriculum_archived" : "curriculum_updated", c);
}

mentis_status_t mentis__cur_op_delete(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                      ProtobufCMessage *resp)
{
    const Mentis__V1__Curriculum__DeleteCurriculumRequest *in = (const void *)req;
    (void)resp;
    mentis_status_t st = mentis__cur_admin_require(ctx);
    bool archived = false;
    if (st != MENTIS_OK || (st = mentis__cur_exists(ctx, in->id, &archived)) != MENTIS_OK)
        return st;
    Mentis__V1__Curriculum__Curriculum *c = NULL;
    if (in->purge) {
        if ((st = mentis__cur_load_summary(ctx, in->id, &c)) != MENTIS_OK ||
            (st = mentis_db_exec(mentis_ctx_db(ctx),
                                 "DELETE FROM curriculum.curricula WHERE id = $1", 1,
                                 (const char *const[]){in->id}, NULL)) != MENTIS_OK)
            return st;
        return mentis__cur_event(ctx, "curriculum_deleted", c);
    }
    if (archived)
        return MENTIS_OK; /* archiving twice is one archive */
    st = mentis_db_exec(mentis_ctx_db(ctx),
                        "UPDATE curriculum.curricula SET status = 'archived', "
                        "version = version + 1, updated_at = now() WHERE id = $1",
                        1, (const char *const[]){in->id}, NULL);
    if (st == MENTIS_OK)
        st = mentis__cur_load_summary(ctx, in->id, &c);
    return st == MENTIS_OK ? mentis__cur_event(ctx, "curriculum_archived", c) : st;
}
