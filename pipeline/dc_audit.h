/*  dc_audit: recounts the wallet in Redis, read-only, and compares it with the books.

    - Every wallet entry must be a coin: its key is the lowercase hex SHA-256 (64 digits)
      of its value, and starts with `0` (dc_audit_entry, a pure function).
    - The books must agree: in one atomic snapshot (MULTI/EXEC), `GET hashes` equals the
      `hashes` of DC_REDIS_TOTALS_KEY, `HLEN wallet` its `coins`, and coins <= hashes.
      The dispatcher's scripts add to `hashes`, `wallet` and the totals in one EVAL, so
      they differ only when something else wrote `hashes` or `wallet` (or deleted from
      them). Empty books (no hashes, no wallet, no totals) agree.
    The wallet is read with HSCAN in batches, so memory stays bounded whatever its size;
    it may be read while the dispatcher writes (entries added meanwhile may or may not be
    checked; the snapshot is consistent). Nothing is written to Redis.

    @interface
    dc_audit_entry  checks one wallet entry
    dc_audit_run    audits a Redis connection, prints the report, returns the exit code
    dc_audit_test   self-test */
#ifndef DC_AUDIT_H_INCLUDED
#define DC_AUDIT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*  What is wrong with a wallet entry. */
typedef enum {
    DC_AUDIT_COIN = 0,   /* a real coin */
    DC_AUDIT_NOT_DIGEST, /* the key is not 64 lowercase hex digits */
    DC_AUDIT_NOT_SHA256, /* the key is not the SHA-256 of the value */
    DC_AUDIT_NOT_ZERO    /* the SHA-256 of the value, but it does not start with 0 */
} dc_audit_verdict_t;

/*  Exit codes of dc-audit (dc_audit_run returns OK, MISMATCH or UNREAD; USAGE is main's). */
#define DC_AUDIT_EXIT_OK 0       /* everything agrees */
#define DC_AUDIT_EXIT_MISMATCH 1 /* a forged entry, or the books disagree */
#define DC_AUDIT_EXIT_USAGE 2    /* bad options */
#define DC_AUDIT_EXIT_UNREAD 3   /* Redis could not be read (down, password, error) */

/*  The verdict on one entry; digest (65 bytes, may be NULL) receives the value's SHA-256
    in hex when the key is a digest (DC_AUDIT_NOT_SHA256 reports it). */
dc_audit_verdict_t dc_audit_entry(const char *key, size_t key_len, const uint8_t *value,
                                  size_t value_len, char *digest);
/*  The verdict in words. */
const char *dc_audit_reason(dc_audit_verdict_t verdict);

typedef struct {
    int scan_count;    /* HSCAN COUNT: entries asked for per batch */
    int show;          /* bad entries reported one by one, at most */
    const char *where; /* "HOST:PORT", for the report */
} dc_audit_cfg_t;

struct redisContext;
/*  Audits what ctx reaches; the report goes to out: one line per mismatch (and per bad
    entry, up to cfg->show), then one summary line starting "dc-audit: OK",
    "dc-audit: FAILED" or, when Redis could not be read, "dc-audit: UNREAD". Returns
    DC_AUDIT_EXIT_OK, _MISMATCH or _UNREAD. */
int dc_audit_run(struct redisContext *ctx, const dc_audit_cfg_t *cfg, FILE *out);

void dc_audit_test(bool verbose);

#endif
