/*
 * httpbench -- a closed-loop HTTP/1.1 keep-alive load generator that
 * records the latency of every request (no sampling, no coordinated-
 * omission "correction": wrk 4's calibration adds its maximum latency for
 * every request it expected but did not see, which inflates its
 * percentiles on a busy 2-core machine, especially at -c1).
 *
 *   httpbench -c CONNS -d SECONDS [-w WARMUP_SECONDS] [-H 'Header: v']
 *             http://127.0.0.1:PORT/path
 *
 * Prints one line:
 *   requests=N rps=R p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=..
 *   non200=N errors=N reconnects=N
 * (a connection the server closes between requests -- keepalive_requests
 * -- is reopened and counted as a reconnect; a request in flight on it is
 * resent and not timed).  Only IPv4 literal hosts; responses need a
 * Content-Length.  -w: seconds of warm-up not recorded.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int       fd;
    uint64_t  start;
    size_t    have;       /* bytes in buf */
    char      buf[65536];
} conn_t;

static uint64_t
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static char                 req[8192];
static size_t               req_len;
static struct sockaddr_in   addr;
static uint64_t            *lat;
static size_t               nlat, caplat;
static unsigned long        non200, errors, reconnects;

static void
record(uint64_t ns)
{
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 1 << 20;
        lat = realloc(lat, caplat * sizeof(uint64_t));
        if (lat == NULL) {
            perror("realloc");
            exit(2);
        }
    }

    lat[nlat++] = ns;
}

static int
conn_open(int ep, conn_t *c)
{
    int                 one = 1;
    struct epoll_event  ev;

    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) {
        return -1;
    }

    if (connect(c->fd, (struct sockaddr *) &addr, sizeof(addr)) != 0) {
        close(c->fd);
        return -1;
    }

    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);

    ev.events = EPOLLIN;
    ev.data.ptr = c;

    return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static int
conn_send(conn_t *c)
{
    ssize_t  n;

    c->have = 0;
    c->start = now_ns();

    /* small request on a fresh or idle socket: one write is enough */
    n = write(c->fd, req, req_len);

    return (n == (ssize_t) req_len) ? 0 : -1;
}

/* 1: a whole response is in buf; 0: need more; -1: bad */
static int
conn_parse(conn_t *c, int *status)
{
    char    *end, *cl;
    size_t   hlen;
    long     blen;

    c->buf[c->have] = '\0';

    end = strstr(c->buf, "\r\n\r\n");
    if (end == NULL) {
        return c->have >= sizeof(c->buf) - 1 ? -1 : 0;
    }

    hlen = end + 4 - c->buf;

    cl = strcasestr(c->buf, "\r\ncontent-length:");
    if (cl == NULL || cl > end) {
        return -1;
    }

    blen = strtol(cl + sizeof("\r\ncontent-length:") - 1, NULL, 10);

    if (c->have < hlen + (size_t) blen) {
        return 0;
    }

    *status = atoi(c->buf + sizeof("HTTP/1.1 ") - 1);

    return 1;
}

static int
cmp(const void *a, const void *b)
{
    uint64_t  x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return x < y ? -1 : x > y;
}

static double
pct(double q)
{
    size_t  i;

    if (nlat == 0) {
        return 0;
    }

    i = (size_t) (q * nlat + 0.999999);
    i = i ? i - 1 : 0;
    if (i >= nlat) {
        i = nlat - 1;
    }

    return lat[i] / 1000.0;
}

int
main(int argc, char **argv)
{
    int                  i, n, ep, opt, conns = 1, status, rc;
    char                 host[64], *path, *p, hdrs[4096] = "";
    double               dur = 5, warm = 1;
    conn_t              *cs, *c;
    uint64_t             t_warm, t_end, t_now, t_first = 0;
    unsigned             port;
    ssize_t              r;
    struct epoll_event   evs[256];

    while ((opt = getopt(argc, argv, "c:d:w:H:")) != -1) {
        switch (opt) {
        case 'c': conns = atoi(optarg); break;
        case 'd': dur = atof(optarg); break;
        case 'w': warm = atof(optarg); break;
        case 'H':
            if (strlen(hdrs) + strlen(optarg) + 3 < sizeof(hdrs)) {
                strcat(hdrs, optarg);
                strcat(hdrs, "\r\n");
            }
            break;
        default:
            fprintf(stderr, "usage: %s -c N -d S [-w S] [-H h] URL\n", argv[0]);
            return 2;
        }
    }

    if (optind >= argc || conns < 1
        || sscanf(argv[optind], "http://%63[0-9.]:%u", host, &port) != 2)
    {
        fprintf(stderr, "need a URL like http://127.0.0.1:8080/path\n");
        return 2;
    }

    p = strstr(argv[optind] + 7, "/");
    path = p ? p : "/";

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "bad host %s\n", host);
        return 2;
    }

    req_len = snprintf(req, sizeof(req),
                       "GET %s HTTP/1.1\r\nHost: %s:%u\r\n%s\r\n",
                       path, host, port, hdrs);

    ep = epoll_create1(0);
    cs = calloc(conns, sizeof(conn_t));
    if (ep < 0 || cs == NULL) {
        perror("setup");
        return 2;
    }

    t_now = now_ns();
    t_warm = t_now + (uint64_t) (warm * 1e9);
    t_end = t_warm + (uint64_t) (dur * 1e9);

    for (i = 0; i < conns; i++) {
        if (conn_open(ep, &cs[i]) != 0 || conn_send(&cs[i]) != 0) {
            perror("connect");
            return 2;
        }
    }

    for ( ;; ) {
        n = epoll_wait(ep, evs, 256, 1000);
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            return 2;
        }

        t_now = now_ns();
        if (t_now >= t_end) {
            break;
        }

        for (i = 0; i < n; i++) {
            c = evs[i].data.ptr;

            r = read(c->fd, c->buf + c->have, sizeof(c->buf) - 1 - c->have);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) {
                    continue;
                }

                /* closed: reconnect and resend (not timed); an error only
                 * when part of a response had arrived */
                if (c->have) {
                    errors++;
                }
                reconnects++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                if (conn_open(ep, c) != 0 || conn_send(c) != 0) {
                    perror("reconnect");
                    return 2;
                }
                continue;
            }

            c->have += r;

            rc = conn_parse(c, &status);
            if (rc == 0) {
                continue;
            }

            t_now = now_ns();

            if (rc < 0) {
                errors++;
            } else if (c->start >= t_warm) {
                if (t_first == 0) {
                    t_first = c->start;
                }
                record(t_now - c->start);
                if (status != 200) {
                    non200++;
                }
            }

            if (conn_send(c) != 0) {
                errors++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                if (conn_open(ep, c) != 0 || conn_send(c) != 0) {
                    perror("reconnect");
                    return 2;
                }
            }
        }
    }

    qsort(lat, nlat, sizeof(uint64_t), cmp);

    printf("requests=%zu rps=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f "
           "p999_us=%.0f max_us=%.0f non200=%lu errors=%lu reconnects=%lu\n",
           nlat, nlat / dur, pct(0.50), pct(0.90), pct(0.99), pct(0.999),
           nlat ? lat[nlat - 1] / 1000.0 : 0, non200, errors, reconnects);

    for (i = 0; i < conns; i++) {
        close(cs[i].fd);
    }

    return 0;
}
