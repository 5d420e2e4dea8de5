
/*
 * Copyright (C) nginx-sandbox-bridge authors
 *
 * fuzz_redis: Redis replies, as hiredis parses them from arbitrary RESP
 * bytes (fed in random pieces to a redisReader), handed to the module's
 * reply handling:
 *
 *   - ngx_http_sandbox_bridge_lease_fields() (lease.c, the TOUCH script's
 *     HGETALL-style answer) gets every array reply; the lease it fills
 *     must hold NUL-terminated copies of the last "container", "cred",
 *     "cwd" and "state" string pairs, and NGX_OK exactly when a container
 *     was found (reference);
 *
 *   - a whole reaper pass (reaper.c, compiled into this harness with
 *     #include, so its static functions and types are reachable without
 *     changing them) runs on the same replies, in order, each one the
 *     answer to the command the reaper has pending: EXISTS per known
 *     container (0 removes the container through Docker), SCAN with its
 *     cursor until "0" or 32 scans, then the FORGET script for each stale
 *     lease key. Checked: every command's arguments (key format, the
 *     cursor Redis returned, MATCH/COUNT, the listing time), a container
 *     is removed only after EXISTS said 0, the stale keys are exactly those
 *     a reference finds in the SCAN replies (at most 64, none of a known
 *     container), ctx->pending counts the outstanding command, and the
 *     pass ends (reaper_done) exactly once, also when Redis goes away.
 *
 * Redis, Docker and the fake request's free are the harness's stubs below.
 * Inputs declaring huge arrays are skipped (see psb_resp_sane()).
 */


#include "psb_fuzz.h"
#include "ngx_http_sandbox_bridge_lease.h"

/* the reaper itself: its statics become this file's */
#include "ngx_http_sandbox_bridge_reaper.c"


#define PSB_NCONTAINERS  3
#define PSB_MAX_STALE    NGX_HTTP_SANDBOX_BRIDGE_REAP_MAX


static const char  *psb_ids[PSB_NCONTAINERS] = {
    "pc-run-1-abcd1234", "pc-env-env-123", "pc-probe-1747000000000-1a2b3c4d"
};


static struct {
    /* the one command the reaper waits for */
    ngx_http_sandbox_bridge_redis_pt   handler;
    void                              *data;
    ngx_uint_t                         kind;
    ngx_uint_t                         commands;

    ngx_uint_t                         done;
    ngx_uint_t                         docker;
    ngx_uint_t                         scans;
    ngx_uint_t                         forgets;

    /* what the last EXISTS / SCAN answered */
    ngx_int_t                          exists_zero;
    ngx_str_t                          exists_id;
    u_char                            *cursor;
    size_t                             cursor_len;

    /* the reference list of stale keys */
    ngx_str_t                          stale[PSB_MAX_STALE];
    ngx_uint_t                         nstale;

    ngx_http_sandbox_bridge_reap_t    *rp;
    ngx_http_request_t                *r;
} psb;


#define PSB_EXISTS  1
#define PSB_SCAN    2
#define PSB_FORGET  3


static void
psb_pending(ngx_http_sandbox_bridge_redis_pt handler, void *data,
    ngx_uint_t kind)
{
    psb_fuzz_assert(!psb.done, "a command after the pass ended");
    psb_fuzz_assert(psb.handler == NULL, "two commands pending");

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
    u_char                               buf[512], *e;
    ngx_str_t                            key;
    ngx_http_sandbox_bridge_reap_item_t  *item;

    psb_fuzz_assert(r == psb.r && data == psb.rp, "foreign request");

    if (argvlen[0] == 6 && ngx_memcmp(argv[0], "EXISTS", 6) == 0) {
        psb_fuzz_assert(argc == 2 && handler
                        == ngx_http_sandbox_bridge_reaper_exists,
                        "bad EXISTS");

        psb_fuzz_assert(psb.rp->next < psb.rp->containers.nelts,
                        "EXISTS past the containers");

        item = (ngx_http_sandbox_bridge_reap_item_t *)
               psb.rp->containers.elts + psb.rp->next;

        psb_fuzz_assert(ngx_http_sandbox_bridge_lease_key(r->pool, mcf,
                                                          &item->id, &key)
                        == NGX_OK, "lease_key");

        psb_fuzz_assert(psb_fuzz_eq(argv[1], argvlen[1], key.data, key.len),
                        "EXISTS %.*s, want %.*s", (int) argvlen[1], argv[1],
                        (int) key.len, key.data);

        psb.exists_id = item->id;
        psb_pending(handler, data, PSB_EXISTS);

        return NGX_OK;
    }

    psb_fuzz_assert(argc == 6 && argvlen[0] == 4
                    && ngx_memcmp(argv[0], "SCAN", 4) == 0
                    && handler == ngx_http_sandbox_bridge_reaper_scanned,
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
    ngx_str_t  *want;

    psb_fuzz_assert(r == psb.r && data == psb.rp, "foreign request");

    psb_fuzz_assert(script == NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_FORGET
                    && nkeys == 1 && argc == 2
                    && handler == ngx_http_sandbox_bridge_reaper_forgot,
                    "unexpected script %lu", (unsigned long) script);

    psb_fuzz_assert(psb.forgets < psb.nstale, "FORGET of a key the "
                    "reference did not find stale");

    want = &psb.stale[psb.forgets++];

    psb_fuzz_assert(psb_fuzz_eq(argv[0], argvlen[0], want->data, want->len),
                    "FORGET %.*s, want %.*s", (int) argvlen[0], argv[0],
                    (int) want->len, want->data);

    psb_fuzz_assert(psb_fuzz_eq(argv[1], argvlen[1], psb.rp->listed_at,
                                psb.rp->listed_len),
                    "FORGET with another listing time");

    psb_pending(handler, data, PSB_FORGET);

    return NGX_OK;
}


ngx_int_t
ngx_http_sandbox_bridge_docker_call(ngx_http_request_t *r,
    ngx_str_t *location, ngx_uint_t method, ngx_str_t *uri, ngx_str_t *args,
    const char *content_type, ngx_chain_t *body, off_t body_len,
    ngx_http_sandbox_bridge_call_t *call)
{
    u_char     buf[256], *e;
    ngx_uint_t  i;
    ngx_str_t  *name;

    psb_fuzz_assert(r == psb.r && !psb.done, "foreign request");
    psb_fuzz_assert(method == NGX_HTTP_DELETE && psb.exists_zero == 1,
                    "a container is removed although its lease exists");

    name = NULL;

    for (i = 0; i < psb.rp->containers.nelts; i++) {
        if (((ngx_http_sandbox_bridge_reap_item_t *)
             psb.rp->containers.elts)[i].id.data == psb.exists_id.data)
        {
            name = &((ngx_http_sandbox_bridge_reap_item_t *)
                     psb.rp->containers.elts)[i].name;
        }
    }

    psb_fuzz_assert(name != NULL, "no container for the lease");

    e = ngx_snprintf(buf, sizeof(buf), "/containers/%V", name);

    psb_fuzz_assert(psb_fuzz_eq(uri->data, uri->len, buf, e - buf)
                    && args->len == 17
                    && ngx_memcmp(args->data, "force=true&v=true", 17) == 0,
                    "removes %.*s?%.*s", (int) uri->len, uri->data,
                    (int) args->len, args->data);

    psb.exists_zero = 0;
    psb.docker++;

    /* Docker answers at once: the request is woken as ngx_http_* would */
    call->status = NGX_HTTP_NO_CONTENT;
    call->done = 1;

    return NGX_OK;
}


void
ngx_http_sandbox_bridge_fake_request_free(ngx_http_request_t *r)
{
    psb_fuzz_assert(r == psb.r, "frees a foreign request");
    psb_fuzz_assert(!psb.done, "the pass ended twice");
    psb_fuzz_assert(psb.handler == NULL, "the pass ended with a command "
                    "pending");

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


/* one reply to the reaper's pending command */

static void
psb_deliver(redisReply *reply)
{
    ngx_uint_t                         kind, scan_ok;
    ngx_http_sandbox_bridge_ctx_t     *ctx;
    ngx_http_sandbox_bridge_step_pt    step;
    ngx_http_sandbox_bridge_redis_pt   handler;

    ctx = ngx_http_get_module_ctx(psb.r, ngx_http_sandbox_bridge_module);

    psb_fuzz_assert(ctx->pending == 1, "pending %lu with one command out",
                    (unsigned long) ctx->pending);

    handler = psb.handler;
    kind = psb.kind;
    psb.handler = NULL;

    if (kind == PSB_EXISTS) {
        psb.exists_zero = (reply && reply->type == REDIS_REPLY_INTEGER
                           && reply->integer == 0);
    }

    scan_ok = (kind == PSB_SCAN && reply && reply->type == REDIS_REPLY_ARRAY
               && reply->elements == 2
               && reply->element[0]->type == REDIS_REPLY_STRING
               && reply->element[1]->type == REDIS_REPLY_ARRAY);

    if (scan_ok) {
        psb_ref_scanned(reply);
    }

    handler(psb.r, psb.data, reply);

    if (kind == PSB_SCAN && !scan_ok) {
        psb_fuzz_assert(psb.done, "a bad SCAN reply did not end the pass");
    }

    /* a Docker call finished: ngx_http_sandbox_bridge_wake() */
    while (!psb.done && psb.handler == NULL && ctx->pending == 0
           && ctx->resume)
    {
        step = ctx->resume;
        ctx->resume = NULL;
        step(psb.r);
    }

    psb_fuzz_assert(ctx->pending == (psb.handler ? 1 : 0),
                    "pending %lu, %s command out",
                    (unsigned long) ctx->pending,
                    psb.handler ? "one" : "no");

    psb_fuzz_assert(psb.done || psb.handler,
                    "the reaper neither waits nor ended");
}


/* lease_fields() against the reference */

static void
psb_check_fields(ngx_pool_t *pool, redisReply *reply)
{
    size_t                            i;
    ngx_int_t                         rc;
    ngx_uint_t                        f;
    ngx_str_t                        *got, want[4];
    redisReply                       *k, *v;
    ngx_http_sandbox_bridge_lease_t   lease;

    static const char  *names[] = { "container", "cred", "cwd", "state" };

    ngx_memzero(&lease, sizeof(lease));
    ngx_memzero(want, sizeof(want));

    rc = ngx_http_sandbox_bridge_lease_fields(pool, reply, &lease);

    for (i = 0; i + 1 < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        for (f = 0; f < 4; f++) {
            if (psb_fuzz_eq(k->str, k->len, names[f], ngx_strlen(names[f])))
            {
                want[f].data = (u_char *) v->str;
                want[f].len = v->len;
            }
        }
    }

    psb_fuzz_assert((rc == NGX_OK) == (want[0].len > 0),
                    "lease_fields returned %ld", (long) rc);

    for (f = 0; f < 4; f++) {
        got = (f == 0) ? &lease.container : (f == 1) ? &lease.cred
              : (f == 2) ? &lease.cwd : &lease.state;

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
    u_char                                name[128];

    psb_fuzz_init();

    if (!psb_resp_sane(in, size)) {
        return 0;
    }

    for (i = 0; i < psb.nstale; i++) {
        free(psb.stale[i].data);
    }

    free(psb.cursor);

    ngx_memzero(&psb, sizeof(psb));

    /* the reaper's request, as reaper_start() sets it up */

    pool = psb_fuzz_pool();

    psb.r = psb_fuzz_request(pool, NGX_HTTP_GET, (u_char *) "/", 1);

    ctx = ngx_http_sandbox_bridge_get_ctx(psb.r);
    rp = ngx_pcalloc(pool, sizeof(ngx_http_sandbox_bridge_reap_t));

    psb_fuzz_assert(ctx != NULL && rp != NULL
                    && ngx_array_init(&rp->containers, pool, 16,
                                  sizeof(ngx_http_sandbox_bridge_reap_item_t))
                       == NGX_OK
                    && ngx_array_init(&rp->stale, pool, 16, sizeof(ngx_str_t))
                       == NGX_OK, "out of memory");

    rp->mcf = psb_fuzz_mcf;
    rp->lcf = psb_fuzz_lcf;
    rp->listed_len = ngx_http_sandbox_bridge_now_ms(rp->listed_at)
                     - rp->listed_at;
    ctx->op = rp;
    psb.rp = rp;

    /* the containers Docker listed */
    for (i = 0; i < PSB_NCONTAINERS; i++) {
        item = ngx_array_push(&rp->containers);
        psb_fuzz_assert(item != NULL, "out of memory");

        item->id.data = (u_char *) psb_ids[i];
        item->id.len = ngx_strlen(psb_ids[i]);

        item->name.len = ngx_snprintf(name, sizeof(name), "%V%V",
                                      &psb_fuzz_mcf->redis_prefix, &item->id)
                         - name;
        item->name.data = name;
        item->name.data = ngx_pstrdup(pool, &item->name);
        psb_fuzz_assert(item->name.data != NULL, "out of memory");
    }

    ngx_http_sandbox_bridge_reaper_check(psb.r);

    psb_fuzz_assert(psb.handler && psb.kind == PSB_EXISTS,
                    "the pass does not start with EXISTS");

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

    ngx_destroy_pool(pool);

    return 0;
}
