#include <stdint.h>

#include "check.h"
#include "mentis/pool.h"

static void test_alloc_align_reset(void)
{
    mentis_pool_t *pool = NULL;
    REQUIRE(mentis_pool_create(1024, 1 << 20, &pool) == MENTIS_OK);
    size_t base = mentis_pool_used(pool);
    for (int i = 1; i < 200; i++) {
        char *p = mentis_pool_alloc(pool, (size_t)i);
        REQUIRE(p != NULL);
        CHECK(((uintptr_t)p % _Alignof(max_align_t)) == 0);
        memset(p, 0xAB, (size_t)i);
    }
    CHECK(mentis_pool_used(pool) > base);
    char *big = mentis_pool_alloc(pool, 100000); /* its own block */
    REQUIRE(big != NULL);
    memset(big, 1, 100000);
    CHECK_STR(mentis_pool_printf(pool, "%s-%d", "kb", 42), "kb-42");
    CHECK_STR(mentis_pool_strndup(pool, "abcdef", 3), "abc");
    int *z = mentis_pool_calloc(pool, 10, sizeof(int));
    REQUIRE(z != NULL);
    CHECK_INT(z[9], 0);
    mentis_pool_reset(pool);
    CHECK_INT(mentis_pool_used(pool), base);
    CHECK(mentis_pool_alloc(pool, 16) != NULL);
    mentis_pool_destroy(pool);
    mentis_pool_destroy(NULL);
}

static void test_cap_refuses(void)
{
    mentis_pool_t *pool = NULL;
    REQUIRE(mentis_pool_create(1024, 8192, &pool) == MENTIS_OK);
    mentis_err_clear();
    CHECK(mentis_pool_alloc(pool, 1 << 20) == NULL);
    CHECK_INT(mentis_err_status(), MENTIS_ERR_NO_MEMORY);
    CHECK(mentis_pool_alloc(pool, SIZE_MAX) == NULL);
    CHECK(mentis_pool_calloc(pool, SIZE_MAX / 2, 4) == NULL);
    /* Small allocations fill up to the cap, then fail cleanly. */
    int got = 0;
    while (mentis_pool_alloc(pool, 64) != NULL && got < 10000)
        got++;
    CHECK(got > 50 && got < 200);
    CHECK(mentis_pool_used(pool) <= 8192);
    mentis_pool_reset(pool);
    CHECK(mentis_pool_alloc(pool, 64) != NULL);
    mentis_pool_destroy(pool);
}

TEST_MAIN(test_alloc_align_reset, test_cap_refuses)
