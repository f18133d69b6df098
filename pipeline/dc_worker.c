/*  dc_worker: see the header. A job interrupted by SIGTERM (or "$TERM" on the actor's
    pipe, which the client's waits and the pause watch too) is simply not answered: the
    dispatcher re-issues it after its deadline, so stopping a worker never loses a job.
    Credit: the worker sends READY (capacity, jobs held, jobs received so far) when it
    starts, after each job, and once a second while idle; from that the dispatcher knows
    how many more jobs it may send. Each result is kept until the dispatcher acknowledges
    that it is durable in Redis (ACK), and sent again every 5 s until then, so a result
    survives a dispatcher crash. See proto/jobs.md. */
#include "dc_worker.h"
#include "dc_app.h"
#include "dc_check.h"
#include "dc_client.h"
#include "dc_job.h"
#include "dc_mdp.h"
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

struct _dc_worker_t {
    dc_worker_cfg_t cfg;
    zsock_t *jobs;
    zsock_t *results;
    dc_client_t *client;
    dc_drops_t
        *drops;    /* messages refused (jobs, ACKs, the client's replies), by the one drop rule */
    zsock_t *pipe; /* the actor's, or NULL: a message on it stops the worker */
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
    self->client = dc_client_new(cfg->broker, cfg->timeout_ms, cfg->curve);
    dc_client_set_drops(self->client, self->drops);
    return self;
}

void dc_worker_destroy(dc_worker_t **self_p)
{
    if (self_p && *self_p) {
        dc_worker_t *self = *self_p;
        zsock_destroy(&self->jobs);
        zsock_destroy(&self->results);
        dc_client_destroy(&self->client);
        dc_drops_destroy(&self->drops);
        zhashx_destroy(&self->unacked);
        free(self);
        *self_p = NULL;
    }
}

/*  Calls service and checks the payload size; NULL when interrupted or refused. The
    request stays the caller's. */
static zframe_t *s_call(dc_worker_t *self, const char *service, zmsg_t *request, size_t want_size,
                        uint32_t *elapsed_us)
{
    int64_t t0 = zclock_usecs();
    zmsg_t *body = dc_client_call(self->client, service, request);
    *elapsed_us = (uint32_t)(zclock_usecs() - t0);
    if (!body)
        return NULL;
    int status = 0;
    zframe_t *payload = NULL;
    const char *reason = "wrong payload size";
    if (dc_svc_reply_parse(body, &status, &payload, &reason) != 0 || status != DC_SVC_OK ||
        zframe_size(payload) != want_size) {
        char *why = status != DC_SVC_OK && zmsg_size(body) == 2 ? zframe_strdup(zmsg_last(body))
                                                                : strdup(reason);
        zsys_error("worker: %s refused the job (status %d: %s)", service, status, why);
        free(why);
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

static bool s_stopping(dc_worker_t *self)
{
    return zsys_interrupted || (self->pipe && (zsock_events(self->pipe) & ZMQ_POLLIN));
}

static void s_pause(dc_worker_t *self, int ms)
{
    zpoller_t *poller = self->pipe ? zpoller_new(self->pipe, NULL) : NULL;
    for (int64_t end = zclock_mono() + ms; !s_stopping(self) && zclock_mono() < end;) {
        int64_t left = end - zclock_mono();
        if (poller)
            zpoller_wait(poller, (int)(left < 20 ? left : 20));
        else
            zclock_sleep((int)(left < 20 ? left : 20));
    }
    zpoller_destroy(&poller);
}

static void s_send_copy(dc_worker_t *self, s_unacked_t *u)
{
    zmsg_t *copy = zmsg_dup(u->msg);
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
static void s_on_ack(dc_worker_t *self)
{
    zmsg_t *msg = zmsg_recv(self->results);
    uint32_t count;
    const char *reason;
    if (!msg || dc_ack_decode(msg, &count, &reason) != 0) {
        dc_drops_add(self->drops, "ACK", msg ? reason : "interrupted", NULL);
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

static void s_drain_acks(dc_worker_t *self)
{
    while (!s_stopping(self) && (zsock_events(self->results) & ZMQ_POLLIN))
        s_on_ack(self);
}

/*  Sends again what is not acknowledged after 5 s; gives up on what is 30 min old. */
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

static void s_do_job(dc_worker_t *self, const dc_job_t *job)
{
    int64_t t0 = zclock_usecs();
    dc_result_t r = {.job_id = job->id, .hashes = job->batch};
    snprintf(r.worker, sizeof r.worker, "%s", self->cfg.id);
    s_pause(self, self->cfg.delay_ms);
    zmsg_t *req = dc_svc_rng_request(DC_WORKER_BYTES, job->batch);
    zframe_t *bytes = s_stopping(self) ? NULL
                                       : s_call(self, "rng", req,
                                                (size_t)DC_WORKER_BYTES * job->batch, &r.rng_us);
    zmsg_destroy(&req);
    if (!bytes) {
        self->n.failed++;
        return;
    }
    /* the random bytes go on to hasher in the frame they came in; back comes the first
       byte of each digest, all the coin test needs */
    req = dc_svc_hasher_request_bin(&bytes, DC_WORKER_BYTES, 1);
    zframe_t *firsts = s_call(self, "hasher", req, job->batch, &r.hasher_us);
    if (firsts) {
        zframe_t *coins = s_coins(zmsg_first(req), firsts, job->batch);
        r.coins = (uint32_t)(zframe_size(coins) / DC_COIN_BYTES);
        self->n.coins += r.coins;
        r.loop_us = (uint32_t)(zclock_usecs() - t0);
        zmsg_t *msg = dc_result_encode(&r, &coins);
        s_keep_and_send(self, &r, msg);
        self->n.jobs++;
        self->n.hashes += job->batch;
    } else
        self->n.failed++;
    zmsg_destroy(&req);
    zframe_destroy(&firsts);
}

static int64_t s_oldest_unacked_ms(dc_worker_t *self)
{
    int64_t now = zclock_mono(), oldest = now;
    for (s_unacked_t *u = zhashx_first(self->unacked); u; u = zhashx_next(self->unacked))
        if (u->first_ms < oldest)
            oldest = u->first_ms;
    return now - oldest;
}

static void s_metrics(dc_worker_t *self)
{
    const dc_client_counters_t *c = dc_client_counters(self->client);
    dc_buf_t *out = dc_buf_new();
    dc_buf_printf(
        out,
        "dc_worker_jobs_total %" PRIu64 "\ndc_worker_hashes_total %" PRIu64 "\n"
        "dc_worker_coins_total %" PRIu64 "\ndc_worker_failed_jobs_total %" PRIu64 "\n"
        "dc_worker_broker_timeouts_total %" PRIu64 "\n"
        "dc_worker_broker_unavailable_total %" PRIu64 "\n"
        "dc_worker_acked_hashes_total %" PRIu64 "\ndc_worker_acked_coins_total %" PRIu64 "\n"
        "dc_worker_results_unacked %zu\ndc_worker_results_resent_total %" PRIu64 "\n"
        "dc_worker_results_expired_total %" PRIu64 "\n"
        "dc_worker_oldest_unacked_ms %" PRId64 "\n",
        self->n.jobs, self->n.hashes, self->n.coins, self->n.failed, c->timeouts, c->unavailable,
        self->n.acked_hashes, self->n.acked_coins, zhashx_size(self->unacked), self->n.resent,
        self->n.expired, s_oldest_unacked_ms(self));
    dc_drops_metrics(self->drops, NULL, out);
    char *text = dc_buf_detach(&out);
    dc_http_set_metrics(self->cfg.http, &text);
    bool up = dc_client_connected(self->client) || c->calls == 0;
    dc_http_set_ready(self->cfg.http, up, "broker not answering");
}

/*  Tells the dispatcher how many jobs this worker may take; a READY that cannot leave
    now (no dispatcher) is simply not sent: the next one says the same, newer. */
static void s_ready(dc_worker_t *self)
{
    dc_ready_t ready = {
        .capacity = (uint32_t)self->cfg.credit, .held = self->held, .received = self->received};
    snprintf(ready.worker, sizeof ready.worker, "%s", self->cfg.id);
    snprintf(ready.track, sizeof ready.track, "%s",
             self->cfg.track ? self->cfg.track : DC_TRACK_DEFAULT);
    zmsg_t *msg = dc_ready_encode(&ready);
    if (zmsg_send(&msg, self->jobs) != 0)
        zmsg_destroy(&msg);
    self->next_ready = zclock_mono() + DC_WORKER_READY_MS;
}

static void s_on_job(dc_worker_t *self)
{
    zmsg_t *msg = zmsg_recv(self->jobs);
    if (!msg)
        return;
    self->received++; /* whatever it holds, the dispatcher counted it as sent */
    dc_job_t job;
    const char *reason;
    if (dc_job_decode(msg, &job, &reason) == 0) {
        self->held++;
        s_do_job(self, &job);
        self->held--;
    } else {
        dc_drops_add(self->drops, "job", reason, NULL);
    }
    zmsg_destroy(&msg);
    s_ready(self);
}

int dc_worker_run(dc_worker_t *self, zsock_t *pipe)
{
    self->pipe = pipe;
    dc_client_set_stop(self->client, pipe);
    zsys_info("worker %s: track %s, jobs from %s (credit %d), results to %s, broker %s, pause "
              "%d ms",
              self->cfg.id, self->cfg.track ? self->cfg.track : DC_TRACK_DEFAULT, self->cfg.jobs,
              self->cfg.credit, self->cfg.results, self->cfg.broker, self->cfg.delay_ms);
    zpoller_t *poller = zpoller_new(self->jobs, self->results, pipe, NULL);
    zpoller_t *acks_only = zpoller_new(self->results, pipe, NULL);
    s_ready(self);
    while (!s_stopping(self)) {
        bool full = zhashx_size(self->unacked) >= DC_WORKER_UNACKED_MAX;
        if (full != self->full_logged)
            zsys_warning("worker %s: %s", self->cfg.id,
                         full ? "65,536 results await acknowledgement: no new jobs until some "
                                "are acknowledged"
                              : "results acknowledged again: taking jobs");
        self->full_logged = full;
        void *which = zpoller_wait(full ? acks_only : poller, 200);
        s_drain_acks(self);
        if (which == self->jobs)
            s_on_job(self);
        if (zclock_mono() >= self->next_scan)
            s_scan_unacked(self);
        if (zclock_mono() >= self->next_ready)
            s_ready(self);
        if (zclock_mono() >= self->next_metrics) {
            s_metrics(self);
            self->next_metrics = zclock_mono() + 1000;
        }
    }
    zpoller_destroy(&poller);
    zpoller_destroy(&acks_only);
    dc_http_set_ready(self->cfg.http, false, "shutting down");
    if (zhashx_size(self->unacked))
        zsys_info("worker %s: %zu results not yet acknowledged (durable unless the dispatcher "
                  "is lost too)",
                  self->cfg.id, zhashx_size(self->unacked));
    zsys_info("worker %s: stopped after %" PRIu64 " jobs, %" PRIu64 " hashes, %" PRIu64 " coins",
              self->cfg.id, self->n.jobs, self->n.hashes, self->n.coins);
    return 0;
}

void dc_worker_actor(zsock_t *pipe, void *args)
{
    dc_worker_t *self = dc_worker_new(args);
    dc_app_actor_started(pipe, self != NULL);
    if (self)
        dc_worker_run(self, pipe);
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

/*  A worker against a real broker, rng and hasher, and a dispatcher played by the test:
    READY with its credit, a job answered with its hashes and verified coins, sent again
    until acknowledged and not after, a malformed job dropped and counted as received. */
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
                           .resend_ms = 300};
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
    zsock_destroy(&results);
    zsock_destroy(&jobs);
    if (verbose)
        printf("OK\n");
}
