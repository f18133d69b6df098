/*  dc_svc: the codec of the rng and hasher services' bodies (carried inside MDP), the
    status-first reply shape shared with the broker's own error replies, and the SHA-256
    helpers (SHA-256 through nettle, which uses the CPU's SHA extensions where it has them).
    See proto/services.md. Like dc_mdp and dc_job it is named after the protocol
    it encodes; the process that serves these bodies is pipeline/dc_service. */
#ifndef DC_SVC_H_INCLUDED
#define DC_SVC_H_INCLUDED

#include <czmq.h>

#define DC_RNG_BYTES_MAX 4096         /* N: bytes per chunk */
#define DC_RNG_COUNT_MAX 4096         /* B: chunks per request */
#define DC_HASHER_PAYLOAD_MAX 1048576 /* bytes hashed per request */
#define DC_HASHER_CHUNKS_MAX 4096     /* digests per reply */
#define DC_HEX_DIGEST_LEN 64
#define DC_DIGEST_BYTES 32 /* a binary SHA-256 digest */

#define DC_SVC_OK 200
#define DC_SVC_BAD_REQUEST 400
#define DC_SVC_NOT_FOUND 404
#define DC_SVC_NOT_IMPLEMENTED 501
#define DC_SVC_UNAVAILABLE 503

/*  rng request: ["N"] or ["N", "B"], decimal; reply payload is N*B random bytes. */
zmsg_t *dc_svc_rng_request(size_t n, size_t count);
int dc_svc_rng_parse(zmsg_t *body, size_t *n, size_t *count, const char **reason);

/*  hasher request: [payload], [payload, "CHUNK"] or [payload, "CHUNK", "K"]; the reply
    payload is, for each CHUNK-sized piece, its lowercase hex SHA-256 (64 characters), or
    with K (1..32) the first K bytes of its binary SHA-256, concatenated. */
zmsg_t *dc_svc_hasher_request(const byte *data, size_t size, size_t chunk);
/*  The binary form: takes payload_p over (no copy); digest_bytes 0 asks for hex. */
zmsg_t *dc_svc_hasher_request_bin(zframe_t **payload_p, size_t chunk, size_t digest_bytes);
/*  *digest_bytes is 0 for the hex form, else K. */
int dc_svc_hasher_parse(zmsg_t *body, zframe_t **payload, size_t *chunk, size_t *digest_bytes,
                        const char **reason);

/*  Replies: ["200", payload] or ["4xx|5xx", "reason"]. */
zmsg_t *dc_svc_reply_ok(zframe_t **payload_p);
zmsg_t *dc_svc_reply_error(int status, const char *reason);
/*  Returns 0 with *status (3 digits, 100..599) and *payload (borrowed from body; NULL
    unless the status is 200) set, or -1 when the reply is malformed. */
int dc_svc_reply_parse(zmsg_t *body, int *status, zframe_t **payload, const char **reason);

/*  The first out_size (1..32) bytes of the SHA-256 of data. */
void dc_sha256(const byte *data, size_t size, byte *out, size_t out_size);
void dc_sha256_hex(const byte *data, size_t size, char hex[DC_HEX_DIGEST_LEN + 1]);
/*  Lowercase hex of size bytes into out (2 * size + 1 bytes, NUL-terminated). */
void dc_hex(const byte *data, size_t size, char *out);
/*  The original's coin test: the hex digest starts with '0'. */
bool dc_svc_is_coin(const char *hex);
/*  The same test on a binary digest (its first byte is all it needs): below 0x10. */
bool dc_svc_is_coin_bin(const byte *digest);

/*  Parses a frame of 1..10 decimal digits (nothing else) into [min, max]; -1 otherwise. */
int dc_svc_parse_size(zframe_t *frame, size_t min, size_t max, size_t *out);

void dc_svc_test(bool verbose);

#endif
