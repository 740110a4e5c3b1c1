/*
 * The upgrade rules: a valid WebSocket handshake passes only on a path that has a channel;
 * every malformed one is invalid_upgrade, h2c and channel-less paths upgrade_not_allowed.
 */
#include <string.h>

#include "check.h"
#include "gateway.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

static const char *const channels[] = {"/api/realtime"};

static gw_upgrade_field_t one(const char *v)
{
    return (gw_upgrade_field_t){.value = v, .len = strlen(v), .count = 1};
}

/* A valid handshake on /api/realtime, for each case to spoil. */
static gw_upgrade_t valid(void)
{
    gw_upgrade_t u;
    memset(&u, 0, sizeof u);
    u.method = "GET";
    u.path = "/api/realtime";
    u.http11 = true;
    u.upgrade = one("websocket");
    u.connection = one("keep-alive, Upgrade");
    u.host = one("api.example.com");
    u.key = one(KEY);
    u.version = one("13");
    u.protocol.value = u.extensions.value = u.http2_settings.value = u.legacy.value = "";
    return u;
}

static gw_upgrade_verdict_t judge(const gw_upgrade_t *u, char *why, size_t size)
{
    return gw_upgrade_check(u, channels, 1, why, size);
}

static void test_a_valid_handshake_passes_on_a_channel_path_only(void)
{
    char why[256];
    gw_upgrade_t u = valid();
    CHECK_INT(judge(&u, why, sizeof why), GW_UPGRADE_OK);
    u.upgrade = one("WebSocket");
    u.protocol = one("mentis.v1, chat");
    u.extensions = one("permessage-deflate; client_max_window_bits, x-webkit-deflate-frame");
    CHECK_INT(judge(&u, why, sizeof why), GW_UPGRADE_OK);
    u.path = "/healthz";
    CHECK_INT(judge(&u, why, sizeof why), GW_UPGRADE_NOT_ALLOWED);
    CHECK(strstr(why, "/healthz") != NULL);
    /* No channel at all (the production list today): nothing upgrades. */
    u.path = "/api/realtime";
    CHECK_INT(gw_upgrade_check(&u, NULL, 0, why, sizeof why), GW_UPGRADE_NOT_ALLOWED);
    CHECK_STR(gw_upgrade_code(GW_UPGRADE_NOT_ALLOWED), "upgrade_not_allowed");
    CHECK_STR(gw_upgrade_code(GW_UPGRADE_INVALID), "invalid_upgrade");
}

static void test_h2c_is_never_allowed(void)
{
    char why[256];
    gw_upgrade_t u = valid();
    u.upgrade = one("h2c");
    CHECK_INT(judge(&u, why, sizeof why), GW_UPGRADE_NOT_ALLOWED);
    u.upgrade = one("H2C");
    u.method = "POST";
    CHECK_INT(judge(&u, why, sizeof why), GW_UPGRADE_NOT_ALLOWED);
}

static void test_malformed_handshakes_are_invalid(void)
{
    char why[256];
    static const char *const bad_keys[] = {
        "",
        "abc",
        KEY "A",
        "dGhlIHNhbXBsZSBub25jZQ=",
        "!!!!!!!!!!!!!!!!!!!!!!==",
        "dGhlIHNhbXBsZSBub25jZSE=",
        "dGhlIHNhbXBsZSBub25j ZQ==",
    };
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
        gw_upgrade_t u = valid();
        u.key = one(bad_keys[i]);
        CHECK_MSG(judge(&u, why, sizeof why) == GW_UPGRADE_INVALID, "key \"%s\"", bad_keys[i]);
    }
    static const char *const bad_connections[] = {
        "", "keep-alive", "up", "upgrade2", "keep-alive upgrade", "upgrade,,close", ","};
    for (size_t i = 0; i < sizeof bad_connections / sizeof bad_connections[0]; i++) {
        gw_upgrade_t u = valid();
        u.connection = one(bad_connections[i]);
        CHECK_MSG(judge(&u, why, sizeof why) == GW_UPGRADE_INVALID, "connection \"%s\"",
                  bad_connections[i]);
    }
    static const char *const bad_versions[] = {"", "8", "13, 8", " 13", "013", "13a"};
    for (size_t i = 0; i < sizeof bad_versions / sizeof bad_versions[0]; i++) {
        gw_upgrade_t u = valid();
        u.version = one(bad_versions[i]);
        CHECK_MSG(judge(&u, why, sizeof why) == GW_UPGRADE_INVALID, "version \"%s\"",
                  bad_versions[i]);
    }
    static const char *const bad_protocols[] = {
        "",
        ",",
        "a,,b",
        "super chat",
        "a,",
        "chat/1",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 65 */};
    for (size_t i = 0; i < sizeof bad_protocols / sizeof bad_protocols[0]; i++) {
        gw_upgrade_t u = valid();
        u.protocol = one(bad_protocols[i]);
        CHECK_MSG(judge(&u, why, sizeof why) == GW_UPGRADE_INVALID, "protocol \"%s\"",
                  bad_protocols[i]);
    }
    static const char *const bad_extensions[] = {"", " ", "{x}", "a\x01", ";;"};
    for (size_t i = 0; i < sizeof bad_extensions / sizeof bad_extensions[0]; i++) {
        gw_upgrade_t u = valid();
        u.extensions = one(bad_extensions[i]);
        CHECK_MSG(judge(&u, why, sizeof why) == GW_UPGRADE_INVALID, "extensions \"%s\"",
                  bad_extensions[i]);
    }
    static const char *const bad_upgrades[] = {"", "websocket, foo", "websocket/13", "foo"};
    for (size_t i = 0; i < sizeof bad_upgrades / sizeof bad_upgrades[0]; i++) {
        gw_upgrade_t u = valid();
        u.upgrade = one(bad_upgrades[i]);
        CHECK_MSG(judge(&u, why, sizeof why) == GW_UPGRADE_INVALID, "upgrade \"%s\"",
                  bad_upgrades[i]);
    }
}

static void test_the_request_around_the_headers(void)
{
    char why[256];
    gw_upgrade_t u = valid();
    u.method = "POST";
    CHECK_INT(judge(&u, why, sizeof why), GW_UPGRADE_INVALID);
    u = valid();
    u.http11 = false;
    CHECK_INT(judge(&u, why, sizeof why), GW_UPGRADE_INVALID);
    u = valid();
    u.body = true;
    CHECK_INT(judge(&u, why, sizeof why), GW_UPGRADE_INVALID);
    u = valid();
    u.oversized = true;
    CHECK_INT(judge(&u, why, sizeof why), GW_UPGRADE_INVALID);
    u = valid();
    u.host.count = 0;
    CHECK_INT(judge(&u, why, sizeof why), GW_UPGRADE_INVALID);
    u = valid();
    u.http2_settings = one("AAMAAABkAAQAAP__");
    CHECK_INT(judge(&u, why, sizeof why), GW_UPGRADE_INVALID);
    u = valid();
    u.legacy = one("4 @1  46546xW%0l 1 5");
    CHECK_INT(judge(&u, why, sizeof why), GW_UPGRADE_INVALID);
}

static void test_every_header_comes_once(void)
{
    char why[256];
    for (int i = 0; i < 7; i++) {
        gw_upgrade_t u = valid();
        u.protocol = one("chat");
        u.extensions = one("permessage-deflate");
        gw_upgrade_field_t *f[] = {&u.upgrade, &u.connection, &u.host,      &u.key,
                                   &u.version, &u.protocol,   &u.extensions};
        f[i]->count = 2;
        CHECK_MSG(judge(&u, why, sizeof why) == GW_UPGRADE_INVALID, "field %d twice", i);
        CHECK(strstr(why, "once") != NULL);
    }
}

static void test_token_lists(void)
{
    CHECK(gw_upgrade_token_listed("Upgrade", 7, "upgrade"));
    CHECK(gw_upgrade_token_listed("keep-alive,\tUPGRADE ", 20, "upgrade"));
    CHECK(!gw_upgrade_token_listed("keep-alive", 10, "upgrade"));
    CHECK(!gw_upgrade_token_listed("upgrade,", 8, "upgrade"));
    CHECK(!gw_upgrade_token_listed("", 0, "upgrade"));
}

TEST_MAIN(test_a_valid_handshake_passes_on_a_channel_path_only, test_h2c_is_never_allowed,
          test_malformed_handshakes_are_invalid, test_the_request_around_the_headers,
          test_every_header_comes_once, test_token_lists)
