/*
 * Loop mode: nats.c's external event loop support, driven either by the owner's event loop
 * (the gateway's lws thread) or, while none is attached, by a thread of the bus.
 *
 * Why: with nats.c's own threads, a reply crosses three threads before an event loop can
 * use it (reader → delivery → the loop, woken through a pipe), and every publish from the
 * loop is a write(2) of its own that wakes nats-server at once. On a small machine those
 * hops and wake-ups, not the work, were most of the gateway's cost per request. Driven by
 * the loop, the socket is read where the replies are used, and what one turn of the loop
 * publishes leaves in one write.
 *
 * nats.c calls the four functions below (attach, read, write, detach) from any of its
 * threads, often with its connection locked: they only record what changed under `mu` and
 * wake the driver. Drivers call nats.c without holding `mu`.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "bus_internal.h"
#include "mentis/log.h"

/* Tells the current driver that the socket changed or bytes wait (caller holds l->mu). The
 * owner's own thread needs no telling: it looks at both on every turn. */
static void notify_locked(struct bus_loop *l)
{
    if (l->attached) {
        if (!pthread_equal(pthread_self(), l->owner_thread))
            l->owner.wake(l->owner.arg);
        return;
    }
    if (l->wake_pipe[1] >= 0) {
        char c = 1;
        ssize_t n = write(l->wake_pipe[1], &c, 1);
        (void)n; /* full: a wake is pending anyway */
    }
}

static void set_fd(mentis_bus_t *bus, int fd)
{
    struct bus_loop *l = &bus->loop;
    pthread_mutex_lock(&l->mu);
    if (l->fd != fd) {
        l->fd = fd;
        l->fd_gen++;
        notify_locked(l);
    }
    pthread_mutex_unlock(&l->mu);
}

static natsStatus ev_attach(void **user, void *loop, natsConnection *nc, natsSock sock)
{
    (void)nc;
    *user = loop;
    set_fd(loop, (int)sock);
    return NATS_OK;
}

/* nats.c never asks to add reading (attach implies it); removing comes just before it
 * closes the socket to reconnect. */
static natsStatus ev_read(void *user, bool add)
{
    if (!add)
        set_fd(user, -1);
    return NATS_OK;
}

static natsStatus ev_write(void *user, bool add)
{
    mentis_bus_t *bus = user;
    struct bus_loop *l = &bus->loop;
    pthread_mutex_lock(&l->mu);
    l->write_wanted = add;
    if (add)
        notify_locked(l);
    pthread_mutex_unlock(&l->mu);
    return NATS_OK;
}

static natsStatus ev_detach(void *user)
{
    set_fd(user, -1);
    return NATS_OK;
}

natsStatus mentis__loop_options(mentis_bus_t *bus)
{
    return natsOptions_SetEventLoop(bus->opts, bus, ev_attach, ev_read, ev_write, ev_detach);
}

/* A duplicate of nats.c's socket, or -1 (caller holds l->mu, so nats.c cannot have closed
 * l->fd: it removes it first, which needs the lock). */
static int dup_locked(struct bus_loop *l)
{
    if (l->fd < 0)
        return -1;
    int fd = fcntl(l->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        mentis_log_warn("bus: cannot watch the NATS socket: %s", strerror(errno));
    return fd;
}

/* Writes what nats.c buffered; true when some is left. */
static bool write_event(mentis_bus_t *bus)
{
    struct bus_loop *l = &bus->loop;
    pthread_mutex_lock(&l->mu);
    bool wanted = l->write_wanted;
    pthread_mutex_unlock(&l->mu);
    if (!wanted)
        return false;
    natsConnection_ProcessWriteEvent(bus->nc);
    pthread_mutex_lock(&l->mu);
    wanted = l->write_wanted;
    pthread_mutex_unlock(&l->mu);
    return wanted;
}

/* The bus's own driver: poll(2) on a duplicate of the socket and on the wake pipe. */
static void *driver_main(void *arg)
{
    mentis_bus_t *bus = arg;
    struct bus_loop *l = &bus->loop;
    int fd = -1;
    uint64_t gen = 0;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        if (l->thread_stop) {
            pthread_mutex_unlock(&l->mu);
            break;
        }
        if (gen != l->fd_gen) {
            if (fd >= 0)
                close(fd);
            fd = dup_locked(l);
            gen = l->fd_gen;
        }
        pthread_mutex_unlock(&l->mu);
        bool more = fd >= 0 && write_event(bus);
        struct pollfd p[2] = {{l->wake_pipe[0], POLLIN, 0},
                              {fd, (short)(POLLIN | (more ? POLLOUT : 0)), 0}};
        if (poll(p, fd >= 0 ? 2 : 1, -1) < 0)
            continue; /* EINTR */
        if (p[0].revents & POLLIN) {
            char buf[64];
            while (read(l->wake_pipe[0], buf, sizeof buf) > 0)
                ;
        }
        /* At EOF or on an error nats.c removes the socket (a new fd_gen). */
        if (fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
            natsConnection_ProcessReadEvent(bus->nc);
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

mentis_status_t mentis__loop_init(mentis_bus_t *bus)
{
    struct bus_loop *l = &bus->loop;
    pthread_mutex_init(&l->mu, NULL);
    l->fd = -1;
    l->wake_pipe[0] = l->wake_pipe[1] = -1;
    if (pipe(l->wake_pipe) != 0) {
        l->wake_pipe[0] = l->wake_pipe[1] = -1;
        pthread_mutex_destroy(&l->mu);
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "bus: pipe: %s", strerror(errno));
    }
    for (int i = 0; i < 2; i++) {
        fcntl(l->wake_pipe[i], F_SETFL, O_NONBLOCK);
        fcntl(l->wake_pipe[i], F_SETFD, FD_CLOEXEC);
    }
    return MENTIS_OK;
}

static mentis_status_t start_thread(mentis_bus_t *bus)
{
    struct bus_loop *l = &bus->loop;
    l->thread_stop = false;
    if (pthread_create(&l->thread, NULL, driver_main, bus) != 0)
        return mentis_err_set(MENTIS_ERR_INTERNAL, NULL, "bus: cannot start the socket thread");
    l->thread_running = true;
    return MENTIS_OK;
}

mentis_status_t mentis__loop_start(mentis_bus_t *bus)
{
    return start_thread(bus);
}

void mentis__loop_stop(mentis_bus_t *bus)
{
    struct bus_loop *l = &bus->loop;
    if (!l->thread_running)
        return;
    pthread_mutex_lock(&l->mu);
    l->thread_stop = true;
    notify_locked(l);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    l->thread_running = false;
}

void mentis__loop_fini(mentis_bus_t *bus)
{
    struct bus_loop *l = &bus->loop;
    mentis__loop_stop(bus);
    for (int i = 0; i < 2; i++)
        if (l->wake_pipe[i] >= 0)
            close(l->wake_pipe[i]);
    pthread_mutex_destroy(&l->mu);
}

/* ---- the owner's side ---- */

mentis_status_t mentis_bus_loop_attach(mentis_bus_t *bus, const mentis_bus_loop_t *loop)
{
    struct bus_loop *l = &bus->loop;
    if (!bus->loop_mode || loop == NULL || loop->wake == NULL)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL,
                              "bus: attaching a loop needs loop mode and a wake function");
    if (l->attached)
        return mentis_err_set(MENTIS_ERR_INVALID_ARGUMENT, NULL, "bus: a loop is attached already");
    /* Only one driver at a time: the bus's thread stops before the owner starts. */
    mentis__loop_stop(bus);
    pthread_mutex_lock(&l->mu);
    l->attached = true;
    l->owner = *loop;
    l->owner_thread = pthread_self();
    l->owner_gen = l->fd_gen - 1; /* the first mentis_bus_loop_socket hands over the socket */
    pthread_mutex_unlock(&l->mu);
    mentis_bus_batch_begin(); /* each turn's messages go together (mentis_bus_loop_write) */
    return MENTIS_OK;
}

void mentis_bus_loop_detach(mentis_bus_t *bus)
{
    struct bus_loop *l = &bus->loop;
    if (!bus->loop_mode || !l->attached)
        return;
    mentis_bus_batch_end();
    pthread_mutex_lock(&l->mu);
    l->attached = false;
    pthread_mutex_unlock(&l->mu);
    if (start_thread(bus) != MENTIS_OK)
        mentis_log_error("%s; NATS is no longer read", mentis_err_msg());
}

bool mentis_bus_loop_socket(mentis_bus_t *bus, int *fd)
{
    struct bus_loop *l = &bus->loop;
    if (!bus->loop_mode || !l->attached)
        return false;
    pthread_mutex_lock(&l->mu);
    bool changed = l->owner_gen != l->fd_gen;
    if (changed) {
        l->owner_gen = l->fd_gen;
        *fd = dup_locked(l);
    }
    pthread_mutex_unlock(&l->mu);
    return changed;
}

void mentis_bus_loop_read(mentis_bus_t *bus)
{
    if (bus->loop_mode && bus->loop.attached)
        natsConnection_ProcessReadEvent(bus->nc);
}

bool mentis_bus_loop_write(mentis_bus_t *bus)
{
    if (!bus->loop_mode || !bus->loop.attached)
        return false;
    bool more = write_event(bus);
    mentis_bus_batch_end(); /* the turn's messages, together, once what it sent is out */
    mentis_bus_batch_begin();
    return more;
}
