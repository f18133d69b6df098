/*  dc_service: the Paranoid Pirate worker pattern over 7/MDP, for every slot of the
    instance in one loop. A request is answered at once and its reply held until the
    artificial delay has passed, so one thread serves all slots. The loop waits with
    dc_poll, not zloop: zloop's zmq_poll asks all of the slots' sockets for their events
    on every wake-up (21 sockets in a hasher: ~40 system calls per request); dc_poll
    asks the ones that may have changed. Each slot's liveness
    counts down on every heartbeat interval in which the broker said nothing to it; at
    zero its socket is thrown away and a fresh one (a new routing id) sends READY after a
    growing pause, so a dead broker is not hammered. */
#include "dc_service.h"
#include "dc_drops.h"
#include "dc_figures.h"
#include "dc_app.h"
#include "dc_mdp.h"
#include "dc_poll.h"
#include "dc_svc.h"
#include "dc_check.h"

#include <assert.h>
#include <inttypes.h>
#include <sodium.h>
#include <unistd.h>

#define DC_SERVICE_LIVENESS 3
#define DC_SERVICE_RECONNECT_MAX_MS 2000

typedef struct {
    uint64_t requests, errors, reconnects;
} s_counters_t;

typedef struct {
    dc_service_t *owner;
    int index;
    int generation; /* sockets this slot has had; part of its routing id */
    zsock_t *sock;  /* NULL while it waits to reconnect */
    int liveness;   /* heartbeat intervals left before the broker counts as gone */
    bool spoke;     /* the broker sent something during this interval */
    bool heard;     /* the broker has spoken since this socket connected */
    int reconnect_ms;
    zmsg_t *reply; /* the reply held until the delay has passed, or NULL */
    zframe_t *client;
    int64_t reply_ms;     /* when the held reply goes out (monotonic) */
    int64_t reconnect_at; /* while sock is NULL: when it reconnects (monotonic) */
    bool dirty;           /* sent or received on since the last wait (see dc_poll) */
} s_slot_t;

struct _dc_service_t {
    dc_service_cfg_t cfg;
    char instance[80]; /* this process's name, the part of its slots' ids before "/" */
    s_slot_t *slots;
    dc_poll_item_t *items;  /* the wait's: the pipe, then the slots' sockets */
    bool pipe_dirty;        /* the pipe was read from since the last wait, or is new */
    int connected;          /* slots that have heard the broker */
    int reconnect_requests; /* DISCONNECTs since the last tick, logged once per tick */
    s_counters_t n;
    dc_drops_t *drops; /* messages refused, by the one drop rule */
};

void dc_service_slot_id(const char *instance, int slot, int generation, char *out, size_t size)
{
    snprintf(out, size, "%s/%d.%d", instance, slot, generation);
}

static void s_instance_name(char *out, size_t size)
{
    char host[48] = "";
    if (gethostname(host, sizeof host) != 0 || !*host)
        snprintf(host, sizeof host, "host");
    host[sizeof host - 1] = 0;
    snprintf(out, size, "%s-%d-%08" PRIx32, host, (int)getpid(), randombytes_random());
}

/*  Sends a command to the broker; the body, if any, is consumed. READY (with its service)
    is built as a message, the rest sent straight from their frames. */
static void s_send(s_slot_t *slot, int command, const char *service, zframe_t *client,
                   zmsg_t **body_p)
{
    slot->dirty = true;
    if (service) {
        zmsg_t *msg = dc_mdp_worker_msg(NULL, command, service, client, body_p);
        if (!slot->sock || zmsg_send(&msg, slot->sock) != 0)
            zmsg_destroy(&msg);
        return;
    }
    if (slot->sock)
        dc_mdp_send_worker(slot->sock, NULL, command, client, body_p ? *body_p : NULL);
    if (body_p)
        zmsg_destroy(body_p);
}

static void s_set_connected(dc_service_t *self, int delta)
{
    int before = self->connected;
    self->connected += delta;
    if (before == 0 && self->connected > 0) {
        zsys_info("%s: connected to broker %s", self->cfg.service, self->cfg.broker);
        dc_http_set_ready(self->cfg.http, true, NULL);
    } else if (before > 0 && self->connected == 0)
        dc_http_set_ready(self->cfg.http, false, "waiting for the broker");
}

/*  Drops a reply still held for its delay: the broker re-queues that request anyway. */
static void s_slot_forget_reply(s_slot_t *slot)
{
    if (!slot->reply)
        return;
    zmsg_destroy(&slot->reply);
    zframe_destroy(&slot->client);
}

static void s_slot_close(s_slot_t *slot)
{
    s_slot_forget_reply(slot);
    if (slot->heard)
        s_set_connected(slot->owner, -1);
    slot->heard = false;
    zsock_destroy(&slot->sock);
}

static void s_slot_connect(s_slot_t *slot)
{
    dc_service_t *self = slot->owner;
    s_slot_close(slot);
    char id[128];
    dc_service_slot_id(self->instance, slot->index, slot->generation++, id, sizeof id);
    slot->sock = zsock_new(ZMQ_DEALER);
    zsock_set_identity(slot->sock, id);
    zsock_set_linger(slot->sock, 200);
    zsock_set_maxmsgsize(slot->sock, DC_MDP_FRAME_LIMIT);
    zsock_set_sndtimeo(slot->sock, 1000);
    if (self->cfg.curve)
        dc_curve_client(self->cfg.curve, slot->sock, "broker");
    if (zsock_attach(slot->sock, self->cfg.broker, false) != 0)
        zsys_error("%s: bad broker endpoint '%s' (see --broker / DC_BROKER)", self->cfg.service,
                   self->cfg.broker);
    s_send(slot, DC_MDPW_READY, self->cfg.service, NULL, NULL);
    slot->liveness = DC_SERVICE_LIVENESS;
    slot->spoke = false;
}

/*  Closes the slot's socket and opens a new one after its back-off; returns the pause. */
static int s_slot_reconnect_later(s_slot_t *slot)
{
    s_slot_close(slot);
    slot->reconnect_ms = slot->reconnect_ms ? slot->reconnect_ms * 2 : 250;
    if (slot->reconnect_ms > DC_SERVICE_RECONNECT_MAX_MS)
        slot->reconnect_ms = DC_SERVICE_RECONNECT_MAX_MS;
    slot->reconnect_at = zclock_mono() + slot->reconnect_ms;
    return slot->reconnect_ms;
}

/*  /metrics, from one table of figures (common/dc_figures: each family with its # TYPE),
    every sample labelled service="rng" or "hasher", then the drops. */
static void s_metrics(dc_service_t *self)
{
    uint64_t busy = 0;
    for (int i = 0; i < self->cfg.slots; i++)
        busy += self->slots[i].reply != NULL;
    const dc_figure_t figures[] = {
        {NULL, "dc_service_slots", NULL, DC_FIGURE_COUNT, (uint64_t)self->cfg.slots},
        {NULL, "dc_service_connected_slots", NULL, DC_FIGURE_COUNT, (uint64_t)self->connected},
        {NULL, "dc_service_busy_slots", NULL, DC_FIGURE_COUNT, busy},
        {NULL, "dc_service_requests_total", NULL, DC_FIGURE_COUNT, self->n.requests},
        {NULL, "dc_service_errors_total", NULL, DC_FIGURE_COUNT, self->n.errors},
        {NULL, "dc_service_reconnects_total", NULL, DC_FIGURE_COUNT, self->n.reconnects},
        {NULL, "dc_service_delay_seconds", NULL, DC_FIGURE_US, (uint64_t)self->cfg.delay_ms * 1000},
    };
    dc_buf_t *label = dc_buf_new();
    dc_figures_label(label, "service", self->cfg.service);
    const char *labels[] = {dc_buf_data(label)};
    dc_buf_t *out = dc_buf_new();
    dc_figures_metrics(figures, sizeof figures / sizeof *figures, 1, labels, out);
    dc_drops_metrics(self->drops, dc_buf_data(label), out);
    dc_buf_destroy(&label);
    char *text = dc_buf_detach(&out);
    dc_http_set_metrics(self->cfg.http, &text);
}

static void s_on_delay_over(s_slot_t *slot)
{
    s_send(slot, DC_MDPW_REPLY, NULL, slot->client, &slot->reply);
    zframe_destroy(&slot->client);
}

static void s_drop(dc_service_t *self, const char *reason)
{
    dc_drops_add(self->drops, "message", reason, "the broker");
}

static void s_on_request(s_slot_t *slot, dc_mdp_msg_t *m)
{
    dc_service_t *self = slot->owner;
    if (slot->reply) {
        s_drop(self, "REQUEST while this slot serves another (one at a time)");
        return;
    }
    self->n.requests++;
    bool error = false;
    zmsg_t *reply = self->cfg.handler(m->body, &error);
    if (error) {
        /* answered 400, and counted and logged by the one drop rule under its reason */
        self->n.errors++;
        char *why = zframe_strdup(zmsg_last(reply));
        dc_drops_add(self->drops, "request", why, NULL);
        zstr_free(&why);
    }
    if (self->cfg.delay_ms <= 0) {
        s_send(slot, DC_MDPW_REPLY, NULL, m->client, &reply);
        return;
    }
    slot->reply = reply;
    slot->client = m->client;
    m->client = NULL;
    slot->reply_ms = zclock_mono() + self->cfg.delay_ms;
}

/*  One message from the broker on a slot's socket (readable). */
static void s_on_slot(s_slot_t *slot)
{
    dc_service_t *self = slot->owner;
    slot->dirty = true;
    zmsg_t *msg = zmsg_recv(slot->sock);
    if (!msg)
        return;
    dc_mdp_msg_t m;
    const char *reason;
    if (dc_mdp_decode_for_worker(&msg, &m, &reason) != 0) {
        s_drop(self, reason);
        return;
    }
    slot->liveness = DC_SERVICE_LIVENESS;
    slot->spoke = true;
    slot->reconnect_ms = 0;
    if (!slot->heard) {
        slot->heard = true;
        s_set_connected(self, +1);
    }
    if (m.command == DC_MDPW_REQUEST)
        s_on_request(slot, &m);
    else if (m.command == DC_MDPW_DISCONNECT) {
        self->reconnect_requests++;
        self->n.reconnects++;
        s_slot_connect(slot);
    }
    dc_mdp_msg_clear(&m);
}

/*  Once per heartbeat interval: heartbeats out, and slots whose broker fell silent are
    reconnected. What happened to many slots at once is logged as one line. */
static void s_on_tick(dc_service_t *self)
{
    int silent = 0, pause_ms = 0;
    for (int i = 0; i < self->cfg.slots; i++) {
        s_slot_t *slot = &self->slots[i];
        if (!slot->sock)
            continue;
        if (!slot->spoke && --slot->liveness == 0) {
            pause_ms = s_slot_reconnect_later(slot);
            silent++;
            continue;
        }
        slot->spoke = false;
        s_send(slot, DC_MDPW_HEARTBEAT, NULL, NULL, NULL);
    }
    if (silent)
        zsys_warning("%s: broker %s silent for %d ms; reconnecting %d of %d slots in %d ms",
                     self->cfg.service, self->cfg.broker,
                     self->cfg.heartbeat_ms * DC_SERVICE_LIVENESS, silent, self->cfg.slots,
                     pause_ms);
    if (self->reconnect_requests)
        zsys_info("%s: broker asked %d slots to reconnect", self->cfg.service,
                  self->reconnect_requests);
    self->reconnect_requests = 0;
    s_metrics(self);
}

dc_service_t *dc_service_new(const dc_service_cfg_t *cfg)
{
    if (sodium_init() < 0 || cfg->slots < 1 || cfg->slots > DC_SERVICE_SLOTS_MAX)
        return NULL;
    dc_service_t *self = calloc(1, sizeof *self);
    assert(self);
    self->drops = dc_drops_new("service");
    self->cfg = *cfg;
    s_instance_name(self->instance, sizeof self->instance);
    self->slots = calloc((size_t)cfg->slots, sizeof *self->slots);
    self->items = calloc((size_t)cfg->slots + 1, sizeof *self->items);
    assert(self->slots && self->items);
    for (int i = 0; i < cfg->slots; i++)
        self->slots[i] = (s_slot_t){.owner = self, .index = i};
    return self;
}

void dc_service_destroy(dc_service_t **self_p)
{
    if (self_p && *self_p) {
        dc_service_t *self = *self_p;
        for (int i = 0; i < self->cfg.slots; i++) {
            zmsg_destroy(&self->slots[i].reply);
            zframe_destroy(&self->slots[i].client);
            zsock_destroy(&self->slots[i].sock);
        }
        free(self->slots);
        free(self->items);
        dc_drops_destroy(&self->drops);
        free(self);
        *self_p = NULL;
    }
}

/*  At exit: replies still held for their delay go out now (the work is done), then
    every slot says DISCONNECT so the broker forgets it at once. */
static void s_leave(dc_service_t *self)
{
    for (int i = 0; i < self->cfg.slots; i++) {
        s_slot_t *slot = &self->slots[i];
        if (slot->reply)
            s_send(slot, DC_MDPW_REPLY, NULL, slot->client, &slot->reply);
        zframe_destroy(&slot->client);
        s_send(slot, DC_MDPW_DISCONNECT, NULL, NULL, NULL);
    }
}

/*  Sends the replies whose delay is over, reconnects the slots whose pause is over;
    returns when the next of these is due (monotonic ms). */
static int64_t s_due(dc_service_t *self, int64_t now)
{
    int64_t next = INT64_MAX;
    for (int i = 0; i < self->cfg.slots; i++) {
        s_slot_t *slot = &self->slots[i];
        if (slot->reply && slot->reply_ms <= now)
            s_on_delay_over(slot);
        else if (slot->reply && slot->reply_ms < next)
            next = slot->reply_ms;
        if (!slot->sock && slot->reconnect_at <= now) {
            self->n.reconnects++;
            s_slot_connect(slot);
        } else if (!slot->sock && slot->reconnect_at < next)
            next = slot->reconnect_at;
    }
    return next;
}

/*  Waits for the broker's messages and the timers; false when the loop must end
    (interrupted, or a message on the pipe). */
static bool s_turn(dc_service_t *self, zsock_t *pipe, int64_t *next_tick)
{
    int64_t now = zclock_mono();
    if (now >= *next_tick) {
        s_on_tick(self);
        *next_tick = now + self->cfg.heartbeat_ms;
    }
    int64_t wake = s_due(self, now);
    wake = wake < *next_tick ? wake : *next_tick;
    size_t n = 0;
    self->items[n++] = (dc_poll_item_t){.sock = pipe, .dirty = self->pipe_dirty};
    self->pipe_dirty = false;
    s_slot_t *of[DC_SERVICE_SLOTS_MAX + 1];
    for (int i = 0; i < self->cfg.slots; i++) {
        s_slot_t *slot = &self->slots[i];
        if (!slot->sock)
            continue;
        of[n] = slot;
        self->items[n++] = (dc_poll_item_t){.sock = slot->sock, .dirty = slot->dirty};
        slot->dirty = false;
    }
    now = zclock_mono();
    if (dc_poll_wait(self->items, n, wake > now ? wake - now : 0) < 0)
        return false;
    size_t i = 0;
    if (self->items[i++].readable) {
        char *cmd = zstr_recv(pipe);
        bool term = !cmd || streq(cmd, "$TERM");
        zstr_free(&cmd);
        if (term)
            return false;
        self->pipe_dirty = true;
    }
    for (; i < n; i++)
        if (self->items[i].readable && of[i]->sock == self->items[i].sock)
            s_on_slot(of[i]);
    return !zsys_interrupted;
}

/*  The actor's loop: until "$TERM" on pipe or SIGINT/SIGTERM. */
static void s_run(dc_service_t *self, zsock_t *pipe)
{
    dc_http_set_ready(self->cfg.http, false, "waiting for the broker");
    for (int i = 0; i < self->cfg.slots; i++)
        s_slot_connect(&self->slots[i]);
    s_metrics(self);
    zsys_info("%s: serving for broker %s as %s (%d slot%s, delay %d ms per request)",
              self->cfg.service, self->cfg.broker, self->instance, self->cfg.slots,
              self->cfg.slots == 1 ? "" : "s", self->cfg.delay_ms);
    int64_t next_tick = zclock_mono() + self->cfg.heartbeat_ms;
    self->pipe_dirty = true;
    while (s_turn(self, pipe, &next_tick))
        ;
    dc_http_set_ready(self->cfg.http, false, "shutting down");
    s_leave(self);
    zsys_info("%s: stopped after %" PRIu64 " requests (%" PRIu64 " refused)", self->cfg.service,
              self->n.requests, self->n.errors);
}

void dc_service_actor(zsock_t *pipe, void *args)
{
    dc_service_t *self = dc_service_new(args);
    dc_app_actor_started(pipe, self != NULL);
    if (self)
        s_run(self, pipe);
    dc_service_destroy(&self);
}

/*  size random bytes into out. libsodium's randombytes_buf asks the kernel (getrandom)
    for at most 256 bytes per call: 512 system calls, ~700 us, for a batched job's
    128 KiB. Past 256 bytes a fresh 32-byte key from the kernel (one call) is expanded
    with ChaCha20 instead (randombytes_buf_deterministic, ~60 us for 128 KiB), which is
    how the kernel's own generator works. */
static void s_random(byte *out, size_t size)
{
    if (size <= 256) {
        randombytes_buf(out, size);
        return;
    }
    byte key[randombytes_SEEDBYTES];
    randombytes_buf(key, sizeof key);
    randombytes_buf_deterministic(out, size, key);
    sodium_memzero(key, sizeof key);
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
    s_random(zframe_data(bytes), n * count);
    return dc_svc_reply_ok(&bytes);
}

zmsg_t *dc_service_hasher(zmsg_t *request, bool *error)
{
    zframe_t *payload;
    size_t chunk, k;
    const char *reason;
    if (dc_svc_hasher_parse(request, &payload, &chunk, &k, &reason) != 0) {
        *error = true;
        return dc_svc_reply_error(DC_SVC_BAD_REQUEST, reason);
    }
    size_t size = zframe_size(payload);
    size_t digests = size ? size / chunk : 1;
    const byte *in = zframe_data(payload);
    zframe_t *out = zframe_new(NULL, digests * (k ? k : DC_HEX_DIGEST_LEN));
    byte *p = zframe_data(out);
    if (k) /* the binary form: the first K bytes of each digest, nothing else */
        for (size_t i = 0; i < digests; i++)
            dc_sha256(in + i * chunk, size ? chunk : 0, p + i * k, k);
    else {
        char one[DC_HEX_DIGEST_LEN + 1];
        for (size_t i = 0; i < digests; i++) {
            dc_sha256_hex(in + i * chunk, size ? chunk : 0, one);
            memcpy(p + i * DC_HEX_DIGEST_LEN, one, DC_HEX_DIGEST_LEN);
        }
    }
    return dc_svc_reply_ok(&out);
}

static void s_test_handlers(void)
{
    bool error = false;
    zmsg_t *req = dc_svc_rng_request(32, 3);
    zmsg_t *rep = dc_service_rng(req, &error);
    DC_CHECK(!error && zframe_streq(zmsg_first(rep), "200") && zframe_size(zmsg_last(rep)) == 96);
    zmsg_destroy(&req);
    zmsg_destroy(&rep);
    /* a batched job's 128 KiB (a fresh key each time: two replies differ) */
    req = dc_svc_rng_request(32, 4096);
    rep = dc_service_rng(req, &error);
    zmsg_t *again = dc_service_rng(req, &error);
    DC_CHECK(!error && zframe_size(zmsg_last(rep)) == 131072);
    DC_CHECK(zframe_size(zmsg_last(again)) == 131072);
    DC_CHECK(memcmp(zframe_data(zmsg_last(rep)), zframe_data(zmsg_last(again)), 131072) != 0);
    DC_CHECK(memcmp(zframe_data(zmsg_last(rep)) + 131040, (byte[32]){0}, 32) != 0);
    zmsg_destroy(&again);
    zmsg_destroy(&req);
    zmsg_destroy(&rep);
    req = dc_svc_rng_request(5000, 1);
    rep = dc_service_rng(req, &error);
    DC_CHECK(error && zframe_streq(zmsg_first(rep), "400"));
    zmsg_destroy(&req);
    zmsg_destroy(&rep);

    error = false;
    req = dc_svc_hasher_request((const byte *)"abcabc", 6, 3);
    rep = dc_service_hasher(req, &error);
    DC_CHECK(!error && zframe_size(zmsg_last(rep)) == 128);
    DC_CHECK(memcmp(zframe_data(zmsg_last(rep)) + 64,
                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 64) == 0);
    zmsg_destroy(&req);
    zmsg_destroy(&rep);

    /* the binary form, K = 2: two bytes per digest */
    zframe_t *payload = zframe_new("abcabc", 6);
    req = dc_svc_hasher_request_bin(&payload, 3, 2);
    rep = dc_service_hasher(req, &error);
    DC_CHECK(!error && zframe_size(zmsg_last(rep)) == 4);
    DC_CHECK(memcmp(zframe_data(zmsg_last(rep)), "\xba\x78\xba\x78", 4) == 0);
    zmsg_destroy(&req);
    zmsg_destroy(&rep);
    zmsg_t *bad = zmsg_new();
    zmsg_addstr(bad, "abc");
    zmsg_addstr(bad, "3");
    zmsg_addstr(bad, "33");
    rep = dc_service_hasher(bad, &error);
    DC_CHECK(error && zframe_streq(zmsg_first(rep), "400"));
    zmsg_destroy(&bad);
    zmsg_destroy(&rep);
}

/*  A fake broker: one ROUTER the slots connect to. Decodes into m the next message with
    this command, skipping the others (heartbeats). */
static void s_test_next(zsock_t *router, int command, dc_mdp_msg_t *m)
{
    while (true) {
        zmsg_t *msg = zmsg_recv(router);
        DC_CHECK(msg);
        const char *reason;
        DC_CHECK(dc_mdp_decode_router(&msg, m, &reason) == 0);
        if (m->command == command)
            return;
        dc_mdp_msg_clear(m);
    }
}

/*  The next READY's routing id. */
static char *s_test_ready(zsock_t *router)
{
    dc_mdp_msg_t m;
    s_test_next(router, DC_MDPW_READY, &m);
    DC_CHECK(streq(m.service, "hasher"));
    char *id = zframe_strdup(m.sender);
    dc_mdp_msg_clear(&m);
    return id;
}

/*  A hasher request for "abc" to slot id from client: a good one, or one with CHUNK 33 (a
    400: not a whole number of chunks). */
static void s_test_request(zsock_t *router, const char *id, const char *client, bool good)
{
    zframe_t *dest = zframe_from(id);
    zframe_t *addr = zframe_from(client);
    zmsg_t *body = dc_svc_hasher_request((const byte *)"abc", 3, 3);
    if (!good)
        zmsg_addstr(body, "33");
    zmsg_t *msg = dc_mdp_worker_msg(dest, DC_MDPW_REQUEST, NULL, addr, &body);
    DC_CHECK(zmsg_send(&msg, router) == 0);
    zframe_destroy(&dest);
    zframe_destroy(&addr);
}

/*  The next REPLY on router: its client and status checked. */
static void s_test_reply(zsock_t *router, const char *client, const char *status)
{
    dc_mdp_msg_t m;
    s_test_next(router, DC_MDPW_REPLY, &m);
    DC_CHECK(zframe_streq(m.client, client) && zframe_streq(zmsg_first(m.body), status));
    dc_mdp_msg_clear(&m);
}

/*  The service's /metrics once it counts the 400 (refreshed once per heartbeat):
    Prometheus text as dc_figures_check reads it, both refusals counted as drops. */
static void s_test_metrics(dc_http_t *http)
{
    char *body =
        dc_figures_test_fetch(dc_http_port(http), "message=\"request\"", 5000, "service test");
    DC_CHECK(strstr(body, "dc_service_dropped_total{service=\"hasher\",message=\"request\","
                          "reason=\"hasher: payload must be a whole number (<= 4096) of "
                          "CHUNKs\"} 1\n"));
    DC_CHECK(strstr(body, "dc_service_dropped_total{service=\"hasher\",message=\"message\","));
    DC_CHECK(strstr(body, "dc_service_errors_total{service=\"hasher\"} 1\n"));
    free(body);
}

/*  Three slots of one instance, each answering after the delay: three requests sent at
    once all come back within one delay plus slack, and a second request to a busy slot
    is refused rather than served beside the first. A bad request is answered 400; both
    refusals are counted as drops in /metrics. */
static void s_test_slots(bool verbose)
{
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    DC_CHECK(zsock_bind(router, "inproc://dc-service-test") == 0);
    zsock_set_rcvtimeo(router, 5000);
    dc_service_cfg_t cfg = {.broker = ">inproc://dc-service-test",
                            .service = "hasher",
                            .slots = 3,
                            .heartbeat_ms = 1000,
                            .delay_ms = 600,
                            .handler = dc_service_hasher,
                            .http = dc_http_new("127.0.0.1:0"),
                            .verbose = verbose};
    DC_CHECK(cfg.http);
    zactor_t *service = dc_app_actor_new(dc_service_actor, &cfg);
    DC_CHECK(service);
    char *ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = s_test_ready(router);
    char *slash = strrchr(ids[0], '/');
    DC_CHECK(slash);
    for (int i = 1; i < 3; i++) /* one instance behind all three */
        DC_CHECK(strncmp(ids[i], ids[0], (size_t)(slash - ids[0] + 1)) == 0);
    DC_CHECK(!streq(ids[0], ids[1]) && !streq(ids[1], ids[2]));

    int64_t start = zclock_mono();
    for (int i = 0; i < 3; i++)
        s_test_request(router, ids[i], "client", true);
    s_test_request(router, ids[0], "second", true);
    for (int i = 0; i < 3; i++)
        s_test_reply(router, "client", "200"); /* "second" was refused */
    int64_t took = zclock_mono() - start;
    /* one at a time would take 1800 ms: three slots serve side by side */
    DC_CHECK(took >= 600 && took < 1500);
    s_test_request(router, ids[1], "bad", false);
    s_test_reply(router, "bad", "400");
    s_test_metrics(cfg.http);
    for (int i = 0; i < 3; i++)
        zstr_free(&ids[i]);
    zactor_destroy(&service);
    dc_http_destroy(&cfg.http);
    zsock_destroy(&router);
}

void dc_service_test(bool verbose)
{
    if (verbose)
        printf(" * dc_service: ");
    DC_CHECK(sodium_init() >= 0);
    s_test_handlers();
    s_test_slots(verbose);
    char id[128];
    dc_service_slot_id("h-1-0000abcd", 7, 2, id, sizeof id);
    DC_CHECK(streq(id, "h-1-0000abcd/7.2"));
    if (verbose)
        printf("OK\n");
}
