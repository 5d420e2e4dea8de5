
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_health.h"
#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_hosts.h"
#include "ngx_http_sandbox_bridge_store.h"


/* GET <prefix>/health: Redis and Docker are asked (README "Protocol") */

typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_HEALTH_PING = NGX_HTTP_SANDBOX_BRIDGE_START,
    NGX_HTTP_SANDBOX_BRIDGE_HEALTH_PONG,
    NGX_HTTP_SANDBOX_BRIDGE_HEALTH_PINGED,
    NGX_HTTP_SANDBOX_BRIDGE_HEALTH_HOSTS_PINGED,
    NGX_HTTP_SANDBOX_BRIDGE_HEALTH_COUNTED
} ngx_http_sandbox_bridge_health_state_e;


typedef struct {
    ngx_http_sandbox_bridge_op_t          op;
    ngx_http_sandbox_bridge_call_t        call;
    ngx_http_sandbox_bridge_ping_t       *pings;
} ngx_http_sandbox_bridge_health_op_t;


size_t  ngx_http_sandbox_bridge_health_size =
    sizeof(ngx_http_sandbox_bridge_health_op_t);


/* per worker: the Docker location that answered /_ping, and until when */
static u_char      *ngx_http_sandbox_bridge_driver_ok;
static ngx_msec_t   ngx_http_sandbox_bridge_driver_ok_until;


static void ngx_http_sandbox_bridge_health_ok(
    ngx_http_sandbox_bridge_op_t *op);
static void ngx_http_sandbox_bridge_health_hosts(
    ngx_http_sandbox_bridge_health_op_t *ho);
static void ngx_http_sandbox_bridge_health_count(
    ngx_http_sandbox_bridge_health_op_t *ho);
static void ngx_http_sandbox_bridge_health_list(
    ngx_http_sandbox_bridge_health_op_t *ho);


void
ngx_http_sandbox_bridge_health(ngx_http_sandbox_bridge_op_t *op)
{
    u_char                               *p;
    redisReply                           *reply;
    ngx_http_sandbox_bridge_ctx_t        *ctx;
    ngx_http_sandbox_bridge_args_t        args;
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    ngx_http_sandbox_bridge_health_op_t  *ho;
    u_char                                buf[256];

    ho = (ngx_http_sandbox_bridge_health_op_t *) op;
    lcf = ngx_http_get_module_loc_conf(op->request,
                                       ngx_http_sandbox_bridge_module);

    switch ((ngx_http_sandbox_bridge_health_state_e) op->state) {

    case NGX_HTTP_SANDBOX_BRIDGE_HEALTH_PING:
        ctx = ngx_http_get_module_ctx(op->request,
                                      ngx_http_sandbox_bridge_module);
        ctx->docker_host = lcf->docker_location;

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

        if (!lcf->hosts->simple) {
            ngx_http_sandbox_bridge_health_hosts(ho);
            return;
        }

        /* a recent good answer from the same Docker is reused briefly */
        if (ngx_http_sandbox_bridge_driver_ok
               == lcf->docker_location.data
            && (ngx_msec_int_t) (ngx_http_sandbox_bridge_driver_ok_until
                                 - ngx_current_msec) > 0)
        {
            ngx_http_sandbox_bridge_health_ok(op);
            return;
        }

        if (ngx_http_sandbox_bridge_docker(op, &ho->call, NGX_HTTP_GET,
                                       NGX_HTTP_SANDBOX_BRIDGE_HEALTH_PINGED,
                                       &lcf->docker_location, "/_ping")
            != NGX_OK)
        {
            ngx_http_sandbox_bridge_finalize(op,
                                             NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return;

    case NGX_HTTP_SANDBOX_BRIDGE_HEALTH_PINGED:
        if (ho->call.status != NGX_HTTP_OK) {
            p = ngx_http_sandbox_bridge_docker_error(&ho->call, buf,
                                                     sizeof(buf));

            ngx_http_sandbox_bridge_failf(op, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "driver_unavailable", "%*s",
                                          p - buf, buf);
            return;
        }

        ngx_http_sandbox_bridge_driver_ok = lcf->docker_location.data;
        ngx_http_sandbox_bridge_driver_ok_until = ngx_current_msec + 1000;

        ngx_http_sandbox_bridge_health_ok(op);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_HEALTH_HOSTS_PINGED:
        ngx_http_sandbox_bridge_hosts_pinged(op, ho->pings);
        ngx_http_sandbox_bridge_health_count(ho);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_HEALTH_COUNTED:
        ngx_http_sandbox_bridge_health_list(ho);
        return;
    }
}


/* several hosts, or named ones: each is pinged and its leases counted */

static void
ngx_http_sandbox_bridge_health_hosts(ngx_http_sandbox_bridge_health_op_t *ho)
{
    ngx_int_t  rc;

    rc = ngx_http_sandbox_bridge_hosts_ping(&ho->op, &ho->pings, 1,
                                  NGX_HTTP_SANDBOX_BRIDGE_HEALTH_HOSTS_PINGED);
    if (rc == NGX_OK) {
        return;
    }

    if (rc == NGX_ERROR) {
        ngx_http_sandbox_bridge_fail(&ho->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_NOMEM);
        return;
    }

    ngx_http_sandbox_bridge_health_count(ho);
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
    u_char                              *p;
    json_t                              *list, *body;
    redisReply                          *reply, *n;
    ngx_uint_t                           i, up;
    ngx_http_sandbox_bridge_host_t      *h;
    ngx_http_sandbox_bridge_ping_t      *pg;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;
    u_char                               buf[256];

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

    list = json_array();
    h = lcf->hosts->hosts.elts;
    up = 0;

    for (i = 0; i < lcf->hosts->hosts.nelts; i++) {
        n = reply->element[i];
        up += h[i].up;

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

    if (up == 0) {
        json_decref(list);

        /* the first host's own failure, as a single host would say */
        pg = ho->pings;
        p = buf;

        if (pg && pg->host) {
            p = ngx_http_sandbox_bridge_docker_error(&pg->call, buf,
                                                     sizeof(buf));
        }

        if (p == buf) {
            ngx_http_sandbox_bridge_fail(&ho->op,
                                         NGX_HTTP_SANDBOX_BRIDGE_ERR_NO_HOST);
            return;
        }

        ngx_http_sandbox_bridge_failf(&ho->op, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "driver_unavailable", "%*s",
                                      p - buf, buf);
        return;
    }

    body = json_pack("{s:b,s:s,s:s,s:{s:b,s:b,s:b},"
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

    ngx_http_sandbox_bridge_reply(&ho->op, NGX_HTTP_OK, body);
}


static void
ngx_http_sandbox_bridge_health_ok(ngx_http_sandbox_bridge_op_t *op)
{
    ngx_http_sandbox_bridge_reply(op, NGX_HTTP_OK,
                     json_pack("{s:b,s:s,s:s,s:{s:b,s:b,s:b},"
                               "s:{s:s,s:b},s:{s:s,s:b}}",
                               "ok", 1,
                               "provider", "docker",
                               "bridgeVersion",
                               NGX_HTTP_SANDBOX_BRIDGE_VERSION,
                               "capabilities",
                               "reuseLease", 1,
                               "namedSessions", 1,
                               "previewUrls", 0,
                               "store", "backend", "redis", "reachable", 1,
                               "driver", "name", "docker", "reachable", 1));
}
