/*  dc-bench-ceiling: the ceilings the pipeline benchmark compares against, measured on
    this machine in the same run:
      roundtrip PAIRS SECONDS  REQ clients -> ROUTER/DEALER proxy -> REP servers, 32-byte
                               messages, one process each, as the broker hop is;
      ideal PROCS SECONDS      the bare mining loop per process: 32 random bytes, SHA-256,
                               hex, coin test, count; no messaging;
      sha256 PROCS SECONDS     SHA-256 of 32 bytes alone, as the hasher computes it
                               (dc_sha256), each digest the next input, coin test on the
                               first byte: the computation's own limit;
      sha256-sodium PROCS SECONDS  the same with libsodium's portable SHA-256.
    Prints one number: round trips/s or hashes/s, summed over all processes. */
#include "dc_svc.h"

#include <czmq.h>
#include <sodium.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

static void s_proxy(const char *front, const char *back)
{
    zsock_t *f = zsock_new_router(front);
    zsock_t *b = zsock_new_dealer(back);
    if (!f || !b) {
        fprintf(stderr, "dc-bench-ceiling: cannot bind %s or %s\n", front, back);
        exit(1);
    }
    zmq_proxy(zsock_resolve(f), zsock_resolve(b), NULL);
    exit(0);
}

/*  A loopback port the kernel says is free now (before any ZeroMQ context exists). */
static int s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static void s_server(const char *back)
{
    zsock_t *rep = zsock_new_rep(back);
    while (true) {
        zmsg_t *msg = zmsg_recv(rep);
        if (!msg)
            exit(0);
        zmsg_send(&msg, rep);
    }
}

static void s_client(const char *front, int seconds, uint64_t *count)
{
    zsock_t *req = zsock_new_req(front);
    zsock_set_rcvtimeo(req, 2000);
    byte data[32] = {0};
    int64_t end = zclock_mono() + seconds * 1000;
    uint64_t n = 0;
    zclock_sleep(300); /* let every peer connect before counting */
    end += 300;
    while (zclock_mono() < end) {
        zmsg_t *msg = zmsg_new();
        zmsg_addmem(msg, data, sizeof data);
        zmsg_send(&msg, req);
        msg = zmsg_recv(req);
        if (!msg)
            break; /* the proxy died: report what was done */
        zmsg_destroy(&msg);
        n++;
    }
    *count = n;
    zsock_destroy(&req);
    exit(0);
}

static void s_ideal(int seconds, uint64_t *count)
{
    byte bytes[32];
    char hex[DC_HEX_DIGEST_LEN + 1];
    uint64_t n = 0, coins = 0;
    int64_t end = zclock_mono() + seconds * 1000;
    while (zclock_mono() < end)
        for (int i = 0; i < 1000; i++) {
            randombytes_buf(bytes, sizeof bytes);
            dc_sha256_hex(bytes, sizeof bytes, hex);
            coins += dc_svc_is_coin(hex);
            n++;
        }
    *count = n + (coins & 0); /* coins computed so the test is not optimised away */
    exit(coins > n);
}

static void s_sha256(int seconds, bool sodium, uint64_t *count)
{
    byte buf[2][32]; /* input and digest, swapping roles each time */
    randombytes_buf(buf[0], sizeof buf[0]);
    uint64_t n = 0, coins = 0;
    int64_t end = zclock_mono() + seconds * 1000;
    while (zclock_mono() < end)
        for (int i = 0; i < 10000; i++, n++) {
            if (sodium)
                crypto_hash_sha256(buf[(n + 1) & 1], buf[n & 1], sizeof buf[0]);
            else
                dc_sha256(buf[n & 1], sizeof buf[0], buf[(n + 1) & 1], sizeof buf[0]);
            coins += buf[(n + 1) & 1][0] < 0x10; /* the hex digest starts with '0' */
        }
    *count = n;
    exit(coins > n);
}

int main(int argc, char **argv)
{
    const char *mode = argc == 4 ? argv[1] : "";
    if (strcmp(mode, "roundtrip") && strcmp(mode, "ideal") && strcmp(mode, "sha256") &&
        strcmp(mode, "sha256-sodium")) {
        fprintf(stderr, "usage: dc-bench-ceiling roundtrip|ideal|sha256|sha256-sodium N SECONDS\n");
        return 2;
    }
    int n = atoi(argv[2]), seconds = atoi(argv[3]);
    if (sodium_init() < 0 || n < 1 || n > 64 || seconds < 1)
        return 2;
    uint64_t *counts =
        mmap(NULL, 64 * sizeof *counts, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t helpers[130];
    int nh = 0, nc = 0;
    pid_t clients[64];
    char front[64], back[64];
    /* tcp on loopback, like the pipeline */
    snprintf(front, sizeof front, "tcp://127.0.0.1:%d", s_free_port());
    snprintf(back, sizeof back, "tcp://127.0.0.1:%d", s_free_port());
    bool rt = strcmp(argv[1], "roundtrip") == 0;
    if (rt && (helpers[nh++] = fork()) == 0)
        s_proxy(zsys_sprintf("@%s", front), zsys_sprintf("@%s", back));
    for (int i = 0; i < n; i++) {
        if (rt && (helpers[nh++] = fork()) == 0)
            s_server(zsys_sprintf(">%s", back));
        if ((clients[nc++] = fork()) == 0) {
            if (rt)
                s_client(zsys_sprintf(">%s", front), seconds, &counts[i]);
            if (strncmp(mode, "sha256", 6) == 0)
                s_sha256(seconds, strcmp(mode, "sha256-sodium") == 0, &counts[i]);
            s_ideal(seconds, &counts[i]);
        }
    }
    uint64_t total = 0;
    for (int i = 0; i < nc; i++)
        waitpid(clients[i], NULL, 0);
    for (int i = 0; i < n; i++)
        total += counts[i];
    for (int i = 0; i < nh; i++) {
        kill(helpers[i], SIGKILL);
        waitpid(helpers[i], NULL, 0);
    }
    printf("%.0f\n", (double)total / seconds);
    return 0;
}
