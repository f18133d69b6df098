/*  dc_curve: see the header. One "guard" actor per process answers ZAP (RFC 27) for its
    CURVE servers and watches their handshakes through zmonitor, so a refusal is both
    decided and counted in one place. In a client process the guard reads the handshake
    events of every client socket (libzmq's socket monitor, one PAIR per socket, closed
    when libzmq reports the socket closed), so a client whose key is refused says so. */
#include "dc_curve.h"
#include "dc_drops.h"
#include "dc_check.h"

#include <assert.h>
#include <sodium.h>
#include <stdatomic.h>
#include <sys/stat.h>

#define DC_CURVE_DOMAIN "dockercoins"

typedef struct {
    zcertstore_t *store;
    atomic_uint_fast64_t refused;
    dc_drops_t *drops;                    /* refused handshakes, logged by the one drop rule */
    zlistx_t *monitors;                   /* zmonitor actors, one per server socket */
    zlistx_t *clients;                    /* s_client_watch_t, one per client socket */
    atomic_uint_fast64_t client_failures; /* our own handshakes refused (client side) */
    bool zap_ok; /* a server's ZAP handler is bound (set before the guard signals) */
} s_guard_t;

/*  A client socket's monitor, as the guard reads it. */
typedef struct {
    char endpoint[64]; /* the inproc endpoint libzmq publishes the events on */
    char server[16];   /* "broker" or "dispatcher" */
    zsock_t *pair;
} s_client_watch_t;

#define DC_CURVE_CLIENT_EVENTS                                                                     \
    (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                  \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_MONITOR_STOPPED)

struct _dc_curve_t {
    bool insecure;
    char role[16];
    zcert_t *own;    /* this server's certificate (broker, dispatcher) */
    zcert_t *client; /* what clients present */
    char broker_key[41], dispatcher_key[41];
    s_guard_t *guard_state;
    zactor_t *guard;
    unsigned watches; /* client sockets watched so far: names their monitor endpoints */
};

static void s_zap_reply(zsock_t *zap, zmsg_t *request, bool ok)
{
    zframe_t *version = zmsg_pop(request);
    zframe_t *id = zmsg_pop(request);
    zmsg_t *reply = zmsg_new();
    zmsg_append(reply, &version);
    zmsg_append(reply, &id);
    zmsg_addstr(reply, ok ? "200" : "400");
    zmsg_addstr(reply, ok ? "OK" : "unknown client key");
    zmsg_addstr(reply, "");
    zmsg_addstr(reply, "");
    zmsg_send(&reply, zap);
}

/*  ZAP request: version, request id, domain, address, identity, mechanism, key. */
static void s_on_zap(s_guard_t *g, zsock_t *zap)
{
    zmsg_t *req = zmsg_recv(zap);
    if (!req)
        return;
    bool ok = false;
    char address[64] = "?", key[41] = "";
    if (zmsg_size(req) >= 7) {
        zframe_t *f = zmsg_first(req);
        for (int i = 0; i < 3; i++)
            f = zmsg_next(req);
        snprintf(address, sizeof address, "%.*s", (int)zframe_size(f), (char *)zframe_data(f));
        zmsg_next(req);
        zframe_t *mech = zmsg_next(req);
        zframe_t *cred = zmsg_next(req);
        if (zframe_streq(mech, "CURVE") && zframe_size(cred) == 32) {
            zmq_z85_encode(key, zframe_data(cred), 32);
            ok = zcertstore_lookup(g->store, key) != NULL;
        }
    }
    if (!ok) {
        char peer[128];
        snprintf(peer, sizeof peer, "%s with key %s", address, *key ? key : "(none)");
        dc_drops_add(g->drops, "handshake", "the key is not authorised", peer);
    }
    s_zap_reply(zap, req, ok);
    zmsg_destroy(&req);
}

static void s_on_monitor(s_guard_t *g, zactor_t *monitor)
{
    char *event = NULL, *value = NULL, *endpoint = NULL;
    if (zstr_recvx(monitor, &event, &value, &endpoint, NULL) < 1)
        return;
    if (event && strncmp(event, "HANDSHAKE_FAILED", 16) == 0) {
        atomic_fetch_add(&g->refused, 1);
        /* libzmq names the server's own bound endpoint here, not the peer */
        char peer[300];
        snprintf(peer, sizeof peer, "a client of %s", endpoint ? endpoint : "?");
        if (!streq(event, "HANDSHAKE_FAILED_AUTH"))
            dc_drops_add(g->drops, "handshake",
                         "the peer speaks no CURVE or uses the wrong server key", peer);
    }
    zstr_free(&event);
    zstr_free(&value);
    zstr_free(&endpoint);
}

static void s_watch(s_guard_t *g, zsock_t *sock)
{
    zactor_t *monitor = zactor_new(zmonitor, sock);
    zstr_sendx(monitor, "LISTEN", "HANDSHAKE_FAILED_NO_DETAIL", "HANDSHAKE_FAILED_PROTOCOL",
               "HANDSHAKE_FAILED_AUTH", NULL);
    zstr_send(monitor, "START");
    zsock_wait(monitor);
    zlistx_add_end(g->monitors, monitor);
}

/*  One client-side handshake event; MONITOR_STOPPED (the socket closed) ends the watch. */
static void s_on_client_event(s_guard_t *g, zpoller_t *poller, s_client_watch_t *w)
{
    zmsg_t *msg = zmsg_recv(w->pair);
    zframe_t *head = msg ? zmsg_first(msg) : NULL;
    uint16_t event = 0;
    if (head && zframe_size(head) >= 2)
        memcpy(&event, zframe_data(head), 2);
    zmsg_destroy(&msg);
    if (event == ZMQ_EVENT_MONITOR_STOPPED || !head) {
        zpoller_remove(poller, w->pair);
        zsock_destroy(&w->pair);
        zlistx_delete(g->clients, zlistx_find(g->clients, w));
        return;
    }
    atomic_fetch_add(&g->client_failures, 1);
    char reason[300];
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        snprintf(reason, sizeof reason,
                 "the %s refused our key: it does not authorise this client certificate; use "
                 "the keys of its dc-keygen directory (--keys) or its --key-seed-file",
                 w->server);
    else
        snprintf(reason, sizeof reason,
                 "the CURVE handshake with the %s failed: the public key we hold is not its "
                 "key (another dc-keygen directory or seed?), or it runs without CURVE "
                 "(--insecure on one side only)",
                 w->server);
    dc_drops_add(g->drops, "handshake of ours", reason, NULL);
}

/*  Starts reading the events of a client socket's monitor. */
static void s_watch_client(s_guard_t *g, zpoller_t *poller, s_client_watch_t *w)
{
    w->pair = zsock_new(ZMQ_PAIR);
    if (zsock_connect(w->pair, "%s", w->endpoint) != 0) {
        zsock_destroy(&w->pair);
        free(w);
        return;
    }
    zlistx_add_end(g->clients, w);
    zpoller_add(poller, w->pair);
}

static s_client_watch_t *s_client_of(s_guard_t *g, void *sock)
{
    for (s_client_watch_t *w = zlistx_first(g->clients); w; w = zlistx_next(g->clients))
        if (w->pair == sock)
            return w;
    return NULL;
}

/*  Commands on the pipe: WATCH (a server socket), CLIENT (an s_client_watch_t to adopt),
    END (stop, and say so when done: see dc_curve_destroy) or $TERM. Returns false to stop. */
static bool s_on_guard_command(s_guard_t *g, zsock_t *pipe, zpoller_t *poller, bool *end)
{
    char *cmd = NULL;
    void *arg = NULL;
    if (zsock_recv(pipe, "sp", &cmd, &arg) != 0 || !cmd || streq(cmd, "$TERM") ||
        streq(cmd, "END")) {
        *end = cmd && streq(cmd, "END");
        zstr_free(&cmd);
        return false;
    }
    if (streq(cmd, "WATCH")) {
        s_watch(g, arg);
        zpoller_add(poller, zlistx_last(g->monitors));
    } else if (streq(cmd, "CLIENT"))
        s_watch_client(g, poller, arg);
    zstr_free(&cmd);
    zsock_signal(pipe, 0);
    return true;
}

/*  libzmq sends a closing socket's last event (MONITOR_STOPPED) with a blocking send: a
    monitor nobody reads would hang the closing thread. The owners close their client
    sockets before they destroy the dc_curve_t, so the guard reads on until every watched
    socket has said so (bounded, in case one never closes). */
static void s_drain_clients(s_guard_t *g, zpoller_t *poller)
{
    for (int64_t end = zclock_mono() + 1000; zlistx_size(g->clients) && zclock_mono() < end;) {
        void *which = zpoller_wait(poller, 50);
        s_client_watch_t *client = which ? s_client_of(g, which) : NULL;
        if (client)
            s_on_client_event(g, poller, client);
    }
    if (zlistx_size(g->clients))
        zsys_warning("curve: %zu client sockets still open at exit", zlistx_size(g->clients));
}

static void s_client_watch_free(void **item)
{
    s_client_watch_t *w = *item;
    zsock_destroy(&w->pair);
    free(w);
    *item = NULL;
}

/*  The process's one ZAP handler. A previous handler's socket releases the endpoint
    only once libzmq's reaper has closed it, so a bind right after one is retried. */
static zsock_t *s_bind_zap(void)
{
    zsock_t *zap = NULL;
    for (int tries = 0; !zap && tries < 50; tries++) {
        zap = zsock_new_rep("@inproc://zeromq.zap.01");
        if (!zap)
            zclock_sleep(10);
    }
    if (!zap)
        zsys_error("curve: cannot start the ZAP handler: one dc_curve server per process");
    return zap;
}

/*  Runs until END or $TERM even when a server's ZAP handler could not be bound
    (s_start_guard then refuses), so that stopping it always finds it listening. */
static void s_guard(zsock_t *pipe, void *args)
{
    s_guard_t *g = args;
    zsock_t *zap = g->store ? s_bind_zap() : NULL;
    g->zap_ok = zap != NULL;
    zsock_signal(pipe, 0);
    zpoller_t *poller = zpoller_new(pipe, NULL);
    if (zap)
        zpoller_add(poller, zap);
    zpoller_set_nonstop(poller, true);
    bool running = true, end = false;
    while (running) {
        void *which = zpoller_wait(poller, -1);
        s_client_watch_t *client = which ? s_client_of(g, which) : NULL;
        if (which == pipe)
            running = s_on_guard_command(g, pipe, poller, &end);
        else if (zap && which == zap)
            s_on_zap(g, zap);
        else if (client)
            s_on_client_event(g, poller, client);
        else if (which)
            s_on_monitor(g, which);
    }
    s_drain_clients(g, poller);
    zpoller_destroy(&poller);
    zactor_t *m;
    while ((m = zlistx_detach(g->monitors, NULL)))
        zactor_destroy(&m);
    zlistx_purge(g->clients);
    zsock_destroy(&zap);
    if (end)
        zsock_signal(pipe, 0); /* g is not touched after this */
}

/*  True when the file at path is missing or parses as a ZPL config. */
static bool s_parses_or_absent(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    char text[8192];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = 0;
    zconfig_t *config = zconfig_str_load(text);
    bool ok = config != NULL;
    zconfig_destroy(&config);
    return ok;
}

/*  zcert_load, except that a file that is not a certificate is refused up front:
    czmq 4.2's zcert_load leaks on one. */
static zcert_t *s_cert_load(const char *path)
{
    char *secret = zsys_sprintf("%s_secret", path);
    bool ok = s_parses_or_absent(path) && s_parses_or_absent(secret);
    zstr_free(&secret);
    return ok ? zcert_load(path) : NULL;
}

static int s_load_key(const char *dir, const char *name, char key[41], bool required)
{
    char *path = zsys_sprintf("%s/%s.cert", dir, name);
    zcert_t *cert = s_cert_load(path);
    bool found = cert != NULL;
    if (found)
        snprintf(key, 41, "%s", zcert_public_txt(cert));
    else if (required)
        zsys_error("curve: cannot read %s (make keys with dc-keygen --keys DIR, or --insecure)",
                   path);
    zcert_destroy(&cert);
    zstr_free(&path);
    return found || !required ? 0 : -1;
}

static zcert_t *s_load_secret(const char *dir, const char *name)
{
    char *path = zsys_sprintf("%s/%s.cert", dir, name);
    zcert_t *cert = s_cert_load(path);
    static const byte zero[32] = {0};
    if (cert && memcmp(zcert_secret_key(cert), zero, 32) == 0)
        zcert_destroy(&cert);
    if (!cert)
        zsys_error("curve: cannot read %s and %s_secret (make keys with dc-keygen --keys DIR, or "
                   "--insecure)",
                   path, path);
    zstr_free(&path);
    return cert;
}

/*  store: the authorised client keys (taken over), or NULL in a client process. */
static int s_start_guard(dc_curve_t *self, zcertstore_t *store)
{
    self->guard_state = calloc(1, sizeof *self->guard_state);
    assert(self->guard_state);
    self->guard_state->store = store;
    self->guard_state->drops = dc_drops_new("curve");
    self->guard_state->monitors = zlistx_new();
    self->guard_state->clients = zlistx_new();
    zlistx_set_destructor(self->guard_state->clients, s_client_watch_free);
    self->guard = zactor_new(s_guard, self->guard_state);
    return self->guard && (!store || self->guard_state->zap_ok) ? 0 : -1;
}

dc_curve_t *dc_curve_new(const char *dir, bool insecure, const char *role)
{
    dc_curve_t *self = calloc(1, sizeof *self);
    assert(self);
    snprintf(self->role, sizeof self->role, "%s", role);
    self->insecure = insecure;
    if (insecure) {
        zsys_warning("curve: INSECURE: no encryption, no authentication: anyone who reaches "
                     "these ports can mine, read and inject. For a local demo only.");
        return self;
    }
    if (!dir || !*dir) {
        zsys_error("curve: no key directory: pass --keys DIR (make one with dc-keygen --keys DIR) "
                   "or --insecure for a local demo");
        dc_curve_destroy(&self);
        return NULL;
    }
    bool server = streq(role, "broker") || streq(role, "dispatcher");
    int rc = 0;
    if (server) {
        self->own = s_load_secret(dir, role);
        char *authorized = zsys_sprintf("%s/authorized", dir);
        if (!zsys_file_exists(authorized))
            zsys_error("curve: %s is missing: no client could be authorised", authorized);
        rc = self->own && zsys_file_exists(authorized)
                 ? s_start_guard(self, zcertstore_new(authorized))
                 : -1;
        zstr_free(&authorized);
    } else {
        self->client = s_load_secret(dir, "client");
        rc = self->client ? 0 : -1;
        rc |= s_load_key(dir, "broker", self->broker_key, true);
        rc |= s_load_key(dir, "dispatcher", self->dispatcher_key, streq(role, "worker"));
        if (rc == 0)
            rc = s_start_guard(self, NULL);
    }
    if (rc != 0)
        dc_curve_destroy(&self);
    return self;
}

/*  The certificate for `name`: secret key = BLAKE2b(seed, name), public key from it. */
static zcert_t *s_derive(const char *seed, const char *name)
{
    byte secret[32], public[32];
    char *input = zsys_sprintf("dockercoins-curve-v1/%s/%s", name, seed);
    crypto_generichash(secret, sizeof secret, (const byte *)input, strlen(input), NULL, 0);
    sodium_memzero(input, strlen(input));
    zstr_free(&input);
    crypto_scalarmult_base(public, secret);
    zcert_t *cert = zcert_new_from(public, secret);
    sodium_memzero(secret, sizeof secret);
    return cert;
}

dc_curve_t *dc_curve_new_from_seed(const char *seed, const char *role)
{
    if (sodium_init() < 0) {
        zsys_error("curve: libsodium cannot start");
        return NULL;
    }
    if (strlen(seed) < 32) {
        zsys_error("curve: the key seed must be at least 32 characters (see --key-seed-file)");
        return NULL;
    }
    dc_curve_t *self = calloc(1, sizeof *self);
    assert(self);
    snprintf(self->role, sizeof self->role, "%s", role);
    self->client = s_derive(seed, "client");
    const char *servers[] = {"broker", "dispatcher"};
    char *keys[] = {self->broker_key, self->dispatcher_key};
    for (int i = 0; i < 2; i++) {
        zcert_t *cert = s_derive(seed, servers[i]);
        snprintf(keys[i], 41, "%s", zcert_public_txt(cert));
        if (streq(role, servers[i]))
            self->own = cert;
        else
            zcert_destroy(&cert);
    }
    if (self->own) {
        zcertstore_t *store = zcertstore_new(NULL);
        zcert_t *allowed =
            zcert_new_from(zcert_public_key(self->client), zcert_secret_key(self->client));
        zcertstore_insert(store, &allowed);
        if (s_start_guard(self, store) != 0)
            dc_curve_destroy(&self);
    } else if (s_start_guard(self, NULL) != 0)
        dc_curve_destroy(&self);
    return self;
}

/*  Stops the guard and waits until it no longer uses its state. zactor_destroy alone
    does not: a SIGTERM interrupts its wait, and the guard may still be draining its
    client sockets' last events (up to a second). */
static void s_stop_guard(dc_curve_t *self)
{
    if (!self->guard)
        return;
    zsock_send(self->guard, "sp", "END", NULL);
    for (int tries = 0; tries < 100 && zsock_wait(self->guard) < 0; tries++)
        ; /* -1: interrupted by a signal; the guard's answer still comes */
    zactor_destroy(&self->guard);
}

void dc_curve_destroy(dc_curve_t **self_p)
{
    if (self_p && *self_p) {
        dc_curve_t *self = *self_p;
        s_stop_guard(self);
        if (self->guard_state) {
            zcertstore_destroy(&self->guard_state->store);
            dc_drops_destroy(&self->guard_state->drops);
            zlistx_destroy(&self->guard_state->monitors);
            zlistx_destroy(&self->guard_state->clients);
            free(self->guard_state);
        }
        zcert_destroy(&self->own);
        zcert_destroy(&self->client);
        free(self);
        *self_p = NULL;
    }
}

int dc_curve_server(dc_curve_t *self, zsock_t *sock)
{
    if (self->insecure)
        return 0;
    zcert_apply(self->own, sock);
    zsock_set_curve_server(sock, 1);
    zsock_set_zap_domain(sock, DC_CURVE_DOMAIN);
    zsock_send(self->guard, "sp", "WATCH", sock);
    return zsock_wait(self->guard) == 0 ? 0 : -1;
}

int dc_curve_client(dc_curve_t *self, zsock_t *sock, const char *server)
{
    if (self->insecure)
        return 0;
    const char *key = streq(server, "broker") ? self->broker_key : self->dispatcher_key;
    if (!*key) {
        zsys_error("curve: no public key for the %s (%s.cert in the key directory)", server,
                   server);
        return -1;
    }
    zcert_apply(self->client, sock);
    zsock_set_curve_serverkey(sock, key);
    s_client_watch_t *w = calloc(1, sizeof *w);
    assert(w);
    snprintf(w->endpoint, sizeof w->endpoint, "inproc://dc-curve-%p-%u", (void *)self,
             self->watches++);
    snprintf(w->server, sizeof w->server, "%s", server);
    if (zmq_socket_monitor(zsock_resolve(sock), w->endpoint, DC_CURVE_CLIENT_EVENTS) != 0) {
        free(w);
        return 0; /* unwatched: the link still works, a refusal is only not logged here */
    }
    zsock_send(self->guard, "sp", "CLIENT", w);
    return zsock_wait(self->guard) == 0 ? 0 : -1;
}

uint64_t dc_curve_refused(dc_curve_t *self)
{
    return self->guard_state ? atomic_load(&self->guard_state->refused) : 0;
}

bool dc_curve_secure(dc_curve_t *self)
{
    return !self->insecure;
}

static int s_save(zcert_t *cert, const char *dir, const char *name, const char *role)
{
    zcert_set_meta(cert, "role", "%s", role);
    char *path = zsys_sprintf("%s/%s.cert", dir, name);
    char *secret = zsys_sprintf("%s_secret", path);
    int rc = zcert_save(cert, path);
    if (rc == 0)
        rc = chmod(secret, 0640);
    zstr_free(&path);
    zstr_free(&secret);
    return rc;
}

int dc_curve_keygen(const char *dir)
{
    char *probe = zsys_sprintf("%s/broker.cert", dir);
    bool exists = zsys_file_exists(probe);
    zstr_free(&probe);
    if (exists) {
        zsys_error("keygen: %s already holds keys; remove it first to make new ones", dir);
        return -1;
    }
    char *authorized = zsys_sprintf("%s/authorized", dir);
    int rc = zsys_dir_create("%s", authorized);
    const char *names[] = {"broker", "dispatcher", "client"};
    for (int i = 0; rc == 0 && i < 3; i++) {
        zcert_t *cert = zcert_new();
        rc = s_save(cert, dir, names[i], names[i]);
        if (rc == 0 && streq(names[i], "client")) {
            char *pub = zsys_sprintf("%s/client.cert", authorized);
            rc = zcert_save_public(cert, pub);
            zstr_free(&pub);
        }
        zcert_destroy(&cert);
    }
    zstr_free(&authorized);
    if (rc != 0)
        zsys_error("keygen: cannot write into %s", dir);
    return rc;
}

/*  A ROUTER, a CURVE server of `curve`, bound to a spare loopback port (its endpoint in
    endpoint), waiting at most 1 s for a message. */
static zsock_t *s_test_router(dc_curve_t *curve, char *endpoint, size_t size)
{
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    DC_CHECK(dc_curve_server(curve, router) == 0);
    int port = zsock_bind(router, "tcp://127.0.0.1:*");
    DC_CHECK(port > 0);
    zsock_set_rcvtimeo(router, 1000);
    snprintf(endpoint, size, "tcp://127.0.0.1:%d", port);
    return router;
}

/*  The "hello" of a client that got through. */
static void s_test_hello(zsock_t *router)
{
    zmsg_t *msg = zmsg_recv(router);
    DC_CHECK(msg && zframe_streq(zmsg_last(msg), "hello"));
    zmsg_destroy(&msg);
}

static zsock_t *s_test_pair(dc_curve_t *cli, const char *endpoint, bool secure_client)
{
    zsock_t *c = zsock_new(ZMQ_DEALER);
    zsock_set_rcvtimeo(c, 300);
    if (secure_client)
        DC_CHECK(dc_curve_client(cli, c, "broker") == 0);
    zsock_connect(c, "%s", endpoint);
    zstr_send(c, "hello");
    return c;
}

/*  Seed mode: both sides derive the same keys; a different seed is refused. */
static void s_test_seed(void)
{
    dc_curve_t *sserver = dc_curve_new_from_seed("0123456789abcdef0123456789abcdef-A", "broker");
    dc_curve_t *sclient = dc_curve_new_from_seed("0123456789abcdef0123456789abcdef-A", "worker");
    dc_curve_t *sother = dc_curve_new_from_seed("0123456789abcdef0123456789abcdef-B", "worker");
    DC_CHECK(sserver && sclient && sother && !dc_curve_new_from_seed("short", "worker"));
    DC_CHECK(streq(sserver->broker_key, sclient->broker_key));
    char endpoint[64];
    zsock_t *srouter = s_test_router(sserver, endpoint, sizeof endpoint);
    zsock_t *sgood = s_test_pair(sclient, endpoint, true);
    s_test_hello(srouter);
    snprintf(sother->broker_key, sizeof sother->broker_key, "%s", sclient->broker_key);
    zsock_t *sbad = s_test_pair(sother, endpoint, true);
    for (int i = 0; i < 250 && dc_curve_refused(sserver) < 1; i++)
        zclock_sleep(20);
    DC_CHECK(dc_curve_refused(sserver) >= 1);
    zsock_set_rcvtimeo(srouter, 200);
    DC_CHECK(zmsg_recv(srouter) == NULL);
    zsock_destroy(&sgood);
    zsock_destroy(&sbad);
    zsock_destroy(&srouter);
    dc_curve_destroy(&sserver);
    dc_curve_destroy(&sclient);
    dc_curve_destroy(&sother);
}

void dc_curve_test(bool verbose)
{
    if (verbose)
        printf(" * dc_curve: ");
    char dir[] = "/tmp/dc-curve-test-XXXXXX";
    DC_CHECK(mkdtemp(dir));
    DC_CHECK(dc_curve_keygen(dir) == 0);
    DC_CHECK(dc_curve_keygen(dir) == -1); /* never overwrites */
    dc_curve_t *server = dc_curve_new(dir, false, "broker");
    dc_curve_t *client = dc_curve_new(dir, false, "service");
    DC_CHECK(server && client && dc_curve_secure(server));
    DC_CHECK(dc_curve_new(NULL, false, "broker") == NULL);
    char endpoint[64];
    zsock_t *router = s_test_router(server, endpoint, sizeof endpoint);

    /* a client with the key gets through */
    zsock_t *good = s_test_pair(client, endpoint, true);
    s_test_hello(router);
    /* no CURVE at all, and a stranger's key: refused and counted */
    zsock_t *plain = s_test_pair(client, endpoint, false);
    char other[] = "/tmp/dc-curve-other-XXXXXX";
    DC_CHECK(mkdtemp(other));
    DC_CHECK(dc_curve_keygen(other) == 0);
    dc_curve_t *stranger = dc_curve_new(other, false, "service");
    snprintf(stranger->broker_key, sizeof stranger->broker_key, "%s", client->broker_key);
    zsock_t *wrong = s_test_pair(stranger, endpoint, true);
    zsock_set_rcvtimeo(router, 300);
    DC_CHECK(zmsg_recv(router) == NULL);
    for (int i = 0; i < 250 && dc_curve_refused(server) < 2; i++)
        zclock_sleep(20);
    DC_CHECK(dc_curve_refused(server) >= 2);
    /* the stranger learns it too: its own guard saw the refusal of its key */
    for (int i = 0; i < 100 && atomic_load(&stranger->guard_state->client_failures) < 1; i++)
        zclock_sleep(20);
    DC_CHECK(atomic_load(&stranger->guard_state->client_failures) >= 1);

    zsock_destroy(&good);
    zsock_destroy(&plain);
    zsock_destroy(&wrong);
    zsock_destroy(&router);
    dc_curve_destroy(&stranger);
    dc_curve_destroy(&client);
    dc_curve_destroy(&server);
    dc_curve_destroy(&server);
    s_test_seed();
    const char *dirs[] = {dir, other};
    for (int i = 0; i < 2; i++) {
        zdir_t *d = zdir_new(dirs[i], NULL);
        zdir_remove(d, true);
        zdir_destroy(&d);
    }
    if (verbose)
        printf("OK\n");
}
