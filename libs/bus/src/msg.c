/* Accessors over received messages. */
#include <stdlib.h>
#include <string.h>

#include "bus_internal.h"

const char *mentis_msg_subject(const mentis_msg_t *msg)
{
    return natsMsg_GetSubject(msg);
}

const char *mentis_msg_reply(const mentis_msg_t *msg)
{
    const char *r = natsMsg_GetReply(msg);
    return (r && *r) ? r : NULL;
}

const void *mentis_msg_data(const mentis_msg_t *msg)
{
    return natsMsg_GetData(msg);
}

size_t mentis_msg_len(const mentis_msg_t *msg)
{
    int n = natsMsg_GetDataLength(msg);
    return n > 0 ? (size_t)n : 0;
}

const char *mentis_msg_header(const mentis_msg_t *msg, const char *key)
{
    const char *v = NULL;
    /* nats.c's getter takes a non-const message but only reads it. */
    if (natsMsgHeader_Get((natsMsg *)(uintptr_t)msg, key, &v) != NATS_OK)
        return NULL;
    return v;
}

mentis_status_t mentis_msg_error(const mentis_msg_t *msg, const char **code, const char **message)
{
    const char *http = mentis_msg_header(msg, MENTIS_HDR_SVC_ERROR_CODE);
    if (http == NULL)
        return MENTIS_OK;
    char *end = NULL;
    long n = strtol(http, &end, 10);
    mentis_status_t st = (end != http && *end == '\0') ? mentis_status_from_http((int)n)
                                                       : MENTIS_ERR_INTERNAL;
    if (st == MENTIS_OK) /* an error header with a 2xx number is still an error */
        st = MENTIS_ERR_INTERNAL;
    const char *c = mentis_msg_header(msg, MENTIS_HDR_ERROR_CODE);
    if (code)
        *code = c ? c : mentis_status_str(st);
    if (message)
        *message = mentis_msg_header(msg, MENTIS_HDR_SVC_ERROR);
    return st;
}

/* This thread's batch (mentis_bus_batch_begin): fixed, so it never allocates. */
static _Thread_local struct {
    bool on;
    size_t n;
    natsMsg *dead[64];
} batch;

void mentis_bus_batch_begin(void)
{
    batch.on = true;
}

static void bury(void)
{
    for (size_t i = 0; i < batch.n; i++)
        natsMsg_Destroy(batch.dead[i]);
    batch.n = 0;
}

void mentis_bus_batch_end(void)
{
    bury();
    batch.on = false;
}

void mentis_msg_destroy(mentis_msg_t *msg)
{
    if (msg == NULL || !batch.on) {
        natsMsg_Destroy(msg);
        return;
    }
    if (batch.n == sizeof batch.dead / sizeof batch.dead[0])
        bury();
    batch.dead[batch.n++] = msg;
}
