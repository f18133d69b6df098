/*  dc_audit: see the header. Blocking hiredis on one connection: dc-audit is a one-shot
    job, so there is no loop to keep responsive; a stop signal is checked between HSCAN
    batches. */
#include "dc_audit.h"
#include "dc_check.h"
#include "dc_redis.h"

#include <czmq.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <sodium.h>

#define S_HEX 64 /* hex digits of a SHA-256 */

dc_audit_verdict_t dc_audit_entry(const char *key, size_t key_len, const uint8_t *value,
                                  size_t value_len, char *digest)
{
    if (key_len != S_HEX)
        return DC_AUDIT_NOT_DIGEST;
    for (size_t i = 0; i < key_len; i++)
        if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
            return DC_AUDIT_NOT_DIGEST;
    uint8_t hash[crypto_hash_sha256_BYTES];
    char hex[S_HEX + 1];
    crypto_hash_sha256(hash, value, value_len);
    sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
    if (digest)
        memcpy(digest, hex, sizeof hex);
    if (memcmp(hex, key, S_HEX) != 0)
        return DC_AUDIT_NOT_SHA256;
    return key[0] == '0' ? DC_AUDIT_COIN : DC_AUDIT_NOT_ZERO;
}

const char *dc_audit_reason(dc_audit_verdict_t verdict)
{
    switch (verdict) {
    case DC_AUDIT_COIN:
        return "a coin";
    case DC_AUDIT_NOT_DIGEST:
        return "the key is not a SHA-256 digest (64 lowercase hex digits)";
    case DC_AUDIT_NOT_SHA256:
        return "the key is not the SHA-256 of the value";
    case DC_AUDIT_NOT_ZERO:
        return "the key is the SHA-256 of the value but does not start with 0: not a coin";
    }
    return "?";
}

/*  Up to max bytes of data, printable ASCII as is, anything else as \xNN, into buf. */
static const char *s_escape(const char *data, size_t len, size_t max, char *buf, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < len && i < max && n + 5 < size; i++) {
        unsigned char c = (unsigned char)data[i];
        n += (size_t)snprintf(buf + n, size - n,
                              c >= 0x20 && c < 0x7f && c != '\\' ? "%c" : "\\x%02x", c);
    }
    snprintf(buf + n, size - n, "%s", len > max ? "..." : "");
    return buf;
}

typedef struct {
    uint64_t scanned; /* entries read by HSCAN (one may come twice while the hash grows) */
    uint64_t bad;
    uint64_t mismatches; /* books lines */
} s_tally_t;

static void s_report_entry(const dc_audit_cfg_t *cfg, FILE *out, s_tally_t *t, redisReply *key,
                           redisReply *value)
{
    char digest[S_HEX + 1] = "";
    dc_audit_verdict_t v =
        dc_audit_entry(key->str, key->len, (const uint8_t *)value->str, value->len, digest);
    if (v == DC_AUDIT_COIN)
        return;
    if (t->bad++ >= (uint64_t)cfg->show)
        return;
    char k[400], val[200];
    fprintf(out, "dc-audit: wallet entry '%s' (value %zu bytes: %s): %s",
            s_escape(key->str, key->len, 64, k, sizeof k), value->len,
            s_escape(value->str, value->len, 16, val, sizeof val), dc_audit_reason(v));
    if (v == DC_AUDIT_NOT_SHA256)
        fprintf(out, " (its SHA-256 is %s)", digest);
    fprintf(out, "\n");
}

/*  HSCAN wallet to the end, checking every entry. -1 (why filled) when Redis fails. */
static int s_scan(redisContext *ctx, const dc_audit_cfg_t *cfg, FILE *out, s_tally_t *t, char *why,
                  size_t why_size)
{
    char cursor[32] = "0", count[16];
    snprintf(count, sizeof count, "%d", cfg->scan_count);
    do {
        if (zsys_interrupted) {
            snprintf(why, why_size, "interrupted after %" PRIu64 " entries", t->scanned);
            return -1;
        }
        const char *argv[] = {"HSCAN", "wallet", cursor, "COUNT", count};
        redisReply *r = redisCommandArgv(ctx, 5, argv, NULL);
        bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                  r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len < sizeof cursor &&
                  r->element[1]->type == REDIS_REPLY_ARRAY && r->element[1]->elements % 2 == 0;
        if (!ok) {
            snprintf(why, why_size, "HSCAN wallet: %s",
                     !r                             ? ctx->errstr
                     : r->type == REDIS_REPLY_ERROR ? r->str
                                                    : "unexpected reply");
            if (r)
                freeReplyObject(r);
            return -1;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
        redisReply *pairs = r->element[1];
        for (size_t i = 0; i + 1 < pairs->elements; i += 2, t->scanned++)
            s_report_entry(cfg, out, t, pairs->element[i], pairs->element[i + 1]);
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/*  What one snapshot says: -1 for a key that is absent. */
typedef struct {
    long long hashes, coins, total_hashes, total_coins;
    long long adopted_hashes, adopted_coins; /* found by the totals when they began */
} s_books_t;

/*  An integer reply, or a string holding one; -1 for nil; -2 (mismatch: text in bad) else. */
static long long s_number(redisReply *r, const char *what, char *bad, size_t bad_size)
{
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_NIL)
        return -1;
    char *end = NULL;
    long long v = r->type == REDIS_REPLY_STRING ? strtoll(r->str, &end, 10) : -1;
    if (r->type == REDIS_REPLY_STRING && end != r->str && *end == 0 && v >= 0)
        return v;
    char text[200];
    snprintf(bad, bad_size, "%s is not a count: %s", what,
             r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STRING
                 ? s_escape(r->str, r->len, 40, text, sizeof text)
                 : "not a string");
    return -2;
}

/*  GET hashes, HLEN wallet and the totals in one MULTI/EXEC (the dispatcher's scripts are
    atomic, so the snapshot sees every batch whole). -1 (why filled) when Redis fails. */
static int s_snapshot(redisContext *ctx, s_books_t *b, FILE *out, s_tally_t *t, char *why,
                      size_t why_size)
{
    redisAppendCommand(ctx, "MULTI");
    redisAppendCommand(ctx, "GET hashes");
    redisAppendCommand(ctx, "HLEN wallet");
    redisAppendCommand(ctx,
                       "HMGET " DC_REDIS_TOTALS_KEY " hashes coins adopted_hashes adopted_coins");
    redisAppendCommand(ctx, "EXEC");
    redisReply *r = NULL;
    int rc = 0;
    for (int i = 0; i < 5; i++) {
        if (r)
            freeReplyObject(r);
        r = NULL;
        if (redisGetReply(ctx, (void **)&r) != REDIS_OK || !r ||
            (r->type == REDIS_REPLY_ERROR && rc == 0)) {
            snprintf(why, why_size, "reading the books: %s", r ? r->str : ctx->errstr);
            rc = -1;
            if (!r)
                return -1;
        }
    }
    if (rc == 0 && (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
                    r->element[2]->type != REDIS_REPLY_ARRAY || r->element[2]->elements != 4)) {
        snprintf(why, why_size, "reading the books: unexpected reply to EXEC");
        rc = -1;
    }
    if (rc == 0) {
        char bad[300];
        redisReply *totals = r->element[2];
        redisReply *num[6] = {r->element[0],      r->element[1],      totals->element[0],
                              totals->element[1], totals->element[2], totals->element[3]};
        const char *what[6] = {"hashes",
                               "HLEN wallet",
                               DC_REDIS_TOTALS_KEY " hashes",
                               DC_REDIS_TOTALS_KEY " coins",
                               DC_REDIS_TOTALS_KEY " adopted_hashes",
                               DC_REDIS_TOTALS_KEY " adopted_coins"};
        long long *into[6] = {&b->hashes,      &b->coins,          &b->total_hashes,
                              &b->total_coins, &b->adopted_hashes, &b->adopted_coins};
        for (int i = 0; i < 6; i++)
            if ((*into[i] = s_number(num[i], what[i], bad, sizeof bad)) == -2) {
                fprintf(out, "dc-audit: books: %s\n", bad);
                t->mismatches++;
            }
    }
    freeReplyObject(r);
    return rc;
}

/*  The books' lines of the report: each disagreement, counted in t. */
static void s_compare(const s_books_t *b, FILE *out, s_tally_t *t)
{
    if (b->hashes < -1 || b->coins < -1 || b->total_hashes < -1 || b->total_coins < -1)
        return; /* not a count: reported already */
    long long hashes = b->hashes < 0 ? 0 : b->hashes, coins = b->coins;
    if (b->total_hashes < 0 && b->total_coins < 0) {
        if (hashes || coins) {
            fprintf(out,
                    "dc-audit: books: %s is missing, yet Redis holds %lld hashes and %lld coins: "
                    "nothing accounts for them (written before the books kept totals and no "
                    "batch landed since: a dispatcher adopts them at its next batch; or written "
                    "by something else)\n",
                    DC_REDIS_TOTALS_KEY, hashes, coins);
            t->mismatches++;
        }
        return;
    }
    long long total_hashes = b->total_hashes < 0 ? 0 : b->total_hashes;
    long long total_coins = b->total_coins < 0 ? 0 : b->total_coins;
    if (hashes != total_hashes) {
        fprintf(
            out,
            "dc-audit: books: hashes is %lld but the dispatcher's books (%s) say %lld (%+lld)\n",
            hashes, DC_REDIS_TOTALS_KEY, total_hashes, hashes - total_hashes);
        t->mismatches++;
    }
    if (coins != total_coins) {
        fprintf(out,
                "dc-audit: books: the wallet holds %lld entries but the dispatcher's books (%s) "
                "say %lld coins (%+lld)\n",
                coins, DC_REDIS_TOTALS_KEY, total_coins, coins - total_coins);
        t->mismatches++;
    }
    if (coins > hashes) {
        fprintf(out, "dc-audit: books: %lld coins from only %lld hashes (a coin is one hash)\n",
                coins, hashes);
        t->mismatches++;
    }
}

int dc_audit_run(redisContext *ctx, const dc_audit_cfg_t *cfg, FILE *out)
{
    s_tally_t t = {0};
    s_books_t b = {0};
    char why[600] = "";
    if (s_snapshot(ctx, &b, out, &t, why, sizeof why) != 0 ||
        s_scan(ctx, cfg, out, &t, why, sizeof why) != 0) {
        fprintf(out, "dc-audit: UNREAD: %s: %s; nothing concluded\n", cfg->where, why);
        return DC_AUDIT_EXIT_UNREAD;
    }
    s_compare(&b, out, &t);
    if (t.bad > (uint64_t)cfg->show)
        fprintf(out, "dc-audit: ... and %" PRIu64 " more bad wallet entries not shown (--show)\n",
                t.bad - (uint64_t)cfg->show);
    if (t.bad || t.mismatches) {
        fprintf(out,
                "dc-audit: FAILED: %s: %" PRIu64 " bad wallet entries of %" PRIu64
                " checked, %" PRIu64 " books mismatches\n",
                cfg->where, t.bad, t.scanned, t.mismatches);
        return DC_AUDIT_EXIT_MISMATCH;
    }
    fprintf(out,
            "dc-audit: OK: %s: %" PRIu64 " coins checked, wallet %lld = books %lld coins, hashes "
            "%lld = books %lld",
            cfg->where, t.scanned, b.coins, b.total_coins < 0 ? 0 : b.total_coins,
            b.hashes < 0 ? 0 : b.hashes, b.total_hashes < 0 ? 0 : b.total_hashes);
    if (b.adopted_hashes > 0 || b.adopted_coins > 0)
        fprintf(
            out,
            " (of which adopted, written before the books kept totals: %lld hashes, %lld coins)",
            b.adopted_hashes < 0 ? 0 : b.adopted_hashes, b.adopted_coins < 0 ? 0 : b.adopted_coins);
    fprintf(out, "\n");
    return DC_AUDIT_EXIT_OK;
}

void dc_audit_test(bool verbose)
{
    if (verbose)
        printf(" * dc_audit: ");
    char digest[S_HEX + 1];
    /* SHA-256("abc") (FIPS 180-2) is a digest of its value, but not a coin */
    const char *abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    DC_CHECK(dc_audit_entry(abc, 64, (const uint8_t *)"abc", 3, digest) == DC_AUDIT_NOT_ZERO);
    DC_CHECK(streq(digest, abc));
    /* a coin: the first 4-byte value whose SHA-256 starts with 0 (1 in 16) */
    uint8_t value[4] = {0};
    char key[S_HEX + 1] = "";
    for (uint32_t i = 0; key[0] != '0'; i++) {
        memcpy(value, &i, sizeof i);
        DC_CHECK(dc_audit_entry(abc, 64, value, sizeof value, key) == DC_AUDIT_NOT_SHA256);
    }
    DC_CHECK(dc_audit_entry(key, 64, value, sizeof value, NULL) == DC_AUDIT_COIN);
    /* one bit off in the value, one digit off in the key: forged */
    value[0] ^= 1;
    DC_CHECK(dc_audit_entry(key, 64, value, sizeof value, digest) == DC_AUDIT_NOT_SHA256);
    DC_CHECK(!streq(digest, key));
    value[0] ^= 1;
    char forged[S_HEX + 1];
    memcpy(forged, key, sizeof forged);
    forged[63] = forged[63] == '0' ? '1' : '0';
    DC_CHECK(dc_audit_entry(forged, 64, value, sizeof value, NULL) == DC_AUDIT_NOT_SHA256);
    /* not a digest: short, upper case, not hex */
    DC_CHECK(dc_audit_entry(key, 63, value, sizeof value, NULL) == DC_AUDIT_NOT_DIGEST);
    DC_CHECK(dc_audit_entry("0", 1, value, sizeof value, NULL) == DC_AUDIT_NOT_DIGEST);
    const char *upper = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
    DC_CHECK(dc_audit_entry(upper, 64, (const uint8_t *)"abc", 3, NULL) == DC_AUDIT_NOT_DIGEST);
    memcpy(forged, key, sizeof forged);
    forged[10] = 'g';
    DC_CHECK(dc_audit_entry(forged, 64, value, sizeof value, NULL) == DC_AUDIT_NOT_DIGEST);
    DC_CHECK(strstr(dc_audit_reason(DC_AUDIT_NOT_SHA256), "SHA-256"));
    if (verbose)
        printf("OK\n");
}
