/*  libFuzzer target: every 7/MDP decoder, on the broker's and the peers' side. */
#include "dc_mdp.h"
#include "fuzz_frames.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int (*decoders[])(zmsg_t **, dc_mdp_msg_t *, const char **) = {
        dc_mdp_decode_router, dc_mdp_decode_for_worker, dc_mdp_decode_for_client};
    for (size_t i = 0; i < 3; i++) {
        zmsg_t *msg = fuzz_frames(data, size);
        dc_mdp_msg_t m;
        const char *reason = NULL;
        int rc = decoders[i](&msg, &m, &reason);
        if (msg != NULL || (rc != 0 && reason == NULL))
            __builtin_trap(); /* a decoder must consume the message and say why it refused */
        if (rc == 0 && m.body && zmsg_content_size(m.body) > DC_MDP_BODY_BYTES_MAX)
            __builtin_trap();
        dc_mdp_msg_clear(&m);
    }
    return 0;
}
