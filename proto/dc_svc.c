/*  dc_svc: the rng and hasher request/reply bodies. Numbers travel as short decimal
    strings so that any Majordomo client (a Python one-liner included) can call the
    services; every parser refuses what is out of range rather than clamping it. */
#include "dc_svc.h"
#include "dc_check.h"

#include <nettle/sha2.h>
#include <sodium.h>
#include <string.h>

int dc_svc_parse_size(zframe_t *frame, size_t min, size_t max, size_t *out)
{
    if (!frame || zframe_size(frame) == 0 || zframe_size(frame) > 10)
        return -1;
    uint64_t v = 0; /* 10 digits fit, also where size_t has 32 bits */
    const byte *d = zframe_data(frame);
    for (size_t i = 0; i < zframe_size(frame); i++) {
        if (d[i] < '0' || d[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(d[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = (size_t)v;
    return 0;
}

static zframe_t *s_decimal(size_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%zu", v);
    return zframe_from(buf);
}

zmsg_t *dc_svc_rng_request(size_t n, size_t count)
{
    zmsg_t *msg = zmsg_new();
    zmsg_append(msg, &(zframe_t *){s_decimal(n)});
    if (count != 1)
        zmsg_append(msg, &(zframe_t *){s_decimal(count)});
    return msg;
}

int dc_svc_rng_parse(zmsg_t *body, size_t *n, size_t *count, const char **reason)
{
    size_t frames = zmsg_size(body);
    *count = 1;
    if (frames < 1 || frames > 2) {
        *reason = "rng wants [N] or [N, B]";
        return -1;
    }
    if (dc_svc_parse_size(zmsg_first(body), 1, DC_RNG_BYTES_MAX, n) != 0) {
        *reason = "rng: N must be a decimal 1..4096";
        return -1;
    }
    if (frames == 2 && dc_svc_parse_size(zmsg_next(body), 1, DC_RNG_COUNT_MAX, count) != 0) {
        *reason = "rng: B must be a decimal 1..4096";
        return -1;
    }
    if (*n * *count > DC_HASHER_PAYLOAD_MAX) {
        *reason = "rng: N*B must not exceed 1048576 bytes";
        return -1;
    }
    return 0;
}

zmsg_t *dc_svc_hasher_request(const byte *data, size_t size, size_t chunk)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addmem(msg, data, size);
    if (chunk != size)
        zmsg_append(msg, &(zframe_t *){s_decimal(chunk)});
    return msg;
}

zmsg_t *dc_svc_hasher_request_bin(zframe_t **payload_p, size_t chunk, size_t digest_bytes)
{
    zmsg_t *msg = zmsg_new();
    zmsg_append(msg, payload_p);
    zmsg_append(msg, &(zframe_t *){s_decimal(chunk)});
    if (digest_bytes)
        zmsg_append(msg, &(zframe_t *){s_decimal(digest_bytes)});
    return msg;
}

int dc_svc_hasher_parse(zmsg_t *body, zframe_t **payload, size_t *chunk, size_t *digest_bytes,
                        const char **reason)
{
    size_t frames = zmsg_size(body);
    *digest_bytes = 0;
    if (frames < 1 || frames > 3) {
        *reason = "hasher wants [payload], [payload, CHUNK] or [payload, CHUNK, K]";
        return -1;
    }
    *payload = zmsg_first(body);
    size_t size = zframe_size(*payload);
    if (size > DC_HASHER_PAYLOAD_MAX) {
        *reason = "hasher: payload over 1048576 bytes";
        return -1;
    }
    *chunk = size;
    if (frames >= 2 && dc_svc_parse_size(zmsg_next(body), 1, DC_HASHER_PAYLOAD_MAX, chunk) != 0) {
        *reason = "hasher: CHUNK must be a decimal 1..1048576";
        return -1;
    }
    if (size == 0 ? frames >= 2 : (size % *chunk != 0 || size / *chunk > DC_HASHER_CHUNKS_MAX)) {
        *reason = "hasher: payload must be a whole number (<= 4096) of CHUNKs";
        return -1;
    }
    if (frames == 3 && dc_svc_parse_size(zmsg_next(body), 1, DC_DIGEST_BYTES, digest_bytes) != 0) {
        *reason = "hasher: K (digest bytes) must be a decimal 1..32";
        return -1;
    }
    return 0;
}

zmsg_t *dc_svc_reply_ok(zframe_t **payload_p)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, "200");
    zmsg_append(msg, payload_p);
    return msg;
}

zmsg_t *dc_svc_reply_error(int status, const char *reason)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addstrf(msg, "%d", status);
    zmsg_addstr(msg, reason);
    return msg;
}

int dc_svc_reply_parse(zmsg_t *body, int *status, zframe_t **payload, const char **reason)
{
    size_t st;
    *payload = NULL;
    if (zmsg_size(body) != 2 || zframe_size(zmsg_first(body)) != 3 ||
        dc_svc_parse_size(zmsg_first(body), 100, 599, &st) != 0) {
        *reason = "reply wants [STATUS, payload]";
        return -1;
    }
    *status = (int)st;
    if (st == DC_SVC_OK)
        *payload = zmsg_next(body);
    return 0;
}

void dc_sha256(const byte *data, size_t size, byte *out, size_t out_size)
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, size, data);
    sha256_digest(&ctx, out_size, out);
}

void dc_hex(const byte *data, size_t size, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < size; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * size] = 0;
}

void dc_sha256_hex(const byte *data, size_t size, char hex[DC_HEX_DIGEST_LEN + 1])
{
    byte digest[DC_DIGEST_BYTES];
    dc_sha256(data, size, digest, sizeof digest);
    dc_hex(digest, sizeof digest, hex);
}

bool dc_svc_is_coin(const char *hex)
{
    return hex[0] == '0';
}

bool dc_svc_is_coin_bin(const byte *digest)
{
    return digest[0] < 0x10;
}

void dc_svc_test(bool verbose)
{
    if (verbose)
        printf(" * dc_svc: ");
    DC_CHECK(sodium_init() >= 0);
    size_t n, count, chunk;
    const char *reason;
    zframe_t *payload;

    zmsg_t *msg = dc_svc_rng_request(32, 1);
    DC_CHECK(zmsg_size(msg) == 1);
    DC_CHECK(dc_svc_rng_parse(msg, &n, &count, &reason) == 0 && n == 32 && count == 1);
    zmsg_destroy(&msg);
    msg = dc_svc_rng_request(32, 4096);
    DC_CHECK(dc_svc_rng_parse(msg, &n, &count, &reason) == 0 && count == 4096);
    zmsg_destroy(&msg);
    const char *bad_rng[] = {"0", "4097", "-1", "", "12a", "99999999999", " 5"};
    for (size_t i = 0; i < sizeof bad_rng / sizeof *bad_rng; i++) {
        msg = zmsg_new();
        zmsg_addstr(msg, bad_rng[i]);
        DC_CHECK(dc_svc_rng_parse(msg, &n, &count, &reason) == -1);
        zmsg_destroy(&msg);
    }
    msg = dc_svc_rng_request(4096, 4096); /* 16 MiB: over the total */
    DC_CHECK(dc_svc_rng_parse(msg, &n, &count, &reason) == -1 && strstr(reason, "N*B"));
    zmsg_destroy(&msg);

    byte data[96] = {0};
    size_t k;
    msg = dc_svc_hasher_request(data, sizeof data, 32);
    DC_CHECK(dc_svc_hasher_parse(msg, &payload, &chunk, &k, &reason) == 0 && chunk == 32);
    DC_CHECK(k == 0); /* no K: the hex form */
    zmsg_destroy(&msg);
    msg = dc_svc_hasher_request(data, sizeof data, 40);
    DC_CHECK(dc_svc_hasher_parse(msg, &payload, &chunk, &k, &reason) == -1);
    zmsg_destroy(&msg);
    msg = zmsg_new();
    zmsg_append(msg, &(zframe_t *){zframe_new(NULL, DC_HASHER_PAYLOAD_MAX + 1)});
    DC_CHECK(dc_svc_hasher_parse(msg, &payload, &chunk, &k, &reason) == -1);
    zmsg_destroy(&msg);
    msg = zmsg_new();
    zmsg_append(msg, &(zframe_t *){zframe_new(NULL, 8192)});
    zmsg_addstr(msg, "1"); /* 8192 digests: over the chunk limit */
    DC_CHECK(dc_svc_hasher_parse(msg, &payload, &chunk, &k, &reason) == -1);
    zmsg_destroy(&msg);

    /* the binary form: the payload frame is taken over, K comes back */
    zframe_t *frame = zframe_new(data, sizeof data);
    msg = dc_svc_hasher_request_bin(&frame, 32, 1);
    DC_CHECK(frame == NULL && zmsg_size(msg) == 3);
    DC_CHECK(dc_svc_hasher_parse(msg, &payload, &chunk, &k, &reason) == 0);
    DC_CHECK(chunk == 32 && k == 1 && zframe_size(payload) == sizeof data);
    zmsg_destroy(&msg);
    const char *bad_k[] = {"0", "33", "x", ""};
    for (size_t i = 0; i < sizeof bad_k / sizeof *bad_k; i++) {
        msg = dc_svc_hasher_request(data, sizeof data, 32);
        zmsg_addstr(msg, bad_k[i]);
        DC_CHECK(dc_svc_hasher_parse(msg, &payload, &chunk, &k, &reason) == -1);
        DC_CHECK(strstr(reason, "K"));
        zmsg_destroy(&msg);
    }
    msg = zmsg_new(); /* an empty payload with CHUNK and K: no whole CHUNK to hash */
    zmsg_addmem(msg, "", 0);
    zmsg_addstr(msg, "32");
    zmsg_addstr(msg, "1");
    DC_CHECK(dc_svc_hasher_parse(msg, &payload, &chunk, &k, &reason) == -1);
    zmsg_addstr(msg, "1"); /* four frames */
    DC_CHECK(dc_svc_hasher_parse(msg, &payload, &chunk, &k, &reason) == -1);
    zmsg_destroy(&msg);

    char hex[DC_HEX_DIGEST_LEN + 1];
    dc_sha256_hex((const byte *)"abc", 3, hex);
    DC_CHECK(streq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    dc_sha256_hex((const byte *)"", 0, hex);
    DC_CHECK(streq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    byte digest[DC_DIGEST_BYTES], first[2];
    dc_sha256((const byte *)"abc", 3, digest, sizeof digest);
    dc_sha256((const byte *)"abc", 3, first, sizeof first);
    DC_CHECK(digest[0] == 0xba && digest[31] == 0xad && memcmp(first, digest, 2) == 0);
    /* libsodium's SHA-256 agrees on a multi-block input */
    byte big[200], theirs[DC_DIGEST_BYTES];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (byte)(i * 7);
    dc_sha256(big, sizeof big, digest, sizeof digest);
    crypto_hash_sha256(theirs, big, sizeof big);
    DC_CHECK(memcmp(digest, theirs, sizeof digest) == 0);
    DC_CHECK(dc_svc_is_coin_bin((const byte *)"\x0f") && !dc_svc_is_coin_bin((const byte *)"\x10"));
    dc_hex((const byte *)"\x0f\xa0", 2, hex);
    DC_CHECK(streq(hex, "0fa0") && dc_svc_is_coin(hex));

    zframe_t *p = zframe_from("xyz");
    msg = dc_svc_reply_ok(&p);
    int status;
    DC_CHECK(dc_svc_reply_parse(msg, &status, &payload, &reason) == 0 && status == 200);
    DC_CHECK(zframe_streq(payload, "xyz"));
    zmsg_destroy(&msg);
    msg = dc_svc_reply_error(503, "queue full");
    DC_CHECK(dc_svc_reply_parse(msg, &status, &payload, &reason) == 0 && status == 503);
    DC_CHECK(payload == NULL);
    zmsg_destroy(&msg);
    /* a status is exactly 3 digits, 100..599 */
    const char *bad_status[] = {"0200", "20", "600", "099", "2O0", ""};
    for (size_t i = 0; i < sizeof bad_status / sizeof *bad_status; i++) {
        msg = zmsg_new();
        zmsg_addstr(msg, bad_status[i]);
        zmsg_addstr(msg, "x");
        DC_CHECK(dc_svc_reply_parse(msg, &status, &payload, &reason) == -1);
        zmsg_destroy(&msg);
    }
    /* ten digits past 2^32 stay out of range, whatever the width of size_t */
    zframe_t *huge = zframe_from("4294967297");
    DC_CHECK(dc_svc_parse_size(huge, 1, DC_RNG_BYTES_MAX, &n) == -1);
    zframe_destroy(&huge);
    if (verbose)
        printf("OK\n");
}
