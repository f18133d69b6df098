/*  dc_client: see the header. dc_client_call's waits are sliced so that SIGTERM ends a
    call at once. */
#include "dc_client.h"
#include "dc_drops.h"
#include "dc_check.h"
#include "dc_mdp.h"
#include "dc_svc.h"
#include "dc_testrig.h"

#include <assert.h>
#include <inttypes.h>
#include <sodium.h>

#define DC_CLIENT_SLICE_MS 100
#define DC_CLIENT_PAUSE_MAX_MS 1000

typedef enum { S_IDLE, S_WAITING, S_PAUSED } s_state_t;

struct _dc_client_t {
    char *broker;
    int timeout_ms;
    dc_curve_t *curve;
    zsock_t *sock;
    bool connected;
    bool logged_down;
    dc_client_counters_t n;
    dc_drops_t *drops;     /* where dropped replies are counted: own_drops or the owner's */
    dc_drops_t *own_drops; /* role "client", until the owner hands its own */
    /* the call in progress */
    s_state_t state;
    char service[DC_MDP_SERVICE_MAX + 1];
    zmsg_t *request; /* its body, the caller's, kept to send again */
    int64_t wake_ms; /* S_WAITING: its deadline; S_PAUSED: the end of the pause */
    int pause_ms;
};

static void s_connect(dc_client_t *self)
{
    zsock_destroy(&self->sock);
    self->sock = zsock_new(ZMQ_DEALER);
    zsock_set_linger(self->sock, 0);
    zsock_set_sndtimeo(self->sock, 0); /* no peer to queue for (inproc): the timeout retries */
    zsock_set_rcvtimeo(self->sock, 0); /* receives only what is there */
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
    self->own_drops = dc_drops_new("client");
    self->drops = self->own_drops;
    s_connect(self);
    return self;
}

void dc_client_destroy(dc_client_t **self_p)
{
    if (self_p && *self_p) {
        zsock_destroy(&(*self_p)->sock);
        dc_drops_destroy(&(*self_p)->own_drops);
        free((*self_p)->broker);
        free(*self_p);
        *self_p = NULL;
    }
}

void dc_client_set_drops(dc_client_t *self, dc_drops_t *drops)
{
    self->drops = drops ? drops : self->own_drops;
}

/*  Sends the request, its frames shared with the kept copy; one that cannot leave now
    (no broker yet) is sent again at the deadline. */
static void s_transmit(dc_client_t *self)
{
    dc_mdp_send_client_request(self->sock, self->service, self->request);
    self->state = S_WAITING;
    self->wake_ms = zclock_mono() + self->timeout_ms;
}

/*  503 (nobody free) and 504 (the slot holding it passed the request's deadline and
    was dropped) are the broker's: another try may find another slot. */
static bool s_is_unavailable(zmsg_t *body)
{
    return zframe_streq(zmsg_first(body), "503") || zframe_streq(zmsg_first(body), "504");
}

void dc_client_send(dc_client_t *self, const char *service, zmsg_t *request)
{
    assert(request);
    self->request = request;
    snprintf(self->service, sizeof self->service, "%s", service);
    self->pause_ms = 0;
    self->n.calls++;
    s_transmit(self);
}

/*  No call in progress (answered, or given up). */
static void s_idle(dc_client_t *self)
{
    self->request = NULL;
    self->state = S_IDLE;
}

zsock_t *dc_client_socket(dc_client_t *self)
{
    return self->sock;
}

int64_t dc_client_wake_ms(dc_client_t *self)
{
    return self->state == S_IDLE ? INT64_MAX : self->wake_ms;
}

/*  A reply body for the call in progress: the answer (returned), or a 503/504 (a pause,
    then the request again). */
static zmsg_t *s_on_body(dc_client_t *self, zmsg_t *body)
{
    if (!s_is_unavailable(body)) {
        if (self->logged_down)
            zsys_info("client: broker %s answers again", self->broker);
        self->connected = true;
        self->logged_down = false;
        s_idle(self);
        return body;
    }
    self->n.unavailable++;
    self->pause_ms = self->pause_ms ? self->pause_ms * 2 : 50;
    self->pause_ms =
        self->pause_ms > DC_CLIENT_PAUSE_MAX_MS ? DC_CLIENT_PAUSE_MAX_MS : self->pause_ms;
    zmsg_destroy(&body);
    self->state = S_PAUSED;
    self->wake_ms = zclock_mono() + self->pause_ms;
    return NULL;
}

zmsg_t *dc_client_step(dc_client_t *self)
{
    zmsg_t *msg, *answer = NULL;
    while (!answer && (msg = zmsg_recv(self->sock))) {
        dc_mdp_msg_t m = {0};
        const char *reason = NULL;
        if (dc_mdp_decode_for_client(&msg, &m, &reason) != 0)
            dc_drops_add(self->drops, "reply", reason, "the broker");
        else if (self->state != S_WAITING)
            dc_drops_add(self->drops, "reply", "no call waiting for it", "the broker");
        else if (!streq(m.service, self->service))
            dc_drops_add(self->drops, "reply", "wrong service", "the broker");
        else {
            answer = s_on_body(self, m.body);
            m.body = NULL;
            if (!answer && self->state == S_PAUSED)
                break;
        }
        dc_mdp_msg_clear(&m);
    }
    if (answer || self->state == S_IDLE)
        return answer;
    int64_t now = zclock_mono();
    if (now < self->wake_ms)
        return NULL;
    if (self->state == S_WAITING) {
        self->n.timeouts++;
        self->connected = false;
        if (!self->logged_down)
            zsys_warning("client: no reply from %s for %s within %d ms; reconnecting and resending",
                         self->broker, self->service, self->timeout_ms);
        self->logged_down = true;
        self->n.reconnects++;
        s_connect(self);
    }
    s_transmit(self);
    return NULL;
}

zmsg_t *dc_client_call(dc_client_t *self, const char *service, zmsg_t *request)
{
    dc_client_send(self, service, request);
    while (!zsys_interrupted) {
        int64_t wait = dc_client_wake_ms(self) - zclock_mono();
        zmq_pollitem_t item = {zsock_resolve(self->sock), 0, ZMQ_POLLIN, 0};
        zmq_poll(&item, 1, wait < 0 ? 0 : wait > DC_CLIENT_SLICE_MS ? DC_CLIENT_SLICE_MS : wait);
        zmsg_t *body = dc_client_step(self);
        if (body)
            return body;
    }
    s_idle(self);
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

/*  A broker that takes requests and never answers: returns the client's request. */
static zmsg_t *s_test_swallow(zsock_t *router)
{
    zmsg_t *msg = zmsg_recv(router);
    dc_mdp_msg_t m = {0};
    const char *reason = "no message in 5 s";
    if (!msg || dc_mdp_decode_router(&msg, &m, &reason) != 0)
        fprintf(stderr, "swallow: %s\n", reason);
    DC_CHECK(m.body);
    zmsg_t *body = m.body;
    m.body = NULL;
    dc_mdp_msg_clear(&m);
    return body;
}

/*  A ROUTER bound to endpoint; the previous owner's close is asynchronous, so the
    name may stay taken for a moment. */
static zsock_t *s_test_router(const char *endpoint)
{
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    int64_t deadline = zclock_mono() + 2000;
    while (zsock_bind(router, "%s", endpoint) != 0 && zclock_mono() < deadline)
        zclock_sleep(5);
    DC_CHECK(zsock_endpoint(router) != NULL);
    zsock_set_rcvtimeo(router, 5000);
    return router;
}

/*  Steps the call in progress as the worker's lanes do, until its reply (by deadline). */
static zmsg_t *s_test_step_until_reply(dc_client_t *self, int64_t deadline)
{
    while (true) {
        DC_CHECK(zclock_mono() < deadline);
        zmq_pollitem_t item = {zsock_resolve(dc_client_socket(self)), 0, ZMQ_POLLIN, 0};
        int64_t wait = dc_client_wake_ms(self) - zclock_mono();
        zmq_poll(&item, 1, wait < 0 ? 0 : wait > 50 ? 50 : wait);
        zmsg_t *body = dc_client_step(self);
        if (body)
            return body;
    }
}

/*  The reply is a 200 with `bytes` random bytes. */
static void s_test_rng_reply(zmsg_t *body, size_t bytes)
{
    int status = 0;
    zframe_t *payload = NULL;
    const char *reason;
    DC_CHECK(body && dc_svc_reply_parse(body, &status, &payload, &reason) == 0);
    DC_CHECK(status == DC_SVC_OK && zframe_size(payload) == bytes);
}

/*  Lazy Pirate, stepped as the worker's lanes are: a broker that took the request and
    died is replaced; after the timeout the client reconnects and sends again, and the
    new broker's rng answers. The blocking form then calls the same broker. */
static void s_test_lazy_pirate(void)
{
    const char *ep = "inproc://dc-client-test";
    zsock_t *router = s_test_router(ep);
    dc_client_t *client = dc_client_new(">inproc://dc-client-test", 400, NULL);
    zmsg_t *request = dc_svc_rng_request(2, 1);
    int64_t sent = zclock_mono();
    dc_client_send(client, "rng", request);
    zmsg_t *req = s_test_swallow(router);
    size_t n;
    const char *reason;
    DC_CHECK(dc_svc_rng_parse(req, &n, &(size_t){0}, &reason) == 0 && n == 2);
    zmsg_destroy(&req);
    /* the fake broker dies with it; a real one and an rng take its place */
    DC_CHECK(zsock_unbind(router, "%s", ep) == 0); /* the name is free at once */
    zsock_destroy(&router);
    dc_testrig_t *rig = dc_testrig_new("@inproc://dc-client-test", 0);
    DC_CHECK(rig);
    zmsg_t *body = s_test_step_until_reply(client, sent + 5000);
    s_test_rng_reply(body, 2);
    zmsg_destroy(&body);
    int64_t took = zclock_mono() - sent;
    DC_CHECK(took >= 400 && took < 3000); /* sent again after the 400 ms timeout */
    const dc_client_counters_t *c = dc_client_counters(client);
    DC_CHECK(c->calls == 1 && c->timeouts == 1 && c->reconnects == 1);
    DC_CHECK(dc_client_connected(client));
    DC_CHECK(dc_client_wake_ms(client) == INT64_MAX); /* no call in progress */
    zmsg_destroy(&request);
    request = dc_svc_rng_request(32, 1);
    body = dc_client_call(client, "rng", request);
    s_test_rng_reply(body, 32);
    zmsg_destroy(&body);
    zmsg_destroy(&request);
    dc_client_destroy(&client);
    dc_client_destroy(&client); /* safe twice */
    dc_testrig_destroy(&rig);
}

void dc_client_test(bool verbose)
{
    if (verbose)
        printf(" * dc_client: ");
    DC_CHECK(sodium_init() >= 0);
    s_test_lazy_pirate();
    if (verbose)
        printf("OK\n");
}
