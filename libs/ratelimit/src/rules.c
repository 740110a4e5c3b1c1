#include "mentis/ratelimit.h"

#define MINUTE_MS 60000u
#define HOUR_MS   3600000u

static const struct {
    const char *name;
    mentis_ratelimit_rule_t rule;
} categories[MENTIS_RATELIMIT_CATEGORY_COUNT_] = {
    [MENTIS_RATELIMIT_LOGIN] = {"login", {5, MINUTE_MS}},
    [MENTIS_RATELIMIT_REGISTER] = {"register", {3, HOUR_MS}},
    [MENTIS_RATELIMIT_FORGOT_PASSWORD] = {"forgot_password", {3, HOUR_MS}},
    [MENTIS_RATELIMIT_RESET_PASSWORD] = {"reset_password", {5, HOUR_MS}},
    [MENTIS_RATELIMIT_REFRESH] = {"refresh", {60, MINUTE_MS}},
    [MENTIS_RATELIMIT_AUTHENTICATED] = {"authenticated", {1000, MINUTE_MS}},
    [MENTIS_RATELIMIT_UNAUTHENTICATED] = {"unauthenticated", {500, MINUTE_MS}},
};

mentis_ratelimit_rule_t mentis_ratelimit_default_rule(mentis_ratelimit_category_t category)
{
    if ((unsigned)category >= MENTIS_RATELIMIT_CATEGORY_COUNT_)
        return (mentis_ratelimit_rule_t){0, 0};
    return categories[category].rule;
}

const char *mentis_ratelimit_category_str(mentis_ratelimit_category_t category)
{
    if ((unsigned)category >= MENTIS_RATELIMIT_CATEGORY_COUNT_)
        return "";
    return categories[category].name;
}
