
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_destroy.h"
#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_input.h"
#include "ngx_http_sandbox_bridge_store.h"
#include "ngx_http_sandbox_bridge_hosts.h"


/*
 * Release and DELETE (README "Protocol"): the record is forgotten first,
 * so a racing acquire cleans up after us; then the container goes.
 * Errors removing the container are not the client's.
 */

typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_DESTROY_FORGET = NGX_HTTP_SANDBOX_BRIDGE_START,
    NGX_HTTP_SANDBOX_BRIDGE_DESTROY_PINGED,
    NGX_HTTP_SANDBOX_BRIDGE_DESTROY_FORGOT,
    NGX_HTTP_SANDBOX_BRIDGE_DESTROY_REMOVED
} ngx_http_sandbox_bridge_destroy_state_e;


typedef struct {
    ngx_http_sandbox_bridge_op_t          op;
    ngx_str_t                             id;
    ngx_str_t                             key;
    ngx_str_t                             container;
    ngx_str_t                             location;
    ngx_http_sandbox_bridge_call_t        call;
    ngx_http_sandbox_bridge_ping_t       *pings;
} ngx_http_sandbox_bridge_destroy_op_t;


size_t  ngx_http_sandbox_bridge_destroy_size =
    sizeof(ngx_http_sandbox_bridge_destroy_op_t);


static void ngx_http_sandbox_bridge_destroy(
    ngx_http_sandbox_bridge_destroy_op_t *d);
static ngx_int_t ngx_http_sandbox_bridge_delete_id(
    ngx_http_sandbox_bridge_destroy_op_t *d);
static void ngx_http_sandbox_bridge_destroy_record(
    ngx_http_sandbox_bridge_destroy_op_t *d);


void
ngx_http_sandbox_bridge_release(ngx_http_sandbox_bridge_op_t *op)
{
    ngx_http_sandbox_bridge_ctx_t         *ctx;
    ngx_http_sandbox_bridge_destroy_op_t  *d;

    d = (ngx_http_sandbox_bridge_destroy_op_t *) op;

    if (op->state == NGX_HTTP_SANDBOX_BRIDGE_DESTROY_FORGET) {
        ctx = ngx_http_get_module_ctx(op->request,
                                      ngx_http_sandbox_bridge_module);

        if (ngx_http_sandbox_bridge_read_raw_string(ctx->body,
                                                    "providerLeaseId",
                                                    &d->id)
            != NGX_OK
            || d->id.len == 0
            || ngx_http_sandbox_bridge_read_bool(ctx->body, "reuseLease", 0))
        {
            ngx_http_sandbox_bridge_reply(op, NGX_HTTP_OK,
                                          json_pack("{s:b}", "ok", 1));
            return;
        }
    }

    ngx_http_sandbox_bridge_destroy(d);
}


/* DELETE <prefix>/leases/<id> */

void
ngx_http_sandbox_bridge_delete(ngx_http_sandbox_bridge_op_t *op)
{
    ngx_http_sandbox_bridge_destroy_op_t  *d;

    d = (ngx_http_sandbox_bridge_destroy_op_t *) op;

    if (op->state == NGX_HTTP_SANDBOX_BRIDGE_DESTROY_FORGET
        && ngx_http_sandbox_bridge_delete_id(d) != NGX_OK)
    {
        return;
    }

    ngx_http_sandbox_bridge_destroy(d);
}


static ngx_int_t
ngx_http_sandbox_bridge_delete_id(ngx_http_sandbox_bridge_destroy_op_t *d)
{
    return ngx_http_sandbox_bridge_path_id(&d->op, &d->id);
}


/* the last path segment of a prefix route, percent-decoded */

ngx_int_t
ngx_http_sandbox_bridge_path_id(ngx_http_sandbox_bridge_op_t *op,
    ngx_str_t *id)
{
    u_char                         *seg, *dst, *src;
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(op->request,
                                  ngx_http_sandbox_bridge_module);

    seg = ctx->route.data + ctx->route.len;
    while (seg > ctx->route.data && seg[-1] != '/') {
        seg--;
    }

    id->len = ctx->route.data + ctx->route.len - seg;
    id->data = ngx_pnalloc(op->request->pool, id->len + 1);
    if (id->data == NULL) {
        ngx_http_sandbox_bridge_fail(op, NGX_HTTP_SANDBOX_BRIDGE_ERR_NOMEM);
        return NGX_ERROR;
    }

    src = seg;
    dst = id->data;

    ngx_unescape_uri(&dst, &src, id->len, 0);

    if (src != seg + id->len) {
        ngx_http_sandbox_bridge_fail(op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_PATH_ESCAPE);
        return NGX_ERROR;
    }

    id->len = dst - id->data;

    if (id->len == 0) {
        ngx_http_sandbox_bridge_fail(op, NGX_HTTP_SANDBOX_BRIDGE_ERR_PATH_ID);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_sandbox_bridge_destroy(ngx_http_sandbox_bridge_destroy_op_t *d)
{
    redisReply                           *reply;
    const char                           *err;
    ngx_http_request_t                   *r;
    ngx_http_sandbox_bridge_ctx_t        *ctx;
    ngx_int_t                             rc;
    ngx_http_sandbox_bridge_host_t       *host;
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    r = d->op.request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    switch ((ngx_http_sandbox_bridge_destroy_state_e) d->op.state) {

    case NGX_HTTP_SANDBOX_BRIDGE_DESTROY_FORGET:
        mcf = ngx_http_get_module_main_conf(r,
                                            ngx_http_sandbox_bridge_module);

        err = ngx_http_sandbox_bridge_check_id(&d->id);
        if (err) {
            ngx_http_sandbox_bridge_failf(&d->op, NGX_HTTP_BAD_REQUEST,
                                          "invalid_request", "%s", err);
            return;
        }

        d->location = lcf->docker_location;
        ctx->docker_host = d->location;
        ctx->lease_id = d->id;

        if (ngx_http_sandbox_bridge_lease_key(r->pool, mcf, &d->id, &d->key)
            != NGX_OK
            || ngx_http_sandbox_bridge_container_name(r->pool, mcf, &d->id,
                                                      &d->container)
               != NGX_OK)
        {
            ngx_http_sandbox_bridge_fail(&d->op,
                                         NGX_HTTP_SANDBOX_BRIDGE_ERR_NOMEM);
            return;
        }

        /* a lease on a host that is down is kept: ask first */
        rc = lcf->hosts->simple
             ? NGX_DONE
             : ngx_http_sandbox_bridge_hosts_ping(&d->op, &d->pings, 0,
                                        NGX_HTTP_SANDBOX_BRIDGE_DESTROY_PINGED);
        if (rc == NGX_OK) {
            return;
        }

        if (rc == NGX_ERROR) {
            ngx_http_sandbox_bridge_fail(&d->op,
                                         NGX_HTTP_SANDBOX_BRIDGE_ERR_NOMEM);
            return;
        }

        ngx_http_sandbox_bridge_destroy_record(d);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_DESTROY_PINGED:
        ngx_http_sandbox_bridge_hosts_pinged(&d->op, d->pings);
        ngx_http_sandbox_bridge_destroy_record(d);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_DESTROY_FORGOT:
        reply = d->op.reply;

        if (reply == NULL
            || (reply->type != REDIS_REPLY_INTEGER
                && reply->type != REDIS_REPLY_ARRAY))
        {
            ngx_http_sandbox_bridge_fail(&d->op,
                                         NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE);
            return;
        }

        if (ngx_http_sandbox_bridge_hosts_refused(&d->op, reply, &d->id)
            != NGX_OK)
        {
            return;
        }

        if (reply->type == REDIS_REPLY_INTEGER && reply->integer == -1) {
            ngx_http_sandbox_bridge_not_owned(&d->op, &d->id);
            return;
        }

        if (reply->type == REDIS_REPLY_ARRAY) {
            /* placed: the record named its host */
            host = ngx_http_sandbox_bridge_hosts_named(lcf, reply);
            if (host == NULL) {
                ngx_http_sandbox_bridge_fail(&d->op,
                                         NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE);
                return;
            }

            d->location = host->location;
            ctx->docker_host = host->name;

        } else if (reply->integer == 0 && !lcf->hosts->simple) {
            /* no record: no host to ask; the reapers remove orphans */
            break;
        }

        if (ngx_http_sandbox_bridge_docker(&d->op, &d->call, NGX_HTTP_DELETE,
                                     NGX_HTTP_SANDBOX_BRIDGE_DESTROY_REMOVED,
                                     &d->location,
                                     "/containers/%V?force=true&v=true",
                                     &d->container)
            == NGX_OK)
        {
            return;
        }

        break;

    case NGX_HTTP_SANDBOX_BRIDGE_DESTROY_REMOVED:
        if (d->call.status != NGX_HTTP_NO_CONTENT
            && d->call.status != NGX_HTTP_NOT_FOUND)
        {
            /* the reaper will retry: the container has no live record */
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "sandbox bridge: removing container \"%V\" "
                          "gave %ui", &d->container, d->call.status);
        }

        break;
    }

    ngx_http_sandbox_bridge_log_lease(r,
                              r->method == NGX_HTTP_DELETE ? "deleted"
                                                           : "released",
                              &d->id, &ctx->docker_host);

    ngx_http_sandbox_bridge_reply(&d->op, NGX_HTTP_OK,
                                  json_pack("{s:b}", "ok", 1));
}


static void
ngx_http_sandbox_bridge_destroy_record(ngx_http_sandbox_bridge_destroy_op_t *d)
{
    ngx_http_sandbox_bridge_ctx_t         *ctx;
    ngx_http_sandbox_bridge_args_t         args;
    ngx_http_sandbox_bridge_main_conf_t   *mcf;

    ctx = ngx_http_get_module_ctx(d->op.request,
                                  ngx_http_sandbox_bridge_module);
    mcf = ngx_http_get_module_main_conf(d->op.request,
                                        ngx_http_sandbox_bridge_module);

    args.argc = 0;
    args.overflow = 0;

    ngx_http_sandbox_bridge_arg_str(&args, &d->key);
    ngx_http_sandbox_bridge_arg_str(&args, &ctx->cred_id);
    ngx_http_sandbox_bridge_arg(&args, ctx->cred_admin ? "1" : "0", 1);

    if (ngx_http_sandbox_bridge_store_hosts(&d->op, &args) != NGX_OK) {
        ngx_http_sandbox_bridge_fail(&d->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_NOMEM);
        return;
    }

    ngx_http_sandbox_bridge_arg_str(&args, &mcf->redis_prefix);

    if (ngx_http_sandbox_bridge_redis_step(&d->op,
                                    NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_DESTROY,
                                    NGX_HTTP_SANDBOX_BRIDGE_DESTROY_FORGOT,
                                    1, &args)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_fail(&d->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE);
    }
}
