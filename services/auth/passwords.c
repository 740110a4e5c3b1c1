/* The password policy, the common-password list and hashing with the configured limits. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"

/* data/common-passwords.txt, compiled in by service.cmake: lower-case, one a line, each 8
 * to 128 bytes (shorter ones fail the length rule anyway); '#' starts a comment line. */
extern const unsigned char mentis__auth_common_passwords[];
extern const size_t mentis__auth_common_passwords_size;

typedef struct {
    const char *s;
    size_t n;
} entry_t;

/* Built once by start, read-only afterwards (workers read it without a lock). */
static entry_t *entries;
static size_t nentries;

static int entry_cmp(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->s, y->s, n);
    return c != 0 ? c : (x->n > y->n) - (x->n < y->n);
}

mentis_status_t mentis__auth_passwords_start(void)
{
    const char *data = (const char *)mentis__auth_common_passwords;
    size_t size = mentis__auth_common_passwords_size, lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    entries = calloc(lines + 1, sizeof *entries);
    if (entries == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "common passwords: out of memory");
    nentries = 0;
    for (size_t i = 0; i < size;) {
        const char *nl = memchr(data + i, '\n', size - i);
        size_t n = nl ? (size_t)(nl - (data + i)) : size - i;
        if (n > 0 && data[i] != '#') /* '#': a comment */
            entries[nentries++] = (entry_t){data + i, n};
        i += n + 1;
    }
    /* Sorted already when shipped; sorting again costs little and guards an edited file. */
    qsort(entries, nentries, sizeof *entries, entry_cmp);
    return MENTIS_OK;
}

void mentis__auth_passwords_stop(void)
{
    free(entries);
    entries = NULL;
    nentries = 0;
}

bool mentis__auth_password_common(const char *password)
{
    size_t n = strlen(password);
    if (entries == NULL || n == 0 || n > 128)
        return false;
    char lower[129];
    for (size_t i = 0; i < n; i++)
        lower[i] = (char)tolower((unsigned char)password[i]);
    entry_t key = {lower, n};
    return bsearch(&key, entries, nentries, sizeof *entries, entry_cmp) != NULL;
}

bool mentis__auth_password_valid(mentis_ctx_t *ctx, const char *field, const char *password)
{
    size_t n = password ? strlen(password) : 0;
    if (n < 8 || n > 128) {
        mentis_ctx_field_error(ctx, field, "must be 8 to 128 characters");
        return false;
    }
    if (mentis__auth_password_common(password)) {
        mentis_ctx_field_error(ctx, field,
                               "is one of the most common passwords: choose a less guessable one");
        return false;
    }
    return true;
}

mentis_status_t mentis__auth_password_hash(const mentis_auth_t *app, const char *password,
                                           char out[MENTIS_CRYPTO_PWHASH_STRBYTES])
{
    return mentis_crypto_password_hash(password, app->pwhash_opslimit, app->pwhash_memlimit, out);
}
