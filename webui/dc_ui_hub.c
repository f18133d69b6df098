/*  dc_ui_hub: one mutex, one condition variable (on CLOCK_MONOTONIC), the latest
    snapshot. Waiters compare sequence numbers, so a wake-up is never lost
    and a viewer that falls behind gets the newest snapshot, not a backlog. */
#include "dc_ui_hub.h"
#include "dc_check.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct _dc_ui_frame_t {
    _Atomic long refs;
    uint64_t seq;
    size_t size;
    char data[]; //  NUL-terminated
};

const char *dc_ui_frame_data(const dc_ui_frame_t *frame)
{
    return frame->data;
}

size_t dc_ui_frame_size(const dc_ui_frame_t *frame)
{
    return frame->size;
}

uint64_t dc_ui_frame_seq(const dc_ui_frame_t *frame)
{
    return frame->seq;
}

void dc_ui_frame_release(dc_ui_frame_t **frame_p)
{
    if (frame_p && *frame_p) {
        if (--(*frame_p)->refs == 0)
            free(*frame_p);
        *frame_p = NULL;
    }
}

//  "id: SEQ\ndata: JSON\n\n" with one reference, for the hub.
static dc_ui_frame_t *s_frame_new(uint64_t seq, const char *json)
{
    size_t length = strlen(json);
    size_t room = length + 48;
    dc_ui_frame_t *frame = malloc(sizeof *frame + room);
    assert(frame);
    int size = snprintf(frame->data, room, "id: %llu\ndata: %s\n\n", (unsigned long long)seq, json);
    frame->refs = 1;
    frame->seq = seq;
    frame->size = size > 0 ? (size_t)size : 0;
    return frame;
}

static int64_t s_now_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

struct _dc_ui_hub_t {
    pthread_mutex_t mutex;
    pthread_cond_t changed;
    uint64_t seq;
    dc_ui_view_t view;
    dc_ui_frame_t *frame; //  the newest, NULL before the first publish
    dc_buf_t *history;
    int64_t published_us; //  when `frame` was published
    int64_t fanout_us;    //  of the newest frame so far, -1 none yet
    int64_t fanout_max_us;
    size_t clients;
    size_t max_clients;
    bool stopping;
};

dc_ui_hub_t *dc_ui_hub_new(size_t max_clients)
{
    dc_ui_hub_t *self = calloc(1, sizeof *self);
    assert(self);
    self->history = dc_buf_new();
    self->fanout_us = -1;
    self->fanout_max_us = -1;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&self->changed, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&self->mutex, NULL);
    self->max_clients = max_clients;
    return self;
}

void dc_ui_hub_destroy(dc_ui_hub_t **self_p)
{
    if (self_p && *self_p) {
        dc_ui_hub_t *self = *self_p;
        pthread_cond_destroy(&self->changed);
        pthread_mutex_destroy(&self->mutex);
        dc_ui_frame_release(&self->frame);
        dc_buf_destroy(&self->history);
        free(self);
        *self_p = NULL;
    }
}

uint64_t dc_ui_hub_publish(dc_ui_hub_t *self, const dc_ui_view_t *view, const char *event_json,
                           const char *history_json)
{
    pthread_mutex_lock(&self->mutex);
    dc_buf_reset(self->history);
    dc_buf_append(self->history, history_json, strlen(history_json));
    dc_ui_frame_release(&self->frame);
    self->frame = s_frame_new(self->seq + 1, event_json);
    self->view = *view;
    uint64_t seq = ++self->seq;
    self->published_us = s_now_us();
    self->fanout_us = -1;
    pthread_cond_broadcast(&self->changed);
    pthread_mutex_unlock(&self->mutex);
    return seq;
}

//  Absolute CLOCK_MONOTONIC deadline timeout_ms from now.
static struct timespec s_deadline(int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    return deadline;
}

int dc_ui_hub_wait(dc_ui_hub_t *self, uint64_t *seq_p, int timeout_ms, dc_ui_frame_t **frame_p)
{
    struct timespec deadline = s_deadline(timeout_ms);
    int result = 0;
    pthread_mutex_lock(&self->mutex);
    while (!self->stopping && self->seq == *seq_p) {
        if (pthread_cond_timedwait(&self->changed, &self->mutex, &deadline) != 0)
            break;
    }
    if (self->stopping)
        result = -1;
    else if (self->seq != *seq_p && self->frame) {
        self->frame->refs++;
        *frame_p = self->frame;
        *seq_p = self->seq;
        result = 1;
    }
    pthread_mutex_unlock(&self->mutex);
    return result;
}

void dc_ui_hub_delivered(dc_ui_hub_t *self, uint64_t seq)
{
    int64_t now = s_now_us();
    pthread_mutex_lock(&self->mutex);
    if (seq == self->seq) {
        self->fanout_us = now - self->published_us;
        if (self->fanout_us > self->fanout_max_us)
            self->fanout_max_us = self->fanout_us;
    }
    pthread_mutex_unlock(&self->mutex);
}

int64_t dc_ui_hub_fanout_us(dc_ui_hub_t *self, int64_t *max_us)
{
    pthread_mutex_lock(&self->mutex);
    int64_t fanout = self->fanout_us;
    if (max_us)
        *max_us = self->fanout_max_us;
    pthread_mutex_unlock(&self->mutex);
    return fanout;
}

uint64_t dc_ui_hub_history(dc_ui_hub_t *self, dc_buf_t *out)
{
    pthread_mutex_lock(&self->mutex);
    dc_buf_reset(out);
    uint64_t seq = self->seq;
    dc_buf_append(out, dc_buf_data(self->history), dc_buf_size(self->history));
    pthread_mutex_unlock(&self->mutex);
    return seq;
}

uint64_t dc_ui_hub_view(dc_ui_hub_t *self, dc_ui_view_t *view)
{
    pthread_mutex_lock(&self->mutex);
    *view = self->view;
    uint64_t seq = self->seq;
    pthread_mutex_unlock(&self->mutex);
    return seq;
}

int dc_ui_hub_join(dc_ui_hub_t *self)
{
    pthread_mutex_lock(&self->mutex);
    int rc = -1;
    if (!self->stopping && self->clients < self->max_clients) {
        self->clients++;
        rc = 0;
    }
    pthread_mutex_unlock(&self->mutex);
    return rc;
}

void dc_ui_hub_leave(dc_ui_hub_t *self)
{
    pthread_mutex_lock(&self->mutex);
    if (self->clients > 0)
        self->clients--;
    pthread_mutex_unlock(&self->mutex);
}

size_t dc_ui_hub_clients(dc_ui_hub_t *self)
{
    pthread_mutex_lock(&self->mutex);
    size_t clients = self->clients;
    pthread_mutex_unlock(&self->mutex);
    return clients;
}

void dc_ui_hub_stop(dc_ui_hub_t *self)
{
    pthread_mutex_lock(&self->mutex);
    self->stopping = true;
    pthread_cond_broadcast(&self->changed);
    pthread_mutex_unlock(&self->mutex);
}

bool dc_ui_hub_stopping(dc_ui_hub_t *self)
{
    pthread_mutex_lock(&self->mutex);
    bool stopping = self->stopping;
    pthread_mutex_unlock(&self->mutex);
    return stopping;
}

//  Test: a viewer thread waits for two events, then for the stop.
typedef struct {
    dc_ui_hub_t *hub;
    _Atomic int results[3];
} s_viewer_t;

static void *s_viewer(void *args)
{
    s_viewer_t *viewer = args;
    uint64_t seq = 0;
    for (int i = 0; i < 3; i++) {
        int result;
        dc_ui_frame_t *frame = NULL;
        do
            result = dc_ui_hub_wait(viewer->hub, &seq, 5000, &frame);
        while (result == 0);
        if (result == 1) {
            DC_CHECK(dc_ui_frame_seq(frame) == seq);
            dc_ui_hub_delivered(viewer->hub, seq);
        }
        dc_ui_frame_release(&frame);
        viewer->results[i] = result;
    }
    return NULL;
}

void dc_ui_hub_test(bool verbose)
{
    if (verbose)
        printf(" * dc_ui_hub: ");
    dc_ui_hub_t *hub = dc_ui_hub_new(2);
    DC_CHECK(hub);
    dc_ui_view_t view;
    memset(&view, 0, sizeof view);
    dc_buf_t *buf = dc_buf_new();
    uint64_t seq = 0;
    dc_ui_frame_t *frame = NULL;
    DC_CHECK(dc_ui_hub_wait(hub, &seq, 10, &frame) == 0 && frame == NULL);
    DC_CHECK(dc_ui_hub_fanout_us(hub, NULL) == -1);
    DC_CHECK(dc_ui_hub_join(hub) == 0 && dc_ui_hub_join(hub) == 0 && dc_ui_hub_join(hub) == -1);
    dc_ui_hub_leave(hub);
    DC_CHECK(dc_ui_hub_clients(hub) == 1);

    s_viewer_t viewer = {.hub = hub};
    pthread_t thread;
    DC_CHECK(pthread_create(&thread, NULL, s_viewer, &viewer) == 0);
    view.hashes = 42;
    DC_CHECK(dc_ui_hub_publish(hub, &view, "{\"a\":1}", "[]") == 1);
    DC_CHECK(dc_ui_hub_wait(hub, &seq, 10, &frame) == 1 && seq == 1);
    DC_CHECK(strcmp(dc_ui_frame_data(frame), "id: 1\ndata: {\"a\":1}\n\n") == 0);
    DC_CHECK(dc_ui_frame_size(frame) == strlen(dc_ui_frame_data(frame)));
    dc_ui_hub_delivered(hub, 1);
    int64_t fanout_max = 0;
    DC_CHECK(dc_ui_hub_fanout_us(hub, &fanout_max) >= 0 && fanout_max >= 0);
    //  the frame outlives its replacement while a viewer still holds it
    dc_ui_frame_t *held = frame;
    frame = NULL;
    //  the viewer may see 1 then 2, or only 2: either way it keeps up
    DC_CHECK(dc_ui_hub_publish(hub, &view, "{\"a\":2}", "[[1,2]]") == 2);
    DC_CHECK(dc_ui_hub_wait(hub, &seq, 5000, &frame) == 1 && seq == 2);
    DC_CHECK(strstr(dc_ui_frame_data(held), "{\"a\":1}") && strstr(dc_ui_frame_data(frame), "2}"));
    dc_ui_frame_release(&held);
    dc_ui_frame_release(&frame);
    dc_ui_frame_release(&frame);
    dc_ui_view_t copy;
    DC_CHECK(dc_ui_hub_view(hub, &copy) == 2 && copy.hashes == 42);
    DC_CHECK(dc_ui_hub_history(hub, buf) == 2 && strcmp(dc_buf_data(buf), "[[1,2]]") == 0);
    //  let the viewer take one event, then stop: it must wake and see -1
    for (int i = 0; i < 5000 && viewer.results[0] == 0; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    DC_CHECK(viewer.results[0] == 1);
    dc_ui_hub_stop(hub);
    pthread_join(thread, NULL);
    DC_CHECK(viewer.results[2] == -1);
    DC_CHECK(dc_ui_hub_stopping(hub) && dc_ui_hub_join(hub) == -1);
    DC_CHECK(dc_ui_hub_wait(hub, &seq, 1000, &frame) == -1);
    dc_buf_destroy(&buf);
    dc_ui_hub_destroy(&hub);
    dc_ui_hub_destroy(&hub);
    if (verbose)
        printf("OK\n");
}
