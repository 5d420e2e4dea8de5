
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_health.h"
#include "ngx_http_sandbox_bridge_docker.h"


/* GET <prefix>/health: Redis and Docker are asked (README "Protocol") */

typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_HEALTH_PING = NGX_HTTP_SANDBOX_BRIDGE_START,
    NGX_HTTP_SANDBOX_BRIDGE_HEALTH_PONG,
    NGX_HTTP_SANDBOX_BRIDGE_HEALTH_PINGED
} ngx_http_sandbox_bridge_health_state_e;


typedef struct {
    ngx_http_sandbox_bridge_op_t          op;
    ngx_http_sandbox_bridge_call_t        call;
} ngx_http_sandbox_bridge_health_op_t;


size_t  ngx_http_sandbox_bridge_health_size =
    sizeof(ngx_http_sandbox_bridge_health_op_t);


/* per worker: the Docker location that answered /_ping, and until when */
static u_char      *ngx_http_sandbox_bridge_driver_ok;
static ngx_msec_t   ngx_http_sandbox_bridge_driver_ok_until;


static void ngx_http_sandbox_bridge_health_ok(
    ngx_http_sandbox_bridge_op_t *op);


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
    }
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
