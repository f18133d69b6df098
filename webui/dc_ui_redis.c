/*  dc_ui_redis: the foundation's Redis connection (dc_rconn) behind a mutex. Calls
    are short (one pipelined round trip), so /json handlers simply take turns on one
    connection. */
#include "dc_ui_redis.h"
#include "dc_check.h"
#include "dc_rconn.h"
#include "dc_stats.h"

#include <assert.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _dc_ui_redis_t {
    pthread_mutex_t mutex;
    dc_rconn_t *conn;
};

dc_ui_redis_t *dc_ui_redis_new(const char *address, const char *password, int timeout_ms)
{
    dc_ui_redis_t *self = calloc(1, sizeof *self);
    assert(self);
    self->conn = dc_rconn_new(address, password, timeout_ms);
    if (!self->conn) {
        free(self);
        return NULL;
    }
    pthread_mutex_init(&self->mutex, NULL);
    return self;
}

void dc_ui_redis_destroy(dc_ui_redis_t **self_p)
{
    if (self_p && *self_p) {
        dc_ui_redis_t *self = *self_p;
        dc_rconn_destroy(&self->conn);
        pthread_mutex_destroy(&self->mutex);
        free(self);
        *self_p = NULL;
    }
}

//  The connection (dialled when needed, the back-off permitting), or NULL with the
//  reason in error. Caller holds the mutex.
static redisContext *s_connect(dc_ui_redis_t *self, char *error, size_t error_size)
{
    redisContext *context = dc_rconn_get(self->conn);
    if (!context)
        snprintf(error, error_size, "%s", dc_rconn_error(self->conn));
    return context;
}

//  Read `count` pipelined replies into `replies`. Returns 0 or -1 (then
//  every reply is freed and the connection dropped).
static int s_replies(dc_ui_redis_t *self, redisContext *context, redisReply **replies, size_t count,
                     char *error, size_t error_size)
{
    memset(replies, 0, count * sizeof *replies);
    for (size_t i = 0; i < count; i++) {
        void *reply = NULL;
        if (redisGetReply(context, &reply) != REDIS_OK || !reply) {
            for (size_t j = 0; j < i; j++)
                freeReplyObject(replies[j]);
            dc_rconn_drop(self->conn, context->errstr);
            snprintf(error, error_size, "%s", dc_rconn_error(self->conn));
            return -1;
        }
        replies[i] = reply;
    }
    return 0;
}

static void s_free_replies(redisReply **replies, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (replies[i])
            freeReplyObject(replies[i]);
}

//  A GET reply as an integer; false when nil or not a number.
static bool s_integer(const redisReply *reply, long long *value)
{
    if (reply->type == REDIS_REPLY_INTEGER) {
        *value = reply->integer;
        return true;
    }
    if (reply->type != REDIS_REPLY_STRING)
        return false;
    char *end = NULL;
    long long parsed = strtoll(reply->str, &end, 10);
    if (end == reply->str || *end != 0)
        return false;
    *value = parsed;
    return true;
}

//  An HGETALL reply into a stage; absent when empty (the key expired).
static void s_stage(const redisReply *reply, dc_ui_stage_t *stage)
{
    memset(stage, 0, sizeof *stage);
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0)
        return;
    const char *pairs[2 * DC_UI_STAGE_FIELDS_MAX];
    size_t count = 0;
    for (size_t i = 0; i + 1 < reply->elements && count + 2 <= 2 * DC_UI_STAGE_FIELDS_MAX; i += 2) {
        if (reply->element[i]->type != REDIS_REPLY_STRING ||
            reply->element[i + 1]->type != REDIS_REPLY_STRING)
            continue;
        pairs[count++] = reply->element[i]->str;
        pairs[count++] = reply->element[i + 1]->str;
    }
    dc_ui_stats_stage_parse(stage, pairs, count);
}

//  An LRANGE reply of dc:series into `series`, oldest first.
static void s_series(const redisReply *reply, dc_ui_series_t *series)
{
    dc_ui_series_clear(series);
    if (reply->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < reply->elements; i++) {
        int64_t t_ms;
        double value;
        if (reply->element[i]->type == REDIS_REPLY_STRING &&
            dc_ui_series_parse(reply->element[i]->str, &t_ms, &value) == 0)
            dc_ui_series_add(series, t_ms, value);
    }
}

int dc_ui_redis_read(dc_ui_redis_t *self, dc_ui_view_t *view, dc_ui_series_t *series)
{
    enum { S_REPLIES = 4 + DC_UI_STAGE_COUNT };
    redisReply *replies[S_REPLIES];
    pthread_mutex_lock(&self->mutex);
    redisContext *context = s_connect(self, view->error, sizeof view->error);
    int rc = -1;
    if (context) {
        redisAppendCommand(context, "GET hashes");
        redisAppendCommand(context, "HLEN wallet");
        for (dc_ui_stage_id_t id = 0; id < DC_UI_STAGE_COUNT; id++)
            redisAppendCommand(context, "HGETALL %s", dc_ui_stats_stage_key(id));
        char first[32]; //  hiredis formats no size_t: the index as text
        snprintf(first, sizeof first, "-%zu", dc_ui_series_capacity(series));
        redisAppendCommand(context, "LRANGE %s %s -1", DC_UI_SERIES_KEY, first);
        redisAppendCommand(context, "HGETALL " DC_STATS_KEY_TRACKS);
        rc = s_replies(self, context, replies, S_REPLIES, view->error, sizeof view->error);
    }
    pthread_mutex_unlock(&self->mutex);
    view->redis_ok = rc == 0;
    if (rc != 0)
        return -1;
    view->error[0] = 0;
    long long value = 0;
    view->have_hashes = s_integer(replies[0], &value);
    view->hashes = view->have_hashes ? value : 0;
    view->have_coins = s_integer(replies[1], &value);
    view->coins = view->have_coins ? value : 0;
    for (dc_ui_stage_id_t id = 0; id < DC_UI_STAGE_COUNT; id++)
        s_stage(replies[2 + id], &view->stages[id]);
    s_series(replies[2 + DC_UI_STAGE_COUNT], series);
    s_stage(replies[3 + DC_UI_STAGE_COUNT], &view->tracks);
    s_free_replies(replies, S_REPLIES);
    return 0;
}

int dc_ui_redis_totals(dc_ui_redis_t *self, long long *coins, char *hashes, size_t hashes_size,
                       char *error, size_t error_size)
{
    redisReply *replies[2];
    pthread_mutex_lock(&self->mutex);
    redisContext *context = s_connect(self, error, error_size);
    int rc = -1;
    if (context) {
        redisAppendCommand(context, "HLEN wallet");
        redisAppendCommand(context, "GET hashes");
        rc = s_replies(self, context, replies, 2, error, error_size);
    }
    pthread_mutex_unlock(&self->mutex);
    if (rc != 0)
        return -1;
    if (replies[0]->type == REDIS_REPLY_INTEGER && replies[1]->type != REDIS_REPLY_ERROR) {
        *coins = replies[0]->integer;
        snprintf(hashes, hashes_size, "%s",
                 replies[1]->type == REDIS_REPLY_STRING ? replies[1]->str : "");
    } else {
        const redisReply *bad = replies[0]->type == REDIS_REPLY_ERROR ? replies[0] : replies[1];
        snprintf(error, error_size, "%s", bad->type == REDIS_REPLY_ERROR ? bad->str : "bad reply");
        rc = -1;
    }
    s_free_replies(replies, 2);
    return rc;
}

void dc_ui_redis_test(bool verbose)
{
    if (verbose)
        printf(" * dc_ui_redis: ");
    dc_ui_redis_t *redis = dc_ui_redis_new("127.0.0.1:1", NULL, 200);
    DC_CHECK(redis);
    //  nothing listens on port 1: an error, not a hang or a crash
    dc_ui_view_t view;
    memset(&view, 0, sizeof view);
    dc_ui_series_t *series = dc_ui_series_new(8);
    DC_CHECK(dc_ui_redis_read(redis, &view, series) == -1 && !view.redis_ok && view.error[0]);
    dc_ui_series_destroy(&series);
    dc_ui_redis_destroy(&redis);
    dc_ui_redis_destroy(&redis);
    DC_CHECK(dc_ui_redis_new("bad:port", NULL, 100) == NULL);
    if (verbose)
        printf("OK\n");
}
