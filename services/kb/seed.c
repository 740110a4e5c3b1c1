/*
 * The system pack: the 1,000 real quiz-bowl questions of data/kb-sample-questions.json
 * (compiled in by service.cmake), so a new user of any tenant has content at once. Seeded
 * at start rather than by a migration because it is the apps' question file read by the
 * importer (transfer.c) — one mapping, checked by the same rules as user content — and a
 * migration's checksum would forbid ever correcting the data. Idempotent: under a
 * transaction advisory lock, the pack is made only when no pack has its system key, so
 * replicas starting together seed it once.
 */
#include <string.h>
#include <time.h>

#include "kb.h"
#include "mentis/log.h"

extern const unsigned char mentis__kb_sample_questions[];
extern const size_t mentis__kb_sample_questions_size;

#define SYSTEM_KEY "quiz-bowl-sample-v1"
#define NAME       "Quiz bowl starter pack"
#define DESCRIPTION                                                                                \
    "1,000 quiz-bowl questions across eight domains. 390 come from the U.S. Department of "        \
    "Energy Science Bowl (public domain) and 610 from OpenTriviaQA (CC BY-SA 4.0, "                \
    "https://github.com/uberspot/OpenTriviaQA); each question names its source and "               \
    "attribution. Collected as the Una Mentis apps ship them (MIT)."

static mentis_status_t seed_in(mentis_db_conn_t *conn, mentis_pool_t *pool)
{
    PGresult *res = NULL;
    mentis_status_t st = mentis_db_exec(
        conn, "SELECT pg_advisory_xact_lock(hashtext('mentis.kb.seed'))", 0, NULL, NULL);
    if (st == MENTIS_OK)
        st = mentis_db_exec(conn, "SELECT 1 FROM kb.packs WHERE system_key = '" SYSTEM_KEY "'", 0,
                            NULL, &res);
    bool present = st == MENTIS_OK && PQntuples(res) > 0;
    PQclear(res);
    if (st != MENTIS_OK || present)
        return st;
    st = mentis_db_exec(conn, "SELECT set_config('mentis.kb_system', 'on', true)", 0, NULL, NULL);
    if (st != MENTIS_OK)
        return st;
    mentis_kb_problems_t pr = {.pool = pool};
    char *id = NULL;
    st = mentis__kb_import_document(conn, &pr, NULL, (const char *)mentis__kb_sample_questions,
                                    mentis__kb_sample_questions_size, NAME, SYSTEM_KEY, &id);
    for (size_t i = 0; i < pr.count && i < 10; i++)
        mentis_log_error("kb seed: %s: %s", pr.items[i].field, pr.items[i].message);
    if (st != MENTIS_OK)
        return st;
    const char *p[] = {id, DESCRIPTION};
    st = mentis_db_exec(conn, "UPDATE kb.packs SET description = $2 WHERE id = $1", 2, p, NULL);
    if (st == MENTIS_OK)
        mentis_log_info("kb seed: the system pack \"%s\" is in place", NAME);
    return st;
}

mentis_status_t mentis__kb_seed(mentis_service_t *svc)
{
    mentis_db_t *db = mentis_service_db(svc);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t deadline = (int64_t)ts.tv_sec * 1000 + 30000;
    mentis_pool_t *pool = NULL;
    mentis_db_conn_t *conn = NULL;
    mentis_status_t st = mentis_pool_create(1 << 16, (size_t)64 << 20, &pool);
    if (st == MENTIS_OK)
        st = mentis_db_acquire(db, deadline, &conn);
    if (st == MENTIS_OK && (st = mentis_db_tx_begin(conn, NULL)) == MENTIS_OK) {
        st = seed_in(conn, pool);
        if (st == MENTIS_OK)
            st = mentis_db_tx_commit(conn);
        else
            mentis_db_tx_rollback(conn);
    }
    mentis_db_release(db, conn);
    mentis_pool_destroy(pool);
    if (st != MENTIS_OK)
        return mentis_err_wrap(st, "seeding the system pack");
    return MENTIS_OK;
}
