/*
 * Dispatch queues: completions handed from bus threads to an owner thread (an event loop).
 * An item carries only the request id; the result stays in the request table, so a
 * cancel on the owner thread before the item runs simply makes the item find nothing.
 */
#include <stdlib.h>

#include "bus_internal.h"

struct item {
    mentis_bus_t *bus;
    uint64_t id;
    struct item *next;
};

struct mentis_bus_dispatch {
    pthread_mutex_t mu; /* protects head and tail */
    struct item *head, *tail;
    void (*wake)(void *arg);
    void *wake_arg;
};

mentis_status_t mentis_bus_dispatch_create(void (*wake)(void *arg), void *wake_arg,
                                           mentis_bus_dispatch_t **out)
{
    mentis_bus_dispatch_t *d = calloc(1, sizeof *d);
    if (d == NULL)
        return mentis_err_set(MENTIS_ERR_NO_MEMORY, NULL, "bus: out of memory");
    pthread_mutex_init(&d->mu, NULL);
    d->wake = wake;
    d->wake_arg = wake_arg;
    *out = d;
    return MENTIS_OK;
}

void mentis__dispatch_post(mentis_bus_dispatch_t *d, mentis_bus_t *bus, uint64_t id)
{
    struct item *it = malloc(sizeof *it);
    if (it == NULL) {
        /* Cannot queue: finish it here rather than lose it (the callback then runs on a
         * bus thread, which only happens when memory is gone anyway). */
        mentis__requests_finish(bus, id);
        return;
    }
    it->bus = bus;
    it->id = id;
    it->next = NULL;
    pthread_mutex_lock(&d->mu);
    bool was_empty = d->head == NULL;
    if (d->tail)
        d->tail->next = it;
    else
        d->head = it;
    d->tail = it;
    pthread_mutex_unlock(&d->mu);
    if (was_empty && d->wake)
        d->wake(d->wake_arg);
}

size_t mentis_bus_dispatch_run(mentis_bus_dispatch_t *d)
{
    pthread_mutex_lock(&d->mu);
    struct item *list = d->head;
    d->head = d->tail = NULL;
    pthread_mutex_unlock(&d->mu);
    size_t n = 0;
    while (list) {
        struct item *next = list->next;
        mentis__requests_finish(list->bus, list->id);
        free(list);
        list = next;
        n++;
    }
    return n;
}

void mentis_bus_dispatch_destroy(mentis_bus_dispatch_t *d)
{
    if (d == NULL)
        return;
    for (struct item *it = d->head, *n; it; it = n) {
        n = it->next;
        free(it);
    }
    pthread_mutex_destroy(&d->mu);
    free(d);
}
