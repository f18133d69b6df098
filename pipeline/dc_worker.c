/*  dc_worker: see the header. A job interrupted by SIGTERM (or "$TERM" on the actor's
    pipe) is simply not answered: the dispatcher re-issues it after its deadline, so
    stopping a worker never loses a job.
    Jobs in flight: each job runs in a lane (its own MDP client, so its replies come on
    its own socket): pause, rng call, hasher call, result. One lane by default with a
    pause per job (the workshop's loop); in raw mode several, so the round trips of
    several jobs overlap. One dc_poll waits on every socket and every lane's next deadline.
    Credit: the worker sends READY (capacity, jobs held, jobs received so far) when it
    starts, after every job with one lane (after every second job with four: half the
    lanes), at once when a lane is free and no job waits, and once a second while idle; from
    that the dispatcher knows how many more jobs it may send. Each result is kept until
    the dispatcher acknowledges that it is durable in Redis (ACK), and sent again every
    resend_ms (5 s) until then, for 30 min at most, so a result survives a dispatcher
    crash. See proto/jobs.md. */
#include "dc_worker.h"
#include "dc_app.h"
#include "dc_check.h"
#include "dc_client.h"
#include "dc_figures.h"
#include "dc_job.h"
#include "dc_mdp.h"
#include "dc_poll.h"
#include "dc_svc.h"
#include "dc_testrig.h"

#include <assert.h>
#include <inttypes.h>
#include <sodium.h>

#define DC_WORKER_READY_MS 1000     /* READY at least this often while idle */
#define DC_WORKER_RESEND_MS 5000    /* a result not acknowledged by then is sent again */
#define DC_WORKER_KEEP_MS 1800000   /* ... for 30 min at most (the ledger keeps 1 h) */
#define DC_WORKER_UNACKED_MAX 65536 /* results kept at most: past that, no new jobs */
#define DC_WORKER_SCAN_MS 500
#define DC_WORKER_METRICS_MS 100 /* /metrics at most this old: 1 s rates read right */

/*  A result sent and not yet acknowledged. */
typedef struct {
    zmsg_t *msg;
    uint32_t hashes, coins;
    int64_t first_ms, sent_ms;
} s_unacked_t;

typedef struct {
    uint64_t jobs, hashes, coins, failed;
    uint64_t acked_hashes, acked_coins, resent, expired;
} s_counters_t;

/*  What a lane is doing. */
typedef enum { S_FREE, S_PAUSE, S_RNG, S_HASHER } s_stage_t;

/*  One job in flight, and the client it calls rng and hasher with. */
typedef struct {
    dc_client_t *client;
    s_stage_t stage;
    dc_job_t job;
    dc_result_t r;
    int64_t start_us; /* the job's start (its pause included) */
    int64_t call_us;  /* the current call's start */
    int64_t pause_ms; /* S_PAUSE: when the pause ends (monotonic) */
    zmsg_t *req;      /* the request of the call in progress (hasher's holds rng's bytes) */
    bool dirty;       /* its client's socket was used since the last wait (see dc_poll) */
} s_lane_t;

struct _dc_worker_t {
    dc_worker_cfg_t cfg;
    zsock_t *jobs;
    zsock_t *results;
    s_lane_t *lanes;
    int nlanes;
    int lanes_now; /* lanes that take jobs: all for one-hash jobs, 1 for batched ones */
    int busy;      /* lanes not free */
    int ended;     /* jobs ended (or refused) since the last READY */
    bool results_dirty, jobs_dirty, pipe_dirty; /* sent or received on since the last
                                                   wait: dc_poll must ask them */
    int ready_every; /* ... that make the next READY: half the lanes, at least 1 */
    dc_drops_t
        *drops;    /* messages refused (jobs, ACKs, the client's replies), by the one drop rule */
    zsock_t *pipe; /* the actor's: a message on it stops the worker */
    s_counters_t n;
    uint64_t received; /* messages received on the job connection */
    uint32_t held;     /* jobs received, not yet answered */
    int64_t next_ready;
    int64_t next_metrics;
    zhashx_t *unacked; /* job id (hex) -> s_unacked_t */
    int64_t next_scan;
    bool full_logged;
};

static void s_unacked_free(void **item)
{
    s_unacked_t *u = *item;
    zmsg_destroy(&u->msg);
    free(u);
    *item = NULL;
}

dc_worker_t *dc_worker_new(const dc_worker_cfg_t *cfg)
{
    dc_worker_t *self = calloc(1, sizeof *self);
    assert(self);
    self->drops = dc_drops_new("worker");
    self->cfg = *cfg;
    if (self->cfg.resend_ms <= 0)
        self->cfg.resend_ms = DC_WORKER_RESEND_MS;
    self->jobs = zsock_new(ZMQ_DEALER);
    zsock_set_maxmsgsize(self->jobs, 1024);
    zsock_set_sndhwm(self->jobs, 10); /* READYs only: while no dispatcher, a few wait */
    zsock_set_sndtimeo(self->jobs, 0);
    self->results = zsock_new(ZMQ_DEALER);
    zsock_set_linger(self->results, 300); /* a last result may still leave */
    zsock_set_sndtimeo(self->results, 0); /* one that cannot leave now is sent again later */
    zsock_set_rcvtimeo(self->results, 0); /* ACKs are read when the poll says they are there */
    zsock_set_maxmsgsize(self->results, 1024 * 1024);
    self->unacked = zhashx_new();
    zhashx_set_destructor(self->unacked, s_unacked_free);
    if ((cfg->curve && (dc_curve_client(cfg->curve, self->jobs, "dispatcher") != 0 ||
                        dc_curve_client(cfg->curve, self->results, "dispatcher") != 0)) ||
        zsock_attach(self->jobs, cfg->jobs, false) != 0 ||
        zsock_attach(self->results, cfg->results, false) != 0) {
        zsys_error("worker: bad dispatcher endpoint '%s' or '%s' (see --jobs, --results)",
                   cfg->jobs, cfg->results);
        dc_worker_destroy(&self);
        return NULL;
    }
    zsock_set_rcvtimeo(self->jobs, 0); /* jobs are read when a lane is free, never waited for */
    self->nlanes = cfg->in_flight < 1                         ? 1
                   : cfg->in_flight > DC_WORKER_IN_FLIGHT_MAX ? DC_WORKER_IN_FLIGHT_MAX
                                                              : cfg->in_flight;
    self->lanes_now = self->nlanes;
    self->ready_every = self->nlanes > 1 ? self->nlanes / 2 : 1;
    self->lanes = calloc((size_t)self->nlanes, sizeof *self->lanes);
    assert(self->lanes);
    for (int i = 0; i < self->nlanes; i++) {
        self->lanes[i].client = dc_client_new(cfg->broker, cfg->timeout_ms, cfg->curve);
        dc_client_set_drops(self->lanes[i].client, self->drops);
    }
    return self;
}

void dc_worker_destroy(dc_worker_t **self_p)
{
    if (self_p && *self_p) {
        dc_worker_t *self = *self_p;
        zsock_destroy(&self->jobs);
        zsock_destroy(&self->results);
        for (int i = 0; self->lanes && i < self->nlanes; i++) {
            dc_client_destroy(&self->lanes[i].client);
            zmsg_destroy(&self->lanes[i].req);
        }
        free(self->lanes);
        dc_drops_destroy(&self->drops);
        zhashx_destroy(&self->unacked);
        free(self);
        *self_p = NULL;
    }
}

/*  The payload of service's reply when it is a 200 of want_size bytes, else NULL: the
    reply is dropped by the one drop rule (message "rng reply" or "hasher reply", the
    reason the service's status and text, or what is wrong with the reply). */
static zframe_t *s_payload(dc_worker_t *self, const char *service, zmsg_t *body, size_t want_size)
{
    int status = 0;
    zframe_t *payload = NULL;
    const char *reason = "wrong payload size";
    if (dc_svc_reply_parse(body, &status, &payload, &reason) != 0 || status != DC_SVC_OK ||
        zframe_size(payload) != want_size) {
        char message[32], why[128];
        snprintf(message, sizeof message, "%s reply", service);
        if (status != DC_SVC_OK && zmsg_size(body) == 2) {
            char *text = zframe_strdup(zmsg_last(body));
            snprintf(why, sizeof why, "status %d: %s", status, text);
            free(text);
        } else
            snprintf(why, sizeof why, "%s", reason);
        dc_drops_add(self->drops, message, why, NULL);
        zmsg_destroy(&body);
        return NULL;
    }
    zmsg_remove(body, payload);
    zmsg_destroy(&body);
    return payload;
}

/*  The coins: the random bytes of each loop whose digest's first byte (all that hasher
    sent back) is below 0x10, i.e. whose hex digest starts with '0', back to back in one
    frame. */
static zframe_t *s_coins(zframe_t *bytes, zframe_t *firsts, uint32_t batch)
{
    const byte *first = zframe_data(firsts);
    size_t n = 0;
    for (uint32_t i = 0; i < batch; i++)
        n += dc_svc_is_coin_bin(first + i);
    zframe_t *coins = zframe_new(NULL, n * DC_COIN_BYTES);
    byte *out = zframe_data(coins);
    for (uint32_t i = 0; i < batch; i++)
        if (dc_svc_is_coin_bin(first + i)) {
            memcpy(out, zframe_data(bytes) + (size_t)i * DC_WORKER_BYTES, DC_COIN_BYTES);
            out += DC_COIN_BYTES;
        }
    return coins;
}

static void s_send_copy(dc_worker_t *self, s_unacked_t *u)
{
    zmsg_t *copy = zmsg_dup(u->msg);
    self->results_dirty = true;
    if (zmsg_send(&copy, self->results) != 0)
        zmsg_destroy(&copy); /* no dispatcher now: sent again later */
    u->sent_ms = zclock_mono();
}

/*  Sends a result and keeps it until it is acknowledged. */
static void s_keep_and_send(dc_worker_t *self, const dc_result_t *r, zmsg_t *msg)
{
    s_unacked_t *u = calloc(1, sizeof *u);
    assert(u);
    u->msg = msg;
    u->hashes = r->hashes;
    u->coins = r->coins;
    u->first_ms = zclock_mono();
    char key[17];
    snprintf(key, sizeof key, "%016" PRIx64, r->job_id);
    zhashx_update(self->unacked, key, u); /* the same job done twice: the newer result */
    s_send_copy(self, u);
}

/*  An ACK: these results are durable, forget them. */
static void s_on_ack(dc_worker_t *self, zmsg_t *msg)
{
    uint32_t count;
    const char *reason;
    if (dc_ack_decode(msg, &count, &reason) != 0) {
        dc_drops_add(self->drops, "ACK", reason, NULL);
        zmsg_destroy(&msg);
        return;
    }
    for (uint32_t i = 0; i < count; i++) {
        char key[17];
        snprintf(key, sizeof key, "%016" PRIx64, dc_ack_id(msg, i));
        s_unacked_t *u = zhashx_lookup(self->unacked, key);
        if (u) {
            self->n.acked_hashes += u->hashes;
            self->n.acked_coins += u->coins;
            zhashx_delete(self->unacked, key);
        }
    }
    zmsg_destroy(&msg);
}

/*  Reads every ACK waiting (the results connection's receive timeout is 0). */
static void s_drain_acks(dc_worker_t *self)
{
    zmsg_t *msg;
    self->results_dirty = true;
    while ((msg = zmsg_recv(self->results)))
        s_on_ack(self, msg);
}

/*  Sends again what is not acknowledged after resend_ms; gives up on what is 30 min old. */
static void s_scan_unacked(dc_worker_t *self)
{
    int64_t now = zclock_mono();
    zlistx_t *expired = zlistx_new();
    for (s_unacked_t *u = zhashx_first(self->unacked); u; u = zhashx_next(self->unacked)) {
        if (now - u->first_ms > DC_WORKER_KEEP_MS)
            zlistx_add_end(expired, (void *)zhashx_cursor(self->unacked));
        else if (now - u->sent_ms >= self->cfg.resend_ms) {
            s_send_copy(self, u);
            self->n.resent++;
        }
    }
    for (const char *key = zlistx_first(expired); key; key = zlistx_next(expired)) {
        self->n.expired++;
        zhashx_delete(self->unacked, key);
    }
    if (zlistx_size(expired))
        zsys_error("worker: gave up on %zu results never acknowledged in 30 min",
                   zlistx_size(expired));
    zlistx_destroy(&expired);
    self->next_scan = now + DC_WORKER_SCAN_MS;
}

/*  The lane is done with its job (answered or not): it takes the next one. */
static void s_lane_free(dc_worker_t *self, s_lane_t *lane, bool failed)
{
    if (failed)
        self->n.failed++;
    zmsg_destroy(&lane->req);
    lane->stage = S_FREE;
    self->busy--;
    self->held--;
    self->ended++;
}

static void s_lane_call_rng(s_lane_t *lane)
{
    lane->req = dc_svc_rng_request(DC_WORKER_BYTES, lane->job.batch);
    lane->stage = S_RNG;
    lane->call_us = zclock_usecs();
    lane->dirty = true;
    dc_client_send(lane->client, "rng", lane->req);
}

/*  A job received: its pause first (workshop mode), or its rng call at once. */
static void s_lane_start(dc_worker_t *self, s_lane_t *lane, const dc_job_t *job)
{
    lane->job = *job;
    lane->r = (dc_result_t){.job_id = job->id, .hashes = job->batch};
    snprintf(lane->r.worker, sizeof lane->r.worker, "%s", self->cfg.id);
    lane->start_us = zclock_usecs();
    self->busy++;
    self->held++;
    if (self->cfg.delay_ms > 0) {
        lane->stage = S_PAUSE;
        lane->pause_ms = zclock_mono() + self->cfg.delay_ms;
    } else
        s_lane_call_rng(lane);
}

/*  rng answered: its bytes go on to hasher in the frame they came in; back comes the
    first byte of each digest, all the coin test needs. */
static void s_lane_on_rng(dc_worker_t *self, s_lane_t *lane, zmsg_t *body)
{
    lane->r.rng_us = (uint32_t)(zclock_usecs() - lane->call_us);
    zmsg_destroy(&lane->req);
    zframe_t *bytes = s_payload(self, "rng", body, (size_t)DC_WORKER_BYTES * lane->job.batch);
    if (!bytes) {
        s_lane_free(self, lane, true);
        return;
    }
    lane->req = dc_svc_hasher_request_bin(&bytes, DC_WORKER_BYTES, 1);
    lane->stage = S_HASHER;
    lane->call_us = zclock_usecs();
    lane->dirty = true;
    dc_client_send(lane->client, "hasher", lane->req);
}

/*  hasher answered: the coins, the result, sent and kept until acknowledged. */
static void s_lane_on_hasher(dc_worker_t *self, s_lane_t *lane, zmsg_t *body)
{
    lane->r.hasher_us = (uint32_t)(zclock_usecs() - lane->call_us);
    zframe_t *firsts = s_payload(self, "hasher", body, lane->job.batch);
    if (!firsts) {
        s_lane_free(self, lane, true);
        return;
    }
    zframe_t *coins = s_coins(zmsg_first(lane->req), firsts, lane->job.batch);
    zframe_destroy(&firsts);
    lane->r.coins = (uint32_t)(zframe_size(coins) / DC_COIN_BYTES);
    self->n.coins += lane->r.coins;
    lane->r.loop_us = (uint32_t)(zclock_usecs() - lane->start_us);
    zmsg_t *msg = dc_result_encode(&lane->r, &coins);
    s_keep_and_send(self, &lane->r, msg);
    self->n.jobs++;
    self->n.hashes += lane->job.batch;
    s_lane_free(self, lane, false);
}

/*  Moves a busy lane on: its pause over, or its client's socket readable or due. */
static void s_lane_step(dc_worker_t *self, s_lane_t *lane, int64_t now_ms)
{
    if (lane->stage == S_PAUSE) {
        if (now_ms >= lane->pause_ms)
            s_lane_call_rng(lane);
        return;
    }
    lane->dirty = true;
    zmsg_t *body = dc_client_step(lane->client);
    if (!body)
        return;
    if (lane->stage == S_RNG)
        s_lane_on_rng(self, lane, body);
    else
        s_lane_on_hasher(self, lane, body);
}

/*  When the lane next needs a step without input (monotonic ms). */
static int64_t s_lane_wake_ms(s_lane_t *lane)
{
    if (lane->stage == S_FREE)
        return INT64_MAX;
    return lane->stage == S_PAUSE ? lane->pause_ms : dc_client_wake_ms(lane->client);
}

static int64_t s_oldest_unacked_ms(dc_worker_t *self)
{
    int64_t now = zclock_mono(), oldest = now;
    for (s_unacked_t *u = zhashx_first(self->unacked); u; u = zhashx_next(self->unacked))
        if (u->first_ms < oldest)
            oldest = u->first_ms;
    return now - oldest;
}

/*  /metrics, from one table of figures (common/dc_figures: each family with its # TYPE),
    then the drops; and /readyz: up while the broker answers (or before the first call). */
static void s_metrics(dc_worker_t *self)
{
    dc_client_counters_t all = {0}, *c = &all;
    bool connected = false;
    for (int i = 0; i < self->nlanes; i++) {
        const dc_client_counters_t *one = dc_client_counters(self->lanes[i].client);
        all.calls += one->calls;
        all.timeouts += one->timeouts;
        all.unavailable += one->unavailable;
        all.reconnects += one->reconnects;
        connected = connected || dc_client_connected(self->lanes[i].client);
    }
    const dc_figure_t figures[] = {
        {NULL, "dc_worker_jobs_total", NULL, DC_FIGURE_COUNT, (double)self->n.jobs},
        {NULL, "dc_worker_hashes_total", NULL, DC_FIGURE_COUNT, (double)self->n.hashes},
        {NULL, "dc_worker_coins_total", NULL, DC_FIGURE_COUNT, (double)self->n.coins},
        {NULL, "dc_worker_failed_jobs_total", NULL, DC_FIGURE_COUNT, (double)self->n.failed},
        {NULL, "dc_worker_broker_timeouts_total", NULL, DC_FIGURE_COUNT, (double)c->timeouts},
        {NULL, "dc_worker_broker_unavailable_total", NULL, DC_FIGURE_COUNT, (double)c->unavailable},
        {NULL, "dc_worker_acked_hashes_total", NULL, DC_FIGURE_COUNT, (double)self->n.acked_hashes},
        {NULL, "dc_worker_acked_coins_total", NULL, DC_FIGURE_COUNT, (double)self->n.acked_coins},
        {NULL, "dc_worker_results_unacked", NULL, DC_FIGURE_COUNT,
         (double)zhashx_size(self->unacked)},
        {NULL, "dc_worker_results_resent_total", NULL, DC_FIGURE_COUNT, (double)self->n.resent},
        {NULL, "dc_worker_results_expired_total", NULL, DC_FIGURE_COUNT, (double)self->n.expired},
        {NULL, "dc_worker_oldest_unacked_ms", NULL, DC_FIGURE_COUNT,
         (double)s_oldest_unacked_ms(self)},
    };
    dc_buf_t *out = dc_buf_new();
    dc_figures_metrics(figures, sizeof figures / sizeof *figures, 1, NULL, out);
    dc_drops_metrics(self->drops, NULL, out);
    char *text = dc_buf_detach(&out);
    dc_http_set_metrics(self->cfg.http, &text);
    bool up = connected || c->calls == 0;
    dc_http_set_ready(self->cfg.http, up, "broker not answering");
}

/*  Jobs this worker may hold: --credit, or by default twice the lanes that take jobs
    now (a batched job already carries thousands of hashes: those run one at a time,
    with 2 held, as with one lane). */
static int s_capacity(dc_worker_t *self)
{
    return self->cfg.credit > 0 ? self->cfg.credit : 2 * self->lanes_now;
}

/*  Tells the dispatcher how many jobs this worker may take; a READY that cannot leave
    now (no dispatcher) is simply not sent: the next one says the same, newer. */
static void s_ready(dc_worker_t *self)
{
    dc_ready_t ready = {
        .capacity = (uint32_t)s_capacity(self), .held = self->held, .received = self->received};
    snprintf(ready.worker, sizeof ready.worker, "%s", self->cfg.id);
    snprintf(ready.track, sizeof ready.track, "%s",
             self->cfg.track ? self->cfg.track : DC_TRACK_DEFAULT);
    zmsg_t *msg = dc_ready_encode(&ready);
    self->jobs_dirty = true;
    if (zmsg_send(&msg, self->jobs) != 0)
        zmsg_destroy(&msg);
    self->ended = 0;
    self->next_ready = zclock_mono() + DC_WORKER_READY_MS;
}

/*  Takes the jobs waiting on the job connection while a lane is free; false when a lane
    is left free because none was waiting. */
static bool s_take_jobs(dc_worker_t *self)
{
    for (int i = 0; i < self->nlanes && self->busy < self->lanes_now; i++) {
        s_lane_t *lane = &self->lanes[i];
        if (lane->stage != S_FREE)
            continue;
        self->jobs_dirty = true;
        zmsg_t *msg = zmsg_recv(self->jobs);
        if (!msg)
            return false; /* none waiting */
        self->received++; /* whatever it holds, the dispatcher counted it as sent */
        dc_job_t job;
        const char *reason;
        if (dc_job_decode(msg, &job, &reason) == 0) {
            int lanes = job.batch > 1 ? 1 : self->nlanes;
            if (lanes != self->lanes_now)
                self->ended++; /* a READY soon: the capacity changes */
            self->lanes_now = lanes;
            s_lane_start(self, lane, &job);
        } else {
            dc_drops_add(self->drops, "job", reason, NULL);
            self->ended++;
            i--; /* the lane is still free */
        }
        zmsg_destroy(&msg);
    }
    return true;
}

/*  What a wait found readable. */
typedef struct {
    bool results, pipe, jobs;
    bool lane[DC_WORKER_IN_FLIGHT_MAX];
} s_woken_t;

/*  Waits for the next thing to do: a message on any socket, a lane's deadline, or the
    worker's own timers (200 ms at most). dc_poll asks only the sockets that may have
    changed for their events (each question is a system call pair in libzmq): those
    whose descriptor fired, and those marked dirty after a send or receive. */
static s_woken_t s_wait(dc_worker_t *self, bool take_jobs)
{
    dc_poll_item_t items[3 + DC_WORKER_IN_FLIGHT_MAX];
    int lane_at[DC_WORKER_IN_FLIGHT_MAX];
    int n = 0, jobs_at = -1;
    items[n++] = (dc_poll_item_t){.sock = self->results, .dirty = self->results_dirty};
    self->results_dirty = false;
    items[n++] = (dc_poll_item_t){.sock = self->pipe, .dirty = self->pipe_dirty};
    self->pipe_dirty = false;
    if (take_jobs) {
        jobs_at = n;
        items[n++] = (dc_poll_item_t){.sock = self->jobs, .dirty = self->jobs_dirty};
        self->jobs_dirty = false;
    }
    int64_t now = zclock_mono(), wake = now + 200;
    wake = self->next_scan < wake ? self->next_scan : wake;
    wake = self->next_ready < wake ? self->next_ready : wake;
    wake = self->next_metrics < wake ? self->next_metrics : wake;
    for (int i = 0; i < self->nlanes; i++) {
        s_lane_t *lane = &self->lanes[i];
        int64_t at = s_lane_wake_ms(lane);
        wake = at < wake ? at : wake;
        lane_at[i] = -1;
        if (lane->stage == S_RNG || lane->stage == S_HASHER) {
            lane_at[i] = n;
            items[n++] =
                (dc_poll_item_t){.sock = dc_client_socket(lane->client), .dirty = lane->dirty};
            lane->dirty = false;
        }
    }
    s_woken_t woken = {.pipe = false};
    int rc = dc_poll_wait(items, (size_t)n, wake > now ? wake - now : 0);
    if (rc <= 0)
        return woken;
    woken.results = items[0].readable;
    woken.pipe = items[1].readable;
    woken.jobs = jobs_at >= 0 && items[jobs_at].readable;
    for (int i = 0; i < self->nlanes; i++)
        woken.lane[i] = lane_at[i] >= 0 && items[lane_at[i]].readable;
    return woken;
}

/*  The actor's loop: until "$TERM" on pipe or SIGINT/SIGTERM. */
static void s_run(dc_worker_t *self, zsock_t *pipe)
{
    self->pipe = pipe;
    self->results_dirty = self->jobs_dirty = self->pipe_dirty = true;
    zsys_info("worker %s: track %s, jobs from %s (credit %d, %d in flight), results to %s, "
              "broker %s, pause %d ms",
              self->cfg.id, self->cfg.track ? self->cfg.track : DC_TRACK_DEFAULT, self->cfg.jobs,
              s_capacity(self), self->nlanes, self->cfg.results, self->cfg.broker,
              self->cfg.delay_ms);
    s_ready(self);
    while (!zsys_interrupted) {
        bool full = zhashx_size(self->unacked) >= DC_WORKER_UNACKED_MAX;
        if (full != self->full_logged)
            zsys_warning("worker %s: %s", self->cfg.id,
                         full ? "65,536 results await acknowledgement: no new jobs until some "
                                "are acknowledged"
                              : "results acknowledged again: taking jobs");
        self->full_logged = full;
        s_woken_t woken = s_wait(self, !full && self->busy < self->lanes_now);
        if (woken.pipe || zsys_interrupted)
            break;
        if (woken.results)
            s_drain_acks(self);
        int64_t now = zclock_mono();
        int busy = self->busy;
        for (int i = 0; i < self->nlanes; i++) {
            s_lane_t *lane = &self->lanes[i];
            if (lane->stage != S_FREE && (woken.lane[i] || now >= s_lane_wake_ms(lane)))
                s_lane_step(self, lane, now);
        }
        bool starving = !full && (woken.jobs || self->busy < busy) && !s_take_jobs(self);
        now = zclock_mono();
        if (now >= self->next_scan)
            s_scan_unacked(self);
        /* READY after every ready_every jobs, at once when a lane waits for a job, and
           once a second: with several lanes, jobs that end close together share one */
        if (self->ended >= self->ready_every || (starving && self->ended) ||
            now >= self->next_ready)
            s_ready(self);
        if (now >= self->next_metrics) {
            s_metrics(self);
            self->next_metrics = now + DC_WORKER_METRICS_MS;
        }
    }
    dc_http_set_ready(self->cfg.http, false, "shutting down");
    if (zhashx_size(self->unacked))
        zsys_info("worker %s: %zu results not yet acknowledged (durable unless the dispatcher "
                  "is lost too)",
                  self->cfg.id, zhashx_size(self->unacked));
    zsys_info("worker %s: stopped after %" PRIu64 " jobs, %" PRIu64 " hashes, %" PRIu64 " coins",
              self->cfg.id, self->n.jobs, self->n.hashes, self->n.coins);
}

void dc_worker_actor(zsock_t *pipe, void *args)
{
    dc_worker_t *self = dc_worker_new(args);
    dc_app_actor_started(pipe, self != NULL);
    if (self)
        s_run(self, pipe);
    dc_worker_destroy(&self);
}

/*  The test plays the dispatcher: a READY from `worker` on jobs (its routing id in rid). */
static void s_test_ready(zsock_t *jobs, const char *worker, zframe_t **rid, dc_ready_t *ready)
{
    while (true) {
        zmsg_t *msg = zmsg_recv(jobs);
        DC_CHECK(msg);
        zframe_t *from = zmsg_pop(msg);
        const char *reason;
        DC_CHECK(dc_ready_decode(msg, ready, &reason) == 0);
        zmsg_destroy(&msg);
        if (streq(ready->worker, worker)) {
            zframe_destroy(rid);
            *rid = from;
            return;
        }
        zframe_destroy(&from);
    }
}

static void s_test_job(zsock_t *jobs, zframe_t *rid, uint64_t id, uint32_t batch)
{
    dc_job_t job = {.id = id, .batch = batch};
    zmsg_t *msg = dc_job_encode(&job);
    zmsg_pushmem(msg, zframe_data(rid), zframe_size(rid));
    DC_CHECK(zmsg_send(&msg, jobs) == 0);
}

/*  The next RESULT on results: decoded (which checks every coin), its sender in rid. */
static void s_test_result(zsock_t *results, dc_result_t *r, zframe_t **rid)
{
    zmsg_t *msg = zmsg_recv(results);
    DC_CHECK(msg);
    zframe_destroy(rid);
    *rid = zmsg_pop(msg);
    const char *reason = "";
    int rc = dc_result_decode(msg, r, &reason);
    if (rc != 0)
        fprintf(stderr, "worker test: %s\n", reason);
    DC_CHECK(rc == 0);
    DC_CHECK(zmsg_size(msg) == (r->coins ? 3u : 2u));
    zmsg_destroy(&msg);
}

/*  The worker's /metrics, once it shows the job dropped by s_test_jobs: Prometheus text
    as dc_figures_check reads it, with the job answered and the drop counted. */
static void s_test_metrics(dc_http_t *http)
{
    /* /metrics is refreshed every DC_WORKER_METRICS_MS */
    char *body =
        dc_figures_test_fetch(dc_http_port(http), "dc_worker_dropped_total{", 5000, "worker test");
    DC_CHECK(strstr(body, "# TYPE dc_worker_jobs_total counter\ndc_worker_jobs_total 1\n"));
    DC_CHECK(strstr(body, "# TYPE dc_worker_results_unacked gauge\ndc_worker_results_unacked 0\n"));
    DC_CHECK(strstr(body, "dc_worker_hashes_total 256\n"));
    DC_CHECK(strstr(body, "dc_worker_dropped_total{message=\"job\","));
    free(body);
}

/*  A worker against a real broker, rng and hasher, and a dispatcher played by the test:
    READY with its credit, a job answered with its hashes and verified coins, sent again
    until acknowledged and not after, a malformed job dropped and counted as received,
    and all of it in its /metrics. */
static void s_test_jobs(zsock_t *jobs, zsock_t *results)
{
    dc_testrig_t *rig = dc_testrig_new("@inproc://dc-worker-test-broker", 2);
    DC_CHECK(rig);
    dc_worker_cfg_t cfg = {.broker = ">inproc://dc-worker-test-broker",
                           .jobs = ">inproc://dc-worker-test-jobs",
                           .results = ">inproc://dc-worker-test-results",
                           .id = "w-real",
                           .credit = 2,
                           .timeout_ms = 2000,
                           .resend_ms = 300,
                           .http = dc_http_new("127.0.0.1:0")};
    DC_CHECK(cfg.http);
    zactor_t *worker = dc_app_actor_new(dc_worker_actor, &cfg);
    DC_CHECK(worker);
    zframe_t *rid = NULL, *from = NULL;
    dc_ready_t ready;
    s_test_ready(jobs, "w-real", &rid, &ready);
    DC_CHECK(ready.capacity == 2 && ready.held == 0 && ready.received == 0);
    DC_CHECK(streq(ready.track, DC_TRACK_DEFAULT));

    int64_t t_job = zclock_mono();
    s_test_job(jobs, rid, 0x0000abcd00000001ULL, 256);
    dc_result_t r, again;
    s_test_result(results, &r, &from);
    DC_CHECK(r.job_id == 0x0000abcd00000001ULL && r.hashes == 256 && streq(r.worker, "w-real"));
    DC_CHECK(r.coins > 0 && r.coins < 64); /* 1 in 16 digests starts with '0' */
    DC_CHECK(r.loop_us >= r.rng_us + r.hasher_us);
    /* not acknowledged: the same result again, resend_ms after it was first sent */
    s_test_result(results, &again, &from);
    DC_CHECK(again.job_id == r.job_id && again.coins == r.coins);
    DC_CHECK(zclock_mono() - t_job >= 300);
    uint64_t id = r.job_id;
    zmsg_t *ack = dc_ack_encode(&id, 1);
    zmsg_pushmem(ack, zframe_data(from), zframe_size(from));
    DC_CHECK(zmsg_send(&ack, results) == 0);
    /* acknowledged: never again (three resend periods and a scan) */
    zpoller_t *poller = zpoller_new(results, NULL);
    for (int64_t end = zclock_mono() + 1500; zclock_mono() < end;) {
        if (zpoller_wait(poller, 100) == results) {
            s_test_result(results, &again, &from);
            DC_CHECK(again.job_id != id); /* a copy sent before the ACK landed, at most */
        }
    }
    zpoller_destroy(&poller);

    /* garbage on the job connection: dropped, counted as received */
    zmsg_t *bad = zmsg_new();
    zmsg_addmem(bad, zframe_data(rid), zframe_size(rid));
    zmsg_addstr(bad, "not a job");
    DC_CHECK(zmsg_send(&bad, jobs) == 0);
    do
        s_test_ready(jobs, "w-real", &rid, &ready);
    while (ready.received < 2);
    DC_CHECK(ready.received == 2 && ready.held == 0);
    s_test_metrics(cfg.http);
    zframe_destroy(&rid);
    zframe_destroy(&from);
    zactor_destroy(&worker);
    dc_http_destroy(&cfg.http);
    dc_testrig_destroy(&rig);
}

/*  Several jobs in flight: six jobs sent at once to a worker with three lanes all come
    back answered (their coins verified), and its READYs show more than one job held at
    once, never more than its lanes. Batched jobs then run one at a time, and its
    capacity drops from 6 to 2. */
static void s_test_in_flight(zsock_t *jobs, zsock_t *results)
{
    dc_testrig_t *rig = dc_testrig_new("@inproc://dc-worker-test-lanes", 2);
    DC_CHECK(rig);
    dc_worker_cfg_t cfg = {.broker = ">inproc://dc-worker-test-lanes",
                           .jobs = ">inproc://dc-worker-test-jobs",
                           .results = ">inproc://dc-worker-test-results",
                           .id = "w-lanes",
                           .in_flight = 3, /* credit: twice that */
                           .timeout_ms = 2000,
                           .resend_ms = 60000}; /* no copies of unacknowledged results */
    zactor_t *worker = dc_app_actor_new(dc_worker_actor, &cfg);
    DC_CHECK(worker);
    zframe_t *rid = NULL, *from = NULL;
    dc_ready_t ready;
    s_test_ready(jobs, "w-lanes", &rid, &ready);
    DC_CHECK(ready.capacity == 6 && ready.held == 0);
    for (uint64_t i = 1; i <= 6; i++)
        s_test_job(jobs, rid, 0x0000abcd00000100ULL + i, 1);
    bool seen[7] = {false};
    for (int got = 0; got < 6; got++) {
        dc_result_t r;
        s_test_result(results, &r, &from);
        uint64_t n = r.job_id - 0x0000abcd00000100ULL;
        DC_CHECK(n >= 1 && n <= 6 && r.hashes == 1 && !seen[n]);
        seen[n] = true;
    }
    uint32_t most = 0;
    do {
        s_test_ready(jobs, "w-lanes", &rid, &ready);
        DC_CHECK(ready.held <= 3);
        most = ready.held > most ? ready.held : most;
    } while (ready.received < 6 || ready.held > 0);
    DC_CHECK(most >= 2);
    /* batched jobs: one at a time, and the capacity drops to 2 */
    for (uint64_t i = 7; i <= 8; i++)
        s_test_job(jobs, rid, 0x0000abcd00000100ULL + i, 16);
    for (int got = 0; got < 2; got++) {
        dc_result_t r;
        s_test_result(results, &r, &from);
        DC_CHECK(r.hashes == 16);
    }
    do {
        s_test_ready(jobs, "w-lanes", &rid, &ready);
        DC_CHECK(ready.held <= 1 || ready.capacity == 6);
    } while (ready.received < 8 || ready.held > 0);
    DC_CHECK(ready.capacity == 2);
    zframe_destroy(&rid);
    zframe_destroy(&from);
    zactor_destroy(&worker);
    dc_testrig_destroy(&rig);
}

/*  A worker stopped in the middle of a job (its rng call taken by a broker that never
    answers): it stops at once and sends no result for that job. */
static void s_test_stop(zsock_t *jobs, zsock_t *results)
{
    zsock_t *broker = zsock_new(ZMQ_ROUTER);
    DC_CHECK(zsock_bind(broker, "inproc://dc-worker-test-mute") == 0);
    zsock_set_rcvtimeo(broker, 5000);
    dc_worker_cfg_t cfg = {.broker = ">inproc://dc-worker-test-mute",
                           .jobs = ">inproc://dc-worker-test-jobs",
                           .results = ">inproc://dc-worker-test-results",
                           .id = "w-stop",
                           .track = "canary",
                           .credit = 1,
                           .delay_ms = 50,
                           .timeout_ms = 5000};
    zactor_t *worker = dc_app_actor_new(dc_worker_actor, &cfg);
    DC_CHECK(worker);
    zframe_t *rid = NULL;
    dc_ready_t ready;
    s_test_ready(jobs, "w-stop", &rid, &ready);
    DC_CHECK(ready.capacity == 1 && streq(ready.track, "canary"));
    s_test_job(jobs, rid, 0x0000abcd00000002ULL, 1);
    zmsg_t *request = zmsg_recv(broker); /* the worker is in its rng call */
    DC_CHECK(request);
    zmsg_destroy(&request);
    int64_t t0 = zclock_mono();
    zactor_destroy(&worker);
    int64_t took = zclock_mono() - t0;
    DC_CHECK(took < 500); /* the 5 s call timeout did not run out */
    DC_CHECK(!(zsock_events(results) & ZMQ_POLLIN));
    zframe_destroy(&rid);
    zsock_destroy(&broker);
}

void dc_worker_test(bool verbose)
{
    if (verbose)
        printf(" * dc_worker: ");
    DC_CHECK(sodium_init() >= 0);
    zsock_t *jobs = zsock_new(ZMQ_ROUTER);
    zsock_t *results = zsock_new(ZMQ_ROUTER);
    DC_CHECK(zsock_bind(jobs, "inproc://dc-worker-test-jobs") == 0);
    DC_CHECK(zsock_bind(results, "inproc://dc-worker-test-results") == 0);
    zsock_set_rcvtimeo(jobs, 5000);
    zsock_set_rcvtimeo(results, 5000);
    s_test_stop(jobs, results);
    s_test_jobs(jobs, results);
    s_test_in_flight(jobs, results);
    zsock_destroy(&results);
    zsock_destroy(&jobs);
    if (verbose)
        printf("OK\n");
}
