/*  libFuzzer target: the rng and hasher body parsers and the reply parser. */
#include "dc_svc.h"
#include "fuzz_frames.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zmsg_t *msg = fuzz_frames(data, size);
    size_t n, count, chunk, k;
    int status;
    zframe_t *payload;
    const char *reason;
    if (dc_svc_rng_parse(msg, &n, &count, &reason) == 0 &&
        (n < 1 || n > DC_RNG_BYTES_MAX || count < 1 || n * count > DC_HASHER_PAYLOAD_MAX))
        __builtin_trap();
    if (dc_svc_hasher_parse(msg, &payload, &chunk, &k, &reason) == 0 &&
        (zframe_size(payload) > DC_HASHER_PAYLOAD_MAX || k > DC_DIGEST_BYTES ||
         (zframe_size(payload) && zframe_size(payload) % chunk != 0)))
        __builtin_trap();
    if (dc_svc_reply_parse(msg, &status, &payload, &reason) == 0 &&
        (status < 100 || status > 599 || zframe_size(zmsg_first(msg)) != 3))
        __builtin_trap();
    zmsg_destroy(&msg);
    return 0;
}
