/*  dc_client: see the header. Waits are sliced so that SIGTERM ends a call at once. */
#include "dc_client.h"
#include "dc_mdp.h"
#include "dc_svc.h"

#include <assert.h>

#define DC_CLIENT_SLICE_MS 100
#define DC_CLIENT_PAUSE_MAX_MS 1000

struct _dc_client_t {
    char *broker;
    int timeout_ms;
    dc_curve_t *curve;
    zsock_t *sock;
    bool connected;
    bool logged_down;
    dc_client_counters_t n;
};

static void s_connect(dc_client_t *self)
{
    zsock_destroy(&self->sock);
    self->sock = zsock_new(ZMQ_DEALER);
    zsock_set_linger(self->sock, 0);
    zsock_set_maxmsgsize(self->sock, DC_MDP_FRAME_LIMIT);
    if (self->curve)
        dc_curve_client(self->curve, self->sock, "broker");
    if (zsock_attach(self->sock, self->broker, false) != 0)
        zsys_error("client: bad broker endpoint '%s' (see --broker / DC_BROKER)", self->broker);
}

dc_client_t *dc_client_new(const char *broker, int timeout_ms, dc_curve_t *curve)
{
    dc_client_t *self = calloc(1, sizeof *self);
    assert(self);
    self->broker = strdup(broker);
    self->timeout_ms = timeout_ms;
    self->curve = curve;
    s_connect(self);
    return self;
}

void dc_client_destroy(dc_client_t **self_p)
{
    if (self_p && *self_p) {
        zsock_destroy(&(*self_p)->sock);
        free((*self_p)->broker);
        free(*self_p);
        *self_p = NULL;
    }
}

/*  Waits for the reply to the request just sent; NULL on timeout or interrupt. */
static zmsg_t *s_wait_reply(dc_client_t *self, const char *service)
{
    int64_t deadline = zclock_mono() + self->timeout_ms;
    zpoller_t *poller = zpoller_new(self->sock, NULL);
    zmsg_t *body = NULL;
    while (!body && !zsys_interrupted && zclock_mono() < deadline) {
        if (zpoller_wait(poller, DC_CLIENT_SLICE_MS) != self->sock)
            continue;
        zmsg_t *msg = zmsg_recv(self->sock);
        dc_mdp_msg_t m = {0};
        const char *reason = NULL;
        if (msg && dc_mdp_decode_for_client(&msg, &m, &reason) == 0 && streq(m.service, service)) {
            body = m.body;
            m.body = NULL;
        } else if (msg || reason)
            zsys_warning("client: dropped a reply from the broker: %s",
                         reason ? reason : "wrong service");
        dc_mdp_msg_clear(&m);
    }
    zpoller_destroy(&poller);
    return body;
}

static void s_pause(int ms)
{
    for (int64_t end = zclock_mono() + ms; !zsys_interrupted && zclock_mono() < end;)
        zclock_sleep(20);
}

/*  503 (nobody free) and 504 (the worker holding it passed the request's deadline and
    was dropped) are the broker's: another try may find another worker. */
static bool s_is_unavailable(zmsg_t *body)
{
    return zframe_streq(zmsg_first(body), "503") || zframe_streq(zmsg_first(body), "504");
}

zmsg_t *dc_client_call(dc_client_t *self, const char *service, zmsg_t *request)
{
    int pause_ms = 0;
    self->n.calls++;
    while (!zsys_interrupted) {
        zmsg_t *copy = zmsg_dup(request);
        zmsg_t *msg = dc_mdp_client_request(service, &copy);
        if (zmsg_send(&msg, self->sock) != 0)
            zmsg_destroy(&msg);
        zmsg_t *body = s_wait_reply(self, service);
        if (body && !s_is_unavailable(body)) {
            if (self->logged_down)
                zsys_info("client: broker %s answers again", self->broker);
            self->connected = true;
            self->logged_down = false;
            return body;
        }
        if (zsys_interrupted) {
            zmsg_destroy(&body);
            break;
        }
        if (body) {
            self->n.unavailable++;
            pause_ms = pause_ms ? pause_ms * 2 : 50;
            pause_ms = pause_ms > DC_CLIENT_PAUSE_MAX_MS ? DC_CLIENT_PAUSE_MAX_MS : pause_ms;
            zmsg_destroy(&body);
            s_pause(pause_ms);
            continue;
        }
        self->n.timeouts++;
        self->connected = false;
        if (!self->logged_down)
            zsys_warning("client: no reply from %s for %s within %d ms; reconnecting and resending",
                         self->broker, service, self->timeout_ms);
        self->logged_down = true;
        self->n.reconnects++;
        s_connect(self);
    }
    return NULL;
}

bool dc_client_connected(dc_client_t *self)
{
    return self->connected;
}

const dc_client_counters_t *dc_client_counters(dc_client_t *self)
{
    return &self->n;
}
