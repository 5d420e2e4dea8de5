
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_apart.h"
#include "ngx_http_sandbox_bridge_background.h"


/*
 * A Docker call made apart from the request that waits for it: in a
 * background request of its own (background.c), whose pool is freed
 * when the call ends. A subrequest would leave its request, upstream
 * and reply in the waiting request's pool for as long as that lives,
 * which for an exec stream is as long as the command runs. Only the
 * status and the captured reply are copied back.
 */

typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_APART_CALL = NGX_HTTP_SANDBOX_BRIDGE_START,
    NGX_HTTP_SANDBOX_BRIDGE_APART_DONE
} ngx_http_sandbox_bridge_apart_state_e;


typedef struct {
    ngx_http_sandbox_bridge_op_t      op;
    ngx_uint_t                        method;
    ngx_str_t                         location;
    ngx_str_t                         path;
    json_t                           *body;
    ngx_http_sandbox_bridge_call_t    call;

    /* NULL once the waiting request is gone */
    ngx_http_sandbox_bridge_op_t     *waiter;
    ngx_http_sandbox_bridge_call_t   *result;
    ngx_pool_cleanup_t               *cln;
} ngx_http_sandbox_bridge_apart_t;


static void ngx_http_sandbox_bridge_apart_run(
    ngx_http_sandbox_bridge_op_t *op);
static void ngx_http_sandbox_bridge_apart_deliver(
    ngx_http_sandbox_bridge_apart_t *a);
static void ngx_http_sandbox_bridge_apart_detach(void *data);


/* the body is consumed (decref'd) whatever happens */

ngx_int_t
ngx_http_sandbox_bridge_docker_apart(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_call_t *call,
    ngx_http_sandbox_bridge_loc_conf_t *lcf, ngx_uint_t method,
    ngx_uint_t next, ngx_str_t *location, json_t *body, const char *fmt, ...)
{
    u_char                           *p;
    va_list                           args;
    ngx_pool_t                       *pool;
    ngx_pool_cleanup_t               *cln;
    ngx_http_sandbox_bridge_apart_t  *a;
    u_char                            buf[1024];

    if (body == NULL) {
        return NGX_ERROR;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    if (p == buf + sizeof(buf)) {
        json_decref(body);
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(op->request->pool, 0);
    a = cln ? ngx_http_sandbox_bridge_job(lcf,
                                    sizeof(ngx_http_sandbox_bridge_apart_t),
                                    ngx_http_sandbox_bridge_apart_run)
            : NULL;

    if (a == NULL) {
        json_decref(body);
        return NGX_ERROR;
    }

    pool = a->op.request->pool;

    a->path.len = p - buf;
    a->path.data = ngx_pnalloc(pool, a->path.len);
    a->location.len = location->len;
    a->location.data = ngx_pstrdup(pool, location);

    if (a->path.data == NULL || a->location.data == NULL) {
        ngx_http_sandbox_bridge_job_cancel(&a->op);
        json_decref(body);
        return NGX_ERROR;
    }

    ngx_memcpy(a->path.data, buf, a->path.len);

    a->method = method;
    a->body = body;
    a->waiter = op;
    a->result = call;
    a->cln = cln;

    cln->handler = ngx_http_sandbox_bridge_apart_detach;
    cln->data = a;

    call->op = op;
    call->sr = NULL;
    call->location = *location;
    call->done = 0;
    call->status = 0;
    call->rc = 0;
    call->len = 0;
    call->truncated = 0;

    op->state = next;
    op->pending++;
    op->reply = NULL;

    ngx_http_sandbox_bridge_job_start(&a->op);

    return NGX_OK;
}


static void
ngx_http_sandbox_bridge_apart_run(ngx_http_sandbox_bridge_op_t *op)
{
    json_t                           *body;
    ngx_http_sandbox_bridge_apart_t  *a;

    a = (ngx_http_sandbox_bridge_apart_t *) op;

    switch ((ngx_http_sandbox_bridge_apart_state_e) op->state) {

    case NGX_HTTP_SANDBOX_BRIDGE_APART_CALL:
        body = a->body;
        a->body = NULL;

        if (a->waiter == NULL) {
            json_decref(body);
            ngx_http_sandbox_bridge_finalize(op, NGX_OK);
            return;
        }

        if (ngx_http_sandbox_bridge_docker_json(op, &a->call, a->method,
                                           NGX_HTTP_SANDBOX_BRIDGE_APART_DONE,
                                           &a->location, body, "%V", &a->path)
            != NGX_OK)
        {
            a->call.status = 0;
            a->call.rc = NGX_ERROR;
            ngx_http_sandbox_bridge_apart_deliver(a);
        }

        return;

    case NGX_HTTP_SANDBOX_BRIDGE_APART_DONE:
        ngx_http_sandbox_bridge_apart_deliver(a);
        return;
    }
}


/* the status and the captured reply, in the waiting request's pool */

static void
ngx_http_sandbox_bridge_apart_deliver(ngx_http_sandbox_bridge_apart_t *a)
{
    ngx_http_sandbox_bridge_call_t  *call, *res;

    call = &a->call;
    res = a->result;

    if (a->waiter) {
        a->cln->handler = NULL;

        res->status = call->status;
        res->rc = call->rc;
        res->truncated = call->truncated;
        res->done = 1;

        if (call->len && !call->truncated) {
            res->body = ngx_pnalloc(a->waiter->request->pool, call->len);

            if (res->body) {
                ngx_memcpy(res->body, call->body, call->len);
                res->len = call->len;
                res->cap = call->len;

            } else {
                res->truncated = 1;
            }
        }

        ngx_http_sandbox_bridge_op_resume(a->waiter);
        a->waiter = NULL;
    }

    ngx_http_sandbox_bridge_finalize(&a->op, NGX_OK);
}


static void
ngx_http_sandbox_bridge_apart_detach(void *data)
{
    ngx_http_sandbox_bridge_apart_t  *a = data;

    a->waiter = NULL;
    a->result = NULL;
}
