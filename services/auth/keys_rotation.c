/*
 * The signing-key rotation thread. Every key_check_ms (and at once when it starts) it:
 *
 * - under the advisory lock that key creation takes, replaces the active key when it is
 *   older than MENTIS_AUTH_KEY_ROTATION_S: the old key gets retired_at, the new one is
 *   inserted, both in one transaction, so replicas rotate once (the one that waited for
 *   the lock finds the key it would have replaced already young); then publishes the whole
 *   key set on mentis.v1.evt.auth.keys, so gateways know the new key before any token
 *   names it;
 * - otherwise, when the active key in the database is not the one this replica signs with
 *   (another replica rotated), loads it and swaps it in.
 *
 * Tokens the old key signed keep verifying: it stays in the key set for key_keep_s. A
 * rotation that would put more than MENTIS_JWT_MAX_KEYS keys in that window waits (only a
 * rotation period far below the access-token lifetime gets there), so the capped key set
 * never drops a key whose tokens are still valid.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "mentis/log.h"

static struct {
    mentis_service_t *svc;
    mentis_auth_t *app;
    pthread_t thread;
    bool running;
    bool stopping;
    bool paused; /* the last pass found the window full (logged once) */
    pthread_mutex_t lock;
    pthread_cond_t cond;
} rotation = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * One look: rotates when due, else picks up a key another replica made. *event gets the
 * key set to publish after a rotation; kid/sk the active key when it is not the one
 * installed (*changed).
 */
static mentis_status_t look(mentis_db_conn_t *conn, uint8_t **event, size_t *event_len,
                            char kid[MENTIS_JWT_KID_SIZE], uint8_t sk[64], bool *changed)
{
    mentis_auth_t *app = rotation.app;
    char period[32], keep[32];
    snprintf(period, sizeof period, "%lld", (long long)app->key_rotation_s);
    snprintf(keep, sizeof keep, "%lld", (long long)app->key_keep_s);
    const char *params[] = {period, keep};
    PGresult *res = NULL;
    /* After the lock, so a rotation another replica just committed is seen. */
    mentis_status_t st = mentis__auth_keys_lock(conn);
    if (st == MENTIS_OK)
        st = mentis_db_exec(
            conn,
            "SELECT kid, created_at <= clock_timestamp() - make_interval(secs => $1::int), "
            "(SELECT count(*) FROM auth.signing_keys WHERE retired_at > clock_timestamp() "
            "- make_interval(secs => $2::int)) "
            "FROM auth.signing_keys WHERE retired_at IS NULL",
            2, params, &res);
    if (st == MENTIS_OK && PQntuples(res) != 1)
        st = mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "signing key: no active key");
    if (st != MENTIS_OK) {
        PQclear(res);
        return st;
    }
    bool due = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    long retired = strtol(PQgetvalue(res, 0, 2), NULL, 10);
    char current[MENTIS_JWT_KID_SIZE];
    mentis__auth_keys_current(app, current);
    *changed = strcmp(PQgetvalue(res, 0, 0), current) != 0;
    PQclear(res);
    /* The active key plus the retired ones in the window must fit the key set. */
    bool full = retired + 1 >= MENTIS_JWT_MAX_KEYS;
    if (due && full && !rotation.paused)
        mentis_log_warn("signing key rotation waits: %ld retired keys are still within their "
                        "tokens' lifetime (MENTIS_AUTH_KEY_ROTATION_S is far below "
                        "MENTIS_AUTH_ACCESS_TTL_S)",
                        retired);
    rotation.paused = due && full;
    if (due && !full) {
        st = mentis__auth_keys_rotate(conn, app);
        if (st == MENTIS_OK)
            st = mentis__auth_keys_event(conn, app, event, event_len);
        *changed = true;
    }
    if (st == MENTIS_OK && *changed)
        st = mentis__auth_keys_load(conn, app, kid, sk);
    return st;
}

static void pass(void)
{
    mentis_db_t *db = mentis_service_db(rotation.svc);
    mentis_db_conn_t *conn = NULL;
    mentis_status_t st = mentis_db_acquire(db, now_ms() + 5000, &conn);
    if (st != MENTIS_OK) {
        mentis_log_warn("signing key rotation: %s", mentis_err_msg());
        return;
    }
    uint8_t *event = NULL, sk[64];
    size_t event_len = 0;
    char kid[MENTIS_JWT_KID_SIZE];
    bool changed = false;
    st = mentis_db_tx_begin(conn, NULL);
    if (st == MENTIS_OK) {
        st = look(conn, &event, &event_len, kid, sk, &changed);
        if (st == MENTIS_OK)
            st = mentis_db_tx_commit(conn);
        else
            mentis_db_tx_rollback(conn);
    }
    mentis_db_release(db, conn);
    if (st != MENTIS_OK) {
        /* Signing goes on with the key this replica has; the next pass tries again. */
        mentis_log_warn("signing key rotation: %s", mentis_err_msg());
    } else if (changed) {
        char old[MENTIS_JWT_KID_SIZE];
        mentis__auth_keys_current(rotation.app, old);
        mentis__auth_keys_install(rotation.app, kid, sk);
        mentis_log_info("signing key %s replaces %s (%s)", kid, old,
                        event ? "rotated here" : "rotated by another replica");
    }
    sodium_memzero(sk, sizeof sk);
    /* After the commit: a gateway that hears of the key fetches a set that holds it. */
    if (st == MENTIS_OK && event != NULL)
        (void)mentis_bus_publish(mentis_service_bus(rotation.svc), MENTIS_AUTH_KEYS_SUBJECT, NULL,
                                 NULL, 0, event, event_len);
    free(event);
}

static void *rotation_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&rotation.lock);
        bool stop = rotation.stopping;
        pthread_mutex_unlock(&rotation.lock);
        if (stop)
            break;
        pass();
        pthread_mutex_lock(&rotation.lock);
        if (!rotation.stopping) {
            int64_t wait = rotation.app->key_check_ms;
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            int64_t ns = until.tv_nsec + (wait % 1000) * 1000000;
            until.tv_sec += wait / 1000 + ns / 1000000000;
            until.tv_nsec = ns % 1000000000;
            pthread_cond_timedwait(&rotation.cond, &rotation.lock, &until);
        }
        pthread_mutex_unlock(&rotation.lock);
    }
    return NULL;
}

mentis_status_t mentis__auth_keys_rotation_start(mentis_service_t *svc, mentis_auth_t *app)
{
    rotation.svc = svc;
    rotation.app = app;
    rotation.stopping = false;
    rotation.paused = false;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&rotation.cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "signing key rotation: cannot start");
    if (pthread_create(&rotation.thread, NULL, rotation_main, NULL) != 0) {
        pthread_cond_destroy(&rotation.cond);
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "signing key rotation: cannot start");
    }
    rotation.running = true;
    return MENTIS_OK;
}

void mentis__auth_keys_rotation_stop(void)
{
    if (!rotation.running)
        return;
    pthread_mutex_lock(&rotation.lock);
    rotation.stopping = true;
    pthread_cond_signal(&rotation.cond);
    pthread_mutex_unlock(&rotation.lock);
    pthread_join(rotation.thread, NULL);
    pthread_cond_destroy(&rotation.cond);
    rotation.running = false;
}
