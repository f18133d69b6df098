/*  dc_testrig: the services a role's self-test talks to, in process: a broker, an rng
    instance (1 slot) and a hasher instance, each the real class in its actor form, with
    heartbeats of 100 ms so a lost peer is seen within a test's time. The one way the
    client, worker and dispatcher self-tests get them. */
#ifndef DC_TESTRIG_H_INCLUDED
#define DC_TESTRIG_H_INCLUDED

#include <czmq.h>

typedef struct _dc_testrig_t dc_testrig_t;

/*  The broker binds endpoint ("@inproc://NAME" or "@tcp://HOST:PORT"; clients connect
    to the same with '>'); the hasher has hasher_slots slots (0: no hasher). NULL when
    the broker cannot bind. */
dc_testrig_t *dc_testrig_new(const char *endpoint, int hasher_slots);
/*  Stops the services, then the broker. */
void dc_testrig_destroy(dc_testrig_t **self_p);

void dc_testrig_test(bool verbose);

#endif
