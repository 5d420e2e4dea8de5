
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_claim.h"
#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_hosts.h"
#include "ngx_http_sandbox_bridge_pool.h"
#include "ngx_http_sandbox_bridge_refill.h"
#include "ngx_http_sandbox_bridge_workspace.h"


/*
 * An acquire's claim on the warm pool (README "Warm pool"), a flow nested
 * in the lease flow. The lease's "begin" script has SPOPped a container id
 * from the pool set of the lease's host and configuration (atomic: no two
 * acquires anywhere get the same); the claim renames that container to the
 * lease's container name, which is how the reaper maps it to its lease
 * from then on, and uploads the workspace into it at the same time.
 */

#define NGX_HTTP_SANDBOX_BRIDGE_CLAIM_TRIES  3


typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_CLAIM_TAKE = NGX_HTTP_SANDBOX_BRIDGE_START,
    NGX_HTTP_SANDBOX_BRIDGE_CLAIM_POPPED,
    NGX_HTTP_SANDBOX_BRIDGE_CLAIM_TAKEN
} ngx_http_sandbox_bridge_claim_state_e;


typedef struct {
    ngx_http_sandbox_bridge_op_t          op;
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    ngx_http_sandbox_bridge_spec_t       *spec;
    ngx_str_t                             location;
    ngx_str_t                             key;
    ngx_str_t                             id;
    ngx_http_sandbox_bridge_claim_e      *claimed;
    ngx_http_sandbox_bridge_call_t       *upload;
    ngx_uint_t                            tries;
    ngx_int_t                             uploading;
    ngx_http_sandbox_bridge_call_t        call;
} ngx_http_sandbox_bridge_claim_t;


static void ngx_http_sandbox_bridge_claim_run(
    ngx_http_sandbox_bridge_op_t *op);
static ngx_int_t ngx_http_sandbox_bridge_claim_take(
    ngx_http_sandbox_bridge_claim_t *cl, u_char *id, size_t len);
static ngx_int_t ngx_http_sandbox_bridge_claim_pop(
    ngx_http_sandbox_bridge_claim_t *cl);
static ngx_http_sandbox_bridge_host_t *ngx_http_sandbox_bridge_claim_host(
    ngx_http_request_t *r);


/*
 * The pool configuration a new lease of this location may take from:
 * its hash, or "" without a pool (README "Warm pool").
 */

ngx_int_t
ngx_http_sandbox_bridge_claim_hash(ngx_http_request_t *r, ngx_str_t *hash)
{
    json_t                              *body;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    ngx_str_null(hash);

    if (lcf->warm_pool == 0) {
        return NGX_OK;
    }

    hash->data = ngx_pnalloc(r->pool, NGX_HTTP_SANDBOX_BRIDGE_POOL_HASH_LEN);
    if (hash->data == NULL) {
        return NGX_ERROR;
    }

    body = ngx_http_sandbox_bridge_pool_spec(r, hash->data);
    if (body == NULL) {
        return NGX_ERROR;
    }

    json_decref(body);
    hash->len = NGX_HTTP_SANDBOX_BRIDGE_POOL_HASH_LEN;

    return NGX_OK;
}


/*
 * A new lease's acquire: the container "begin" popped (its third element)
 * is renamed to the lease's and gets the workspace, through "upload" (the
 * lease's call, checked as after a cold create). NGX_DECLINED: the pool
 * gave none, the caller creates one; NGX_OK: the parent resumes in "next",
 * *claimed tells.
 */

ngx_int_t
ngx_http_sandbox_bridge_claim(ngx_http_sandbox_bridge_op_t *parent,
    redisReply *begun, ngx_str_t *location, ngx_http_sandbox_bridge_spec_t *s,
    ngx_http_sandbox_bridge_call_t *upload,
    ngx_http_sandbox_bridge_claim_e *claimed, ngx_uint_t next)
{
    redisReply                          *id;
    ngx_http_request_t                  *r;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_claim_t     *cl;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;
    ngx_http_sandbox_bridge_main_conf_t *mcf;

    r = parent->request;
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    *claimed = NGX_HTTP_SANDBOX_BRIDGE_CLAIM_NONE;

    /* only a lease that did not exist: BEGIN answered {"", host, id} */
    if (s->pool.len == 0 || begun == NULL
        || begun->type != REDIS_REPLY_ARRAY || begun->elements < 3
        || begun->element[0]->type != REDIS_REPLY_STRING
        || begun->element[0]->len != 0)
    {
        return NGX_DECLINED;
    }

    id = begun->element[2];

    if (id->type != REDIS_REPLY_STRING || id->len == 0) {
        /* the pool is empty: refill it now */
        ngx_http_sandbox_bridge_claim_refill(r);
        return NGX_DECLINED;
    }

    cl = ngx_http_sandbox_bridge_op_create(r,
                                       sizeof(ngx_http_sandbox_bridge_claim_t),
                                       ngx_http_sandbox_bridge_claim_run);
    if (cl == NULL) {
        return NGX_DECLINED;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    if (ngx_http_sandbox_bridge_pool_key(r->pool, mcf, "", &ctx->docker_host,
                                         s->pool.data, &cl->key)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    cl->lcf = lcf;
    cl->spec = s;
    cl->location = *location;
    cl->claimed = claimed;
    cl->upload = upload;

    ngx_http_sandbox_bridge_op_nest(&cl->op, parent, next);

    if (ngx_http_sandbox_bridge_claim_take(cl, (u_char *) id->str, id->len)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_op_return(&cl->op);
    }

    return NGX_OK;
}


static void
ngx_http_sandbox_bridge_claim_run(ngx_http_sandbox_bridge_op_t *op)
{
    redisReply                       *reply;
    ngx_http_sandbox_bridge_host_t   *host;
    ngx_http_sandbox_bridge_claim_t  *cl;

    cl = (ngx_http_sandbox_bridge_claim_t *) op;

    switch ((ngx_http_sandbox_bridge_claim_state_e) op->state) {

    case NGX_HTTP_SANDBOX_BRIDGE_CLAIM_TAKE:
        /* not entered: the claim starts with a container in hand */
        break;

    case NGX_HTTP_SANDBOX_BRIDGE_CLAIM_POPPED:
        reply = op->reply;

        /* empty, or Redis failed: a cold acquire */
        if (reply == NULL || reply->type != REDIS_REPLY_STRING
            || reply->len == 0
            || ngx_http_sandbox_bridge_claim_take(cl, (u_char *) reply->str,
                                                  reply->len)
               != NGX_OK)
        {
            break;
        }

        return;

    case NGX_HTTP_SANDBOX_BRIDGE_CLAIM_TAKEN:
        if (cl->call.status == NGX_HTTP_NO_CONTENT) {
            host = ngx_http_sandbox_bridge_claim_host(op->request);
            if (host && host->pool_size) {
                host->pool_size--;
            }

            *cl->claimed = (cl->uploading == NGX_OK)
                           ? NGX_HTTP_SANDBOX_BRIDGE_CLAIM_UPLOADED
                           : NGX_HTTP_SANDBOX_BRIDGE_CLAIM_RENAMED;

            ngx_log_error(NGX_LOG_INFO, op->request->connection->log, 0,
                          "sandbox bridge: claimed pool container \"%V\" as "
                          "\"%V\"", &cl->id, &cl->spec->container);
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

    if (*cl->claimed == NGX_HTTP_SANDBOX_BRIDGE_CLAIM_NONE) {
        ngx_http_sandbox_bridge_claim_refill(op->request);
    }

    ngx_http_sandbox_bridge_op_return(op);
}


/*
 * Rename the container to the lease's and, at the same time, upload the
 * workspace into it by id (declined: it is made by commands after the
 * start). The two calls are independent: both are checked when both
 * are done.
 */

static ngx_int_t
ngx_http_sandbox_bridge_claim_take(ngx_http_sandbox_bridge_claim_t *cl,
    u_char *id, size_t len)
{
    if (len > 128) {
        return NGX_ERROR;
    }

    cl->id.len = len;
    cl->id.data = ngx_pnalloc(cl->op.request->pool, len);
    if (cl->id.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(cl->id.data, id, len);

    if (ngx_http_sandbox_bridge_docker(&cl->op, &cl->call, NGX_HTTP_POST,
                                       NGX_HTTP_SANDBOX_BRIDGE_CLAIM_TAKEN,
                                       &cl->location,
                                       "/containers/%V/rename?name=%V",
                                       &cl->id, &cl->spec->container)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cl->uploading = ngx_http_sandbox_bridge_workspace_upload(&cl->op,
                                      cl->upload, &cl->location, cl->spec,
                                      &cl->id,
                                      NGX_HTTP_SANDBOX_BRIDGE_CLAIM_TAKEN);

    /* a failed upload is the lease's to report, after the rename */
    if (cl->uploading == NGX_ERROR) {
        cl->upload->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        cl->upload->len = 0;
        cl->uploading = NGX_OK;
    }

    return NGX_OK;
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


/*
 * The pool of the request's host lost a container (claimed, or found
 * empty): a refill job fills it again. After a claim the lease calls this
 * once it has answered, so that the job's create and start do not compete
 * with the acquire's own Docker calls.
 */

void
ngx_http_sandbox_bridge_claim_refill(ngx_http_request_t *r)
{
    ngx_http_sandbox_bridge_host_t      *host;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    host = ngx_http_sandbox_bridge_claim_host(r);

    if (host) {
        lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);
        ngx_http_sandbox_bridge_refill_start(lcf, host);
    }
}


/* the Docker host of the request's lease, when its location has a pool */

static ngx_http_sandbox_bridge_host_t *
ngx_http_sandbox_bridge_claim_host(ngx_http_request_t *r)
{
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    if (lcf->warm_pool == 0 || ctx == NULL) {
        return NULL;
    }

    return ngx_http_sandbox_bridge_host_find(lcf,
                              lcf->hosts->simple ? NULL : &ctx->docker_host);
}
