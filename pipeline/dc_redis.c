/*  dc_redis: see the header for why this is an actor. Inside, everything is blocking
    hiredis with short timeouts; the owner never waits on it. */
#include "dc_redis.h"
#include "dc_check.h"
#include "dc_rconn.h"

#include <assert.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <signal.h>

#define DC_REDIS_FLUSH_MS 1000
#define DC_REDIS_STATS_TTL "10"
#define DC_REDIS_HSET_CHUNK 1000 /* coins per HSET command */
#define DC_REDIS_TIMEOUT_MS 250  /* connect and AUTH */
/*  Every reply of a flush while running: a Redis starved of CPU on a busy machine takes
    this long for a few thousand coins, and giving up on a batch only sends it again. */
#define DC_REDIS_REPLY_MS 1000
#define DC_REDIS_CHUNK_MS 50       /* extra reply time per HSET_CHUNK coins in a batch */
#define DC_REDIS_REPLY_MAX_MS 2000 /* a flush while running waits at most this per reply */
/*  The last flush at exit, connecting included, waits at most this in all: the owner
    exits within a second of SIGTERM. */
#define DC_REDIS_EXIT_MS 600
#define DC_REDIS_IO_MS 50 /* one read or write call on a ready socket */
/*  Batch sequence = writer number x this + batch number (see the header). */
#define DC_REDIS_WRITER_SPAN 1000000000ULL
/*  Coins pending that are written at once, before the next tick: batches stay small
    at raw batched speed (tens of thousands of coins a second), so no write, the last
    one at exit included, keeps Redis busy for long. */
#define DC_REDIS_EARLY_COINS 8192
#define DC_REDIS_LEDGER_TTL "3600"

struct _dc_redis_t {
    zactor_t *actor;
    dc_redis_status_t status;
};

typedef struct {
    dc_rconn_t *conn;
    const char *books_key;
    redisContext *ctx;     /* the connection's context while connected, else NULL */
    uint64_t writer;       /* this process's writer number, from Redis; 0: not yet known */
    uint64_t seq;          /* sequence of the batch below */
    int64_t deadline;      /* while not 0: no reply is waited for past it (exit) */
    zsock_t *pipe;         /* the owner's: watched while waiting on Redis */
    bool stopping;         /* "$TERM" came: the flush under way ends by the deadline */
    uint64_t batch_hashes; /* the batch being written, resent as is until confirmed */
    zchunk_t *batch_coins; /* coin records; NULL while no batch is being written */
    uint64_t pend_hashes;  /* accepted since the batch was cut */
    zchunk_t *pend_coins;
    char epoch[16];                   /* ledger epoch (hex), "" when no ledger */
    char ledger_batch[16];            /* the epoch's batch, as text */
    zchunk_t *pend_seqs, *batch_seqs; /* counted job sequence numbers, as text */
    uint64_t pend_issued, batch_issued;
    uint64_t pend_handoff, batch_handoff;
    zlistx_t *pend_checks, *batch_checks; /* CHECKs: [epoch, seq, hashes, coins] (zmsg_t) */
    zhashx_t *stats;                      /* key -> zmsg_t of fields */
    char *books_stats_key;                /* stats written in the books script, NULL: none */
    zmsg_t *books_stats;                  /* its newest snapshot, until written */
    uint64_t books_stats_no;              /* snapshots of it received */
    uint64_t books_stats_sent;            /* the one the batch carries, 0: none */
    char *series_key;                     /* list of "ts_ms:hashes" samples, NULL: none */
    int series_keep;
    dc_redis_status_t status;
    bool books_written; /* books_key should exist: a batch of ours landed since the last loss */
} s_state_t;

static void s_disconnect(s_state_t *st, const char *why)
{
    dc_rconn_drop(st->conn, why);
    st->ctx = NULL;
    st->status.connected = false;
    st->status.errors++;
}

static struct timeval s_tv(int ms)
{
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

/*  Connects (the connection's back-off permitting). The waits of a flush are polls
    (s_wait_fd); a read or write call itself, made once the socket is ready, blocks at
    most DC_REDIS_IO_MS. */
static void s_connect(s_state_t *st)
{
    st->ctx = dc_rconn_get(st->conn);
    st->status.connected = st->ctx != NULL;
    if (st->ctx)
        redisSetTimeout(st->ctx, s_tv(DC_REDIS_IO_MS));
}

/*  Appends one command: the frames of args, then for each of n coin records (may be
    NULL) its field and value, which are not copied: hiredis formats the command from
    them at once. */
static void s_append_argv(s_state_t *st, zlistx_t *args, const byte *coins, size_t n)
{
    size_t argc = zlistx_size(args) + 2 * n;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    assert(argv && lens);
    size_t i = 0;
    for (zframe_t *f = zlistx_first(args); f; f = zlistx_next(args), i++) {
        argv[i] = (const char *)zframe_data(f);
        lens[i] = zframe_size(f);
    }
    for (size_t c = 0; c < n; c++, i += 2) {
        const byte *record = coins + c * DC_REDIS_COIN_SIZE;
        argv[i] = (const char *)record;
        lens[i] = DC_REDIS_COIN_FIELD;
        argv[i + 1] = (const char *)record + DC_REDIS_COIN_FIELD;
        lens[i + 1] = DC_REDIS_COIN_VALUE;
    }
    redisAppendCommandArgv(st->ctx, (int)argc, argv, lens);
    free(argv);
    free(lens);
}

/*  Coin records in chunk (NULL: none). */
static size_t s_coins_in(zchunk_t *chunk)
{
    return chunk ? zchunk_size(chunk) / DC_REDIS_COIN_SIZE : 0;
}

static zlistx_t *s_args(const char *cmd, const char *key)
{
    zlistx_t *args = zlistx_new();
    zlistx_set_destructor(args, (zlistx_destructor_fn *)zframe_destroy);
    zlistx_add_end(args, zframe_from(cmd));
    zlistx_add_end(args, zframe_from(key));
    return args;
}

/*  Appends HSET commands for frames of msg (pairs), chunked; returns commands appended. */
static int s_append_hset(s_state_t *st, const char *key, zmsg_t *pairs)
{
    int commands = 0;
    zframe_t *f = zmsg_first(pairs);
    while (f) {
        zlistx_t *args = s_args("HSET", key);
        for (int n = 0; f && n < 2 * DC_REDIS_HSET_CHUNK; n++, f = zmsg_next(pairs))
            zlistx_add_end(args, zframe_dup(f));
        s_append_argv(st, args, NULL, 0);
        zlistx_destroy(&args);
        commands++;
    }
    return commands;
}

/*  The books' totals (DC_REDIS_TOTALS_KEY) start from what Redis holds when they are
    missing: hashes and a wallet written before the totals existed (an upgrade over a
    persistent Redis) are adopted, and recorded as such (adopted_hashes, adopted_coins)
    so that dc-audit can say which part of the counts it found rather than saw added. */
#define S_TOTALS_ADOPT                                                                             \
    "if redis.call('EXISTS', '" DC_REDIS_TOTALS_KEY "') == 0 then\n"                               \
    "  local h = tonumber(redis.call('GET', 'hashes') or '0') or 0\n"                              \
    "  local c = redis.call('HLEN', 'wallet')\n"                                                   \
    "  redis.call('HSET', '" DC_REDIS_TOTALS_KEY "', 'hashes', h, 'coins', c,\n"                   \
    "             'adopted_hashes', h, 'adopted_coins', c)\n"                                      \
    "end\n"

/*  This writer's number, atomically: one more than every number handed out before
    (KEYS[2]) and than the writer part of every batch applied (KEYS[1]), so the batches
    of a writer started later are newer whatever the clocks say, also after Redis lost
    KEYS[2] but not KEYS[1]. Refused when sequences would pass 2^53 (Lua's exact
    integers). */
static const char s_writer_script[] =
    "local last = tonumber(redis.call('GET', KEYS[1]) or '0') or 0\n"
    "local given = tonumber(redis.call('GET', KEYS[2]) or '0') or 0\n"
    "local w = math.max(given, math.floor(last / tonumber(ARGV[1]))) + 1\n"
    "if (w + 1) * tonumber(ARGV[1]) > 9007199254740992 then\n"
    "  return redis.error_reply('books sequence exhausted: ' .. KEYS[1])\n"
    "end\n"
    "redis.call('SET', KEYS[2], w)\n"
    "return w\n";

/*  Applies a batch at most once, atomically: a batch whose sequence number is not newer
    than the last one applied is a copy (its first send arrived late, over a connection
    we had given up on) and changes nothing. Returns 0 for a copy, 1 when applied, 2 when
    applied while the sequence key was missing (a fresh Redis, or one that lost its data). */
/*  Also writes the books' snapshot (KEYS[4], replaced whole, 10 s expiry) when the batch
    carries one, a copy included: the counts and the snapshot handed over before them
    land together or not at all. */
/*  ARGV: batch sequence, hashes, the ledger's job sequence numbers (text), epoch ("":
    no ledger), the epoch's batch and jobs issued, the number N of snapshot arguments
    (field, value pairs; 0: none), those N, then the coins (digest, bytes pairs). */
static const char s_books_script[] =
    "local n = tonumber(ARGV[7])\n"
    "if n > 0 then\n"
    "  redis.call('DEL', KEYS[4])\n"
    "  for i = 8, 7 + n, 2000 do\n"
    "    redis.call('HSET', KEYS[4], unpack(ARGV, i, math.min(i + 1999, 7 + n)))\n"
    "  end\n"
    "  redis.call('EXPIRE', KEYS[4], " DC_REDIS_STATS_TTL ")\n"
    "end\n"
    "local seq = redis.call('GET', KEYS[1])\n"
    "local last = tonumber(seq or '0') or 0\n"
    "if last >= tonumber(ARGV[1]) then return 0 end\n" S_TOTALS_ADOPT
    "redis.call('INCRBY', KEYS[2], ARGV[2])\n"
    "local added = 0\n"
    "for i = 8 + n, #ARGV, 2000 do\n"
    "  added = added + redis.call('HSET', KEYS[3], unpack(ARGV, i, math.min(i + 1999, #ARGV)))\n"
    "end\n"
    "redis.call('HINCRBY', '" DC_REDIS_TOTALS_KEY "', 'hashes', ARGV[2])\n"
    "redis.call('HINCRBY', '" DC_REDIS_TOTALS_KEY "', 'coins', added)\n"
    "if ARGV[4] ~= '' then\n"
    "  local ep = 'dc:epoch:' .. ARGV[4]\n"
    "  redis.call('HSET', ep, 'batch', ARGV[5], 'issued', ARGV[6])\n"
    "  redis.call('EXPIRE', ep, " DC_REDIS_LEDGER_TTL ")\n"
    "  local touched = {}\n"
    "  for s in string.gmatch(ARGV[3], '%d+') do\n"
    "    local n = tonumber(s)\n"
    "    local key = 'dc:ledger:' .. ARGV[4] .. ':' .. math.floor(n / 1048576)\n"
    "    redis.call('SETBIT', key, n % 1048576, 1)\n"
    "    touched[key] = true\n"
    "  end\n"
    "  for key in pairs(touched) do redis.call('EXPIRE', key, " DC_REDIS_LEDGER_TTL ") end\n"
    "end\n"
    "redis.call('SET', KEYS[1], ARGV[1])\n"
    "if seq then return 1 end\n"
    "return 2\n";

/*  One result nobody can tell is counted. ARGV: epoch, job sequence, hashes, coins.
    Returns 1 when it counted it, 0 when the ledger already had the job, -1 when the
    epoch is unknown (expired, or never ours), the hashes are not its batch, or the
    sequence is far beyond what it issued. */
static const char s_check_script[] =
    "local ep = 'dc:epoch:' .. ARGV[1]\n"
    "local batch = redis.call('HGET', ep, 'batch')\n"
    "local issued = tonumber(redis.call('HGET', ep, 'issued') or '0')\n"
    "local n = tonumber(ARGV[2])\n"
    "if not batch or batch ~= ARGV[3] or n >= issued + 65536 then return -1 end\n"
    "local key = 'dc:ledger:' .. ARGV[1] .. ':' .. math.floor(n / 1048576)\n"
    "if redis.call('SETBIT', key, n % 1048576, 1) == 1 then return 0 end\n"
    "redis.call('EXPIRE', key, " DC_REDIS_LEDGER_TTL ")\n" S_TOTALS_ADOPT
    "redis.call('INCRBY', 'hashes', ARGV[3])\n"
    "local added = 0\n"
    "if #ARGV > 3 then added = redis.call('HSET', 'wallet', unpack(ARGV, 4)) end\n"
    "redis.call('HINCRBY', '" DC_REDIS_TOTALS_KEY "', 'hashes', ARGV[3])\n"
    "redis.call('HINCRBY', '" DC_REDIS_TOTALS_KEY "', 'coins', added)\n"
    "return 1\n";

/*  The books key vanished after this process wrote it: Redis lost the wallet and the
    counters (restarted without persistence or with its files gone, or flushed). Logged
    and counted once per loss; counting goes on from what Redis has. */
static void s_books_lost(s_state_t *st)
{
    st->status.books_lost++;
    st->status.books_lost_ms = zclock_time();
    zsys_error("redis: the books are gone: %s is missing from %s although this process "
               "wrote it (Redis restarted without its data, or was flushed); %" PRIu64
               " loss(es) so far. Counting goes on from what Redis has: `hashes` and `wallet` "
               "start again from the next batch. Keep Redis persistent (appendonly, a volume)",
               st->books_key, dc_rconn_address(st->conn), st->status.books_lost);
}

/*  When no batch goes out, checks that the books key is still there; returns the number
    of replies to read (0 or 1). */
static int s_append_books_check(s_state_t *st)
{
    if (!st->books_key || !st->books_written)
        return 0;
    const char *argv[] = {"EXISTS", st->books_key};
    redisAppendCommandArgv(st->ctx, 2, argv, NULL);
    return 1;
}

/*  Cuts a new batch from what is pending, unless one is still unconfirmed: that one is
    sent again, with the same sequence number, until Redis confirms it. */
static void s_cut_batch(s_state_t *st)
{
    if (st->batch_coins)
        return;
    st->batch_coins = st->pend_coins; /* taken whole */
    st->pend_coins = zchunk_new(NULL, 0);
    st->batch_hashes = st->pend_hashes;
    st->pend_hashes = 0;
    zchunk_t *seqs = st->batch_seqs; /* empty: the last batch landed */
    st->batch_seqs = st->pend_seqs;
    st->pend_seqs = seqs;
    zlistx_t *checks = st->batch_checks;
    st->batch_checks = st->pend_checks;
    st->pend_checks = checks;
    st->batch_issued = st->pend_issued;
    st->batch_handoff = st->pend_handoff;
    st->seq++;
}

static bool s_batch_empty(s_state_t *st)
{
    return st->batch_hashes == 0 && s_coins_in(st->batch_coins) == 0 &&
           zchunk_size(st->batch_seqs) == 0 && zlistx_size(st->batch_checks) == 0;
}

static void s_batch_landed(s_state_t *st)
{
    st->status.written_hashes += st->batch_hashes;
    st->status.written_coins += s_coins_in(st->batch_coins);
    st->status.durable_handoff = st->batch_handoff;
    st->batch_hashes = 0;
    zchunk_destroy(&st->batch_coins);
    zchunk_set(st->batch_seqs, NULL, 0);
    zlistx_purge(st->batch_checks);
    if (st->books_stats_sent && st->books_stats_sent == st->books_stats_no)
        zmsg_destroy(&st->books_stats); /* written with the batch, none newer came */
    st->books_stats_sent = 0;
}

/*  Appends one EVAL of the check script per CHECK in the batch, after the books. */
static int s_append_checks(s_state_t *st)
{
    for (zmsg_t *args = zlistx_first(st->batch_checks); args;
         args = zlistx_next(st->batch_checks)) {
        zlistx_t *argv = s_args("EVAL", s_check_script);
        zlistx_add_end(argv, zframe_from("0"));
        zframe_t *f = zmsg_first(args);
        for (int i = 0; i < 3; i++, f = zmsg_next(args)) /* epoch, seq, hashes */
            zlistx_add_end(argv, zframe_dup(f));
        s_append_argv(st, argv, zframe_data(f), zframe_size(f) / DC_REDIS_COIN_SIZE);
        zlistx_destroy(&argv);
    }
    return (int)zlistx_size(st->batch_checks);
}

/*  Tallies what the checks of a batch did: replies 1 (counted), 0, -1 (refused). */
static void s_tally_checks(s_state_t *st, const long long *replies)
{
    size_t i = 0;
    for (zmsg_t *args = zlistx_first(st->batch_checks); args;
         args = zlistx_next(st->batch_checks), i++) {
        if (replies[i] == 1) {
            st->status.recovered_jobs++;
            zmsg_first(args);
            zmsg_next(args);
            char *hashes = zframe_strdup(zmsg_next(args));
            st->status.recovered_hashes += strtoull(hashes, NULL, 10);
            free(hashes);
            st->status.recovered_coins += zframe_size(zmsg_next(args)) / DC_REDIS_COIN_SIZE;
        } else if (replies[i] < 0)
            st->status.refused_checks++;
    }
}

/*  True when a batch is to be written: the unconfirmed one, or one cut from what is
    pending. */
static bool s_has_batch(s_state_t *st)
{
    if (!st->books_key)
        return false;
    s_cut_batch(st);
    if (s_batch_empty(st)) {
        zchunk_destroy(&st->batch_coins);
        return false;
    }
    return true;
}

/*  Adds the books' snapshot to the script's arguments: their number, then the pairs
    (none when no snapshot is waiting). The batch carries the newest one, a resent batch
    included. */
static void s_add_books_stats(s_state_t *st, zlistx_t *args)
{
    zmsg_t *fields = st->books_stats;
    char number[32];
    snprintf(number, sizeof number, "%zu", fields ? zmsg_size(fields) : 0);
    zlistx_add_end(args, zframe_from(number));
    for (zframe_t *f = fields ? zmsg_first(fields) : NULL; f; f = zmsg_next(fields))
        zlistx_add_end(args, zframe_dup(f));
    st->books_stats_sent = fields ? st->books_stats_no : 0;
}

/*  Appends the books script call for the batch (s_has_batch); returns the number of
    replies to read. */
static int s_append_books(s_state_t *st)
{
    zlistx_t *args = s_args("EVAL", s_books_script);
    zlistx_add_end(args, zframe_from("4"));
    zlistx_add_end(args, zframe_from(st->books_key));
    zlistx_add_end(args, zframe_from("hashes"));
    zlistx_add_end(args, zframe_from("wallet"));
    zlistx_add_end(args, zframe_from(st->books_stats_key ? st->books_stats_key : ""));
    char number[32];
    snprintf(number, sizeof number, "%" PRIu64, st->seq);
    zlistx_add_end(args, zframe_from(number));
    snprintf(number, sizeof number, "%" PRIu64, st->batch_hashes);
    zlistx_add_end(args, zframe_from(number));
    zlistx_add_end(args, zframe_new(zchunk_data(st->batch_seqs), zchunk_size(st->batch_seqs)));
    zlistx_add_end(args, zframe_from(st->epoch));
    zlistx_add_end(args, zframe_from(st->ledger_batch));
    snprintf(number, sizeof number, "%" PRIu64, st->batch_issued);
    zlistx_add_end(args, zframe_from(number));
    s_add_books_stats(st, args);
    s_append_argv(st, args, zchunk_data(st->batch_coins), s_coins_in(st->batch_coins));
    zlistx_destroy(&args);
    return 1 + s_append_checks(st);
}

/*  One sample of the `hashes` total, after the books of the same flush (the pipeline
    runs them first), trimmed to the newest ARGV[2] samples. */
static const char s_series_script[] = "local total = redis.call('GET', KEYS[2]) or '0'\n"
                                      "redis.call('RPUSH', KEYS[1], ARGV[1] .. ':' .. total)\n"
                                      "redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)\n"
                                      "return 1\n";

/*  Appends the series sample; returns the number of replies to read (0 or 1). */
static int s_append_series(s_state_t *st)
{
    if (!st->series_key)
        return 0;
    char ts[32], keep[16];
    snprintf(ts, sizeof ts, "%" PRId64, zclock_time());
    snprintf(keep, sizeof keep, "%d", st->series_keep);
    const char *argv[] = {"EVAL", s_series_script, "2", st->series_key, "hashes", ts, keep};
    redisAppendCommandArgv(st->ctx, 7, argv, NULL);
    return 1;
}

/*  Replaces key with fields (10 s expiry); returns the number of replies to read. */
static int s_append_snapshot(s_state_t *st, const char *key, zmsg_t *fields)
{
    redisAppendCommand(st->ctx, "DEL %s", key);
    int replies = 1 + s_append_hset(st, key, fields);
    redisAppendCommand(st->ctx, "EXPIRE %s " DC_REDIS_STATS_TTL, key);
    return replies + 1;
}

/*  The stats snapshots waiting, and the books' one too when no batch carries it
    (with_books); returns the number of replies to read. */
static int s_append_stats(s_state_t *st, bool with_books)
{
    int replies = 0;
    for (zmsg_t *fields = zhashx_first(st->stats); fields; fields = zhashx_next(st->stats))
        replies += s_append_snapshot(st, zhashx_cursor(st->stats), fields);
    zhashx_purge(st->stats);
    if (with_books && st->books_stats) {
        replies += s_append_snapshot(st, st->books_stats_key, st->books_stats);
        zmsg_destroy(&st->books_stats);
    }
    return replies;
}

static void s_on_command(s_state_t *st, zmsg_t *msg);

/*  Takes one message from the owner while a flush waits on Redis: commands are queued
    as usual (they touch only what is pending, not the batch being written); "$TERM"
    (or a closed pipe) sets the exit deadline, which cuts the wait short. */
static void s_take_pipe(s_state_t *st)
{
    zmsg_t *msg = zmsg_recv(st->pipe);
    if (!msg || zframe_streq(zmsg_first(msg), "$TERM")) {
        st->stopping = true;
        if (!st->deadline)
            st->deadline = zclock_mono() + DC_REDIS_EXIT_MS;
        zmsg_destroy(&msg);
    } else
        s_on_command(st, msg);
}

/*  Waits until the Redis socket is ready for events, watching the owner's pipe, until
    `until` and never past the exit deadline. False when the time ran out. */
static bool s_wait_fd(s_state_t *st, short events, int64_t until)
{
    while (true) {
        int64_t end = st->deadline && st->deadline < until ? st->deadline : until;
        int64_t left = end - zclock_mono();
        if (left <= 0)
            return false;
        zmq_pollitem_t items[] = {{NULL, st->ctx->fd, events, 0},
                                  {st->pipe ? zsock_resolve(st->pipe) : NULL, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, st->pipe ? 2 : 1, (long)left) < 0 && zmq_errno() != EINTR)
            return false;
        if (items[0].revents & (events | ZMQ_POLLERR))
            return true;
        if (items[1].revents & ZMQ_POLLIN)
            s_take_pipe(st);
    }
}

/*  The next reply: what is queued is written, each wait for room at most reply_ms
    (a big batch takes many writes), then the reply awaited at most reply_ms; never past
    the exit deadline. NULL (disconnected, the reason logged once) on failure or
    timeout. */
static redisReply *s_get_reply(s_state_t *st, int reply_ms)
{
    void *reply = NULL;
    int done = 0;
    while (!done) {
        if (!s_wait_fd(st, ZMQ_POLLOUT, zclock_mono() + reply_ms)) {
            s_disconnect(st, "no room to write within the timeout");
            return NULL;
        }
        if (redisBufferWrite(st->ctx, &done) != REDIS_OK) {
            s_disconnect(st, st->ctx->errstr);
            return NULL;
        }
    }
    int64_t until = zclock_mono() + reply_ms;
    while (true) {
        if (redisGetReplyFromReader(st->ctx, &reply) != REDIS_OK) {
            s_disconnect(st, st->ctx->errstr);
            return NULL;
        }
        if (reply)
            return reply;
        if (!s_wait_fd(st, ZMQ_POLLIN, until)) {
            s_disconnect(st, st->deadline ? "no reply within the exit budget"
                                          : "no reply within the timeout");
            return NULL;
        }
        if (redisBufferRead(st->ctx) != REDIS_OK) {
            s_disconnect(st, st->ctx->errstr);
            return NULL;
        }
    }
}

/*  Reads n replies, waiting at most reply_ms for each; their integers (-1 for any other
    reply) go to values. Returns -1 on a connection failure or timeout (then the batch's
    fate is unknown and it is sent again). */
static int s_read_replies(s_state_t *st, int n, long long *values, int reply_ms)
{
    for (int i = 0; i < n; i++) {
        redisReply *r = s_get_reply(st, reply_ms);
        if (!r)
            return -1;
        if (r->type == REDIS_REPLY_ERROR) {
            zsys_error("redis: %s", r->str);
            st->status.errors++;
        }
        values[i] = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
        freeReplyObject(r);
    }
    return 0;
}

/*  What the replies to the books (script, then checks) or to the books check say. */
static void s_books_replied(s_state_t *st, int check, int books, const long long *replies)
{
    long long applied = replies[0];
    if (check && applied == 0) {
        s_books_lost(st);
        st->books_written = false; /* nothing of ours is there any more to lose */
    }
    if (!books)
        return;
    if (applied == 2 && st->books_written)
        s_books_lost(st);
    if (applied >= 0)
        st->books_written = true;
    if (applied == 0)
        zsys_info("redis: batch %" PRIu64 " had already landed (its first copy arrived late); "
                  "not counted twice",
                  st->seq);
    else if (applied < 0)
        return; /* refused (wrong type, out of memory): kept, tried again, logged above */
    s_tally_checks(st, replies + 1);
    s_batch_landed(st);
}

/*  Takes this process's writer number from Redis, once, before its first batch: its
    batches are numbered from writer x DC_REDIS_WRITER_SPAN on. 0, or -1 (logged) when
    Redis did not give one: the books wait for the next flush. */
static int s_get_writer(s_state_t *st, int timeout_ms)
{
    if (st->writer)
        return 0;
    char key[256], span[32];
    snprintf(key, sizeof key, "%s:writer", st->books_key);
    snprintf(span, sizeof span, "%llu", DC_REDIS_WRITER_SPAN);
    const char *argv[] = {"EVAL", s_writer_script, "2", st->books_key, key, span};
    redisAppendCommandArgv(st->ctx, 6, argv, NULL);
    redisReply *r = s_get_reply(st, timeout_ms);
    if (!r)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
        st->writer = (uint64_t)r->integer;
        st->seq = st->writer * DC_REDIS_WRITER_SPAN;
        zsys_info("redis: books writer %" PRIu64 " (%s)", st->writer, key);
    } else {
        zsys_error("redis: no writer number from %s: %s", key,
                   r->type == REDIS_REPLY_ERROR ? r->str : "not an integer");
        st->status.errors++;
    }
    freeReplyObject(r);
    return st->writer ? 0 : -1;
}

/*  Stats go first: they are small, and land even when the books take long; the series
    sample goes last, so it holds the total the books just wrote. The reply
    timeout grows with the batch: on a busy machine (raw mode, thousands of coins a
    second) a big batch (after an outage) takes Redis longer than the base timeout, and
    giving up on it would only send it again, whole, for Redis to parse again. "$TERM"
    during the waits sets the exit deadline, which caps them (s_wait_fd). Between ticks
    (tick false) only the books are written: stats and the series stay once a second. */
static void s_flush(s_state_t *st, int timeout_ms, bool tick)
{
    s_connect(st);
    if (!st->ctx || (st->books_key && s_get_writer(st, timeout_ms) != 0))
        return;
    bool batch = s_has_batch(st);
    int stats = tick ? s_append_stats(st, !batch) : 0;
    int books = batch ? s_append_books(st) : 0;
    int check = books || !tick ? 0 : s_append_books_check(st);
    int series = tick ? s_append_series(st) : 0;
    if (books + check + stats + series == 0)
        return;
    size_t chunks = books ? s_coins_in(st->batch_coins) / DC_REDIS_HSET_CHUNK : 0;
    int reply_ms = timeout_ms + (int)chunks * DC_REDIS_CHUNK_MS;
    if (reply_ms > DC_REDIS_REPLY_MAX_MS)
        reply_ms = DC_REDIS_REPLY_MAX_MS;
    int n = stats + books + check + series;
    long long *values = calloc((size_t)n, sizeof *values);
    assert(values);
    if (s_read_replies(st, n, values, reply_ms) == 0 && (books || check))
        s_books_replied(st, check, books, values + stats);
    free(values);
}

static size_t s_pending_coins(s_state_t *st)
{
    return s_coins_in(st->pend_coins) + s_coins_in(st->batch_coins);
}

static void s_report(s_state_t *st, zsock_t *pipe)
{
    st->status.pending_hashes = st->pend_hashes + st->batch_hashes;
    st->status.pending_coins = s_pending_coins(st);
    zsock_set_sndtimeo(pipe, 0);
    zsock_send(pipe, "sb", "STATUS", &st->status, sizeof st->status);
}

static uint64_t s_pop_u64(zmsg_t *msg)
{
    zframe_t *f = zmsg_pop(msg);
    uint64_t v = 0;
    if (f && zframe_size(f) == sizeof v)
        memcpy(&v, zframe_data(f), sizeof v);
    zframe_destroy(&f);
    return v;
}

static void s_on_command(s_state_t *st, zmsg_t *msg)
{
    char *cmd = zmsg_popstr(msg);
    if (cmd && streq(cmd, "COUNT")) {
        uint64_t hashes = s_pop_u64(msg), handoff = s_pop_u64(msg), issued = s_pop_u64(msg);
        zframe_t *seqs = zmsg_pop(msg);
        st->pend_hashes += hashes;
        if (handoff) {
            st->pend_handoff = handoff;
            st->pend_issued = issued;
        }
        if (seqs && zframe_size(seqs)) {
            zchunk_extend(st->pend_seqs, zframe_data(seqs), zframe_size(seqs));
            zchunk_extend(st->pend_seqs, " ", 1);
        }
        zframe_destroy(&seqs);
        zframe_t *coins = zmsg_pop(msg);
        if (coins && zframe_size(coins) % DC_REDIS_COIN_SIZE == 0)
            zchunk_extend(st->pend_coins, zframe_data(coins), zframe_size(coins));
        zframe_destroy(&coins);
    } else if (cmd && streq(cmd, "CHECK")) {
        st->pend_handoff = s_pop_u64(msg);
        zlistx_add_end(st->pend_checks, msg);
        msg = NULL;
    } else if (cmd && streq(cmd, "LEDGER")) {
        char *epoch = zmsg_popstr(msg), *batch = zmsg_popstr(msg);
        snprintf(st->epoch, sizeof st->epoch, "%s", epoch ? epoch : "");
        snprintf(st->ledger_batch, sizeof st->ledger_batch, "%s", batch ? batch : "");
        zstr_free(&epoch);
        zstr_free(&batch);
    } else if (cmd && streq(cmd, "SERIES")) {
        zstr_free(&st->series_key);
        st->series_key = zmsg_popstr(msg);
        char *keep = zmsg_popstr(msg);
        st->series_keep = keep ? atoi(keep) : 0;
        zstr_free(&keep);
        if (st->series_keep < 1)
            zstr_free(&st->series_key);
    } else if (cmd && streq(cmd, "STATS")) {
        char *key = zmsg_popstr(msg);
        if (key && st->books_stats_key && streq(key, st->books_stats_key)) {
            zmsg_destroy(&st->books_stats);
            st->books_stats = msg;
            st->books_stats_no++;
        } else
            zhashx_update(st->stats, key, msg);
        msg = NULL;
        zstr_free(&key);
    } else if (cmd && streq(cmd, "BOOKSTATS")) {
        zstr_free(&st->books_stats_key);
        st->books_stats_key = zmsg_popstr(msg);
    }
    zstr_free(&cmd);
    zmsg_destroy(&msg);
}

/*  Counts are worth a reconnect at exit; stats alone are not (they expire in seconds, and
    when Redis is stopping too, as in `compose down`, a reconnect only delays the exit).
    All of it within DC_REDIS_EXIT_MS of "$TERM": a dial (at most DC_REDIS_TIMEOUT_MS
    for the connect and as much for AUTH or PING, which do not watch the deadline) is
    tried only while that much of the budget is left. */
static void s_final_flush(s_state_t *st)
{
    if (!st->ctx && !st->pend_hashes && !st->batch_hashes && !s_pending_coins(st) &&
        zlistx_size(st->pend_checks) == 0 && zlistx_size(st->batch_checks) == 0)
        return;
    if (!st->deadline) /* else "$TERM" came during a flush, and set it */
        st->deadline = zclock_mono() + DC_REDIS_EXIT_MS;
    if (st->ctx || st->deadline - zclock_mono() >= DC_REDIS_TIMEOUT_MS) {
        dc_rconn_retry_now(st->conn);
        /* its replies may take what is left of the budget: a Redis starved of CPU (a
           busy machine) often answers after 250 ms, and giving up loses the last counts */
        s_flush(st, (int)(st->deadline - zclock_mono()), true);
    }
    uint64_t lost_h = st->pend_hashes + st->batch_hashes;
    size_t lost_c = s_pending_coins(st);
    if (st->books_key && (lost_h || lost_c))
        zsys_error("redis: exiting with %" PRIu64 " hashes and %zu coins not written "
                   "(or not confirmed): Redis unreachable or too slow (the dispatcher's log "
                   "has the books; results not acknowledged are sent again by the workers)",
                   lost_h, lost_c);
}

static void s_actor(zsock_t *pipe, void *args)
{
    s_state_t *st = args;
    st->pend_coins = zchunk_new(NULL, 0);
    st->pend_seqs = zchunk_new(NULL, 0);
    st->batch_seqs = zchunk_new(NULL, 0);
    st->pend_checks = zlistx_new();
    st->batch_checks = zlistx_new();
    zlistx_set_destructor(st->pend_checks, (zlistx_destructor_fn *)zmsg_destroy);
    zlistx_set_destructor(st->batch_checks, (zlistx_destructor_fn *)zmsg_destroy);
    st->stats = zhashx_new();
    zhashx_set_destructor(st->stats, (zhashx_destructor_fn *)zmsg_destroy);
    st->pipe = pipe;
    zsock_signal(pipe, 0);
    int64_t next_flush = zclock_mono() + DC_REDIS_FLUSH_MS;
    zpoller_t *poller = zpoller_new(pipe, NULL);
    /* only $TERM ends the actor: on SIGTERM the owner still hands over its last counts */
    zpoller_set_nonstop(poller, true);
    while (!st->stopping) {
        int wait = (int)(next_flush - zclock_mono());
        void *which = zpoller_wait(poller, wait > 0 ? wait : 0);
        if (which == pipe) {
            zmsg_t *msg = zmsg_recv(pipe);
            if (!msg)
                break;
            if (zframe_streq(zmsg_first(msg), "$TERM")) {
                zmsg_destroy(&msg);
                break;
            }
            s_on_command(st, msg);
        }
        bool tick = zclock_mono() >= next_flush;
        uint64_t durable = st->status.durable_handoff;
        if (tick || (st->books_key && s_pending_coins(st) >= DC_REDIS_EARLY_COINS))
            s_flush(st, DC_REDIS_REPLY_MS, tick);
        if (!tick && st->status.durable_handoff != durable)
            s_report(st, pipe); /* the owner acknowledges what is durable at once */
        if (tick) {
            s_report(st, pipe);
            next_flush = zclock_mono() + DC_REDIS_FLUSH_MS;
        }
    }
    s_final_flush(st);
    zpoller_destroy(&poller);
    dc_rconn_destroy(&st->conn);
    zchunk_destroy(&st->pend_coins);
    zchunk_destroy(&st->batch_coins);
    zchunk_destroy(&st->pend_seqs);
    zchunk_destroy(&st->batch_seqs);
    zlistx_destroy(&st->pend_checks);
    zlistx_destroy(&st->batch_checks);
    zhashx_destroy(&st->stats);
    zmsg_destroy(&st->books_stats);
    zstr_free(&st->books_stats_key);
    zstr_free(&st->series_key);
    free(st);
}

dc_redis_t *dc_redis_new(const char *hostport, const char *books_key, const char *password)
{
    s_state_t *st = calloc(1, sizeof *st);
    assert(st);
    st->conn = dc_rconn_new(hostport, password, DC_REDIS_TIMEOUT_MS);
    if (!st->conn) {
        free(st);
        return NULL;
    }
    st->books_key = books_key;
    dc_redis_t *self = calloc(1, sizeof *self);
    assert(self);
    self->actor = zactor_new(s_actor, st);
    return self;
}

void dc_redis_destroy(dc_redis_t **self_p)
{
    if (self_p && *self_p) {
        zactor_destroy(&(*self_p)->actor);
        free(*self_p);
        *self_p = NULL;
    }
}

/*  The coins as one frame (a copy: the caller keeps its buffer). */
static void s_add_coins(zmsg_t *msg, zchunk_t *coins)
{
    zmsg_addmem(msg, coins ? zchunk_data(coins) : NULL, coins ? zchunk_size(coins) : 0);
}

void dc_redis_count_jobs(dc_redis_t *self, uint64_t handoff, uint64_t hashes, zchunk_t *coins,
                         uint64_t issued, const char *seqs)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, "COUNT");
    zmsg_addmem(msg, &hashes, sizeof hashes);
    zmsg_addmem(msg, &handoff, sizeof handoff);
    zmsg_addmem(msg, &issued, sizeof issued);
    zmsg_addstr(msg, seqs ? seqs : "");
    s_add_coins(msg, coins);
    zmsg_send(&msg, self->actor);
}

void dc_redis_count(dc_redis_t *self, uint64_t hashes, zchunk_t *coins)
{
    dc_redis_count_jobs(self, 0, hashes, coins, 0, NULL);
}

void dc_redis_check(dc_redis_t *self, uint64_t handoff, const char *epoch, uint32_t seq,
                    uint32_t hashes, zchunk_t *coins)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, "CHECK");
    zmsg_addmem(msg, &handoff, sizeof handoff);
    zmsg_addstr(msg, epoch);
    zmsg_addstrf(msg, "%u", seq);
    zmsg_addstrf(msg, "%u", hashes);
    s_add_coins(msg, coins);
    zmsg_send(&msg, self->actor);
}

void dc_redis_ledger(dc_redis_t *self, const char *epoch, uint32_t batch)
{
    char text[16];
    snprintf(text, sizeof text, "%u", batch);
    zstr_sendx(self->actor, "LEDGER", epoch, text, NULL);
}

void dc_redis_stats(dc_redis_t *self, const char *key, zmsg_t **fields_p)
{
    zmsg_pushstr(*fields_p, key);
    zmsg_pushstr(*fields_p, "STATS");
    zmsg_send(fields_p, self->actor);
}

void dc_redis_books_stats(dc_redis_t *self, const char *key)
{
    zstr_sendx(self->actor, "BOOKSTATS", key, NULL);
}

void dc_redis_series(dc_redis_t *self, const char *key, int keep)
{
    char count[16];
    snprintf(count, sizeof count, "%d", keep);
    zstr_sendx(self->actor, "SERIES", key, count, NULL);
}

void dc_redis_status(dc_redis_t *self, dc_redis_status_t *status)
{
    zsock_t *sock = zactor_sock(self->actor);
    while (zsock_events(sock) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv(sock);
        zframe_t *body = zmsg_last(msg);
        if (msg && zmsg_size(msg) == 2 && zframe_size(body) == sizeof self->status)
            memcpy(&self->status, zframe_data(body), sizeof self->status);
        zmsg_destroy(&msg);
    }
    *status = self->status;
}

static long long s_get_int(redisContext *c, const char *cmd)
{
    redisReply *r = redisCommand(c, cmd);
    long long v = -1;
    if (r && r->type == REDIS_REPLY_STRING)
        v = atoll(r->str);
    else if (r && r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    if (r)
        freeReplyObject(r);
    return v;
}

/*  The series' samples as (ts_ms, total) pairs; returns how many (at most max). */
static size_t s_series(redisContext *c, const char *key, int64_t *ts, long long *total, size_t max)
{
    redisReply *r = redisCommand(c, "LRANGE %s 0 -1", key);
    size_t n = 0;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements && n < max; i++) {
        long long t = 0, v = 0;
        if (sscanf(r->element[i]->str, "%lld:%lld", &t, &v) == 2) {
            ts[n] = t;
            total[n++] = v;
        }
    }
    if (r)
        freeReplyObject(r);
    return n;
}

/*  The series: one sample per flush, nothing counted or not, trimmed to `keep`. */
static void s_test_series(redisContext *c, const char *hostport)
{
    dc_redis_t *r = dc_redis_new(hostport, "dc:books:test", NULL);
    dc_redis_series(r, "dc:series:idle", 3);
    int64_t ts[8], first = 0;
    long long total[8];
    /* wait (bounded) until the list is full and its oldest sample was trimmed away */
    int64_t deadline = zclock_mono() + 10000;
    size_t n = 0;
    while (zclock_mono() < deadline) {
        n = s_series(c, "dc:series:idle", ts, total, 8);
        if (n && !first)
            first = ts[0];
        if (n == 3 && ts[0] != first)
            break;
        zclock_sleep(50);
    }
    DC_CHECK(n == 3 && ts[0] != first);
    int64_t now = zclock_time();
    for (size_t i = 0; i < n; i++) {
        DC_CHECK(total[i] == s_get_int(c, "GET hashes")); /* nothing mined: a flat line */
        DC_CHECK(ts[i] > now - 10000 && ts[i] <= now);
        DC_CHECK(i == 0 || (ts[i] - ts[i - 1] >= 900 && ts[i] - ts[i - 1] < 5000));
    }
    dc_redis_destroy(&r);
}

/*  Polls the status until written_hashes reaches `written` (bounded: 10 s). */
/*  Appends a coin record: field (padded with '.' to 64 characters), then 32 bytes of
    value. */
static void s_test_coin(zchunk_t *coins, const char *field, byte value)
{
    byte record[DC_REDIS_COIN_SIZE];
    memset(record, '.', DC_REDIS_COIN_FIELD);
    memcpy(record, field, strlen(field));
    memset(record + DC_REDIS_COIN_FIELD, value, DC_REDIS_COIN_VALUE);
    zchunk_extend(coins, record, sizeof record);
}

static dc_redis_status_t s_wait_written(dc_redis_t *r, uint64_t written)
{
    dc_redis_status_t status = {0};
    int64_t deadline = zclock_mono() + 10000;
    while (zclock_mono() < deadline) {
        dc_redis_status(r, &status);
        if (status.written_hashes >= written)
            break;
        zclock_sleep(20);
    }
    DC_CHECK(status.written_hashes == written);
    return status;
}

/*  Waits (bounded: 10 s) until the series list holds `samples` entries: that many
    flushes ran since it was last emptied. */
static void s_wait_flushes(redisContext *c, const char *key, long long samples)
{
    char cmd[64];
    snprintf(cmd, sizeof cmd, "LLEN %s", key);
    int64_t deadline = zclock_mono() + 10000;
    while (zclock_mono() < deadline && s_get_int(c, cmd) < samples)
        zclock_sleep(20);
    DC_CHECK(s_get_int(c, cmd) >= samples);
}

/*  Redis losing its data between flushes (FLUSHALL, as a restart without persistence
    would): detected on the next batch and, with nothing to write, by the idle check;
    counted once per loss; counting goes on from what Redis has. */
static void s_test_books_lost(redisContext *c, const char *hostport)
{
    freeReplyObject(redisCommand(c, "FLUSHALL"));
    dc_redis_t *r = dc_redis_new(hostport, "dc:books:lost", NULL);
    dc_redis_series(r, "dc:series:lost", 600);
    dc_redis_count(r, 5, NULL);
    dc_redis_status_t status = s_wait_written(r, 5);
    DC_CHECK(status.books_lost == 0 && status.books_lost_ms == 0); /* a fresh Redis: no loss */
    freeReplyObject(redisCommand(c, "FLUSHALL"));
    zchunk_t *coins = zchunk_new(NULL, 0);
    s_test_coin(coins, "0fed", 2);
    dc_redis_count(r, 7, coins);
    zchunk_destroy(&coins);
    status = s_wait_written(r, 12);
    DC_CHECK(status.books_lost == 1);
    DC_CHECK(status.books_lost_ms > zclock_time() - 10000 && status.books_lost_ms <= zclock_time());
    DC_CHECK(s_get_int(c, "GET hashes") == 7 && s_get_int(c, "HLEN wallet") == 1);
    /* lost while idle: the check finds it without a batch to write */
    freeReplyObject(redisCommand(c, "FLUSHALL"));
    int64_t deadline = zclock_mono() + 10000;
    while (zclock_mono() < deadline && status.books_lost < 2) {
        zclock_sleep(20);
        dc_redis_status(r, &status);
    }
    DC_CHECK(status.books_lost == 2);
    /* flushed again before this process wrote anything new: none of ours was lost */
    freeReplyObject(redisCommand(c, "FLUSHALL"));
    s_wait_flushes(c, "dc:series:lost", 3);
    dc_redis_count(r, 3, NULL);
    status = s_wait_written(r, 15);
    DC_CHECK(status.books_lost == 2);
    DC_CHECK(s_get_int(c, "GET hashes") == 3 && s_get_int(c, "GET dc:books:lost") > 0);
    dc_redis_destroy(&r);
}

/*  The books' snapshot lands in the script of the counts handed over before it; with no
    counts pending, on its own at the next tick. */
static void s_test_books_stats(redisContext *c, const char *hostport)
{
    freeReplyObject(redisCommand(c, "FLUSHALL"));
    dc_redis_t *r = dc_redis_new(hostport, "dc:books:snap", NULL);
    dc_redis_books_stats(r, "dc:stats:snap");
    dc_redis_count(r, 4, NULL);
    zmsg_t *fields = zmsg_new();
    zmsg_addstr(fields, "hashes");
    zmsg_addstr(fields, "4");
    dc_redis_stats(r, "dc:stats:snap", &fields);
    s_wait_written(r, 4); /* reported after the script that carried both */
    DC_CHECK(s_get_int(c, "HGET dc:stats:snap hashes") == 4);
    DC_CHECK(s_get_int(c, "GET hashes") == 4);
    fields = zmsg_new();
    zmsg_addstr(fields, "hashes");
    zmsg_addstr(fields, "5");
    dc_redis_stats(r, "dc:stats:snap", &fields);
    int64_t deadline = zclock_mono() + 10000;
    while (zclock_mono() < deadline && s_get_int(c, "HGET dc:stats:snap hashes") != 5)
        zclock_sleep(20);
    DC_CHECK(s_get_int(c, "HGET dc:stats:snap hashes") == 5);
    DC_CHECK(s_get_int(c, "TTL dc:stats:snap") > 0 && s_get_int(c, "GET hashes") == 4);
    dc_redis_destroy(&r);
}

/*  Books written before the totals existed are adopted once, and marked as adopted. */
static void s_test_adopt(redisContext *c, const char *hostport)
{
    freeReplyObject(redisCommand(c, "FLUSHALL"));
    freeReplyObject(redisCommand(c, "SET hashes 50"));
    freeReplyObject(redisCommand(c, "HSET wallet 0old x"));
    dc_redis_t *r = dc_redis_new(hostport, "dc:books:adopt", NULL);
    zchunk_t *coins = zchunk_new(NULL, 0);
    s_test_coin(coins, "0new", 3);
    dc_redis_count(r, 5, coins);
    zchunk_destroy(&coins);
    s_wait_written(r, 5);
    dc_redis_count(r, 2, NULL);
    s_wait_written(r, 7);
    DC_CHECK(s_get_int(c, "GET hashes") == 57 && s_get_int(c, "HLEN wallet") == 2);
    DC_CHECK(s_get_int(c, "HGET " DC_REDIS_TOTALS_KEY " hashes") == 57);
    DC_CHECK(s_get_int(c, "HGET " DC_REDIS_TOTALS_KEY " coins") == 2);
    DC_CHECK(s_get_int(c, "HGET " DC_REDIS_TOTALS_KEY " adopted_hashes") == 50);
    DC_CHECK(s_get_int(c, "HGET " DC_REDIS_TOTALS_KEY " adopted_coins") == 1);
    dc_redis_destroy(&r);
}

/*  The ledger: counted jobs' bits are set with the counts; a check counts its job only
    when the bit is clear, the epoch known and the hashes the epoch's batch; the owner
    learns which hand-off is durable. */
static void s_test_ledger(redisContext *c, const char *hostport)
{
    freeReplyObject(redisCommand(c, "FLUSHALL"));
    dc_redis_t *r = dc_redis_new(hostport, "dc:books:ledger", NULL);
    dc_redis_ledger(r, "0000abcd", 1);
    dc_redis_count_jobs(r, 1, 2, NULL, 10, "3 1048577");
    zchunk_t *coins = zchunk_new(NULL, 0);
    s_test_coin(coins, "0abc", 1);
    dc_redis_check(r, 2, "0000abcd", 3, 1, NULL);  /* counted already: nothing */
    dc_redis_check(r, 2, "0000abcd", 4, 1, coins); /* nobody counted it: counted */
    zchunk_destroy(&coins);
    dc_redis_check(r, 2, "0000abcd", 5, 2, NULL);          /* not the epoch's batch: refused */
    dc_redis_check(r, 2, "00000bad", 5, 1, NULL);          /* an unknown epoch: refused */
    dc_redis_check(r, 2, "0000abcd", 10 + 65536, 1, NULL); /* far beyond issued: refused */
    dc_redis_status_t status = {0};
    int64_t deadline = zclock_mono() + 10000;
    while (zclock_mono() < deadline && status.durable_handoff < 2) {
        zclock_sleep(20);
        dc_redis_status(r, &status);
    }
    DC_CHECK(status.durable_handoff == 2);
    DC_CHECK(status.recovered_jobs == 1 && status.recovered_hashes == 1);
    DC_CHECK(status.recovered_coins == 1 && status.refused_checks == 3);
    DC_CHECK(s_get_int(c, "GET hashes") == 3 && s_get_int(c, "HLEN wallet") == 1);
    /* a check that counts adds to the totals too; a refused one does not */
    DC_CHECK(s_get_int(c, "HGET " DC_REDIS_TOTALS_KEY " hashes") == 3);
    DC_CHECK(s_get_int(c, "HGET " DC_REDIS_TOTALS_KEY " coins") == 1);
    DC_CHECK(s_get_int(c, "GETBIT dc:ledger:0000abcd:0 3") == 1);
    DC_CHECK(s_get_int(c, "GETBIT dc:ledger:0000abcd:0 4") == 1);
    DC_CHECK(s_get_int(c, "GETBIT dc:ledger:0000abcd:0 5") == 0);
    DC_CHECK(s_get_int(c, "GETBIT dc:ledger:0000abcd:1 1") == 1);
    DC_CHECK(s_get_int(c, "HGET dc:epoch:0000abcd issued") == 10);
    DC_CHECK(s_get_int(c, "TTL dc:epoch:0000abcd") > 0);
    DC_CHECK(s_get_int(c, "TTL dc:ledger:0000abcd:1") > 0);
    dc_redis_destroy(&r);
}

/*  A writer's batches are numbered from Redis, not from the clock: with the stored
    sequence far ahead (as a predecessor whose clock ran ahead of ours leaves it), a
    new writer's batches still land, and the next writer's after it. */
static void s_test_clock_step(redisContext *c, const char *hostport)
{
    freeReplyObject(redisCommand(c, "FLUSHALL"));
    freeReplyObject(redisCommand(c, "SET dc:books:step 5000000000000000"));
    freeReplyObject(redisCommand(c, "SET dc:books:step:writer 7"));
    for (uint64_t i = 1; i <= 2; i++) {
        dc_redis_t *r = dc_redis_new(hostport, "dc:books:step", NULL);
        zchunk_t *coins = zchunk_new(NULL, 0);
        char field[24];
        snprintf(field, sizeof field, "0%llu", (unsigned long long)i);
        s_test_coin(coins, field, 5);
        dc_redis_count(r, 5, coins);
        zchunk_destroy(&coins);
        s_wait_written(r, 5);
        dc_redis_count(r, 1, NULL); /* a second batch of the same writer */
        s_wait_written(r, 6);
        dc_redis_destroy(&r);
        DC_CHECK(s_get_int(c, "GET hashes") == (long long)(6 * i));
        DC_CHECK(s_get_int(c, "HLEN wallet") == (long long)i);
        DC_CHECK(s_get_int(c, "GET dc:books:step:writer") == 5000000 + (long long)i);
        DC_CHECK(s_get_int(c, "GET dc:books:step") == (5000000 + (long long)i) * 1000000000 + 2);
    }
}

/*  The last flush at exit waits at most DC_REDIS_EXIT_MS in all, even when Redis takes
    the writes and never answers (a stopped server) and the batch is big enough for a
    reply timeout of 1.5 s while running: the flush under way when "$TERM" comes ends
    by the same deadline. */
static void s_test_exit_budget(redisContext *c, const char *hostport, int pid)
{
    freeReplyObject(redisCommand(c, "FLUSHALL"));
    dc_redis_t *r = dc_redis_new(hostport, "dc:books:exit", NULL);
    dc_redis_series(r, "dc:series:exit", 10);
    dc_redis_count(r, 1, NULL);
    s_wait_written(r, 1); /* connected, writer number known */
    DC_CHECK(kill(pid, SIGSTOP) == 0);
    zchunk_t *coins = zchunk_new(NULL, 0);
    for (int i = 0; i < 10000; i++) { /* a reply timeout of 1000 + 10 x 50 ms while running */
        char field[DC_REDIS_COIN_FIELD + 1];
        snprintf(field, sizeof field, "0%063d", i);
        s_test_coin(coins, field, 1);
    }
    dc_redis_count(r, 10000, coins);
    zchunk_destroy(&coins);
    zmsg_t *fields = zmsg_new();
    zmsg_addstr(fields, "a");
    zmsg_addstr(fields, "1");
    dc_redis_stats(r, "dc:stats:exit", &fields);
    int64_t t0 = zclock_mono();
    dc_redis_destroy(&r);
    int64_t took = zclock_mono() - t0;
    DC_CHECK(kill(pid, SIGCONT) == 0);
    if (took > DC_REDIS_EXIT_MS)
        zsys_warning("redis test: the last flush took %" PRId64 " ms", took);
    /* from "$TERM" seen; before that the actor was building the batch */
    DC_CHECK(took > DC_REDIS_EXIT_MS - 100 && took < DC_REDIS_EXIT_MS + 300);
    DC_CHECK(s_get_int(c, "PING") == -1); /* answering again (a status reply) */
}

void dc_redis_test(bool verbose)
{
    if (verbose)
        printf(" * dc_redis: ");
    int port = dc_rconn_test_port();
    int pid = dc_rconn_test_server(port, NULL); /* stopped by it when it never answers */
    if (pid < 0)
        dc_check_skip("no redis-server, or it never answered");
    redisContext *c = redisConnect("127.0.0.1", port);
    DC_CHECK(c && !c->err);
    char hostport[32];
    snprintf(hostport, sizeof hostport, "127.0.0.1:%d", port);
    dc_redis_t *r = dc_redis_new(hostport, "dc:books:test", NULL);
    dc_redis_series(r, "dc:series:test", 600);
    zchunk_t *coins = zchunk_new(NULL, 0);
    s_test_coin(coins, "0abc", 0);
    dc_redis_count(r, 5, coins);
    zchunk_destroy(&coins);
    dc_redis_count(r, 7, NULL);
    zmsg_t *fields = zmsg_new();
    zmsg_addstr(fields, "workers");
    zmsg_addstr(fields, "3");
    dc_redis_stats(r, "dc:stats:test", &fields);
    dc_redis_destroy(&r); /* the final flush writes everything */
    DC_CHECK(s_get_int(c, "GET hashes") == 12);
    DC_CHECK(s_get_int(c, "HLEN wallet") == 1);
    DC_CHECK(s_get_int(c, "HGET dc:stats:test workers") == 3);
    DC_CHECK(s_get_int(c, "TTL dc:stats:test") > 0);
    /* the last sample of the series holds the total the same flush wrote */
    int64_t ts[4];
    long long total[4];
    size_t samples = s_series(c, "dc:series:test", ts, total, 4);
    DC_CHECK(samples >= 1 && total[samples - 1] == 12);
    DC_CHECK(ts[samples - 1] > zclock_time() - 10000 && ts[samples - 1] <= zclock_time());
    /* a batch sent twice (the first copy late) counts once; an older one not at all; the
       snapshot each copy carries is written all the same */
    const char *argv[] = {"EVAL",
                          s_books_script,
                          "4",
                          "dc:books:test",
                          "hashes",
                          "wallet",
                          "dc:stats:books",
                          "5000000000000000",
                          "100",
                          "",
                          "",
                          "",
                          "",
                          "2",
                          "counted",
                          "1",
                          "0def",
                          "xy"};
    const size_t argc = sizeof argv / sizeof *argv;
    for (int i = 0; i < 2; i++) {
        argv[15] = i ? "2" : "1";
        redisReply *reply = redisCommandArgv(c, (int)argc, argv, NULL);
        DC_CHECK(reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == (i == 0));
        freeReplyObject(reply);
        DC_CHECK(s_get_int(c, "HGET dc:stats:books counted") == 1 + i);
        DC_CHECK(s_get_int(c, "HLEN dc:stats:books") == 1);
        DC_CHECK(s_get_int(c, "TTL dc:stats:books") > 0);
    }
    argv[7] = "5";
    redisReply *reply = redisCommandArgv(c, (int)argc, argv, NULL);
    DC_CHECK(reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 0);
    freeReplyObject(reply);
    DC_CHECK(s_get_int(c, "GET hashes") == 112 && s_get_int(c, "HLEN wallet") == 2);
    /* the books' own totals follow hashes and wallet, a copy counting nothing */
    DC_CHECK(s_get_int(c, "HGET " DC_REDIS_TOTALS_KEY " hashes") == 112);
    DC_CHECK(s_get_int(c, "HGET " DC_REDIS_TOTALS_KEY " coins") == 2);
    DC_CHECK(s_get_int(c, "TTL " DC_REDIS_TOTALS_KEY) == -1);
    DC_CHECK(s_get_int(c, "HGET " DC_REDIS_TOTALS_KEY " adopted_hashes") == 0); /* fresh books */
    s_test_series(c, hostport);
    s_test_books_lost(c, hostport);
    s_test_ledger(c, hostport);
    s_test_books_stats(c, hostport);
    s_test_adopt(c, hostport);
    s_test_clock_step(c, hostport);
    s_test_exit_budget(c, hostport, pid);
    redisFree(c);
    dc_rconn_test_server_stop(pid);
    if (verbose)
        printf("OK\n");
}
