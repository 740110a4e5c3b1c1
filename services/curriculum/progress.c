/*
 * Learner progress: one row per user and topic, written by a single upsert so concurrent
 * PUTs of one learner can never leave two rows or a mix of two requests. Each learner
 * reads and writes only their own rows: the user id comes from Mentis-Principal, never from
 * the request.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curriculum.h"

typedef Mentis__V1__Curriculum__ProgressStatus progress_status_t;

static const char *status_name(progress_status_t s)
{
    switch (s) {
    case MENTIS__V1__CURRICULUM__PROGRESS_STATUS__PROGRESS_STATUS_NOT_STARTED:
        return "not_started";
    case MENTIS__V1__CURRICULUM__PROGRESS_STATUS__PROGRESS_STATUS_IN_PROGRESS:
        return "in_progress";
    case MENTIS__V1__CURRICULUM__PROGRESS_STATUS__PROGRESS_STATUS_COMPLETED:
        return "completed";
    default:
        return NULL;
    }
}

static progress_status_t status_value(const char *name)
{
    if (name != NULL && strcmp(name, "in_progress") == 0)
        return MENTIS__V1__CURRICULUM__PROGRESS_STATUS__PROGRESS_STATUS_IN_PROGRESS;
    if (name != NULL && strcmp(name, "completed") == 0)
        return MENTIS__V1__CURRICULUM__PROGRESS_STATUS__PROGRESS_STATUS_COMPLETED;
    return MENTIS__V1__CURRICULUM__PROGRESS_STATUS__PROGRESS_STATUS_NOT_STARTED;
}

/* The caller as a learner: progress belongs to users, not to beta tokens or access admins. */
static mentis_status_t learner(mentis_ctx_t *ctx, const char **user)
{
    *user = mentis__cur_user(ctx);
    if (*user == NULL)
        return mentis_err_set(MENTIS_ERR_PERMISSION_DENIED, "no_learner",
                              "progress is kept for signed-in users only");
    return MENTIS_OK;
}

static mentis_status_t fill(mentis_pool_t *pool, const PGresult *res, int r,
                            Mentis__V1__Curriculum__TopicProgress *p)
{
    mentis__v1__curriculum__topic_progress__init(p);
    p->topic_id = mentis__cur_str(pool, res, r, "topic_id");
    p->status = status_value(mentis__cur_get(res, r, "status"));
    const char *v;
    p->score = (v = mentis__cur_get(res, r, "score")) != NULL ? strtod(v, NULL) : 0;
    p->time_spent_seconds =
        (v = mentis__cur_get(res, r, "time_spent_seconds")) != NULL ? strtoll(v, NULL, 10) : 0;
    p->last_segment =
        (v = mentis__cur_get(res, r, "last_segment")) != NULL ? (int32_t)strtol(v, NULL, 10) : 0;
    const char *ms = mentis__cur_get(res, r, "updated_ms");
    p->updated_at = mentis__cur_timestamp(pool, ms);
    if (p->topic_id == NULL || (ms != NULL && p->updated_at == NULL))
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "no memory");
    return MENTIS_OK;
}

/*
 * A completed topic keeps its status and score unless the request resets it; time spent
 * never goes down unless reset, so a retried or late PUT cannot lose time. updated_at moves
 * only when something changed: the same PUT twice is the same state.
 */
static const char upsert_sql[] =
    "INSERT INTO curriculum.progress AS p (tenant_id, curriculum_id, user_id, topic_id, status, "
    "score, time_spent_seconds, last_segment) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
    "ON CONFLICT (curriculum_id, user_id, topic_id) DO UPDATE SET "
    "status = CASE WHEN p.status = 'completed' AND NOT $9::boolean THEN p.status "
    "              ELSE EXCLUDED.status END, "
    "score = CASE WHEN p.status = 'completed' AND EXCLUDED.status <> 'completed' "
    "             AND NOT $9::boolean THEN p.score ELSE EXCLUDED.score END, "
    "time_spent_seconds = CASE WHEN $9::boolean THEN EXCLUDED.time_spent_seconds "
    "             ELSE greatest(p.time_spent_seconds, EXCLUDED.time_spent_seconds) END, "
    "last_segment = EXCLUDED.last_segment, "
    "updated_at = CASE WHEN (p.status, p.score, p.time_spent_seconds, p.last_segment) "
    "   IS NOT DISTINCT FROM ("
    "     CASE WHEN p.status = 'completed' AND NOT $9::boolean THEN p.status "
    "          ELSE EXCLUDED.status END, "
    "     CASE WHEN p.status = 'completed' AND EXCLUDED.status <> 'completed' "
    "          AND NOT $9::boolean THEN p.score ELSE EXCLUDED.score END, "
    "     CASE WHEN $9::boolean THEN EXCLUDED.time_spent_seconds "
    "          ELSE greatest(p.time_spent_seconds, EXCLUDED.time_spent_seconds) END, "
    "     EXCLUDED.last_segment) THEN p.updated_at ELSE now() END "
    "RETURNING topic_id, status, score, time_spent_seconds, last_segment, "
    "(extract(epoch FROM updated_at) * 1000)::bigint AS updated_ms";

mentis_status_t mentis__cur_op_progress_put(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                            ProtobufCMessage *resp)
{
    const Mentis__V1__Curriculum__PutProgressRequest *in = (const void *)req;
    Mentis__V1__Curriculum__TopicProgress *out = (void *)resp;
    const char *user = NULL;
    mentis_status_t st = learner(ctx, &user);
    if (st != MENTIS_OK)
        return st;
    const char *status = status_name(in->status);
    bool ok = true;
    if (status == NULL) {
        mentis_ctx_field_error(ctx, "status", "required: not_started, in_progress or completed");
        ok = false;
    }
    if (!isfinite(in->score) || in->score < 0 || in->score > 100) {
        mentis_ctx_field_error(ctx, "score", "must be from 0 to 100");
        ok = false;
    }
    if (in->time_spent_seconds < 0 || in->time_spent_seconds > 100LL * 365 * 86400) {
        mentis_ctx_field_error(ctx, "time_spent_seconds", "must be 0 or more seconds");
        ok = false;
    }
    if (in->last_segment < 0) {
        mentis_ctx_field_error(ctx, "last_segment", "must be 0 or more");
        ok = false;
    }
    if (!ok)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "invalid progress");
    if ((st = mentis__cur_exists(ctx, in->id, NULL)) != MENTIS_OK)
        return st;
    const char *topic = in->topic_id != NULL ? in->topic_id : "";
    PGresult *res = NULL;
    st = mentis_db_exec(mentis_ctx_db(ctx),
                        "SELECT 1 FROM curriculum.nodes WHERE curriculum_id = $1 AND node_id = $2 "
                        "AND is_topic",
                        2, (const char *const[]){in->id, topic}, &res);
    if (st != MENTIS_OK)
        return st;
    bool found = PQntuples(res) == 1;
    PQclear(res);
    if (!found)
        return mentis_err_set(MENTIS_ERR_NOT_FOUND, "topic_not_found", "no such topic");
    char score[32], spent[24], segment[16];
    snprintf(score, sizeof score, "%.17g", in->score);
    snprintf(spent, sizeof spent, "%lld", (long long)in->time_spent_seconds);
    snprintf(segment, sizeof segment, "%d", (int)in->last_segment);
    const char *params[] = {
        mentis__cur_tenant(ctx),     in->id, user, topic, status, score, spent, segment,
        in->reset ? "true" : "false"};
    if ((st = mentis_db_exec(mentis_ctx_db(ctx), upsert_sql, 9, params, &res)) != MENTIS_OK)
        return st;
    st = PQntuples(res) == 1 ? fill(mentis_ctx_pool(ctx), res, 0, out)
                             : mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "progress upsert: no row");
    PQclear(res);
    return st;
}

mentis_status_t mentis__cur_op_progress_get(mentis_ctx_t *ctx, const ProtobufCMessage *req,
                                            ProtobufCMessage *resp)
{
    const Mentis__V1__Curriculum__GetProgressRequest *in = (const void *)req;
    Mentis__V1__Curriculum__ProgressResponse *out = (void *)resp;
    mentis_pool_t *pool = mentis_ctx_pool(ctx);
    const char *user = NULL;
    mentis_status_t st = learner(ctx, &user);
    if (st != MENTIS_OK || (st = mentis__cur_exists(ctx, in->id, NULL)) != MENTIS_OK)
        return st;
    PGresult *res = NULL;
    st = mentis_db_exec(
        mentis_ctx_db(ctx),
        "SELECT n.node_id AS topic_id, p.status, p.score, p.time_spent_seconds, p.last_segment, "
        "(extract(epoch FROM p.updated_at) * 1000)::bigint AS updated_ms "
        "FROM curriculum.nodes n LEFT JOIN curriculum.progress p ON p.curriculum_id = "
        "n.curriculum_id AND p.topic_id = n.node_id AND p.user_id = $2 "
        "WHERE n.curriculum_id = $1 AND n.is_topic ORDER BY n.topic_order",
        2, (const char *const[]){in->id, user}, &res);
    if (st != MENTIS_OK)
        return st;
    int rows = PQntuples(res);
    out->curriculum_id = mentis_pool_strdup(pool, in->id);
    out->topics = mentis_pool_calloc(pool, (size_t)(rows ? rows : 1), sizeof *out->topics);
    if (out->topics == NULL || out->curriculum_id == NULL)
        st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "no memory");
    double scores = 0;
    int scored = 0;
    for (int r = 0; r < rows && st == MENTIS_OK; r++) {
        Mentis__V1__Curriculum__TopicProgress *p = mentis_pool_calloc(pool, 1, sizeof *p);
        if (p == NULL) {
            st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "no memory");
            break;
        }
        st = fill(pool, res, r, p);
        out->topics[out->n_topics++] = p;
        out->time_spent_seconds += p->time_spent_seconds;
        if (p->status == MENTIS__V1__CURRICULUM__PROGRESS_STATUS__PROGRESS_STATUS_COMPLETED) {
            out->topics_completed++;
            if (p->score > 0) {
                scores += p->score;
                scored++;
            }
        } else if (p->status ==
                   MENTIS__V1__CURRICULUM__PROGRESS_STATUS__PROGRESS_STATUS_IN_PROGRESS) {
            out->topics_in_progress++;
        }
    }
    PQclear(res);
    out->topics_total = (int32_t)out->n_topics;
    out->percent_complete =
        out->topics_total > 0 ? 100.0 * out->topics_completed / out->topics_total : 0;
    out->average_score = scored > 0 ? scores / scored : 0;
    return st;
}
