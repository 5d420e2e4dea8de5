
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_health.h"
#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_lease.h"
#include "ngx_http_sandbox_bridge_redis.h"
#include "ngx_http_sandbox_bridge_util.h"


static void ngx_http_sandbox_bridge_health_pong(ngx_http_request_t *r,
    void *data, redisReply *reply);
static void ngx_http_sandbox_bridge_health_pinged(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_health_ok(ngx_http_request_t *r);


/* PROTOCOL §3.1 with D13: also checks Redis and Docker */

ngx_int_t
ngx_http_sandbox_bridge_health(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx)
{
    ngx_int_t                             rc;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    const char                           *argv[1];
    size_t                                argvlen[1];

    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);

    argv[0] = "PING";
    argvlen[0] = 4;

    rc = ngx_http_sandbox_bridge_redis_command(mcf, r,
                                           ngx_http_sandbox_bridge_health_pong,
                                           NULL, 1, argv, argvlen);
    if (rc == NGX_DECLINED) {
        return ngx_http_sandbox_bridge_store_unavailable(r);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->pending++;

    return NGX_DONE;
}


static void
ngx_http_sandbox_bridge_health_pong(ngx_http_request_t *r, void *data,
    redisReply *reply)
{
    ngx_str_t                            uri;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_call_t      *call;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    if (r == NULL) {
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);
    ctx->pending--;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_sandbox_bridge_finish(r,
                               ngx_http_sandbox_bridge_store_unavailable(r));
        return;
    }

    /* a recent good answer from Docker is reused for a second */
    if ((ngx_msec_int_t) (lcf->driver_ok_until - ngx_current_msec) > 0) {
        ngx_http_sandbox_bridge_health_ok(r);
        return;
    }

    call = ngx_pcalloc(r->pool, sizeof(ngx_http_sandbox_bridge_call_t));
    if (call == NULL) {
        ngx_http_sandbox_bridge_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->op = call;
    ctx->resume = ngx_http_sandbox_bridge_health_pinged;

    ngx_str_set(&uri, "/_ping");

    if (ngx_http_sandbox_bridge_docker_call(r, &lcf->docker_location,
                                            NGX_HTTP_GET, &uri, NULL, NULL,
                                            NULL, 0, call)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


static void
ngx_http_sandbox_bridge_health_pinged(ngx_http_request_t *r)
{
    u_char                              *p;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_call_t      *call;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;
    u_char                               buf[256];

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    call = ctx->op;

    if (call->status != NGX_HTTP_OK) {
        p = ngx_http_sandbox_bridge_docker_error(call, buf, sizeof(buf));

        ngx_http_sandbox_bridge_finish(r,
                            ngx_http_sandbox_bridge_send_error(r,
                                NGX_HTTP_SERVICE_UNAVAILABLE,
                                "driver_unavailable", "%*s", p - buf, buf));
        return;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);
    lcf->driver_ok_until = ngx_current_msec + 1000;

    ngx_http_sandbox_bridge_health_ok(r);
}


static void
ngx_http_sandbox_bridge_health_ok(ngx_http_request_t *r)
{
    json_t  *body, *caps;

    body = json_object();
    caps = json_object();

    if (body == NULL || caps == NULL) {
        json_decref(body);
        json_decref(caps);
        ngx_http_sandbox_bridge_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    json_object_set_new(caps, "reuseLease", json_true());
    json_object_set_new(caps, "namedSessions", json_true());
    json_object_set_new(caps, "previewUrls", json_false());

    json_object_set_new(body, "ok", json_true());
    json_object_set_new(body, "provider", json_string("docker"));
    json_object_set_new(body, "bridgeVersion",
                        json_string(NGX_HTTP_SANDBOX_BRIDGE_VERSION));
    json_object_set_new(body, "capabilities", caps);
    json_object_set_new(body, "store",
                        json_pack("{sssb}", "backend", "redis",
                                  "reachable", 1));
    json_object_set_new(body, "driver",
                        json_pack("{sssb}", "name", "docker",
                                  "reachable", 1));

    ngx_http_sandbox_bridge_finish(r,
                  ngx_http_sandbox_bridge_send_json(r, NGX_HTTP_OK, body));
}
