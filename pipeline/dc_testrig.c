/*  dc_testrig: see the header. */
#include "dc_testrig.h"
#include "dc_app.h"
#include "dc_broker.h"
#include "dc_check.h"
#include "dc_client.h"
#include "dc_service.h"
#include "dc_svc.h"

#include <sodium.h>

struct _dc_testrig_t {
    zactor_t *broker, *rng, *hasher;
    char connect[256]; /* the services keep the endpoint: it lives as long as they do */
};

dc_testrig_t *dc_testrig_new(const char *endpoint, int hasher_slots)
{
    dc_testrig_t *self = calloc(1, sizeof *self);
    assert(self);
    dc_broker_cfg_t bcfg = {.endpoint = endpoint,
                            .heartbeat_ms = 100,
                            .max_queue = 100,
                            .max_wait_ms = 3000,
                            .request_timeout_ms = 3000,
                            .service_ttl_ms = 10000};
    snprintf(self->connect, sizeof self->connect, ">%s", endpoint + (*endpoint == '@'));
    dc_service_cfg_t scfg = {.broker = self->connect,
                             .service = "rng",
                             .slots = 1,
                             .heartbeat_ms = 100,
                             .handler = dc_service_rng};
    self->broker = dc_app_actor_new(dc_broker_actor, &bcfg);
    if (self->broker)
        self->rng = dc_app_actor_new(dc_service_actor, &scfg);
    scfg.service = "hasher";
    scfg.slots = hasher_slots;
    scfg.handler = dc_service_hasher;
    if (self->rng && hasher_slots > 0)
        self->hasher = dc_app_actor_new(dc_service_actor, &scfg);
    if (!self->rng || (hasher_slots > 0 && !self->hasher))
        dc_testrig_destroy(&self);
    return self;
}

void dc_testrig_destroy(dc_testrig_t **self_p)
{
    if (self_p && *self_p) {
        dc_testrig_t *self = *self_p;
        zactor_destroy(&self->hasher);
        zactor_destroy(&self->rng);
        zactor_destroy(&self->broker);
        free(self);
        *self_p = NULL;
    }
}

/*  A real client calls rng, then hasher, through the rig; a second rig cannot take the
    endpoint of the first. */
void dc_testrig_test(bool verbose)
{
    if (verbose)
        printf(" * dc_testrig: ");
    DC_CHECK(sodium_init() >= 0);
    dc_testrig_t *rig = dc_testrig_new("@inproc://dc-testrig-test", 2);
    DC_CHECK(rig);
    DC_CHECK(dc_testrig_new("@inproc://dc-testrig-test", 1) == NULL);
    dc_client_t *client = dc_client_new(">inproc://dc-testrig-test", 3000, NULL);
    zmsg_t *request = dc_svc_rng_request(32, 1);
    zmsg_t *reply = dc_client_call(client, "rng", request);
    DC_CHECK(reply && zframe_streq(zmsg_first(reply), "200"));
    zframe_t *bytes = zmsg_last(reply);
    DC_CHECK(zframe_size(bytes) == 32);
    zmsg_t *hash = dc_svc_hasher_request(zframe_data(bytes), 32, 32);
    zmsg_t *digest = dc_client_call(client, "hasher", hash);
    char want[DC_HEX_DIGEST_LEN + 1];
    dc_sha256_hex(zframe_data(bytes), 32, want);
    DC_CHECK(digest && zframe_streq(zmsg_first(digest), "200"));
    DC_CHECK(zframe_streq(zmsg_last(digest), want)); /* the real SHA-256 of what rng sent */
    zmsg_destroy(&digest);
    zmsg_destroy(&hash);
    zmsg_destroy(&reply);
    zmsg_destroy(&request);
    dc_client_destroy(&client);
    dc_testrig_destroy(&rig);
    dc_testrig_destroy(&rig); /* safe twice */
    if (verbose)
        printf("OK\n");
}
