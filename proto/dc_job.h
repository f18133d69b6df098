/*  dc_job: the dispatcher <-> worker messages (worker DEALERs to the dispatcher's
    ROUTERs). Binary, version byte first, big-endian integers. See proto/jobs.md. */
#ifndef DC_JOB_H_INCLUDED
#define DC_JOB_H_INCLUDED

#include <czmq.h>

#define DC_JOB_VERSION 1
#define DC_JOB_TYPE_JOB 1
#define DC_JOB_TYPE_RESULT 2
#define DC_JOB_TYPE_READY 3
#define DC_JOB_TYPE_ACK 4
#define DC_JOB_SIZE 18
#define DC_RESULT_HDR_SIZE 30
#define DC_READY_SIZE 18
#define DC_READY_CAPACITY_MAX 64 /* jobs a worker may ask to hold at once */
#define DC_ACK_HDR_SIZE 6
#define DC_ACK_MAX 4096 /* job ids per ACK */
#define DC_JOB_BATCH_MAX 4096
#define DC_WORKER_ID_MAX 64
#define DC_COIN_BYTES 32          /* the random bytes of one loop, and of one coin */
#define DC_TRACK_MAX 16           /* bytes of a track name: [a-z0-9-] */
#define DC_TRACK_DEFAULT "stable" /* the track of a READY that names none */

typedef struct {
    uint64_t id;
    uint32_t batch;   /* loops (hashes) this job asks for, 1..4096 */
    uint32_t attempt; /* 0 first time, +1 per re-issue */
} dc_job_t;

typedef struct {
    uint64_t job_id;
    uint32_t hashes;
    uint32_t coins;
    uint32_t rng_us;    /* time the worker waited on rng for this job */
    uint32_t hasher_us; /* time the worker waited on hasher */
    uint32_t loop_us;   /* whole job, pauses included */
    char worker[DC_WORKER_ID_MAX + 1];
} dc_result_t;

/*  A worker's credit report: how many jobs it may hold, how many it holds, and how many
    it has received since it started. The dispatcher derives from it how many more jobs
    it may send (capacity - held - jobs still on their way). */
typedef struct {
    uint32_t capacity; /* 1..64 */
    uint32_t held;     /* received and not yet answered */
    uint64_t received; /* jobs received since the worker started */
    char worker[DC_WORKER_ID_MAX + 1];
    char track[DC_TRACK_MAX + 1]; /* the worker's release track: "stable", "canary", ... */
} dc_ready_t;

zmsg_t *dc_job_encode(const dc_job_t *job);
int dc_job_decode(zmsg_t *msg, dc_job_t *job, const char **reason);

/*  coins_p (may be NULL) is one frame of the coins' random bytes, DC_COIN_BYTES each,
    back to back; it is taken over. result->coins is not read: the frame says. */
zmsg_t *dc_result_encode(const dc_result_t *result, zframe_t **coins_p);
/*  Validates everything, each coin included (the SHA-256 of its bytes must start with
    '0' in hex). On success coin i's bytes are dc_result_coin(msg, i). */
int dc_result_decode(zmsg_t *msg, dc_result_t *result, const char **reason);
/*  The same; digests (NULL, or room for DC_JOB_BATCH_MAX x 32 bytes) receives the SHA-256
    of each coin, which the check computes anyway: the dispatcher files coins under it. */
int dc_result_decode_digests(zmsg_t *msg, dc_result_t *result, byte *digests, const char **reason);
/*  Coin i (0 <= i < coins) of a result that decoded: DC_COIN_BYTES bytes. */
const byte *dc_result_coin(zmsg_t *msg, uint32_t i);

/*  A track name: 1..16 bytes of [a-z0-9-]. */
bool dc_track_valid(const char *track);

/*  A worker id: 1..64 bytes of printable ASCII, no space (what READY and RESULT carry). */
bool dc_worker_id_valid(const char *worker);

/*  The track travels as a third frame, left out for "stable" (or an empty track), so a
    stable worker's READY is the same as one from a worker that knows no tracks. */
zmsg_t *dc_ready_encode(const dc_ready_t *ready);
/*  A READY without a track frame is from track "stable". */
int dc_ready_decode(zmsg_t *msg, dc_ready_t *ready, const char **reason);

/*  ACK: the results of these jobs are durable in Redis (counted, or recognised as already
    counted); 1..4096 job ids. */
zmsg_t *dc_ack_encode(const uint64_t *ids, uint32_t count);
int dc_ack_decode(zmsg_t *msg, uint32_t *count, const char **reason);
/*  Id i (0 <= i < count) of an ACK that decoded. */
uint64_t dc_ack_id(zmsg_t *msg, uint32_t i);

void dc_job_test(bool verbose);

#endif
