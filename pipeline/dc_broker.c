/*  dc_broker: see the header. One thread, one ROUTER, one loop that waits with dc_poll
    (one poll() on the ROUTER's and the pipe's descriptors) until the next of three
    deadlines: heartbeats (and dead-slot detection), expiry (queue wait, request timeout,
    and probes of busy slots), and the 1 s stats snapshot. Time is kept in microseconds
    of the monotonic clock. */
#include "dc_broker.h"
#include "dc_app.h"
#include "dc_drops.h"
#include "dc_figures.h"
#include "dc_hist.h"
#include "dc_mdp.h"
#include "dc_poll.h"
#include "dc_redis.h"
#include "dc_stats.h"
#include "dc_svc.h"
#include "dc_check.h"

#include <assert.h>
#include <inttypes.h>
#include <sys/resource.h>

#define DC_BROKER_EXPIRY_TICK_MS 50
#define DC_BROKER_DRAIN 64 /* messages handled per wake-up, at most */
#define DC_BROKER_HIST_SAMPLES 8192
#define DC_BROKER_HIST_WINDOW_MS 10000

typedef struct _s_service_t s_service_t;

typedef struct {
    zframe_t *client;
    zmsg_t *body;
    int64_t queued_us;
    int64_t started_us;
    int64_t deadline_us; /* from its arrival: past it the client gets 504 */
} s_request_t;

/*  A slot: one 7/MDP worker connection, of an instance of a service. */
typedef struct {
    char *id;       /* hex of the routing id */
    char *instance; /* the instance it belongs to (dc_broker_instance_of) */
    zframe_t *identity;
    s_service_t *service;
    int64_t expiry_us;
    s_request_t *request; /* in flight on this slot */
    void *idle_handle;    /* its place in service->idle, when idle */
    bool beats_busy;      /* it has sent a HEARTBEAT while serving: it must keep doing so */
    int64_t probe_us;     /* when to check next that its connection is still there */
    int64_t probe_gap_us; /* the pause before the probe after that one */
} s_slot_t;

struct _s_service_t {
    char name[DC_MDP_SERVICE_MAX + 1];
    zlistx_t *queue;     /* s_request_t, oldest first */
    zlistx_t *idle;      /* s_slot_t, least recently used first */
    size_t slots;        /* slots registered (7/MDP workers), one request each */
    zhashx_t *instances; /* instance name -> its slots registered (as a pointer-sized count) */
    size_t queue_max;    /* deepest queue since the last snapshot */
    uint64_t served, errors, served_at_snapshot;
    int64_t busy_us;   /* slot time spent on requests since the last snapshot */
    int64_t queued_us; /* time requests spent queued since the last snapshot */
    double demand;     /* requests in the service (served or queued), averaged over the
                          last snapshot's interval */
    dc_hist_t *wait_hist, *service_hist; /* µs queued; µs a slot spent on it */
    bool saturated;
    int64_t empty_since_us; /* no slots and no queue since then; 0 while it has some */
};

typedef struct {
    uint64_t requests, replies, requeued, expired, unroutable;
    uint64_t lost;      /* slots found gone: their TCP connection closed */
    uint64_t timed_out; /* requests answered 504 at their deadline */
    uint64_t late;      /* REPLYs from slots the broker no longer knows, dropped */
} s_counters_t;

struct _dc_broker_t {
    dc_broker_cfg_t cfg;
    zsock_t *router;
    bool router_dirty;  /* sent or received on since the last wait (see dc_poll) */
    zhashx_t *services; /* name -> s_service_t */
    zhashx_t *slots;    /* hex id -> s_slot_t */
    dc_redis_t *redis;
    dc_drops_t *drops; /* messages refused, by the one drop rule */
    s_counters_t n;
    int64_t snapshot_us;
    int64_t cpu_us_at_snapshot; /* this process's user+system CPU time then */
};

static int64_t s_now_us(void)
{
    return zclock_usecs();
}

static void s_request_destroy(s_request_t **req_p)
{
    if (*req_p) {
        zframe_destroy(&(*req_p)->client);
        zmsg_destroy(&(*req_p)->body);
        free(*req_p);
        *req_p = NULL;
    }
}

static void s_service_destroy(s_service_t **svc_p)
{
    s_service_t *svc = *svc_p;
    if (!svc)
        return;
    s_request_t *req;
    while ((req = zlistx_detach(svc->queue, NULL)))
        s_request_destroy(&req);
    zlistx_destroy(&svc->queue);
    zlistx_destroy(&svc->idle);
    zhashx_destroy(&svc->instances);
    dc_hist_destroy(&svc->wait_hist);
    dc_hist_destroy(&svc->service_hist);
    free(svc);
    *svc_p = NULL;
}

static s_service_t *s_service_require(dc_broker_t *self, const char *name)
{
    s_service_t *svc = zhashx_lookup(self->services, name);
    if (svc || zhashx_size(self->services) >= DC_BROKER_SERVICES_MAX)
        return svc;
    svc = calloc(1, sizeof *svc);
    assert(svc);
    snprintf(svc->name, sizeof svc->name, "%s", name);
    svc->queue = zlistx_new();
    svc->idle = zlistx_new();
    svc->instances = zhashx_new();
    svc->wait_hist = dc_hist_new(DC_BROKER_HIST_SAMPLES, DC_BROKER_HIST_WINDOW_MS);
    svc->service_hist = dc_hist_new(DC_BROKER_HIST_SAMPLES, DC_BROKER_HIST_WINDOW_MS);
    zhashx_insert(self->services, name, svc);
    return svc;
}

/*  Sends msg on the ROUTER; an unroutable or blocked peer is counted, never waited for.
    Returns 0, or the error: EHOSTUNREACH when the peer's connection is gone, EAGAIN
    when its pipe is full. */
static int s_send(dc_broker_t *self, zmsg_t **msg_p)
{
    self->router_dirty = true;
    if (zmsg_send(msg_p, self->router) == 0)
        return 0;
    int err = zmq_errno();
    zmsg_destroy(msg_p);
    self->n.unroutable++;
    return err;
}

/*  The error of a dc_mdp_send_* that returned rc, counted as s_send counts it. */
static int s_sent(dc_broker_t *self, int rc)
{
    self->router_dirty = true;
    if (rc == 0)
        return 0;
    self->n.unroutable++;
    return zmq_errno();
}

/*  Sends the body (consumed) to a client, straight from its frames. */
static void s_reply_client(dc_broker_t *self, zframe_t *client, const char *service,
                           zmsg_t **body_p)
{
    if (s_sent(self, dc_mdp_send_client_reply(self->router, client, service, *body_p)) == 0)
        self->n.replies++;
    zmsg_destroy(body_p);
}

static void s_reply_error(dc_broker_t *self, s_service_t *svc, zframe_t *client,
                          const char *service, int status, const char *reason)
{
    zmsg_t *body = dc_svc_reply_error(status, reason);
    s_reply_client(self, client, service, &body);
    if (svc)
        svc->errors++;
}

/*  Sends a command (its body, if any, stays the caller's) to a slot. Returns true when
    the slot's connection is gone (the ROUTER no longer knows it). */
static bool s_send_slot(dc_broker_t *self, s_slot_t *slot, int command, zframe_t *client,
                        zmsg_t *body)
{
    int rc = dc_mdp_send_worker(self->router, slot->identity, command, client, body);
    return s_sent(self, rc) == EHOSTUNREACH;
}

static void s_slot_forget(dc_broker_t *self, s_slot_t *slot, const char *why);

/*  The part of the time from `from_us` to `now` that falls in the current stats interval. */
static int64_t s_since_snapshot(dc_broker_t *self, int64_t from_us, int64_t now)
{
    return now - (from_us > self->snapshot_us ? from_us : self->snapshot_us);
}

/*  Hands queued requests to idle slots, least recently used first. A slot whose
    connection turns out to be gone is forgotten and its request goes to the next one. */
static void s_dispatch(dc_broker_t *self, s_service_t *svc)
{
    while (zlistx_size(svc->idle) && zlistx_size(svc->queue)) {
        s_slot_t *slot = zlistx_detach(svc->idle, NULL);
        slot->idle_handle = NULL;
        s_request_t *req = zlistx_detach(svc->queue, NULL);
        req->started_us = s_now_us();
        svc->queued_us += s_since_snapshot(self, req->queued_us, req->started_us);
        dc_hist_add(svc->wait_hist, req->started_us / 1000,
                    (uint32_t)(req->started_us - req->queued_us));
        slot->request = req;
        slot->probe_gap_us = DC_BROKER_PROBE_MS * 1000;
        slot->probe_us = req->started_us + slot->probe_gap_us;
        /* the body is kept (its frames shared, not copied) in case the slot dies */
        if (s_send_slot(self, slot, DC_MDPW_REQUEST, req->client, req->body)) {
            self->n.lost++;
            s_slot_forget(self, slot, "connection closed");
        }
    }
}

/*  A slot that spoke is alive for DC_BROKER_LIVENESS more heartbeat intervals. */
static void s_slot_alive(dc_broker_t *self, s_slot_t *slot)
{
    slot->expiry_us = s_now_us() + (int64_t)self->cfg.heartbeat_ms * 1000 * DC_BROKER_LIVENESS;
}

/*  The part of a request's service time that falls in the current stats interval. */
static int64_t s_busy_since_snapshot(dc_broker_t *self, s_request_t *req, int64_t now)
{
    return s_since_snapshot(self, req->started_us, now);
}

static void s_slot_idle(s_slot_t *slot)
{
    slot->idle_handle = zlistx_add_end(slot->service->idle, slot);
}

void dc_broker_instance_of(zframe_t *identity, char *out, size_t size)
{
    const byte *data = zframe_data(identity);
    size_t len = zframe_size(identity), slash = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] < 0x20 || data[i] > 0x7e) {
            slash = 0;
            break;
        }
        if (data[i] == '/')
            slash = i;
    }
    if (slash == 0) {
        char *hex = zframe_strhex(identity);
        snprintf(out, size, "%s", hex);
        free(hex);
    } else
        snprintf(out, size, "%.*s", (int)slash, (const char *)data);
}

/*  Counts one more or one less slot of an instance; returns that instance's slots now. */
static size_t s_instance_slots(s_service_t *svc, const char *instance, int delta)
{
    size_t slots = (size_t)(uintptr_t)zhashx_lookup(svc->instances, instance) + (size_t)delta;
    if (slots)
        zhashx_update(svc->instances, instance, (void *)(uintptr_t)slots);
    else
        zhashx_delete(svc->instances, instance);
    return slots;
}

/*  Forgets a slot; its request in flight goes back to the head of the queue. */
static void s_slot_forget(dc_broker_t *self, s_slot_t *slot, const char *why)
{
    s_service_t *svc = slot->service;
    if (slot->idle_handle)
        zlistx_delete(svc->idle, slot->idle_handle);
    if (slot->request) {
        /* the wait clock restarts: the request gets a fair chance on another slot */
        slot->request->queued_us = s_now_us();
        zlistx_add_start(svc->queue, slot->request);
        slot->request = NULL;
        self->n.requeued++;
        zsys_info("broker: %s slot %s left (%s) holding a request: it goes to another one",
                  svc->name, slot->id, why);
    }
    svc->slots--;
    if (s_instance_slots(svc, slot->instance, -1) == 0 || self->cfg.verbose)
        zsys_info("broker: %s instance %s left (%s); %zu instances, %zu slots, %zu queued",
                  svc->name, slot->instance, why, zhashx_size(svc->instances), svc->slots,
                  zlistx_size(svc->queue));
    zhashx_delete(self->slots, slot->id);
}

/*  Forgets a slot and hands its request, if any, to the next idle one. */
static void s_slot_delete(dc_broker_t *self, s_slot_t *slot, const char *why)
{
    s_service_t *svc = slot->service;
    s_slot_forget(self, slot, why);
    s_dispatch(self, svc);
}

static void s_slot_free(void **item)
{
    s_slot_t *slot = *item;
    s_request_destroy(&slot->request); /* only at exit: a deleted slot's request is requeued */
    zframe_destroy(&slot->identity);
    zstr_free(&slot->instance);
    zstr_free(&slot->id);
    free(slot);
    *item = NULL;
}

static void s_drop(dc_broker_t *self, zframe_t *sender, const char *reason)
{
    char *id = sender ? zframe_strhex(sender) : NULL;
    dc_drops_add(self->drops, "message", reason, id);
    free(id);
}

/*  The mmi.stats answer: {"service":{"slots":…,"instances":…,…},…}. */
static char *s_mmi_stats(dc_broker_t *self)
{
    dc_buf_t *out = dc_buf_new();
    dc_buf_append(out, "{", 1);
    const char *sep = "";
    for (s_service_t *s = zhashx_first(self->services); s; s = zhashx_next(self->services)) {
        dc_buf_printf(out, "%s", sep);
        dc_buf_json_string(out, s->name);
        dc_buf_printf(out,
                      ":{\"slots\":%zu,\"instances\":%zu,\"idle\":%zu,\"queue\":%zu,"
                      "\"served\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"demand\":%.2f}",
                      s->slots, zhashx_size(s->instances), zlistx_size(s->idle),
                      zlistx_size(s->queue), s->served, s->errors, s->demand);
        sep = ",";
    }
    dc_buf_append(out, "}", 1);
    return dc_buf_detach(&out);
}

static void s_mmi(dc_broker_t *self, dc_mdp_msg_t *m)
{
    zmsg_t *body = zmsg_new();
    if (streq(m->service, "mmi.service")) {
        char *name = zmsg_popstr(m->body);
        s_service_t *svc = name ? zhashx_lookup(self->services, name) : NULL;
        zmsg_addstr(body, svc && svc->slots ? "200" : "404");
        zstr_free(&name);
    } else if (streq(m->service, "mmi.stats")) {
        zmsg_addstr(body, "200");
        char *json = s_mmi_stats(self);
        zmsg_addstr(body, json);
        free(json);
    } else
        zmsg_addstr(body, "501");
    s_reply_client(self, m->sender, m->service, &body);
}

static void s_on_client(dc_broker_t *self, dc_mdp_msg_t *m)
{
    self->n.requests++;
    if (strncmp(m->service, "mmi.", 4) == 0) {
        s_mmi(self, m);
        return;
    }
    s_service_t *svc = s_service_require(self, m->service);
    if (!svc) {
        s_reply_error(self, NULL, m->sender, m->service, DC_SVC_UNAVAILABLE, "too many services");
        return;
    }
    if (zlistx_size(svc->queue) >= self->cfg.max_queue) {
        s_reply_error(self, svc, m->sender, m->service, DC_SVC_UNAVAILABLE, "queue full");
        return;
    }
    s_request_t *req = calloc(1, sizeof *req);
    assert(req);
    req->client = m->sender;
    req->body = m->body;
    m->sender = NULL;
    m->body = NULL;
    req->queued_us = s_now_us();
    req->deadline_us = req->queued_us + (int64_t)self->cfg.request_timeout_ms * 1000;
    zlistx_add_end(svc->queue, req);
    if (zlistx_size(svc->queue) > svc->queue_max)
        svc->queue_max = zlistx_size(svc->queue);
    s_dispatch(self, svc);
}

static void s_on_ready(dc_broker_t *self, dc_mdp_msg_t *m, char *id)
{
    s_service_t *svc = strncmp(m->service, "mmi.", 4) ? s_service_require(self, m->service) : NULL;
    if (!svc) {
        zmsg_t *msg = dc_mdp_worker_msg(m->sender, DC_MDPW_DISCONNECT, NULL, NULL, NULL);
        s_send(self, &msg);
        s_drop(self, m->sender, "READY for a reserved or one service too many");
        zstr_free(&id);
        return;
    }
    s_slot_t *slot = calloc(1, sizeof *slot);
    assert(slot);
    slot->id = id;
    slot->identity = zframe_dup(m->sender);
    char instance[DC_MDP_ADDRESS_MAX * 2 + 1];
    dc_broker_instance_of(slot->identity, instance, sizeof instance);
    slot->instance = strdup(instance);
    slot->service = svc;
    s_slot_alive(self, slot);
    zhashx_insert(self->slots, id, slot);
    svc->slots++;
    if (s_instance_slots(svc, slot->instance, +1) == 1 || self->cfg.verbose)
        zsys_info("broker: %s instance %s joined; %zu instances, %zu slots", svc->name,
                  slot->instance, zhashx_size(svc->instances), svc->slots);
    s_slot_idle(slot);
    s_dispatch(self, svc);
}

static void s_on_reply(dc_broker_t *self, s_slot_t *slot, dc_mdp_msg_t *m)
{
    s_request_t *req = slot->request;
    if (!req || !zframe_eq(req->client, m->client)) {
        s_drop(self, m->sender, "REPLY for no request of this slot");
        return;
    }
    s_service_t *svc = slot->service;
    int64_t now = s_now_us();
    svc->busy_us += s_busy_since_snapshot(self, req, now);
    dc_hist_add(svc->service_hist, now / 1000, (uint32_t)(now - req->started_us));
    svc->served++;
    s_reply_client(self, req->client, svc->name, &m->body);
    s_request_destroy(&slot->request);
    s_slot_idle(slot);
    s_dispatch(self, svc);
}

static void s_on_slot(dc_broker_t *self, dc_mdp_msg_t *m)
{
    char *id = zframe_strhex(m->sender);
    s_slot_t *slot = zhashx_lookup(self->slots, id);
    if (m->command == DC_MDPW_READY) {
        if (slot) {
            s_drop(self, m->sender, "READY from a slot already registered");
            s_slot_delete(self, slot, "protocol error");
            zstr_free(&id);
        } else
            s_on_ready(self, m, id);
        return;
    }
    zstr_free(&id);
    if (!slot) {
        /* a slot we do not know (we restarted, it expired or passed a request's
           deadline): make it start over; a reply it brings is late, nobody waits for it */
        if (m->command == DC_MDPW_REPLY)
            self->n.late++;
        if (m->command != DC_MDPW_DISCONNECT) {
            zmsg_t *msg = dc_mdp_worker_msg(m->sender, DC_MDPW_DISCONNECT, NULL, NULL, NULL);
            s_send(self, &msg);
        }
        return;
    }
    s_slot_alive(self, slot);
    if (m->command == DC_MDPW_HEARTBEAT && slot->request &&
        s_now_us() - slot->request->started_us >= DC_BROKER_CROSSING_MS * 1000)
        slot->beats_busy = true;
    if (m->command == DC_MDPW_REPLY)
        s_on_reply(self, slot, m);
    else if (m->command == DC_MDPW_DISCONNECT)
        s_slot_delete(self, slot, "disconnected");
}

/*  Handles what the ROUTER holds, DC_BROKER_DRAIN messages at most before the timers
    get their turn: one wait per burst, not one per message. A drain that ends with a
    receive that finds nothing leaves the ROUTER clean for the wait: that receive has
    processed libzmq's pending commands, as asking ZMQ_EVENTS would. */
static void s_on_router(dc_broker_t *self)
{
    for (int i = 0; i < DC_BROKER_DRAIN; i++) {
        zmsg_t *msg = zmsg_recv(self->router); /* the ROUTER's receive timeout is 0 */
        if (!msg) {
            self->router_dirty = false;
            return;
        }
        dc_mdp_msg_t m;
        const char *reason;
        if (dc_mdp_decode_router(&msg, &m, &reason) != 0)
            s_drop(self, m.sender, reason);
        else if (m.peer == 'C')
            s_on_client(self, &m);
        else
            s_on_slot(self, &m);
        dc_mdp_msg_clear(&m);
    }
    self->router_dirty = true;
}

static void s_on_heartbeat(dc_broker_t *self)
{
    int64_t now = s_now_us();
    zlistx_t *dead = zlistx_new(), *gone = zlistx_new();
    for (s_slot_t *slot = zhashx_first(self->slots); slot; slot = zhashx_next(self->slots)) {
        /* a busy slot that never beat while busy has until its request's deadline */
        bool silent_ok = slot->request && !slot->beats_busy;
        if (slot->expiry_us < now && !silent_ok)
            zlistx_add_end(dead, slot);
        else if (s_send_slot(self, slot, DC_MDPW_HEARTBEAT, NULL, NULL))
            zlistx_add_end(gone, slot);
    }
    for (s_slot_t *slot = zlistx_first(dead); slot; slot = zlistx_next(dead)) {
        self->n.expired++;
        s_slot_delete(self, slot, "no heartbeat");
    }
    for (s_slot_t *slot = zlistx_first(gone); slot; slot = zlistx_next(gone)) {
        self->n.lost++;
        s_slot_delete(self, slot, "connection closed");
    }
    zlistx_destroy(&dead);
    zlistx_destroy(&gone);
}

/*  A slot that holds a request for long gets a HEARTBEAT DC_BROKER_PROBE_MS after it
    got the request, then after twice that pause, and so on up to the heartbeat interval:
    if its connection closed (kill -9), the ROUTER refuses the HEARTBEAT, and the request
    is requeued within a fraction of a second rather than after its heartbeats or its
    deadline. (7/MDP allows a HEARTBEAT at any time.) */
static void s_probe_busy(dc_broker_t *self, int64_t now)
{
    zlistx_t *gone = zlistx_new();
    for (s_slot_t *slot = zhashx_first(self->slots); slot; slot = zhashx_next(self->slots)) {
        if (!slot->request || slot->probe_us > now)
            continue;
        slot->probe_gap_us *= 2;
        if (slot->probe_gap_us > (int64_t)self->cfg.heartbeat_ms * 1000)
            slot->probe_gap_us = (int64_t)self->cfg.heartbeat_ms * 1000;
        slot->probe_us = now + slot->probe_gap_us;
        if (s_send_slot(self, slot, DC_MDPW_HEARTBEAT, NULL, NULL))
            zlistx_add_end(gone, slot);
    }
    for (s_slot_t *slot = zlistx_first(gone); slot; slot = zlistx_next(gone)) {
        self->n.lost++;
        s_slot_delete(self, slot, "connection closed");
    }
    zlistx_destroy(&gone);
}

/*  Requests held past their deadline: the client gets 504 and the slot is dropped
    (told DISCONNECT); its reply, if it ever comes, is counted late and dropped. */
static void s_expire_requests(dc_broker_t *self, int64_t now)
{
    zlistx_t *late = zlistx_new();
    for (s_slot_t *slot = zhashx_first(self->slots); slot; slot = zhashx_next(self->slots))
        if (slot->request && slot->request->deadline_us < now)
            zlistx_add_end(late, slot);
    for (s_slot_t *slot = zlistx_first(late); slot; slot = zlistx_next(late)) {
        char reason[160];
        snprintf(reason, sizeof reason,
                 "no reply within the request timeout (%d ms): the slot holding it was dropped",
                 self->cfg.request_timeout_ms);
        s_reply_error(self, slot->service, slot->request->client, slot->service->name,
                      DC_BROKER_STATUS_TIMEOUT, reason);
        s_request_destroy(&slot->request);
        self->n.timed_out++;
        s_send_slot(self, slot, DC_MDPW_DISCONNECT, NULL, NULL);
        s_slot_forget(self, slot, "request timeout");
    }
    zlistx_destroy(&late);
}

/*  Answers queued requests that waited longer than max_wait (503) or passed their
    deadline (504): the oldest are at the head. Then requests held by slots past
    their deadline, and probes of the slots that hold one for long. */
static void s_on_expiry(dc_broker_t *self)
{
    int64_t now = s_now_us(), limit = now - (int64_t)self->cfg.max_wait_ms * 1000;
    for (s_service_t *svc = zhashx_first(self->services); svc; svc = zhashx_next(self->services)) {
        s_request_t *req;
        while ((req = zlistx_first(svc->queue)) &&
               (req->queued_us < limit || req->deadline_us < now)) {
            zlistx_detach(svc->queue, NULL);
            svc->queued_us += s_since_snapshot(self, req->queued_us, now);
            char reason[128];
            if (req->deadline_us < now) {
                snprintf(reason, sizeof reason, "no reply within the request timeout (%d ms)",
                         self->cfg.request_timeout_ms);
                self->n.timed_out++;
            } else
                snprintf(reason, sizeof reason, "%s after %d ms in the queue",
                         svc->slots ? "no slot free" : "no instance of this service",
                         self->cfg.max_wait_ms);
            s_reply_error(self, svc, req->client, svc->name,
                          req->deadline_us < now ? DC_BROKER_STATUS_TIMEOUT : DC_SVC_UNAVAILABLE,
                          reason);
            s_request_destroy(&req);
        }
    }
    s_expire_requests(self, now);
    s_probe_busy(self, now);
}

typedef struct {
    size_t idle, queue;
    uint64_t busy_pct, served_per_s;
    double demand; /* requests in the service, served or queued, on average */
    uint32_t wait50, wait99, svc50, svc99; /* microseconds */
} s_snapshot_t;

static s_snapshot_t s_service_snapshot(dc_broker_t *self, s_service_t *svc, int64_t now)
{
    s_snapshot_t s = {.idle = zlistx_size(svc->idle), .queue = zlistx_size(svc->queue)};
    int64_t span = now - self->snapshot_us;
    for (s_slot_t *slot = zhashx_first(self->slots); slot; slot = zhashx_next(self->slots))
        if (slot->service == svc && slot->request)
            svc->busy_us += s_busy_since_snapshot(self, slot->request, now);
    for (s_request_t *req = zlistx_first(svc->queue); req; req = zlistx_next(svc->queue))
        svc->queued_us += s_since_snapshot(self, req->queued_us, now);
    /* Little's law: the average number in the service is its busy plus queued time over
       the interval. Unlike busy_pct it does not stop at 100 %: it says how many slots
       the load would keep busy. */
    s.demand = span > 0 ? (double)(svc->busy_us + svc->queued_us) / (double)span : 0;
    svc->demand = s.demand;
    s.busy_pct =
        svc->slots && span > 0 ? (uint64_t)(100 * svc->busy_us / (span * (int64_t)svc->slots)) : 0;
    if (s.busy_pct > 100)
        s.busy_pct = 100;
    s.served_per_s =
        span > 0 ? (svc->served - svc->served_at_snapshot) * 1000000 / (uint64_t)span : 0;
    const double q[] = {0.5, 0.99};
    uint32_t wait[2], service[2];
    dc_hist_quantiles(svc->wait_hist, now / 1000, q, wait, 2, NULL);
    dc_hist_quantiles(svc->service_hist, now / 1000, q, service, 2, NULL);
    s.wait50 = wait[0];
    s.wait99 = wait[1];
    s.svc50 = service[0];
    s.svc99 = service[1];
    return s;
}

static void s_log_saturation(s_service_t *svc, const s_snapshot_t *s)
{
    bool saturated = s->queue > 0 && svc->queue_max > 1 && s->busy_pct >= 90;
    if (saturated != svc->saturated)
        zsys_info("broker: %s %s (slots %zu, busy %" PRIu64 "%%, queue %zu, p99 wait %u ms)",
                  svc->name, saturated ? "is saturated: add instances of it" : "is keeping up",
                  svc->slots, s->busy_pct, s->queue, s->wait99 / 1000);
    svc->saturated = saturated;
}

enum { S_SERVICE_FIGURES = 15 };

/*  A service's figures, as they go to dc:stats:<service> and to /metrics
    (dc_broker_service_*{service="..."}), into out[S_SERVICE_FIGURES]. */
static void s_service_figures(s_service_t *svc, const s_snapshot_t *s, dc_figure_t *out)
{
    const dc_figure_t figures[] = {
        {DC_STATS_SVC_SLOTS, "dc_broker_service_slots", NULL, DC_FIGURE_COUNT, svc->slots},
        {DC_STATS_SVC_INSTANCES, "dc_broker_service_instances", NULL, DC_FIGURE_COUNT,
         zhashx_size(svc->instances)},
        {DC_STATS_SVC_IDLE, "dc_broker_service_idle", NULL, DC_FIGURE_COUNT, s->idle},
        {DC_STATS_SVC_BUSY_PCT, "dc_broker_service_busy_ratio", NULL, DC_FIGURE_PCT, s->busy_pct},
        {DC_STATS_SVC_DEMAND_PCT, "dc_broker_service_demand", NULL, DC_FIGURE_PCT,
         (uint64_t)(s->demand * 100 + 0.5)},
        {DC_STATS_SVC_QUEUE, "dc_broker_service_queue", NULL, DC_FIGURE_COUNT, s->queue},
        {DC_STATS_SVC_QUEUE_MAX, NULL, NULL, DC_FIGURE_COUNT, svc->queue_max},
        {DC_STATS_SVC_SERVED, "dc_broker_service_served_total", NULL, DC_FIGURE_COUNT, svc->served},
        {DC_STATS_SVC_SERVED_PER_S, NULL, NULL, DC_FIGURE_COUNT, s->served_per_s},
        {DC_STATS_SVC_ERRORS, "dc_broker_service_errors_total", NULL, DC_FIGURE_COUNT, svc->errors},
        {DC_STATS_SVC_WAIT_P50, "dc_broker_service_wait_seconds", "quantile=\"0.5\"", DC_FIGURE_US,
         s->wait50},
        {DC_STATS_SVC_WAIT_P99, "dc_broker_service_wait_seconds", "quantile=\"0.99\"", DC_FIGURE_US,
         s->wait99},
        {DC_STATS_SVC_SERVICE_P50, "dc_broker_service_time_seconds", "quantile=\"0.5\"",
         DC_FIGURE_US, s->svc50},
        {DC_STATS_SVC_SERVICE_P99, "dc_broker_service_time_seconds", "quantile=\"0.99\"",
         DC_FIGURE_US, s->svc99},
        {DC_STATS_TS_MS, NULL, NULL, DC_FIGURE_COUNT, (uint64_t)zclock_time()},
    };
    _Static_assert(sizeof figures / sizeof *figures == S_SERVICE_FIGURES, "S_SERVICE_FIGURES");
    memcpy(out, figures, sizeof figures);
}

/*  Writes a service's figures to dc:stats:<service>. */
static void s_publish_service(dc_broker_t *self, s_service_t *svc, const dc_figure_t *figures)
{
    if (!self->redis)
        return;
    zmsg_t *fields = zmsg_new();
    dc_figures_fields(figures, S_SERVICE_FIGURES, fields);
    char key[sizeof DC_STATS_KEY_PREFIX + DC_MDP_SERVICE_MAX];
    snprintf(key, sizeof key, DC_STATS_KEY_PREFIX "%s", svc->name);
    dc_redis_stats(self->redis, key, &fields);
}

static int64_t s_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_usec;
}

/*  This process's CPU use since the last snapshot, in % of one core (libzmq's I/O thread
    included, so it can pass 100). */
static uint64_t s_cpu_pct(dc_broker_t *self, int64_t now)
{
    int64_t cpu = s_cpu_us(), span = now - self->snapshot_us;
    uint64_t pct = span > 0 ? (uint64_t)(100 * (cpu - self->cpu_us_at_snapshot) / span) : 0;
    self->cpu_us_at_snapshot = cpu;
    return pct;
}

/*  The broker's own figures: to dc:stats:broker and to /metrics (with its drops). */
static void s_publish_broker(dc_broker_t *self, uint64_t cpu_pct, dc_buf_t *metrics)
{
    const dc_figure_t figures[] = {
        {DC_STATS_BROKER_CPU_PCT, "dc_broker_cpu_ratio", NULL, DC_FIGURE_PCT, cpu_pct},
        {DC_STATS_BROKER_REQUESTS, "dc_broker_requests_total", NULL, DC_FIGURE_COUNT,
         self->n.requests},
        {DC_STATS_BROKER_REPLIES, "dc_broker_replies_total", NULL, DC_FIGURE_COUNT,
         self->n.replies},
        /* in /metrics by kind and reason: dc_broker_dropped_total (dc_drops) */
        {DC_STATS_BROKER_DROPS, NULL, NULL, DC_FIGURE_COUNT, dc_drops_total(self->drops)},
        {DC_STATS_BROKER_REQUEUED, "dc_broker_requeued_total", NULL, DC_FIGURE_COUNT,
         self->n.requeued},
        {DC_STATS_BROKER_EXPIRED_SLOTS, "dc_broker_expired_slots_total", NULL, DC_FIGURE_COUNT,
         self->n.expired},
        {DC_STATS_BROKER_UNROUTABLE, "dc_broker_unroutable_total", NULL, DC_FIGURE_COUNT,
         self->n.unroutable},
        {DC_STATS_BROKER_LOST_SLOTS, "dc_broker_lost_slots_total", NULL, DC_FIGURE_COUNT,
         self->n.lost},
        {DC_STATS_BROKER_REQUEST_TIMEOUTS, "dc_broker_request_timeouts_total", NULL,
         DC_FIGURE_COUNT, self->n.timed_out},
        {DC_STATS_BROKER_LATE_REPLIES, "dc_broker_late_replies_total", NULL, DC_FIGURE_COUNT,
         self->n.late},
        {DC_STATS_BROKER_AUTH_REFUSED, "dc_broker_auth_refused_total", NULL, DC_FIGURE_COUNT,
         self->cfg.curve ? dc_curve_refused(self->cfg.curve) : 0},
        {NULL, "dc_broker_services", NULL, DC_FIGURE_COUNT, zhashx_size(self->services)},
        {DC_STATS_TS_MS, NULL, NULL, DC_FIGURE_COUNT, (uint64_t)zclock_time()},
    };
    const size_t count = sizeof figures / sizeof *figures;
    dc_figures_metrics(figures, count, 1, NULL, metrics);
    dc_drops_metrics(self->drops, NULL, metrics);
    if (!self->redis)
        return;
    zmsg_t *fields = zmsg_new();
    dc_figures_fields(figures, count, fields);
    dc_redis_stats(self->redis, DC_STATS_KEY_BROKER, &fields);
}

/*  Forgets the services that have had no slots and an empty queue for service_ttl_ms:
    their stats stop (and expire in Redis), so long-gone services leave the page. */
static void s_forget_services(dc_broker_t *self, int64_t now)
{
    zlistx_t *gone = zlistx_new();
    for (s_service_t *svc = zhashx_first(self->services); svc; svc = zhashx_next(self->services)) {
        if (svc->slots || zlistx_size(svc->queue))
            svc->empty_since_us = 0;
        else if (!svc->empty_since_us)
            svc->empty_since_us = now;
        else if (now - svc->empty_since_us >= (int64_t)self->cfg.service_ttl_ms * 1000)
            zlistx_add_end(gone, svc->name);
    }
    for (const char *name = zlistx_first(gone); name; name = zlistx_next(gone)) {
        char copy[DC_MDP_SERVICE_MAX + 1]; /* the key dies with its service */
        snprintf(copy, sizeof copy, "%s", name);
        zsys_info("broker: forgot service %s (no slots for %d ms)", copy, self->cfg.service_ttl_ms);
        zhashx_delete(self->services, copy);
    }
    zlistx_destroy(&gone);
}

/*  Every service's figures: to its dc:stats:<service>, and to /metrics (each family
    once, a sample per service); then a new stats interval begins. */
static void s_publish_services(dc_broker_t *self, int64_t now, dc_buf_t *metrics)
{
    size_t n = zhashx_size(self->services), i = 0;
    dc_figure_t *figures = calloc(n * S_SERVICE_FIGURES + 1, sizeof *figures);
    const char **names = calloc(n + 1, sizeof *names);
    assert(figures && names);
    for (s_service_t *svc = zhashx_first(self->services); svc; svc = zhashx_next(self->services)) {
        s_snapshot_t s = s_service_snapshot(self, svc, now);
        s_log_saturation(svc, &s);
        s_service_figures(svc, &s, &figures[i * S_SERVICE_FIGURES]);
        s_publish_service(self, svc, &figures[i * S_SERVICE_FIGURES]);
        names[i++] = svc->name;
        svc->queue_max = zlistx_size(svc->queue);
        svc->busy_us = 0;
        svc->queued_us = 0;
        svc->served_at_snapshot = svc->served;
    }
    dc_figures_metrics_by(figures, S_SERVICE_FIGURES, n, "service", names, metrics);
    free(names);
    free(figures);
}

/*  Once a second: the broker's figures and every service's, to Redis and /metrics. */
static void s_on_snapshot(dc_broker_t *self)
{
    int64_t now = s_now_us();
    s_forget_services(self, now);
    uint64_t cpu_pct = s_cpu_pct(self, now);
    dc_buf_t *metrics = dc_buf_new();
    s_publish_broker(self, cpu_pct, metrics);
    s_publish_services(self, now, metrics);
    char *all = dc_buf_detach(&metrics);
    dc_http_set_metrics(self->cfg.http, &all);
    free(all);
    self->snapshot_us = now;
}

dc_broker_t *dc_broker_new(const dc_broker_cfg_t *cfg)
{
    dc_broker_t *self = calloc(1, sizeof *self);
    assert(self);
    self->drops = dc_drops_new("broker");
    self->cfg = *cfg;
    self->router = zsock_new(ZMQ_ROUTER);
    zsock_set_router_mandatory(self->router, 1);
    zsock_set_sndtimeo(self->router, 0);
    zsock_set_rcvtimeo(self->router, 0);
    zsock_set_maxmsgsize(self->router, DC_MDP_FRAME_LIMIT);
    if ((cfg->curve && dc_curve_server(cfg->curve, self->router) != 0) ||
        zsock_attach(self->router, cfg->endpoint, true) != 0) {
        zsys_error("broker: cannot bind %s (port in use? see --bind / DC_BROKER_BIND)",
                   cfg->endpoint);
        dc_broker_destroy(&self);
        return NULL;
    }
    self->services = zhashx_new();
    zhashx_set_destructor(self->services, (zhashx_destructor_fn *)s_service_destroy);
    self->slots = zhashx_new();
    zhashx_set_destructor(self->slots, s_slot_free);
    if (cfg->redis && *cfg->redis)
        self->redis = dc_redis_new(cfg->redis, NULL, cfg->redis_password);
    self->snapshot_us = s_now_us();
    self->cpu_us_at_snapshot = s_cpu_us();
    zsys_info("broker: serving MDP/0.1 on %s (heartbeat %d ms, queue %zu, max wait %d ms, "
              "request timeout %d ms)",
              cfg->endpoint, cfg->heartbeat_ms, cfg->max_queue, cfg->max_wait_ms,
              cfg->request_timeout_ms);
    return self;
}

void dc_broker_destroy(dc_broker_t **self_p)
{
    if (self_p && *self_p) {
        dc_broker_t *self = *self_p;
        /* tell the slots to re-register with whoever comes next */
        if (self->slots)
            for (s_slot_t *slot = zhashx_first(self->slots); slot; slot = zhashx_next(self->slots))
                s_send_slot(self, slot, DC_MDPW_DISCONNECT, NULL, NULL);
        zhashx_destroy(&self->slots);
        zhashx_destroy(&self->services);
        dc_drops_destroy(&self->drops);
        dc_redis_destroy(&self->redis);
        zsock_destroy(&self->router);
        free(self);
        *self_p = NULL;
    }
}

/*  When each timer is due next (monotonic ms). */
typedef struct {
    int64_t heartbeat, expiry, snapshot;
} s_due_t;

/*  Runs the timers that are due, each again its interval after it ran; returns when the
    next one is due. */
static int64_t s_timers(dc_broker_t *self, s_due_t *due)
{
    int64_t now = zclock_mono();
    if (now >= due->heartbeat) {
        s_on_heartbeat(self);
        due->heartbeat = now + self->cfg.heartbeat_ms;
    }
    if (now >= due->expiry) {
        s_on_expiry(self);
        due->expiry = now + DC_BROKER_EXPIRY_TICK_MS;
    }
    if (now >= due->snapshot) {
        s_on_snapshot(self);
        due->snapshot = now + 1000;
    }
    int64_t next = due->heartbeat < due->expiry ? due->heartbeat : due->expiry;
    return next < due->snapshot ? next : due->snapshot;
}

/*  Waits for the ROUTER, the pipe and the next timer; false when the loop must end
    (interrupted, or "$TERM" on the pipe). */
static bool s_turn(dc_broker_t *self, zsock_t *pipe, s_due_t *due, bool *pipe_dirty)
{
    int64_t wake = s_timers(self, due);
    dc_poll_item_t items[2] = {{.sock = self->router, .dirty = self->router_dirty},
                               {.sock = pipe, .dirty = *pipe_dirty}};
    self->router_dirty = *pipe_dirty = false;
    int64_t now = zclock_mono();
    if (dc_poll_wait(items, 2, wake > now ? wake - now : 0) < 0)
        return false;
    if (items[1].readable) {
        char *cmd = zstr_recv(pipe);
        bool term = !cmd || streq(cmd, "$TERM");
        zstr_free(&cmd);
        if (term)
            return false;
        *pipe_dirty = true;
    }
    if (items[0].readable)
        s_on_router(self);
    return !zsys_interrupted;
}

/*  The actor's loop: until "$TERM" on pipe or SIGINT/SIGTERM. */
static void s_run(dc_broker_t *self, zsock_t *pipe)
{
    int64_t now = zclock_mono();
    s_due_t due = {.heartbeat = now + self->cfg.heartbeat_ms,
                   .expiry = now + DC_BROKER_EXPIRY_TICK_MS,
                   .snapshot = now + 1000};
    s_on_snapshot(self); /* /metrics answers from the start */
    dc_http_set_ready(self->cfg.http, true, NULL);
    bool pipe_dirty = true;
    self->router_dirty = true;
    while (s_turn(self, pipe, &due, &pipe_dirty))
        ;
    dc_http_set_ready(self->cfg.http, false, "shutting down");
}

void dc_broker_actor(zsock_t *pipe, void *args)
{
    dc_broker_t *self = dc_broker_new(args);
    dc_app_actor_started(pipe, self != NULL);
    if (self)
        s_run(self, pipe);
    dc_broker_destroy(&self);
}

/*  A minimal MDP worker for the test: a DEALER that has sent READY for service; the test
    reads its requests and answers them itself. */
static zsock_t *s_test_worker(const char *endpoint, const char *service)
{
    zsock_t *slot = zsock_new_dealer(endpoint);
    zmsg_t *msg = dc_mdp_worker_msg(NULL, DC_MDPW_READY, service, NULL, NULL);
    zmsg_send(&msg, slot);
    return slot;
}

/*  Answers heartbeats until a REQUEST arrives, as a live worker would. */
static void s_test_wait_request(zsock_t *worker, dc_mdp_msg_t *m)
{
    const char *reason;
    while (true) {
        zmsg_t *msg = zmsg_recv(worker);
        DC_CHECK(msg && dc_mdp_decode_for_worker(&msg, m, &reason) == 0);
        if (m->command == DC_MDPW_REQUEST)
            return;
        dc_mdp_msg_clear(m);
        msg = dc_mdp_worker_msg(NULL, DC_MDPW_HEARTBEAT, NULL, NULL, NULL);
        zmsg_send(&msg, worker);
    }
}

static zmsg_t *s_test_call(zsock_t *client, const char *service, const char *body)
{
    zmsg_t *b = zmsg_new();
    zmsg_addstr(b, body);
    zmsg_t *msg = dc_mdp_client_request(service, &b);
    zmsg_send(&msg, client);
    zmsg_t *reply = zmsg_recv(client);
    dc_mdp_msg_t m;
    const char *reason;
    DC_CHECK(reply && dc_mdp_decode_for_client(&reply, &m, &reason) == 0);
    zmsg_t *out = m.body;
    m.body = NULL;
    dc_mdp_msg_clear(&m);
    return out;
}

/*  Two slots of one instance, under a service name JSON must escape: mmi.stats counts
    two slots and one instance, and stays valid JSON. */
static void s_test_instances(zsock_t *client, const char *endpoint)
{
    zsock_t *slots[2];
    for (int i = 0; i < 2; i++) {
        slots[i] = zsock_new(ZMQ_DEALER);
        zsock_set_identity(slots[i], i ? "host-1-0000beef/1.0" : "host-1-0000beef/0.0");
        DC_CHECK(zsock_attach(slots[i], endpoint, false) == 0);
        zmsg_t *msg = dc_mdp_worker_msg(NULL, DC_MDPW_READY, "a\"b", NULL, NULL);
        zmsg_send(&msg, slots[i]);
    }
    char *json = NULL;
    for (int64_t end = zclock_mono() + 2000; zclock_mono() < end;) {
        zmsg_t *r = s_test_call(client, "mmi.stats", "");
        zstr_free(&json);
        json = zframe_strdup(zmsg_last(r));
        zmsg_destroy(&r);
        if (strstr(json, "\"a\\\"b\":{\"slots\":2,\"instances\":1,"))
            break;
        zclock_sleep(10);
    }
    DC_CHECK(strstr(json, "\"a\\\"b\":{\"slots\":2,\"instances\":1,"));
    zstr_free(&json);
    for (int i = 0; i < 2; i++)
        zsock_destroy(&slots[i]);

    char instance[64];
    zframe_t *id = zframe_from("host-1-0000beef/12.3");
    dc_broker_instance_of(id, instance, sizeof instance);
    DC_CHECK(streq(instance, "host-1-0000beef"));
    zframe_destroy(&id);
    byte binary[5] = {0, 0x6b, 0x8b, 0x45, 0x67};
    id = zframe_new(binary, sizeof binary);
    dc_broker_instance_of(id, instance, sizeof instance);
    DC_CHECK(streq(instance, "006B8B4567"));
    zframe_destroy(&id);
}

static bool s_test_stats_has(zsock_t *client, const char *needle)
{
    zmsg_t *r = s_test_call(client, "mmi.stats", "");
    char *json = zframe_strdup(zmsg_last(r));
    bool found = strstr(json, needle) != NULL;
    zstr_free(&json);
    zmsg_destroy(&r);
    return found;
}

/*  Asks mmi.stats until needle is in it (present) or not, by deadline (monotonic ms);
    past it the test fails, saying what it waited for. */
static void s_test_stats_until(zsock_t *client, const char *needle, bool present, int64_t deadline)
{
    while (s_test_stats_has(client, needle) != present) {
        if (zclock_mono() >= deadline) {
            fprintf(stderr, "broker test: mmi.stats still %s %s\n", present ? "lacks" : "shows",
                    needle);
            DC_CHECK(false);
        }
        zclock_sleep(10);
    }
}

/*  A service whose last slot left is listed for service_ttl_ms, then forgotten. */
static void s_test_forget(zsock_t *client, const char *endpoint, int ttl_ms)
{
    zsock_t *slot = s_test_worker(endpoint, "brief");
    s_test_stats_until(client, "\"brief\":{\"slots\":1", true, zclock_mono() + 3000);
    zmsg_t *msg = dc_mdp_worker_msg(NULL, DC_MDPW_DISCONNECT, NULL, NULL, NULL);
    zmsg_send(&msg, slot);
    int64_t left = zclock_mono();
    s_test_stats_until(client, "\"brief\":{\"slots\":0", true, left + 3000);
    /* checked on the 1 s snapshot: gone after the ttl, and not much later */
    s_test_stats_until(client, "\"brief\"", false, left + ttl_ms + 3000);
    DC_CHECK(zclock_mono() - left >= ttl_ms);
    zsock_destroy(&slot);
}

/*  A worker that holds a request without heartbeats is not expired by silence (it never
    beat while busy): it is dropped at the request's deadline, the client gets 504, and
    its late reply is counted. */
static void s_test_deadline(zsock_t *client, const char *endpoint, int timeout_ms)
{
    zsock_t *slot = s_test_worker(endpoint, "slow");
    zsock_set_rcvtimeo(slot, 2000);
    zmsg_t *b = zmsg_new();
    zmsg_addstr(b, "work");
    zmsg_t *msg = dc_mdp_client_request("slow", &b);
    int64_t sent = zclock_mono();
    zmsg_send(&msg, client);
    dc_mdp_msg_t m;
    const char *reason;
    s_test_wait_request(slot, &m); /* from now on it is silent, as a reference worker */
    msg = zmsg_recv(client);
    int64_t took = zclock_mono() - sent;
    dc_mdp_msg_t rm;
    DC_CHECK(msg && dc_mdp_decode_for_client(&msg, &rm, &reason) == 0);
    DC_CHECK(zframe_streq(zmsg_first(rm.body), "504"));
    dc_mdp_msg_clear(&rm);
    /* well past 3 heartbeats of 100 ms: silence while busy did not drop it */
    DC_CHECK(took >= timeout_ms - 50 && took < timeout_ms + 1000);
    zmsg_t *reply = zmsg_new();
    zmsg_addstr(reply, "200");
    msg = dc_mdp_worker_msg(NULL, DC_MDPW_REPLY, NULL, m.client, &reply);
    zmsg_send(&msg, slot);
    dc_mdp_msg_clear(&m);
    /* it was told DISCONNECT, and again for its late reply */
    while (true) {
        msg = zmsg_recv(slot);
        DC_CHECK(msg && dc_mdp_decode_for_worker(&msg, &m, &reason) == 0);
        int command = m.command;
        dc_mdp_msg_clear(&m);
        if (command == DC_MDPW_DISCONNECT)
            break;
    }
    zsock_destroy(&slot);
}

/*  "demand" in mmi.stats: the requests in a service, served or queued, averaged over the
    last 1 s snapshot. One worker holds a request and two more wait for it: a whole
    interval later the demand is 3 (busy_pct alone would only say 100 %). */
static double s_test_demand_of(zsock_t *client, const char *service)
{
    zmsg_t *r = s_test_call(client, "mmi.stats", "");
    char *json = zframe_strdup(zmsg_last(r));
    char key[64];
    snprintf(key, sizeof key, "\"%s\":{", service);
    const char *at = strstr(json, key);
    const char *d = at ? strstr(at, "\"demand\":") : NULL;
    double demand = d ? atof(d + strlen("\"demand\":")) : -1;
    zstr_free(&json);
    zmsg_destroy(&r);
    return demand;
}

/*  A broker actor of cfg on endpoint, and a client connected to it. */
static zactor_t *s_test_broker(dc_broker_cfg_t cfg, const char *endpoint, zsock_t **client)
{
    char bind[128];
    snprintf(bind, sizeof bind, "@%s", endpoint);
    cfg.endpoint = bind;
    zactor_t *broker = dc_app_actor_new(dc_broker_actor, &cfg);
    DC_CHECK(broker);
    *client = zsock_new_dealer(endpoint);
    DC_CHECK(*client);
    zsock_set_rcvtimeo(*client, 2000);
    zsock_set_linger(*client, 0);
    return broker;
}

/*  The demand test's broker: 1 s heartbeats, requests may wait 8 s in the queue. */
static void s_test_demand(dc_broker_cfg_t cfg)
{
    cfg.heartbeat_ms = 1000;
    cfg.max_queue = 10;
    cfg.max_wait_ms = cfg.request_timeout_ms = 8000;
    cfg.service_ttl_ms = 10000;
    zsock_t *client;
    zactor_t *broker = s_test_broker(cfg, "inproc://dc-broker-demand", &client);
    zsock_t *slot = s_test_worker(">inproc://dc-broker-demand", "load");
    zsock_set_rcvtimeo(slot, 2000);
    zsock_set_linger(slot, 0);
    for (int i = 0; i < 3; i++) {
        zmsg_t *b = zmsg_new();
        zmsg_addstr(b, "work");
        zmsg_t *msg = dc_mdp_client_request("load", &b);
        zmsg_send(&msg, client);
    }
    dc_mdp_msg_t m;
    s_test_wait_request(slot, &m); /* it holds the first; the other two stay queued */
    dc_mdp_msg_clear(&m);
    double demand = 0, most = 0;
    for (int64_t end = zclock_mono() + 4000; zclock_mono() < end && demand < 2.9;) {
        demand = s_test_demand_of(client, "load");
        most = demand > most ? demand : most;
        zclock_sleep(50);
    }
    DC_CHECK(demand >= 2.9 && most <= 3.05);
    zsock_destroy(&slot);
    zsock_destroy(&client);
    zactor_destroy(&broker);
}

void dc_broker_test(bool verbose)
{
    if (verbose)
        printf(" * dc_broker: ");
    dc_broker_cfg_t cfg = {.heartbeat_ms = 100,
                           .max_queue = 2,
                           .max_wait_ms = 300,
                           .request_timeout_ms = 1200,
                           .service_ttl_ms = 1500};
    zsock_t *client;
    zactor_t *broker = s_test_broker(cfg, "inproc://dc-broker-test", &client);

    /* MMI: no worker yet */
    zmsg_t *r = s_test_call(client, "mmi.service", "echo");
    DC_CHECK(zframe_streq(zmsg_first(r), "404"));
    zmsg_destroy(&r);
    /* no worker: an error reply after max_wait, not silence */
    r = s_test_call(client, "echo", "x");
    DC_CHECK(zframe_streq(zmsg_first(r), "503"));
    zmsg_destroy(&r);

    /* a worker that takes a request and dies: the request goes to the next worker */
    zsock_t *w1 = s_test_worker(">inproc://dc-broker-test", "echo");
    zsock_set_rcvtimeo(w1, 2000);
    zmsg_t *b = zmsg_new();
    zmsg_addstr(b, "hello");
    zmsg_t *msg = dc_mdp_client_request("echo", &b);
    zmsg_send(&msg, client);
    dc_mdp_msg_t m;
    const char *reason;
    s_test_wait_request(w1, &m);
    dc_mdp_msg_clear(&m);
    zsock_destroy(&w1); /* dies silently with the request */
    zsock_t *w2 = s_test_worker(">inproc://dc-broker-test", "echo");
    zsock_set_rcvtimeo(w2, 2000);
    s_test_wait_request(w2, &m);
    DC_CHECK(zframe_streq(zmsg_first(m.body), "hello"));
    zmsg_t *reply = zmsg_new();
    zmsg_addstr(reply, "200");
    zmsg_addstr(reply, "olleh");
    msg = dc_mdp_worker_msg(NULL, DC_MDPW_REPLY, NULL, m.client, &reply);
    zmsg_send(&msg, w2);
    dc_mdp_msg_clear(&m);
    msg = zmsg_recv(client);
    DC_CHECK(msg && dc_mdp_decode_for_client(&msg, &m, &reason) == 0);
    DC_CHECK(streq(m.service, "echo") && zframe_streq(zmsg_last(m.body), "olleh"));
    dc_mdp_msg_clear(&m);

    r = s_test_call(client, "mmi.service", "echo");
    DC_CHECK(zframe_streq(zmsg_first(r), "200"));
    zmsg_destroy(&r);
    r = s_test_call(client, "mmi.nope", "");
    DC_CHECK(zframe_streq(zmsg_first(r), "501"));
    zmsg_destroy(&r);

    /* garbage is dropped, the broker keeps serving */
    zstr_send(client, "garbage");
    r = s_test_call(client, "mmi.stats", "");
    char *json = zframe_strdup(zmsg_last(r));
    DC_CHECK(zframe_streq(zmsg_first(r), "200") && strstr(json, "\"echo\""));
    zstr_free(&json);
    zmsg_destroy(&r);

    s_test_instances(client, ">inproc://dc-broker-test");
    s_test_deadline(client, ">inproc://dc-broker-test", cfg.request_timeout_ms);
    s_test_forget(client, ">inproc://dc-broker-test", cfg.service_ttl_ms);
    s_test_demand(cfg);
    zsock_destroy(&w2);
    zsock_destroy(&client);
    zactor_destroy(&broker);
    if (verbose)
        printf("OK\n");
}
