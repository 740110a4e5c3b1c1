#include "check.h"
#include "mentis/status.h"

static void test_codes_and_http(void)
{
    CHECK_STR(mentis_status_str(MENTIS_OK), "ok");
    CHECK_STR(mentis_status_str(MENTIS_ERR_NOT_FOUND), "not_found");
    CHECK_STR(mentis_status_str((mentis_status_t)999), "internal");
    CHECK_INT(mentis_status_http(MENTIS_ERR_UNAVAILABLE), 503);
    CHECK_INT(mentis_status_http(MENTIS_ERR_QUOTA_EXCEEDED), 429);
    CHECK_INT(mentis_status_from_http(404), MENTIS_ERR_NOT_FOUND);
    CHECK_INT(mentis_status_from_http(418), MENTIS_ERR_INVALID_ARGUMENT);
    CHECK_INT(mentis_status_from_http(502), MENTIS_ERR_INTERNAL);
    CHECK_INT(mentis_status_from_http(204), MENTIS_OK);
    CHECK_INT(mentis_status_from_str("deadline_exceeded"), MENTIS_ERR_DEADLINE_EXCEEDED);
    CHECK_INT(mentis_status_from_str("nonsense"), MENTIS_ERR_INTERNAL);
    /* Every status round-trips through its HTTP number to a status with the same number. */
    for (int i = 0; i < MENTIS_STATUS_COUNT_; i++)
        CHECK_INT(mentis_status_http(mentis_status_from_http(mentis_status_http((mentis_status_t)i))),
                  mentis_status_http((mentis_status_t)i));
}

static void test_error_context(void)
{
    mentis_err_clear();
    CHECK_STR(mentis_err_msg(), "");
    CHECK_INT(mentis_err_status(), MENTIS_OK);
    CHECK_INT(mentis_err_set(MENTIS_ERR_CONFLICT, "email_exists", "email %s taken", "a@b"),
              MENTIS_ERR_CONFLICT);
    CHECK_STR(mentis_err_msg(), "email a@b taken");
    CHECK_STR(mentis_err_code(), "email_exists");
    CHECK_INT(mentis_err_wrap(MENTIS_ERR_INTERNAL, "register"), MENTIS_ERR_INTERNAL);
    CHECK_STR(mentis_err_msg(), "register: email a@b taken");
    CHECK_INT(mentis_err_status(), MENTIS_ERR_CONFLICT); /* wrap keeps the original status */
    mentis_err_set(MENTIS_ERR_NOT_FOUND, NULL, "pack 7");
    CHECK_STR(mentis_err_code(), "not_found");
    mentis_err_clear();
    mentis_err_wrap(MENTIS_ERR_IO, "reading %s", "x");
    CHECK_STR(mentis_err_msg(), "reading x");
    CHECK_INT(mentis_err_status(), MENTIS_ERR_IO);
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "%s", big);
    CHECK_INT(strlen(mentis_err_msg()), 511);
}

TEST_MAIN(test_codes_and_http, test_error_context)
