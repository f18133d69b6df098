/*  dc_client: see the header. Waits are sliced so that SIGTERM ends a call at once; a
    message on the stop socket wakes the wait itself. */
#include "dc_client.h"
#include "dc_drops.h"
#include "dc_check.h"
#include "dc_app.h"
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
    zsock_t *stop; /* not owned: a message ready on it ends a call */
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

void dc_client_set_stop(dc_client_t *self, zsock_t *stop)
{
    self->stop = stop;
}

void dc_client_set_drops(dc_client_t *self, dc_drops_t *drops)
{
    self->drops = drops ? drops : self->own_drops;
}

static bool s_halted(dc_client_t *self)
{
    return zsys_interrupted || (self->stop && (zsock_events(self->stop) & ZMQ_POLLIN));
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

void dc_client_abandon(dc_client_t *self)
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
        dc_client_abandon(self);
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
    while (!s_halted(self)) {
        int64_t wait = dc_client_wake_ms(self) - zclock_mono();
        zmq_pollitem_t items[] = {
            {zsock_resolve(self->sock), 0, ZMQ_POLLIN, 0},
            {self->stop ? zsock_resolve(self->stop) : NULL, 0, ZMQ_POLLIN, 0}};
        zmq_poll(items, self->stop ? 2 : 1,
                 wait < 0                    ? 0
                 : wait > DC_CLIENT_SLICE_MS ? DC_CLIENT_SLICE_MS
                                             : wait);
        zmsg_t *body = dc_client_step(self);
        if (body)
            return body;
    }
    dc_client_abandon(self);
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

void dc_client_actor(zsock_t *pipe, void *args)
{
    const dc_client_cfg_t *cfg = args;
    dc_client_t *self = dc_client_new(cfg->broker, cfg->timeout_ms, cfg->curve);
    dc_app_actor_started(pipe, self != NULL);
    if (!self)
        return;
    dc_client_set_stop(self, pipe);
    zmsg_t *msg;
    while ((msg = zmsg_recv(pipe))) {
        char *service = zmsg_popstr(msg);
        if (!service || streq(service, "$TERM")) {
            zstr_free(&service);
            zmsg_destroy(&msg);
            break;
        }
        zmsg_t *body = dc_client_call(self, service, msg);
        if (body)
            zmsg_send(&body, pipe);
        zstr_free(&service);
        zmsg_destroy(&msg);
    }
    dc_client_destroy(&self);
}

/*  Sends an rng request for `bytes` random bytes through the client actor. */
static void s_test_send(zactor_t *client, size_t bytes)
{
    zmsg_t *msg = dc_svc_rng_request(bytes, 1);
    zmsg_pushstr(msg, "rng");
    DC_CHECK(zmsg_send(&msg, client) == 0);
}

/*  The reply is a 200 with `bytes` random bytes. */
static void s_test_reply(zactor_t *client, size_t bytes)
{
    zmsg_t *body = zmsg_recv(client);
    int status = 0;
    zframe_t *payload = NULL;
    const char *reason;
    DC_CHECK(body && dc_svc_reply_parse(body, &status, &payload, &reason) == 0);
    DC_CHECK(status == DC_SVC_OK && zframe_size(payload) == bytes);
    zmsg_destroy(&body);
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

/*  Lazy Pirate: a broker that took the request and died is replaced; after the timeout
    the client reconnects and sends again, and the new broker's rng answers. A newer
    request abandons the one in flight; "$TERM" ends a call at once. */
static void s_test_actor(void)
{
    const char *ep = "inproc://dc-client-test";
    zsock_t *router = s_test_router(ep);
    dc_client_cfg_t ccfg = {.broker = ">inproc://dc-client-test", .timeout_ms = 400};
    zactor_t *client = dc_app_actor_new(dc_client_actor, &ccfg);
    DC_CHECK(client);
    zsock_set_rcvtimeo(zactor_sock(client), 5000);

    /* a newer request abandons the first: only the second is answered */
    s_test_send(client, 1);
    zmsg_t *req = s_test_swallow(router);
    size_t n;
    const char *reason;
    DC_CHECK(dc_svc_rng_parse(req, &n, &(size_t){0}, &reason) == 0 && n == 1);
    zmsg_destroy(&req);
    int64_t sent = zclock_mono();
    s_test_send(client, 2);
    req = s_test_swallow(router);
    DC_CHECK(dc_svc_rng_parse(req, &n, &(size_t){0}, &reason) == 0 && n == 2);
    zmsg_destroy(&req);
    /* ... the fake broker dies with it; a real one and an rng take its place */
    DC_CHECK(zsock_unbind(router, "%s", ep) == 0); /* the name is free at once */
    zsock_destroy(&router);
    dc_testrig_t *rig = dc_testrig_new("@inproc://dc-client-test", 0);
    DC_CHECK(rig);
    s_test_reply(client, 2);
    int64_t took = zclock_mono() - sent;
    DC_CHECK(took >= 400 && took < 3000); /* sent again after the 400 ms timeout */
    s_test_send(client, 32);
    s_test_reply(client, 32);

    /* "$TERM" during a call that nobody answers ends it at once */
    dc_testrig_destroy(&rig);
    router = s_test_router(ep);
    s_test_send(client, 3);
    req = s_test_swallow(router); /* the client reconnected and sent it */
    zmsg_destroy(&req);
    int64_t t0 = zclock_mono();
    zactor_destroy(&client);
    int64_t stop_ms = zclock_mono() - t0;
    if (stop_ms >= 100)
        zsys_warning("client test: the actor took %" PRId64 " ms to stop", stop_ms);
    DC_CHECK(stop_ms < 500); /* the 400 ms timeout did not run out first */
    zsock_destroy(&router);
}

/*  The object: a message ready on the stop socket ends a call and is left unread. */
static void s_test_stop(void)
{
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    DC_CHECK(zsock_bind(router, "inproc://dc-client-stop") == 0);
    zsock_t *stop_in = zsock_new_pair("@inproc://dc-client-stop-pipe");
    zsock_t *stop_out = zsock_new_pair(">inproc://dc-client-stop-pipe");
    dc_client_t *self = dc_client_new(">inproc://dc-client-stop", 5000, NULL);
    dc_client_set_stop(self, stop_in);
    DC_CHECK(zstr_send(stop_out, "$TERM") == 0);
    zsock_set_rcvtimeo(stop_in, 1000);
    while (!(zsock_events(stop_in) & ZMQ_POLLIN))
        zclock_sleep(1); /* inproc delivers within microseconds */
    zmsg_t *request = dc_svc_rng_request(4, 1);
    int64_t t0 = zclock_mono();
    DC_CHECK(dc_client_call(self, "rng", request) == NULL);
    DC_CHECK(zclock_mono() - t0 < 200);
    DC_CHECK(dc_client_counters(self)->calls == 1 && !dc_client_connected(self));
    char *left = zstr_recv(stop_in);
    DC_CHECK(left && streq(left, "$TERM"));
    zstr_free(&left);
    zmsg_destroy(&request);
    dc_client_destroy(&self);
    dc_client_destroy(&self); /* safe twice */
    zsock_destroy(&stop_out);
    zsock_destroy(&stop_in);
    zsock_destroy(&router);
}

void dc_client_test(bool verbose)
{
    if (verbose)
        printf(" * dc_client: ");
    DC_CHECK(sodium_init() >= 0);
    s_test_stop();
    s_test_actor();
    if (verbose)
        printf("OK\n");
}
