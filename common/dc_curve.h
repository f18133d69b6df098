/*  dc_curve: CurveZMQ on every link. Servers (the broker's ROUTER, the dispatcher's two
    ROUTERs) hold a certificate and authorise clients through ZAP against a directory of
    allowed public certificates; clients hold a certificate and the server's public key.
    Refusals, a wrong key as well as no key at all, and a client's own refused
    handshakes, are counted and logged by the one drop rule (dc_drops: the first of each
    reason at once, then at most one line per reason every 10 s).

    Keys come from a directory (per-role certificates, any number of authorised client
    keys) or are all derived from one shared secret seed. Key directory (dc-keygen):
      broker.cert, broker.cert_secret           the broker's certificate
      dispatcher.cert, dispatcher.cert_secret   the dispatcher's
      client.cert, client.cert_secret           the certificate every client presents
      authorized/NAME.cert                      public certificates servers accept */
#ifndef DC_CURVE_H_INCLUDED
#define DC_CURVE_H_INCLUDED

#include <czmq.h>

typedef struct _dc_curve_t dc_curve_t;

/*  Loads what `role` needs from dir: "broker" and "dispatcher" load their own
    certificate and the authorised keys, and start the ZAP handler; "service" (rng,
    hasher) loads the client certificate and the broker's public key, "worker" also the
    dispatcher's. With insecure set, returns an object
    that changes nothing (and says so loudly). NULL (and a log line saying what is
    missing) on error. */
dc_curve_t *dc_curve_new(const char *dir, bool insecure, const char *role);

/*  The simple deployment: every certificate is derived from one shared secret seed (at
    least 32 characters; a Kubernetes or Compose secret), so nothing but the seed has to
    be distributed. Clients all present the one derived client key. */
dc_curve_t *dc_curve_new_from_seed(const char *seed, const char *role);
void dc_curve_destroy(dc_curve_t **self_p);

/*  Before bind: makes sock a CURVE server of this role, watched for refusals. */
int dc_curve_server(dc_curve_t *self, zsock_t *sock);
/*  Before connect: makes sock a CURVE client of `server` ("broker" or "dispatcher"). */
int dc_curve_client(dc_curve_t *self, zsock_t *sock, const char *server);
/*  Handshakes refused so far (wrong key or no CURVE at all). */
uint64_t dc_curve_refused(dc_curve_t *self);
bool dc_curve_secure(dc_curve_t *self);

/*  Writes a new key directory (refuses to overwrite an existing one). */
int dc_curve_keygen(const char *dir);

void dc_curve_test(bool verbose);

#endif
