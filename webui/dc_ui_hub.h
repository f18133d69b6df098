/*  dc_ui_hub: fans one snapshot out to every SSE viewer. The poller publishes
    once a second; the hub renders the SSE frame ("id: N\ndata: {...}\n\n")
    once, as an immutable reference-counted block. Each viewer's thread
    (civetweb holds one per connection) sleeps on a condition variable until
    the sequence number moves, takes a reference under the lock (no copy)
    and writes the frame outside it. So N viewers cost one Redis read and
    one rendering per second, and a slow viewer delays nobody else. The hub
    also times the fan-out: publish to the last viewer's write returning.
    dc_ui_hub_stop() wakes every waiter at once, which is what lets the server
    exit in well under a second with a thousand open streams.               */
#ifndef DC_UI_HUB_H
#define DC_UI_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc_buf.h"
#include "dc_ui_stats.h"

typedef struct _dc_ui_hub_t dc_ui_hub_t;

//  One rendered SSE frame, shared read-only by every viewer.
typedef struct _dc_ui_frame_t dc_ui_frame_t;
const char *dc_ui_frame_data(const dc_ui_frame_t *frame);
size_t dc_ui_frame_size(const dc_ui_frame_t *frame);
uint64_t dc_ui_frame_seq(const dc_ui_frame_t *frame);

//  Drop a reference taken by dc_ui_hub_wait; NULLs the pointer; safe on NULL.
void dc_ui_frame_release(dc_ui_frame_t **frame_p);

//  Create a hub admitting at most `max_clients` concurrent viewers.
dc_ui_hub_t *dc_ui_hub_new(size_t max_clients);

//  Free the hub and NULL the caller's pointer; safe on NULL. No thread may
//  still be using it.
void dc_ui_hub_destroy(dc_ui_hub_t **self_p);

//  Publish a new snapshot: the view, its JSON, and the chart history JSON.
//  Returns the new sequence number (1, 2, ...).
uint64_t dc_ui_hub_publish(dc_ui_hub_t *self, const dc_ui_view_t *view, const char *event_json,
                           const char *history_json);

//  Wait up to timeout_ms for a snapshot newer than *seq_p. Returns 1 with a
//  reference to its frame in *frame_p (release it when written) and *seq_p
//  updated; 0 on timeout; -1 once the hub is stopping.
int dc_ui_hub_wait(dc_ui_hub_t *self, uint64_t *seq_p, int timeout_ms, dc_ui_frame_t **frame_p);

//  A viewer finished writing frame `seq`: extends that frame's fan-out time.
void dc_ui_hub_delivered(dc_ui_hub_t *self, uint64_t seq);

//  Fan-out time in microseconds (publish to the last viewer's write) of the
//  newest frame, and the largest seen; -1 before any delivery.
int64_t dc_ui_hub_fanout_us(dc_ui_hub_t *self, int64_t *max_us);

//  Copy the latest history JSON into `out`; returns its sequence (0: none).
uint64_t dc_ui_hub_history(dc_ui_hub_t *self, dc_buf_t *out);

//  Copy the latest view; returns its sequence (0: nothing published yet).
uint64_t dc_ui_hub_view(dc_ui_hub_t *self, dc_ui_view_t *view);

//  Admit a viewer (0) or refuse one past max_clients or while stopping (-1).
int dc_ui_hub_join(dc_ui_hub_t *self);
void dc_ui_hub_leave(dc_ui_hub_t *self);

//  Open viewers now.
size_t dc_ui_hub_clients(dc_ui_hub_t *self);

//  Wake every waiter and refuse new viewers from now on.
void dc_ui_hub_stop(dc_ui_hub_t *self);
bool dc_ui_hub_stopping(dc_ui_hub_t *self);

//  Self-test.
void dc_ui_hub_test(bool verbose);

#endif
