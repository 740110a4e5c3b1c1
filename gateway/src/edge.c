/*
 * What the gateway learns about a request before routing it: who really sent it (the
 * client address, through trusted proxies only), whether it came through the expected
 * front door (the origin secret), and which browser origin may read the answer (CORS).
 *
 * Client address. The peer of the TCP connection is the client unless it is a configured
 * trusted proxy. Then CF-Connecting-IP (Cloudflare's one-address header) is believed when
 * present; otherwise X-Forwarded-For is read from the right, skipping trusted proxies, and
 * the first address that is not one is the client — the left part of that header is
 * whatever the client wrote and is never believed. A peer that is not trusted cannot move
 * its address with any header.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "gateway.h"
#include "mentis/crypto.h"

bool gw_addr_parse(const char *s, uint8_t out[16])
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        return true;
    }
    if (inet_pton(AF_INET6, s, &a6) == 1) {
        memcpy(out, &a6, 16);
        return true;
    }
    return false;
}

void gw_addr_str(const uint8_t addr[16], char out[GW_ADDR_SIZE])
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(addr, mapped, sizeof mapped) == 0)
        inet_ntop(AF_INET, addr + 12, out, GW_ADDR_SIZE);
    else
        inet_ntop(AF_INET6, addr, out, GW_ADDR_SIZE);
}

bool gw_addr_of_sockaddr(const struct sockaddr_storage *ss, uint8_t out[16])
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)ss;
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4->sin_addr, 4);
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
        return true;
    }
    return false;
}

bool gw_cidr_parse(const char *s, gw_cidr_t *out)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (!gw_addr_parse(buf, out->addr))
        return false;
    bool v4 = strchr(buf, ':') == NULL;
    int max = v4 ? 32 : 128;
    int prefix = max;
    if (slash != NULL) {
        char *end = NULL;
        long p = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end != '\0' || p < 0 || p > max)
            return false;
        prefix = (int)p;
    }
    out->prefix = v4 ? prefix + 96 : prefix;
    return true;
}

bool gw_cidr_contains(const gw_cidr_t *net, const uint8_t addr[16])
{
    int bits = net->prefix;
    for (int i = 0; i < 16 && bits > 0; i++, bits -= 8) {
        uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
        if ((net->addr[i] & mask) != (addr[i] & mask))
            return false;
    }
    return true;
}

bool gw_edge_trusted(const gw_settings_t *s, const uint8_t addr[16])
{
    for (size_t i = 0; i < s->ntrusted; i++)
        if (gw_cidr_contains(&s->trusted[i], addr))
            return true;
    return false;
}

/* A header's value (by its lower-case "name:"), NUL-terminated in buf; false when absent
 * or longer than buf. */
bool gw_header(struct lws *wsi, const char *name_colon, char *buf, size_t size)
{
    int nlen = (int)strlen(name_colon);
    int n = lws_hdr_custom_length(wsi, name_colon, nlen);
    if (n <= 0 || (size_t)n >= size)
        return false;
    return lws_hdr_custom_copy(wsi, buf, (int)size, name_colon, nlen) == n;
}

/* Trims spaces and tabs around s[0..n) in place; returns the start. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

void gw_forwarded_for(const gw_settings_t *s, char *xff, uint8_t addr[16])
{
    /* Right to left: the nearest hops were added by our proxies. */
    char *end = xff + strlen(xff);
    while (end > xff) {
        char *comma = end;
        while (comma > xff && comma[-1] != ',')
            comma--;
        *end = '\0';
        char *item = trim(comma);
        uint8_t a[16];
        if (!gw_addr_parse(item, a))
            return; /* garbage: the last address we could read stands */
        memcpy(addr, a, sizeof a);
        if (!gw_edge_trusted(s, a))
            return;
        end = comma > xff ? comma - 1 : xff;
    }
}

void gw_edge_client(const gw_settings_t *s, struct lws *wsi, gw_client_t *c)
{
    memset(c, 0, sizeof *c);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = lws_get_socket_fd(wsi);
    const struct gw_conn *conn = lws_get_opaque_user_data(wsi);
    if (conn != NULL)
        memcpy(c->peer, conn->addr, sizeof c->peer);
    else if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0 ||
             !gw_addr_of_sockaddr(&ss, c->peer))
        memset(c->peer, 0, sizeof c->peer);
    memcpy(c->addr, c->peer, sizeof c->addr);
    c->via_proxy = gw_edge_trusted(s, c->peer);
    if (c->via_proxy) {
        char buf[1024];
        uint8_t a[16];
        if (gw_header(wsi, "cf-connecting-ip:", buf, sizeof buf) && gw_addr_parse(trim(buf), a)) {
            memcpy(c->addr, a, sizeof a);
        } else if (lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_X_FORWARDED_FOR) > 0) {
            gw_forwarded_for(s, buf, c->addr);
        }
        char proto[16];
        c->https = gw_header(wsi, "x-forwarded-proto:", proto, sizeof proto) &&
                   strcasecmp(trim(proto), "https") == 0;
    }
    gw_addr_str(c->addr, c->ip);
}

bool gw_edge_origin_secret_ok(const gw_settings_t *s, struct lws *wsi)
{
    if (s->origin_secret == NULL || s->origin_secret[0] == '\0')
        return true;
    char buf[256];
    char name[80];
    snprintf(name, sizeof name, "%s:", s->origin_header);
    if (!gw_header(wsi, name, buf, sizeof buf))
        return false;
    size_t n = strlen(buf);
    /* Constant time over the secret; the length of a wrong guess is not a secret. */
    return n == strlen(s->origin_secret) &&
           mentis_crypto_equal(buf, s->origin_secret, n);
}

const char *gw_edge_cors_origin(const gw_settings_t *s, struct lws *wsi, char *buf, size_t size)
{
    if (s->ncors_origins == 0 || lws_hdr_copy(wsi, buf, (int)size, WSI_TOKEN_ORIGIN) <= 0)
        return NULL;
    for (size_t i = 0; i < s->ncors_origins; i++)
        if (strcmp(s->cors_origins[i], buf) == 0)
            return buf;
    return NULL;
}

bool gw_edge_cf_admin(const gw_settings_t *s, const gw_client_t *c, struct lws *wsi, char *email,
                      size_t size)
{
    if (s->ncf_admins == 0 || !c->via_proxy)
        return false;
    if (!gw_header(wsi, "cf-access-authenticated-user-email:", email, size))
        return false;
    char *e = trim(email);
    for (size_t i = 0; i < s->ncf_admins; i++) {
        if (strcasecmp(s->cf_admins[i], e) == 0) {
            memmove(email, e, strlen(e) + 1);
            return true;
        }
    }
    return false;
}
