/* Client addresses through trusted proxies: networks, and X-Forwarded-For read from the right. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gateway.h"

static gw_settings_t with_trusted(const char *const *nets, size_t n)
{
    gw_settings_t s;
    memset(&s, 0, sizeof s);
    for (size_t i = 0; i < n; i++)
        if (!gw_cidr_parse(nets[i], &s.trusted[s.ntrusted++]))
            abort();
    return s;
}

static const char *client_of(const gw_settings_t *s, const char *xff, const char *peer)
{
    static char ip[GW_ADDR_SIZE];
    char buf[512];
    uint8_t addr[16];
    if (!gw_addr_parse(peer, addr))
        abort();
    snprintf(buf, sizeof buf, "%s", xff);
    gw_forwarded_for(s, buf, addr);
    gw_addr_str(addr, ip);
    return ip;
}

static void test_networks(void)
{
    gw_cidr_t n;
    uint8_t a[16];
    CHECK(gw_cidr_parse("10.0.0.0/8", &n));
    CHECK(gw_addr_parse("10.200.3.4", a) && gw_cidr_contains(&n, a));
    CHECK(gw_addr_parse("11.0.0.1", a) && !gw_cidr_contains(&n, a));
    CHECK(gw_addr_parse("::ffff:10.1.2.3", a) && gw_cidr_contains(&n, a)); /* mapped = IPv4 */
    CHECK(gw_cidr_parse("2001:db8::/32", &n));
    CHECK(gw_addr_parse("2001:db8:1::7", a) && gw_cidr_contains(&n, a));
    CHECK(gw_addr_parse("2001:db9::1", a) && !gw_cidr_contains(&n, a));
    CHECK(gw_cidr_parse("0.0.0.0/0", &n) && gw_addr_parse("8.8.8.8", a) && gw_cidr_contains(&n, a));
    CHECK(gw_cidr_parse("127.0.0.1", &n) && n.prefix == 128);
    const char *bad[] = {"", "/8", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/8x", "::/129",
                         "example.com", "10.0.0.0/", "1.2.3.4.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(!gw_cidr_parse(bad[i], &n), "\"%s\" parsed", bad[i]);
}

static void test_forwarded_for_from_the_right(void)
{
    const char *nets[] = {"10.0.0.0/8", "2001:db8::/32"};
    gw_settings_t s = with_trusted(nets, 2);
    /* The client's own claims on the left are never reached past an untrusted hop. */
    CHECK_STR(client_of(&s, "1.1.1.1, 203.0.113.9, 10.0.0.2", "10.0.0.1"), "203.0.113.9");
    CHECK_STR(client_of(&s, "203.0.113.9", "10.0.0.1"), "203.0.113.9");
    CHECK_STR(client_of(&s, " 203.0.113.9 ,10.1.1.1 ", "10.0.0.1"), "203.0.113.9");
    CHECK_STR(client_of(&s, "2001:db8::5, 198.51.100.1", "10.0.0.1"), "198.51.100.1");
    /* Every hop trusted: the leftmost one. */
    CHECK_STR(client_of(&s, "10.9.9.9, 10.0.0.2", "10.0.0.1"), "10.9.9.9");
    /* Unreadable items stop the walk at the last good address. */
    CHECK_STR(client_of(&s, "garbage, 203.0.113.9", "10.0.0.1"), "203.0.113.9");
    CHECK_STR(client_of(&s, "203.0.113.9, unknown", "10.0.0.1"), "10.0.0.1");
    CHECK_STR(client_of(&s, "", "10.0.0.1"), "10.0.0.1");
    CHECK_STR(client_of(&s, ",,,", "10.0.0.1"), "10.0.0.1");
}

TEST_MAIN(test_networks, test_forwarded_for_from_the_right)
