
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_claim.h"
#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_hosts.h"
#include "ngx_http_sandbox_bridge_pool.h"
#include "ngx_http_sandbox_bridge_refill.h"


/*
 * An acquire's claim on the warm pool (README "Warm pool"), a flow nested
 * in the lease flow: SPOP a container id from the pool set of the lease's
 * host and configuration (atomic: no two acquires anywhere get the same)
 * and rename the container to the lease's container name, which is how
 * the reaper maps it to its lease from then on.
 */

#define NGX_HTTP_SANDBOX_BRIDGE_CLAIM_TRIES  3


typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_CLAIM_POP = NGX_HTTP_SANDBOX_BRIDGE_START,
    NGX_HTTP_SANDBOX_BRIDGE_CLAIM_POPPED,
    NGX_HTTP_SANDBOX_BRIDGE_CLAIM_RENAMED
} ngx_http_sandbox_bridge_claim_state_e;


typedef struct {
    ngx_http_sandbox_bridge_op_t          op;
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    ngx_str_t                             location;
    ngx_str_t                             container;
    ngx_str_t                             key;
    ngx_str_t                             id;
    ngx_uint_t                           *claimed;
    ngx_uint_t                            tries;
    ngx_http_sandbox_bridge_call_t        call;
} ngx_http_sandbox_bridge_claim_t;


static void ngx_http_sandbox_bridge_claim_run(
    ngx_http_sandbox_bridge_op_t *op);
static ngx_int_t ngx_http_sandbox_bridge_claim_pop(
    ngx_http_sandbox_bridge_claim_t *cl);


/*
 * A new lease's acquire: take a pool container and rename it to the
 * lease's container. NGX_DECLINED: no pool here, the caller creates one;
 * NGX_OK: the parent resumes in "next", *claimed tells.
 */

ngx_int_t
ngx_http_sandbox_bridge_claim(ngx_http_sandbox_bridge_op_t *parent,
    redisReply *begun, ngx_str_t *location, ngx_str_t *container,
    ngx_uint_t *claimed, ngx_uint_t next)
{
    json_t                               *body;
    ngx_http_request_t                   *r;
    ngx_http_sandbox_bridge_ctx_t        *ctx;
    ngx_http_sandbox_bridge_claim_t      *cl;
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    u_char                                hash[
                                       NGX_HTTP_SANDBOX_BRIDGE_POOL_HASH_LEN];

    r = parent->request;
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    *claimed = 0;

    /* only a lease that did not exist: BEGIN answered {"", host} */
    if (lcf->warm_pool == 0 || begun == NULL
        || begun->type != REDIS_REPLY_ARRAY || begun->elements < 1
        || begun->element[0]->type != REDIS_REPLY_STRING
        || begun->element[0]->len != 0)
    {
        return NGX_DECLINED;
    }

    cl = ngx_http_sandbox_bridge_op_create(r,
                                       sizeof(ngx_http_sandbox_bridge_claim_t),
                                       ngx_http_sandbox_bridge_claim_run);
    if (cl == NULL) {
        return NGX_DECLINED;
    }

    body = ngx_http_sandbox_bridge_pool_spec(r, hash);
    if (body == NULL) {
        return NGX_DECLINED;
    }

    json_decref(body);

    if (ngx_http_sandbox_bridge_pool_key(r->pool, mcf, "", &ctx->docker_host,
                                         hash, &cl->key)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    cl->lcf = lcf;
    cl->location = *location;
    cl->container = *container;
    cl->claimed = claimed;

    ngx_http_sandbox_bridge_op_nest(&cl->op, parent, next);
    ngx_http_sandbox_bridge_claim_run(&cl->op);

    return NGX_OK;
}


static void
ngx_http_sandbox_bridge_claim_run(ngx_http_sandbox_bridge_op_t *op)
{
    redisReply                       *reply;
    ngx_str_t                        *name;
    ngx_http_sandbox_bridge_ctx_t    *ctx;
    ngx_http_sandbox_bridge_host_t   *host;
    ngx_http_sandbox_bridge_claim_t  *cl;

    cl = (ngx_http_sandbox_bridge_claim_t *) op;

    switch ((ngx_http_sandbox_bridge_claim_state_e) op->state) {

    case NGX_HTTP_SANDBOX_BRIDGE_CLAIM_POP:
        if (ngx_http_sandbox_bridge_claim_pop(cl) != NGX_OK) {
            ngx_http_sandbox_bridge_op_return(op);
        }

        return;

    case NGX_HTTP_SANDBOX_BRIDGE_CLAIM_POPPED:
        reply = op->reply;

        if (reply == NULL || reply->type != REDIS_REPLY_STRING
            || reply->len == 0 || reply->len > 128)
        {
            /* empty, or Redis failed: a cold acquire */
            break;
        }

        cl->id.len = reply->len;
        cl->id.data = ngx_pnalloc(op->request->pool, reply->len);
        if (cl->id.data == NULL) {
            break;
        }

        ngx_memcpy(cl->id.data, reply->str, reply->len);

        if (ngx_http_sandbox_bridge_docker(op, &cl->call, NGX_HTTP_POST,
                                       NGX_HTTP_SANDBOX_BRIDGE_CLAIM_RENAMED,
                                       &cl->location,
                                       "/containers/%V/rename?name=%V",
                                       &cl->id, &cl->container)
            != NGX_OK)
        {
            break;
        }

        return;

    case NGX_HTTP_SANDBOX_BRIDGE_CLAIM_RENAMED:
        if (cl->call.status == NGX_HTTP_NO_CONTENT) {
            *cl->claimed = 1;
            ngx_log_error(NGX_LOG_INFO, op->request->connection->log, 0,
                          "sandbox bridge: claimed pool container \"%V\" as "
                          "\"%V\"", &cl->id, &cl->container);
            break;
        }

        /* removed meanwhile: the next one */
        if (cl->call.status == NGX_HTTP_NOT_FOUND
            && ++cl->tries < NGX_HTTP_SANDBOX_BRIDGE_CLAIM_TRIES
            && ngx_http_sandbox_bridge_claim_pop(cl) == NGX_OK)
        {
            return;
        }

        /* a stray now: the refill removes it if it still has a pool name */
        ngx_log_error(NGX_LOG_WARN, op->request->connection->log, 0,
                      "sandbox bridge: renaming pool container \"%V\" gave "
                      "%ui", &cl->id, cl->call.status);
        break;
    }

    /* the pool lost one (or is empty): refill it now */
    ctx = ngx_http_get_module_ctx(op->request, ngx_http_sandbox_bridge_module);
    name = &ctx->docker_host;
    host = ngx_http_sandbox_bridge_host_find(cl->lcf,
                                         cl->lcf->hosts->simple ? NULL : name);
    if (host) {
        if (*cl->claimed && host->pool_size) {
            host->pool_size--;
        }

        ngx_http_sandbox_bridge_refill_start(cl->lcf, host);
    }

    ngx_http_sandbox_bridge_op_return(op);
}


static ngx_int_t
ngx_http_sandbox_bridge_claim_pop(ngx_http_sandbox_bridge_claim_t *cl)
{
    ngx_http_sandbox_bridge_args_t  args;

    args.argc = 0;
    args.overflow = 0;

    ngx_http_sandbox_bridge_arg_lit(&args, "SPOP");
    ngx_http_sandbox_bridge_arg_str(&args, &cl->key);

    return ngx_http_sandbox_bridge_redis_step(&cl->op, -1,
                                        NGX_HTTP_SANDBOX_BRIDGE_CLAIM_POPPED,
                                        0, &args);
}
