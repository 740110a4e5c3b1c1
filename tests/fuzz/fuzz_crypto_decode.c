/* Tokens, ids and hashes arrive as text from clients: base64url, hex and UUID decoders. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mentis/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        mentis_crypto_init();
        init = 1;
    }
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    uint8_t out[512];
    size_t len = 0;
    if (mentis_crypto_base64url_decode(text, size, out, sizeof out, &len) == MENTIS_OK) {
        /* What decodes must encode back to the same text. */
        char again[1024];
        if (len > sizeof out || mentis_crypto_base64url_encode(out, len, again, sizeof again) != MENTIS_OK ||
            strlen(again) != size || memcmp(again, text, size) != 0)
            __builtin_trap();
    }
    if (mentis_crypto_unhex(text, out, sizeof out, &len) == MENTIS_OK && len * 2 != strlen(text))
        __builtin_trap();
    uint8_t uuid[16];
    if (mentis_crypto_uuid_parse(text, uuid)) {
        char back[37];
        mentis_crypto_uuid_format(uuid, back);
        if (strlen(text) != 36)
            __builtin_trap();
    }
    free(text);
    return 0;
}
