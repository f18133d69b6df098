/*  dc_ui_poller: one thread, one Redis round trip per tick. Two clocks: the
    ticks keep a fixed 1 s schedule on CLOCK_MONOTONIC (no drift, no jump when
    the wall clock is stepped), and data freshness is measured on it too; the
    snapshots' ts_ms and the dc:series samples are wall time (CLOCK_REALTIME,
    dc_ui_poller_wall_ms), comparable across hosts.
    Speed: the dispatcher appends (its wall time, the `hashes` total) to the
    Redis list dc:series once a second; each tick reads that list whole and
    computes, for every sample of the last five minutes, the rise over the
    samples spanning `window_ms` before it: the newest is the speed, all of
    them the chart. So the chart outlives a restarted webui and every replica
    draws the same one. Over 10 s the error of the dispatcher's batching is
    at most one batch in ten. Stage rates use each stage's counter the same
    way, over the same window.                                              */
#include "dc_ui_poller.h"

#include <assert.h>
#include <czmq.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dc_check.h"
#include "dc_rconn.h"
#include "dc_ui_redis.h"
#include "dc_ui_series.h"

struct _dc_ui_poller_t {
    dc_ui_poller_config_t config;
    dc_ui_hub_t *hub;
    dc_ui_redis_t *redis;
    dc_ui_series_t *totals;                      //  dc:series as read: (t, hashes)
    dc_ui_series_t *chart;                       //  (t, speed) for the chart
    dc_ui_series_t *counters[DC_UI_STAGE_COUNT]; //  (stats ts, counter) per stage
    dc_ui_judge_t judge;
    int64_t data_t_ms;      //  the newest dc:series sample seen, -1: none yet
    int64_t data_seen_mono; //  when it arrived (monotonic ms)
    dc_buf_t *event;
    dc_buf_t *history;
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    bool stopping;
    bool was_ok;  //  to log Redis transitions once, not every second
    bool running; //  the thread was started
};

int64_t dc_ui_poller_wall_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int64_t s_mono_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

//  How long the newest sample has been the newest, on this host's
//  monotonic clock (immune to clock skew between hosts while the series
//  advances); the first sample seen, or one older than the last seen, counts
//  from its own timestamp.
static void s_freshness(dc_ui_poller_t *self, dc_ui_view_t *view)
{
    int64_t newest = dc_ui_series_last_t(self->totals);
    if (newest < 0)
        return;
    int64_t mono = s_mono_ms();
    if (newest != self->data_t_ms) {
        //  advancing: new now; first seen, or older than before (the series
        //  was replaced): as old as its timestamp says
        int64_t age = newest < self->data_t_ms || self->data_t_ms < 0 ? view->ts_ms - newest : 0;
        self->data_t_ms = newest;
        self->data_seen_mono = mono - (age > 0 ? age : 0);
    }
    view->have_data = true;
    view->data_t_ms = newest;
    view->data_age_ms = mono - self->data_seen_mono;
}

//  Speed, chart and freshness from the dc:series just read.
static void s_speed(dc_ui_poller_t *self, dc_ui_view_t *view)
{
    view->window_ms = self->config.window_ms;
    if (!view->redis_ok)
        return;
    s_freshness(self, view);
    //  half a tick of slack, or samples a hair over 1 s apart would leave
    //  the one from exactly one window ago just outside it
    int64_t window = self->config.window_ms + self->config.interval_ms / 2;
    int64_t since = dc_ui_series_last_t(self->totals) - self->config.history_ms;
    int64_t span = 0;
    size_t points = dc_ui_series_rates(self->totals, window, since, self->chart, &span);
    if (points == 0)
        return;
    view->have_speed = true;
    view->speed = dc_ui_series_last(self->chart);
    view->speed_t_ms = dc_ui_series_last_t(self->chart);
    view->span_ms = span;
    size_t first = points > DC_UI_RECENT_MAX ? points - DC_UI_RECENT_MAX : 0;
    for (size_t i = first; i < points; i++, view->recent_count++)
        dc_ui_series_at(self->chart, i, &view->recent_t[view->recent_count],
                        &view->recent_v[view->recent_count]);
}

//  Each stage's rate over the speed's window, from its counter.
static void s_rates(dc_ui_poller_t *self, dc_ui_view_t *view)
{
    int64_t window = self->config.window_ms + self->config.interval_ms / 2;
    for (dc_ui_stage_id_t id = 0; id < DC_UI_STAGE_COUNT; id++) {
        dc_ui_stage_id_t source;
        const char *counter = dc_ui_stats_counter(id, &source);
        dc_ui_series_t *series = self->counters[id];
        const dc_ui_stage_t *stage = &view->stages[source];
        double value = dc_ui_stats_get(stage, counter, NAN);
        double ts = dc_ui_stats_get(stage, "ts_ms", NAN);
        if (!counter || !dc_ui_stats_live(view, source) || isnan(value) || isnan(ts)) {
            dc_ui_series_clear(series);
            continue;
        }
        //  a counter that went down: the stage restarted
        if (dc_ui_series_size(series) && value < dc_ui_series_last(series))
            dc_ui_series_clear(series);
        if ((int64_t)ts > dc_ui_series_last_t(series))
            dc_ui_series_add(series, (int64_t)ts, value);
        int64_t span = 0;
        view->have_rate[id] =
            dc_ui_series_rate(series, window, &view->rate[id], &span) == 0 && span > 0;
    }
}

//  One tick: read, compute, judge, render, publish.
static void s_tick(dc_ui_poller_t *self)
{
    dc_ui_view_t view;
    memset(&view, 0, sizeof view);
    view.ts_ms = dc_ui_poller_wall_ms();
    if (dc_ui_redis_read(self->redis, &view, self->totals) == 0) {
        if (!self->was_ok)
            zsys_info("dc-webui: redis %s reachable", self->config.redis);
    } else {
        if (self->was_ok)
            zsys_warning("dc-webui: redis unreachable: %s", view.error);
        //  keep the last known totals on screen, marked by the banner
        dc_ui_view_t last;
        if (dc_ui_hub_view(self->hub, &last)) {
            view.have_hashes = last.have_hashes;
            view.hashes = last.hashes;
            view.have_coins = last.have_coins;
            view.coins = last.coins;
        }
    }
    self->was_ok = view.redis_ok;
    s_speed(self, &view);
    s_rates(self, &view);
    dc_ui_stats_judge(&view, &self->judge);
    dc_buf_reset(self->event);
    dc_buf_reset(self->history);
    dc_ui_stats_json(&view, self->event);
    dc_buf_printf(self->history, "{\"window_s\":%d,\"points\":", self->config.window_ms / 1000);
    dc_ui_series_json(self->chart, self->history);
    dc_buf_append(self->history, "}", 1);
    dc_ui_hub_publish(self->hub, &view, dc_buf_data(self->event), dc_buf_data(self->history));
}

static void s_add_ms(struct timespec *when, int ms)
{
    when->tv_sec += ms / 1000;
    when->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (when->tv_nsec >= 1000000000L) {
        when->tv_sec++;
        when->tv_nsec -= 1000000000L;
    }
}

static void *s_run(void *args)
{
    dc_ui_poller_t *self = args;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&self->mutex);
    while (!self->stopping) {
        pthread_mutex_unlock(&self->mutex);
        s_tick(self);
        pthread_mutex_lock(&self->mutex);
        s_add_ms(&next, self->config.interval_ms);
        //  after a long stall (suspend, debugger) skip the missed ticks
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > next.tv_sec + 2) {
            next = now;
            s_add_ms(&next, self->config.interval_ms);
        }
        while (!self->stopping && pthread_cond_timedwait(&self->wake, &self->mutex, &next) == 0)
            ;
    }
    pthread_mutex_unlock(&self->mutex);
    return NULL;
}

dc_ui_poller_t *dc_ui_poller_new(const dc_ui_poller_config_t *config, dc_ui_hub_t *hub)
{
    dc_ui_poller_t *self = calloc(1, sizeof *self);
    assert(self);
    self->config = *config;
    self->hub = hub;
    self->was_ok = true;
    self->redis = dc_ui_redis_new(config->redis, config->redis_password, config->redis_timeout_ms);
    //  the chart's 5 minutes, the window before its first point, and slack
    size_t series_samples =
        (size_t)((config->history_ms + config->window_ms) / config->interval_ms) + 16;
    size_t window_samples = (size_t)(config->window_ms / config->interval_ms) + 8;
    self->totals = dc_ui_series_new(series_samples);
    self->chart = dc_ui_series_new(series_samples);
    for (dc_ui_stage_id_t id = 0; id < DC_UI_STAGE_COUNT; id++)
        self->counters[id] = dc_ui_series_new(window_samples);
    dc_ui_judge_init(&self->judge);
    self->data_t_ms = -1;
    self->event = dc_buf_new();
    self->history = dc_buf_new();
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&self->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&self->mutex, NULL);
    if (self->redis)
        self->running = pthread_create(&self->thread, NULL, s_run, self) == 0;
    if (!self->running)
        dc_ui_poller_destroy(&self);
    return self;
}

void dc_ui_poller_destroy(dc_ui_poller_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dc_ui_poller_t *self = *self_p;
    if (self->running) {
        pthread_mutex_lock(&self->mutex);
        self->stopping = true;
        pthread_cond_signal(&self->wake);
        pthread_mutex_unlock(&self->mutex);
        pthread_join(self->thread, NULL);
    }
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->mutex);
    dc_ui_redis_destroy(&self->redis);
    dc_ui_series_destroy(&self->totals);
    dc_ui_series_destroy(&self->chart);
    for (dc_ui_stage_id_t id = 0; id < DC_UI_STAGE_COUNT; id++)
        dc_ui_series_destroy(&self->counters[id]);
    dc_buf_destroy(&self->event);
    dc_buf_destroy(&self->history);
    free(self);
    *self_p = NULL;
}

//  Test helper: a private redis-server on a spare loopback port (dc_rconn's); its
//  pid, -1 when none is installed. *context_p receives a connection to it.
static int s_test_redis(int port, redisContext **context_p)
{
    int pid = dc_rconn_test_server(port, NULL);
    if (pid < 0)
        return -1;
    char why[256];
    *context_p = dc_rconn_connect("127.0.0.1", port, NULL, 2000, why, sizeof why);
    DC_CHECK(*context_p);
    return pid;
}

static void s_test_command(redisContext *context, const char *command)
{
    redisReply *reply = redisCommand(context, command);
    DC_CHECK(reply && reply->type != REDIS_REPLY_ERROR);
    freeReplyObject(reply);
}

//  The next snapshot whose JSON contains `want` (bounded wait).
static dc_ui_frame_t *s_test_wait_for(dc_ui_hub_t *hub, uint64_t *seq, const char *want)
{
    for (int events = 0; events < 40; events++) {
        dc_ui_frame_t *frame = NULL;
        DC_CHECK(dc_ui_hub_wait(hub, seq, 2000, &frame) == 1);
        if (strstr(dc_ui_frame_data(frame), want))
            return frame;
        dc_ui_frame_release(&frame);
    }
    DC_CHECK(!"the expected snapshot never came");
    return NULL;
}

//  Test helper: a poller of the Redis at address, every 100 ms, the speed over
//  10 s, 5 minutes of chart; NULL for an address that does not parse.
static dc_ui_poller_t *s_test_poller(const char *address, dc_ui_hub_t *hub)
{
    dc_ui_poller_config_t config = {.redis = address,
                                    .interval_ms = 100,
                                    .window_ms = 10000,
                                    .history_ms = 300000,
                                    .redis_timeout_ms = 500};
    return dc_ui_poller_new(&config, hub);
}

//  Against a real redis-server: the chart and the speed come from the
//  dispatcher's dc:series (so a new poller shows the past at once), stage
//  rates from their counters, and a series that stopped advancing shows.
static void s_test_series(bool verbose)
{
    redisContext *context = NULL;
    int port = dc_rconn_test_port();
    int pid = s_test_redis(port, &context);
    if (pid < 0) {
        if (verbose)
            printf("(no redis-server: series part skipped) ");
        return;
    }
    //  two minutes of a rig mining 10 hashes/s, the newest sample now
    int64_t now = dc_ui_poller_wall_ms();
    char command[160];
    for (int i = 0; i < 120; i++) {
        snprintf(command, sizeof command, "RPUSH dc:series %lld:%d",
                 (long long)(now - 1000 * (119 - i)), 10 * i);
        s_test_command(context, command);
    }
    s_test_command(context, "RPUSH dc:series garbage");
    snprintf(command, sizeof command,
             "HSET dc:stats:rng slots 1 busy_pct 50 queue 0 served 1000 ts_ms %lld",
             (long long)(now - 3000));
    s_test_command(context, command);
    dc_ui_hub_t *hub = dc_ui_hub_new(1);
    char address[32];
    snprintf(address, sizeof address, "127.0.0.1:%d", port);
    dc_ui_poller_t *poller = s_test_poller(address, hub);
    DC_CHECK(poller);
    uint64_t seq = 0;
    dc_ui_frame_t *frame = s_test_wait_for(hub, &seq, "\"redis\":{\"ok\":true");
    const char *json = dc_ui_frame_data(frame);
    DC_CHECK(strstr(json, "\"hashes_per_s\":10,\"window_s\":10,\"span_s\":10,"));
    DC_CHECK(strstr(json, "\"data\":{\"fresh\":true"));
    dc_ui_frame_release(&frame);
    //  the whole past at once: one chart point per sample but the first
    dc_buf_t *history = dc_buf_new();
    DC_CHECK(dc_ui_hub_history(hub, history) > 0);
    size_t points = 0;
    for (const char *p = dc_buf_data(history); (p = strstr(p, "],[")); p++)
        points++;
    DC_CHECK(points + 1 == 119);
    DC_CHECK(strstr(dc_buf_data(history), ",10]]}"));
    dc_buf_destroy(&history);
    //  rng's counter: +30 over 3 s is 10 requests/s
    snprintf(command, sizeof command,
             "HSET dc:stats:rng slots 1 busy_pct 50 queue 0 served 1030 ts_ms %lld",
             (long long)now);
    s_test_command(context, command);
    frame = s_test_wait_for(hub, &seq, "\"busy_pct\":50,\"queue\":0,");
    dc_ui_frame_release(&frame);
    frame = s_test_wait_for(hub, &seq, "\"rate\":10,");
    dc_ui_frame_release(&frame);
    //  no new sample for longer than DC_UI_DATA_STALE_MS: stopped
    frame = s_test_wait_for(hub, &seq, "\"data\":{\"fresh\":false");
    DC_CHECK(strstr(dc_ui_frame_data(frame), "Stopped: no counts from the dispatcher"));
    DC_CHECK(strstr(dc_ui_frame_data(frame), "\"bottleneck\":{\"stage\":null"));
    dc_ui_frame_release(&frame);
    dc_ui_poller_destroy(&poller);
    dc_ui_hub_destroy(&hub);
    redisFree(context);
    dc_rconn_test_server_stop(pid);
}

void dc_ui_poller_test(bool verbose)
{
    if (verbose)
        printf(" * dc_ui_poller: ");
    //  Against a closed port: the poller publishes "unreachable" snapshots
    //  on schedule and stops promptly.
    dc_ui_hub_t *hub = dc_ui_hub_new(1);
    dc_ui_poller_t *poller = s_test_poller("127.0.0.1:1", hub);
    DC_CHECK(poller);
    uint64_t seq = 0;
    dc_ui_frame_t *frame = NULL;
    for (int events = 0; events < 3; events++) {
        dc_ui_frame_release(&frame);
        int rc = dc_ui_hub_wait(hub, &seq, 2000, &frame);
        DC_CHECK(rc == 1);
    }
    DC_CHECK(strstr(dc_ui_frame_data(frame), "\"redis\":{\"ok\":false"));
    DC_CHECK(strstr(dc_ui_frame_data(frame), "Redis unreachable"));
    dc_ui_frame_release(&frame);
    dc_ui_poller_destroy(&poller);
    dc_ui_poller_destroy(&poller);
    DC_CHECK(s_test_poller("no:port:here", hub) == NULL);
    dc_ui_hub_destroy(&hub);
    s_test_series(verbose);
    if (verbose)
        printf("OK\n");
}
