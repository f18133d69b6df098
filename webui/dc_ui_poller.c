/*  dc_ui_poller: one thread, a fixed 1 s schedule, one Redis round trip per tick.
    Speed: each tick records (wall time, hashes); the speed is the rise over
    the samples spanning the last `window_ms`. The dispatcher writes counts in
    one batch a second, so a 1 s difference swings between 0 and 2x as the
    two clocks drift; over 10 s the error is at most one batch in ten.      */
#include "dc_ui_poller.h"

#include <assert.h>
#include <czmq.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dc_ui_redis.h"
#include "dc_ui_series.h"

struct _dc_ui_poller_t {
    dc_ui_poller_config_t config;
    dc_ui_hub_t *hub;
    dc_ui_redis_t *redis;
    dc_ui_series_t *samples; //  (t, hashes) for the speed
    dc_ui_series_t *history; //  (t, speed) for the chart
    dc_ui_buf_t *event;
    dc_ui_buf_t *chart;
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

//  Speed and chart history from the newest totals.
static void s_speed(dc_ui_poller_t *self, dc_ui_view_t *view)
{
    view->window_ms = self->config.window_ms;
    view->have_speed = false;
    if (!view->redis_ok || !view->have_hashes)
        return;
    //  a counter that went down means Redis was flushed: start over
    if (dc_ui_series_size(self->samples) &&
        (double)view->hashes < dc_ui_series_last(self->samples)) {
        dc_ui_series_clear(self->samples);
        dc_ui_series_clear(self->history);
    }
    //  the monotonic clock: a wall-clock step (NTP) must not fake a speed
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t mono_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    dc_ui_series_add(self->samples, mono_ms, (double)view->hashes);
    double speed = 0;
    int64_t span = 0;
    //  half a tick of slack, or ticks a hair over 1 s apart would leave the
    //  sample from exactly one window ago just outside it
    int64_t window = self->config.window_ms + self->config.interval_ms / 2;
    if (dc_ui_series_rate(self->samples, window, &speed, &span) == 0) {
        view->have_speed = true;
        view->speed = speed;
        view->span_ms = span;
        dc_ui_series_add(self->history, view->ts_ms, speed);
    }
}

//  One tick: read, compute, judge, render, publish.
static void s_tick(dc_ui_poller_t *self)
{
    dc_ui_view_t view;
    memset(&view, 0, sizeof view);
    view.ts_ms = dc_ui_poller_wall_ms();
    if (dc_ui_redis_read(self->redis, &view) == 0) {
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
    dc_ui_stats_judge(&view);
    dc_ui_buf_reset(self->event);
    dc_ui_buf_reset(self->chart);
    int rc = dc_ui_stats_json(&view, self->event);
    rc = rc ? rc
            : dc_ui_buf_printf(self->chart,
                               "{\"window_s\":%d,\"points\":", self->config.window_ms / 1000);
    rc = rc ? rc : dc_ui_series_json(self->history, self->chart);
    rc = rc ? rc : dc_ui_buf_append(self->chart, "}", 1);
    if (rc != 0 || dc_ui_hub_publish(self->hub, &view, dc_ui_buf_data(self->event),
                                     dc_ui_buf_data(self->chart)) == 0)
        zsys_error("dc-webui: out of memory building a snapshot");
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
    if (!self)
        return NULL;
    self->config = *config;
    self->hub = hub;
    self->was_ok = true;
    self->redis = dc_ui_redis_new(config->redis, config->redis_timeout_ms);
    if (self->redis)
        dc_ui_redis_set_password(self->redis, config->redis_password);
    size_t window_samples = (size_t)(config->window_ms / config->interval_ms) + 8;
    size_t history_samples = (size_t)(config->history_ms / config->interval_ms) + 1;
    self->samples = dc_ui_series_new(window_samples);
    self->history = dc_ui_series_new(history_samples);
    self->event = dc_ui_buf_new();
    self->chart = dc_ui_buf_new();
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&self->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&self->mutex, NULL);
    if (self->redis && self->samples && self->history && self->event && self->chart)
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
    dc_ui_series_destroy(&self->samples);
    dc_ui_series_destroy(&self->history);
    dc_ui_buf_destroy(&self->event);
    dc_ui_buf_destroy(&self->chart);
    free(self);
    *self_p = NULL;
}

void dc_ui_poller_test(bool verbose)
{
    if (verbose)
        printf(" * dc_ui_poller: ");
    //  Against a closed port: the poller publishes "unreachable" snapshots
    //  on schedule and stops promptly.
    dc_ui_hub_t *hub = dc_ui_hub_new(1);
    dc_ui_poller_config_t config = {.redis = "127.0.0.1:1",
                                    .interval_ms = 50,
                                    .window_ms = 1000,
                                    .history_ms = 3000,
                                    .redis_timeout_ms = 40};
    dc_ui_poller_t *poller = dc_ui_poller_new(&config, hub);
    assert(poller);
    uint64_t seq = 0;
    dc_ui_frame_t *frame = NULL;
    for (int events = 0; events < 3; events++) {
        dc_ui_frame_release(&frame);
        int rc = dc_ui_hub_wait(hub, &seq, 2000, &frame);
        assert(rc == 1);
    }
    assert(strstr(dc_ui_frame_data(frame), "\"redis\":{\"ok\":false"));
    assert(strstr(dc_ui_frame_data(frame), "Redis unreachable"));
    dc_ui_frame_release(&frame);
    dc_ui_poller_destroy(&poller);
    dc_ui_poller_destroy(&poller);
    config.redis = "no:port:here";
    assert(dc_ui_poller_new(&config, hub) == NULL);
    dc_ui_hub_destroy(&hub);
    if (verbose)
        printf("OK\n");
}
