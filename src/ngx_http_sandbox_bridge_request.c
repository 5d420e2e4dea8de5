
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_request.h"
#include "ngx_http_sandbox_bridge_input.h"
#include "ngx_http_sandbox_bridge_metrics.h"
#include "ngx_http_sandbox_bridge_util.h"


static void ngx_http_sandbox_bridge_ctx_cleanup(void *data);
static void ngx_http_sandbox_bridge_step_done(ngx_http_sandbox_bridge_op_t *op);
static void ngx_http_sandbox_bridge_op_cleanup(void *data);
static void ngx_http_sandbox_bridge_sleep_handler(ngx_event_t *ev);
static void ngx_http_sandbox_bridge_redis_done(ngx_http_request_t *r,
    void *data, redisReply *reply);
static json_t *ngx_http_sandbox_bridge_error_jsonv(const char *code,
    const char *fmt, va_list args);
static void ngx_http_sandbox_bridge_note_error(ngx_http_request_t *r,
    json_t *body);


#define ngx_http_sandbox_bridge_err(status, code, msg)                        \
    { status, ngx_string(code), ngx_string(msg) }


ngx_http_sandbox_bridge_err_t  ngx_http_sandbox_bridge_errors[] = {

    ngx_http_sandbox_bridge_err(NGX_HTTP_SERVICE_UNAVAILABLE,
        "store_unavailable",
        "The bridge's lease store (Redis) is unavailable."),

    ngx_http_sandbox_bridge_err(NGX_HTTP_CONFLICT,
        "sandbox_state_lost",
        "Cloudflare sandbox state is no longer available."),

    ngx_http_sandbox_bridge_err(NGX_HTTP_INTERNAL_SERVER_ERROR,
        "internal_error",
        "A container with this lease's name exists but was not created "
        "by this bridge."),

    ngx_http_sandbox_bridge_err(NGX_HTTP_BAD_REQUEST,
        "invalid_request",
        "Request body must be a JSON object."),

    ngx_http_sandbox_bridge_err(NGX_HTTP_BAD_REQUEST,
        "invalid_request",
        "environmentId and runId are required."),

    ngx_http_sandbox_bridge_err(NGX_HTTP_BAD_REQUEST,
        "invalid_request",
        "providerLeaseId is required."),

    ngx_http_sandbox_bridge_err(NGX_HTTP_BAD_REQUEST,
        "invalid_request",
        "providerLeaseId and command are required."),

    ngx_http_sandbox_bridge_err(NGX_HTTP_BAD_REQUEST,
        "invalid_request",
        "sleepAfter must be a duration such as 30s, 10m or 1h."),

    ngx_http_sandbox_bridge_err(NGX_HTTP_BAD_REQUEST,
        "invalid_request",
        "providerLeaseId path parameter is not valid percent-encoding."),

    ngx_http_sandbox_bridge_err(NGX_HTTP_BAD_REQUEST,
        "invalid_request",
        "providerLeaseId path parameter is required."),

    ngx_http_sandbox_bridge_err(NGX_HTTP_BAD_REQUEST,
        "invalid_request",
        "sessionId is longer than "
        ngx_value(NGX_HTTP_SANDBOX_BRIDGE_SESSION_MAX) " bytes."),

    ngx_http_sandbox_bridge_err(NGX_HTTP_INTERNAL_SERVER_ERROR,
        "internal_error",
        "out of memory"),

    ngx_http_sandbox_bridge_err(NGX_HTTP_SERVICE_UNAVAILABLE,
        "driver_unavailable",
        "Every reachable Docker host has reached its max_leases."),

    ngx_http_sandbox_bridge_err(NGX_HTTP_SERVICE_UNAVAILABLE,
        "driver_unavailable",
        "No Docker host is reachable."),

    { 0, ngx_null_string, ngx_null_string }
};


ngx_http_sandbox_bridge_ctx_t *
ngx_http_sandbox_bridge_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t             *cln;
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    if (ctx) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_sandbox_bridge_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_sandbox_bridge_ctx_cleanup;
    cln->data = ctx;

    ctx->request = r;
    ngx_str_set(&ctx->cred_id, "");

    ngx_http_set_ctx(r, ctx, ngx_http_sandbox_bridge_module);

    return ctx;
}


static void
ngx_http_sandbox_bridge_ctx_cleanup(void *data)
{
    ngx_http_sandbox_bridge_ctx_t  *ctx = data;

    if (ctx->body) {
        json_decref(ctx->body);
        ctx->body = NULL;
    }
}


/* a zeroed op of "size" bytes whose first member is the op header */

void *
ngx_http_sandbox_bridge_op_create(ngx_http_request_t *r, size_t size,
    ngx_http_sandbox_bridge_run_pt run)
{
    ngx_pool_cleanup_t            *cln;
    ngx_http_sandbox_bridge_op_t  *op;

    op = ngx_pcalloc(r->pool, size);
    if (op == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_sandbox_bridge_op_cleanup;
    cln->data = op;

    op->request = r;
    op->run = run;
    op->state = NGX_HTTP_SANDBOX_BRIDGE_START;

    op->sleep.handler = ngx_http_sandbox_bridge_sleep_handler;
    op->sleep.data = op;
    op->sleep.log = r->connection->log;

    return op;
}


static void
ngx_http_sandbox_bridge_op_cleanup(void *data)
{
    ngx_http_sandbox_bridge_op_t  *op = data;

    if (op->sleep.timer_set) {
        ngx_del_timer(&op->sleep);
    }

    if (op->sleep.posted) {
        ngx_delete_posted_event(&op->sleep);
    }
}


/* op runs inside parent until ngx_http_sandbox_bridge_op_return() */

void
ngx_http_sandbox_bridge_op_nest(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_op_t *parent, ngx_uint_t parent_state)
{
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(op->request, ngx_http_sandbox_bridge_module);

    op->parent = parent;
    op->parent_state = parent_state;
    parent->pending++;
    parent->reply = NULL;
    ctx->op = op;
}


void
ngx_http_sandbox_bridge_op_return(ngx_http_sandbox_bridge_op_t *op)
{
    ngx_http_sandbox_bridge_op_t   *parent;
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(op->request, ngx_http_sandbox_bridge_module);
    parent = op->parent;

    op->finalized = 1;
    ctx->op = parent;
    parent->state = op->parent_state;

    ngx_http_sandbox_bridge_step_done(parent);
}


/* a step of op completed: the flow runs on once none is pending */

static void
ngx_http_sandbox_bridge_step_done(ngx_http_sandbox_bridge_op_t *op)
{
    if (op->pending) {
        op->pending--;
    }

    if (op->pending == 0 && !op->finalized) {
        op->run(op);
    }
}


/* the request's write handler: resume the flow or flush output */

void
ngx_http_sandbox_bridge_wake(ngx_http_request_t *r)
{
    ngx_http_sandbox_bridge_op_t   *op;
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    op = ctx ? ctx->op : NULL;

    if (op == NULL || op->finalized) {
        return;
    }

    if (op->pending == 0) {
        op->run(op);
        return;
    }

    if (r == r->connection->data
        && (r->buffered || r->connection->buffered))
    {
        if (ngx_http_output_filter(r, NULL) == NGX_ERROR) {
            ngx_http_sandbox_bridge_finalize(op, NGX_ERROR);
        }
    }
}


void
ngx_http_sandbox_bridge_sleep(ngx_http_sandbox_bridge_op_t *op,
    ngx_msec_t ms, ngx_uint_t next)
{
    op->state = next;
    op->pending++;
    op->reply = NULL;

    ngx_add_timer(&op->sleep, ms);
}


/* a step completed outside the request: the flow runs on from an event */

void
ngx_http_sandbox_bridge_op_resume(ngx_http_sandbox_bridge_op_t *op)
{
    ngx_post_event(&op->sleep, &ngx_posted_events);
}


static void
ngx_http_sandbox_bridge_sleep_handler(ngx_event_t *ev)
{
    ngx_connection_t              *c;
    ngx_http_sandbox_bridge_op_t  *op = ev->data;

    c = op->request->connection;

    ngx_http_sandbox_bridge_step_done(op);
    ngx_http_run_posted_requests(c);
}


/*
 * A Redis command (script < 0) or script; the flow runs in "next" with
 * op->reply set for the duration of the run. NGX_DECLINED: no Redis.
 */

ngx_int_t
ngx_http_sandbox_bridge_redis_step(ngx_http_sandbox_bridge_op_t *op,
    ngx_int_t script, ngx_uint_t next, int nkeys,
    ngx_http_sandbox_bridge_args_t *args)
{
    ngx_int_t                             rc;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(op->request,
                                        ngx_http_sandbox_bridge_module);

    if (args->overflow) {
        ngx_log_error(NGX_LOG_ALERT, op->request->connection->log, 0,
                      "sandbox bridge: too many redis arguments");
        return NGX_ERROR;
    }

    if (script < 0) {
        rc = ngx_http_sandbox_bridge_redis_command(mcf, op->request,
                                     ngx_http_sandbox_bridge_redis_done, op,
                                     args->argc, args->argv, args->argvlen);

    } else {
        rc = ngx_http_sandbox_bridge_redis_script(mcf, op->request,
                                     (ngx_uint_t) script,
                                     ngx_http_sandbox_bridge_redis_done, op,
                                     nkeys, args->argc, args->argv,
                                     args->argvlen);
    }

    if (rc == NGX_OK) {
        op->state = next;
        op->pending++;
        op->reply = NULL;
    }

    return rc;
}


static void
ngx_http_sandbox_bridge_redis_done(ngx_http_request_t *r, void *data,
    redisReply *reply)
{
    ngx_http_sandbox_bridge_op_t  *op = data;

    if (r == NULL) {
        /* the request went away first */
        return;
    }

    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "sandbox bridge: redis: %*s",
                      (size_t) reply->len, reply->str);
    }

    /* valid for this run only; op may be gone once it returns */
    op->reply = reply;
    ngx_http_sandbox_bridge_step_done(op);
}


/*
 * The one way a flow ends: a client request is finalized with rc, a
 * background job frees its request later (ngx_http_sandbox_bridge_job).
 */

void
ngx_http_sandbox_bridge_finalize(ngx_http_sandbox_bridge_op_t *op,
    ngx_int_t rc)
{
    ngx_http_sandbox_bridge_op_t  *top;

    for (top = op; top->parent; top = top->parent) {
        top->finalized = 1;
    }

    if (top->finalized) {
        ngx_log_error(NGX_LOG_ALERT, op->request->connection->log, 0,
                      "sandbox bridge: flow finalized twice");
        return;
    }

    top->finalized = 1;

    if (top->sleep.timer_set) {
        ngx_del_timer(&top->sleep);
    }

    if (top->end) {
        top->end(top);
        return;
    }

    ngx_http_finalize_request(top->request, rc);
}


void
ngx_http_sandbox_bridge_reply(ngx_http_sandbox_bridge_op_t *op,
    ngx_uint_t status, json_t *body)
{
    ngx_http_sandbox_bridge_finalize(op,
                 ngx_http_sandbox_bridge_send_json(op->request, status, body));
}


void
ngx_http_sandbox_bridge_fail(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_err_e err)
{
    json_t      *body;
    ngx_uint_t   status;

    body = ngx_http_sandbox_bridge_error_json(&status, err);

    ngx_http_sandbox_bridge_reply(op, status, body);
}


void
ngx_http_sandbox_bridge_failf(ngx_http_sandbox_bridge_op_t *op,
    ngx_uint_t status, const char *code, const char *fmt, ...)
{
    va_list   args;
    json_t   *body;

    va_start(args, fmt);
    body = ngx_http_sandbox_bridge_error_jsonv(code, fmt, args);
    va_end(args);

    ngx_http_sandbox_bridge_reply(op, status, body);
}


/* per-credential ownership: another credential's lease is not found */

void
ngx_http_sandbox_bridge_not_owned(ngx_http_sandbox_bridge_op_t *op,
    ngx_str_t *id)
{
    ngx_http_sandbox_bridge_failf(op, NGX_HTTP_NOT_FOUND, "not_found",
                                  "No lease %V for this credential.", id);
}


/* a 401: the request ends here, before any route */

ngx_int_t
ngx_http_sandbox_bridge_unauthorized(ngx_http_request_t *r, const char *msg)
{
    ngx_int_t  rc;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "sandbox bridge: authentication failed: %s", msg);

    ngx_http_sandbox_bridge_metrics_auth_failure(r, msg);

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_sandbox_bridge_send_json(r, NGX_HTTP_UNAUTHORIZED,
                       ngx_http_sandbox_bridge_error_jsonf("unauthorized",
                                                           "%s", msg));

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


json_t *
ngx_http_sandbox_bridge_error_json(ngx_uint_t *status,
    ngx_http_sandbox_bridge_err_e err)
{
    ngx_http_sandbox_bridge_err_t  *e;

    e = &ngx_http_sandbox_bridge_errors[err];
    *status = e->status;

    return json_pack("{s:s%,s:s%}",
                     "error", (char *) e->code.data, e->code.len,
                     "message", (char *) e->message.data, e->message.len);
}


json_t *
ngx_http_sandbox_bridge_error_jsonf(const char *code, const char *fmt, ...)
{
    va_list   args;
    json_t   *body;

    va_start(args, fmt);
    body = ngx_http_sandbox_bridge_error_jsonv(code, fmt, args);
    va_end(args);

    return body;
}


static json_t *
ngx_http_sandbox_bridge_error_jsonv(const char *code, const char *fmt,
    va_list args)
{
    u_char  *p;
    json_t  *body;
    u_char   msg[2048];

    p = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);

    body = json_object();
    if (body == NULL) {
        return NULL;
    }

    json_object_set_new(body, "error", json_string(code));
    json_object_set_new(body, "message", json_stringn((char *) msg, p - msg));

    if (json_object_get(body, "message") == NULL) {
        /* the message was not valid UTF-8 */
        json_object_set_new(body, "message", json_string(code));
    }

    return body;
}


ngx_int_t
ngx_http_sandbox_bridge_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *body)
{
    size_t        len;
    u_char       *p;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (status >= NGX_HTTP_BAD_REQUEST) {
        ngx_http_sandbox_bridge_note_error(r, body);
    }

    p = ngx_http_sandbox_bridge_json_dump(r->pool, body, &len);
    json_decref(body);

    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);

    if (b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    b->pos = p;
    b->last = p + len;
    b->memory = 1;

    cl->buf = b;
    cl->next = NULL;

    return ngx_http_sandbox_bridge_send_body(r, status, cl, len);
}


/* a JSON body made elsewhere, as a chain of len bytes in all */

ngx_int_t
ngx_http_sandbox_bridge_send_body(ngx_http_request_t *r, ngx_uint_t status,
    ngx_chain_t *out, size_t len)
{
    ngx_int_t     rc;
    ngx_chain_t  *cl;

    if (r->header_sent) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "sandbox bridge: response header already sent");
        return NGX_ERROR;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    for (cl = out; cl->next; cl = cl->next) { /* void */ }

    cl->buf->last_buf = (r == r->main) ? 1 : 0;
    cl->buf->last_in_chain = 1;

    return ngx_http_output_filter(r, out);
}


/* an error envelope's code, for $sandbox_error */

static void
ngx_http_sandbox_bridge_note_error(ngx_http_request_t *r, json_t *body)
{
    json_t                         *code;
    ngx_str_t                       s;
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    code = json_object_get(body, "error");
    if (!json_is_string(code)) {
        return;
    }

    ctx = ngx_http_sandbox_bridge_get_ctx(r);
    if (ctx == NULL) {
        return;
    }

    s.data = (u_char *) json_string_value(code);
    s.len = json_string_length(code);

    ctx->error_code.data = ngx_pstrdup(r->pool, &s);
    ctx->error_code.len = ctx->error_code.data ? s.len : 0;
}


/*
 * One line per lease lifecycle event (README "Logs"): the request's
 * credential id, never a secret; "-" for a background job's.
 */

void
ngx_http_sandbox_bridge_log_lease(ngx_http_request_t *r, const char *event,
    ngx_str_t *id, ngx_str_t *host)
{
    ngx_str_t                      *cred;
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    static ngx_str_t  none = ngx_string("-");

    ngx_http_sandbox_bridge_metrics_lease(r, event);

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    cred = (ctx && ctx->cred_id.len) ? &ctx->cred_id : &none;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "sandbox bridge: lease %s id=%V credential=%V host=%V",
                  event, id->len ? id : &none, cred,
                  host->len ? host : &none);
}


/*
 * nginx's own error pages (413, 400, 408 ...) in a bridge location become
 * the bridge's JSON envelope.
 */

ngx_int_t
ngx_http_sandbox_bridge_error_header(ngx_http_request_t *r)
{
    u_char                              *p;
    ngx_str_t                           *code, *msg;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    static ngx_str_t  too_large = ngx_string("payload_too_large");
    static ngx_str_t  too_large_msg = ngx_string("Request body is too large.");
    static ngx_str_t  bad = ngx_string("invalid_request");
    static ngx_str_t  bad_msg = ngx_string("Bad request.");
    static ngx_str_t  timeout = ngx_string("request_timeout");
    static ngx_str_t  timeout_msg = ngx_string("Request timed out.");
    static ngx_str_t  not_found = ngx_string("not_found");
    static ngx_str_t  not_found_msg = ngx_string("Not found.");
    static ngx_str_t  unavailable = ngx_string("unavailable");
    static ngx_str_t  unavailable_msg = ngx_string("Service unavailable.");
    static ngx_str_t  internal = ngx_string("internal_error");
    static ngx_str_t  internal_msg = ngx_string("Internal error.");

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    if (!lcf->enable || r->err_status == 0 || r->header_only) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_sandbox_bridge_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    switch (r->err_status) {
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        code = &too_large;
        msg = &too_large_msg;
        break;
    case NGX_HTTP_BAD_REQUEST:
        code = &bad;
        msg = &bad_msg;
        break;
    case NGX_HTTP_REQUEST_TIME_OUT:
        code = &timeout;
        msg = &timeout_msg;
        break;
    case NGX_HTTP_NOT_FOUND:
        code = &not_found;
        msg = &not_found_msg;
        break;
    case NGX_HTTP_SERVICE_UNAVAILABLE:
        code = &unavailable;
        msg = &unavailable_msg;
        break;
    default:
        code = &internal;
        msg = &internal_msg;
    }

    p = ngx_pnalloc(r->pool, sizeof("{\"error\":\"\",\"message\":\"\"}") - 1
                             + code->len + msg->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->error_code = *code;
    ctx->error_page.data = p;
    ctx->error_page.len = ngx_sprintf(p,
                                      "{\"error\":\"%V\",\"message\":\"%V\"}",
                                      code, msg) - p;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;
    r->headers_out.content_length_n = ctx->error_page.len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_sandbox_bridge_error_body(ngx_http_request_t *r, ngx_chain_t *in,
    ngx_chain_t **out)
{
    ngx_buf_t                      *b;
    ngx_chain_t                    *cl;
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    if (ctx == NULL || ctx->error_page.data == NULL) {
        return NGX_DECLINED;
    }

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
    }

    *out = NULL;

    if (ctx->error_page_sent) {
        return NGX_OK;
    }

    ctx->error_page_sent = 1;

    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);
    if (b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->error_page.data;
    b->last = b->pos + ctx->error_page.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    cl->buf = b;
    cl->next = NULL;
    *out = cl;

    return NGX_OK;
}
