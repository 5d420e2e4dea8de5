
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_reaper.h"
#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_lease.h"
#include "ngx_http_sandbox_bridge_util.h"


/* work per pass is bounded; the next pass continues */
#define NGX_HTTP_SANDBOX_BRIDGE_REAP_MAX   64
#define NGX_HTTP_SANDBOX_BRIDGE_SCAN_MAX   32


typedef struct {
    ngx_str_t                             id;
    ngx_str_t                             name;
} ngx_http_sandbox_bridge_reap_item_t;


typedef struct {
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    ngx_http_sandbox_bridge_call_t        call;
    ngx_array_t                           containers;
    ngx_uint_t                            next;
    ngx_uint_t                            removed;
    ngx_uint_t                            forgotten;
    ngx_uint_t                            scans;
    ngx_str_t                             cursor;
    ngx_array_t                           stale;
    u_char                                listed_at[NGX_INT64_LEN];
    size_t                                listed_len;
} ngx_http_sandbox_bridge_reap_t;


static void ngx_http_sandbox_bridge_reaper_handler(ngx_event_t *ev);
static void ngx_http_sandbox_bridge_reaper_locked(ngx_http_request_t *r,
    void *data, redisReply *reply);
static void ngx_http_sandbox_bridge_reaper_start(
    ngx_http_sandbox_bridge_main_conf_t *mcf);
static void ngx_http_sandbox_bridge_reaper_listed(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_reaper_check(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_reaper_exists(ngx_http_request_t *r,
    void *data, redisReply *reply);
static void ngx_http_sandbox_bridge_reaper_removed(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_reaper_scan(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_reaper_scanned(ngx_http_request_t *r,
    void *data, redisReply *reply);
static void ngx_http_sandbox_bridge_reaper_forget(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_reaper_forgot(ngx_http_request_t *r,
    void *data, redisReply *reply);
static void ngx_http_sandbox_bridge_reaper_done(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_reaper_cleanup(void *data);
static void ngx_http_sandbox_bridge_reaper_arm(
    ngx_http_sandbox_bridge_main_conf_t *mcf);


ngx_int_t
ngx_http_sandbox_bridge_reaper_init(ngx_cycle_t *cycle,
    ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    u_char  *p;

    mcf->worker_id.data = ngx_pnalloc(cycle->pool,
                                      cycle->hostname.len + NGX_INT_T_LEN + 2);
    if (mcf->worker_id.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(mcf->worker_id.data, "%V:%P", &cycle->hostname, ngx_pid);
    mcf->worker_id.len = p - mcf->worker_id.data;

    mcf->reaper_ev.handler = ngx_http_sandbox_bridge_reaper_handler;
    mcf->reaper_ev.data = mcf;
    mcf->reaper_ev.log = cycle->log;
    mcf->reaper_ev.cancelable = 1;

    ngx_http_sandbox_bridge_reaper_arm(mcf);

    return NGX_OK;
}


void
ngx_http_sandbox_bridge_reaper_exit(ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    if (mcf->reaper_ev.timer_set) {
        ngx_del_timer(&mcf->reaper_ev);
    }
}


static void
ngx_http_sandbox_bridge_reaper_arm(ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    ngx_msec_t  t;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    /* jitter spreads the workers' attempts on the lock */
    t = mcf->reaper_interval / 2
        + (ngx_msec_t) ngx_random() % (mcf->reaper_interval / 2 + 1);

    ngx_add_timer(&mcf->reaper_ev, t);
}


static void
ngx_http_sandbox_bridge_reaper_handler(ngx_event_t *ev)
{
    ngx_http_sandbox_bridge_main_conf_t  *mcf = ev->data;

    const char  *argv[6];
    size_t       argvlen[6];
    u_char       key[128], px[NGX_INT_T_LEN];

    ngx_http_sandbox_bridge_reaper_arm(mcf);

    if (mcf->reaper_running || mcf->bridges.nelts == 0) {
        return;
    }

    /* one reaper in the whole deployment per interval */
    argv[0] = "SET";
    argvlen[0] = 3;
    argv[1] = (char *) key;
    argvlen[1] = ngx_snprintf(key, sizeof(key), "%Vreaper:lock",
                              &mcf->redis_prefix) - key;
    argv[2] = (char *) mcf->worker_id.data;
    argvlen[2] = mcf->worker_id.len;
    argv[3] = "NX";
    argvlen[3] = 2;
    argv[4] = "PX";
    argvlen[4] = 2;
    argv[5] = (char *) px;
    argvlen[5] = ngx_sprintf(px, "%M", mcf->reaper_interval) - px;

    (void) ngx_http_sandbox_bridge_redis_command(mcf, NULL,
                                         ngx_http_sandbox_bridge_reaper_locked,
                                         mcf, 6, argv, argvlen);
}


static void
ngx_http_sandbox_bridge_reaper_locked(ngx_http_request_t *r, void *data,
    redisReply *reply)
{
    ngx_http_sandbox_bridge_main_conf_t  *mcf = data;

    if (reply == NULL || reply->type != REDIS_REPLY_STATUS) {
        /* another worker holds the lock, or Redis is down */
        return;
    }

    ngx_http_sandbox_bridge_reaper_start(mcf);
}


static void
ngx_http_sandbox_bridge_reaper_start(ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    ngx_str_t                            uri, args;
    ngx_pool_cleanup_t                  *cln;
    ngx_http_request_t                  *r;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_reap_t      *rp;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf, **bridges;
    u_char                               filter[256];

    bridges = mcf->bridges.elts;
    lcf = bridges[0];

    if (lcf->docker_location.len == 0) {
        return;
    }

    r = ngx_http_sandbox_bridge_fake_request(lcf);
    if (r == NULL) {
        return;
    }

    ctx = ngx_http_sandbox_bridge_get_ctx(r);
    rp = ngx_pcalloc(r->pool, sizeof(ngx_http_sandbox_bridge_reap_t));

    if (ctx == NULL || rp == NULL
        || ngx_array_init(&rp->containers, r->pool, 16,
                          sizeof(ngx_http_sandbox_bridge_reap_item_t))
           != NGX_OK
        || ngx_array_init(&rp->stale, r->pool, 16, sizeof(ngx_str_t))
           != NGX_OK)
    {
        ngx_http_sandbox_bridge_fake_request_free(r);
        return;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        ngx_http_sandbox_bridge_fake_request_free(r);
        return;
    }

    /* however the pass ends, the next one may start */
    cln->handler = ngx_http_sandbox_bridge_reaper_cleanup;
    cln->data = mcf;

    rp->mcf = mcf;
    rp->lcf = lcf;
    ctx->op = rp;
    mcf->reaper_running = 1;

    /* every container this deployment labelled, running or not */
    ngx_str_set(&uri, "/containers/json");

    args.data = filter;
    args.len = ngx_snprintf(filter, sizeof(filter),
                            "all=1&filters=%%7B%%22label%%22%%3A%%5B%%22"
                            "paperclip.bridge.prefix%%3D%V%%22%%5D%%7D",
                            &mcf->redis_prefix) - filter;

    args.data = ngx_pnalloc(r->pool, args.len);
    if (args.data == NULL) {
        ngx_http_sandbox_bridge_reaper_done(r);
        return;
    }

    ngx_memcpy(args.data, filter, args.len);

    rp->call.limit = 16 * 1024 * 1024;
    rp->listed_len = ngx_http_sandbox_bridge_now_ms(rp->listed_at)
                     - rp->listed_at;

    ctx->resume = ngx_http_sandbox_bridge_reaper_listed;

    if (ngx_http_sandbox_bridge_docker_call(r, &lcf->docker_location,
                                            NGX_HTTP_GET, &uri, &args, NULL,
                                            NULL, 0, &rp->call)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_reaper_done(r);
        return;
    }

    ngx_http_run_posted_requests(r->connection);
}


static void
ngx_http_sandbox_bridge_reaper_listed(ngx_http_request_t *r)
{
    size_t                                i;
    json_t                               *list, *c, *labels, *id, *names;
    ngx_str_t                             s;
    ngx_http_sandbox_bridge_ctx_t        *ctx;
    ngx_http_sandbox_bridge_reap_t       *rp;
    ngx_http_sandbox_bridge_reap_item_t  *item;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    rp = ctx->op;

    if (rp->call.status != NGX_HTTP_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "sandbox bridge: reaper could not list containers "
                      "(%ui)", rp->call.status);
        ngx_http_sandbox_bridge_reaper_done(r);
        return;
    }

    list = ngx_http_sandbox_bridge_docker_reply(&rp->call);

    json_array_foreach(list, i, c) {
        labels = json_object_get(c, "Labels");
        id = json_object_get(labels, "paperclip.bridge.lease");
        names = json_array_get(json_object_get(c, "Names"), 0);

        if (!json_is_string(id) || !json_is_string(names)) {
            continue;
        }

        item = ngx_array_push(&rp->containers);
        if (item == NULL) {
            break;
        }

        s.data = (u_char *) json_string_value(id);
        s.len = json_string_length(id);

        item->id.data = ngx_pstrdup(r->pool, &s);
        item->id.len = s.len;

        /* Names are "/<name>" */
        s.data = (u_char *) json_string_value(names);
        s.len = json_string_length(names);

        if (s.len && s.data[0] == '/') {
            s.data++;
            s.len--;
        }

        item->name.data = ngx_pstrdup(r->pool, &s);
        item->name.len = s.len;

        if (item->id.data == NULL || item->name.data == NULL) {
            rp->containers.nelts--;
            break;
        }
    }

    json_decref(list);

    ngx_http_sandbox_bridge_reaper_check(r);
}


/* a container whose lease record is gone (expired, deleted) is removed */

static void
ngx_http_sandbox_bridge_reaper_check(ngx_http_request_t *r)
{
    ngx_str_t                             key;
    ngx_http_sandbox_bridge_ctx_t        *ctx;
    ngx_http_sandbox_bridge_reap_t       *rp;
    ngx_http_sandbox_bridge_reap_item_t  *item;
    const char                           *argv[2];
    size_t                                argvlen[2];

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    rp = ctx->op;

    if (rp->next >= rp->containers.nelts
        || rp->removed >= NGX_HTTP_SANDBOX_BRIDGE_REAP_MAX)
    {
        ngx_http_sandbox_bridge_reaper_scan(r);
        return;
    }

    item = (ngx_http_sandbox_bridge_reap_item_t *) rp->containers.elts
           + rp->next;

    if (ngx_http_sandbox_bridge_lease_key(r->pool, rp->mcf, &item->id, &key)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_reaper_done(r);
        return;
    }

    argv[0] = "EXISTS";
    argvlen[0] = 6;
    argv[1] = (char *) key.data;
    argvlen[1] = key.len;

    if (ngx_http_sandbox_bridge_redis_command(rp->mcf, r,
                                      ngx_http_sandbox_bridge_reaper_exists,
                                      rp, 2, argv, argvlen)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_reaper_done(r);
        return;
    }

    ctx->pending++;
}


static void
ngx_http_sandbox_bridge_reaper_exists(ngx_http_request_t *r, void *data,
    redisReply *reply)
{
    ngx_str_t                             uri, args;
    ngx_http_sandbox_bridge_ctx_t        *ctx;
    ngx_http_sandbox_bridge_reap_t       *rp = data;
    ngx_http_sandbox_bridge_reap_item_t  *item;

    if (r == NULL) {
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    ctx->pending--;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_sandbox_bridge_reaper_done(r);
        return;
    }

    item = (ngx_http_sandbox_bridge_reap_item_t *) rp->containers.elts
           + rp->next;
    rp->next++;

    if (reply->integer) {
        ngx_http_sandbox_bridge_reaper_check(r);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "sandbox bridge: reaping container \"%V\" of lease \"%V\"",
                  &item->name, &item->id);

    uri.len = sizeof("/containers/") - 1 + item->name.len;
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        ngx_http_sandbox_bridge_reaper_done(r);
        return;
    }

    ngx_sprintf(uri.data, "/containers/%V", &item->name);
    ngx_str_set(&args, "force=true&v=true");

    rp->removed++;
    rp->call.limit = 0;

    ctx->resume = ngx_http_sandbox_bridge_reaper_removed;

    if (ngx_http_sandbox_bridge_docker_call(r, &rp->lcf->docker_location,
                                            NGX_HTTP_DELETE, &uri, &args,
                                            NULL, NULL, 0, &rp->call)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_reaper_done(r);
    }
}


static void
ngx_http_sandbox_bridge_reaper_removed(ngx_http_request_t *r)
{
    ngx_http_sandbox_bridge_reaper_check(r);
}


/* a ready lease record whose container is gone is forgotten */

static void
ngx_http_sandbox_bridge_reaper_scan(ngx_http_request_t *r)
{
    ngx_http_sandbox_bridge_ctx_t  *ctx;
    ngx_http_sandbox_bridge_reap_t *rp;
    const char                     *argv[6];
    size_t                          argvlen[6];
    u_char                          match[128];

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    rp = ctx->op;

    if (rp->scans >= NGX_HTTP_SANDBOX_BRIDGE_SCAN_MAX
        || (rp->scans && rp->cursor.len == 1 && rp->cursor.data[0] == '0'))
    {
        ngx_http_sandbox_bridge_reaper_forget(r);
        return;
    }

    rp->scans++;

    argv[0] = "SCAN";
    argvlen[0] = 4;
    argv[1] = rp->cursor.len ? (char *) rp->cursor.data : "0";
    argvlen[1] = rp->cursor.len ? rp->cursor.len : 1;
    argv[2] = "MATCH";
    argvlen[2] = 5;
    argv[3] = (char *) match;
    argvlen[3] = ngx_snprintf(match, sizeof(match), "%Vlease:{*}",
                              &rp->mcf->redis_prefix) - match;
    argv[4] = "COUNT";
    argvlen[4] = 5;
    argv[5] = "500";
    argvlen[5] = 3;

    if (ngx_http_sandbox_bridge_redis_command(rp->mcf, r,
                                      ngx_http_sandbox_bridge_reaper_scanned,
                                      rp, 6, argv, argvlen)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_reaper_done(r);
        return;
    }

    ctx->pending++;
}


static void
ngx_http_sandbox_bridge_reaper_scanned(ngx_http_request_t *r, void *data,
    redisReply *reply)
{
    size_t                                i, j, plen;
    ngx_str_t                            *stale, id;
    redisReply                           *keys, *k;
    ngx_http_sandbox_bridge_ctx_t        *ctx;
    ngx_http_sandbox_bridge_reap_t       *rp = data;
    ngx_http_sandbox_bridge_reap_item_t  *item;

    if (r == NULL) {
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    ctx->pending--;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        ngx_http_sandbox_bridge_reaper_done(r);
        return;
    }

    rp->cursor.len = reply->element[0]->len;
    rp->cursor.data = ngx_pnalloc(r->pool, rp->cursor.len + 1);
    if (rp->cursor.data == NULL) {
        ngx_http_sandbox_bridge_reaper_done(r);
        return;
    }

    ngx_memcpy(rp->cursor.data, reply->element[0]->str, rp->cursor.len);
    rp->cursor.data[rp->cursor.len] = '\0';

    keys = reply->element[1];
    plen = rp->mcf->redis_prefix.len + sizeof("lease:{") - 1;
    item = rp->containers.elts;

    for (i = 0; i < keys->elements; i++) {
        k = keys->element[i];

        if (k->type != REDIS_REPLY_STRING || k->len <= plen + 1) {
            continue;
        }

        id.data = (u_char *) k->str + plen;
        id.len = k->len - plen - 1;

        for (j = 0; j < rp->containers.nelts; j++) {
            if (item[j].id.len == id.len
                && ngx_strncmp(item[j].id.data, id.data, id.len) == 0)
            {
                break;
            }
        }

        if (j < rp->containers.nelts
            || rp->stale.nelts >= NGX_HTTP_SANDBOX_BRIDGE_REAP_MAX)
        {
            continue;
        }

        stale = ngx_array_push(&rp->stale);
        if (stale == NULL) {
            break;
        }

        stale->len = k->len;
        stale->data = ngx_pnalloc(r->pool, k->len);
        if (stale->data == NULL) {
            rp->stale.nelts--;
            break;
        }

        ngx_memcpy(stale->data, k->str, k->len);
    }

    ngx_http_sandbox_bridge_reaper_scan(r);
}


static void
ngx_http_sandbox_bridge_reaper_forget(ngx_http_request_t *r)
{
    ngx_str_t                      *stale;
    ngx_http_sandbox_bridge_ctx_t  *ctx;
    ngx_http_sandbox_bridge_reap_t *rp;
    const char                     *argv[2];
    size_t                          argvlen[2];

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    rp = ctx->op;

    if (rp->forgotten >= rp->stale.nelts) {
        ngx_http_sandbox_bridge_reaper_done(r);
        return;
    }

    stale = (ngx_str_t *) rp->stale.elts + rp->forgotten++;

    argv[0] = (char *) stale->data;
    argvlen[0] = stale->len;
    argv[1] = (char *) rp->listed_at;
    argvlen[1] = rp->listed_len;

    if (ngx_http_sandbox_bridge_redis_script(rp->mcf, r,
                                       NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_FORGET,
                                       ngx_http_sandbox_bridge_reaper_forgot,
                                       rp, 1, 2, argv, argvlen)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_reaper_done(r);
        return;
    }

    ctx->pending++;
}


static void
ngx_http_sandbox_bridge_reaper_forgot(ngx_http_request_t *r, void *data,
    redisReply *reply)
{
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    if (r == NULL) {
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    ctx->pending--;

    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer) {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "sandbox bridge: forgot a lease whose container "
                      "is gone");
    }

    ngx_http_sandbox_bridge_reaper_forget(r);
}


static void
ngx_http_sandbox_bridge_reaper_done(ngx_http_request_t *r)
{
    ngx_http_sandbox_bridge_fake_request_free(r);
}


static void
ngx_http_sandbox_bridge_reaper_cleanup(void *data)
{
    ngx_http_sandbox_bridge_main_conf_t  *mcf = data;

    mcf->reaper_running = 0;
}
