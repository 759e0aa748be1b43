/* loadclient: many HTTP/1.1 connections from one thread (epoll), for scripts/bench's load
 * scenarios (scripts/bench_load.py compiles it with `cc -O2` into the bench's temp dir).
 *
 * Why C: 10,000-20,000 connections with ~40,000 requests/s must not make the client the
 * bottleneck; Python's event loop on one core is (measured: it saturates first).
 *
 * Kinds of connection, any mix in one run:
 *   active    closed loop: request, full response, next request; a --keepalive-share of
 *             them keep the connection for --requests-per-conn requests, the others send
 *             `Connection: close` and reconnect for each request (latency then counts from
 *             connect()).
 *   probe     a normal client: --probe connections, keep-alive, requests sent at a fixed
 *             --rate in total; latency counts from the scheduled time (no coordinated omission);
 *             probe_late counts requests sent over 1 ms late for want of a free connection.
 *   slowloris a request head sent one byte every --slow-interval seconds, never finished;
 *             when the proxy cuts it (an answer or EOF) it reconnects and the cut is timed.
 *   idle      one keep-alive request, its response, then silence; reconnects when closed.
 *
 * Connections are spread over source addresses 127.0.0.2.. (--sources) so that loopback's
 * ephemeral ports (~28k per source/destination pair) are not the limit, and at most
 * --connects connects are in flight (4096, somaxconn here: a connect the proxy's full
 * accept queue dropped waits 1 s, 3 s, … for its SYN's retransmit, and must not hold up
 * the others); --ramp S spreads the first connects evenly over S seconds (then slowloris
 * connections time out spread out, not in one wave). Latencies are
 * recorded only after --hold seconds (all connections established, warm-up) for
 * --duration seconds. Prints one JSON object on stdout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum kind { ACTIVE_KA, ACTIVE_CLOSE, PROBE, SLOWLORIS, IDLE };
enum state { DOWN, CONNECTING, WAITING_RESPONSE, READY, DRIPPING, HELD };

struct conn {
    int fd;
    unsigned char kind, state;
    unsigned char requeued;  /* an active connection waiting to reconnect: its clock runs */
    int requests;          /* on this connection */
    int got;               /* bytes of the current response */
    double started;        /* latency origin of the current request */
    double connected_at;   /* slowloris: when the head began */
    double next_drip;
    char buf[1536];
};

static const char *host = "127.0.0.1";
static int port, sources = 8, max_connects = 4096, requests_per_conn = 10;
static int n_active, n_probe, n_slow, n_idle;
static double ramp_seconds = 0, keepalive_share = 0.5, rate = 1000, slow_interval = 3, hold = 5, duration = 10;
static const char *path = "/small";
static struct conn *conns;
static int n_conns, epfd, connecting, established;
/* the connections to (re)connect, in order: a ring of indices */
static int *down_ring, down_head, down_count;
static double t0, measure_from, measure_to;

/* results */
static double *lat_active, *lat_probe;
static long n_lat_active, n_lat_probe, cap_active, cap_probe;
static long requests_in_window, errors_connect, errors_reset, errors_eof, errors_status;
static long status_counts[600];  /* answers other than 200 in the window, by status */
static long slow_cuts, idle_closed, probe_closed, reconnects, probe_late;
static double *cut_after;
static long n_cut_after, cap_cut_after;
static double max_connected_time = -1;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void push(double **a, long *n, long *cap, double v) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 65536;
        *a = realloc(*a, *cap * sizeof(double));
        if (!*a) { perror("realloc"); exit(2); }
    }
    (*a)[(*n)++] = v;
}

static int in_window(double t) { return t >= measure_from && t < measure_to; }

static void start_connect(struct conn *c, int index) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { perror("socket"); exit(2); }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* the port is chosen at connect() for the whole 4-tuple, not at bind() */
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = { .sin_family = AF_INET };
    src.sin_addr.s_addr = htonl(0x7f000002 + index % sources);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) { perror("bind"); exit(2); }
    struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, host, &dst.sin_addr);
    c->fd = fd;
    c->requests = 0;
    c->got = 0;
    /* an active connection's next request began when it went down: waiting here for a
     * connect slot is latency too (no coordinated omission) */
    if (!c->requeued) c->started = now();
    c->requeued = 0;
    c->state = CONNECTING;
    connecting++;
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
        /* reported as a connect error when the loop sees the socket */
    }
    struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u32 = index };
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void drop(struct conn *c) {
    if (c->state == CONNECTING) connecting--;
    else established--;
    close(c->fd);
    c->fd = -1;
    c->state = DOWN;
    if (c->kind == ACTIVE_KA || c->kind == ACTIVE_CLOSE) { c->started = now(); c->requeued = 1; }
    down_ring[(down_head + down_count++) % n_conns] = (int)(c - conns);
}

static void want(struct conn *c, int index, unsigned events) {
    struct epoll_event ev = { .events = events, .data.u32 = index };
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void send_all(struct conn *c, const char *data, size_t len) {
    /* small heads into an empty socket buffer: a short write would mean something is wrong */
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
    if (n != (ssize_t)len) errors_reset++;
}

static void send_request(struct conn *c, int index) {
    char req[256];
    int close_after = c->kind == ACTIVE_CLOSE;
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: bench\r\n%s\r\n", path,
                       close_after ? "Connection: close\r\n" : "");
    /* a new connection's first request counts from connect(); a probe from its due time */
    if (c->kind == ACTIVE_KA && c->requests > 0) c->started = now();
    send_all(c, req, len);
    c->got = 0;
    c->state = WAITING_RESPONSE;
    want(c, index, EPOLLIN | EPOLLRDHUP);
}

/* Returns 1 when a whole response is in buf: status checked, Content-Length honoured. */
static int response_complete(struct conn *c) {
    c->buf[c->got < (int)sizeof c->buf ? c->got : (int)sizeof c->buf - 1] = 0;
    char *end = strstr(c->buf, "\r\n\r\n");
    if (!end) return 0;
    char *cl = strcasestr(c->buf, "\ncontent-length:");
    long length = cl && cl < end ? strtol(cl + 16, NULL, 10) : 0;
    return c->got >= (end + 4 - c->buf) + length;
}

static void on_response(struct conn *c, int index) {
    double t = now();
    int ok = strncmp(c->buf, "HTTP/1.1 200", 12) == 0;
    if (!ok && in_window(t)) {
        errors_status++;
        int status = c->got > 12 ? atoi(c->buf + 9) : 0;
        status_counts[status >= 100 && status < 600 ? status : 0]++;
    }
    c->requests++;
    if (c->kind == ACTIVE_KA || c->kind == ACTIVE_CLOSE) {
        if (in_window(t)) { requests_in_window++; push(&lat_active, &n_lat_active, &cap_active, t - c->started); }
        if (c->kind == ACTIVE_CLOSE || c->requests >= requests_per_conn) {
            drop(c);
            return;  /* the ramp reconnects it */
        }
        send_request(c, index);
    } else if (c->kind == PROBE) {
        if (in_window(c->started)) push(&lat_probe, &n_lat_probe, &cap_probe, t - c->started);
        c->state = READY;
        want(c, index, EPOLLRDHUP);
    } else if (c->kind == IDLE) {
        c->state = HELD;
        want(c, index, EPOLLIN | EPOLLRDHUP);
    }
}

static void on_closed(struct conn *c, int error) {
    double t = now();
    if (c->kind == SLOWLORIS && c->state == DRIPPING) {
        slow_cuts++;
        push(&cut_after, &n_cut_after, &cap_cut_after, t - c->connected_at);  /* every cut, in the window or not */
    } else if (c->kind == IDLE && c->state == HELD) {
        idle_closed++;
    } else if (c->kind == PROBE && c->state == READY) {
        probe_closed++;  /* a keep-alive probe closed between requests */
    } else if (in_window(t)) {
        if (c->state == CONNECTING) errors_connect++;
        else if (error == ECONNRESET) errors_reset++;
        else errors_eof++;
    }
    drop(c);
}

static void on_event(int index, unsigned events) {
    struct conn *c = &conns[index];
    if (c->fd < 0) return;
    if (c->state == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err || (events & (EPOLLERR | EPOLLHUP))) { on_closed(c, err); return; }
        if (!(events & EPOLLOUT)) return;
        connecting--;
        established++;
        c->connected_at = now();
        if (c->kind == SLOWLORIS) {
            static const char head[] = "GET /small HTTP/1.1\r\nHost: bench\r\nX-Slow: ";
            send_all(c, head, sizeof head - 1);
            c->state = DRIPPING;
            /* spread the drips so that they do not all land in the same tick */
            c->next_drip = c->connected_at + slow_interval * (0.5 + (double)rand() / RAND_MAX);
            want(c, index, EPOLLIN | EPOLLRDHUP);
        } else if (c->kind == PROBE) {
            c->state = READY;
            want(c, index, EPOLLRDHUP);
        } else {
            send_request(c, index);
        }
        return;
    }
    if (events & EPOLLIN || events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        for (;;) {
            char *into = c->buf + c->got;
            size_t room = sizeof c->buf - 1 - c->got;
            if (room == 0) { c->got = 0; into = c->buf; room = sizeof c->buf - 1; } /* a big body: only the end matters */
            ssize_t n = recv(c->fd, into, room, 0);
            if (n > 0) {
                if (c->state == WAITING_RESPONSE) {
                    c->got += n;
                    if (response_complete(c)) { on_response(c, index); return; }
                    continue;
                }
                /* bytes while dripping or held: an answer before the close (408); keep reading */
                continue;
            }
            if (n == 0) { on_closed(c, 0); return; }
            if (errno == EAGAIN) return;
            if (errno == EINTR) continue;
            on_closed(c, errno);
            return;
        }
    }
}

static void usage(void) {
    fprintf(stderr, "usage: loadclient PORT [--active N] [--keepalive-share F] [--requests-per-conn K]\n"
                    "  [--probe N --rate R] [--slowloris N --slow-interval S] [--idle N]\n"
                    "  [--sources K] [--connects N] [--ramp S] [--hold S] [--duration S] [--path P]\n");
    exit(2);
}

static int compare_doubles(const void *x, const void *y) {
    double d = *(const double *)x - *(const double *)y;
    return d < 0 ? -1 : d > 0;
}

static void percentiles(const char *name, double *a, long n) {
    if (!n) { printf("\"%s\": {\"count\": 0}", name); return; }
    qsort(a, n, sizeof *a, compare_doubles);
    printf("\"%s\": {\"count\": %ld, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}", name, n,
           a[n / 2] * 1e3, a[(long)(n * 0.99)] * 1e3, a[n - 1] * 1e3);
}

int main(int argc, char **argv) {
    if (argc < 2) usage();
    port = atoi(argv[1]);
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc) usage();
        const char *k = argv[i], *v = argv[++i];
        if (!strcmp(k, "--active")) n_active = atoi(v);
        else if (!strcmp(k, "--keepalive-share")) keepalive_share = atof(v);
        else if (!strcmp(k, "--requests-per-conn")) requests_per_conn = atoi(v);
        else if (!strcmp(k, "--probe")) n_probe = atoi(v);
        else if (!strcmp(k, "--rate")) rate = atof(v);
        else if (!strcmp(k, "--slowloris")) n_slow = atoi(v);
        else if (!strcmp(k, "--slow-interval")) slow_interval = atof(v);
        else if (!strcmp(k, "--idle")) n_idle = atoi(v);
        else if (!strcmp(k, "--sources")) sources = atoi(v);
        else if (!strcmp(k, "--connects")) max_connects = atoi(v);
        else if (!strcmp(k, "--hold")) hold = atof(v);
        else if (!strcmp(k, "--ramp")) ramp_seconds = atof(v);
        else if (!strcmp(k, "--duration")) duration = atof(v);
        else if (!strcmp(k, "--path")) path = v;
        else usage();
    }
    n_conns = n_active + n_probe + n_slow + n_idle;
    struct rlimit rl = { n_conns + 1000, n_conns + 1000 };
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        getrlimit(RLIMIT_NOFILE, &rl);
        if ((long)rl.rlim_cur < n_conns + 100) { fprintf(stderr, "loadclient: descriptor limit %ld too low\n", (long)rl.rlim_cur); return 2; }
    }
    conns = calloc(n_conns, sizeof *conns);
    down_ring = calloc(n_conns, sizeof *down_ring);
    int i = 0, ka = (int)(n_active * keepalive_share);
    /* interleave the kinds so that the ramp brings each up at the same pace */
    int counts[5] = { ka, n_active - ka, n_probe, n_slow, n_idle };
    for (int k = 0; k < 5; k++)
        for (int j = 0; j < counts[k]; j++) { conns[i].kind = k; conns[i].fd = -1; i++; }
    /* the ramp order interleaves the kinds (7919 is prime), so each comes up at the same pace */
    for (int j = 0; j < n_conns; j++) down_ring[j] = n_conns % 7919 ? (int)(((long)j * 7919) % n_conns) : j;
    down_count = n_conns;
    epfd = epoll_create1(EPOLL_CLOEXEC);
    srand(1);
    t0 = now();
    measure_from = 1e18;
    measure_to = 1e18;
    double all_up_at = 0, next_probe = 0, probe_step = rate > 0 ? 1.0 / rate : 1;
    int probe_cursor = 0, announced = 0;
    long first_connects = 0;
    double last_tick = 0;
    struct epoll_event events[1024];
    for (;;) {
        double t = now();
        /* ramp: (re)connect what is down, a bounded number at a time */
        /* --ramp: the first connects spread evenly over that many seconds */
        long allowed = ramp_seconds > 0 && !all_up_at ? (long)(n_conns * ((t - t0) / ramp_seconds)) + 1 : n_conns;
        while (down_count && connecting < max_connects && (all_up_at || first_connects < allowed)) {
            first_connects++;
            int j = down_ring[down_head];
            down_head = (down_head + 1) % n_conns;
            down_count--;
            if (all_up_at) reconnects++;
            start_connect(&conns[j], j);
        }
        if (!all_up_at) {
            if (established == n_conns || t - t0 > 60) {
                all_up_at = t;
                max_connected_time = t - t0;
                measure_from = t + hold;
                measure_to = measure_from + duration;
                next_probe = t;
            }
        }
        if (t >= measure_from && !announced) {
            announced = 1;
            printf("measuring\n");  /* scripts/bench_load.py reads /proc now */
            fflush(stdout);
        }
        if (t >= measure_to) break;
        /* probes: due requests go to a ready probe connection; a late one keeps its due time */
        while (n_probe && all_up_at && next_probe <= t) {
            int sent = 0;
            for (int s = 0; s < n_probe; s++) {
                struct conn *c = &conns[n_active + (probe_cursor + s) % n_probe];
                if (c->state == READY) {
                    if (t - next_probe > 0.001 && in_window(next_probe)) probe_late++;
                    c->started = next_probe;
                    send_request(c, n_active + (probe_cursor + s) % n_probe);
                    probe_cursor = (probe_cursor + s + 1) % n_probe;
                    sent = 1;
                    break;
                }
            }
            if (!sent) break;  /* the request keeps its due time: its latency counts the wait */
            next_probe += probe_step;
        }
        /* slowloris: one more byte of the endless header line */
        if (n_slow && t - last_tick > 0.05) {
            last_tick = t;
            for (int j = n_active + n_probe; j < n_active + n_probe + n_slow; j++) {
                struct conn *c = &conns[j];
                if (c->state == DRIPPING && c->next_drip <= t) {
                    send(c->fd, "a", 1, MSG_NOSIGNAL);
                    c->next_drip = t + slow_interval;
                }
            }
        }
        double wait = n_probe ? (next_probe - now()) * 1e3 : 10;
        int timeout = wait < 0 ? 0 : wait > 10 ? 10 : (int)wait;
        int n = epoll_wait(epfd, events, 1024, timeout);
        for (int e = 0; e < n; e++) on_event(events[e].data.u32, events[e].events);
    }
    long held = established;
    printf("{\"ramp_s\": %.3f, \"held_at_end\": %ld, \"requests\": %ld, \"rps\": %.1f, ", max_connected_time, held,
           requests_in_window, requests_in_window / duration);
    percentiles("active", lat_active, n_lat_active);
    printf(", ");
    percentiles("probe", lat_probe, n_lat_probe);
    printf(", ");
    percentiles("slowloris_cut_after", cut_after, n_cut_after);
    printf(", \"statuses\": {");
    for (int code = 0, first = 1; code < 600; code++)
        if (status_counts[code]) { printf("%s\"%d\": %ld", first ? "" : ", ", code, status_counts[code]); first = 0; }
    printf("}");
    printf(", \"errors\": {\"connect\": %ld, \"reset\": %ld, \"eof\": %ld, \"status\": %ld}, "
           "\"slowloris_cuts\": %ld, \"idle_closed\": %ld, \"probe_closed\": %ld, \"reconnects\": %ld, \"probe_late\": %ld}\n",
           errors_connect, errors_reset, errors_eof, errors_status, slow_cuts, idle_closed, probe_closed,
           reconnects, probe_late);
    /* leave no TIME_WAIT behind: reset what is still open */
    struct linger lg = { 1, 0 };
    for (int j = 0; j < n_conns; j++)
        if (conns[j].fd >= 0) { setsockopt(conns[j].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg); close(conns[j].fd); }
    return 0;
}
