/*  dc_service: the Paranoid Pirate worker pattern over 7/MDP. Liveness counts down on
    every silent heartbeat interval; at zero the socket is thrown away and a fresh one
    sends READY, with a growing pause so a dead broker is not hammered. */
#include "dc_service.h"
#include "dc_mdp.h"
#include "dc_svc.h"

#include <assert.h>
#include <inttypes.h>
#include <sodium.h>

#define DC_SERVICE_LIVENESS 3
#define DC_SERVICE_RECONNECT_MAX_MS 2000

typedef struct {
    uint64_t requests, errors, drops, reconnects;
} s_counters_t;

struct _dc_service_t {
    dc_service_cfg_t cfg;
    zsock_t *sock;
    zpoller_t *poller;
    zsock_t *pipe;
    int liveness;
    int reconnect_ms;
    int64_t next_heartbeat;
    bool heard; /* the broker spoke since we (re)connected */
    s_counters_t n;
    int64_t next_metrics;
};

static void s_send(dc_service_t *self, int command, const char *service, zframe_t *client,
                   zmsg_t **body_p)
{
    zmsg_t *msg = dc_mdp_worker_msg(NULL, command, service, client, body_p);
    if (zmsg_send(&msg, self->sock) != 0)
        zmsg_destroy(&msg);
}

/*  Sleeps up to ms, but returns early on a signal so shutdown stays under a second. */
static void s_nap(int ms)
{
    for (int64_t end = zclock_mono() + ms; !zsys_interrupted && zclock_mono() < end;)
        zclock_sleep(20);
}

static void s_connect(dc_service_t *self)
{
    zpoller_destroy(&self->poller);
    zsock_destroy(&self->sock);
    self->sock = zsock_new(ZMQ_DEALER);
    zsock_set_linger(self->sock, 200);
    zsock_set_maxmsgsize(self->sock, DC_MDP_FRAME_LIMIT);
    zsock_set_sndtimeo(self->sock, 1000);
    if (self->cfg.curve)
        dc_curve_client(self->cfg.curve, self->sock, "broker");
    if (zsock_attach(self->sock, self->cfg.broker, false) != 0)
        zsys_error("%s: bad broker endpoint '%s' (see --broker / DC_BROKER)", self->cfg.service,
                   self->cfg.broker);
    self->poller = zpoller_new(self->sock, self->pipe, NULL);
    s_send(self, DC_MDPW_READY, self->cfg.service, NULL, NULL);
    self->liveness = DC_SERVICE_LIVENESS;
    self->heard = false;
    self->next_heartbeat = zclock_mono() + self->cfg.heartbeat_ms;
    dc_http_set_ready(self->cfg.http, false, "waiting for the broker");
}

static void s_metrics(dc_service_t *self)
{
    char *text = zsys_sprintf("dc_service_requests_total{service=\"%s\"} %" PRIu64 "\n"
                              "dc_service_errors_total{service=\"%s\"} %" PRIu64 "\n"
                              "dc_service_drops_total{service=\"%s\"} %" PRIu64 "\n"
                              "dc_service_reconnects_total{service=\"%s\"} %" PRIu64 "\n"
                              "dc_service_delay_seconds{service=\"%s\"} %.3f\n",
                              self->cfg.service, self->n.requests, self->cfg.service,
                              self->n.errors, self->cfg.service, self->n.drops, self->cfg.service,
                              self->n.reconnects, self->cfg.service, self->cfg.delay_ms / 1e3);
    dc_http_set_metrics(self->cfg.http, &text);
}

static void s_on_request(dc_service_t *self, dc_mdp_msg_t *m)
{
    self->n.requests++;
    if (self->cfg.delay_ms > 0)
        zclock_sleep(self->cfg.delay_ms); /* finished even on SIGTERM: at most the delay */
    bool error = false;
    zmsg_t *reply = self->cfg.handler(m->body, &error);
    if (error) {
        self->n.errors++;
        if (self->cfg.verbose || self->n.errors <= 10) {
            char *why = zframe_strdup(zmsg_last(reply));
            zsys_warning("%s: refused a request: %s", self->cfg.service, why);
            zstr_free(&why);
        }
    }
    s_send(self, DC_MDPW_REPLY, NULL, m->client, &reply);
}

static void s_on_message(dc_service_t *self)
{
    zmsg_t *msg = zmsg_recv(self->sock);
    if (!msg)
        return;
    dc_mdp_msg_t m;
    const char *reason;
    if (dc_mdp_decode_for_worker(&msg, &m, &reason) != 0) {
        self->n.drops++;
        zsys_warning("%s: dropped a message from the broker: %s", self->cfg.service, reason);
        return;
    }
    self->liveness = DC_SERVICE_LIVENESS;
    self->reconnect_ms = 0;
    if (!self->heard) {
        zsys_info("%s: connected to broker %s", self->cfg.service, self->cfg.broker);
        dc_http_set_ready(self->cfg.http, true, NULL);
        self->heard = true;
    }
    if (m.command == DC_MDPW_REQUEST)
        s_on_request(self, &m);
    else if (m.command == DC_MDPW_DISCONNECT) {
        zsys_info("%s: broker asked us to reconnect", self->cfg.service);
        self->n.reconnects++;
        s_connect(self);
    }
    dc_mdp_msg_clear(&m);
}

static void s_on_silence(dc_service_t *self)
{
    if (--self->liveness > 0)
        return;
    self->reconnect_ms = self->reconnect_ms ? self->reconnect_ms * 2 : 250;
    if (self->reconnect_ms > DC_SERVICE_RECONNECT_MAX_MS)
        self->reconnect_ms = DC_SERVICE_RECONNECT_MAX_MS;
    zsys_warning("%s: broker %s silent for %d ms; reconnecting in %d ms", self->cfg.service,
                 self->cfg.broker, self->cfg.heartbeat_ms * DC_SERVICE_LIVENESS,
                 self->reconnect_ms);
    s_nap(self->reconnect_ms);
    self->n.reconnects++;
    s_connect(self);
}

dc_service_t *dc_service_new(const dc_service_cfg_t *cfg)
{
    if (sodium_init() < 0)
        return NULL;
    dc_service_t *self = calloc(1, sizeof *self);
    assert(self);
    self->cfg = *cfg;
    return self;
}

void dc_service_destroy(dc_service_t **self_p)
{
    if (self_p && *self_p) {
        zpoller_destroy(&(*self_p)->poller);
        zsock_destroy(&(*self_p)->sock);
        free(*self_p);
        *self_p = NULL;
    }
}

int dc_service_run(dc_service_t *self, zsock_t *pipe)
{
    self->pipe = pipe;
    s_connect(self);
    s_metrics(self);
    zsys_info("%s: serving for broker %s (delay %d ms per request)", self->cfg.service,
              self->cfg.broker, self->cfg.delay_ms);
    while (!zsys_interrupted) {
        void *which = zpoller_wait(self->poller, self->cfg.heartbeat_ms);
        bool expired = zpoller_expired(self->poller);
        if (which == self->sock)
            s_on_message(self);
        else if (pipe && which == pipe)
            break; /* $TERM */
        else if (expired)
            s_on_silence(self);
        if (zclock_mono() >= self->next_heartbeat) {
            s_send(self, DC_MDPW_HEARTBEAT, NULL, NULL, NULL);
            self->next_heartbeat = zclock_mono() + self->cfg.heartbeat_ms;
            s_metrics(self);
        }
    }
    dc_http_set_ready(self->cfg.http, false, "shutting down");
    s_send(self, DC_MDPW_DISCONNECT, NULL, NULL, NULL);
    zsys_info("%s: stopped after %" PRIu64 " requests (%" PRIu64 " refused)", self->cfg.service,
              self->n.requests, self->n.errors);
    return 0;
}

void dc_service_actor(zsock_t *pipe, void *args)
{
    dc_service_t *self = dc_service_new(args);
    zsock_signal(pipe, 0);
    dc_service_run(self, pipe);
    dc_service_destroy(&self);
}

zmsg_t *dc_service_rng(zmsg_t *request, bool *error)
{
    size_t n, count;
    const char *reason;
    if (dc_svc_rng_parse(request, &n, &count, &reason) != 0) {
        *error = true;
        return dc_svc_reply_error(DC_SVC_BAD_REQUEST, reason);
    }
    zframe_t *bytes = zframe_new(NULL, n * count);
    randombytes_buf(zframe_data(bytes), n * count);
    return dc_svc_reply_ok(&bytes);
}

zmsg_t *dc_service_hasher(zmsg_t *request, bool *error)
{
    zframe_t *payload;
    size_t chunk;
    const char *reason;
    if (dc_svc_hasher_parse(request, &payload, &chunk, &reason) != 0) {
        *error = true;
        return dc_svc_reply_error(DC_SVC_BAD_REQUEST, reason);
    }
    size_t size = zframe_size(payload);
    size_t digests = size ? size / chunk : 1;
    zframe_t *hex = zframe_new(NULL, digests * DC_HEX_DIGEST_LEN);
    char one[DC_HEX_DIGEST_LEN + 1];
    for (size_t i = 0; i < digests; i++) {
        dc_sha256_hex(zframe_data(payload) + i * chunk, size ? chunk : 0, one);
        memcpy(zframe_data(hex) + i * DC_HEX_DIGEST_LEN, one, DC_HEX_DIGEST_LEN);
    }
    return dc_svc_reply_ok(&hex);
}

void dc_service_test(bool verbose)
{
    if (verbose)
        printf(" * dc_service: ");
    assert(sodium_init() >= 0);
    bool error = false;
    zmsg_t *req = dc_svc_rng_request(32, 3);
    zmsg_t *rep = dc_service_rng(req, &error);
    assert(!error && zframe_streq(zmsg_first(rep), "200") && zframe_size(zmsg_last(rep)) == 96);
    zmsg_destroy(&req);
    zmsg_destroy(&rep);
    req = dc_svc_rng_request(5000, 1);
    rep = dc_service_rng(req, &error);
    assert(error && zframe_streq(zmsg_first(rep), "400"));
    zmsg_destroy(&req);
    zmsg_destroy(&rep);

    error = false;
    req = dc_svc_hasher_request((const byte *)"abcabc", 6, 3);
    rep = dc_service_hasher(req, &error);
    assert(!error && zframe_size(zmsg_last(rep)) == 128);
    assert(memcmp(zframe_data(zmsg_last(rep)) + 64,
                  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 64) == 0);
    zmsg_destroy(&req);
    zmsg_destroy(&rep);
    if (verbose)
        printf("OK\n");
}
