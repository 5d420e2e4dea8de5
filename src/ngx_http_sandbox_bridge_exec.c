
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_exec.h"
#include "ngx_http_sandbox_bridge_body.h"
#include "ngx_http_sandbox_bridge_dexec.h"
#include "ngx_http_sandbox_bridge_input.h"
#include "ngx_http_sandbox_bridge_metrics.h"
#include "ngx_http_sandbox_bridge_result.h"
#include "ngx_http_sandbox_bridge_store.h"
#include "ngx_http_sandbox_bridge_hosts.h"
#include "ngx_http_sandbox_bridge_util.h"


/* Linux's MAX_ARG_STRLEN: the longest single argument, NUL included */
#define NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_MAX  131072

#define NGX_HTTP_SANDBOX_BRIDGE_STDIN_PREFIX  "/tmp/.paperclip-bridge-stdin-"


/* POST <prefix>/exec (README "Exec") */

typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_EXEC_PARSE = NGX_HTTP_SANDBOX_BRIDGE_START,
    NGX_HTTP_SANDBOX_BRIDGE_EXEC_TOUCHED,
    NGX_HTTP_SANDBOX_BRIDGE_EXEC_DONE
} ngx_http_sandbox_bridge_exec_state_e;


typedef struct {
    ngx_http_sandbox_bridge_op_t          op;
    ngx_str_t                             id;
    ngx_str_t                             command;
    ngx_str_t                             cwd;
    ngx_str_t                             stdin_data;
    ngx_str_t                             stdin_path;
    ngx_str_t                             session;
    ngx_str_t                             script;
    ngx_msec_t                            timeout;
    const char                           *bad_key;
    ngx_http_sandbox_bridge_dexec_t      *ex;
    unsigned                              stream:1;
    unsigned                              sse_started:1;
    unsigned                              logged:1;
} ngx_http_sandbox_bridge_exec_op_t;


size_t  ngx_http_sandbox_bridge_exec_size =
    sizeof(ngx_http_sandbox_bridge_exec_op_t);


static void ngx_http_sandbox_bridge_exec_parse(
    ngx_http_sandbox_bridge_exec_op_t *op);
static ngx_int_t ngx_http_sandbox_bridge_exec_limits(
    ngx_http_sandbox_bridge_exec_op_t *op, json_t *body);
static ngx_int_t ngx_http_sandbox_bridge_exec_prepare(
    ngx_http_sandbox_bridge_exec_op_t *op, json_t *body);
static ngx_int_t ngx_http_sandbox_bridge_exec_drop_body(
    ngx_http_sandbox_bridge_exec_op_t *op);
static void ngx_http_sandbox_bridge_exec_touch(
    ngx_http_sandbox_bridge_exec_op_t *op);
static void ngx_http_sandbox_bridge_exec_touched(
    ngx_http_sandbox_bridge_exec_op_t *op);
static void ngx_http_sandbox_bridge_exec_respond(
    ngx_http_sandbox_bridge_exec_op_t *op);
static ngx_int_t ngx_http_sandbox_bridge_exec_started(
    ngx_http_sandbox_bridge_dexec_t *ex);
static ngx_int_t ngx_http_sandbox_bridge_sse_start(
    ngx_http_sandbox_bridge_exec_op_t *op);
static void ngx_http_sandbox_bridge_sse_final(
    ngx_http_sandbox_bridge_exec_op_t *op, const char *event, json_t *data);
static void ngx_http_sandbox_bridge_exec_log(
    ngx_http_sandbox_bridge_exec_op_t *op, const char *end);
static void ngx_http_sandbox_bridge_exec_cleanup(void *data);


void
ngx_http_sandbox_bridge_exec(ngx_http_sandbox_bridge_op_t *op)
{
    ngx_http_sandbox_bridge_exec_op_t  *eo;

    eo = (ngx_http_sandbox_bridge_exec_op_t *) op;

    switch ((ngx_http_sandbox_bridge_exec_state_e) op->state) {

    case NGX_HTTP_SANDBOX_BRIDGE_EXEC_PARSE:
        ngx_http_sandbox_bridge_exec_parse(eo);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_EXEC_TOUCHED:
        ngx_http_sandbox_bridge_exec_touched(eo);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_EXEC_DONE:
        ngx_http_sandbox_bridge_exec_respond(eo);
        return;
    }
}


static void
ngx_http_sandbox_bridge_exec_parse(ngx_http_sandbox_bridge_exec_op_t *op)
{
    json_t                              *body;
    int64_t                              timeout;
    ngx_int_t                            rc;
    const char                          *err;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    ctx = ngx_http_get_module_ctx(op->op.request,
                                  ngx_http_sandbox_bridge_module);
    lcf = ngx_http_get_module_loc_conf(op->op.request,
                                       ngx_http_sandbox_bridge_module);
    body = ctx->body;

    if (ngx_http_sandbox_bridge_read_raw_string(body, "providerLeaseId",
                                                &op->id)
        != NGX_OK
        || op->id.len == 0
        || ngx_http_sandbox_bridge_read_raw_string(body, "command",
                                                   &op->command)
           != NGX_OK
        || op->command.len == 0)
    {
        ngx_http_sandbox_bridge_fail(&op->op,
                                  NGX_HTTP_SANDBOX_BRIDGE_ERR_REQUIRED_EXEC);
        return;
    }

    err = ngx_http_sandbox_bridge_check_id(&op->id);
    if (err) {
        ngx_http_sandbox_bridge_failf(&op->op, NGX_HTTP_BAD_REQUEST,
                                      "invalid_request", "%s", err);
        return;
    }

    if (ngx_http_sandbox_bridge_read_raw_string(body, "cwd", &op->cwd)
        != NGX_OK)
    {
        op->cwd.len = 0;
    }

    if (ngx_http_sandbox_bridge_body_stdin(op->op.request, &op->stdin_data)
        != NGX_OK)
    {
        op->stdin_data.len = 0;
    }

    if (ngx_http_sandbox_bridge_read_session(body, &op->session) != NGX_OK) {
        ngx_http_sandbox_bridge_fail(&op->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_SESSION);
        return;
    }

    timeout = ngx_http_sandbox_bridge_read_timeout(body, lcf);
    op->timeout = (ngx_msec_t) timeout;
    op->stream = json_is_true(json_object_get(body, "streamOutput"));

    if (ngx_http_sandbox_bridge_exec_limits(op, body) != NGX_OK) {
        return;
    }

    rc = ngx_http_sandbox_bridge_exec_prepare(op, body);
    if (rc != NGX_OK) {
        if (rc == NGX_ERROR) {
            ngx_http_sandbox_bridge_fail(&op->op,
                                         NGX_HTTP_SANDBOX_BRIDGE_ERR_NOMEM);
        }

        return;
    }

    if (ngx_http_sandbox_bridge_exec_drop_body(op) != NGX_OK) {
        ngx_http_sandbox_bridge_fail(&op->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_NOMEM);
        return;
    }

    ngx_http_sandbox_bridge_exec_touch(op);
}


/* refused before anything is touched (README "Limits") */

static ngx_int_t
ngx_http_sandbox_bridge_exec_limits(ngx_http_sandbox_bridge_exec_op_t *op,
    json_t *body)
{
    size_t                               i;
    json_t                              *v, *args, *env;
    ngx_uint_t                           n;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(op->op.request,
                                       ngx_http_sandbox_bridge_module);

    if (op->command.len > lcf->max_command_size) {
        ngx_http_sandbox_bridge_failf(&op->op, NGX_HTTP_BAD_REQUEST,
                                      "invalid_request",
                                      "command is longer than %uz bytes.",
                                      lcf->max_command_size);
        return NGX_DECLINED;
    }

    args = json_object_get(body, "args");
    n = 0;

    if (json_is_array(args)) {
        json_array_foreach(args, i, v) {
            if (!json_is_string(v)) {
                continue;
            }

            if (++n > lcf->max_args) {
                ngx_http_sandbox_bridge_failf(&op->op, NGX_HTTP_BAD_REQUEST,
                                              "invalid_request",
                                              "args has more than %ui "
                                              "entries.", lcf->max_args);
                return NGX_DECLINED;
            }

            if (json_string_length(v) > lcf->max_arg_size) {
                ngx_http_sandbox_bridge_failf(&op->op, NGX_HTTP_BAD_REQUEST,
                                              "invalid_request",
                                              "An args entry is longer than "
                                              "%uz bytes.",
                                              lcf->max_arg_size);
                return NGX_DECLINED;
            }
        }
    }

    env = json_object_get(body, "env");

    if (json_is_object(env) && json_object_size(env) > lcf->max_env) {
        ngx_http_sandbox_bridge_failf(&op->op, NGX_HTTP_BAD_REQUEST,
                                      "invalid_request",
                                      "env has more than %ui entries.",
                                      lcf->max_env);
        return NGX_DECLINED;
    }

    if (op->stdin_data.len > lcf->max_stdin_size) {
        ngx_http_sandbox_bridge_failf(&op->op, NGX_HTTP_BAD_REQUEST,
                                      "invalid_request",
                                      "stdin is larger than %uz bytes.",
                                      lcf->max_stdin_size);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the command line, built before anything is touched */

static ngx_int_t
ngx_http_sandbox_bridge_exec_prepare(ngx_http_sandbox_bridge_exec_op_t *op,
    json_t *body)
{
    u_char      *p;
    ngx_int_t    rc;
    ngx_pool_t  *pool;

    pool = op->op.request->pool;

    if (op->stdin_data.len) {
        op->stdin_path.len = sizeof(NGX_HTTP_SANDBOX_BRIDGE_STDIN_PREFIX) - 1
                             + 32;
        op->stdin_path.data = ngx_pnalloc(pool, op->stdin_path.len);
        if (op->stdin_path.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(op->stdin_path.data,
                       NGX_HTTP_SANDBOX_BRIDGE_STDIN_PREFIX,
                       sizeof(NGX_HTTP_SANDBOX_BRIDGE_STDIN_PREFIX) - 1);

        if (ngx_http_sandbox_bridge_random_hex(p, 32) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    rc = ngx_http_sandbox_bridge_exec_script(pool, &op->command,
                                             json_object_get(body, "args"),
                                             &op->cwd,
                                             json_object_get(body, "env"),
                                             &op->stdin_path, &op->script,
                                             &op->bad_key);

    if (rc == NGX_DECLINED) {
        /* reported once the lease is known */
        op->stdin_path.len = 0;
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    /* the script is one argument of sh -lc: Linux's MAX_ARG_STRLEN */
    if (op->script.len >= NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_MAX) {
        ngx_http_sandbox_bridge_failf(&op->op, NGX_HTTP_BAD_REQUEST,
                           "invalid_request",
                           "The quoted command line (command, args, env, "
                           "cwd) is longer than %d bytes.",
                           NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_MAX - 1);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * The command line is built: the parsed body goes back now, not when a
 * stream ends; the few strings still needed are copied first.
 */

static ngx_int_t
ngx_http_sandbox_bridge_exec_drop_body(ngx_http_sandbox_bridge_exec_op_t *op)
{
    u_char                         *p;
    size_t                          len;
    ngx_pool_t                     *pool;
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    pool = op->op.request->pool;

    op->id.data = ngx_pstrdup(pool, &op->id);
    op->session.data = ngx_pstrdup(pool, &op->session);

    if (op->id.data == NULL || op->session.data == NULL) {
        return NGX_ERROR;
    }

    if (op->bad_key) {
        len = ngx_strlen(op->bad_key) + 1;

        p = ngx_pnalloc(pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(p, op->bad_key, len);
        op->bad_key = (const char *) p;
    }

    ngx_str_null(&op->command);
    ngx_str_null(&op->cwd);

    ctx = ngx_http_get_module_ctx(op->op.request,
                                  ngx_http_sandbox_bridge_module);

    json_decref(ctx->body);
    ctx->body = NULL;

    return NGX_OK;
}


/* the lease lookup refreshes its activity */

static void
ngx_http_sandbox_bridge_exec_touch(ngx_http_sandbox_bridge_exec_op_t *op)
{
    ngx_str_t                             key;
    ngx_http_request_t                   *r;
    ngx_http_sandbox_bridge_ctx_t        *ctx;
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    r = op->op.request;
    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    ctx->lease_id = op->id;
    ctx->docker_host = lcf->docker_location;

    if (ngx_http_sandbox_bridge_lease_key(r->pool, mcf, &op->id, &key)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_fail(&op->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_NOMEM);
        return;
    }

    if (ngx_http_sandbox_bridge_store_touch(&op->op, &key, NULL,
                                         NGX_HTTP_SANDBOX_BRIDGE_EXEC_TOUCHED)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_fail(&op->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE);
    }
}


static void
ngx_http_sandbox_bridge_exec_touched(ngx_http_sandbox_bridge_exec_op_t *op)
{
    json_t                              *body, *msg;
    redisReply                          *reply;
    ngx_pool_cleanup_t                  *cln;
    ngx_http_request_t                  *r;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_host_t      *host;
    ngx_http_sandbox_bridge_lease_t      lease;
    ngx_http_sandbox_bridge_dexec_t     *ex;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    r = op->op.request;
    reply = op->op.reply;
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_sandbox_bridge_fail(&op->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE);
        return;
    }

    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == -1) {
        ngx_http_sandbox_bridge_not_owned(&op->op, &op->id);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY) {
        /* unknown, expired or destroyed: nothing is created */
        ngx_http_sandbox_bridge_fail(&op->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_STATE_LOST);
        return;
    }

    if (ngx_http_sandbox_bridge_hosts_refused(&op->op, reply, &op->id)
        != NGX_OK)
    {
        return;
    }

    ngx_memzero(&lease, sizeof(ngx_http_sandbox_bridge_lease_t));

    if (ngx_http_sandbox_bridge_lease_fields(r->pool, reply, &lease)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_fail(&op->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE);
        return;
    }

    /* the lease's own host (README "Docker hosts") */
    host = ngx_http_sandbox_bridge_host_find(lcf,
                                   lcf->hosts->simple ? NULL : &lease.docker);
    if (host == NULL) {
        ngx_http_sandbox_bridge_fail(&op->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE);
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    ctx->docker_host = host->name;

    if (op->bad_key) {
        /* the whole key: a cut one could split a UTF-8 sequence */
        body = ngx_http_sandbox_bridge_error_jsonf("internal_error",
                                              "Invalid sandbox environment "
                                              "variable key: %s",
                                              op->bad_key);

        if (!op->stream) {
            ngx_http_sandbox_bridge_reply(&op->op,
                                          NGX_HTTP_INTERNAL_SERVER_ERROR,
                                          body);
            return;
        }

        /* a stream reports it as its error event */
        msg = json_incref(json_object_get(body, "message"));
        json_decref(body);

        if (msg == NULL || ngx_http_sandbox_bridge_sse_start(op) != NGX_OK) {
            json_decref(msg);
            ngx_http_sandbox_bridge_finalize(&op->op, NGX_ERROR);
            return;
        }

        ngx_http_sandbox_bridge_sse_final(op, "error",
                                          json_pack("{s:o}", "error", msg));
        return;
    }

    ex = ngx_http_sandbox_bridge_dexec_create(r, lcf);
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (ex == NULL || cln == NULL) {
        ngx_http_sandbox_bridge_fail(&op->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_NOMEM);
        return;
    }

    /* a client that leaves ends the exec without a reply */
    cln->handler = ngx_http_sandbox_bridge_exec_cleanup;
    cln->data = op;

    op->ex = ex;

    ex->location = host->location;

    ex->container = lease.container;
    ex->script = op->script;
    ex->session = op->session;
    ex->stdin_data = op->stdin_data;
    ex->stdin_path = op->stdin_path;
    ex->timeout = op->timeout;
    ex->output.sse = op->stream;
    ex->output.escaped = 1;
    ex->started = op->stream ? ngx_http_sandbox_bridge_exec_started : NULL;

    ngx_http_sandbox_bridge_dexec(&op->op, ex,
                                  NGX_HTTP_SANDBOX_BRIDGE_EXEC_DONE);
}


static ngx_int_t
ngx_http_sandbox_bridge_exec_started(ngx_http_sandbox_bridge_dexec_t *ex)
{
    ngx_http_sandbox_bridge_exec_op_t  *op;

    op = (ngx_http_sandbox_bridge_exec_op_t *) ex->op.parent;

    if (ngx_http_sandbox_bridge_sse_start(op) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_sandbox_bridge_stream_heartbeat_start(&ex->output);

    return NGX_OK;
}


static void
ngx_http_sandbox_bridge_exec_respond(ngx_http_sandbox_bridge_exec_op_t *op)
{
    size_t                            len;
    ngx_chain_t                      *out, *cl;
    ngx_http_sandbox_bridge_dexec_t  *ex;

    ex = op->ex;

    ngx_http_sandbox_bridge_exec_log(op, ex->failed ? "error"
                                         : ex->timed_out ? "timeout"
                                         : "exit");

    if (ex->lost && !op->sse_started) {
        ngx_http_sandbox_bridge_fail(&op->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_STATE_LOST);
        return;
    }

    if (ex->failed) {
        /* before a stream starts, an HTTP status tells the client */
        if (!op->sse_started) {
            if (ex->unreachable) {
                ngx_http_sandbox_bridge_failf(&op->op,
                                              NGX_HTTP_SERVICE_UNAVAILABLE,
                                              "driver_unavailable", "%V",
                                              &ex->error);
                return;
            }

            ngx_http_sandbox_bridge_failf(&op->op,
                                          NGX_HTTP_INTERNAL_SERVER_ERROR,
                                          "internal_error", "%V",
                                          &ex->error);
            return;
        }

        ngx_http_sandbox_bridge_sse_final(op, "error",
                               json_pack("{s:s%}", "error",
                                         (char *) ex->error.data,
                                         ex->error.len));
        return;
    }

    out = ngx_http_sandbox_bridge_result(ex, op->stream, &len);

    if (out == NULL) {
        ngx_http_sandbox_bridge_finalize(&op->op, NGX_ERROR);
        return;
    }

    if (!op->stream) {
        ngx_http_sandbox_bridge_finalize(&op->op,
                              ngx_http_sandbox_bridge_send_body(op->op.request,
                                                                NGX_HTTP_OK,
                                                                out, len));
        return;
    }

    for (cl = out; cl->next; cl = cl->next) { /* void */ }

    cl->buf->last_buf = 1;
    cl->buf->last_in_chain = 1;
    cl->buf->flush = 1;

    ngx_http_sandbox_bridge_finalize(&op->op,
                          ngx_http_output_filter(op->op.request, out));
}


/*
 * The SSE response starts once the command is about to run, so a lost
 * lease can still get its 409; later errors are SSE events.
 */

static ngx_int_t
ngx_http_sandbox_bridge_sse_start(ngx_http_sandbox_bridge_exec_op_t *op)
{
    ngx_int_t            rc;
    ngx_str_t            text;
    ngx_http_request_t  *r;

    if (op->sse_started) {
        return NGX_OK;
    }

    op->sse_started = 1;
    r = op->op.request;

    ngx_http_sandbox_bridge_metrics_stream(r, 1);

    r->headers_out.status = NGX_HTTP_OK;
    ngx_str_set(&r->headers_out.content_type, "text/event-stream");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_length_n = -1;

    if (ngx_http_sandbox_bridge_add_header(r, "Cache-Control", "no-cache")
        != NGX_OK
        || ngx_http_sandbox_bridge_add_header(r, "X-Accel-Buffering", "no")
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK) {
        return NGX_ERROR;
    }

    /* push the headers out now */
    ngx_str_null(&text);

    if (ngx_http_sandbox_bridge_sse_send(r, &text, 0) == NGX_ERROR) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the one terminal event: "event: <name>\ndata: <json>\n\n", then the end */

static void
ngx_http_sandbox_bridge_sse_final(ngx_http_sandbox_bridge_exec_op_t *op,
    const char *event, json_t *data)
{
    char                *s;
    size_t               len;
    ngx_str_t            text;
    ngx_http_request_t  *r;

    r = op->op.request;

    s = data ? json_dumps(data, JSON_COMPACT) : NULL;
    json_decref(data);

    if (s == NULL) {
        ngx_http_sandbox_bridge_finalize(&op->op, NGX_ERROR);
        return;
    }

    len = ngx_strlen(s);
    text.len = sizeof("event: \ndata: \n\n") - 1 + ngx_strlen(event) + len;
    text.data = ngx_pnalloc(r->pool, text.len);

    if (text.data == NULL) {
        free(s);
        ngx_http_sandbox_bridge_finalize(&op->op, NGX_ERROR);
        return;
    }

    ngx_sprintf(text.data, "event: %s\ndata: %*s\n\n", event, len, s);
    free(s);

    ngx_http_sandbox_bridge_finalize(&op->op,
                               ngx_http_sandbox_bridge_sse_send(r, &text, 1));
}


/*
 * The exec's end for $sandbox_exit_code, $sandbox_exec_ms and one log
 * line (README "Logs"); once per exec.
 */

static void
ngx_http_sandbox_bridge_exec_log(ngx_http_sandbox_bridge_exec_op_t *op,
    const char *end)
{
    u_char                           *p;
    ngx_str_t                        *cred;
    ngx_http_request_t               *r;
    ngx_http_sandbox_bridge_ctx_t    *ctx;
    ngx_http_sandbox_bridge_dexec_t  *ex;
    u_char                            code[NGX_INT_T_LEN + 1];
    u_char                            ms[NGX_INT_T_LEN + 1];

    static ngx_str_t  none = ngx_string("-");

    if (op->logged) {
        return;
    }

    op->logged = 1;

    r = op->op.request;
    ex = op->ex;
    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    if (ctx == NULL) {
        return;
    }

    if (!ex->failed && !ex->timed_out
        && ex->exit_code != NGX_HTTP_SANDBOX_BRIDGE_EXIT_NULL)
    {
        ctx->exit_code = ex->exit_code;
        ctx->exit_known = 1;
    }

    if (ex->start) {
        ctx->exec_ms = ngx_current_msec - ex->start;
        ctx->exec_ran = 1;
    }

    p = ctx->exit_known ? ngx_sprintf(code, "%i", ctx->exit_code)
                        : ngx_cpymem(code, "-", 1);
    *p = '\0';

    p = ctx->exec_ran ? ngx_sprintf(ms, "%M", ctx->exec_ms)
                      : ngx_cpymem(ms, "-", 1);
    *p = '\0';

    cred = ctx->cred_id.len ? &ctx->cred_id : &none;

    ngx_http_sandbox_bridge_metrics_exec(r, op->stream, end,
                            ctx->exec_ran ? (ngx_msec_int_t) ctx->exec_ms : -1);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "sandbox bridge: exec %s id=%V credential=%V host=%V "
                  "exit=%s ms=%s", end, &op->id, cred,
                  ctx->docker_host.len ? &ctx->docker_host : &none,
                  code, ms);
}


static void
ngx_http_sandbox_bridge_exec_cleanup(void *data)
{
    ngx_http_sandbox_bridge_exec_op_t  *op = data;

    /* the request ends before its exec did: the client went away */
    if (!op->logged) {
        ngx_http_sandbox_bridge_exec_log(op, "disconnect");
    }

    if (op->sse_started) {
        ngx_http_sandbox_bridge_metrics_stream(op->op.request, -1);
    }
}
