/*  dc_rconn: see the header. Blocking hiredis with short timeouts; the back-off keeps a
    process whose Redis is gone from spending every call on a connect timeout. */
#include "dc_rconn.h"
#include "dc_check.h"
#include "dc_opts.h"

#include <czmq.h>

#include <assert.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define DC_RCONN_BACKOFF_MIN_MS 250
#define DC_RCONN_BACKOFF_MAX_MS 2000

struct _dc_rconn_t {
    char host[256];
    int port;
    char address[300]; /* host:port, for logs and errors */
    char password[256];
    int timeout_ms;
    redisContext *ctx;
    int64_t next_dial; /* zclock_mono: no dial before */
    int backoff_ms;
    bool logged_down; /* the current outage is logged */
    char error[512];
};

static struct timeval s_tv(int ms)
{
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

redisContext *dc_rconn_connect(const char *host, int port, const char *password, int timeout_ms,
                               char *why, size_t why_size)
{
    redisContext *ctx = redisConnectWithTimeout(host, port, s_tv(timeout_ms));
    assert(ctx);
    if (ctx->err) {
        snprintf(why, why_size, "%s", ctx->errstr);
        redisFree(ctx);
        return NULL;
    }
    redisSetTimeout(ctx, s_tv(timeout_ms));
    bool auth = password && *password;
    redisReply *r = auth ? redisCommand(ctx, "AUTH %s", password) : redisCommand(ctx, "PING");
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (!ok)
        snprintf(why, why_size, "%s%s", r ? r->str : ctx->errstr,
                 !r     ? ""
                 : auth ? ": wrong password? see --redis-password-file"
                        : ": it wants a password: set --redis-password-file");
    if (r)
        freeReplyObject(r);
    if (!ok) {
        redisFree(ctx);
        return NULL;
    }
    return ctx;
}

dc_rconn_t *dc_rconn_new(const char *hostport, const char *password, int timeout_ms)
{
    dc_rconn_t *self = calloc(1, sizeof *self);
    assert(self);
    if (dc_opts_hostport(hostport, self->host, sizeof self->host, &self->port) != 0) {
        zsys_error("redis: '%s' is not HOST:PORT (see --redis / DC_REDIS)", hostport);
        free(self);
        return NULL;
    }
    bool v6 = strchr(self->host, ':') != NULL;
    snprintf(self->address, sizeof self->address, "%s%s%s:%d", v6 ? "[" : "", self->host,
             v6 ? "]" : "", self->port);
    snprintf(self->password, sizeof self->password, "%s", password ? password : "");
    self->timeout_ms = timeout_ms;
    return self;
}

void dc_rconn_destroy(dc_rconn_t **self_p)
{
    if (self_p && *self_p) {
        dc_rconn_t *self = *self_p;
        if (self->ctx)
            redisFree(self->ctx);
        free(self);
        *self_p = NULL;
    }
}

/*  A failure: keeps the reason, logs it once per outage and sets the next dial's time. */
static void s_failed(dc_rconn_t *self, const char *what, const char *why)
{
    snprintf(self->error, sizeof self->error, "%s: %s", self->address, why);
    if (!self->logged_down)
        zsys_warning("redis: %s %s (%s); retrying", what, self->address, why);
    self->logged_down = true;
    int next = self->backoff_ms * 2;
    self->backoff_ms = !self->backoff_ms                ? DC_RCONN_BACKOFF_MIN_MS
                       : next > DC_RCONN_BACKOFF_MAX_MS ? DC_RCONN_BACKOFF_MAX_MS
                                                        : next;
    self->next_dial = zclock_mono() + self->backoff_ms;
}

redisContext *dc_rconn_get(dc_rconn_t *self)
{
    if (self->ctx)
        return self->ctx;
    if (zclock_mono() < self->next_dial) {
        if (!self->error[0])
            snprintf(self->error, sizeof self->error, "%s: not connected", self->address);
        return NULL;
    }
    char why[300];
    self->ctx =
        dc_rconn_connect(self->host, self->port, self->password, self->timeout_ms, why, sizeof why);
    if (!self->ctx) {
        s_failed(self, "cannot use", why);
        return NULL;
    }
    self->backoff_ms = 0;
    self->logged_down = false;
    self->error[0] = 0;
    zsys_info("redis: connected to %s", self->address);
    return self->ctx;
}

void dc_rconn_drop(dc_rconn_t *self, const char *why)
{
    if (!self->ctx)
        return;
    s_failed(self, "lost", why && *why ? why : "no reply");
    redisFree(self->ctx);
    self->ctx = NULL;
}

void dc_rconn_retry_now(dc_rconn_t *self)
{
    self->next_dial = 0;
}

bool dc_rconn_connected(dc_rconn_t *self)
{
    return self->ctx != NULL;
}

const char *dc_rconn_error(dc_rconn_t *self)
{
    return self->error;
}

const char *dc_rconn_address(dc_rconn_t *self)
{
    return self->address;
}

int dc_rconn_test_server(int port, const char *password)
{
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    char *argv[] = {"redis-server",
                    "--port",
                    port_text,
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--loglevel",
                    "warning",
                    "--requirepass",
                    (char *)(password ? password : ""),
                    NULL};
    if (!password || !*password)
        argv[11] = NULL; /* no requirepass */
    extern char **environ;
    /* output to /dev/null: a server left behind by a failed check must not hold the test
       runner's pipes open */
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, "redis-server", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return -1;
    /* answered: a reply to PING, NOAUTH included */
    bool up = false;
    for (int64_t deadline = zclock_mono() + 5000; !up && zclock_mono() < deadline;) {
        redisContext *ctx = redisConnect("127.0.0.1", port);
        redisReply *r = ctx && !ctx->err ? redisCommand(ctx, "PING") : NULL;
        up = r != NULL;
        if (r)
            freeReplyObject(r);
        if (ctx)
            redisFree(ctx);
        if (!up)
            zclock_sleep(20);
    }
    if (!up) {
        dc_rconn_test_server_stop(pid);
        return -1;
    }
    return pid;
}

int dc_rconn_test_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
              getsockname(fd, (struct sockaddr *)&addr, &len) == 0;
    if (fd >= 0)
        close(fd);
    DC_CHECK(ok);
    return ntohs(addr.sin_port);
}

void dc_rconn_test_server_stop(int pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

/*  A loopback listener that accepts nothing itself (the kernel completes each handshake,
    nobody answers), non-blocking; its port in *port. */
static int s_test_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    DC_CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
             listen(fd, 16) == 0 && getsockname(fd, (struct sockaddr *)&addr, &len) == 0 &&
             fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
    *port = ntohs(addr.sin_port);
    return fd;
}

/*  The connections made to listener since the last call: the dials. */
static int s_test_dials(int listener)
{
    int n = 0;
    for (int fd; (fd = accept(listener, NULL, NULL)) >= 0; n++)
        close(fd);
    return n;
}

/*  Back-off, seen by the dials a listener that never answers receives: each dial fails (no
    reply to the PING within the timeout); a get while backing off dials nobody; once the
    back-off has passed, a get dials again. */
static void s_test_backoff(void)
{
    int port, listener = s_test_listener(&port);
    char hostport[32];
    snprintf(hostport, sizeof hostport, "127.0.0.1:%d", port);
    dc_rconn_t *conn = dc_rconn_new(hostport, NULL, 100);
    DC_CHECK(conn && !dc_rconn_get(conn) && !dc_rconn_connected(conn));
    DC_CHECK(s_test_dials(listener) == 1 && strstr(dc_rconn_error(conn), hostport));
    int64_t deadline = zclock_mono() + 10000;
    int dials = 0;
    while (!dials && zclock_mono() < deadline) {
        DC_CHECK(!dc_rconn_get(conn));
        dials = s_test_dials(listener);
        zclock_sleep(20);
    }
    DC_CHECK(dials == 1); /* the 250 ms back-off passed: one dial */
    /* failures double the back-off to its 2 s ceiling */
    int64_t before = 0;
    for (int i = 0; i < 3; i++) {
        dc_rconn_retry_now(conn);
        before = zclock_mono();
        DC_CHECK(!dc_rconn_get(conn));
    }
    DC_CHECK(s_test_dials(listener) == 3);
    /* the next dial is due 2 s after `before` at the earliest: gets that return before
       then dial nobody, also 600 ms on, past a back-off that had not grown (on a machine
       stalled past 2 s, the check has nothing to say) */
    for (int i = 0; i < 2; i++) {
        zclock_sleep(i * 600);
        DC_CHECK(!dc_rconn_get(conn));
        if (zclock_mono() - before < DC_RCONN_BACKOFF_MAX_MS)
            DC_CHECK(s_test_dials(listener) == 0);
    }
    dc_rconn_destroy(&conn);
    dc_rconn_destroy(&conn);
    close(listener);
}

void dc_rconn_test(bool verbose)
{
    if (verbose)
        printf(" * dc_rconn: ");
    DC_CHECK(dc_rconn_new("nohostport:x", NULL, 100) == NULL);
    s_test_backoff();

    int port = dc_rconn_test_port();
    int pid = dc_rconn_test_server(port, "s3cret");
    if (pid < 0) {
        if (verbose)
            printf("OK (no redis-server: the server part skipped)\n");
        return;
    }
    char hostport[32], why[300];
    snprintf(hostport, sizeof hostport, "127.0.0.1:%d", port);
    DC_CHECK(!dc_rconn_connect("127.0.0.1", port, NULL, 500, why, sizeof why));
    DC_CHECK(strstr(why, "NOAUTH") && strstr(why, "set --redis-password-file"));
    DC_CHECK(!dc_rconn_connect("127.0.0.1", port, "nope", 500, why, sizeof why));
    DC_CHECK(strstr(why, "wrong password? see --redis-password-file"));
    dc_rconn_t *conn = dc_rconn_new(hostport, "s3cret", 500);
    redisContext *ctx = dc_rconn_get(conn);
    DC_CHECK(ctx && dc_rconn_connected(conn) && dc_rconn_get(conn) == ctx);
    DC_CHECK(streq(dc_rconn_error(conn), "") && streq(dc_rconn_address(conn), hostport));
    redisReply *r = redisCommand(ctx, "SET dc:rconn 1");
    DC_CHECK(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    /* a dropped connection comes back once the back-off allows */
    dc_rconn_drop(conn, "test");
    DC_CHECK(!dc_rconn_connected(conn) && strstr(dc_rconn_error(conn), "test"));
    DC_CHECK(!dc_rconn_get(conn));
    dc_rconn_retry_now(conn);
    DC_CHECK(dc_rconn_get(conn) && streq(dc_rconn_error(conn), ""));
    dc_rconn_destroy(&conn);
    dc_rconn_test_server_stop(pid);
    if (verbose)
        printf("OK\n");
}
