/*  dc_rconn: the Redis connection every process uses, one blocking hiredis context with
    - the address in dc_opts_hostport's syntax ("HOST:PORT", "[V6]:PORT", "PORT");
    - AUTH with the password (NULL or "": PING), so a server that wants a password we
      lack, or refuses ours, is "not connected" with a reason naming the setting to fix;
    - a timeout on the connect and on every call;
    - reconnection with back-off: after a failure the next dial waits 250 ms, doubling
      up to 2 s; the first failure of an outage and the recovery are logged once each.
    One owner at a time: callers on several threads hold their own lock around it. */
#ifndef DC_RCONN_H_INCLUDED
#define DC_RCONN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

struct redisContext;
typedef struct _dc_rconn_t dc_rconn_t;

/*  One connection attempt, no back-off and no log: connects, sets timeout_ms on every
    call, AUTHs or PINGs. Returns the context, or NULL with the reason in why (one-shot
    tools, e.g. dc-audit, and dc_rconn_get use it). */
struct redisContext *dc_rconn_connect(const char *host, int port, const char *password,
                                      int timeout_ms, char *why, size_t why_size);

/*  A connection to hostport; does not dial yet. NULL (and an error log naming
    --redis / DC_REDIS) when hostport does not parse. */
dc_rconn_t *dc_rconn_new(const char *hostport, const char *password, int timeout_ms);
void dc_rconn_destroy(dc_rconn_t **self_p);

/*  The connected context, dialling first when there is none and the back-off allows.
    NULL when Redis cannot be used now; dc_rconn_error says why. */
struct redisContext *dc_rconn_get(dc_rconn_t *self);
/*  Closes the context after a failed call (why: what failed), so the next get dials
    again after the back-off. No-op when not connected. */
void dc_rconn_drop(dc_rconn_t *self, const char *why);
/*  Lets the next dc_rconn_get dial at once (a last attempt at exit). */
void dc_rconn_retry_now(dc_rconn_t *self);
bool dc_rconn_connected(dc_rconn_t *self);
/*  "HOST:PORT: reason" of the newest failure; "" when none since the last success. */
const char *dc_rconn_error(dc_rconn_t *self);
/*  "HOST:PORT" as dialled ("[V6]:PORT" for an IPv6 address). */
const char *dc_rconn_address(dc_rconn_t *self);

/*  For self-tests that need a real server: starts redis-server on 127.0.0.1:port (with
    requirepass when password is set, nothing persisted, its output discarded) and waits
    until it answers. Returns its pid, or -1 when redis-server is missing or never
    answered (then nothing is left running). */
int dc_rconn_test_server(int port, const char *password);
/*  A loopback TCP port nobody listens on now (the kernel's pick), for such a server. */
int dc_rconn_test_port(void);
/*  Stops a server dc_rconn_test_server started, and reaps it. */
void dc_rconn_test_server_stop(int pid);

void dc_rconn_test(bool verbose);

#endif
