/*  dc_ui_poller: the one thread that reads Redis. Once per interval, on a fixed
    monotonic schedule (no drift), it reads totals, stage stats and the
    dispatcher's dc:series in one pipelined round trip, computes the speed
    over a window and the chart's last five minutes from that series, each
    stage's rate over the same window, judges the bottleneck (with
    hysteresis, so every viewer sees the same verdict) and publishes the
    snapshot to the hub. When Redis is down it publishes that too (the page
    shows a banner) and keeps trying.                                       */
#ifndef DC_UI_POLLER_H
#define DC_UI_POLLER_H

#include <stdbool.h>
#include <stdint.h>

#include "dc_ui_hub.h"

typedef struct _dc_ui_poller_t dc_ui_poller_t;

typedef struct {
    const char *redis;          //  "HOST:PORT"
    const char *redis_password; //  AUTH, or NULL/""
    int interval_ms;            //  1000: one read and one event per second
    int window_ms;              //  speed averaging window, 10000
    int history_ms;             //  chart history kept, 300000 (5 minutes)
    int redis_timeout_ms;       //  per Redis call, below interval_ms
} dc_ui_poller_config_t;

//  Start polling into `hub`; NULL when the address is bad or the thread
//  cannot start. The first snapshot is published at once.
dc_ui_poller_t *dc_ui_poller_new(const dc_ui_poller_config_t *config, dc_ui_hub_t *hub);

//  Stop the thread (returns within one Redis timeout at worst), free, NULL
//  the caller's pointer; safe on NULL.
void dc_ui_poller_destroy(dc_ui_poller_t **self_p);

//  Wall-clock milliseconds since the epoch.
int64_t dc_ui_poller_wall_ms(void);

//  Self-test.
void dc_ui_poller_test(bool verbose);

#endif
