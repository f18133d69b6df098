/*  libFuzzer target: the job, READY, ACK and result decoders (the result one re-hashes coins). */
#include "dc_job.h"
#include "fuzz_frames.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zmsg_t *msg = fuzz_frames(data, size);
    dc_job_t job;
    dc_result_t result;
    dc_ready_t ready;
    const char *reason;
    if (dc_job_decode(msg, &job, &reason) == 0 && (job.batch < 1 || job.batch > 4096))
        __builtin_trap();
    if (dc_ready_decode(msg, &ready, &reason) == 0 &&
        (ready.capacity < 1 || ready.capacity > DC_READY_CAPACITY_MAX || !ready.worker[0] ||
         !dc_track_valid(ready.track)))
        __builtin_trap();
    uint32_t acked;
    if (dc_ack_decode(msg, &acked, &reason) == 0) {
        if (acked < 1 || acked > DC_ACK_MAX)
            __builtin_trap();
        (void)dc_ack_id(msg, acked - 1); /* in bounds, or ASan says so */
    }
    static byte digests[DC_JOB_BATCH_MAX * 32];
    if (dc_result_decode_digests(msg, &result, digests, &reason) == 0) {
        if (result.coins > result.hashes || zmsg_size(msg) != (result.coins ? 3u : 2u))
            __builtin_trap();
        if (result.coins) /* the last coin in bounds, or ASan says so */
            (void)dc_result_coin(msg, result.coins - 1)[DC_COIN_BYTES - 1];
        for (uint32_t i = 0; i < result.coins; i++)
            if (digests[32 * i] >= 0x10) /* every coin's digest starts with 0 in hex */
                __builtin_trap();
    }
    zmsg_destroy(&msg);
    return 0;
}
