/*  dc_poll: waits on many sockets and asks a socket for its events (ZMQ_EVENTS) only
    when it may have changed: when its ZMQ_FD fired, or when the caller touched it (sent
    or received on it) since the last wait. zmq_poll asks every socket of its set, twice
    when it blocks, and each question makes libzmq process commands unthrottled: a poll
    and a getpid system call even when nothing is pending: with 20 slots in one hasher,
    ~40 system calls per request. Here a wait costs what the sockets that have something
    cost.
    The rule the caller keeps (libzmq's ZMQ_FD is edge-triggered): set `dirty` on a
    socket after every send or receive on it, and on a socket new to the set. */
#ifndef DC_POLL_H_INCLUDED
#define DC_POLL_H_INCLUDED

#include <czmq.h>

typedef struct {
    zsock_t *sock;
    bool dirty;    /* in: touched since the last wait (or new): its events must be asked */
    bool readable; /* out: a message can be received now */
} dc_poll_item_t;

/*  Waits up to timeout_ms (0: does not block) until a socket is readable. Returns how
    many are, 0 when the time ran out, -1 when interrupted (SIGINT/SIGTERM). Every item's
    `dirty` is false afterwards. */
int dc_poll_wait(dc_poll_item_t *items, size_t n, int64_t timeout_ms);

void dc_poll_test(bool verbose);

#endif
