#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <sodium.h>

#include "check.h"
#include "mentis/crypto.h"

#define MIN_OPS MENTIS_CRYPTO_PWHASH_OPSLIMIT_MIN
#define MIN_MEM MENTIS_CRYPTO_PWHASH_MEMLIMIT_MIN

static void unhex_or_die(const char *hex, uint8_t *out, size_t size)
{
    size_t len = 0;
    if (mentis_crypto_unhex(hex, out, size, &len) != MENTIS_OK || len != size) {
        fprintf(stderr, "bad test vector %s\n", hex);
        abort();
    }
}

static void test_init(void)
{
    CHECK(mentis_crypto_init() == MENTIS_OK);
    CHECK(mentis_crypto_init() == MENTIS_OK); /* idempotent */
}

static void test_hash_vectors(void)
{
    char hex[65];
    mentis_crypto_hash_hex("", 0, hex);
    CHECK_STR(hex, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
    mentis_crypto_hash_hex("abc", 3, hex);
    CHECK_STR(hex, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
    const char *fox = "The quick brown fox jumps over the lazy dog";
    mentis_crypto_hash_hex(fox, strlen(fox), hex);
    CHECK_STR(hex, "01718cec35cd3d796dd00020e0bfecb473ad23457d063b75eff29c0ffa2e58a9");

    uint8_t raw[32], expect[32];
    mentis_crypto_hash("abc", 3, raw);
    unhex_or_die("bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319", expect, 32);
    CHECK(memcmp(raw, expect, 32) == 0);

    /* Keyed: BLAKE2b-256 with the key 00 01 .. 1f. */
    uint8_t key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
    mentis_crypto_keyed_hash(key, "abc", 3, raw);
    mentis_crypto_hex(raw, 32, hex);
    CHECK_STR(hex, "d63a32d3e44738d7907f964316c241adaba0abfeabc32349677578a15a203f7f");
    mentis_crypto_keyed_hash(key, "", 0, raw);
    mentis_crypto_hex(raw, 32, hex);
    CHECK_STR(hex, "4e51e7a913fc80137da52880fecca175bf81e117d5c68126dc2774033517ea0d");
    /* Another key, another hash. */
    key[0] ^= 1;
    mentis_crypto_keyed_hash(key, "abc", 3, raw);
    mentis_crypto_hex(raw, 32, hex);
    CHECK(strcmp(hex, "d63a32d3e44738d7907f964316c241adaba0abfeabc32349677578a15a203f7f") != 0);
}

static void test_hex(void)
{
    const uint8_t data[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    char hex[13];
    mentis_crypto_hex(data, sizeof data, hex);
    CHECK_STR(hex, "00017f80abff");
    mentis_crypto_hex(data, 0, hex);
    CHECK_STR(hex, "");

    uint8_t out[8];
    size_t len = 99;
    CHECK(mentis_crypto_unhex("00017f80abff", out, sizeof out, &len) == MENTIS_OK);
    CHECK_INT(len, 6);
    CHECK(memcmp(out, data, 6) == 0);
    CHECK(mentis_crypto_unhex("00017F80ABFF", out, sizeof out, &len) == MENTIS_OK);
    CHECK(memcmp(out, data, 6) == 0);
    CHECK(mentis_crypto_unhex("", out, sizeof out, &len) == MENTIS_OK);
    CHECK_INT(len, 0);
    CHECK(mentis_crypto_unhex("", NULL, 0, NULL) == MENTIS_OK);

    /* Round trips of random data of every length up to 64. */
    for (size_t n = 0; n <= 64; n++) {
        uint8_t in[64], back[64];
        char text[129];
        mentis_crypto_random(in, n);
        mentis_crypto_hex(in, n, text);
        CHECK_INT(strlen(text), 2 * n);
        CHECK(mentis_crypto_unhex(text, back, n, &len) == MENTIS_OK);
        CHECK_INT(len, n);
        CHECK(memcmp(in, back, n) == 0);
    }

    /* Refused: odd length, non-hex characters, separators, whitespace, short buffers. */
    mentis_err_clear();
    CHECK(mentis_crypto_unhex("abc", out, sizeof out, &len) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(mentis_err_msg(), "odd") != NULL);
    CHECK(mentis_crypto_unhex("zz", out, sizeof out, &len) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_crypto_unhex("0g", out, sizeof out, &len) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_crypto_unhex("00:11", out, sizeof out, &len) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_crypto_unhex("00 1", out, sizeof out, &len) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_crypto_unhex(" 001", out, sizeof out, &len) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_crypto_unhex("0011\n", out, sizeof out, &len) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_crypto_unhex("0x11", out, sizeof out, &len) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_crypto_unhex(NULL, out, sizeof out, &len) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_crypto_unhex("001122", out, 2, &len) == MENTIS_ERR_TOO_LARGE);
    CHECK(mentis_crypto_unhex("00", out, 0, &len) == MENTIS_ERR_TOO_LARGE);
    CHECK(mentis_crypto_unhex("001122", out, 3, &len) == MENTIS_OK);
}

static void test_base64url_vectors(void)
{
    /* RFC 4648 section 10, without the padding. */
    static const struct {
        const char *in, *out;
    } v[] = {{"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
             {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char text[16];
        size_t n = strlen(v[i].in);
        CHECK(mentis_crypto_base64url_encode(v[i].in, n, text, sizeof text) == MENTIS_OK);
        CHECK_STR(text, v[i].out);
        uint8_t back[16];
        size_t len = 99;
        CHECK(mentis_crypto_base64url_decode(v[i].out, strlen(v[i].out), back, sizeof back, &len) ==
              MENTIS_OK);
        CHECK_INT(len, n);
        CHECK(memcmp(back, v[i].in, n) == 0);
    }
    /* The URL-safe alphabet: '-' and '_' where standard base64 has '+' and '/'. */
    const uint8_t special[] = {0xfb, 0xff, 0xbf};
    char text[8];
    CHECK(mentis_crypto_base64url_encode(special, 3, text, sizeof text) == MENTIS_OK);
    CHECK_STR(text, "-_-_");
    CHECK(mentis_crypto_base64url_encode(special, 2, text, sizeof text) == MENTIS_OK);
    CHECK_STR(text, "-_8");

    /* Exact buffer sizes: ceil(4n/3) + 1. */
    CHECK(mentis_crypto_base64url_encode("foo", 3, text, 5) == MENTIS_OK);
    CHECK(mentis_crypto_base64url_encode("foo", 3, text, 4) == MENTIS_ERR_TOO_LARGE);
    CHECK(mentis_crypto_base64url_encode("f", 1, text, 3) == MENTIS_OK);
    CHECK(mentis_crypto_base64url_encode("f", 1, text, 2) == MENTIS_ERR_TOO_LARGE);
    CHECK(mentis_crypto_base64url_encode("", 0, text, 0) == MENTIS_ERR_TOO_LARGE);
    CHECK(mentis_crypto_base64url_encode("", 0, text, 1) == MENTIS_OK);

    /* Round trips of random data of every length up to 100. */
    for (size_t n = 0; n <= 100; n++) {
        uint8_t in[100], back[100];
        char enc[140];
        size_t len = 0;
        mentis_crypto_random(in, n);
        REQUIRE(mentis_crypto_base64url_encode(in, n, enc, sizeof enc) == MENTIS_OK);
        CHECK_INT(strlen(enc), (4 * n + 2) / 3);
        CHECK(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
              strlen(enc));
        CHECK(mentis_crypto_base64url_decode(enc, strlen(enc), back, n, &len) == MENTIS_OK);
        CHECK_INT(len, n);
        CHECK(memcmp(in, back, n) == 0);
    }
}

static void test_base64url_malformed(void)
{
    uint8_t out[32];
    size_t len = 0;
#define REFUSED(s)                                                                                 \
    CHECK_MSG(mentis_crypto_base64url_decode((s), strlen(s), out, sizeof out, &len) ==             \
                  MENTIS_ERR_INVALID_ARGUMENT,                                                     \
              "accepted \"%s\"", (s))
    REFUSED("Zg=="); /* padding */
    REFUSED("Zm8=");
    REFUSED("Zm9v====");
    REFUSED("Zm+v"); /* the standard alphabet */
    REFUSED("Zm/v");
    REFUSED("Zm9 v"); /* whitespace anywhere */
    REFUSED(" Zm9v");
    REFUSED("Zm9v\n");
    REFUSED("Zm9v\t");
    REFUSED("Zm9v.");
    REFUSED("Z"); /* impossible lengths */
    REFUSED("Zm9vY");
    REFUSED("Zh"); /* non-zero unused bits: only "Zg" encodes "f" */
    REFUSED("Zm9");
    REFUSED("Zm9vYmF\x80"); /* a byte outside ASCII */
#undef REFUSED
    /* A NUL inside the given length is refused, too. */
    CHECK(mentis_crypto_base64url_decode("Zm\0v", 4, out, sizeof out, &len) ==
          MENTIS_ERR_INVALID_ARGUMENT);
    /* Only text_len characters are read. */
    CHECK(mentis_crypto_base64url_decode("Zm9v!!!", 4, out, sizeof out, &len) == MENTIS_OK);
    CHECK_INT(len, 3);
    CHECK(mentis_crypto_base64url_decode(NULL, 0, out, sizeof out, &len) == MENTIS_OK);
    CHECK_INT(len, 0);
    CHECK(mentis_crypto_base64url_decode(NULL, 4, out, sizeof out, &len) ==
          MENTIS_ERR_INVALID_ARGUMENT);

    /* Short buffers. */
    CHECK(mentis_crypto_base64url_decode("Zm9vYmFy", 8, out, 5, &len) == MENTIS_ERR_TOO_LARGE);
    CHECK(mentis_crypto_base64url_decode("Zm9vYmFy", 8, out, 6, &len) == MENTIS_OK);
    CHECK(mentis_crypto_base64url_decode("Zm9vYmE", 7, out, 4, &len) == MENTIS_ERR_TOO_LARGE);
    CHECK(mentis_crypto_base64url_decode("Zm9vYmE", 7, out, 5, &len) == MENTIS_OK);
    CHECK_INT(len, 5);
    CHECK(mentis_crypto_base64url_decode("Zg", 2, NULL, 0, &len) == MENTIS_ERR_TOO_LARGE);
}

static void test_equal(void)
{
    CHECK(mentis_crypto_equal("abc", "abc", 3));
    CHECK(!mentis_crypto_equal("abc", "abd", 3));
    CHECK(!mentis_crypto_equal("xbc", "abc", 3));
    CHECK(mentis_crypto_equal("abc", "abd", 2));
    CHECK(mentis_crypto_equal("a", "b", 0));
    CHECK(mentis_crypto_str_equal("token", "token"));
    CHECK(mentis_crypto_str_equal("", ""));
    CHECK(!mentis_crypto_str_equal("token", "tokeN"));
    CHECK(!mentis_crypto_str_equal("token", "token2"));
    CHECK(!mentis_crypto_str_equal("token2", "token"));
    CHECK(!mentis_crypto_str_equal("", "a"));
    CHECK(!mentis_crypto_str_equal(NULL, "a"));
    CHECK(!mentis_crypto_str_equal("a", NULL));
    CHECK(!mentis_crypto_str_equal(NULL, NULL));
}

/* The 48-bit millisecond timestamp of a UUIDv7. */
static uint64_t uuid_ms(const uint8_t u[16])
{
    uint64_t t = 0;
    for (int i = 0; i < 6; i++)
        t = t << 8 | u[i];
    return t;
}

static void test_uuid_v7(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t before = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;

    char text[37];
    mentis_crypto_uuid_v7(text);
    CHECK_INT(strlen(text), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            CHECK(text[i] == '-');
        else
            CHECK_MSG(strchr("0123456789abcdef", text[i]) != NULL && text[i] != '\0', "%s", text);
    }
    CHECK(text[14] == '7');                  /* version */
    CHECK(strchr("89ab", text[19]) != NULL); /* variant 0b10 */
    uint8_t b[16];
    REQUIRE(mentis_crypto_uuid_parse(text, b));
    CHECK((b[6] >> 4) == 7);
    CHECK((b[8] & 0xc0) == 0x80);
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t after = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    CHECK(uuid_ms(b) >= before && uuid_ms(b) <= after + 1);

    /* 10k ids: valid, strictly increasing as bytes and as text, all distinct. */
    enum { N = 10000 };
    uint8_t(*ids)[16] = malloc(N * sizeof *ids);
    char(*texts)[37] = malloc(N * sizeof *texts);
    REQUIRE(ids != NULL && texts != NULL);
    for (int i = 0; i < N; i++) {
        if (i % 2)
            mentis_crypto_uuid_v7_bytes(ids[i]);
        else {
            mentis_crypto_uuid_v7(texts[i]);
            REQUIRE(mentis_crypto_uuid_parse(texts[i], ids[i]));
        }
        mentis_crypto_uuid_format(ids[i], texts[i]);
    }
    int not_increasing = 0, bad_bits = 0, same_ms = 0;
    for (int i = 0; i < N; i++) {
        if ((ids[i][6] >> 4) != 7 || (ids[i][8] & 0xc0) != 0x80)
            bad_bits++;
        if (i > 0) {
            if (memcmp(ids[i - 1], ids[i], 16) >= 0 || strcmp(texts[i - 1], texts[i]) >= 0)
                not_increasing++;
            if (uuid_ms(ids[i - 1]) == uuid_ms(ids[i]))
                same_ms++;
        }
    }
    CHECK_INT(bad_bits, 0);
    CHECK_INT(not_increasing, 0);
    CHECK_MSG(same_ms > 0, "no two ids in one millisecond: monotonicity was not exercised");
    free(ids);
    free(texts);
}

#define UUID_THREADS    4
#define UUID_PER_THREAD 5000

static void *make_ids(void *arg)
{
    uint8_t(*out)[16] = arg;
    for (int i = 0; i < UUID_PER_THREAD; i++)
        mentis_crypto_uuid_v7_bytes(out[i]);
    return NULL;
}

static int cmp16(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

static void test_uuid_threads(void)
{
    uint8_t(*ids)[16] = malloc(UUID_THREADS * UUID_PER_THREAD * sizeof *ids);
    REQUIRE(ids != NULL);
    pthread_t th[UUID_THREADS];
    for (int i = 0; i < UUID_THREADS; i++)
        REQUIRE(pthread_create(&th[i], NULL, make_ids, ids + i * UUID_PER_THREAD) == 0);
    for (int i = 0; i < UUID_THREADS; i++)
        pthread_join(th[i], NULL);
    /* Each thread's ids increase; all of them are distinct. */
    int bad = 0;
    for (int t = 0; t < UUID_THREADS; t++)
        for (int i = 1; i < UUID_PER_THREAD; i++)
            if (memcmp(ids[t * UUID_PER_THREAD + i - 1], ids[t * UUID_PER_THREAD + i], 16) >= 0)
                bad++;
    CHECK_INT(bad, 0);
    qsort(ids, UUID_THREADS * UUID_PER_THREAD, 16, cmp16);
    int dups = 0;
    for (int i = 1; i < UUID_THREADS * UUID_PER_THREAD; i++)
        if (memcmp(ids[i - 1], ids[i], 16) == 0)
            dups++;
    CHECK_INT(dups, 0);
    free(ids);
}

static void test_uuid_parse(void)
{
    uint8_t b[16];
    REQUIRE(mentis_crypto_uuid_parse("123e4567-e89b-12d3-a456-426614174000", b)); /* v1 */
    char text[37];
    mentis_crypto_uuid_format(b, text);
    CHECK_STR(text, "123e4567-e89b-12d3-a456-426614174000");
    REQUIRE(mentis_crypto_uuid_parse("123E4567-E89B-12D3-A456-426614174000", b));
    mentis_crypto_uuid_format(b, text);
    CHECK_STR(text, "123e4567-e89b-12d3-a456-426614174000");
    CHECK(mentis_crypto_uuid_parse("00000000-0000-0000-0000-000000000000", b));
    CHECK(mentis_crypto_uuid_parse("ffffffff-ffff-ffff-ffff-ffffffffffff", b));
    CHECK(b[0] == 0xff && b[15] == 0xff);

    memset(b, 0xaa, sizeof b);
    const char *bad[] = {
        "",
        "123e4567-e89b-12d3-a456-42661417400",   /* short */
        "123e4567-e89b-12d3-a456-4266141740000", /* long */
        "123e4567e89b12d3a456426614174000",      /* no hyphens */
        "123e4567-e89b-12d3-a456_426614174000",
        "123e4567-e89b-12d3-a4560426614174000-",
        "{123e4567-e89b-12d3-a456-426614174000}",
        "123e4567-e89b-12d3-a456-42661417400g",
        " 123e4567-e89b-12d3-a456-42661417400",
        "123e4567-e89b-12d3-a456-426614174000 ",
        "123e456-7e89b-12d3-a456-426614174000",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(!mentis_crypto_uuid_parse(bad[i], b), "accepted \"%s\"", bad[i]);
    CHECK(!mentis_crypto_uuid_parse(NULL, b));
    CHECK(b[0] == 0xaa && b[15] == 0xaa); /* untouched on failure */
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_token(void)
{
    enum { N = 1000 };
    char(*tokens)[44] = malloc(N * sizeof *tokens);
    REQUIRE(tokens != NULL);
    for (int i = 0; i < N; i++) {
        REQUIRE(mentis_crypto_token(32, tokens[i], sizeof tokens[i]) == MENTIS_OK);
        CHECK_INT(strlen(tokens[i]), 43);
        CHECK(strspn(tokens[i],
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 43);
    }
    qsort(tokens, N, sizeof tokens[0], cmp_str);
    int dups = 0;
    for (int i = 1; i < N; i++)
        if (strcmp(tokens[i - 1], tokens[i]) == 0)
            dups++;
    CHECK_INT(dups, 0);
    /* The bytes are evenly spread: each character of the alphabet turns up. */
    int seen[256] = {0};
    for (int i = 0; i < N; i++)
        for (int j = 0; j < 42; j++) /* the last one carries only 4 bits */
            seen[(unsigned char)tokens[i][j]]++;
    int distinct = 0;
    for (int c = 0; c < 256; c++)
        distinct += seen[c] > 0;
    CHECK_INT(distinct, 64);
    free(tokens);

    /* Sizes: 16..64 bytes; the buffer the header promises is enough. */
    for (size_t n = 16; n <= 64; n++) {
        char out[4 * 22 + 1];
        size_t promised = 4 * ((n + 2) / 3) + 1;
        REQUIRE(promised <= sizeof out);
        CHECK(mentis_crypto_token(n, out, promised) == MENTIS_OK);
        CHECK_INT(strlen(out), (4 * n + 2) / 3);
        uint8_t raw[64];
        size_t len = 0;
        CHECK(mentis_crypto_base64url_decode(out, strlen(out), raw, sizeof raw, &len) == MENTIS_OK);
        CHECK_INT(len, n);
    }
    char out[128];
    CHECK(mentis_crypto_token(15, out, sizeof out) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_crypto_token(65, out, sizeof out) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_crypto_token(0, out, sizeof out) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_crypto_token(32, out, 43) == MENTIS_ERR_TOO_LARGE);
    CHECK(mentis_crypto_token(32, out, 44) == MENTIS_OK);
}

static void test_password(void)
{
    char hash[MENTIS_CRYPTO_PWHASH_STRBYTES];
    REQUIRE(mentis_crypto_password_hash("correct horse battery staple", MIN_OPS, MIN_MEM, hash) ==
            MENTIS_OK);
    CHECK(strncmp(hash, "$argon2id$", 10) == 0);
    CHECK(strstr(hash, "m=19456,t=2,") != NULL);
    CHECK(mentis_crypto_password_verify(hash, "correct horse battery staple"));
    CHECK(!mentis_crypto_password_verify(hash, "correct horse battery stapl"));
    CHECK(!mentis_crypto_password_verify(hash, "Correct horse battery staple"));
    CHECK(!mentis_crypto_password_verify(hash, ""));
    CHECK(!mentis_crypto_password_verify(hash, NULL));
    CHECK(!mentis_crypto_password_verify(NULL, "x"));
    CHECK(!mentis_crypto_password_verify("not a hash", "x"));
    CHECK(!mentis_crypto_password_verify("", ""));

    /* A fresh salt every time. */
    char again[MENTIS_CRYPTO_PWHASH_STRBYTES];
    REQUIRE(mentis_crypto_password_hash("correct horse battery staple", MIN_OPS, MIN_MEM, again) ==
            MENTIS_OK);
    CHECK(strcmp(hash, again) != 0);
    CHECK(mentis_crypto_password_verify(again, "correct horse battery staple"));

    /* The empty password is a password like any other. */
    char empty[MENTIS_CRYPTO_PWHASH_STRBYTES];
    REQUIRE(mentis_crypto_password_hash("", MIN_OPS, MIN_MEM, empty) == MENTIS_OK);
    CHECK(mentis_crypto_password_verify(empty, ""));
    CHECK(!mentis_crypto_password_verify(empty, " "));

    /* needs_rehash: same limits no; other limits, other algorithms and garbage yes. */
    CHECK(!mentis_crypto_password_needs_rehash(hash, MIN_OPS, MIN_MEM));
    CHECK(mentis_crypto_password_needs_rehash(hash, MIN_OPS + 1, MIN_MEM));
    CHECK(mentis_crypto_password_needs_rehash(hash, MIN_OPS, MIN_MEM * 2));
    CHECK(mentis_crypto_password_needs_rehash("garbage", MIN_OPS, MIN_MEM));
    CHECK(mentis_crypto_password_needs_rehash("", MIN_OPS, MIN_MEM));
    CHECK(mentis_crypto_password_needs_rehash(NULL, MIN_OPS, MIN_MEM));
    char argon2i[crypto_pwhash_argon2i_STRBYTES];
    REQUIRE(crypto_pwhash_argon2i_str(argon2i, "pw", 2, 3, MIN_MEM) == 0);
    CHECK(mentis_crypto_password_needs_rehash(argon2i, 3, MIN_MEM));
    CHECK(mentis_crypto_password_verify(argon2i, "pw")); /* still lets the user in */
    /* A tampered hash fails. */
    char tampered[MENTIS_CRYPTO_PWHASH_STRBYTES];
    memcpy(tampered, hash, sizeof tampered);
    size_t last = strlen(tampered) - 2;
    tampered[last] = tampered[last] == 'A' ? 'B' : 'A';
    CHECK(!mentis_crypto_password_verify(tampered, "correct horse battery staple"));
    /* A string that fills the whole buffer without a NUL is not read past. */
    char full[MENTIS_CRYPTO_PWHASH_STRBYTES + 1];
    memset(full, 'a', sizeof full - 1);
    full[sizeof full - 1] = '\0';
    CHECK(!mentis_crypto_password_verify(full, "a"));
    CHECK(mentis_crypto_password_needs_rehash(full, MIN_OPS, MIN_MEM));

    /* Limits below the OWASP minimum, or beyond libsodium's maximum, are refused. */
    char weak[MENTIS_CRYPTO_PWHASH_STRBYTES];
    mentis_err_clear();
    CHECK(mentis_crypto_password_hash("pw", 1, MIN_MEM, weak) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(mentis_err_msg(), "weak") != NULL);
    CHECK(mentis_crypto_password_hash("pw", MIN_OPS, MIN_MEM - 1, weak) ==
          MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_crypto_password_hash("pw", 0, 0, weak) == MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_crypto_password_hash("pw", 1ULL << 40, MIN_MEM, weak) ==
          MENTIS_ERR_INVALID_ARGUMENT);
    CHECK(mentis_crypto_password_hash(NULL, MIN_OPS, MIN_MEM, weak) == MENTIS_ERR_INVALID_ARGUMENT);
}

static void test_sign(void)
{
    /* RFC 8032 section 7.1, test 1: libsodium's secret key is the seed followed by the
     * public key. */
    uint8_t sk[64], pk[32], expect[64], sig[64];
    unhex_or_die("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", sk, 32);
    unhex_or_die("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", pk, 32);
    memcpy(sk + 32, pk, 32);
    unhex_or_die("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                 "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
                 expect, 64);
    mentis_crypto_sign(sk, "", 0, sig);
    CHECK(memcmp(sig, expect, 64) == 0);
    CHECK(mentis_crypto_sign_verify(pk, "", 0, sig));
    CHECK(!mentis_crypto_sign_verify(pk, "x", 1, sig));

    /* A fresh pair: verify, then tamper with message, signature and key. */
    mentis_crypto_sign_keypair(pk, sk);
    const char *msg = "session 42 granted to user 7";
    size_t n = strlen(msg);
    mentis_crypto_sign(sk, msg, n, sig);
    CHECK(mentis_crypto_sign_verify(pk, msg, n, sig));
    char tampered[64];
    memcpy(tampered, msg, n);
    tampered[8] ^= 1;
    CHECK(!mentis_crypto_sign_verify(pk, tampered, n, sig));
    CHECK(!mentis_crypto_sign_verify(pk, msg, n - 1, sig));
    uint8_t bad_sig[64];
    memcpy(bad_sig, sig, 64);
    bad_sig[0] ^= 0x80;
    CHECK(!mentis_crypto_sign_verify(pk, msg, n, bad_sig));
    uint8_t pk2[32], sk2[64];
    mentis_crypto_sign_keypair(pk2, sk2);
    CHECK(memcmp(pk, pk2, 32) != 0);
    CHECK(!mentis_crypto_sign_verify(pk2, msg, n, sig));
    /* Ed25519 is deterministic. */
    uint8_t sig2[64];
    mentis_crypto_sign(sk, msg, n, sig2);
    CHECK(memcmp(sig, sig2, 64) == 0);
}

static void test_random(void)
{
    uint8_t a[32] = {0}, b[32] = {0}, zero[32] = {0};
    mentis_crypto_random(a, sizeof a);
    mentis_crypto_random(b, sizeof b);
    CHECK(memcmp(a, zero, 32) != 0);
    CHECK(memcmp(a, b, 32) != 0);
    mentis_crypto_random(a, 0);
}

TEST_MAIN(test_init, test_hash_vectors, test_hex, test_base64url_vectors, test_base64url_malformed,
          test_equal, test_uuid_v7, test_uuid_threads, test_uuid_parse, test_token, test_password,
          test_sign, test_random)
