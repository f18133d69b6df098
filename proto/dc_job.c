/*  dc_job: job and result codec. The dispatcher trusts nothing a worker sends: a
    result's coins are re-hashed before they can reach the wallet. */
#include "dc_job.h"
#include "dc_check.h"
#include "dc_svc.h"

#include <assert.h>
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static void s_put32(byte *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (byte)v;
}

static void s_put64(byte *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (byte)v;
}

static uint32_t s_get32(const byte *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t s_get64(const byte *p)
{
    return (uint64_t)s_get32(p) << 32 | s_get32(p + 4);
}

/*  A field of a header: its offset (bytes 0 and 1 are the version and the type), its
    width (4 or 8 bytes, big-endian, as wide as its struct member) and the member. */
typedef struct {
    size_t at, width, member;
} s_field_t;

#define S_FIELD(type, name, at) (at), sizeof(((type *)0)->name), offsetof(type, name)

/*  An ACK's header holds its count only. */
typedef struct {
    uint32_t count;
} s_ack_t;

static const s_field_t s_job_fields[] = {
    {S_FIELD(dc_job_t, id, 2)}, {S_FIELD(dc_job_t, batch, 10)}, {S_FIELD(dc_job_t, attempt, 14)}};
static const s_field_t s_ready_fields[] = {{S_FIELD(dc_ready_t, capacity, 2)},
                                           {S_FIELD(dc_ready_t, held, 6)},
                                           {S_FIELD(dc_ready_t, received, 10)}};
static const s_field_t s_ack_fields[] = {{S_FIELD(s_ack_t, count, 2)}};
static const s_field_t s_result_fields[] = {
    {S_FIELD(dc_result_t, job_id, 2)},     {S_FIELD(dc_result_t, hashes, 10)},
    {S_FIELD(dc_result_t, coins, 14)},     {S_FIELD(dc_result_t, rng_us, 18)},
    {S_FIELD(dc_result_t, hasher_us, 22)}, {S_FIELD(dc_result_t, loop_us, 26)}};

#define S_FIELDS(list) list, sizeof list / sizeof *list
#define S_HEADER_MAX DC_RESULT_HDR_SIZE /* the largest header */

/*  A message's header, the one layout its encoder writes and its decoder reads, and what
    every decoder checks first: the frame count, the header's size, the version and the
    type, with the reasons it gives when they are wrong. */
typedef struct {
    byte type;
    size_t size; /* header bytes (the first frame) */
    const s_field_t *fields;
    size_t nfields;
    size_t min_frames, max_frames;
    const char *bad_shape; /* frames or header size wrong */
    const char *bad_type;  /* version or type wrong */
} s_shape_t;

static const s_shape_t s_job_shape = {DC_JOB_TYPE_JOB,
                                      DC_JOB_SIZE,
                                      S_FIELDS(s_job_fields),
                                      1,
                                      1,
                                      "job: want one 18-byte frame",
                                      "job: unknown version or type"};
static const s_shape_t s_ready_shape = {
    DC_JOB_TYPE_READY,
    DC_READY_SIZE,
    S_FIELDS(s_ready_fields),
    2,
    3,
    "ready: want an 18-byte header, a worker id and maybe a track",
    "ready: unknown version or type"};
static const s_shape_t s_ack_shape = {DC_JOB_TYPE_ACK,
                                      DC_ACK_HDR_SIZE,
                                      S_FIELDS(s_ack_fields),
                                      2,
                                      2,
                                      "ack: want a 6-byte header and a frame of job ids",
                                      "ack: unknown version or type"};
static const s_shape_t s_result_shape = {DC_JOB_TYPE_RESULT,
                                         DC_RESULT_HDR_SIZE,
                                         S_FIELDS(s_result_fields),
                                         2,
                                         3,
                                         "result: want a 30-byte header, a worker id and "
                                         "maybe the coins",
                                         "result: unknown version or type"};

/*  The value of a field's member in obj. */
static uint64_t s_member(const void *obj, const s_field_t *f)
{
    const byte *member = (const byte *)obj + f->member;
    if (f->width == 8) {
        uint64_t v64;
        memcpy(&v64, member, 8);
        return v64;
    }
    uint32_t v32;
    memcpy(&v32, member, 4);
    return v32;
}

/*  A new message holding the header of the shape, its fields taken from obj. */
static zmsg_t *s_encode(const s_shape_t *shape, const void *obj)
{
    assert(shape->size <= S_HEADER_MAX);
    byte buf[S_HEADER_MAX] = {DC_JOB_VERSION, shape->type};
    for (size_t i = 0; i < shape->nfields; i++) {
        const s_field_t *f = &shape->fields[i];
        if (f->width == 8)
            s_put64(buf + f->at, s_member(obj, f));
        else
            s_put32(buf + f->at, (uint32_t)s_member(obj, f));
    }
    zmsg_t *msg = zmsg_new();
    zmsg_addmem(msg, buf, shape->size);
    return msg;
}

/*  When msg has the shape, reads its header's fields into obj and returns 0, the cursor
    left on the header; else -1 with the reason. */
static int s_decode(zmsg_t *msg, const s_shape_t *shape, void *obj, const char **reason)
{
    size_t frames = zmsg_size(msg);
    zframe_t *frame = zmsg_first(msg);
    if (frames < shape->min_frames || frames > shape->max_frames ||
        zframe_size(frame) != shape->size) {
        *reason = shape->bad_shape;
        return -1;
    }
    const byte *p = zframe_data(frame);
    if (p[0] != DC_JOB_VERSION || p[1] != shape->type) {
        *reason = shape->bad_type;
        return -1;
    }
    for (size_t i = 0; i < shape->nfields; i++) {
        const s_field_t *f = &shape->fields[i];
        byte *member = (byte *)obj + f->member;
        if (f->width == 8)
            memcpy(member, &(uint64_t){s_get64(p + f->at)}, 8);
        else
            memcpy(member, &(uint32_t){s_get32(p + f->at)}, 4);
    }
    return 0;
}

zmsg_t *dc_job_encode(const dc_job_t *job)
{
    return s_encode(&s_job_shape, job);
}

int dc_job_decode(zmsg_t *msg, dc_job_t *job, const char **reason)
{
    if (s_decode(msg, &s_job_shape, job, reason) != 0)
        return -1;
    if (job->batch < 1 || job->batch > DC_JOB_BATCH_MAX) {
        *reason = "job: batch outside 1..4096";
        return -1;
    }
    return 0;
}

zmsg_t *dc_result_encode(const dc_result_t *r, zframe_t **coins_p)
{
    dc_result_t header = *r;
    size_t coins = coins_p && *coins_p ? zframe_size(*coins_p) / DC_COIN_BYTES : 0;
    header.coins = (uint32_t)coins;
    zmsg_t *msg = s_encode(&s_result_shape, &header);
    zmsg_addstr(msg, r->worker);
    if (coins)
        zmsg_append(msg, coins_p);
    if (coins_p)
        zframe_destroy(coins_p);
    return msg;
}

static bool s_printable(const byte *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] > 0x7e)
            return false;
    return true;
}

zmsg_t *dc_ready_encode(const dc_ready_t *ready)
{
    zmsg_t *msg = s_encode(&s_ready_shape, ready);
    zmsg_addstr(msg, ready->worker);
    if (*ready->track && !streq(ready->track, DC_TRACK_DEFAULT))
        zmsg_addstr(msg, ready->track);
    return msg;
}

bool dc_worker_id_valid(const char *worker)
{
    size_t n = strlen(worker);
    return n >= 1 && n <= DC_WORKER_ID_MAX && s_printable((const byte *)worker, n);
}

bool dc_track_valid(const char *track)
{
    size_t n = strlen(track);
    if (n < 1 || n > DC_TRACK_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((track[i] >= 'a' && track[i] <= 'z') || (track[i] >= '0' && track[i] <= '9') ||
              track[i] == '-'))
            return false;
    return true;
}

static bool s_track(zframe_t *f, char *out)
{
    if (!f) {
        strcpy(out, DC_TRACK_DEFAULT);
        return true;
    }
    size_t n = zframe_size(f);
    if (n < 1 || n > DC_TRACK_MAX)
        return false;
    memcpy(out, zframe_data(f), n);
    out[n] = 0;
    return strlen(out) == n && dc_track_valid(out);
}

static bool s_worker_id(zframe_t *id, char *out)
{
    size_t idlen = zframe_size(id);
    if (idlen < 1 || idlen > DC_WORKER_ID_MAX || !s_printable(zframe_data(id), idlen))
        return false;
    memcpy(out, zframe_data(id), idlen);
    out[idlen] = 0;
    return true;
}

int dc_ready_decode(zmsg_t *msg, dc_ready_t *ready, const char **reason)
{
    memset(ready, 0, sizeof *ready);
    if (s_decode(msg, &s_ready_shape, ready, reason) != 0)
        return -1;
    if (ready->capacity < 1 || ready->capacity > DC_READY_CAPACITY_MAX) {
        *reason = "ready: capacity outside 1..64";
        return -1;
    }
    if (!s_worker_id(zmsg_next(msg), ready->worker)) {
        *reason = "ready: worker id must be 1..64 printable bytes";
        return -1;
    }
    if (!s_track(zmsg_next(msg), ready->track)) {
        *reason = "ready: track must be 1..16 bytes of [a-z0-9-]";
        return -1;
    }
    return 0;
}

zmsg_t *dc_ack_encode(const uint64_t *ids, uint32_t count)
{
    byte *body = malloc((size_t)count * 8 + 1);
    assert(body);
    for (uint32_t i = 0; i < count; i++)
        s_put64(body + (size_t)i * 8, ids[i]);
    zmsg_t *msg = s_encode(&s_ack_shape, &(s_ack_t){count});
    zmsg_addmem(msg, body, (size_t)count * 8);
    free(body);
    return msg;
}

int dc_ack_decode(zmsg_t *msg, uint32_t *count, const char **reason)
{
    s_ack_t ack;
    if (s_decode(msg, &s_ack_shape, &ack, reason) != 0)
        return -1;
    *count = ack.count;
    if (*count < 1 || *count > DC_ACK_MAX || zframe_size(zmsg_next(msg)) != (size_t)*count * 8) {
        *reason = "ack: count outside 1..4096 or not the number of ids";
        return -1;
    }
    return 0;
}

uint64_t dc_ack_id(zmsg_t *msg, uint32_t i)
{
    zmsg_first(msg);
    return s_get64(zframe_data(zmsg_next(msg)) + (size_t)i * 8);
}

static int s_decode_header(zmsg_t *msg, dc_result_t *r, const char **reason)
{
    if (s_decode(msg, &s_result_shape, r, reason) != 0)
        return -1;
    if (!s_worker_id(zmsg_next(msg), r->worker)) {
        *reason = "result: worker id must be 1..64 printable bytes";
        return -1;
    }
    if (r->hashes < 1 || r->hashes > DC_JOB_BATCH_MAX || r->coins > r->hashes ||
        zmsg_size(msg) != (r->coins ? 3 : 2)) {
        *reason = "result: hash or coin count out of range";
        return -1;
    }
    return 0;
}

int dc_result_decode(zmsg_t *msg, dc_result_t *r, const char **reason)
{
    return dc_result_decode_digests(msg, r, NULL, reason);
}

int dc_result_decode_digests(zmsg_t *msg, dc_result_t *r, byte *digests, const char **reason)
{
    memset(r, 0, sizeof *r);
    if (s_decode_header(msg, r, reason) != 0)
        return -1;
    if (!r->coins)
        return 0;
    zframe_t *coins = zmsg_next(msg);
    if (zframe_size(coins) != (size_t)r->coins * DC_COIN_BYTES) {
        *reason = "result: the coin frame is not coins x 32 bytes";
        return -1;
    }
    byte one[DC_DIGEST_BYTES];
    for (uint32_t i = 0; i < r->coins; i++) {
        byte *digest = digests ? digests + (size_t)i * DC_DIGEST_BYTES : one;
        dc_sha256(zframe_data(coins) + (size_t)i * DC_COIN_BYTES, DC_COIN_BYTES, digest,
                  digests ? DC_DIGEST_BYTES : 1);
        if (!dc_svc_is_coin_bin(digest)) {
            *reason = "result: a coin's digest does not start with 0 (forged)";
            return -1;
        }
    }
    return 0;
}

const byte *dc_result_coin(zmsg_t *msg, uint32_t i)
{
    zmsg_first(msg);
    zmsg_next(msg);
    return zframe_data(zmsg_next(msg)) + (size_t)i * DC_COIN_BYTES;
}

/*  Appends random bytes whose digest is a coin (1 in 16 tries on average) to coins. */
static void s_make_coin(zframe_t *coins)
{
    byte bytes[DC_COIN_BYTES], digest[1];
    do {
        randombytes_buf(bytes, sizeof bytes);
        dc_sha256(bytes, sizeof bytes, digest, 1);
    } while (!dc_svc_is_coin_bin(digest));
    size_t size = zframe_size(coins);
    byte *grown = malloc(size + sizeof bytes);
    assert(grown);
    memcpy(grown, zframe_data(coins), size);
    memcpy(grown + size, bytes, sizeof bytes);
    zframe_reset(coins, grown, size + sizeof bytes);
    free(grown);
}

void dc_job_test(bool verbose)
{
    if (verbose)
        printf(" * dc_job: ");
    DC_CHECK(sodium_init() >= 0);
    /* every layout: fields of 4 or 8 bytes after the version and type, inside the header,
       none overlapping the next */
    const s_shape_t *shapes[] = {&s_job_shape, &s_ready_shape, &s_ack_shape, &s_result_shape};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        size_t end = 2;
        for (size_t j = 0; j < shapes[i]->nfields; j++) {
            const s_field_t *f = &shapes[i]->fields[j];
            DC_CHECK((f->width == 4 || f->width == 8) && f->at >= end);
            end = f->at + f->width;
        }
        DC_CHECK(end == shapes[i]->size && end <= S_HEADER_MAX);
    }
    const char *reason;
    dc_job_t job = {.id = 0x0102030405060708ULL, .batch = 7, .attempt = 2}, got;
    zmsg_t *msg = dc_job_encode(&job);
    /* the layout of proto/jobs.md, byte for byte */
    const byte job_bytes[DC_JOB_SIZE] = {1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 7, 0, 0, 0, 2};
    DC_CHECK(zframe_size(zmsg_first(msg)) == DC_JOB_SIZE &&
             memcmp(zframe_data(zmsg_first(msg)), job_bytes, DC_JOB_SIZE) == 0);
    DC_CHECK(dc_job_decode(msg, &got, &reason) == 0);
    DC_CHECK(got.id == job.id && got.batch == 7 && got.attempt == 2);
    zframe_data(zmsg_first(msg))[0] = 9;
    DC_CHECK(dc_job_decode(msg, &got, &reason) == -1 && strstr(reason, "version"));
    zmsg_destroy(&msg);
    job.batch = 0;
    msg = dc_job_encode(&job);
    DC_CHECK(dc_job_decode(msg, &got, &reason) == -1 && strstr(reason, "batch"));
    zmsg_destroy(&msg);

    dc_result_t r = {.job_id = 42, .hashes = 3, .rng_us = 5, .loop_us = 9}, rgot;
    strcpy(r.worker, "w-1");
    zframe_t *coins = zframe_new(NULL, 0);
    s_make_coin(coins);
    s_make_coin(coins);
    byte second[DC_COIN_BYTES];
    memcpy(second, zframe_data(coins) + DC_COIN_BYTES, DC_COIN_BYTES);
    msg = dc_result_encode(&r, &coins);
    DC_CHECK(coins == NULL && zmsg_size(msg) == 3);
    const byte result_bytes[DC_RESULT_HDR_SIZE] = {1, 2, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 3, 0,
                                                   0, 0, 2, 0, 0, 0, 5, 0, 0, 0,  0, 0, 0, 0, 9};
    DC_CHECK(memcmp(zframe_data(zmsg_first(msg)), result_bytes, DC_RESULT_HDR_SIZE) == 0);
    DC_CHECK(dc_result_decode(msg, &rgot, &reason) == 0);
    DC_CHECK(rgot.job_id == 42 && rgot.hashes == 3 && rgot.coins == 2 && streq(rgot.worker, "w-1"));
    DC_CHECK(memcmp(dc_result_coin(msg, 1), second, DC_COIN_BYTES) == 0);
    byte digests[2 * DC_DIGEST_BYTES], digest[DC_DIGEST_BYTES];
    DC_CHECK(dc_result_decode_digests(msg, &rgot, digests, &reason) == 0 && rgot.coins == 2);
    dc_sha256(second, sizeof second, digest, sizeof digest);
    DC_CHECK(memcmp(digests + DC_DIGEST_BYTES, digest, sizeof digest) == 0);
    /* a forged coin: the second coin's bytes replaced by bytes whose digest is no coin */
    do {
        randombytes_buf(second, sizeof second);
        dc_sha256(second, sizeof second, digest, 1);
    } while (dc_svc_is_coin_bin(digest));
    memcpy(zframe_data(zmsg_last(msg)) + DC_COIN_BYTES, second, sizeof second);
    DC_CHECK(dc_result_decode(msg, &rgot, &reason) == -1 && strstr(reason, "forged"));
    /* a coin frame of the wrong size; coins claimed and no coin frame */
    zframe_reset(zmsg_last(msg), "short", 5);
    DC_CHECK(dc_result_decode(msg, &rgot, &reason) == -1 && strstr(reason, "coin frame"));
    zframe_t *last = zmsg_last(msg);
    zmsg_remove(msg, last);
    zframe_destroy(&last);
    DC_CHECK(dc_result_decode(msg, &rgot, &reason) == -1 && strstr(reason, "count"));
    zmsg_destroy(&msg);

    r.hashes = 0;
    msg = dc_result_encode(&r, NULL);
    DC_CHECK(dc_result_decode(msg, &rgot, &reason) == -1 && strstr(reason, "count"));
    zmsg_destroy(&msg);
    strcpy(r.worker, "bad id");
    r.hashes = 1;
    msg = dc_result_encode(&r, NULL);
    DC_CHECK(dc_result_decode(msg, &rgot, &reason) == -1 && strstr(reason, "worker id"));
    zmsg_destroy(&msg);

    dc_ready_t ready = {.capacity = 2, .held = 1, .received = 0x0102030405ULL}, rd;
    strcpy(ready.worker, "w-2");
    msg = dc_ready_encode(&ready);
    const byte ready_bytes[DC_READY_SIZE] = {1, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 2, 3, 4, 5};
    DC_CHECK(memcmp(zframe_data(zmsg_first(msg)), ready_bytes, DC_READY_SIZE) == 0);
    DC_CHECK(dc_ready_decode(msg, &rd, &reason) == 0);
    DC_CHECK(rd.capacity == 2 && rd.held == 1 && rd.received == ready.received);
    DC_CHECK(streq(rd.worker, "w-2"));
    DC_CHECK(zmsg_size(msg) == 2 && streq(rd.track, DC_TRACK_DEFAULT)); /* no track frame */
    zmsg_destroy(&msg);
    strcpy(ready.track, "canary-2");
    msg = dc_ready_encode(&ready);
    DC_CHECK(zmsg_size(msg) == 3);
    DC_CHECK(dc_ready_decode(msg, &rd, &reason) == 0 && streq(rd.track, "canary-2"));
    zmsg_destroy(&msg);
    DC_CHECK(dc_track_valid("stable") && dc_track_valid("v2-1") && !dc_track_valid(""));
    DC_CHECK(!dc_track_valid("Canary") && !dc_track_valid("a_b") && !dc_track_valid("a b"));
    DC_CHECK(!dc_track_valid("0123456789abcdefg"));
    DC_CHECK(dc_worker_id_valid("host-1234") && !dc_worker_id_valid("a b"));
    DC_CHECK(!dc_worker_id_valid("") && !dc_worker_id_valid("caf\xc3\xa9"));
    char long_id[DC_WORKER_ID_MAX + 2];
    memset(long_id, 'w', sizeof long_id - 1);
    long_id[DC_WORKER_ID_MAX + 1] = 0;
    DC_CHECK(!dc_worker_id_valid(long_id));
    long_id[DC_WORKER_ID_MAX] = 0;
    DC_CHECK(dc_worker_id_valid(long_id));
    const char *bad_tracks[] = {"", "Canary", "a/b", "0123456789abcdefg"};
    for (size_t i = 0; i < sizeof bad_tracks / sizeof *bad_tracks; i++) {
        strcpy(ready.track, "x");
        msg = dc_ready_encode(&ready);
        zframe_reset(zmsg_last(msg), bad_tracks[i], strlen(bad_tracks[i]));
        DC_CHECK(dc_ready_decode(msg, &rd, &reason) == -1 && strstr(reason, "track"));
        zmsg_destroy(&msg);
    }
    msg = dc_ready_encode(&ready);
    zframe_reset(zmsg_last(msg), "a\0b", 3); /* a NUL inside the track */
    DC_CHECK(dc_ready_decode(msg, &rd, &reason) == -1 && strstr(reason, "track"));
    zmsg_destroy(&msg);
    ready.capacity = 0;
    msg = dc_ready_encode(&ready);
    DC_CHECK(dc_ready_decode(msg, &rd, &reason) == -1 && strstr(reason, "capacity"));
    zmsg_addstr(msg, "extra");
    zmsg_addstr(msg, "extra");
    DC_CHECK(dc_ready_decode(msg, &rd, &reason) == -1 && strstr(reason, "18-byte"));
    zmsg_destroy(&msg);

    /* every decoder refuses another message's header, and an empty message */
    dc_job_t j = {.id = 1, .batch = 1};
    msg = dc_job_encode(&j);
    DC_CHECK(dc_ready_decode(msg, &rd, &reason) == -1 && strstr(reason, "ready: want"));
    DC_CHECK(dc_result_decode(msg, &rgot, &reason) == -1 && strstr(reason, "result: want"));
    zmsg_addstr(msg, "w"); /* two frames, as an ACK has: still the wrong header size */
    DC_CHECK(dc_ack_decode(msg, &(uint32_t){0}, &reason) == -1 && strstr(reason, "ack: want"));
    zframe_reset(zmsg_first(msg), (byte[DC_READY_SIZE]){DC_JOB_VERSION, DC_JOB_TYPE_JOB},
                 DC_READY_SIZE); /* a READY's size with a JOB's type */
    DC_CHECK(dc_ready_decode(msg, &rd, &reason) == -1 && strstr(reason, "ready: unknown"));
    zmsg_destroy(&msg);
    msg = zmsg_new();
    DC_CHECK(dc_job_decode(msg, &got, &reason) == -1 && strstr(reason, "job: want"));
    DC_CHECK(dc_ack_decode(msg, &(uint32_t){0}, &reason) == -1 && strstr(reason, "ack: want"));
    zmsg_destroy(&msg);

    uint64_t ids[3] = {1, 0xfedcba9876543210ULL, 3};
    uint32_t count;
    msg = dc_ack_encode(ids, 3);
    DC_CHECK(memcmp(zframe_data(zmsg_first(msg)), (byte[]){1, 4, 0, 0, 0, 3}, DC_ACK_HDR_SIZE) ==
             0);
    DC_CHECK(dc_ack_decode(msg, &count, &reason) == 0 && count == 3);
    DC_CHECK(dc_ack_id(msg, 1) == ids[1] && dc_ack_id(msg, 2) == 3);
    zframe_data(zmsg_first(msg))[5] = 4; /* claims more ids than the frame holds */
    DC_CHECK(dc_ack_decode(msg, &count, &reason) == -1 && strstr(reason, "count"));
    zmsg_destroy(&msg);
    msg = dc_ack_encode(ids, 0);
    DC_CHECK(dc_ack_decode(msg, &count, &reason) == -1);
    zmsg_destroy(&msg);
    if (verbose)
        printf("OK\n");
}
