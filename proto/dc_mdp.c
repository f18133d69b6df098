/*  dc_mdp: 7/MDP (MDP/0.1) codec. Decoders consume the whole message, copy what they
    keep into a dc_mdp_msg_t, and refuse anything the spec does not allow, so the broker
    and the workers never act on a half-understood message. */
#include "dc_mdp.h"
#include "dc_check.h"

#include <assert.h>
#include <string.h>

bool dc_mdp_service_valid(const char *s, size_t len)
{
    if (len < 1 || len > DC_MDP_SERVICE_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return false;
    return true;
}

void dc_mdp_msg_clear(dc_mdp_msg_t *m)
{
    zframe_destroy(&m->sender);
    zframe_destroy(&m->client);
    zmsg_destroy(&m->body);
    memset(m, 0, sizeof *m);
}

static bool s_frame_is(zframe_t *f, const char *s)
{
    return f && zframe_size(f) == strlen(s) && memcmp(zframe_data(f), s, strlen(s)) == 0;
}

static bool s_frame_empty(zframe_t *f)
{
    return f && zframe_size(f) == 0;
}

/*  What is left of *msg_p becomes the body (taken over, not copied), within the body
    limits. */
static int s_take_body(zmsg_t **msg_p, dc_mdp_msg_t *out, const char **reason)
{
    if (zmsg_size(*msg_p) > DC_MDP_BODY_FRAMES_MAX) {
        *reason = "too many body frames";
        return -1;
    }
    if (zmsg_content_size(*msg_p) > DC_MDP_BODY_BYTES_MAX) {
        *reason = "body too large";
        return -1;
    }
    out->body = *msg_p;
    *msg_p = NULL;
    return 0;
}

static int s_take_service(zmsg_t *msg, dc_mdp_msg_t *out, const char **reason)
{
    zframe_t *f = zmsg_pop(msg);
    if (!f || !dc_mdp_service_valid((char *)zframe_data(f), zframe_size(f))) {
        zframe_destroy(&f);
        *reason = "missing or invalid service name";
        return -1;
    }
    memcpy(out->service, zframe_data(f), zframe_size(f));
    out->service[zframe_size(f)] = 0;
    zframe_destroy(&f);
    return 0;
}

/*  client address, empty delimiter, body */
static int s_take_envelope(zmsg_t **msg_p, dc_mdp_msg_t *out, const char **reason)
{
    zmsg_t *msg = *msg_p;
    out->client = zmsg_pop(msg);
    if (!out->client || zframe_size(out->client) == 0 ||
        zframe_size(out->client) > DC_MDP_ADDRESS_MAX) {
        *reason = "missing or invalid client address";
        return -1;
    }
    zframe_t *empty = zmsg_pop(msg);
    bool ok = s_frame_empty(empty);
    zframe_destroy(&empty);
    if (!ok) {
        *reason = "missing empty frame after client address";
        return -1;
    }
    return s_take_body(msg_p, out, reason);
}

static int s_decode_worker_command(zmsg_t **msg_p, dc_mdp_msg_t *out, bool from_broker,
                                   const char **reason)
{
    zmsg_t *msg = *msg_p;
    zframe_t *cmd = zmsg_pop(msg);
    if (!cmd || zframe_size(cmd) != 1) {
        zframe_destroy(&cmd);
        *reason = "missing or invalid worker command";
        return -1;
    }
    out->command = zframe_data(cmd)[0];
    zframe_destroy(&cmd);
    int rc = -1;
    switch (out->command) {
    case DC_MDPW_READY:
        rc = from_broker ? -1 : s_take_service(msg, out, reason);
        break;
    case DC_MDPW_REQUEST:
        rc = from_broker ? s_take_envelope(msg_p, out, reason) : -1;
        break;
    case DC_MDPW_REPLY:
        rc = from_broker ? -1 : s_take_envelope(msg_p, out, reason);
        break;
    case DC_MDPW_HEARTBEAT:
    case DC_MDPW_DISCONNECT:
        rc = 0;
        break;
    default:
        *reason = "unknown worker command";
        return -1;
    }
    if (rc == 0 && *msg_p && zmsg_size(*msg_p) > 0) {
        *reason = "unexpected frames after command";
        return -1;
    }
    if (rc != 0 && *reason == NULL)
        *reason = "command not allowed in this direction";
    return rc;
}

int dc_mdp_decode_router(zmsg_t **msg_p, dc_mdp_msg_t *out, const char **reason)
{
    assert(msg_p && out && reason);
    memset(out, 0, sizeof *out);
    *reason = NULL;
    zmsg_t *msg = *msg_p;
    *msg_p = NULL;
    int rc = -1;
    out->sender = zmsg_pop(msg);
    zframe_t *empty = zmsg_pop(msg);
    zframe_t *proto = zmsg_pop(msg);
    if (!out->sender || !s_frame_empty(empty))
        *reason = "missing empty delimiter frame";
    else if (s_frame_is(proto, DC_MDPC)) {
        out->peer = 'C';
        rc = s_take_service(msg, out, reason);
        if (rc == 0)
            rc = s_take_body(&msg, out, reason);
    } else if (s_frame_is(proto, DC_MDPW)) {
        out->peer = 'W';
        rc = s_decode_worker_command(&msg, out, false, reason);
    } else
        *reason = "unknown protocol header (want MDPC01 or MDPW01)";
    zframe_destroy(&empty);
    zframe_destroy(&proto);
    zmsg_destroy(&msg);
    if (rc != 0) {
        zframe_t *sender = out->sender;
        out->sender = NULL;
        dc_mdp_msg_clear(out);
        out->sender = sender; /* kept so the caller can log who sent garbage */
    }
    return rc;
}

static int s_decode_dealer(zmsg_t **msg_p, dc_mdp_msg_t *out, const char *want, const char **reason)
{
    assert(msg_p && out && reason);
    memset(out, 0, sizeof *out);
    *reason = NULL;
    zmsg_t *msg = *msg_p;
    *msg_p = NULL;
    int rc = -1;
    zframe_t *empty = zmsg_pop(msg);
    zframe_t *proto = zmsg_pop(msg);
    if (!s_frame_empty(empty))
        *reason = "missing empty delimiter frame";
    else if (!s_frame_is(proto, want))
        *reason = "unexpected protocol header";
    else if (strcmp(want, DC_MDPW) == 0) {
        out->peer = 'W';
        rc = s_decode_worker_command(&msg, out, true, reason);
    } else {
        out->peer = 'C';
        rc = s_take_service(msg, out, reason);
        if (rc == 0)
            rc = s_take_body(&msg, out, reason);
    }
    zframe_destroy(&empty);
    zframe_destroy(&proto);
    zmsg_destroy(&msg);
    if (rc != 0)
        dc_mdp_msg_clear(out);
    return rc;
}

int dc_mdp_decode_for_worker(zmsg_t **msg_p, dc_mdp_msg_t *out, const char **reason)
{
    return s_decode_dealer(msg_p, out, DC_MDPW, reason);
}

int dc_mdp_decode_for_client(zmsg_t **msg_p, dc_mdp_msg_t *out, const char **reason)
{
    return s_decode_dealer(msg_p, out, DC_MDPC, reason);
}

static zmsg_t *s_body_or_new(zmsg_t **body_p)
{
    zmsg_t *body = body_p && *body_p ? *body_p : zmsg_new();
    if (body_p)
        *body_p = NULL;
    return body;
}

zmsg_t *dc_mdp_client_request(const char *service, zmsg_t **body_p)
{
    zmsg_t *msg = s_body_or_new(body_p);
    zmsg_pushstr(msg, service);
    zmsg_pushstr(msg, DC_MDPC);
    zmsg_pushstr(msg, "");
    return msg;
}

zmsg_t *dc_mdp_worker_msg(zframe_t *dest, int command, const char *service, zframe_t *client,
                          zmsg_t **body_p)
{
    zmsg_t *msg = s_body_or_new(body_p);
    if (client) {
        zmsg_pushstr(msg, "");
        zmsg_prepend(msg, &(zframe_t *){zframe_dup(client)});
    }
    if (service)
        zmsg_pushstr(msg, service);
    byte cmd = (byte)command;
    zmsg_pushmem(msg, &cmd, 1);
    zmsg_pushstr(msg, DC_MDPW);
    zmsg_pushstr(msg, "");
    if (dest)
        zmsg_prepend(msg, &(zframe_t *){zframe_dup(dest)});
    return msg;
}

/*  One frame from memory, more to come or not; the socket's send timeout applies. */
static int s_send_mem(void *handle, const void *data, size_t size, bool more)
{
    return zmq_send(handle, data, size, more ? ZMQ_SNDMORE : 0) < 0 ? -1 : 0;
}

/*  The body's frames, shared with the body (zmq_msg_copy), the last one ending the
    message. */
static int s_send_body(void *handle, zmsg_t *body)
{
    size_t frames = body ? zmsg_size(body) : 0, i = 0;
    for (zframe_t *f = frames ? zmsg_first(body) : NULL; f; f = zmsg_next(body))
        if (zframe_send(&f, handle, ZFRAME_REUSE | (++i < frames ? ZFRAME_MORE : 0)) != 0)
            return -1;
    return 0;
}

int dc_mdp_send_client_request(zsock_t *sock, const char *service, zmsg_t *body)
{
    void *h = zsock_resolve(sock);
    bool more = body && zmsg_size(body);
    if (s_send_mem(h, "", 0, true) != 0 || s_send_mem(h, DC_MDPC, strlen(DC_MDPC), true) != 0 ||
        s_send_mem(h, service, strlen(service), more) != 0)
        return -1;
    return s_send_body(h, body);
}

int dc_mdp_send_client_reply(zsock_t *sock, zframe_t *dest, const char *service, zmsg_t *body)
{
    void *h = zsock_resolve(sock);
    if (dest && s_send_mem(h, zframe_data(dest), zframe_size(dest), true) != 0)
        return -1;
    return dc_mdp_send_client_request(sock, service, body);
}

int dc_mdp_send_worker(zsock_t *sock, zframe_t *dest, int command, zframe_t *client, zmsg_t *body)
{
    void *h = zsock_resolve(sock);
    byte cmd = (byte)command;
    bool more = client || (body && zmsg_size(body));
    if ((dest && s_send_mem(h, zframe_data(dest), zframe_size(dest), true) != 0) ||
        s_send_mem(h, "", 0, true) != 0 || s_send_mem(h, DC_MDPW, strlen(DC_MDPW), true) != 0 ||
        s_send_mem(h, &cmd, 1, more) != 0)
        return -1;
    if (client && (s_send_mem(h, zframe_data(client), zframe_size(client), true) != 0 ||
                   s_send_mem(h, "", 0, body && zmsg_size(body)) != 0))
        return -1;
    return s_send_body(h, body);
}

/*  Builds a message from string frames; "\x01".."\x05" single bytes are commands. */
static zmsg_t *s_msg(int n, const char **frames)
{
    zmsg_t *msg = zmsg_new();
    for (int i = 0; i < n; i++)
        zmsg_addmem(msg, frames[i], strlen(frames[i]));
    return msg;
}

static void s_expect_reject(int n, const char **frames, const char *want_reason)
{
    zmsg_t *msg = s_msg(n, frames);
    dc_mdp_msg_t m;
    const char *reason;
    int rc = dc_mdp_decode_router(&msg, &m, &reason);
    DC_CHECK(rc == -1);
    DC_CHECK(msg == NULL);
    DC_CHECK(reason && strstr(reason, want_reason));
    dc_mdp_msg_clear(&m);
}

/*  The senders put on the wire what the encoders build: sent on a DEALER, read on a
    ROUTER (and back) and decoded; the body stays the caller's. */
static void s_test_senders(void)
{
    zsock_t *router = zsock_new_router("inproc://dc-mdp-test");
    zsock_t *dealer = zsock_new_dealer(">inproc://dc-mdp-test");
    DC_CHECK(router && dealer);
    zsock_set_rcvtimeo(router, 2000);
    zsock_set_rcvtimeo(dealer, 2000);
    zmsg_t *body = zmsg_new();
    zmsg_addstr(body, "32");
    zmsg_append(body, &(zframe_t *){zframe_new(NULL, 100000)}); /* large: shared, not copied */
    DC_CHECK(dc_mdp_send_client_request(dealer, "rng", body) == 0);
    DC_CHECK(zmsg_size(body) == 2);
    zmsg_t *msg = zmsg_recv(router);
    dc_mdp_msg_t m;
    const char *reason;
    DC_CHECK(msg && dc_mdp_decode_router(&msg, &m, &reason) == 0);
    DC_CHECK(m.peer == 'C' && streq(m.service, "rng") && zmsg_size(m.body) == 2);
    DC_CHECK(zframe_streq(zmsg_first(m.body), "32") && zframe_size(zmsg_last(m.body)) == 100000);
    zframe_t *client = zframe_dup(m.sender);
    dc_mdp_msg_clear(&m);

    /* broker -> worker REQUEST: the DEALER is both here, addressed by its routing id */
    DC_CHECK(dc_mdp_send_worker(router, client, DC_MDPW_REQUEST, client, body) == 0);
    msg = zmsg_recv(dealer);
    DC_CHECK(msg && dc_mdp_decode_for_worker(&msg, &m, &reason) == 0);
    DC_CHECK(m.command == DC_MDPW_REQUEST && zframe_eq(m.client, client));
    DC_CHECK(zmsg_size(m.body) == 2 && zframe_streq(zmsg_first(m.body), "32"));
    dc_mdp_msg_clear(&m);
    /* worker -> broker REPLY, HEARTBEAT (no body) */
    DC_CHECK(dc_mdp_send_worker(dealer, NULL, DC_MDPW_REPLY, client, body) == 0);
    msg = zmsg_recv(router);
    DC_CHECK(msg && dc_mdp_decode_router(&msg, &m, &reason) == 0);
    DC_CHECK(m.command == DC_MDPW_REPLY && zframe_eq(m.client, client) && zmsg_size(m.body) == 2);
    dc_mdp_msg_clear(&m);
    DC_CHECK(dc_mdp_send_worker(dealer, NULL, DC_MDPW_HEARTBEAT, NULL, NULL) == 0);
    msg = zmsg_recv(router);
    DC_CHECK(msg && dc_mdp_decode_router(&msg, &m, &reason) == 0);
    DC_CHECK(m.command == DC_MDPW_HEARTBEAT && !m.body);
    dc_mdp_msg_clear(&m);
    /* broker -> client reply */
    DC_CHECK(dc_mdp_send_client_reply(router, client, "rng", body) == 0);
    msg = zmsg_recv(dealer);
    DC_CHECK(msg && dc_mdp_decode_for_client(&msg, &m, &reason) == 0);
    DC_CHECK(streq(m.service, "rng") && zmsg_size(m.body) == 2);
    dc_mdp_msg_clear(&m);
    /* a gone peer: an error, as zmsg_send gives it */
    zsock_set_router_mandatory(router, 1);
    zframe_t *nobody = zframe_from("nobody");
    DC_CHECK(dc_mdp_send_client_reply(router, nobody, "rng", body) == -1);
    DC_CHECK(zmq_errno() == EHOSTUNREACH);
    zframe_destroy(&nobody);
    zframe_destroy(&client);
    zmsg_destroy(&body);
    zsock_destroy(&dealer);
    zsock_destroy(&router);
}

void dc_mdp_test(bool verbose)
{
    if (verbose)
        printf(" * dc_mdp: ");
    dc_mdp_msg_t m;
    const char *reason;

    /* client request round trip, as the broker's ROUTER sees it */
    zmsg_t *body = zmsg_new();
    zmsg_addstr(body, "32");
    zmsg_t *msg = dc_mdp_client_request("rng", &body);
    DC_CHECK(body == NULL);
    zmsg_pushstr(msg, "ID1");
    DC_CHECK(dc_mdp_decode_router(&msg, &m, &reason) == 0);
    DC_CHECK(m.peer == 'C' && streq(m.service, "rng") && zmsg_size(m.body) == 1);
    DC_CHECK(s_frame_is(m.sender, "ID1"));
    dc_mdp_msg_clear(&m);

    /* worker READY and REPLY */
    msg = dc_mdp_worker_msg(NULL, DC_MDPW_READY, "hasher", NULL, NULL);
    zmsg_pushstr(msg, "W1");
    DC_CHECK(dc_mdp_decode_router(&msg, &m, &reason) == 0);
    DC_CHECK(m.peer == 'W' && m.command == DC_MDPW_READY && streq(m.service, "hasher"));
    dc_mdp_msg_clear(&m);

    zframe_t *client = zframe_from("C7");
    body = zmsg_new();
    zmsg_addstr(body, "200");
    msg = dc_mdp_worker_msg(NULL, DC_MDPW_REPLY, NULL, client, &body);
    zmsg_pushstr(msg, "W1");
    DC_CHECK(dc_mdp_decode_router(&msg, &m, &reason) == 0);
    DC_CHECK(m.command == DC_MDPW_REPLY && zframe_eq(m.client, client));
    dc_mdp_msg_clear(&m);

    /* broker -> worker REQUEST, decoded on the worker's DEALER */
    body = zmsg_new();
    zmsg_addstr(body, "abc");
    msg = dc_mdp_worker_msg(NULL, DC_MDPW_REQUEST, NULL, client, &body);
    DC_CHECK(dc_mdp_decode_for_worker(&msg, &m, &reason) == 0);
    DC_CHECK(m.command == DC_MDPW_REQUEST && zframe_eq(m.client, client));
    dc_mdp_msg_clear(&m);
    zframe_destroy(&client);

    /* broker -> client reply (a request's frames), decoded on the client's DEALER */
    msg = dc_mdp_client_request("rng", NULL);
    DC_CHECK(dc_mdp_decode_for_client(&msg, &m, &reason) == 0);
    DC_CHECK(streq(m.service, "rng") && zmsg_size(m.body) == 0);
    dc_mdp_msg_clear(&m);

    /* refusals */
    s_expect_reject(1, (const char *[]){"ID"}, "delimiter");
    s_expect_reject(3, (const char *[]){"ID", "", "MDPX01"}, "protocol");
    s_expect_reject(3, (const char *[]){"ID", "", "MDPC01"}, "service");
    s_expect_reject(4, (const char *[]){"ID", "", "MDPC01", "bad name"}, "service");
    s_expect_reject(4, (const char *[]){"ID", "", "MDPW01", "\x09"}, "unknown worker command");
    s_expect_reject(4, (const char *[]){"ID", "", "MDPW01", "\x02"}, "direction");
    s_expect_reject(5, (const char *[]){"ID", "", "MDPW01", "\x04", "x"}, "unexpected frames");
    s_expect_reject(5, (const char *[]){"ID", "", "MDPW01", "\x03", "C"}, "empty frame");
    s_expect_reject(4, (const char *[]){"ID", "", "MDPW01", "\x01"}, "service");
    s_expect_reject(6, (const char *[]){"ID", "", "MDPW01", "\x01", "rng", "x"},
                    "unexpected frames");
    char long_address[DC_MDP_ADDRESS_MAX + 2];
    memset(long_address, 'a', sizeof long_address - 1);
    long_address[sizeof long_address - 1] = 0; /* 256 bytes */
    s_expect_reject(6, (const char *[]){"ID", "", "MDPW01", "\x03", long_address, ""},
                    "client address");
    /* the broker sends no READY: refused on the worker's side */
    msg = dc_mdp_worker_msg(NULL, DC_MDPW_READY, "rng", NULL, NULL);
    DC_CHECK(dc_mdp_decode_for_worker(&msg, &m, &reason) == -1 && strstr(reason, "direction"));
    dc_mdp_msg_clear(&m);

    /* too many frames, too many bytes */
    msg = dc_mdp_client_request("rng", NULL);
    for (int i = 0; i < DC_MDP_BODY_FRAMES_MAX + 1; i++)
        zmsg_addstr(msg, "x");
    zmsg_pushstr(msg, "ID");
    DC_CHECK(dc_mdp_decode_router(&msg, &m, &reason) == -1 && strstr(reason, "frames"));
    dc_mdp_msg_clear(&m);
    msg = dc_mdp_client_request("rng", NULL);
    zmsg_append(msg, &(zframe_t *){zframe_new(NULL, DC_MDP_BODY_BYTES_MAX + 1)});
    zmsg_pushstr(msg, "ID");
    DC_CHECK(dc_mdp_decode_router(&msg, &m, &reason) == -1 && strstr(reason, "too large"));
    dc_mdp_msg_clear(&m);

    s_test_senders();
    if (verbose)
        printf("OK\n");
}
