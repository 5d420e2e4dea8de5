
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_health.h"
#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_hosts.h"
#include "ngx_http_sandbox_bridge_store.h"
#include "ngx_http_sandbox_bridge_util.h"
#include "ngx_http_sandbox_bridge_pool.h"


/*
 * GET <prefix>/health (README "Protocol", "Health"): Redis is read from
 * the worker's link while it is alive (no round trip), Docker from the
 * hosts' cached /_ping; the 200 body is kept per worker and location and
 * built again only when the state it shows changes.
 */

typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_HEALTH_START = NGX_HTTP_SANDBOX_BRIDGE_START,
    NGX_HTTP_SANDBOX_BRIDGE_HEALTH_PONG,
    NGX_HTTP_SANDBOX_BRIDGE_HEALTH_PINGED,
    NGX_HTTP_SANDBOX_BRIDGE_HEALTH_COUNTED
} ngx_http_sandbox_bridge_health_state_e;


typedef struct {
    ngx_http_sandbox_bridge_op_t          op;
    ngx_http_sandbox_bridge_ping_t       *pings;
} ngx_http_sandbox_bridge_health_op_t;


/* the last 200 body and its state, one malloc'ed block: key, then body */
typedef struct {
    u_char                               *key;
    size_t                                key_len;
    u_char                               *body;
    size_t                                len;
} ngx_http_sandbox_bridge_health_cache_t;


size_t  ngx_http_sandbox_bridge_health_size =
    sizeof(ngx_http_sandbox_bridge_health_op_t);


static void ngx_http_sandbox_bridge_health_docker(
    ngx_http_sandbox_bridge_health_op_t *ho);
static void ngx_http_sandbox_bridge_health_pinged(
    ngx_http_sandbox_bridge_health_op_t *ho);
static void ngx_http_sandbox_bridge_health_count(
    ngx_http_sandbox_bridge_health_op_t *ho);
static void ngx_http_sandbox_bridge_health_list(
    ngx_http_sandbox_bridge_health_op_t *ho);
static void ngx_http_sandbox_bridge_health_down(
    ngx_http_sandbox_bridge_health_op_t *ho);
static void ngx_http_sandbox_bridge_health_send(
    ngx_http_sandbox_bridge_health_op_t *ho, u_char *key, size_t key_len,
    redisReply *counts);
static json_t *ngx_http_sandbox_bridge_health_body(
    ngx_http_sandbox_bridge_hosts_t *hosts, redisReply *counts);
static ngx_http_sandbox_bridge_health_cache_t *
    ngx_http_sandbox_bridge_health_cache(
    ngx_http_sandbox_bridge_hosts_t *hosts);
static void ngx_http_sandbox_bridge_health_cache_free(void *data);


void
ngx_http_sandbox_bridge_health(ngx_http_sandbox_bridge_op_t *op)
{
    redisReply                           *reply;
    ngx_http_sandbox_bridge_ctx_t        *ctx;
    ngx_http_sandbox_bridge_args_t        args;
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    ngx_http_sandbox_bridge_health_op_t  *ho;

    ho = (ngx_http_sandbox_bridge_health_op_t *) op;

    switch ((ngx_http_sandbox_bridge_health_state_e) op->state) {

    case NGX_HTTP_SANDBOX_BRIDGE_HEALTH_START:
        lcf = ngx_http_get_module_loc_conf(op->request,
                                           ngx_http_sandbox_bridge_module);
        mcf = ngx_http_get_module_main_conf(op->request,
                                            ngx_http_sandbox_bridge_module);

        ctx = ngx_http_get_module_ctx(op->request,
                                      ngx_http_sandbox_bridge_module);
        ctx->docker_host = lcf->docker_location;

        if (ngx_http_sandbox_bridge_redis_alive(mcf)) {
            ngx_http_sandbox_bridge_health_docker(ho);
            return;
        }

        /* connecting, or silent for too long: Redis itself is asked */

        args.argc = 0;
        args.overflow = 0;
        ngx_http_sandbox_bridge_arg_lit(&args, "PING");

        if (ngx_http_sandbox_bridge_redis_step(op, -1,
                                         NGX_HTTP_SANDBOX_BRIDGE_HEALTH_PONG,
                                         0, &args)
            != NGX_OK)
        {
            ngx_http_sandbox_bridge_fail(op,
                                         NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE);
        }

        return;

    case NGX_HTTP_SANDBOX_BRIDGE_HEALTH_PONG:
        reply = op->reply;

        if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
            ngx_http_sandbox_bridge_fail(op,
                                         NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE);
            return;
        }

        ngx_http_sandbox_bridge_health_docker(ho);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_HEALTH_PINGED:
        ngx_http_sandbox_bridge_hosts_pinged(op, ho->pings);
        ngx_http_sandbox_bridge_health_pinged(ho);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_HEALTH_COUNTED:
        ngx_http_sandbox_bridge_health_list(ho);
        return;
    }
}


/* hosts.c's cache: a host up within the last second is not asked again */

static void
ngx_http_sandbox_bridge_health_docker(ngx_http_sandbox_bridge_health_op_t *ho)
{
    ngx_int_t  rc;

    rc = ngx_http_sandbox_bridge_hosts_ping(&ho->op, &ho->pings, 1,
                                       NGX_HTTP_SANDBOX_BRIDGE_HEALTH_PINGED);
    if (rc == NGX_OK) {
        return;
    }

    if (rc == NGX_ERROR) {
        ngx_http_sandbox_bridge_fail(&ho->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_NOMEM);
        return;
    }

    ngx_http_sandbox_bridge_health_pinged(ho);
}


static void
ngx_http_sandbox_bridge_health_pinged(ngx_http_sandbox_bridge_health_op_t *ho)
{
    ngx_http_sandbox_bridge_host_t      *h;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(ho->op.request,
                                       ngx_http_sandbox_bridge_module);

    /* several hosts, or named ones: their leases are counted too */
    if (!lcf->hosts->simple) {
        ngx_http_sandbox_bridge_health_count(ho);
        return;
    }

    h = lcf->hosts->hosts.elts;

    if (!h[0].up) {
        ngx_http_sandbox_bridge_health_down(ho);
        return;
    }

    ngx_http_sandbox_bridge_health_send(ho, (u_char *) "up", 2, NULL);
}


static void
ngx_http_sandbox_bridge_health_count(ngx_http_sandbox_bridge_health_op_t *ho)
{
    ngx_uint_t                            i;
    ngx_http_sandbox_bridge_host_t       *h;
    ngx_http_sandbox_bridge_args_t        args;
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    lcf = ngx_http_get_module_loc_conf(ho->op.request,
                                       ngx_http_sandbox_bridge_module);
    mcf = ngx_http_get_module_main_conf(ho->op.request,
                                        ngx_http_sandbox_bridge_module);

    args.argc = 0;
    args.overflow = 0;

    ngx_http_sandbox_bridge_arg_str(&args, &mcf->redis_prefix);

    h = lcf->hosts->hosts.elts;

    for (i = 0; i < lcf->hosts->hosts.nelts; i++) {
        ngx_http_sandbox_bridge_arg_str(&args, &h[i].name);
    }

    if (ngx_http_sandbox_bridge_redis_step(&ho->op,
                                      NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_HOSTS,
                                      NGX_HTTP_SANDBOX_BRIDGE_HEALTH_COUNTED,
                                      0, &args)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_fail(&ho->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE);
    }
}


/* 200 while some host is up; 503 as of old when none is */

static void
ngx_http_sandbox_bridge_health_list(ngx_http_sandbox_bridge_health_op_t *ho)
{
    u_char                              *key, *p;
    size_t                               size;
    redisReply                          *reply, *n;
    ngx_uint_t                           i, up;
    ngx_http_sandbox_bridge_host_t      *h;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    reply = ho->op.reply;

    lcf = ngx_http_get_module_loc_conf(ho->op.request,
                                       ngx_http_sandbox_bridge_module);

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != lcf->hosts->hosts.nelts)
    {
        ngx_http_sandbox_bridge_fail(&ho->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE);
        return;
    }

    h = lcf->hosts->hosts.elts;
    up = 0;

    for (i = 0; i < lcf->hosts->hosts.nelts; i++) {
        up += h[i].up;
    }

    if (up == 0) {
        ngx_http_sandbox_bridge_health_down(ho);
        return;
    }

    /* the state the body shows: each host's reachability and leases */
    size = lcf->hosts->hosts.nelts * (NGX_INT64_LEN + sizeof(":1;"));

    key = ngx_pnalloc(ho->op.request->pool, size);
    if (key == NULL) {
        ngx_http_sandbox_bridge_fail(&ho->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_NOMEM);
        return;
    }

    p = key;

    for (i = 0; i < lcf->hosts->hosts.nelts; i++) {
        n = reply->element[i];
        p = ngx_sprintf(p, "%ui:%L;", (ngx_uint_t) h[i].up,
                        (int64_t) (n->type == REDIS_REPLY_INTEGER
                                   ? n->integer : 0));
    }

    ngx_http_sandbox_bridge_health_send(ho, key, p - key, reply);
}


/* the first host's own failure, as a single host would say */

static void
ngx_http_sandbox_bridge_health_down(ngx_http_sandbox_bridge_health_op_t *ho)
{
    u_char                          *p;
    ngx_http_sandbox_bridge_ping_t  *pg;
    u_char                           buf[256];

    pg = ho->pings;
    p = buf;

    if (pg && pg->host) {
        p = ngx_http_sandbox_bridge_docker_error(&pg->call, buf, sizeof(buf));
    }

    if (p == buf) {
        ngx_http_sandbox_bridge_fail(&ho->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_NO_HOST);
        return;
    }

    ngx_http_sandbox_bridge_failf(&ho->op, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "driver_unavailable", "%*s", p - buf, buf);
}


/*
 * 200 with the body kept for this state, built first when the state
 * changed; the request gets its own copy (a rebuild may free the kept one
 * while a slow client is still sent the old).
 */

static void
ngx_http_sandbox_bridge_health_send(ngx_http_sandbox_bridge_health_op_t *ho,
    u_char *key, size_t key_len, redisReply *counts)
{
    u_char                                  *p, *block;
    size_t                                   len;
    json_t                                  *body;
    ngx_buf_t                               *b;
    ngx_chain_t                             *cl;
    ngx_http_request_t                      *r;
    ngx_http_sandbox_bridge_loc_conf_t      *lcf;
    ngx_http_sandbox_bridge_health_cache_t  *cache;

    r = ho->op.request;
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    cache = ngx_http_sandbox_bridge_health_cache(lcf->hosts);
    key = ngx_http_sandbox_bridge_pool_health_key(r, key, &key_len);

    if (cache == NULL || key == NULL) {
        ngx_http_sandbox_bridge_fail(&ho->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_NOMEM);
        return;
    }

    if (cache->body == NULL
        || cache->key_len != key_len
        || ngx_memcmp(cache->key, key, key_len) != 0)
    {
        body = ngx_http_sandbox_bridge_pool_health(r,
                   ngx_http_sandbox_bridge_health_body(lcf->hosts, counts));
        p = body ? ngx_http_sandbox_bridge_json_dump(r->pool, body, &len)
                 : NULL;
        json_decref(body);

        block = p ? ngx_alloc(key_len + len, r->connection->log) : NULL;
        if (block == NULL) {
            ngx_http_sandbox_bridge_finalize(&ho->op,
                                             NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_free(cache->key);

        cache->key = block;
        cache->key_len = key_len;
        cache->body = ngx_cpymem(block, key, key_len);
        cache->len = len;
        ngx_memcpy(cache->body, p, len);
    }

    p = ngx_pnalloc(r->pool, cache->len);
    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);

    if (p == NULL || b == NULL || cl == NULL) {
        ngx_http_sandbox_bridge_finalize(&ho->op, NGX_ERROR);
        return;
    }

    b->pos = p;
    b->last = ngx_cpymem(p, cache->body, cache->len);
    b->memory = 1;

    cl->buf = b;
    cl->next = NULL;

    ngx_http_sandbox_bridge_finalize(&ho->op,
                ngx_http_sandbox_bridge_send_body(r, NGX_HTTP_OK, cl,
                                                  cache->len));
}


static json_t *
ngx_http_sandbox_bridge_health_body(ngx_http_sandbox_bridge_hosts_t *hosts,
    redisReply *counts)
{
    json_t                          *list;
    redisReply                      *n;
    ngx_uint_t                       i;
    ngx_http_sandbox_bridge_host_t  *h;

    if (counts == NULL) {
        return json_pack("{s:b,s:s,s:s,s:{s:b,s:b,s:b},"
                         "s:{s:s,s:b},s:{s:s,s:b}}",
                         "ok", 1,
                         "provider", "docker",
                         "bridgeVersion", NGX_HTTP_SANDBOX_BRIDGE_VERSION,
                         "capabilities",
                         "reuseLease", 1,
                         "namedSessions", 1,
                         "previewUrls", 0,
                         "store", "backend", "redis", "reachable", 1,
                         "driver", "name", "docker", "reachable", 1);
    }

    list = json_array();
    h = hosts->hosts.elts;

    for (i = 0; i < hosts->hosts.nelts; i++) {
        n = counts->element[i];

        json_array_append_new(list,
                              json_pack("{s:s%,s:b,s:I}",
                                        "name", (char *) h[i].name.data,
                                        h[i].name.len,
                                        "reachable", (int) h[i].up,
                                        "leases",
                                        (json_int_t)
                                        (n->type == REDIS_REPLY_INTEGER
                                         ? n->integer : 0)));
    }

    return json_pack("{s:b,s:s,s:s,s:{s:b,s:b,s:b},"
                     "s:{s:s,s:b},s:{s:s,s:b},s:o}",
                     "ok", 1,
                     "provider", "docker",
                     "bridgeVersion", NGX_HTTP_SANDBOX_BRIDGE_VERSION,
                     "capabilities",
                     "reuseLease", 1,
                     "namedSessions", 1,
                     "previewUrls", 0,
                     "store", "backend", "redis", "reachable", 1,
                     "driver", "name", "docker", "reachable", 1,
                     "hosts", list);
}


/* made on first use in the worker; its block is freed with the cycle */

static ngx_http_sandbox_bridge_health_cache_t *
ngx_http_sandbox_bridge_health_cache(ngx_http_sandbox_bridge_hosts_t *hosts)
{
    ngx_pool_cleanup_t                      *cln;
    ngx_http_sandbox_bridge_health_cache_t  *cache;

    if (hosts->health) {
        return hosts->health;
    }

    cache = ngx_pcalloc(ngx_cycle->pool,
                        sizeof(ngx_http_sandbox_bridge_health_cache_t));
    if (cache == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(ngx_cycle->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_sandbox_bridge_health_cache_free;
    cln->data = cache;

    hosts->health = cache;

    return cache;
}


static void
ngx_http_sandbox_bridge_health_cache_free(void *data)
{
    ngx_http_sandbox_bridge_health_cache_t  *cache = data;

    if (cache->key) {
        ngx_free(cache->key);
        cache->key = NULL;
        cache->body = NULL;
    }
}
