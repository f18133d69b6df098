/*  dc_worker: see the header. A job interrupted by SIGTERM is simply not answered: the
    dispatcher re-issues it after its timeout, so stopping a worker never loses a job. */
#include "dc_worker.h"
#include "dc_client.h"
#include "dc_job.h"
#include "dc_mdp.h"
#include "dc_svc.h"

#include <assert.h>
#include <inttypes.h>

typedef struct {
    uint64_t jobs, hashes, coins, failed, drops;
} s_counters_t;

struct _dc_worker_t {
    dc_worker_cfg_t cfg;
    zsock_t *jobs;
    zsock_t *results;
    dc_client_t *client;
    s_counters_t n;
    int64_t next_metrics;
};

dc_worker_t *dc_worker_new(const dc_worker_cfg_t *cfg)
{
    dc_worker_t *self = calloc(1, sizeof *self);
    assert(self);
    self->cfg = *cfg;
    self->jobs = zsock_new(ZMQ_PULL);
    zsock_set_rcvhwm(self->jobs, 1);
    zsock_set_maxmsgsize(self->jobs, 1024);
    self->results = zsock_new(ZMQ_PUSH);
    zsock_set_linger(self->results, 300); /* a last result may still leave */
    zsock_set_sndtimeo(self->results, 500);
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
    return self;
}

void dc_worker_destroy(dc_worker_t **self_p)
{
    if (self_p && *self_p) {
        dc_worker_t *self = *self_p;
        zsock_destroy(&self->jobs);
        zsock_destroy(&self->results);
        dc_client_destroy(&self->client);
        free(self);
        *self_p = NULL;
    }
}

/*  Calls service and checks the payload size; NULL when interrupted or refused. */
static zframe_t *s_call(dc_worker_t *self, const char *service, zmsg_t **request_p,
                        size_t want_size, uint32_t *elapsed_us)
{
    int64_t t0 = zclock_usecs();
    zmsg_t *body = dc_client_call(self->client, service, *request_p);
    zmsg_destroy(request_p);
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

/*  Picks the coins: digests (64 hex characters each) that start with '0'. */
static zmsg_t *s_coins(zframe_t *bytes, zframe_t *hex, uint32_t batch)
{
    zmsg_t *coins = zmsg_new();
    for (uint32_t i = 0; i < batch; i++) {
        const char *digest = (const char *)zframe_data(hex) + (size_t)i * DC_HEX_DIGEST_LEN;
        if (!dc_svc_is_coin(digest))
            continue;
        zmsg_addmem(coins, digest, DC_HEX_DIGEST_LEN);
        zmsg_addmem(coins, zframe_data(bytes) + (size_t)i * DC_WORKER_BYTES, DC_WORKER_BYTES);
    }
    return coins;
}

static void s_pause(int ms)
{
    for (int64_t end = zclock_mono() + ms; !zsys_interrupted && zclock_mono() < end;)
        zclock_sleep(ms < 20 ? ms : 20);
}

static void s_do_job(dc_worker_t *self, const dc_job_t *job)
{
    int64_t t0 = zclock_usecs();
    dc_result_t r = {.job_id = job->id, .hashes = job->batch};
    snprintf(r.worker, sizeof r.worker, "%s", self->cfg.id);
    s_pause(self->cfg.delay_ms);
    zmsg_t *req = dc_svc_rng_request(DC_WORKER_BYTES, job->batch);
    zframe_t *bytes = zsys_interrupted ? NULL
                                       : s_call(self, "rng", &req,
                                                (size_t)DC_WORKER_BYTES * job->batch, &r.rng_us);
    zmsg_destroy(&req);
    if (!bytes) {
        self->n.failed++;
        return;
    }
    req = dc_svc_hasher_request(zframe_data(bytes), zframe_size(bytes), DC_WORKER_BYTES);
    zframe_t *hex =
        s_call(self, "hasher", &req, (size_t)DC_HEX_DIGEST_LEN * job->batch, &r.hasher_us);
    if (hex) {
        zmsg_t *coins = s_coins(bytes, hex, job->batch);
        self->n.coins += zmsg_size(coins) / 2;
        r.loop_us = (uint32_t)(zclock_usecs() - t0);
        zmsg_t *msg = dc_result_encode(&r, &coins);
        if (zmsg_send(&msg, self->results) != 0) {
            zmsg_destroy(&msg);
            self->n.failed++;
        } else {
            self->n.jobs++;
            self->n.hashes += job->batch;
        }
    } else
        self->n.failed++;
    zframe_destroy(&bytes);
    zframe_destroy(&hex);
}

static void s_metrics(dc_worker_t *self)
{
    const dc_client_counters_t *c = dc_client_counters(self->client);
    char *text = zsys_sprintf(
        "dc_worker_jobs_total %" PRIu64 "\ndc_worker_hashes_total %" PRIu64 "\n"
        "dc_worker_coins_total %" PRIu64 "\ndc_worker_failed_jobs_total %" PRIu64 "\n"
        "dc_worker_dropped_jobs_total %" PRIu64 "\ndc_worker_broker_timeouts_total %" PRIu64 "\n"
        "dc_worker_broker_unavailable_total %" PRIu64 "\n",
        self->n.jobs, self->n.hashes, self->n.coins, self->n.failed, self->n.drops, c->timeouts,
        c->unavailable);
    dc_http_set_metrics(self->cfg.http, &text);
    bool up = dc_client_connected(self->client) || c->calls == 0;
    dc_http_set_ready(self->cfg.http, up, "broker not answering");
}

static void s_on_job(dc_worker_t *self)
{
    zmsg_t *msg = zmsg_recv(self->jobs);
    dc_job_t job;
    const char *reason;
    if (msg && dc_job_decode(msg, &job, &reason) == 0)
        s_do_job(self, &job);
    else if (msg) {
        self->n.drops++;
        zsys_warning("worker: dropped a job message: %s", reason);
    }
    zmsg_destroy(&msg);
}

int dc_worker_run(dc_worker_t *self)
{
    zsys_info("worker %s: jobs from %s, results to %s, broker %s, pause %d ms", self->cfg.id,
              self->cfg.jobs, self->cfg.results, self->cfg.broker, self->cfg.delay_ms);
    zpoller_t *poller = zpoller_new(self->jobs, NULL);
    while (!zsys_interrupted) {
        if (zpoller_wait(poller, 200) == self->jobs)
            s_on_job(self);
        if (zclock_mono() >= self->next_metrics) {
            s_metrics(self);
            self->next_metrics = zclock_mono() + 1000;
        }
    }
    zpoller_destroy(&poller);
    dc_http_set_ready(self->cfg.http, false, "shutting down");
    zsys_info("worker %s: stopped after %" PRIu64 " jobs, %" PRIu64 " hashes, %" PRIu64 " coins",
              self->cfg.id, self->n.jobs, self->n.hashes, self->n.coins);
    return 0;
}
