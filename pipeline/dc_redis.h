/*  dc_redis: the one Redis writer of a process, as a zactor so that a slow or vanished
    Redis never stalls the owner's message loop. The owner hands it counts (hashes and
    coins, accumulated until written) and stats snapshots (latest wins); the actor writes
    them once a second, and the counts also as soon as 8,192 coins are pending. Counts
    survive Redis outages in memory and are written exactly once: each batch is one EVAL
    of a Lua script (atomic; no MULTI/EXEC) that applies the counts only when the batch's
    sequence number is newer than the last one applied, and stores it with them, so a
    batch whose reply was lost and is sent again is recognised instead of being added
    twice. The owner's published books (dc_redis_books_stats) travel in the same EVAL as
    the counts, so Redis never holds a batch without the newest books handed over before
    it was sent.

    Sequence numbers do not come from the clock: before its first batch the writer takes
    a writer number W from Redis (one script: one more than any handed out before and
    than the writer part of the last batch applied) and numbers its batches W x 10^9 + 1,
    + 2, ..., so a writer started later writes newer batches whatever the clocks say.

    Waits: the connect and AUTH take at most 250 ms each; a reply at most 1 s plus 50 ms
    per 1,000 coins of the batch, at most 2 s, while running (a Redis starved of CPU takes
    that long, and a batch given up on is only sent again). Every wait on a reply is a
    poll that also watches the owner's pipe, so "$TERM" (dc_redis_destroy) cuts the flush
    under way short: from then on the writer waits at most 600 ms in all, the last write
    included, and the owner exits within a second of SIGTERM. What that last write can
    land in 600 ms is bounded by the owner: the dispatcher issues no new jobs while more
    than 16,384 of its coins are not yet written (status written_coins). */
#ifndef DC_REDIS_H_INCLUDED
#define DC_REDIS_H_INCLUDED

#include <czmq.h>

typedef struct _dc_redis_t dc_redis_t;

/*  The books' own totals, a Redis hash that never expires: `hashes` and `coins` are what
    the books script (and the ledger's check script) added to `hashes` and to `wallet`
    (new fields only), in the same atomic EVAL. So `GET hashes` equals its `hashes` and
    `HLEN wallet` its `coins` unless something else wrote them (dc-audit checks this).
    When the key is missing, the next script first adopts what Redis holds (books written
    before the totals existed), also as `adopted_hashes` and `adopted_coins`. */
#define DC_REDIS_TOTALS_KEY "dc:books:totals"

typedef struct {
    bool connected;
    uint64_t pending_hashes; /* accepted but not yet written */
    uint64_t pending_coins;
    uint64_t written_hashes; /* written by this process since start */
    uint64_t written_coins;
    uint64_t errors;
    uint64_t books_lost;   /* times the books key vanished after this process wrote it */
    int64_t books_lost_ms; /* wall clock of the newest such loss, 0: none */
    /* with a ledger (dc_redis_ledger): everything handed off with this number or lower
       (dc_redis_count_jobs, dc_redis_check) is in Redis */
    uint64_t durable_handoff;
    uint64_t recovered_jobs; /* checks that counted their job: nobody had */
    uint64_t recovered_hashes, recovered_coins;
    uint64_t refused_checks; /* unknown epoch, or hashes not its batch: not counted */
} dc_redis_status_t;

/*  hostport "HOST:PORT"; books_key names the key holding the last written batch sequence
    (NULL when this process writes no counts); password for AUTH, or NULL/"".
    Once this process has written the books, books_key must stay in Redis: when a flush
    finds it gone (Redis restarted without its data, or was flushed), the actor logs an
    error, counts it in the status (books_lost) and goes on counting from what Redis has
    (the counters start again from this process's next batch). */
dc_redis_t *dc_redis_new(const char *hostport, const char *books_key, const char *password);
/*  Tries a last write, then stops the actor: at most 600 ms after the actor sees the
    request (a reconnect only while 250 ms of that are left); what did not land in time
    is logged as not confirmed written. */
void dc_redis_destroy(dc_redis_t **self_p);

/*  A coin as the books take it: its wallet field (the hex SHA-256 of its bytes, 64
    characters) then its value (the 32 random bytes), back to back. Coins travel as a
    run of these records, one buffer per hand-off, not a frame each. */
#define DC_REDIS_COIN_FIELD 64
#define DC_REDIS_COIN_VALUE 32
#define DC_REDIS_COIN_SIZE (DC_REDIS_COIN_FIELD + DC_REDIS_COIN_VALUE)

/*  Adds hashes and coins (NULL, or records as above; copied, so the caller may reuse
    its buffer) to the books. */
void dc_redis_count(dc_redis_t *self, uint64_t hashes, zchunk_t *coins);
/*  The ledger of jobs counted: from now on the books script also records, for each job
    handed off with dc_redis_count_jobs, that job `seq` of `epoch` (8 hex digits) is
    counted (a bit in `dc:ledger:EPOCH:CHUNK`, 2^20 jobs a chunk, kept 1 h after its
    last write), and `dc:epoch:EPOCH` holds the epoch's `batch` and `issued` (same TTL).
    All in the same atomic script as the counts: a job is in the ledger exactly when
    its hashes and coins are in the books. */
void dc_redis_ledger(dc_redis_t *self, const char *epoch, uint32_t batch);
/*  dc_redis_count for the owner of a ledger: `handoff` numbers this hand-off (it only
    grows), `issued` is the number of jobs the epoch has issued so far, and `seqs` lists
    the counted jobs' sequence numbers (decimal, separated by spaces). */
void dc_redis_count_jobs(dc_redis_t *self, uint64_t handoff, uint64_t hashes, zchunk_t *coins,
                         uint64_t issued, const char *seqs);
/*  A result the owner cannot tell is counted (a job of an earlier epoch, or answered
    again): in Redis, after every count handed off before it, its job `seq` of `epoch` is
    counted with these hashes and coins if, and only if, the ledger does not have it
    yet, the epoch is known and `hashes` is the epoch's batch. Idempotent. */
void dc_redis_check(dc_redis_t *self, uint64_t handoff, const char *epoch, uint32_t seq,
                    uint32_t hashes, zchunk_t *coins);
/*  Replaces the Redis hash `key` (10 s expiry) with fields: pairs [name, value]. */
void dc_redis_stats(dc_redis_t *self, const char *key, zmsg_t **fields_p);
/*  From now on the stats of `key` are the owner's published books (for a process that
    writes counts): the newest snapshot of it goes in the books script, written in the
    same atomic EVAL as the next batch of counts (also when that batch is a copy that
    changes nothing), or on its own at the next tick when no counts are pending. So
    counts land only together with the newest snapshot handed over before they were
    sent: an owner that hands over its last counts, then its last snapshot, then stops,
    leaves in Redis both or neither (an earlier batch still unconfirmed at that moment
    carries the snapshot it was sent with). */
void dc_redis_books_stats(dc_redis_t *self, const char *key);
/*  From now on every flush (once a second, while Redis is reachable) also appends
    "TS_MS:HASHES" to the Redis list `key`, HASHES being the `hashes` total right after
    the flush's books landed, and trims the list to its newest `keep` entries. Written
    even when nothing was counted, so a stalled rig shows as a flat line; the webui draws
    its chart from this list. */
void dc_redis_series(dc_redis_t *self, const char *key, int keep);
/*  Reads the latest status the actor reported, without blocking. */
void dc_redis_status(dc_redis_t *self, dc_redis_status_t *status);

void dc_redis_test(bool verbose);

#endif
