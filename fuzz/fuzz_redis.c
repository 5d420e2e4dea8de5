
/*
 * Copyright (C) nginx-sandbox-bridge authors
 *
 * fuzz_redis: Redis replies, as hiredis parses them from arbitrary RESP
 * bytes (fed in random pieces to a redisReader), handed to the module's
 * reply handling:
 *
 *   - ngx_http_sandbox_bridge_lease_fields() (store.c, the HGETALL-style
 *     answer) gets every array reply; the lease it fills must hold
 *     NUL-terminated copies of the last "container", "docker", "cred",
 *     "cwd" and "state" string pairs, and NGX_OK exactly when a container
 *     was found (reference);
 *
 *   - a whole reaper pass (reap.c and sweep.c, compiled in with
 *     #include, so its static steps and types are reachable without
 *     changing them) runs as its flow on the step runtime of request.c,
 *     on the same replies, in order, each one the answer to the Redis
 *     step the pass has pending: the host lock (SET NX PX), the Docker
 *     listing (a fixed one from the harness; for inputs whose size is 7
 *     mod 8 the listing fails), SET ... GET of the host's last pass (this
 *     listing's time in, the previous one's back), EXISTS per
 *     1 from ORPHAN removes the container through Docker; SCAN with its
 *     cursor until "0" or 32 scans, then the FORGET script for each stale
 *     lease key; then HGETALL of each container's exec records and
 *     EXISTS of an owner node's heartbeat (the kills and the records'
 *     HDEL are this harness's stubs). Checked: every command's arguments (key
 *     formats, the worker id, the cursor Redis returned, MATCH with
 *     scan_pattern(), COUNT, the listing time, host and previous pass, "0"
 *     when Redis had none), a container
 *     is removed only after ORPHAN said 1 outside adoption, the stale
 *     keys are exactly
 *     those a reference finds in the SCAN replies (at most 64, none of a
 *     listed container), a failed listing or lock forgets nothing,
 *     op->pending counts the outstanding step, and the pass ends (op->end)
 *     exactly once, also when Redis goes away mid-pass.
 *
 * Redis and Docker are the harness's stubs below; redis.c is compiled in
 * with its two entry points renamed, so the argument builder is the
 * module's. Inputs declaring huge arrays are skipped (psb_resp_sane()).
 */


#include "psb_fuzz.h"
#include "ngx_http_sandbox_bridge_request.h"
#include "ngx_http_sandbox_bridge_store.h"

/* redis.c but its two entry points, which are the stubs below */
#define ngx_http_sandbox_bridge_redis_command  psb_module_redis_command
#define ngx_http_sandbox_bridge_redis_script   psb_module_redis_script
#include "ngx_http_sandbox_bridge_redis.c"
#undef ngx_http_sandbox_bridge_redis_command
#undef ngx_http_sandbox_bridge_redis_script

/* the reaper's pass itself: its statics become this file's */
#include "ngx_http_sandbox_bridge_reap.c"
#include "ngx_http_sandbox_bridge_sweep.c"


#define PSB_NCONTAINERS  3


static ngx_str_t   psb_worker;
static ngx_uint_t  psb_running;
#define PSB_MAX_STALE    NGX_HTTP_SANDBOX_BRIDGE_REAP_MAX


static const char  *psb_ids[PSB_NCONTAINERS] = {
    "pc-run-1-abcd1234", "pc-env-env-123", "pc-probe-1747000000000-1a2b3c4d"
};


#define PSB_HOST  "/_psb_docker"


static struct {
    /* the one Redis command the pass waits for */
    ngx_http_sandbox_bridge_redis_pt   handler;
    void                              *data;
    ngx_uint_t                         kind;
    ngx_uint_t                         commands;

    /* the one Docker call */
    ngx_http_sandbox_bridge_call_t    *call;
    ngx_uint_t                         call_status;

    ngx_uint_t                         done;
    ngx_uint_t                         listed;
    ngx_uint_t                         list_fails;
    ngx_uint_t                         docker;
    ngx_uint_t                         scans;
    ngx_uint_t                         forgets;

    /* what the last ORPHAN / SCAN / pass SET answered */
    ngx_int_t                          orphan_one;
    ngx_uint_t                         judged;
    ngx_uint_t                         adopting;
    ngx_uint_t                         kills;
    u_char                            *cursor;
    size_t                             cursor_len;
    u_char                             pass[NGX_INT64_LEN];
    size_t                             pass_len;

    /* the reference list of stale keys */
    ngx_str_t                          stale[PSB_MAX_STALE];
    ngx_uint_t                         nstale;

    ngx_http_sandbox_bridge_reap_t    *rp;
    ngx_http_request_t                *r;
} psb;


/* the listing: the three leases' containers and two that are not ours */

static const char  psb_listing[] =
    "[{\"Id\":\"a1\",\"Names\":[\"/psb-pc-run-1-abcd1234\"],"
    "\"Labels\":{\"paperclip.bridge.lease\":\"pc-run-1-abcd1234\","
    "\"paperclip.bridge.prefix\":\"psb:\"}},"
    "{\"Id\":\"a2\",\"Names\":[\"/x\"],\"Labels\":{}},"
    "{\"Id\":\"a3\",\"Names\":[\"/psb-pc-env-env-123\"],"
    "\"Labels\":{\"paperclip.bridge.lease\":\"pc-env-env-123\"}},"
    "{\"Id\":\"a4\",\"Labels\":{\"paperclip.bridge.lease\":\"nameless\"}},"
    "{\"Id\":\"a5\",\"Names\":[\"psb-pc-probe-1747000000000-1a2b3c4d\"],"
    "\"Labels\":{\"paperclip.bridge.lease\":"
    "\"pc-probe-1747000000000-1a2b3c4d\"}}]";

static const char  *psb_names[PSB_NCONTAINERS] = {
    "psb-pc-run-1-abcd1234", "psb-pc-env-env-123",
    "psb-pc-probe-1747000000000-1a2b3c4d"
};


#define PSB_ORPHAN   1
#define PSB_SCAN     2
#define PSB_FORGET   3
#define PSB_INCR     4
#define PSB_LOCK     5
#define PSB_MARKER   6
#define PSB_MARKSET  7
#define PSB_HGETALL  8
#define PSB_NODE     9
#define PSB_ADOPT   10


static void
psb_pending(ngx_http_sandbox_bridge_redis_pt handler, void *data,
    ngx_uint_t kind)
{
    psb_fuzz_assert(!psb.done, "a command after the pass ended");
    psb_fuzz_assert(psb.handler == NULL && psb.call == NULL,
                    "two steps pending");

    psb.handler = handler;
    psb.data = data;
    psb.kind = kind;
    psb.commands++;
}


ngx_int_t
ngx_http_sandbox_bridge_redis_command(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_http_request_t *r,
    ngx_http_sandbox_bridge_redis_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    u_char  buf[512], *e;

    if (r == NULL) {
        /* best effort, no reply wanted: an exec record's removal */
        e = ngx_snprintf(buf, sizeof(buf), "%Vexec:{", &mcf->redis_prefix);

        psb_fuzz_assert(argc == 3 && argvlen[0] == 4
                        && ngx_memcmp(argv[0], "HDEL", 4) == 0
                        && argvlen[1] > (size_t) (e - buf)
                        && ngx_memcmp(argv[1], buf, e - buf) == 0
                        && argvlen[2] == NGX_HTTP_SANDBOX_BRIDGE_MARKER_LEN,
                        "bad record removal %.*s", (int) argvlen[0],
                        argv[0]);
        return NGX_OK;
    }

    psb_fuzz_assert(r == psb.r && data == psb.rp, "foreign request");

    e = ngx_snprintf(buf, sizeof(buf), "%Vdeployment:{%s}",
                     &mcf->redis_prefix, PSB_HOST);

    if (argvlen[0] == 5 && ngx_memcmp(argv[0], "GETEX", 5) == 0) {
        psb_fuzz_assert(psb.listed == 1 && psb.list_fails == 0 && argc == 4
                        && psb.pass_len
                        && psb_fuzz_eq(argv[1], argvlen[1], buf, e - buf)
                        && psb_fuzz_eq(argv[2], argvlen[2], "PX", 2)
                        && psb_fuzz_eq(argv[3], argvlen[3], "604800000", 9),
                        "bad marker GETEX %.*s", (int) argvlen[1], argv[1]);

        psb_pending(handler, data, PSB_MARKER);

        return NGX_OK;
    }

    if (argvlen[0] == 3 && ngx_memcmp(argv[0], "SET", 3) == 0
        && psb_fuzz_eq(argv[1], argvlen[1], buf, e - buf))
    {
        psb_fuzz_assert(psb.adopting && argc == 6
                        && psb_fuzz_eq(argv[3], argvlen[3], "NX", 2),
                        "the marker is set outside adoption");

        psb_pending(handler, data, PSB_MARKSET);

        return NGX_OK;
    }

    if (argvlen[0] == 7 && ngx_memcmp(argv[0], "HGETALL", 7) == 0) {
        e = ngx_snprintf(buf, sizeof(buf), "%Vexec:{", &mcf->redis_prefix);

        psb_fuzz_assert(argc == 2 && argvlen[1] > (size_t) (e - buf)
                        && ngx_memcmp(argv[1], buf, e - buf) == 0,
                        "bad HGETALL %.*s", (int) argvlen[1], argv[1]);

        psb_pending(handler, data, PSB_HGETALL);

        return NGX_OK;
    }

    if (argvlen[0] == 6 && ngx_memcmp(argv[0], "EXISTS", 6) == 0) {
        e = ngx_snprintf(buf, sizeof(buf), "%Vnode:{", &mcf->redis_prefix);

        psb_fuzz_assert(argc == 2 && argvlen[1] > (size_t) (e - buf)
                        && ngx_memcmp(argv[1], buf, e - buf) == 0,
                        "bad EXISTS %.*s", (int) argvlen[1], argv[1]);

        psb_pending(handler, data, PSB_NODE);

        return NGX_OK;
    }

    e = ngx_snprintf(buf, sizeof(buf), "%Vreaper:pass:{%s}",
                     &mcf->redis_prefix, PSB_HOST);

    if (argvlen[0] == 3 && ngx_memcmp(argv[0], "SET", 3) == 0
        && psb_fuzz_eq(argv[1], argvlen[1], buf, e - buf))
    {
        psb_fuzz_assert(psb.listed == 1 && psb.list_fails == 0 && argc == 6
                        && psb_fuzz_eq(argv[2], argvlen[2], psb.rp->listed_at,
                                       psb.rp->listed_len)
                        && psb.rp->listed_len > 0
                        && psb_fuzz_eq(argv[3], argvlen[3], "PX", 2)
                        && psb_fuzz_eq(argv[4], argvlen[4], "604800000", 9)
                        && psb_fuzz_eq(argv[5], argvlen[5], "GET", 3),
                        "bad pass SET %.*s", (int) argvlen[1], argv[1]);

        psb_pending(handler, data, PSB_INCR);

        return NGX_OK;
    }

    if (argvlen[0] == 3 && ngx_memcmp(argv[0], "SET", 3) == 0) {
        e = ngx_snprintf(buf, sizeof(buf), "%Vreaper:lock:{%s}",
                         &mcf->redis_prefix, PSB_HOST);

        psb_fuzz_assert(psb.commands == 0 && argc == 6
                        && psb_fuzz_eq(argv[1], argvlen[1], buf, e - buf)
                        && psb_fuzz_eq(argv[2], argvlen[2],
                                       psb_worker.data,
                                       psb_worker.len)
                        && psb_fuzz_eq(argv[3], argvlen[3], "NX", 2)
                        && psb_fuzz_eq(argv[4], argvlen[4], "PX", 2),
                        "bad lock: SET %.*s", (int) argvlen[1], argv[1]);

        e = ngx_sprintf(buf, "%M", mcf->reaper_interval);

        psb_fuzz_assert(psb_fuzz_eq(argv[5], argvlen[5], buf, e - buf),
                        "lock PX %.*s", (int) argvlen[5], argv[5]);

        psb_pending(handler, data, PSB_LOCK);

        return NGX_OK;
    }

    psb_fuzz_assert(argc == 6 && argvlen[0] == 4
                    && ngx_memcmp(argv[0], "SCAN", 4) == 0,
                    "unexpected command %.*s", (int) argvlen[0], argv[0]);

    psb.scans++;

    psb_fuzz_assert(psb.scans <= NGX_HTTP_SANDBOX_BRIDGE_SCAN_MAX,
                    "%lu SCANs", (unsigned long) psb.scans);

    if (psb.scans == 1) {
        psb_fuzz_assert(argvlen[1] == 1 && argv[1][0] == '0',
                        "the first SCAN does not start at 0");

    } else if (psb.cursor_len == 0) {
        /* an empty cursor (no real Redis sends one) starts over at 0 */
        psb_fuzz_assert(argvlen[1] == 1 && argv[1][0] == '0',
                        "SCAN after an empty cursor does not restart at 0");

    } else {
        psb_fuzz_assert(psb_fuzz_eq(argv[1], argvlen[1], psb.cursor,
                                    psb.cursor_len),
                        "SCAN cursor %.*s, Redis said %.*s",
                        (int) argvlen[1], argv[1], (int) psb.cursor_len,
                        psb.cursor);
    }

    /* "psb:" has no glob characters */
    e = ngx_snprintf(buf, sizeof(buf), "%Vlease:{*}", &mcf->redis_prefix);

    psb_fuzz_assert(argvlen[2] == 5 && ngx_memcmp(argv[2], "MATCH", 5) == 0
                    && psb_fuzz_eq(argv[3], argvlen[3], buf, e - buf)
                    && argvlen[4] == 5 && ngx_memcmp(argv[4], "COUNT", 5) == 0
                    && argvlen[5] == 3 && ngx_memcmp(argv[5], "500", 3) == 0,
                    "bad SCAN arguments");

    psb_pending(handler, data, PSB_SCAN);

    return NGX_OK;
}


ngx_int_t
ngx_http_sandbox_bridge_redis_script(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_http_request_t *r,
    ngx_uint_t script, ngx_http_sandbox_bridge_redis_pt handler, void *data,
    int nkeys, int argc, const char **argv, const size_t *argvlen)
{
    ngx_str_t                            *want, key;
    ngx_http_sandbox_bridge_reap_item_t  *item;

    psb_fuzz_assert(r == psb.r && data == psb.rp, "foreign request");

    if (script == NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_ORPHAN
        || script == NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_ADOPT)
    {
        /* the next listed container, in order, under its lease key */
        psb_fuzz_assert(psb.judged < psb.rp->containers.nelts
                        && (script == NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_ADOPT)
                           == (psb.adopting != 0),
                        "%s out of turn",
                        psb.adopting ? "ORPHAN" : "ADOPT");

        item = (ngx_http_sandbox_bridge_reap_item_t *)
               psb.rp->containers.elts + psb.judged++;

        psb_fuzz_assert(ngx_http_sandbox_bridge_lease_key(r->pool, mcf,
                                                          &item->id, &key)
                        == NGX_OK
                        && psb_fuzz_eq(argv[0], argvlen[0], key.data,
                                       key.len)
                        && nkeys == 2,
                        "%s of %.*s", psb.adopting ? "ADOPT" : "ORPHAN",
                        (int) argvlen[0], argv[0]);

        psb_pending(handler, data,
                    psb.adopting ? PSB_ADOPT : PSB_ORPHAN);

        return NGX_OK;
    }

    psb_fuzz_assert(script == NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_FORGET
                    && nkeys == 1 && argc == 4,
                    "unexpected script %lu", (unsigned long) script);

    psb_fuzz_assert(psb.forgets < psb.nstale, "FORGET of a key the "
                    "reference did not find stale");

    want = &psb.stale[psb.forgets++];

    psb_fuzz_assert(psb_fuzz_eq(argv[0], argvlen[0], want->data, want->len),
                    "FORGET %.*s, want %.*s", (int) argvlen[0], argv[0],
                    (int) want->len, want->data);

    psb_fuzz_assert(psb_fuzz_eq(argv[1], argvlen[1], psb.rp->listed_at,
                                psb.rp->listed_len)
                    && psb.rp->listed_len > 0,
                    "FORGET with another listing time");

    psb_fuzz_assert(psb_fuzz_eq(argv[2], argvlen[2], PSB_HOST,
                                sizeof(PSB_HOST) - 1)
                    && psb_fuzz_eq(argv[3], argvlen[3], psb.pass,
                                   psb.pass_len),
                    "FORGET for host %.*s, pass %.*s", (int) argvlen[2],
                    argv[2], (int) argvlen[3], argv[3]);

    psb_pending(handler, data, PSB_FORGET);

    return NGX_OK;
}


ngx_int_t
ngx_http_sandbox_bridge_docker(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_call_t *call, ngx_uint_t method, ngx_uint_t next,
    ngx_str_t *location, const char *fmt, ...)
{
    u_char      *e, *q;
    va_list      args;
    ngx_str_t   *name;
    u_char       uri[1024], buf[256];

    psb_fuzz_assert(op == &psb.rp->op && call == &psb.rp->call
                    && !psb.done, "foreign Docker call");
    psb_fuzz_assert(psb.handler == NULL && psb.call == NULL,
                    "two steps pending");
    psb_fuzz_assert(psb_fuzz_eq(location->data, location->len, PSB_HOST,
                                sizeof(PSB_HOST) - 1),
                    "Docker call to another host");

    va_start(args, fmt);
    e = ngx_vslprintf(uri, uri + sizeof(uri), fmt, args);
    va_end(args);

    call->op = op;
    call->done = 0;
    call->status = 0;
    call->len = 0;
    call->truncated = 0;

    if (method == NGX_HTTP_GET) {
        /* the listing, filtered on this deployment's prefix label */
        q = (u_char *) "/containers/json?all=1&filters="
            "%7B%22label%22%3A%5B%22paperclip.bridge.prefix%3Dpsb%3A"
            "%22%5D%7D";

        psb_fuzz_assert(psb.listed == 0 && psb.commands == 1
                        && psb_fuzz_eq(uri, e - uri, q, ngx_strlen(q)),
                        "listing %.*s", (int) (e - uri), uri);

        psb.listed++;

        if (psb.list_fails) {
            call->status = 500;

        } else {
            call->status = NGX_HTTP_OK;
            call->body = (u_char *) psb_listing;
            call->len = sizeof(psb_listing) - 1;
        }

    } else {
        psb_fuzz_assert(method == NGX_HTTP_DELETE && psb.orphan_one == 1
                        && !psb.adopting && psb.judged >= 1,
                        "a container is removed without ORPHAN's 1");

        name = &((ngx_http_sandbox_bridge_reap_item_t *)
                 psb.rp->containers.elts)[psb.judged - 1].name;

        q = ngx_snprintf(buf, sizeof(buf), "/containers/%V?force=true&v=true",
                         name);

        psb_fuzz_assert(psb_fuzz_eq(uri, e - uri, buf, q - buf),
                        "removes %.*s", (int) (e - uri), uri);

        psb.orphan_one = 0;
        psb.docker++;
        call->status = NGX_HTTP_NO_CONTENT;
    }

    psb.call = call;

    op->state = next;
    op->pending++;

    return NGX_OK;
}


json_t *
ngx_http_sandbox_bridge_docker_reply(ngx_http_sandbox_bridge_call_t *call)
{
    if (call->len == 0 || call->truncated) {
        return NULL;
    }

    return json_loadb((char *) call->body, call->len, JSON_DECODE_ANY, NULL);
}


/* postconfiguration: this harness's Docker needs no filters */

ngx_int_t
ngx_http_sandbox_bridge_docker_init(ngx_conf_t *cf)
{
    return NGX_OK;
}


/* an orphaned command's kill: a background job in the module */

ngx_int_t
ngx_http_sandbox_bridge_kill(ngx_http_sandbox_bridge_loc_conf_t *lcf,
    ngx_str_t *location, ngx_str_t *container, u_char *marker,
    ngx_str_t *stdin_path)
{
    ngx_uint_t  i;

    psb_fuzz_assert(psb_fuzz_eq(location->data, location->len, PSB_HOST,
                                sizeof(PSB_HOST) - 1)
                    && marker != NULL && stdin_path == NULL,
                    "a kill elsewhere or without a marker");

    for (i = 0; i < PSB_NCONTAINERS; i++) {
        if (psb_fuzz_eq(container->data, container->len, psb_names[i],
                        ngx_strlen(psb_names[i])))
        {
            break;
        }
    }

    psb_fuzz_assert(i < PSB_NCONTAINERS, "a kill in an unlisted container");

    psb.kills++;

    return NGX_OK;
}


/* merge: no "internal" check of Docker locations here */

ngx_int_t
ngx_http_sandbox_bridge_docker_note(ngx_conf_t *cf)
{
    return NGX_OK;
}


/* the pass's end (a background job's op->end) */

static void
psb_end(ngx_http_sandbox_bridge_op_t *op)
{
    psb_fuzz_assert(op == &psb.rp->op, "ends a foreign flow");
    psb_fuzz_assert(!psb.done, "the pass ended twice");
    psb_fuzz_assert(psb.handler == NULL && psb.call == NULL,
                    "the pass ended with a step pending");

    psb.done = 1;
}


/* the reference: SCAN replies -> stale keys, as the reaper must find them */

static void
psb_ref_scanned(redisReply *reply)
{
    size_t        i, j, plen;
    ngx_str_t     id;
    redisReply   *k;

    free(psb.cursor);
    psb.cursor = psb_fuzz_dup((u_char *) reply->element[0]->str,
                              reply->element[0]->len);
    psb.cursor_len = reply->element[0]->len;

    plen = psb_fuzz_mcf->redis_prefix.len + sizeof("lease:{") - 1;

    for (i = 0; i < reply->element[1]->elements; i++) {
        k = reply->element[1]->element[i];

        if (k->type != REDIS_REPLY_STRING || k->len <= plen + 1) {
            continue;
        }

        id.data = (u_char *) k->str + plen;
        id.len = k->len - plen - 1;

        for (j = 0; j < PSB_NCONTAINERS; j++) {
            if (psb_fuzz_eq(id.data, id.len, psb_ids[j],
                            ngx_strlen(psb_ids[j])))
            {
                break;
            }
        }

        if (j < PSB_NCONTAINERS || psb.nstale >= PSB_MAX_STALE) {
            continue;
        }

        psb.stale[psb.nstale].data = psb_fuzz_dup((u_char *) k->str, k->len);
        psb.stale[psb.nstale].len = k->len;
        psb.nstale++;
    }
}


/*
 * hiredis 0.14 allocates the element vector of "*<n>" before any element
 * has arrived (calloc(n, 8)), and takes "*-<n>" for n > 1 as a huge size:
 * that is the library trusting its server, not the module, so inputs that
 * declare arrays of more than 4096 elements, or negative ones other than
 * the nil "*-1", are skipped.
 */

static ngx_uint_t
psb_resp_sane(const u_char *p, size_t len)
{
    size_t      i, n;
    ngx_uint_t  neg;

    for (i = 0; i < len; i++) {
        if (p[i] != '*') {
            continue;
        }

        neg = (i + 1 < len && p[i + 1] == '-');

        for (i += 1 + neg, n = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++)
        {
            n = n * 10 + (p[i] - '0');

            if (n > 4096) {
                return 0;
            }
        }

        if (neg && n != 1) {
            return 0;
        }

        i--;
    }

    return 1;
}


/* a Docker call is done: call_done() and the wake nginx would run */

static void
psb_docker_done(void)
{
    ngx_http_sandbox_bridge_call_t  *call;

    while (psb.call && !psb.done) {
        call = psb.call;
        psb.call = NULL;

        call->done = 1;

        if (call->op->pending) {
            call->op->pending--;
        }

        ngx_http_sandbox_bridge_wake(psb.r);
    }
}


/* one reply to the pass's pending command */

static void
psb_deliver(redisReply *reply)
{
    ngx_uint_t                         kind, scan_ok;
    ngx_http_sandbox_bridge_redis_pt   handler;

    psb_fuzz_assert(psb.rp->op.pending == 1,
                    "pending %lu with one command out",
                    (unsigned long) psb.rp->op.pending);

    handler = psb.handler;
    kind = psb.kind;
    psb.handler = NULL;

    if (kind == PSB_ORPHAN) {
        psb.orphan_one = (reply && reply->type == REDIS_REPLY_INTEGER
                          && reply->integer == 1);
    }

    if (kind == PSB_MARKER) {
        /* no marker: records are rebuilt, nothing is removed */
        psb.adopting = (reply && reply->type == REDIS_REPLY_NIL);
    }

    /* the previous pass, "0" when none; anything else ends the pass */
    if (kind == PSB_INCR && reply
        && (reply->type == REDIS_REPLY_NIL
            || (reply->type == REDIS_REPLY_STRING && reply->len == 0)))
    {
        psb.pass_len = ngx_cpymem(psb.pass, "0", 1) - psb.pass;

    } else if (kind == PSB_INCR && reply
               && reply->type == REDIS_REPLY_STRING
               && reply->len < sizeof(psb.pass))
    {
        psb.pass_len = ngx_cpymem(psb.pass, reply->str, reply->len)
                       - psb.pass;
    }

    scan_ok = (kind == PSB_SCAN && reply && reply->type == REDIS_REPLY_ARRAY
               && reply->elements == 2
               && reply->element[0]->type == REDIS_REPLY_STRING
               && reply->element[1]->type == REDIS_REPLY_ARRAY);

    if (scan_ok) {
        psb_ref_scanned(reply);
    }

    handler(psb.r, psb.data, reply);

    psb_docker_done();

    if (kind == PSB_SCAN && !scan_ok) {
        psb_fuzz_assert(psb.done, "a bad SCAN reply did not end the pass");
    }

    if (kind == PSB_LOCK
        && (reply == NULL || reply->type != REDIS_REPLY_STATUS))
    {
        psb_fuzz_assert(psb.done && psb.listed == 0,
                        "the pass goes on without the lock");
    }

    if (psb.list_fails) {
        psb_fuzz_assert(psb.done || psb.handler == NULL
                        || psb.kind == PSB_LOCK,
                        "a failed listing does not end the pass");
    }

    psb_fuzz_assert(psb.rp->op.pending == ((psb.handler || psb.call) ? 1 : 0),
                    "pending %lu, %s step out",
                    (unsigned long) psb.rp->op.pending,
                    psb.handler ? "one" : "no");

    psb_fuzz_assert(psb.done || psb.handler,
                    "the pass neither waits nor ended");
}


/* lease_fields() against the reference */

static void
psb_check_fields(ngx_pool_t *pool, redisReply *reply)
{
    size_t                            i;
    ngx_int_t                         rc;
    ngx_uint_t                        f;
    ngx_str_t                        *got, want[5];
    redisReply                       *k, *v;
    ngx_http_sandbox_bridge_lease_t   lease;

    static const char  *names[] = {
        "container", "docker", "cred", "cwd", "state"
    };

    ngx_memzero(&lease, sizeof(lease));
    ngx_memzero(want, sizeof(want));

    rc = ngx_http_sandbox_bridge_lease_fields(pool, reply, &lease);

    for (i = 0; i + 1 < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        for (f = 0; f < 5; f++) {
            if (psb_fuzz_eq(k->str, k->len, names[f], ngx_strlen(names[f])))
            {
                want[f].data = (u_char *) v->str;
                want[f].len = v->len;
            }
        }
    }

    psb_fuzz_assert((rc == NGX_OK) == (want[0].len > 0),
                    "lease_fields returned %ld", (long) rc);

    for (f = 0; f < 5; f++) {
        got = (f == 0) ? &lease.container : (f == 1) ? &lease.docker
              : (f == 2) ? &lease.cred : (f == 3) ? &lease.cwd
              : &lease.state;

        if (want[f].data == NULL) {
            psb_fuzz_assert(got->data == NULL && got->len == 0,
                            "lease %s set from nothing", names[f]);
            continue;
        }

        psb_fuzz_assert(psb_fuzz_eq(got->data, got->len, want[f].data,
                                    want[f].len)
                        && got->data != want[f].data
                        && got->data[got->len] == '\0',
                        "lease %s is not a terminated copy of the last "
                        "\"%s\" value", names[f], names[f]);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    int                                   rc;
    void                                 *reply;
    size_t                                off, n;
    uint32_t                              seed;
    ngx_uint_t                            i, nulls;
    ngx_pool_t                           *pool;
    redisReader                          *rd;
    ngx_http_sandbox_bridge_ctx_t        *ctx;
    ngx_http_sandbox_bridge_reap_t       *rp;
    ngx_http_sandbox_bridge_reap_item_t  *item;

    psb_fuzz_init();

    if (!psb_resp_sane(in, size)) {
        return 0;
    }

    /* what reaper.c keeps per worker */
    ngx_str_set(&psb_worker, "fuzz:1");

    for (i = 0; i < psb.nstale; i++) {
        free(psb.stale[i].data);
    }

    free(psb.cursor);

    ngx_memzero(&psb, sizeof(psb));

    psb.list_fails = (size % 8 == 7);

    /* the pass's request and op, as reap_start() sets them up */

    pool = psb_fuzz_pool();

    psb.r = psb_fuzz_request(pool, NGX_HTTP_GET, (u_char *) "/", 1);

    ctx = ngx_http_sandbox_bridge_get_ctx(psb.r);
    rp = ngx_http_sandbox_bridge_op_create(psb.r,
                                       sizeof(ngx_http_sandbox_bridge_reap_t),
                                       ngx_http_sandbox_bridge_reap);

    psb_fuzz_assert(ctx != NULL && rp != NULL
                    && ngx_array_init(&rp->containers, pool, 16,
                                  sizeof(ngx_http_sandbox_bridge_reap_item_t))
                       == NGX_OK
                    && ngx_array_init(&rp->stale, pool, 16, sizeof(ngx_str_t))
                       == NGX_OK
                    && ngx_array_init(&rp->execs, pool, 16,
                                  sizeof(ngx_http_sandbox_bridge_reap_exec_t))
                       == NGX_OK, "out of memory");

    rp->mcf = psb_fuzz_mcf;
    rp->worker = &psb_worker;
    rp->running = &psb_running;
    ngx_str_set(&rp->host, PSB_HOST);
    ngx_str_set(&rp->location, PSB_HOST);
    rp->op.end = psb_end;
    ctx->op = &rp->op;
    psb.rp = rp;

    ngx_http_sandbox_bridge_reap(&rp->op);

    psb_fuzz_assert(psb.handler && psb.kind == PSB_LOCK,
                    "the pass does not start with the lock");

    /* the replies, from RESP bytes fed in pieces */

    rd = redisReaderCreate();
    psb_fuzz_assert(rd != NULL, "out of memory");

    seed = (uint32_t) size * 2654435761u + 1;
    rc = REDIS_OK;

    for (off = 0; off < size && rc == REDIS_OK; off += n) {
        n = 1 + psb_fuzz_rand(&seed) % 48;
        n = ngx_min(n, size - off);

        if (redisReaderFeed(rd, (const char *) in + off, n) != REDIS_OK) {
            break;
        }

        for ( ;; ) {
            reply = NULL;
            rc = redisReaderGetReply(rd, &reply);

            if (rc != REDIS_OK || reply == NULL) {
                break;
            }

            if (((redisReply *) reply)->type == REDIS_REPLY_ARRAY) {
                psb_check_fields(pool, reply);
            }

            if (psb.handler) {
                psb_deliver(reply);
            }

            freeReplyObject(reply);
        }
    }

    redisReaderFree(rd);

    /* Redis goes away: every pending command fails, the pass must end */

    for (nulls = 0; psb.handler && nulls < 2 * PSB_MAX_STALE + 8; nulls++) {
        psb_deliver(NULL);
    }

    psb_fuzz_assert(psb.done, "the pass does not end without Redis");

    /* what the listing gave: the three leases' containers, in order */
    if (psb.listed && !psb.list_fails) {
        psb_fuzz_assert(rp->containers.nelts == PSB_NCONTAINERS,
                        "%lu containers listed",
                        (unsigned long) rp->containers.nelts);

        item = rp->containers.elts;

        for (i = 0; i < PSB_NCONTAINERS; i++) {
            psb_fuzz_assert(psb_fuzz_eq(item[i].id.data, item[i].id.len,
                                        psb_ids[i], ngx_strlen(psb_ids[i]))
                            && psb_fuzz_eq(item[i].name.data,
                                           item[i].name.len, psb_names[i],
                                           ngx_strlen(psb_names[i])),
                            "listed container %lu", (unsigned long) i);
        }

    } else {
        psb_fuzz_assert(psb.forgets == 0 && psb.scans == 0,
                        "forgets without a complete listing");
    }

    /* what reap_cleanup() does when the pass's pool goes */
    json_decref(rp->list);
    rp->list = NULL;

    ngx_destroy_pool(pool);

    return 0;
}
