/*  dc_dispatcher: see the header. Job ids carry a random epoch in their high 32 bits, so a
    result meant for an earlier dispatcher process is recognised and not counted twice.
    PUSH round-robins and blocks at its high-water mark: the small HWM on both ends plus
    the window bound how much work can sit in pipes, and a late job is simply re-issued. */
#include "dc_dispatcher.h"
#include "dc_hist.h"
#include "dc_job.h"
#include "dc_redis.h"

#include <assert.h>
#include <inttypes.h>
#include <sodium.h>

#define DC_DISPATCHER_TICK_MS 20
#define DC_DISPATCHER_SPARE_JOBS 4
#define DC_DISPATCHER_WORKER_SEEN_MS 5000
#define DC_DISPATCHER_HIST_SAMPLES 8192
#define DC_DISPATCHER_HIST_WINDOW_MS 10000
#define DC_DISPATCHER_SERIES_KEY "dc:series" /* "ts_ms:hashes" once a second, for the webui */
#define DC_DISPATCHER_SERIES_KEEP 600        /* 10 minutes of samples */

typedef struct {
    uint64_t id;
    uint32_t batch;
    uint32_t attempt;
    int64_t issued_ms;
    int64_t first_ms;    /* when first issued */
    void *resend_handle; /* its place in the resend list, when due again */
} s_job_t;

typedef struct {
    uint64_t issued, counted, sent, reissued, duplicates, stale, drops;
    uint64_t hashes, coins;
} s_books_t;

struct _dc_dispatcher_t {
    dc_dispatcher_cfg_t cfg;
    zsock_t *push;
    zsock_t *pull;
    zloop_t *loop;
    dc_redis_t *redis;
    uint64_t epoch;
    uint64_t next_seq;
    zhashx_t *inflight; /* "%016" PRIx64 -> s_job_t */
    zlistx_t *resend;   /* s_job_t due for re-issue, oldest first */
    zhashx_t *seen;     /* worker id -> last result time (ms), as a heap int64 */
    dc_hist_t *loop_us, *rng_us, *hasher_us;
    s_books_t b;
    uint64_t unsent_hashes; /* counted, not yet handed to the Redis actor */
    zmsg_t *unsent_coins;
    uint64_t hashes_at_snapshot, counted_at_snapshot;
    int64_t snapshot_ms;
    bool paused; /* new jobs held back while Redis lags */
};

static void s_free(void **item)
{
    free(*item);
    *item = NULL;
}

static void s_key(uint64_t id, char key[17])
{
    snprintf(key, 17, "%016" PRIx64, id);
}

static void s_drop(dc_dispatcher_t *self, const char *reason)
{
    self->b.drops++;
    if (self->b.drops <= 10 || (self->b.drops & (self->b.drops - 1)) == 0)
        zsys_warning("dispatcher: dropped a result: %s (%" PRIu64 " drops so far)", reason,
                     self->b.drops);
}

/*  Sends one job without blocking; -1 when no worker can take it now. */
static int s_send_job(dc_dispatcher_t *self, s_job_t *job)
{
    dc_job_t j = {.id = job->id, .batch = job->batch, .attempt = job->attempt};
    zmsg_t *msg = dc_job_encode(&j);
    if (zmsg_send(&msg, self->push) != 0) {
        zmsg_destroy(&msg);
        return -1;
    }
    job->issued_ms = zclock_mono();
    self->b.sent++;
    return 0;
}

/*  Jobs allowed in flight: two per worker seen lately (one working, one waiting) plus a
    few for workers not seen yet, capped by --window. HWMs alone cannot bound this: over
    TCP, small messages pile up in kernel buffers that no high-water mark counts. */
static size_t s_window(dc_dispatcher_t *self)
{
    size_t want = 2 * zhashx_size(self->seen) + DC_DISPATCHER_SPARE_JOBS;
    return want < self->cfg.window ? want : self->cfg.window;
}

static bool s_may_issue_new(dc_dispatcher_t *self)
{
    dc_redis_status_t st;
    dc_redis_status(self->redis, &st);
    bool paused = st.pending_coins > self->cfg.max_pending_coins;
    if (paused != self->paused)
        zsys_warning("dispatcher: %s (%" PRIu64 " coins not yet in Redis)",
                     paused ? "Redis lags: new jobs paused until it catches up" : "jobs resume",
                     st.pending_coins);
    self->paused = paused;
    return !paused && zhashx_size(self->inflight) < s_window(self);
}

static int s_resend_due(dc_dispatcher_t *self)
{
    s_job_t *job;
    while ((job = zlistx_first(self->resend))) {
        if (s_send_job(self, job) != 0)
            return -1;
        zlistx_detach(self->resend, job->resend_handle);
        job->resend_handle = NULL;
    }
    return 0;
}

/*  Fills the pipes: re-issues first, then new jobs up to the window. */
static void s_fill(dc_dispatcher_t *self)
{
    if (s_resend_due(self) != 0)
        return;
    while (s_may_issue_new(self)) {
        s_job_t *job = calloc(1, sizeof *job);
        assert(job);
        job->id = self->epoch | (self->next_seq & 0xffffffffu);
        job->batch = self->cfg.batch;
        if (s_send_job(self, job) != 0) {
            free(job);
            return;
        }
        job->first_ms = job->issued_ms;
        self->next_seq++;
        self->b.issued++;
        char key[17];
        s_key(job->id, key);
        zhashx_insert(self->inflight, key, job);
    }
}

static void s_note_worker(dc_dispatcher_t *self, const dc_result_t *r, int64_t now)
{
    int64_t *last = zhashx_lookup(self->seen, r->worker);
    if (!last) {
        last = malloc(sizeof *last);
        zhashx_insert(self->seen, r->worker, last);
        zsys_info("dispatcher: worker %s joined", r->worker);
    }
    *last = now;
    dc_hist_add(self->loop_us, now, r->loop_us);
    dc_hist_add(self->rng_us, now, r->rng_us);
    dc_hist_add(self->hasher_us, now, r->hasher_us);
}

/*  Counts a valid result for an in-flight job: hashes and (re-verified) coins. */
static void s_count(dc_dispatcher_t *self, s_job_t *job, zmsg_t *msg, const dc_result_t *r)
{
    self->b.counted++;
    self->b.hashes += r->hashes;
    self->b.coins += r->coins;
    self->unsent_hashes += r->hashes;
    zmsg_first(msg);
    zmsg_next(msg); /* coins are the frames after the header and the worker id */
    for (zframe_t *f = zmsg_next(msg); f; f = zmsg_next(msg))
        zmsg_append(self->unsent_coins, &(zframe_t *){zframe_dup(f)});
    if (job->resend_handle)
        zlistx_delete(self->resend, job->resend_handle);
    char key[17];
    s_key(job->id, key);
    zhashx_delete(self->inflight, key);
}

static int s_on_result(zloop_t *loop, zsock_t *pull, void *arg)
{
    (void)loop;
    dc_dispatcher_t *self = arg;
    zmsg_t *msg = zmsg_recv(pull);
    if (!msg)
        return -1;
    dc_result_t r;
    const char *reason;
    char key[17];
    if (dc_result_decode(msg, &r, &reason) != 0)
        s_drop(self, reason);
    else {
        s_key(r.job_id, key);
        s_job_t *job = zhashx_lookup(self->inflight, key);
        if (job && job->batch == r.hashes) {
            s_note_worker(self, &r, zclock_mono());
            s_count(self, job, msg, &r);
        } else if (job)
            s_drop(self, "hash count differs from the job's batch");
        else if ((r.job_id & ~0xffffffffULL) == self->epoch &&
                 (r.job_id & 0xffffffffu) < (self->next_seq & 0xffffffffu))
            self->b.duplicates++; /* a re-issued job answered twice: counted once already */
        else
            self->b.stale++;
    }
    zmsg_destroy(&msg);
    s_fill(self);
    return 0;
}

/*  Jobs whose result is later than the timeout go to the resend list. */
static void s_check_timeouts(dc_dispatcher_t *self)
{
    int64_t limit = zclock_mono() - self->cfg.job_timeout_ms;
    for (s_job_t *job = zhashx_first(self->inflight); job; job = zhashx_next(self->inflight))
        if (!job->resend_handle && job->issued_ms < limit) {
            job->attempt++;
            self->b.reissued++;
            job->resend_handle = zlistx_add_end(self->resend, job);
            if (self->cfg.verbose)
                zsys_debug("dispatcher: job %016" PRIx64 " late, re-issuing", job->id);
        }
}

static void s_handoff(dc_dispatcher_t *self)
{
    if (self->unsent_hashes == 0 && zmsg_size(self->unsent_coins) == 0)
        return;
    dc_redis_count(self->redis, self->unsent_hashes, &self->unsent_coins);
    self->unsent_hashes = 0;
    self->unsent_coins = zmsg_new();
}

static int s_on_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    dc_dispatcher_t *self = arg;
    s_check_timeouts(self);
    s_handoff(self);
    s_fill(self);
    return 0;
}

static void s_add_field(zmsg_t *f, const char *name, uint64_t value)
{
    zmsg_addstr(f, name);
    zmsg_addstrf(f, "%" PRIu64, value);
}

static size_t s_active_workers(dc_dispatcher_t *self, int64_t now)
{
    zlistx_t *gone = zlistx_new();
    for (int64_t *last = zhashx_first(self->seen); last; last = zhashx_next(self->seen))
        if (now - *last > DC_DISPATCHER_WORKER_SEEN_MS)
            zlistx_add_end(gone, (void *)zhashx_cursor(self->seen));
    for (const char *id = zlistx_first(gone); id; id = zlistx_next(gone)) {
        zsys_info("dispatcher: worker %s silent for 5 s, no longer counted", id);
        zhashx_delete(self->seen, id);
    }
    zlistx_destroy(&gone);
    return zhashx_size(self->seen);
}

static void s_publish_workers(dc_dispatcher_t *self, int64_t now, int64_t span)
{
    zmsg_t *f = zmsg_new();
    s_add_field(f, "workers", s_active_workers(self, now));
    s_add_field(f, "jobs_per_s",
                span > 0 ? (self->b.counted - self->counted_at_snapshot) * 1000 / (uint64_t)span
                         : 0);
    s_add_field(f, "loop_p50_ms", dc_hist_quantile(self->loop_us, now, 0.5, NULL) / 1000);
    s_add_field(f, "loop_p99_ms", dc_hist_quantile(self->loop_us, now, 0.99, NULL) / 1000);
    s_add_field(f, "rng_p50_ms", dc_hist_quantile(self->rng_us, now, 0.5, NULL) / 1000);
    s_add_field(f, "hasher_p50_ms", dc_hist_quantile(self->hasher_us, now, 0.5, NULL) / 1000);
    /* the same in microseconds: in raw mode a loop takes well under a millisecond */
    s_add_field(f, "loop_p50_us", dc_hist_quantile(self->loop_us, now, 0.5, NULL));
    s_add_field(f, "loop_p99_us", dc_hist_quantile(self->loop_us, now, 0.99, NULL));
    s_add_field(f, "rng_p50_us", dc_hist_quantile(self->rng_us, now, 0.5, NULL));
    s_add_field(f, "hasher_p50_us", dc_hist_quantile(self->hasher_us, now, 0.5, NULL));
    s_add_field(f, "ts_ms", (uint64_t)zclock_time());
    dc_redis_stats(self->redis, "dc:stats:worker", &f);
}

/*  Age of the oldest job still waiting for its result: stays under the re-issue timeout
    plus a loop unless a job is stuck, which is what "no job lost" means over time. */
static uint64_t s_oldest_ms(dc_dispatcher_t *self, int64_t now)
{
    int64_t oldest = now;
    for (s_job_t *job = zhashx_first(self->inflight); job; job = zhashx_next(self->inflight))
        if (job->first_ms < oldest)
            oldest = job->first_ms;
    return (uint64_t)(now - oldest);
}

static void s_publish_books(dc_dispatcher_t *self, uint64_t per_s)
{
    dc_redis_status_t st;
    dc_redis_status(self->redis, &st);
    zmsg_t *f = zmsg_new();
    s_add_field(f, "oldest_ms", s_oldest_ms(self, zclock_mono()));
    s_add_field(f, "issued", self->b.issued);
    s_add_field(f, "counted", self->b.counted);
    s_add_field(f, "in_flight", zhashx_size(self->inflight));
    s_add_field(f, "reissued", self->b.reissued);
    s_add_field(f, "duplicates", self->b.duplicates);
    s_add_field(f, "stale", self->b.stale);
    s_add_field(f, "drops", self->b.drops);
    s_add_field(f, "hashes", self->b.hashes);
    s_add_field(f, "coins", self->b.coins);
    s_add_field(f, "hashes_per_s", per_s);
    s_add_field(f, "batch", self->cfg.batch);
    s_add_field(f, "window", self->cfg.window);
    /* times Redis lost the books under this dispatcher, and when it last did */
    s_add_field(f, "books_lost", st.books_lost);
    s_add_field(f, "books_lost_ms", (uint64_t)st.books_lost_ms);
    s_add_field(f, "ts_ms", (uint64_t)zclock_time());
    dc_redis_stats(self->redis, "dc:stats:dispatcher", &f);
}

static void s_publish_metrics(dc_dispatcher_t *self, uint64_t per_s)
{
    dc_redis_status_t st;
    dc_redis_status(self->redis, &st);
    char *text = zsys_sprintf(
        "dc_dispatcher_jobs_issued_total %" PRIu64 "\ndc_dispatcher_jobs_counted_total %" PRIu64
        "\ndc_dispatcher_jobs_in_flight %zu\ndc_dispatcher_jobs_reissued_total %" PRIu64
        "\ndc_dispatcher_duplicates_total %" PRIu64 "\ndc_dispatcher_stale_total %" PRIu64
        "\ndc_dispatcher_drops_total %" PRIu64 "\ndc_dispatcher_hashes_total %" PRIu64
        "\ndc_dispatcher_coins_total %" PRIu64 "\ndc_dispatcher_hashes_per_second %" PRIu64
        "\ndc_dispatcher_redis_connected %d\ndc_dispatcher_redis_pending_hashes %" PRIu64
        "\ndc_dispatcher_redis_pending_coins %" PRIu64 "\ndc_dispatcher_auth_refused_total %" PRIu64
        "\ndc_dispatcher_books_lost_total %" PRIu64 "\n",
        self->b.issued, self->b.counted, zhashx_size(self->inflight), self->b.reissued,
        self->b.duplicates, self->b.stale, self->b.drops, self->b.hashes, self->b.coins, per_s,
        st.connected, st.pending_hashes, st.pending_coins,
        self->cfg.curve ? dc_curve_refused(self->cfg.curve) : 0, st.books_lost);
    dc_http_set_metrics(self->cfg.http, &text);
    dc_http_set_ready(self->cfg.http, st.connected, "Redis unreachable");
}

static int s_on_snapshot(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    dc_dispatcher_t *self = arg;
    int64_t now = zclock_mono();
    int64_t span = now - self->snapshot_ms;
    uint64_t per_s =
        span > 0 ? (self->b.hashes - self->hashes_at_snapshot) * 1000 / (uint64_t)span : 0;
    s_publish_books(self, per_s);
    s_publish_workers(self, now, span);
    s_publish_metrics(self, per_s);
    self->hashes_at_snapshot = self->b.hashes;
    self->counted_at_snapshot = self->b.counted;
    self->snapshot_ms = now;
    return 0;
}

static zsock_t *s_socket(dc_dispatcher_t *self, int type, const char *endpoint, const char *flag)
{
    zsock_t *sock = zsock_new(type);
    if ((self->cfg.curve && dc_curve_server(self->cfg.curve, sock) != 0) ||
        zsock_attach(sock, endpoint, true) != 0) {
        zsys_error("dispatcher: cannot bind %s (port in use? see %s)", endpoint, flag);
        zsock_destroy(&sock);
    }
    return sock;
}

dc_dispatcher_t *dc_dispatcher_new(const dc_dispatcher_cfg_t *cfg)
{
    if (sodium_init() < 0)
        return NULL;
    dc_dispatcher_t *self = calloc(1, sizeof *self);
    assert(self);
    self->cfg = *cfg;
    self->push = s_socket(self, ZMQ_PUSH, cfg->jobs, "--jobs / DC_JOBS_BIND");
    self->pull = s_socket(self, ZMQ_PULL, cfg->results, "--results / DC_RESULTS_BIND");
    self->redis = dc_redis_new(cfg->redis, "dc:books:flush_seq", cfg->redis_password);
    if (!self->push || !self->pull || !self->redis) {
        dc_dispatcher_destroy(&self);
        return NULL;
    }
    dc_redis_series(self->redis, DC_DISPATCHER_SERIES_KEY, DC_DISPATCHER_SERIES_KEEP);
    zsock_set_sndhwm(self->push, 1);
    zsock_set_sndtimeo(self->push, 0);
    zsock_set_maxmsgsize(self->pull, 4 * 1024 * 1024);
    self->epoch = (uint64_t)randombytes_random() << 32;
    self->inflight = zhashx_new();
    zhashx_set_destructor(self->inflight, s_free);
    self->resend = zlistx_new();
    self->seen = zhashx_new();
    zhashx_set_destructor(self->seen, s_free);
    self->loop_us = dc_hist_new(DC_DISPATCHER_HIST_SAMPLES, DC_DISPATCHER_HIST_WINDOW_MS);
    self->rng_us = dc_hist_new(DC_DISPATCHER_HIST_SAMPLES, DC_DISPATCHER_HIST_WINDOW_MS);
    self->hasher_us = dc_hist_new(DC_DISPATCHER_HIST_SAMPLES, DC_DISPATCHER_HIST_WINDOW_MS);
    self->unsent_coins = zmsg_new();
    self->snapshot_ms = zclock_mono();
    return self;
}

static void s_log_books(dc_dispatcher_t *self)
{
    zsys_info("dispatcher: books: issued %" PRIu64 " = counted %" PRIu64 " + in flight %zu "
              "(%" PRIu64 " hashes, %" PRIu64 " coins; %" PRIu64 " re-issues, %" PRIu64
              " duplicates, %" PRIu64 " drops)",
              self->b.issued, self->b.counted, zhashx_size(self->inflight), self->b.hashes,
              self->b.coins, self->b.reissued, self->b.duplicates, self->b.drops);
}

void dc_dispatcher_destroy(dc_dispatcher_t **self_p)
{
    if (self_p && *self_p) {
        dc_dispatcher_t *self = *self_p;
        if (self->redis && self->unsent_coins) {
            s_handoff(self);
            s_on_snapshot(NULL, 0, self);
            s_log_books(self);
        }
        dc_redis_destroy(&self->redis);
        zsock_destroy(&self->push);
        zsock_destroy(&self->pull);
        zhashx_destroy(&self->inflight);
        zlistx_destroy(&self->resend);
        zhashx_destroy(&self->seen);
        dc_hist_destroy(&self->loop_us);
        dc_hist_destroy(&self->rng_us);
        dc_hist_destroy(&self->hasher_us);
        zmsg_destroy(&self->unsent_coins);
        free(self);
        *self_p = NULL;
    }
}

int dc_dispatcher_run(dc_dispatcher_t *self)
{
    zsys_info("dispatcher: jobs on %s, results on %s, batch %u, window %zu, re-issue after %d ms",
              self->cfg.jobs, self->cfg.results, self->cfg.batch, self->cfg.window,
              self->cfg.job_timeout_ms);
    self->loop = zloop_new();
    zloop_reader(self->loop, self->pull, s_on_result, self);
    zloop_timer(self->loop, DC_DISPATCHER_TICK_MS, 0, s_on_tick, self);
    zloop_timer(self->loop, 1000, 0, s_on_snapshot, self);
    s_on_snapshot(self->loop, 0, self); /* /metrics answers from the start */
    zloop_start(self->loop);
    zloop_destroy(&self->loop);
    dc_http_set_ready(self->cfg.http, false, "shutting down");
    return 0;
}
