#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "jose.h"
#include "mentis/crypto.h"
#include "mentis/jwt.h"
#include "token.h"

/* A JWKS document larger than this is refused before it is parsed. */
#define MAX_JWKS_LEN (64 * 1024)

struct mentis_jwt_keyset {
    atomic_size_t refs;
    size_t n;
    mentis_jwt_key_t keys[]; /* never changed after creation */
};

struct mentis_jwt_keyslot {
    pthread_mutex_t lock;
    mentis_jwt_keyset_t *current; /* guarded by lock; the slot owns one reference */
};

mentis_status_t mentis_jwt_keyset_create(const mentis_jwt_key_t *keys, size_t n,
                                         mentis_jwt_keyset_t **out)
{
    if (out == NULL || (keys == NULL && n > 0))
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "jwt: key set from NULL");
    if (n > MENTIS_JWT_MAX_KEYS)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "jwt: %zu keys, at most %d", n,
                              MENTIS_JWT_MAX_KEYS);
    for (size_t i = 0; i < n; i++) {
        if (memchr(keys[i].kid, '\0', sizeof keys[i].kid) == NULL ||
            !mentis__jwt_kid_ok(keys[i].kid))
            return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                                  "jwt: key %zu has an invalid kid", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(keys[i].kid, keys[j].kid) == 0)
                return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                                      "jwt: kid \"%s\" appears twice", keys[i].kid);
    }
    mentis_jwt_keyset_t *set = calloc(1, sizeof *set + n * sizeof set->keys[0]);
    if (set == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "jwt: out of memory for a key set");
    atomic_init(&set->refs, 1);
    set->n = n;
    if (n > 0)
        memcpy(set->keys, keys, n * sizeof keys[0]);
    *out = set;
    return MENTIS_OK;
}

size_t mentis_jwt_keyset_size(const mentis_jwt_keyset_t *keys)
{
    return keys == NULL ? 0 : keys->n;
}

const mentis_jwt_key_t *mentis_jwt_keyset_at(const mentis_jwt_keyset_t *keys, size_t i)
{
    return keys == NULL || i >= keys->n ? NULL : &keys->keys[i];
}

const mentis_jwt_key_t *mentis_jwt_keyset_find(const mentis_jwt_keyset_t *keys, const char *kid)
{
    if (keys == NULL || kid == NULL)
        return NULL;
    for (size_t i = 0; i < keys->n; i++)
        if (strcmp(keys->keys[i].kid, kid) == 0)
            return &keys->keys[i];
    return NULL;
}

mentis_jwt_keyset_t *mentis_jwt_keyset_acquire(mentis_jwt_keyset_t *keys)
{
    if (keys != NULL)
        atomic_fetch_add_explicit(&keys->refs, 1, memory_order_relaxed);
    return keys;
}

void mentis_jwt_keyset_release(mentis_jwt_keyset_t *keys)
{
    if (keys == NULL)
        return;
    /* acq_rel: every use by other holders happens before the free. */
    if (atomic_fetch_sub_explicit(&keys->refs, 1, memory_order_acq_rel) == 1)
        free(keys);
}

/* ---- JWKS --------------------------------------------------------------------------- */

static mentis_status_t bad_jwks(size_t entry, const char *why)
{
    return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "jwt: JWKS key %zu: %s", entry, why);
}

/* The string value of member name: NULL when absent; *bad when present but not a string. */
static const char *string_member(const cJSON *o, const char *name, bool *bad)
{
    const cJSON *m = mentis__jose_member(o, name);
    if (m == NULL)
        return NULL;
    if (!cJSON_IsString(m) || m->valuestring == NULL) {
        *bad = true;
        return NULL;
    }
    return m->valuestring;
}

/*
 * Reads one entry: 1 when it is an Ed25519 signing key (into *key), 0 when it is some other
 * kind of key to skip, or an error.
 */
static mentis_status_t read_entry(const cJSON *e, size_t i, mentis_jwt_key_t *key, int *usable)
{
    *usable = 0;
    if (!cJSON_IsObject(e) || !mentis__jose_members_ok(e))
        return bad_jwks(i, "not an object with unique member names");
    bool bad = false;
    const char *kty = string_member(e, "kty", &bad);
    const char *crv = string_member(e, "crv", &bad);
    const char *alg = string_member(e, "alg", &bad);
    const char *use = string_member(e, "use", &bad);
    if (bad || kty == NULL)
        return bad_jwks(i, "kty missing, or kty, crv, alg or use not a string");
    if (strcmp(kty, "OKP") != 0 || crv == NULL || strcmp(crv, "Ed25519") != 0 ||
        (alg != NULL && strcmp(alg, "EdDSA") != 0) || (use != NULL && strcmp(use, "sig") != 0))
        return MENTIS_OK;
    if (mentis__jose_member(e, "d") != NULL)
        return bad_jwks(i, "holds a private key (\"d\")");
    if (mentis__jose_get_string(e, "kid", key->kid, sizeof key->kid) != MENTIS__JOSE_OK ||
        !mentis__jwt_kid_ok(key->kid))
        return bad_jwks(i, "kid missing or not 1..63 printable characters");
    const char *x = string_member(e, "x", &bad);
    size_t got = 0;
    if (x == NULL ||
        mentis_crypto_base64url_decode(x, strlen(x), key->pk, sizeof key->pk, &got) != MENTIS_OK ||
        got != sizeof key->pk)
        return bad_jwks(i, "x is not 32 bytes of base64url");
    *usable = 1;
    return MENTIS_OK;
}

mentis_status_t mentis_jwt_keyset_parse(const char *json, size_t len, mentis_jwt_keyset_t **out)
{
    if (json == NULL || out == NULL)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "jwt: JWKS from NULL");
    if (len > MAX_JWKS_LEN)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "jwt: JWKS of %zu bytes exceeds %d", len, MAX_JWKS_LEN);
    bool no_memory;
    cJSON *root = mentis__jose_parse_object(json, len, &no_memory);
    if (root == NULL)
        return no_memory
                   ? mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "jwt: out of memory parsing JWKS")
                   : mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                                    "jwt: JWKS is not a JSON object with unique member names");
    mentis_status_t st = MENTIS_OK;
    mentis_jwt_key_t keys[MENTIS_JWT_MAX_KEYS];
    size_t n = 0, i = 0;
    const cJSON *list = mentis__jose_member(root, "keys");
    if (!cJSON_IsArray(list)) {
        st = mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "jwt: JWKS has no \"keys\" array");
        goto out;
    }
    for (const cJSON *e = list->child; e != NULL; e = e->next, i++) {
        mentis_jwt_key_t key;
        int usable;
        memset(&key, 0, sizeof key);
        if ((st = read_entry(e, i, &key, &usable)) != MENTIS_OK)
            goto out;
        if (!usable)
            continue;
        if (n == MENTIS_JWT_MAX_KEYS) {
            st = mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                                "jwt: JWKS has more than %d Ed25519 keys", MENTIS_JWT_MAX_KEYS);
            goto out;
        }
        keys[n++] = key;
    }
    st = mentis_jwt_keyset_create(keys, n, out); /* also refuses a repeated kid */
out:
    cJSON_Delete(root);
    return st;
}

mentis_status_t mentis_jwt_keyset_render(const mentis_jwt_keyset_t *keys, char **out)
{
    if (out == NULL)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "jwt: render to NULL");
    mentis_status_t st = MENTIS_OK;
    char *text = NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *list = root ? cJSON_AddArrayToObject(root, "keys") : NULL;
    if (list == NULL)
        goto no_memory;
    for (size_t i = 0; i < mentis_jwt_keyset_size(keys); i++) {
        const mentis_jwt_key_t *k = &keys->keys[i];
        char x[44];
        mentis_crypto_base64url_encode(k->pk, sizeof k->pk, x, sizeof x);
        cJSON *e = cJSON_CreateObject();
        if (e == NULL)
            goto no_memory;
        if (!cJSON_AddItemToArray(list, e)) {
            cJSON_Delete(e);
            goto no_memory;
        }
        if (!cJSON_AddStringToObject(e, "kty", "OKP") ||
            !cJSON_AddStringToObject(e, "crv", "Ed25519") || !cJSON_AddStringToObject(e, "x", x) ||
            !cJSON_AddStringToObject(e, "kid", k->kid) ||
            !cJSON_AddStringToObject(e, "use", "sig") ||
            !cJSON_AddStringToObject(e, "alg", "EdDSA"))
            goto no_memory;
    }
    text = cJSON_PrintUnformatted(root);
    if (text == NULL)
        goto no_memory;
    /* cJSON may have allocator hooks of its own; the contract here is free(). */
    size_t n = strlen(text) + 1;
    char *copy = malloc(n);
    if (copy == NULL)
        goto no_memory;
    memcpy(copy, text, n);
    *out = copy;
    goto out;
no_memory:
    st = mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "jwt: out of memory rendering JWKS");
out:
    cJSON_free(text);
    cJSON_Delete(root);
    return st;
}

/* ---- The current set ---------------------------------------------------------------- */

mentis_status_t mentis_jwt_keyslot_create(mentis_jwt_keyslot_t **out)
{
    mentis_jwt_keyslot_t *slot = calloc(1, sizeof *slot);
    if (slot == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "jwt: out of memory for a key slot");
    if (pthread_mutex_init(&slot->lock, NULL) != 0) {
        free(slot);
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "jwt: pthread_mutex_init failed");
    }
    *out = slot;
    return MENTIS_OK;
}

void mentis_jwt_keyslot_destroy(mentis_jwt_keyslot_t *slot)
{
    if (slot == NULL)
        return;
    mentis_jwt_keyset_release(slot->current);
    pthread_mutex_destroy(&slot->lock);
    free(slot);
}

mentis_jwt_keyset_t *mentis_jwt_keyslot_get(mentis_jwt_keyslot_t *slot)
{
    pthread_mutex_lock(&slot->lock);
    mentis_jwt_keyset_t *keys = mentis_jwt_keyset_acquire(slot->current);
    pthread_mutex_unlock(&slot->lock);
    return keys;
}

void mentis_jwt_keyslot_set(mentis_jwt_keyslot_t *slot, mentis_jwt_keyset_t *keys)
{
    mentis_jwt_keyset_acquire(keys);
    pthread_mutex_lock(&slot->lock);
    mentis_jwt_keyset_t *old = slot->current;
    slot->current = keys;
    pthread_mutex_unlock(&slot->lock);
    /* Outside the lock: the free, when it is the last reference, needs no one waiting. */
    mentis_jwt_keyset_release(old);
}
