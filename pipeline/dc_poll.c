/*  dc_poll: see the header. One poll() on the sockets' ZMQ_FDs; a socket is asked for
    ZMQ_EVENTS when it is dirty or its descriptor fired. A descriptor that fired for a
    command other than new input (e.g. room to send again) is asked, found not readable,
    and the wait goes on until the deadline. */
#include "dc_poll.h"
#include "dc_check.h"

#include <errno.h>
#include <poll.h>

#define DC_POLL_MAX 512

static bool s_readable(dc_poll_item_t *item)
{
    uint32_t events = 0;
    size_t size = sizeof events;
    if (zmq_getsockopt(zsock_resolve(item->sock), ZMQ_EVENTS, &events, &size) != 0)
        return false;
    item->dirty = false;
    item->readable = (events & ZMQ_POLLIN) != 0;
    return item->readable;
}

int dc_poll_wait(dc_poll_item_t *items, size_t n, int64_t timeout_ms)
{
    assert(n <= DC_POLL_MAX);
    struct pollfd fds[DC_POLL_MAX];
    int ready = 0;
    for (size_t i = 0; i < n; i++) {
        items[i].readable = false;
        if (items[i].dirty)
            ready += s_readable(&items[i]);
        items[i].dirty = false;
        fds[i] = (struct pollfd){.fd = zsock_fd(items[i].sock), .events = POLLIN};
    }
    int64_t deadline = zclock_mono() + timeout_ms;
    while (ready == 0) {
        int64_t left = deadline - zclock_mono();
        int rc = poll(fds, n, left > 0 ? (int)left : 0);
        if (rc < 0 && errno == EINTR && zsys_interrupted)
            return -1;
        if (rc > 0)
            for (size_t i = 0; i < n; i++)
                if (fds[i].revents)
                    ready += s_readable(&items[i]);
        if (left <= 0)
            break;
    }
    return ready;
}

void dc_poll_test(bool verbose)
{
    if (verbose)
        printf(" * dc_poll: ");
    zsock_t *a = zsock_new_pair("@inproc://dc-poll-test");
    zsock_t *b = zsock_new_pair(">inproc://dc-poll-test");
    zsock_t *c = zsock_new_pair("@inproc://dc-poll-test-2");
    zsock_t *d = zsock_new_pair(">inproc://dc-poll-test-2");
    dc_poll_item_t items[] = {{.sock = a, .dirty = true}, {.sock = c, .dirty = true}};
    /* nothing there: the wait lasts its timeout */
    int64_t t0 = zclock_mono();
    DC_CHECK(dc_poll_wait(items, 2, 50) == 0);
    DC_CHECK(zclock_mono() - t0 >= 45 && !items[0].dirty && !items[1].dirty);
    /* a message arrives while it waits: only that socket is readable */
    zstr_send(d, "to c");
    DC_CHECK(dc_poll_wait(items, 2, 2000) == 1 && !items[0].readable && items[1].readable);
    char *got = zstr_recv(c);
    DC_CHECK(got && streq(got, "to c"));
    zstr_free(&got);
    items[1].dirty = true; /* received on: asked again before the next wait blocks */
    /* two messages, one received: the socket is still readable, without its fd firing */
    zstr_send(b, "one");
    zstr_send(b, "two");
    DC_CHECK(dc_poll_wait(items, 2, 2000) == 1 && items[0].readable);
    got = zstr_recv(a);
    zstr_free(&got);
    items[0].dirty = true;
    DC_CHECK(dc_poll_wait(items, 2, 0) == 1 && items[0].readable);
    got = zstr_recv(a);
    DC_CHECK(got && streq(got, "two"));
    zstr_free(&got);
    items[0].dirty = true;
    t0 = zclock_mono();
    DC_CHECK(dc_poll_wait(items, 2, 50) == 0 && zclock_mono() - t0 >= 45);
    zsock_destroy(&d);
    zsock_destroy(&c);
    zsock_destroy(&b);
    zsock_destroy(&a);
    if (verbose)
        printf("OK\n");
}
