/*  dc_dispatcher: see the header. Job ids carry a random epoch in their high 32 bits, so a
    result meant for an earlier dispatcher process is recognised and not counted twice.
    Flow control is by credit: each worker reports (READY) how many jobs it may hold, how
    many it holds and how many it has received; a job goes only to a worker with credit
    left, so a stalled worker holds at most its capacity and the others carry on. A job
    whose result is later than a deadline derived from the observed job latency is
    re-issued, to another worker when one has credit.
    Results survive a dispatcher crash: each accepted result is acknowledged (ACK, on the
    results connection it came from) only once it is durable in Redis, and the workers
    resend what is not acknowledged. Every counted job is recorded in a per-epoch ledger in
    the same atomic script as the counts, so a result nobody here can place (a job of an
    earlier epoch, or one answered again) is counted by Redis if, and only if, the ledger
    does not have it yet (dc_redis_check). */
#include "dc_dispatcher.h"
#include "dc_drops.h"
#include "dc_figures.h"
#include "dc_app.h"
#include "dc_buf.h"
#include "dc_check.h"
#include "dc_hist.h"
#include "dc_job.h"
#include "dc_svc.h"
#include "dc_rconn.h"
#include "dc_redis.h"
#include "dc_stats.h"
#include "dc_testrig.h"
#include "dc_worker.h"

#include <assert.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>

#define DC_DISPATCHER_TICK_MS 20
#define DC_DISPATCHER_PEER_SILENT_MS 30000 /* a worker connection not heard of: forgotten */
#define DC_DISPATCHER_LATE_P99_FACTOR 4    /* ... else this many times the p99 job latency */
#define DC_DISPATCHER_LATE_MIN_SAMPLES 10  /* latencies needed before the deadline adapts */
#define DC_DISPATCHER_WORKER_SEEN_MS 5000
#define DC_DISPATCHER_HIST_SAMPLES 8192
#define DC_DISPATCHER_HIST_WINDOW_MS 10000
#define DC_DISPATCHER_SERIES_KEY "dc:series" /* "ts_ms:hashes" once a second, for the webui */
#define DC_DISPATCHER_SERIES_KEEP 600        /* 10 minutes of samples */
#define DC_DISPATCHER_TRACKS_MAX 8           /* release tracks counted apart; more: untracked */
#define DC_DISPATCHER_TRACK_WINDOW 10        /* snapshots (s) behind a track's recent hashes */
/*  While Redis answers, new jobs wait while more coins than this are counted but not yet
    in Redis: a Redis slower than the miners (a busy machine) sets the pace, and the last
    write at exit (these coins plus the results of the jobs in flight) stays small enough
    for the writer's exit budget. While Redis is away, --max-pending-coins applies. */
#define DC_DISPATCHER_UNWRITTEN_COINS 16384

typedef struct {
    uint64_t id;
    uint32_t batch;
    uint32_t attempt;
    int64_t issued_ms;
    int64_t issued_us;
    int64_t first_ms;    /* when first issued */
    uint64_t peer_no;    /* the worker connection it was last sent to */
    int track;           /* that connection's track (index), -1: untracked */
    void *resend_handle; /* its place in the resend list, when due again */
} s_job_t;

/*  A worker's job connection, as the ROUTER knows it. Jobs it may still be sent: its
    capacity, minus the jobs it holds, minus the jobs sent that it has not yet received
    (sent - (received - base)): all as of its last READY. */
typedef struct {
    zframe_t *rid; /* routing id */
    uint64_t no;   /* unique in this process, for "another worker" */
    char worker[DC_WORKER_ID_MAX + 1];
    uint32_t capacity, held;
    uint64_t base;     /* its `received` when first heard of */
    uint64_t received; /* as of its last READY */
    uint64_t sent;     /* jobs sent to it by this process */
    int64_t heard_ms;
    bool blocked;                      /* a send would block: no jobs until it reports again */
    char track_name[DC_TRACK_MAX + 1]; /* as its last READY said */
    int track;                         /* its index in the dispatcher's tracks, -1: untracked */
} s_peer_t;

/*  A release track (the workers' --track): the hashes of the jobs counted that were last
    sent to one of its workers, in total and as of each of the last snapshots. */
typedef struct {
    char name[DC_TRACK_MAX + 1];
    uint64_t hashes;
    uint64_t past[DC_DISPATCHER_TRACK_WINDOW]; /* hashes at the last snapshots, a ring */
} s_track_t;

typedef struct {
    uint64_t issued, counted, sent, reissued, duplicates, stale;
    uint64_t hashes, coins;
    uint64_t checks, acked, ack_failures;
} s_books_t;

/*  A result to acknowledge once the hand-off that carries it is durable. */
typedef struct {
    uint64_t handoff;
    uint64_t job_id;
    zframe_t *rid; /* its results connection */
} s_ack_t;

/*  A result for Redis to count if its ledger does not have the job yet. */
typedef struct {
    uint64_t job_id;
    uint32_t hashes;
    zchunk_t *coins; /* records, as for a count */
} s_check_t;

struct _dc_dispatcher_t {
    dc_dispatcher_cfg_t cfg;
    zsock_t *jobs;    /* ROUTER: READY in, JOB out */
    zsock_t *results; /* ROUTER: RESULT in */
    zloop_t *loop;
    dc_redis_t *redis;
    dc_drops_t *drops; /* messages refused, by the one drop rule */
    uint64_t epoch;
    uint64_t next_seq;
    zhashx_t *inflight; /* "%016" PRIx64 -> s_job_t */
    zlistx_t *resend;   /* s_job_t due for re-issue, oldest first */
    zhashx_t *seen;     /* worker id -> last result time (ms), as a heap int64 */
    zhashx_t *peers;    /* routing id (hex) -> s_peer_t */
    uint64_t next_peer_no;
    int64_t late_ms; /* re-issue deadline, from the job latency (rtt_us) */
    dc_hist_t *loop_us, *rng_us, *hasher_us, *rtt_us;
    s_books_t b;
    uint64_t unsent_hashes; /* counted, not yet handed to the Redis actor */
    zchunk_t *unsent_coins; /* coin records for Redis (DC_REDIS_COIN_SIZE), reused */
    byte *digests;          /* the coins' digests of the result being counted, reused */
    zchunk_t *unsent_seqs;  /* their jobs' sequence numbers, for the ledger */
    zlistx_t *unsent_checks;
    uint64_t handoff; /* number of the last hand-off to the Redis actor */
    zlistx_t *acks;   /* s_ack_t, in hand-off order */
    char epoch_hex[9];
    uint64_t hashes_at_snapshot, counted_at_snapshot;
    int64_t snapshot_ms;
    bool paused; /* new jobs held back while Redis lags */
    s_track_t tracks[DC_DISPATCHER_TRACKS_MAX];
    int ntracks;
    uint64_t untracked_hashes; /* counted for workers of tracks beyond the limit */
    unsigned track_tick;       /* snapshots taken, for the tracks' rings */
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

static void s_ack_free(void **item)
{
    s_ack_t *ack = *item;
    zframe_destroy(&ack->rid);
    free(ack);
    *item = NULL;
}

static void s_check_free(void **item)
{
    s_check_t *check = *item;
    zchunk_destroy(&check->coins);
    free(check);
    *item = NULL;
}

/*  Acknowledged once the next hand-off (or, with handoff 0, anything) is durable. */
static void s_ack_later(dc_dispatcher_t *self, zframe_t *rid, uint64_t job_id, uint64_t handoff)
{
    s_ack_t *ack = calloc(1, sizeof *ack);
    assert(ack);
    ack->handoff = handoff;
    ack->job_id = job_id;
    ack->rid = zframe_dup(rid);
    zlistx_add_end(self->acks, ack);
}

static void s_peer_free(void **item)
{
    s_peer_t *peer = *item;
    zframe_destroy(&peer->rid);
    free(peer);
    *item = NULL;
}

static void s_drop(dc_dispatcher_t *self, const char *what, const char *reason)
{
    dc_drops_add(self->drops, what, reason, NULL);
}

static void s_peer_key(zframe_t *rid, char *key, size_t size)
{
    char *hex = zframe_strhex(rid);
    snprintf(key, size, "%s", hex);
    free(hex);
}

static int64_t s_credit(const s_peer_t *peer)
{
    uint64_t got = peer->received - peer->base; /* of the jobs we sent, received so far */
    int64_t on_the_way = peer->sent > got ? (int64_t)(peer->sent - got) : 0;
    return (int64_t)peer->capacity - (int64_t)peer->held - on_the_way;
}

/*  The connection with the most credit, preferring any other than `avoid` (the one a
    late job was sent to); NULL when no worker can take a job now. */
static s_peer_t *s_pick(dc_dispatcher_t *self, uint64_t avoid)
{
    s_peer_t *best = NULL, *fallback = NULL;
    for (s_peer_t *p = zhashx_first(self->peers); p; p = zhashx_next(self->peers)) {
        if (p->blocked || s_credit(p) <= 0)
            continue;
        if (p->no == avoid)
            fallback = p;
        else if (!best || s_credit(p) > s_credit(best))
            best = p;
    }
    return best ? best : fallback;
}

static void s_forget_peer(dc_dispatcher_t *self, s_peer_t *peer, const char *why)
{
    zsys_info("dispatcher: worker %s's job connection %s: forgotten", peer->worker, why);
    char key[2 * 255 + 1];
    s_peer_key(peer->rid, key, sizeof key);
    zhashx_delete(self->peers, key);
}

/*  Sends one job to peer without blocking; -1 when it cannot take it (then the peer is
    forgotten, if gone, or blocked until it reports again). */
static int s_send_job(dc_dispatcher_t *self, s_peer_t *peer, s_job_t *job)
{
    dc_job_t j = {.id = job->id, .batch = job->batch, .attempt = job->attempt};
    zmsg_t *msg = dc_job_encode(&j);
    zmsg_pushmem(msg, zframe_data(peer->rid), zframe_size(peer->rid));
    if (zmsg_send(&msg, self->jobs) != 0) {
        zmsg_destroy(&msg);
        if (zmq_errno() == EHOSTUNREACH)
            s_forget_peer(self, peer, "is gone");
        else
            peer->blocked = true;
        return -1;
    }
    job->issued_ms = zclock_mono();
    job->issued_us = zclock_usecs();
    job->peer_no = peer->no;
    job->track = peer->track;
    peer->sent++;
    self->b.sent++;
    return 0;
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
    /* counted here, not yet confirmed by the writer (its report is at most one batch
       old, so this errs on the high side) */
    bool behind = st.connected && self->b.coins - st.written_coins > DC_DISPATCHER_UNWRITTEN_COINS;
    return !paused && !behind && zhashx_size(self->inflight) < self->cfg.window;
}

/*  Re-issues late jobs, each to another worker than the one that has it when one can
    take it; returns -1 when jobs are still waiting for credit. */
static int s_resend_due(dc_dispatcher_t *self)
{
    s_job_t *job;
    while ((job = zlistx_first(self->resend))) {
        s_peer_t *peer = s_pick(self, job->peer_no);
        if (!peer)
            return -1;
        if (s_send_job(self, peer, job) != 0)
            continue; /* that peer is forgotten or blocked now: try the next */
        zlistx_detach(self->resend, job->resend_handle);
        job->resend_handle = NULL;
    }
    return 0;
}

/*  Hands out the credit: re-issues first, then new jobs up to the window. */
static void s_fill(dc_dispatcher_t *self)
{
    if (s_resend_due(self) != 0)
        return;
    s_peer_t *peer;
    while ((peer = s_pick(self, 0)) && s_may_issue_new(self)) {
        s_job_t *job = calloc(1, sizeof *job);
        assert(job);
        job->id = self->epoch | (self->next_seq & 0xffffffffu);
        job->batch = self->cfg.batch;
        if (s_send_job(self, peer, job) != 0) {
            free(job);
            continue;
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

/*  Appends a record for Redis per coin of the result just decoded: the coin's hex
    digest (the wallet field: it does not travel, the decoder computed it), then its
    bytes. */
static void s_add_coins(dc_dispatcher_t *self, zchunk_t *to, zmsg_t *msg, uint32_t coins)
{
    _Static_assert(DC_COIN_BYTES == DC_REDIS_COIN_VALUE, "a coin's bytes are its wallet value");
    for (uint32_t i = 0; i < coins; i++) {
        char record[DC_REDIS_COIN_SIZE + 1]; /* dc_hex writes a NUL after the hex */
        dc_hex(self->digests + (size_t)i * DC_DIGEST_BYTES, DC_DIGEST_BYTES, record);
        memcpy(record + DC_REDIS_COIN_FIELD, dc_result_coin(msg, i), DC_REDIS_COIN_VALUE);
        zchunk_extend(to, record, DC_REDIS_COIN_SIZE);
    }
}

/*  Counts a valid result for an in-flight job: hashes and (re-verified) coins. */
static void s_count(dc_dispatcher_t *self, s_job_t *job, zmsg_t *msg, const dc_result_t *r)
{
    self->b.counted++;
    self->b.hashes += r->hashes;
    self->b.coins += r->coins;
    self->unsent_hashes += r->hashes;
    if (job->track >= 0)
        self->tracks[job->track].hashes += r->hashes;
    else
        self->untracked_hashes += r->hashes;
    s_add_coins(self, self->unsent_coins, msg, r->coins);
    char seq[16];
    snprintf(seq, sizeof seq, "%u ", (unsigned)(job->id & 0xffffffffu));
    zchunk_extend(self->unsent_seqs, seq, strlen(seq));
    if (job->resend_handle)
        zlistx_delete(self->resend, job->resend_handle);
    char key[17];
    s_key(job->id, key);
    zhashx_delete(self->inflight, key);
}

static void s_check_later(dc_dispatcher_t *self, zmsg_t *msg, const dc_result_t *r)
{
    s_check_t *check = calloc(1, sizeof *check);
    assert(check);
    check->job_id = r->job_id;
    check->hashes = r->hashes;
    check->coins = zchunk_new(NULL, 0);
    s_add_coins(self, check->coins, msg, r->coins);
    zlistx_add_end(self->unsent_checks, check);
    self->b.checks++;
}

/*  A handler of a worker's message: its routing id (the handler may take it) and the
    rest. */
typedef void(s_worker_msg_fn)(dc_dispatcher_t *self, zframe_t **rid_p, zmsg_t *msg);

/*  Reads a worker's message from one of the ROUTERs and hands it to fn (one with no
    routing id is dropped as `kind`), then hands out jobs. */
static int s_on_message(dc_dispatcher_t *self, zsock_t *router, const char *kind,
                        s_worker_msg_fn *fn)
{
    zmsg_t *msg = zmsg_recv(router);
    if (!msg)
        return -1;
    zframe_t *rid = zmsg_pop(msg);
    if (rid)
        fn(self, &rid, msg);
    else
        s_drop(self, kind, "no routing id");
    zframe_destroy(&rid);
    zmsg_destroy(&msg);
    s_fill(self);
    return 0;
}

/*  A result: counted once, checked against Redis's ledger when its job is not in flight
    here, acknowledged when durable. */
static void s_result(dc_dispatcher_t *self, zframe_t **rid_p, zmsg_t *msg)
{
    zframe_t *rid = *rid_p;
    dc_result_t r;
    const char *reason;
    char key[17];
    if (dc_result_decode_digests(msg, &r, self->digests, &reason) != 0) {
        s_drop(self, "result", reason);
        return;
    }
    s_key(r.job_id, key);
    s_job_t *job = zhashx_lookup(self->inflight, key);
    bool ours = (r.job_id & ~0xffffffffULL) == self->epoch;
    if (job && job->batch == r.hashes) {
        s_note_worker(self, &r, zclock_mono());
        dc_hist_add(self->rtt_us, zclock_mono(), (uint32_t)(zclock_usecs() - job->issued_us));
        s_count(self, job, msg, &r);
        s_ack_later(self, rid, r.job_id, self->handoff + 1);
    } else if (job)
        s_drop(self, "result", "hash count differs from the job's batch");
    else if (ours && (r.job_id & 0xffffffffu) >= (self->next_seq & 0xffffffffu)) {
        self->b.stale++; /* never issued: nothing to count, nothing to resend */
        s_ack_later(self, rid, r.job_id, 0);
    } else {
        /* counted already (a re-issued job answered twice, or a result sent again),
           or a job of an earlier epoch: Redis's ledger knows */
        if (ours)
            self->b.duplicates++;
        else
            self->b.stale++;
        s_check_later(self, msg, &r);
        s_ack_later(self, rid, r.job_id, self->handoff + 1);
    }
}

static int s_on_result(zloop_t *loop, zsock_t *results, void *arg)
{
    (void)loop;
    return s_on_message(arg, results, "result", s_result);
}

/*  The index of a track, added when new; -1 when DC_DISPATCHER_TRACKS_MAX are known. */
static int s_track_index(dc_dispatcher_t *self, const char *name)
{
    for (int i = 0; i < self->ntracks; i++)
        if (streq(self->tracks[i].name, name))
            return i;
    if (self->ntracks == DC_DISPATCHER_TRACKS_MAX) {
        zsys_warning("dispatcher: track %s: already %d tracks, its hashes count as untracked", name,
                     DC_DISPATCHER_TRACKS_MAX);
        return -1;
    }
    s_track_t *t = &self->tracks[self->ntracks];
    snprintf(t->name, sizeof t->name, "%s", name);
    zsys_info("dispatcher: track %s: first worker", name);
    return self->ntracks++;
}

/*  A worker's READY: creates or updates its connection's credit. */
static void s_ready(dc_dispatcher_t *self, zframe_t **rid_p, zmsg_t *msg)
{
    dc_ready_t ready;
    const char *reason;
    if (dc_ready_decode(msg, &ready, &reason) != 0) {
        s_drop(self, "READY", reason);
        return;
    }
    char key[2 * 255 + 1];
    s_peer_key(*rid_p, key, sizeof key);
    s_peer_t *peer = zhashx_lookup(self->peers, key);
    if (!peer) {
        peer = calloc(1, sizeof *peer);
        assert(peer);
        peer->rid = *rid_p;
        *rid_p = NULL;
        peer->no = ++self->next_peer_no;
        peer->base = ready.received;
        zhashx_insert(self->peers, key, peer);
        zsys_info("dispatcher: worker %s connected for jobs (capacity %u, track %s)", ready.worker,
                  ready.capacity, ready.track);
    }
    if (!streq(peer->track_name, ready.track)) {
        snprintf(peer->track_name, sizeof peer->track_name, "%s", ready.track);
        peer->track = s_track_index(self, ready.track);
    }
    snprintf(peer->worker, sizeof peer->worker, "%s", ready.worker);
    peer->capacity = ready.capacity;
    peer->held = ready.held;
    peer->received = ready.received;
    peer->heard_ms = zclock_mono();
    peer->blocked = false;
}

static int s_on_ready(zloop_t *loop, zsock_t *jobs, void *arg)
{
    (void)loop;
    return s_on_message(arg, jobs, "READY", s_ready);
}

/*  Jobs whose result is later than the deadline go to the resend list. */
static void s_check_timeouts(dc_dispatcher_t *self)
{
    int64_t limit = zclock_mono() - self->late_ms;
    for (s_job_t *job = zhashx_first(self->inflight); job; job = zhashx_next(self->inflight))
        if (!job->resend_handle && job->issued_ms < limit) {
            job->attempt++;
            self->b.reissued++;
            job->resend_handle = zlistx_add_end(self->resend, job);
            if (self->cfg.verbose)
                zsys_debug("dispatcher: job %016" PRIx64 " late, re-issuing", job->id);
        }
}

static char *s_epoch_of(uint64_t job_id, char hex[9])
{
    snprintf(hex, 9, "%08x", (unsigned)(job_id >> 32));
    return hex;
}

static void s_send_ack_list(dc_dispatcher_t *self, zlistx_t *list)
{
    uint64_t ids[DC_ACK_MAX];
    s_ack_t *ack = zlistx_first(list);
    zframe_t *rid = ack->rid;
    while (ack) {
        uint32_t n = 0;
        for (; ack && n < DC_ACK_MAX; ack = zlistx_next(list))
            ids[n++] = ack->job_id;
        zmsg_t *msg = dc_ack_encode(ids, n);
        zmsg_pushmem(msg, zframe_data(rid), zframe_size(rid));
        if (zmsg_send(&msg, self->results) == 0)
            self->b.acked += n;
        else {
            zmsg_destroy(&msg);
            self->b.ack_failures += n;
        }
    }
}

/*  Hands the counts, then the checks, to the Redis actor as hand-off number handoff + 1:
    the actor writes them in that order, so a check never runs before the count it may
    duplicate. */
static void s_handoff(dc_dispatcher_t *self)
{
    if (self->unsent_hashes == 0 && zchunk_size(self->unsent_coins) == 0 &&
        zlistx_size(self->unsent_checks) == 0)
        return;
    self->handoff++;
    zchunk_extend(self->unsent_seqs, "", 1); /* a C string */
    dc_redis_count_jobs(self->redis, self->handoff, self->unsent_hashes, self->unsent_coins,
                        self->next_seq & 0xffffffffu, (const char *)zchunk_data(self->unsent_seqs));
    self->unsent_hashes = 0;
    zchunk_set(self->unsent_coins, NULL, 0); /* emptied, its buffer kept */
    zchunk_set(self->unsent_seqs, NULL, 0);
    for (s_check_t *c = zlistx_first(self->unsent_checks); c; c = zlistx_next(self->unsent_checks))
        dc_redis_check(self->redis, self->handoff, s_epoch_of(c->job_id, (char[9]){0}),
                       (uint32_t)(c->job_id & 0xffffffffu), c->hashes, c->coins);
    zlistx_purge(self->unsent_checks);
}

/*  Acknowledges every result whose hand-off is durable, one ACK per connection (and per
    4,096 ids). A connection that is gone makes the send fail: its worker resends. */
static void s_send_acks(dc_dispatcher_t *self)
{
    dc_redis_status_t st;
    dc_redis_status(self->redis, &st);
    s_ack_t *ack = zlistx_first(self->acks);
    if (!ack || ack->handoff > st.durable_handoff)
        return;
    zhashx_t *by_rid = zhashx_new(); /* rid (hex) -> zlistx of s_ack_t */
    zhashx_set_destructor(by_rid, (zhashx_destructor_fn *)zlistx_destroy);
    while ((ack = zlistx_first(self->acks)) && ack->handoff <= st.durable_handoff) {
        char key[2 * 255 + 1];
        s_peer_key(ack->rid, key, sizeof key);
        zlistx_t *list = zhashx_lookup(by_rid, key);
        if (!list) {
            list = zlistx_new();
            zlistx_set_destructor(list, s_ack_free);
            zhashx_insert(by_rid, key, list);
        }
        zlistx_add_end(list, zlistx_detach(self->acks, NULL));
    }
    for (zlistx_t *list = zhashx_first(by_rid); list; list = zhashx_next(by_rid))
        s_send_ack_list(self, list);
    zhashx_destroy(&by_rid);
}

static int s_on_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    dc_dispatcher_t *self = arg;
    s_check_timeouts(self);
    s_handoff(self);
    s_send_acks(self);
    s_fill(self);
    return 0;
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
    dc_stats_add(f, DC_STATS_WORKER_WORKERS, s_active_workers(self, now));
    dc_stats_add(f, DC_STATS_WORKER_JOBS_PER_S,
                 span > 0 ? (self->b.counted - self->counted_at_snapshot) * 1000 / (uint64_t)span
                          : 0);
    /* in ms and in µs: in raw mode a loop takes well under a millisecond */
    uint32_t loop[2];
    dc_hist_quantiles(self->loop_us, now, (const double[]){0.5, 0.99}, loop, 2, NULL);
    dc_stats_add_latency(f, DC_STATS_WORKER_LOOP_P50, loop[0]);
    dc_stats_add_latency(f, DC_STATS_WORKER_LOOP_P99, loop[1]);
    dc_stats_add_latency(f, DC_STATS_WORKER_RNG_P50,
                         dc_hist_quantile(self->rng_us, now, 0.5, NULL));
    dc_stats_add_latency(f, DC_STATS_WORKER_HASHER_P50,
                         dc_hist_quantile(self->hasher_us, now, 0.5, NULL));
    dc_stats_add(f, DC_STATS_TS_MS, (uint64_t)zclock_time());
    dc_redis_stats(self->redis, DC_STATS_KEY_WORKER, &f);
}

/*  Per track: hashes counted in total and over the last DC_DISPATCHER_TRACK_WINDOW
    snapshots (what the page's shares are made of). Also steps the tracks' rings. */
static void s_publish_tracks(dc_dispatcher_t *self)
{
    zmsg_t *f = zmsg_new();
    unsigned slot = self->track_tick++ % DC_DISPATCHER_TRACK_WINDOW;
    for (int i = 0; i < self->ntracks; i++) {
        s_track_t *t = &self->tracks[i];
        char name[DC_TRACK_MAX + 16];
        snprintf(name, sizeof name, DC_STATS_TRACKS_HASHES "%s", t->name);
        dc_stats_add(f, name, t->hashes);
        snprintf(name, sizeof name, DC_STATS_TRACKS_RECENT "%s", t->name);
        dc_stats_add(f, name, t->hashes - t->past[slot]);
        t->past[slot] = t->hashes;
    }
    dc_stats_add(f, DC_STATS_TRACKS_UNTRACKED_HASHES, self->untracked_hashes);
    dc_stats_add(f, DC_STATS_TRACKS_WINDOW_S, DC_DISPATCHER_TRACK_WINDOW);
    dc_stats_add(f, DC_STATS_TS_MS, (uint64_t)zclock_time());
    dc_redis_stats(self->redis, DC_STATS_KEY_TRACKS, &f);
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

/*  dc_dispatcher_track_hashes_total{track="T"}, one sample per track. */
static void s_track_metrics(dc_dispatcher_t *self, dc_buf_t *metrics)
{
    dc_figure_t figures[DC_DISPATCHER_TRACKS_MAX];
    const char *names[DC_DISPATCHER_TRACKS_MAX];
    for (int i = 0; i < self->ntracks; i++) {
        figures[i] = (dc_figure_t){NULL, "dc_dispatcher_track_hashes_total", NULL, DC_FIGURE_COUNT,
                                   self->tracks[i].hashes};
        names[i] = self->tracks[i].name;
    }
    dc_figures_metrics_by(figures, 1, (size_t)self->ntracks, "track", names, metrics);
}

/*  Writes the figures: the fields to dc:stats:dispatcher, the metrics to /metrics (with
    the tracks' counters and the drops), from one list. */
static void s_publish_figures(dc_dispatcher_t *self, uint64_t per_s)
{
    dc_redis_status_t st;
    dc_redis_status(self->redis, &st);
    const dc_figure_t figures[] = {
        {DC_STATS_DISP_ISSUED, "dc_dispatcher_jobs_issued_total", NULL, DC_FIGURE_COUNT,
         self->b.issued},
        {DC_STATS_DISP_COUNTED, "dc_dispatcher_jobs_counted_total", NULL, DC_FIGURE_COUNT,
         self->b.counted},
        {DC_STATS_DISP_IN_FLIGHT, "dc_dispatcher_jobs_in_flight", NULL, DC_FIGURE_COUNT,
         zhashx_size(self->inflight)},
        {DC_STATS_DISP_OLDEST_MS, NULL, NULL, DC_FIGURE_COUNT, s_oldest_ms(self, zclock_mono())},
        {DC_STATS_DISP_REISSUED, "dc_dispatcher_jobs_reissued_total", NULL, DC_FIGURE_COUNT,
         self->b.reissued},
        {DC_STATS_DISP_DUPLICATES, "dc_dispatcher_duplicates_total", NULL, DC_FIGURE_COUNT,
         self->b.duplicates},
        {DC_STATS_DISP_STALE, "dc_dispatcher_stale_total", NULL, DC_FIGURE_COUNT, self->b.stale},
        /* in /metrics by kind and reason: dc_dispatcher_dropped_total (dc_drops) */
        {DC_STATS_DISP_DROPS, NULL, NULL, DC_FIGURE_COUNT, dc_drops_total(self->drops)},
        {DC_STATS_DISP_HASHES, "dc_dispatcher_hashes_total", NULL, DC_FIGURE_COUNT, self->b.hashes},
        {DC_STATS_DISP_COINS, "dc_dispatcher_coins_total", NULL, DC_FIGURE_COUNT, self->b.coins},
        {DC_STATS_DISP_HASHES_PER_S, "dc_dispatcher_hashes_per_second", NULL, DC_FIGURE_COUNT,
         per_s},
        {DC_STATS_DISP_BATCH, NULL, NULL, DC_FIGURE_COUNT, self->cfg.batch},
        {DC_STATS_DISP_WINDOW, NULL, NULL, DC_FIGURE_COUNT, self->cfg.window},
        {DC_STATS_DISP_LATE_MS, "dc_dispatcher_reissue_after_ms", NULL, DC_FIGURE_COUNT,
         (uint64_t)self->late_ms},
        {DC_STATS_DISP_CONNECTIONS, "dc_dispatcher_worker_connections", NULL, DC_FIGURE_COUNT,
         zhashx_size(self->peers)},
        /* results handed to a ledger check, those it counted (nobody had counted their
           job) and those Redis refused; results acknowledged as durable */
        {DC_STATS_DISP_CHECKS, NULL, NULL, DC_FIGURE_COUNT, self->b.checks},
        {DC_STATS_DISP_RECOVERED_JOBS, "dc_dispatcher_recovered_jobs_total", NULL, DC_FIGURE_COUNT,
         st.recovered_jobs},
        {DC_STATS_DISP_RECOVERED_HASHES, "dc_dispatcher_recovered_hashes_total", NULL,
         DC_FIGURE_COUNT, st.recovered_hashes},
        {DC_STATS_DISP_RECOVERED_COINS, "dc_dispatcher_recovered_coins_total", NULL,
         DC_FIGURE_COUNT, st.recovered_coins},
        {DC_STATS_DISP_REFUSED_CHECKS, "dc_dispatcher_refused_checks_total", NULL, DC_FIGURE_COUNT,
         st.refused_checks},
        {DC_STATS_DISP_ACKED, "dc_dispatcher_acked_results_total", NULL, DC_FIGURE_COUNT,
         self->b.acked},
        {DC_STATS_DISP_UNACKED, "dc_dispatcher_results_awaiting_ack", NULL, DC_FIGURE_COUNT,
         zlistx_size(self->acks)},
        {NULL, "dc_dispatcher_ack_failures_total", NULL, DC_FIGURE_COUNT, self->b.ack_failures},
        /* times Redis lost the books under this dispatcher, and when it last did */
        {DC_STATS_DISP_BOOKS_LOST, "dc_dispatcher_books_lost_total", NULL, DC_FIGURE_COUNT,
         st.books_lost},
        {DC_STATS_DISP_BOOKS_LOST_MS, NULL, NULL, DC_FIGURE_COUNT, (uint64_t)st.books_lost_ms},
        {NULL, "dc_dispatcher_redis_connected", NULL, DC_FIGURE_COUNT, st.connected ? 1 : 0},
        {NULL, "dc_dispatcher_redis_pending_hashes", NULL, DC_FIGURE_COUNT, st.pending_hashes},
        {NULL, "dc_dispatcher_redis_pending_coins", NULL, DC_FIGURE_COUNT, st.pending_coins},
        {NULL, "dc_dispatcher_auth_refused_total", NULL, DC_FIGURE_COUNT,
         self->cfg.curve ? dc_curve_refused(self->cfg.curve) : 0},
        {NULL, "dc_dispatcher_untracked_hashes_total", NULL, DC_FIGURE_COUNT,
         self->untracked_hashes},
        {DC_STATS_TS_MS, NULL, NULL, DC_FIGURE_COUNT, (uint64_t)zclock_time()},
    };
    const size_t count = sizeof figures / sizeof *figures;
    zmsg_t *fields = zmsg_new();
    dc_figures_fields(figures, count, fields);
    dc_redis_stats(self->redis, DC_STATS_KEY_DISPATCHER, &fields);
    dc_buf_t *metrics = dc_buf_new();
    dc_figures_metrics(figures, count, 1, NULL, metrics);
    s_track_metrics(self, metrics);
    dc_drops_metrics(self->drops, NULL, metrics);
    char *text = dc_buf_detach(&metrics);
    dc_http_set_metrics(self->cfg.http, &text);
    dc_http_set_ready(self->cfg.http, st.connected, "Redis unreachable");
}

/*  The re-issue deadline follows the job latency (issue to result) of the last 10 s:
    k x p99, at least --reissue-min-ms, at most --job-timeout-ms. */
static void s_update_deadline(dc_dispatcher_t *self, int64_t now)
{
    size_t n = 0;
    uint32_t p99 = dc_hist_quantile(self->rtt_us, now, 0.99, &n);
    if (n < DC_DISPATCHER_LATE_MIN_SAMPLES)
        return;
    int64_t late = (int64_t)p99 * DC_DISPATCHER_LATE_P99_FACTOR / 1000;
    if (late < self->cfg.reissue_min_ms)
        late = self->cfg.reissue_min_ms;
    self->late_ms = late < self->cfg.job_timeout_ms ? late : self->cfg.job_timeout_ms;
}

static void s_forget_silent_peers(dc_dispatcher_t *self, int64_t now)
{
    zlistx_t *gone = zlistx_new();
    for (s_peer_t *p = zhashx_first(self->peers); p; p = zhashx_next(self->peers))
        if (now - p->heard_ms > DC_DISPATCHER_PEER_SILENT_MS)
            zlistx_add_end(gone, p);
    for (s_peer_t *p = zlistx_first(gone); p; p = zlistx_next(gone))
        s_forget_peer(self, p, "silent for 30 s");
    zlistx_destroy(&gone);
}

static int s_on_snapshot(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    dc_dispatcher_t *self = arg;
    int64_t now = zclock_mono();
    s_update_deadline(self, now);
    s_forget_silent_peers(self, now);
    int64_t span = now - self->snapshot_ms;
    uint64_t per_s =
        span > 0 ? (self->b.hashes - self->hashes_at_snapshot) * 1000 / (uint64_t)span : 0;
    s_publish_figures(self, per_s);
    s_publish_workers(self, now, span);
    s_publish_tracks(self);
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
    self->drops = dc_drops_new("dispatcher");
    self->cfg = *cfg;
    self->jobs = s_socket(self, ZMQ_ROUTER, cfg->jobs, "--jobs / DC_JOBS_BIND");
    self->results = s_socket(self, ZMQ_ROUTER, cfg->results, "--results / DC_RESULTS_BIND");
    self->redis = dc_redis_new(cfg->redis, "dc:books:flush_seq", cfg->redis_password);
    if (!self->jobs || !self->results || !self->redis) {
        dc_dispatcher_destroy(&self);
        return NULL;
    }
    dc_redis_series(self->redis, DC_DISPATCHER_SERIES_KEY, DC_DISPATCHER_SERIES_KEEP);
    dc_redis_books_stats(self->redis, DC_STATS_KEY_DISPATCHER);
    zsock_set_router_mandatory(self->jobs, 1); /* a job for a gone worker: an error, not lost */
    zsock_set_sndtimeo(self->jobs, 0);
    zsock_set_maxmsgsize(self->jobs, 1024);
    zsock_set_maxmsgsize(self->results, 4 * 1024 * 1024);
    zsock_set_router_mandatory(self->results, 1); /* an ACK for a gone worker: an error */
    zsock_set_sndtimeo(self->results, 0);
    self->peers = zhashx_new();
    zhashx_set_destructor(self->peers, s_peer_free);
    self->late_ms = cfg->job_timeout_ms;
    self->rtt_us = dc_hist_new(DC_DISPATCHER_HIST_SAMPLES, DC_DISPATCHER_HIST_WINDOW_MS);
    self->epoch = (uint64_t)randombytes_random() << 32;
    self->inflight = zhashx_new();
    zhashx_set_destructor(self->inflight, s_free);
    self->resend = zlistx_new();
    self->seen = zhashx_new();
    zhashx_set_destructor(self->seen, s_free);
    self->loop_us = dc_hist_new(DC_DISPATCHER_HIST_SAMPLES, DC_DISPATCHER_HIST_WINDOW_MS);
    self->rng_us = dc_hist_new(DC_DISPATCHER_HIST_SAMPLES, DC_DISPATCHER_HIST_WINDOW_MS);
    self->hasher_us = dc_hist_new(DC_DISPATCHER_HIST_SAMPLES, DC_DISPATCHER_HIST_WINDOW_MS);
    self->unsent_coins = zchunk_new(NULL, 0);
    self->digests = malloc((size_t)DC_JOB_BATCH_MAX * DC_DIGEST_BYTES);
    assert(self->digests);
    self->unsent_seqs = zchunk_new(NULL, 0);
    self->unsent_checks = zlistx_new();
    zlistx_set_destructor(self->unsent_checks, s_check_free);
    self->acks = zlistx_new();
    zlistx_set_destructor(self->acks, s_ack_free);
    s_epoch_of(self->epoch, self->epoch_hex);
    dc_redis_ledger(self->redis, self->epoch_hex, self->cfg.batch);
    self->snapshot_ms = zclock_mono();
    return self;
}

static void s_log_books(dc_dispatcher_t *self)
{
    zsys_info("dispatcher: books: issued %" PRIu64 " = counted %" PRIu64 " + in flight %zu "
              "(%" PRIu64 " hashes, %" PRIu64 " coins; %" PRIu64 " re-issues, %" PRIu64
              " duplicates, %" PRIu64 " drops)",
              self->b.issued, self->b.counted, zhashx_size(self->inflight), self->b.hashes,
              self->b.coins, self->b.reissued, self->b.duplicates, dc_drops_total(self->drops));
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
        dc_drops_destroy(&self->drops);
        dc_redis_destroy(&self->redis);
        zsock_destroy(&self->jobs);
        zsock_destroy(&self->results);
        zhashx_destroy(&self->peers);
        dc_hist_destroy(&self->rtt_us);
        zhashx_destroy(&self->inflight);
        zlistx_destroy(&self->resend);
        zhashx_destroy(&self->seen);
        dc_hist_destroy(&self->loop_us);
        dc_hist_destroy(&self->rng_us);
        dc_hist_destroy(&self->hasher_us);
        zchunk_destroy(&self->unsent_coins);
        free(self->digests);
        zchunk_destroy(&self->unsent_seqs);
        zlistx_destroy(&self->unsent_checks);
        zlistx_destroy(&self->acks);
        free(self);
        *self_p = NULL;
    }
}

/*  The actor's loop: until "$TERM" on pipe or SIGINT/SIGTERM. */
static void s_run(dc_dispatcher_t *self, zsock_t *pipe)
{
    zsys_info("dispatcher: jobs on %s, results on %s, batch %u, window %zu, re-issue after "
              "%d x p99 job latency, %d..%d ms",
              self->cfg.jobs, self->cfg.results, self->cfg.batch, self->cfg.window,
              DC_DISPATCHER_LATE_P99_FACTOR, self->cfg.reissue_min_ms, self->cfg.job_timeout_ms);
    self->loop = zloop_new();
    zloop_reader(self->loop, self->jobs, s_on_ready, self);
    zloop_reader(self->loop, self->results, s_on_result, self);
    zloop_reader(self->loop, pipe, dc_app_on_pipe, self);
    zloop_timer(self->loop, DC_DISPATCHER_TICK_MS, 0, s_on_tick, self);
    zloop_timer(self->loop, 1000, 0, s_on_snapshot, self);
    s_on_snapshot(self->loop, 0, self); /* /metrics answers from the start */
    zloop_start(self->loop);
    zloop_destroy(&self->loop);
    dc_http_set_ready(self->cfg.http, false, "shutting down");
}

void dc_dispatcher_actor(zsock_t *pipe, void *args)
{
    dc_dispatcher_t *self = dc_dispatcher_new(args);
    dc_app_actor_started(pipe, self != NULL);
    if (self)
        s_run(self, pipe);
    dc_dispatcher_destroy(&self);
}

static long long s_test_int(redisContext *c, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    redisReply *r = redisvCommand(c, fmt, args);
    va_end(args);
    long long v = -1;
    if (r && r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else if (r && r->type == REDIS_REPLY_STRING)
        v = atoll(r->str);
    if (r)
        freeReplyObject(r);
    return v;
}

/*  Waits (bounded: 20 s) until Redis's `hashes` reaches at least `want`. */
static void s_test_wait_hashes(redisContext *c, long long want)
{
    int64_t deadline = zclock_mono() + 20000;
    while (s_test_int(c, "GET hashes") < want && zclock_mono() < deadline)
        zclock_sleep(20);
    DC_CHECK(s_test_int(c, "GET hashes") >= want);
}

/*  A dispatcher on these endpoints; the previous one's port may take a moment to free. */
static zactor_t *s_test_dispatcher(dc_dispatcher_cfg_t *cfg)
{
    zactor_t *actor = NULL;
    for (int64_t deadline = zclock_mono() + 3000; !actor && zclock_mono() < deadline;)
        if (!(actor = dc_app_actor_new(dc_dispatcher_actor, cfg)))
            zclock_sleep(50);
    DC_CHECK(actor);
    return actor;
}

/*  The dispatcher's last books, as it published them when it stopped. */
static void s_test_books(redisContext *c, long long *issued, long long *counted,
                         long long *in_flight, long long *reissued)
{
    *issued = s_test_int(c, "HGET " DC_STATS_KEY_DISPATCHER " " DC_STATS_DISP_ISSUED);
    *counted = s_test_int(c, "HGET " DC_STATS_KEY_DISPATCHER " " DC_STATS_DISP_COUNTED);
    *in_flight = s_test_int(c, "HGET " DC_STATS_KEY_DISPATCHER " " DC_STATS_DISP_IN_FLIGHT);
    *reissued = s_test_int(c, "HGET " DC_STATS_KEY_DISPATCHER " " DC_STATS_DISP_REISSUED);
    DC_CHECK(*issued > 0 && *issued == *counted + *in_flight);
}

/*  Every job counted is in the ledger once: hashes = batch x ledger bits, over every
    epoch; the totals and the wallet agree. Returns the ledger bits. */
static long long s_test_exact(redisContext *c, uint32_t batch)
{
    redisReply *keys = redisCommand(c, "KEYS dc:ledger:*");
    DC_CHECK(keys && keys->type == REDIS_REPLY_ARRAY);
    long long bits = 0;
    for (size_t i = 0; i < keys->elements; i++)
        bits += s_test_int(c, "BITCOUNT %s", keys->element[i]->str);
    freeReplyObject(keys);
    long long hashes = s_test_int(c, "GET hashes");
    DC_CHECK(hashes > 0 && hashes == (long long)batch * bits);
    DC_CHECK(s_test_int(c, "HGET " DC_REDIS_TOTALS_KEY " hashes") == hashes);
    DC_CHECK(s_test_int(c, "HGET " DC_REDIS_TOTALS_KEY " coins") == s_test_int(c, "HLEN wallet"));
    return bits;
}

/*  The books in process: a broker, rng, hasher, three workers and the dispatcher, with a
    real redis-server. A worker destroyed in the middle of its jobs: they are re-issued
    and each counted once. The dispatcher stopped and started again (a new epoch): the
    workers resend what it had not acknowledged, and the books stay exact. */
void dc_dispatcher_test(bool verbose)
{
    if (verbose)
        printf(" * dc_dispatcher: ");
    int redis_port = dc_rconn_test_port();
    int redis_pid = dc_rconn_test_server(redis_port, NULL);
    if (redis_pid < 0)
        dc_check_skip("no redis-server");
    redisContext *c = redisConnect("127.0.0.1", redis_port);
    DC_CHECK(c && !c->err);
    char redis[32], jobs[64], results[64], jobs_c[64], results_c[64];
    snprintf(redis, sizeof redis, "127.0.0.1:%d", redis_port);
    int jobs_port = dc_rconn_test_port(), results_port = dc_rconn_test_port();
    snprintf(jobs, sizeof jobs, "@tcp://127.0.0.1:%d", jobs_port);
    snprintf(results, sizeof results, "@tcp://127.0.0.1:%d", results_port);
    snprintf(jobs_c, sizeof jobs_c, ">tcp://127.0.0.1:%d", jobs_port);
    snprintf(results_c, sizeof results_c, ">tcp://127.0.0.1:%d", results_port);

    dc_testrig_t *rig = dc_testrig_new("@inproc://dc-dispatcher-test", 4);
    DC_CHECK(rig);

    const uint32_t batch = 4;
    dc_dispatcher_cfg_t dcfg = {.jobs = jobs,
                                .results = results,
                                .redis = redis,
                                .batch = batch,
                                .job_timeout_ms = 1000,
                                .reissue_min_ms = 300,
                                .window = 64,
                                .max_pending_coins = 1000000,
                                .verbose = verbose};
    zactor_t *dispatcher = s_test_dispatcher(&dcfg);
    zactor_t *workers[3];
    char ids[3][16];
    for (int i = 0; i < 3; i++) {
        snprintf(ids[i], sizeof ids[i], "w%d", i);
        dc_worker_cfg_t wcfg = {.broker = ">inproc://dc-dispatcher-test",
                                .jobs = jobs_c,
                                .results = results_c,
                                .id = ids[i],
                                .credit = 2,
                                .delay_ms = 40, /* a worker mostly holds a job */
                                .timeout_ms = 2000,
                                .resend_ms = 500};
        workers[i] = dc_app_actor_new(dc_worker_actor, &wcfg);
        DC_CHECK(workers[i]);
    }
    s_test_wait_hashes(c, 100 * batch);
    /* a worker dies holding its jobs: they are re-issued to the others */
    zactor_destroy(&workers[0]);
    long long at_kill = s_test_int(c, "GET hashes");
    s_test_wait_hashes(c, at_kill + 50 * batch);
    /* the dispatcher stops (its last counts written) and a new one takes its place */
    zactor_destroy(&dispatcher);
    long long issued, counted, in_flight, reissued;
    s_test_books(c, &issued, &counted, &in_flight, &reissued);
    DC_CHECK(reissued >= 1);
    long long bits = s_test_exact(c, batch);
    DC_CHECK(bits == counted); /* one epoch so far: its ledger is its books */
    dispatcher = s_test_dispatcher(&dcfg);
    long long at_restart = s_test_int(c, "GET hashes");
    s_test_wait_hashes(c, at_restart + 50 * batch);
    for (int i = 1; i < 3; i++)
        zactor_destroy(&workers[i]);
    zactor_destroy(&dispatcher);
    long long issued2, counted2, in_flight2, reissued2;
    s_test_books(c, &issued2, &counted2, &in_flight2, &reissued2);
    long long recovered = s_test_int(c, "HGET dc:stats:dispatcher recovered_jobs");
    long long bits2 = s_test_exact(c, batch);
    /* the second epoch's count, plus results of the first that only it could place */
    DC_CHECK(bits2 == counted + counted2 + recovered);
    dc_testrig_destroy(&rig);
    redisFree(c);
    dc_rconn_test_server_stop(redis_pid);
    if (verbose)
        printf("OK (%lld jobs over two epochs, %lld re-issued, %lld recovered)\n", bits2,
               reissued + reissued2, recovered);
}
