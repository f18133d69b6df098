/*  dc_mdp: codec for the Majordomo Protocol 7/MDP (MDP/0.1) as spoken on the
    broker's ROUTER socket, by clients (MDPC01) and workers (MDPW01).
    See proto/mdp.md for the frames. Every decoder validates and refuses what it does
    not understand, returning a static reason string for the caller to count and log. */
#ifndef DC_MDP_H_INCLUDED
#define DC_MDP_H_INCLUDED

#include <czmq.h>

#define DC_MDPC "MDPC01"
#define DC_MDPW "MDPW01"

#define DC_MDPW_READY 1
#define DC_MDPW_REQUEST 2
#define DC_MDPW_REPLY 3
#define DC_MDPW_HEARTBEAT 4
#define DC_MDPW_DISCONNECT 5

#define DC_MDP_SERVICE_MAX 64
#define DC_MDP_BODY_FRAMES_MAX 8
#define DC_MDP_BODY_BYTES_MAX (1024 * 1024 + 4096)
#define DC_MDP_ADDRESS_MAX 255
/*  The transport limit (ZMQ_MAXMSGSIZE) of every MDP socket: the broker's ROUTER, the
    services' slots and the worker's client. A larger frame makes libzmq drop the
    connection before our decoders see it. */
#define DC_MDP_FRAME_LIMIT (4 * 1024 * 1024)

typedef struct {
    zframe_t *sender; /* routing id of the peer (broker side only) */
    char peer;        /* 'C' client, 'W' worker */
    int command;      /* worker command, 0 for a client request */
    char service[DC_MDP_SERVICE_MAX + 1];
    zframe_t *client; /* REQUEST/REPLY: the client's address */
    zmsg_t *body;     /* client request body, REQUEST/REPLY body */
} dc_mdp_msg_t;

/*  Broker side. Takes ownership of *msg_p. On success fills *out (release it with
    dc_mdp_msg_clear) and returns 0; otherwise returns -1 and sets *reason. */
int dc_mdp_decode_router(zmsg_t **msg_p, dc_mdp_msg_t *out, const char **reason);

/*  Worker side (DEALER): a message from the broker. */
int dc_mdp_decode_for_worker(zmsg_t **msg_p, dc_mdp_msg_t *out, const char **reason);

/*  Client side (DEALER): a reply from the broker. */
int dc_mdp_decode_for_client(zmsg_t **msg_p, dc_mdp_msg_t *out, const char **reason);

void dc_mdp_msg_clear(dc_mdp_msg_t *m);

/*  Encoders. body_p may be NULL; the body is taken over and *body_p nulled.
    dest is the ROUTER routing id (broker side) or NULL (DEALER side). A client request
    and the broker's reply to it have the same frames after dest. */
zmsg_t *dc_mdp_client_request(const char *service, zmsg_t **body_p);
zmsg_t *dc_mdp_worker_msg(zframe_t *dest, int command, const char *service, zframe_t *client,
                          zmsg_t **body_p);

/*  Senders: the same frames as the encoders above (a client reply: dest, then a client
    request's frames; REQUEST and REPLY only with a client; the service only in READY:
    use the encoders for that), sent frame by frame from memory on sock, so no message
    is built; the body's frames are shared (zmq_msg_copy:
    large payloads are not copied) and the body stays the caller's. Return 0, or -1 with
    zmq_errno() set, as zmsg_send does (with ZMQ_ROUTER_MANDATORY: EHOSTUNREACH when the
    peer is gone, EAGAIN when its pipe is full). */
int dc_mdp_send_client_request(zsock_t *sock, const char *service, zmsg_t *body);
int dc_mdp_send_client_reply(zsock_t *sock, zframe_t *dest, const char *service, zmsg_t *body);
int dc_mdp_send_worker(zsock_t *sock, zframe_t *dest, int command, zframe_t *client, zmsg_t *body);

/*  True when s is a valid service name: 1..64 printable ASCII bytes. */
bool dc_mdp_service_valid(const char *s, size_t len);

void dc_mdp_test(bool verbose);

#endif
