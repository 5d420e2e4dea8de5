
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_exec.h"
#include "ngx_http_sandbox_bridge_lease.h"
#include "ngx_http_sandbox_bridge_util.h"


/* Linux's MAX_ARG_STRLEN: the longest single argument, NUL included */
#define NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_MAX  131072

#define NGX_HTTP_SANDBOX_BRIDGE_TAG                                           \
    (ngx_buf_tag_t) &ngx_http_sandbox_bridge_module


typedef struct {
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;
    ngx_str_t                            container;
    ngx_str_t                            script;
    ngx_str_t                            exec_id;
    ngx_http_sandbox_bridge_call_t       call;
} ngx_http_sandbox_bridge_kill_t;


static void ngx_http_sandbox_bridge_exec_create(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_exec_created(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_exec_uploaded(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_exec_started(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_exec_inspected(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_exec_finish(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_exec_t *ex);
static void ngx_http_sandbox_bridge_exec_fail(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_exec_t *ex, ngx_http_sandbox_bridge_call_t *call,
    const char *what);
static void ngx_http_sandbox_bridge_exec_cleanup(void *data);
static void ngx_http_sandbox_bridge_exec_timeout(ngx_event_t *ev);
static void ngx_http_sandbox_bridge_exec_heartbeat(ngx_event_t *ev);
static ngx_int_t ngx_http_sandbox_bridge_exec_body(ngx_http_request_t *sr,
    ngx_http_sandbox_bridge_call_t *call, ngx_chain_t *in);
static ngx_int_t ngx_http_sandbox_bridge_exec_payload(void *data,
    ngx_uint_t stream, u_char *p, size_t len);
static ngx_int_t ngx_http_sandbox_bridge_acc_add(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_acc_t *acc, u_char *p, size_t len, size_t limit);
static void ngx_http_sandbox_bridge_octal(u_char *dst, size_t digits,
    uint64_t v);
static ngx_chain_t *ngx_http_sandbox_bridge_tar(ngx_pool_t *pool,
    ngx_str_t *name, ngx_str_t *data, off_t *len);
static json_t *ngx_http_sandbox_bridge_exec_text(
    ngx_http_sandbox_bridge_acc_t *acc, ngx_str_t *suffix);

static void ngx_http_sandbox_bridge_kill_start(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_kill_created(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_kill_done(ngx_http_request_t *r);

static void ngx_http_sandbox_bridge_exec_leased(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_lease_t *lease, ngx_int_t rc);
static void ngx_http_sandbox_bridge_exec_respond(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_exec_t *ex);
static ngx_int_t ngx_http_sandbox_bridge_sse_start(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_exec_t *ex);
static void ngx_http_sandbox_bridge_exec_flush_utf8(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_exec_t *ex);
static void ngx_http_sandbox_bridge_sse_final(ngx_http_request_t *r,
    const char *event, json_t *data);


static ngx_str_t  ngx_http_sandbox_bridge_keepalive =
    ngx_string(": keepalive\n\n");


/* PROTOCOL §5.2 */

ngx_int_t
ngx_http_sandbox_bridge_exec_script(ngx_pool_t *pool, ngx_str_t *command,
    json_t *args, ngx_str_t *cwd, json_t *env, ngx_str_t *stdin_path,
    ngx_str_t *script, const char **bad_key)
{
    size_t       len, i, k;
    u_char      *p;
    json_t      *v;
    ngx_str_t    s;
    ngx_uint_t   nenv;
    const char  *key;

    static ngx_str_t  profile = ngx_string(
        "if [ -f /etc/profile ]; then . /etc/profile >/dev/null 2>&1 || true; "
        "fi && "
        "if [ -f \"$HOME/.profile\" ]; then . \"$HOME/.profile\" >/dev/null "
        "2>&1 || true; fi && "
        "if [ -f \"$HOME/.bash_profile\" ]; then . \"$HOME/.bash_profile\" "
        ">/dev/null 2>&1 || true; elif [ -f \"$HOME/.bashrc\" ]; then . "
        "\"$HOME/.bashrc\" >/dev/null 2>&1 || true; fi && "
        "if [ -f \"$HOME/.zprofile\" ]; then . \"$HOME/.zprofile\" "
        ">/dev/null 2>&1 || true; fi");

    nenv = 0;

    if (env && json_is_object(env)) {
        json_object_foreach(env, key, v) {
            k = ngx_strlen(key);

            if (k == 0 || !(isalpha((unsigned char) key[0]) || key[0] == '_')) {
                *bad_key = key;
                return NGX_DECLINED;
            }

            for (i = 1; i < k; i++) {
                if (!(isalpha((unsigned char) key[i]) || key[i] == '_'
                      || (key[i] >= '0' && key[i] <= '9')))
                {
                    *bad_key = key;
                    return NGX_DECLINED;
                }
            }
        }
    }

    len = profile.len + sizeof(" && exec env") - 1
          + ngx_http_sandbox_bridge_shell_quote_len(command) + 1;

    if (cwd && cwd->len) {
        len += sizeof(" && cd ") - 1
               + ngx_http_sandbox_bridge_shell_quote_len(cwd);
    }

    if (env && json_is_object(env)) {
        json_object_foreach(env, key, v) {
            if (!json_is_string(v)) {
                continue;
            }

            s.data = (u_char *) json_string_value(v);
            s.len = json_string_length(v);

            len += 1 + ngx_strlen(key) + 1
                   + ngx_http_sandbox_bridge_shell_quote_len(&s);
            nenv++;
        }
    }

    if (args && json_is_array(args)) {
        json_array_foreach(args, i, v) {
            if (!json_is_string(v)) {
                continue;
            }

            s.data = (u_char *) json_string_value(v);
            s.len = json_string_length(v);

            len += 1 + ngx_http_sandbox_bridge_shell_quote_len(&s);
        }
    }

    if (stdin_path && stdin_path->len) {
        len += sizeof(" < ") - 1
               + ngx_http_sandbox_bridge_shell_quote_len(stdin_path);
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    script->data = p;

    p = ngx_cpymem(p, profile.data, profile.len);

    if (cwd && cwd->len) {
        p = ngx_cpymem(p, " && cd ", sizeof(" && cd ") - 1);
        p = ngx_http_sandbox_bridge_shell_quote(p, cwd);
    }

    if (nenv) {
        p = ngx_cpymem(p, " && exec env", sizeof(" && exec env") - 1);

        json_object_foreach(env, key, v) {
            if (!json_is_string(v)) {
                continue;
            }

            s.data = (u_char *) json_string_value(v);
            s.len = json_string_length(v);

            *p++ = ' ';
            p = ngx_cpymem(p, key, ngx_strlen(key));
            *p++ = '=';
            p = ngx_http_sandbox_bridge_shell_quote(p, &s);
        }

    } else {
        p = ngx_cpymem(p, " && exec", sizeof(" && exec") - 1);
    }

    *p++ = ' ';
    p = ngx_http_sandbox_bridge_shell_quote(p, command);

    if (args && json_is_array(args)) {
        json_array_foreach(args, i, v) {
            if (!json_is_string(v)) {
                continue;
            }

            s.data = (u_char *) json_string_value(v);
            s.len = json_string_length(v);

            *p++ = ' ';
            p = ngx_http_sandbox_bridge_shell_quote(p, &s);
        }
    }

    if (stdin_path && stdin_path->len) {
        p = ngx_cpymem(p, " < ", sizeof(" < ") - 1);
        p = ngx_http_sandbox_bridge_shell_quote(p, stdin_path);
    }

    script->len = p - script->data;

    return NGX_OK;
}


/* runs ex->script in ex->container; calls ex->done when over */

ngx_int_t
ngx_http_sandbox_bridge_exec_run(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_exec_t *ex)
{
    off_t                           len;
    ngx_str_t                       uri, args, name;
    ngx_chain_t                    *tar;
    ngx_pool_cleanup_t             *cln;
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    ex->request = r;
    ex->exit_code = NGX_HTTP_SANDBOX_BRIDGE_EXIT_NULL;
    ex->sse_last = &ex->sse_out;

    if (ngx_http_sandbox_bridge_random_hex(ex->marker, sizeof(ex->marker))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_sandbox_bridge_exec_cleanup;
    cln->data = ex;

    ctx->exec = ex;

    if (ex->stdin_path.len == 0) {
        ngx_http_sandbox_bridge_exec_create(r);
        return NGX_OK;
    }

    /* stdin: a one-file tar unpacked into /tmp (BACKENDS §A) */
    name.data = ex->stdin_path.data + sizeof("/tmp/") - 1;
    name.len = ex->stdin_path.len - (sizeof("/tmp/") - 1);

    tar = ngx_http_sandbox_bridge_tar(r->pool, &name, &ex->stdin_data, &len);
    if (tar == NULL) {
        return NGX_ERROR;
    }

    uri.len = sizeof("/containers//archive") - 1 + ex->container.len;
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(uri.data, "/containers/%V/archive", &ex->container);
    ngx_str_set(&args, "path=/tmp");

    ctx->resume = ngx_http_sandbox_bridge_exec_uploaded;

    return ngx_http_sandbox_bridge_docker_call(r, &ex->lcf->docker_location,
                                               NGX_HTTP_PUT, &uri, &args,
                                               "application/x-tar", tar, len,
                                               &ex->call);
}


static void
ngx_http_sandbox_bridge_exec_uploaded(ngx_http_request_t *r)
{
    ngx_http_sandbox_bridge_ctx_t   *ctx;
    ngx_http_sandbox_bridge_exec_t  *ex;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    ex = ctx->exec;

    if (ex->call.status != NGX_HTTP_OK) {
        ex->lost = (ex->call.status == NGX_HTTP_NOT_FOUND);
        ngx_http_sandbox_bridge_exec_fail(r, ex, &ex->call, "stage stdin");
        return;
    }

    ngx_http_sandbox_bridge_exec_create(r);
}


static void
ngx_http_sandbox_bridge_exec_create(ngx_http_request_t *r)
{
    json_t                          *body, *cmd, *env;
    ngx_str_t                        uri;
    ngx_http_sandbox_bridge_ctx_t   *ctx;
    ngx_http_sandbox_bridge_exec_t  *ex;
    u_char                           buf[64 + 256];

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    ex = ctx->exec;

    body = json_object();
    cmd = json_array();
    env = json_array();

    if (body == NULL || cmd == NULL || env == NULL) {
        goto failed;
    }

    json_array_append_new(cmd, json_string("sh"));
    json_array_append_new(cmd, json_string("-lc"));
    json_array_append_new(cmd, ngx_http_sandbox_bridge_json_strn(&ex->script));

    /* the marker lets a kill find every process the command started */
    json_array_append_new(env, json_stringn((char *) buf,
                          ngx_snprintf(buf, sizeof(buf), "PSB_EXEC=%*s",
                                       sizeof(ex->marker), ex->marker)
                          - buf));

    if (ex->session.len) {
        json_array_append_new(env, json_stringn((char *) buf,
                              ngx_snprintf(buf, sizeof(buf),
                                           "PSB_SESSION=%V", &ex->session)
                              - buf));
    }

    json_object_set_new(body, "AttachStdin", json_false());
    json_object_set_new(body, "AttachStdout", json_true());
    json_object_set_new(body, "AttachStderr", json_true());
    json_object_set_new(body, "Tty", json_false());
    json_object_set_new(body, "Cmd", cmd);
    json_object_set_new(body, "Env", env);
    json_object_set_new(body, "WorkingDir", json_string("/"));

    cmd = NULL;
    env = NULL;

    uri.len = sizeof("/containers//exec") - 1 + ex->container.len;
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        goto failed;
    }

    ngx_sprintf(uri.data, "/containers/%V/exec", &ex->container);

    ctx->resume = ngx_http_sandbox_bridge_exec_created;

    if (ngx_http_sandbox_bridge_docker_json_call(r,
                                                 &ex->lcf->docker_location,
                                                 NGX_HTTP_POST, &uri, NULL,
                                                 body, &ex->call)
        != NGX_OK)
    {
        body = NULL;
        goto failed;
    }

    return;

failed:

    json_decref(body);
    json_decref(cmd);
    json_decref(env);

    ex->failed = 1;
    ngx_str_set(&ex->error, "could not create the Docker exec");
    ngx_http_sandbox_bridge_exec_finish(r, ex);
}


static void
ngx_http_sandbox_bridge_exec_created(ngx_http_request_t *r)
{
    json_t                          *reply, *id;
    ngx_str_t                        uri;
    ngx_http_sandbox_bridge_ctx_t   *ctx;
    ngx_http_sandbox_bridge_exec_t  *ex;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    ex = ctx->exec;

    if (ex->call.status == NGX_HTTP_NOT_FOUND
        || ex->call.status == NGX_HTTP_CONFLICT)
    {
        /* the container is gone or stopped */
        ex->lost = 1;
        ngx_http_sandbox_bridge_exec_fail(r, ex, &ex->call, "create exec");
        return;
    }

    if (ex->call.status != NGX_HTTP_CREATED) {
        ngx_http_sandbox_bridge_exec_fail(r, ex, &ex->call, "create exec");
        return;
    }

    reply = ngx_http_sandbox_bridge_docker_reply(&ex->call);
    id = reply ? json_object_get(reply, "Id") : NULL;

    if (!json_is_string(id) || json_string_length(id) > 128) {
        json_decref(reply);
        ngx_http_sandbox_bridge_exec_fail(r, ex, &ex->call, "create exec");
        return;
    }

    ex->exec_id.len = json_string_length(id);
    ex->exec_id.data = ngx_pnalloc(r->pool, ex->exec_id.len);
    if (ex->exec_id.data == NULL) {
        json_decref(reply);
        ngx_http_sandbox_bridge_exec_fail(r, ex, NULL, "create exec");
        return;
    }

    ngx_memcpy(ex->exec_id.data, json_string_value(id), ex->exec_id.len);
    json_decref(reply);

    if (ex->stream && ngx_http_sandbox_bridge_sse_start(r, ex) != NGX_OK) {
        ngx_http_sandbox_bridge_exec_fail(r, ex, NULL, "start stream");
        return;
    }

    uri.len = sizeof("/exec//start") - 1 + ex->exec_id.len;
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        ngx_http_sandbox_bridge_exec_fail(r, ex, NULL, "start exec");
        return;
    }

    ngx_sprintf(uri.data, "/exec/%V/start", &ex->exec_id);

    reply = json_object();
    if (reply == NULL) {
        ngx_http_sandbox_bridge_exec_fail(r, ex, NULL, "start exec");
        return;
    }

    json_object_set_new(reply, "Detach", json_false());
    json_object_set_new(reply, "Tty", json_false());

    ex->stream_call.body_filter = ngx_http_sandbox_bridge_exec_body;
    ex->stream_call.data = ex;

    ctx->resume = ngx_http_sandbox_bridge_exec_started;

    if (ngx_http_sandbox_bridge_docker_json_call(r,
                                                 &ex->lcf->docker_location,
                                                 NGX_HTTP_POST, &uri, NULL,
                                                 reply, &ex->stream_call)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_exec_fail(r, ex, NULL, "start exec");
        return;
    }

    ex->running = 1;

    ex->timer.handler = ngx_http_sandbox_bridge_exec_timeout;
    ex->timer.data = ex;
    ex->timer.log = r->connection->log;

    ngx_add_timer(&ex->timer, ex->timeout);
}


static void
ngx_http_sandbox_bridge_exec_started(ngx_http_request_t *r)
{
    ngx_str_t                        uri;
    ngx_http_sandbox_bridge_ctx_t   *ctx;
    ngx_http_sandbox_bridge_exec_t  *ex;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    ex = ctx->exec;

    ex->running = 0;

    if (ex->timer.timer_set) {
        ngx_del_timer(&ex->timer);
    }

    if (ex->stream) {
        ngx_http_sandbox_bridge_exec_flush_utf8(r, ex);
    }

    if (ex->stream_call.status != NGX_HTTP_OK) {
        ngx_http_sandbox_bridge_exec_fail(r, ex, &ex->stream_call,
                                          "start exec");
        return;
    }

    uri.len = sizeof("/exec//json") - 1 + ex->exec_id.len;
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        ngx_http_sandbox_bridge_exec_fail(r, ex, NULL, "inspect exec");
        return;
    }

    ngx_sprintf(uri.data, "/exec/%V/json", &ex->exec_id);

    ctx->resume = ngx_http_sandbox_bridge_exec_inspected;

    if (ngx_http_sandbox_bridge_docker_call(r, &ex->lcf->docker_location,
                                            NGX_HTTP_GET, &uri, NULL, NULL,
                                            NULL, 0, &ex->call)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_exec_fail(r, ex, NULL, "inspect exec");
    }
}


static void
ngx_http_sandbox_bridge_exec_inspected(ngx_http_request_t *r)
{
    json_t                          *reply, *code, *running;
    ngx_http_sandbox_bridge_ctx_t   *ctx;
    ngx_http_sandbox_bridge_exec_t  *ex;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    ex = ctx->exec;

    if (ex->call.status != NGX_HTTP_OK) {
        ngx_http_sandbox_bridge_exec_fail(r, ex, &ex->call, "inspect exec");
        return;
    }

    reply = ngx_http_sandbox_bridge_docker_reply(&ex->call);
    code = reply ? json_object_get(reply, "ExitCode") : NULL;
    running = reply ? json_object_get(reply, "Running") : NULL;

    if (json_is_integer(code) && !json_is_true(running)) {
        ex->exit_code = (ngx_int_t) json_integer_value(code);
    }

    json_decref(reply);

    ngx_http_sandbox_bridge_exec_finish(r, ex);
}


static void
ngx_http_sandbox_bridge_exec_fail(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_exec_t *ex, ngx_http_sandbox_bridge_call_t *call,
    const char *what)
{
    u_char  *p, *last;
    u_char   buf[512];

    p = ngx_snprintf(buf, sizeof(buf), "%s failed", what);

    if (call) {
        p = ngx_cpymem(p, ": ", 2);
        last = ngx_http_sandbox_bridge_docker_error(call, p,
                                                    buf + sizeof(buf) - p);
        p = last;
    }

    ex->error.len = p - buf;
    ex->error.data = ngx_pnalloc(r->pool, ex->error.len);
    if (ex->error.data) {
        ngx_memcpy(ex->error.data, buf, ex->error.len);
    } else {
        ex->error.len = 0;
    }

    ex->failed = 1;

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "sandbox bridge: exec in \"%V\": %*s",
                  &ex->container, p - buf, buf);

    ngx_http_sandbox_bridge_exec_finish(r, ex);
}


static void
ngx_http_sandbox_bridge_exec_finish(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_exec_t *ex)
{
    if (ex->finished) {
        return;
    }

    ex->finished = 1;

    if (ex->timer.timer_set) {
        ngx_del_timer(&ex->timer);
    }

    if (ex->heartbeat.timer_set) {
        ngx_del_timer(&ex->heartbeat);
    }

    /* the staged stdin file is removed in the background */
    if (ex->stdin_path.len && !ex->timed_out) {
        (void) ngx_http_sandbox_bridge_exec_kill(ex->lcf, &ex->container,
                                                 NULL, &ex->stdin_path);
    }

    ex->done(r, ex);
}


/* the client went away or the request ended: kill what still runs (D11) */

static void
ngx_http_sandbox_bridge_exec_cleanup(void *data)
{
    ngx_http_sandbox_bridge_exec_t  *ex = data;

    if (ex->timer.timer_set) {
        ngx_del_timer(&ex->timer);
    }

    if (ex->heartbeat.timer_set) {
        ngx_del_timer(&ex->heartbeat);
    }

    if (ex->finished || ex->exec_id.len == 0) {
        return;
    }

    ex->finished = 1;

    (void) ngx_http_sandbox_bridge_exec_kill(ex->lcf, &ex->container,
                                             ex->marker, &ex->stdin_path);
}


static void
ngx_http_sandbox_bridge_exec_timeout(ngx_event_t *ev)
{
    ngx_http_sandbox_bridge_exec_t  *ex = ev->data;

    ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                  "sandbox bridge: exec in \"%V\" timed out after %M ms",
                  &ex->container, ex->timeout);

    ex->timed_out = 1;

    /* D10: kill the process tree; the stream then ends by itself */
    if (ngx_http_sandbox_bridge_exec_kill(ex->lcf, &ex->container,
                                          ex->marker, &ex->stdin_path)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "sandbox bridge: could not start the exec kill");
    }
}


static ngx_int_t
ngx_http_sandbox_bridge_acc_add(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_acc_t *acc, u_char *p, size_t len, size_t limit)
{
    size_t   cap;
    u_char  *n;

    if (acc->len + len > limit) {
        len = limit - acc->len;
    }

    if (len == 0) {
        return NGX_OK;
    }

    if (acc->len + len > acc->cap) {
        cap = ngx_max(acc->cap * 2, 1024);

        while (cap < acc->len + len) {
            cap *= 2;
        }

        cap = ngx_min(cap, limit);

        n = ngx_pnalloc(pool, cap);
        if (n == NULL) {
            return NGX_ERROR;
        }

        if (acc->len) {
            ngx_memcpy(n, acc->data, acc->len);
        }

        /* the old block goes back to the pool when large */
        if (acc->data) {
            ngx_pfree(pool, acc->data);
        }

        acc->data = n;
        acc->cap = cap;
    }

    ngx_memcpy(acc->data + acc->len, p, len);
    acc->len += len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_sandbox_bridge_exec_payload(void *data, ngx_uint_t stream,
    u_char *p, size_t len)
{
    ngx_http_sandbox_bridge_exec_t *ex = data;

    size_t                          n;
    ngx_buf_t                      *b;
    ngx_http_sandbox_bridge_acc_t  *acc;

    acc = (stream == NGX_HTTP_SANDBOX_BRIDGE_STDERR) ? &ex->err : &ex->out;

    if (acc->len + len > ex->limit) {
        ex->truncated = 1;
    }

    if (ngx_http_sandbox_bridge_acc_add(ex->request->pool, acc, p, len,
                                        ex->limit)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!ex->stream) {
        return NGX_OK;
    }

    n = ngx_http_sandbox_bridge_sse_event_len(len);

    b = (*ex->sse_last) ? (*ex->sse_last)->buf : NULL;

    if (b == NULL || (size_t) (b->end - b->last) < n) {
        /* the caller sized the buffer; this is only a safety net */
        return NGX_ERROR;
    }

    b->last = ngx_http_sandbox_bridge_sse_event(b->last, stream,
                                                &ex->utf8[stream - 1], p, len);

    return NGX_OK;
}


/*
 * The exec stream's body: Docker frames in, SSE events out. Input
 * buffers stay unconsumed until the events made from them are sent,
 * so a slow client stops the upstream read (NGINX-NOTES §3.5).
 */

static ngx_int_t
ngx_http_sandbox_bridge_exec_body(ngx_http_request_t *sr,
    ngx_http_sandbox_bridge_call_t *call, ngx_chain_t *in)
{
    ngx_http_sandbox_bridge_exec_t *ex = call->data;

    size_t        total, need;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t  *cl, *out, *hl;

    total = 0;

    for (cl = in; cl; cl = cl->next) {
        if (ngx_buf_in_memory(cl->buf)) {
            total += cl->buf->last - cl->buf->pos;
        }
    }

    out = NULL;

    if (ex->stream && total) {
        /* worst case: 6 bytes per input byte plus framing per event */
        need = 13 * total + 256;

        cl = ngx_chain_get_free_buf(sr->pool, &ex->free);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        b = cl->buf;

        if (b->start == NULL || (size_t) (b->end - b->start) < need) {
            b->start = ngx_palloc(sr->pool, need);
            if (b->start == NULL) {
                return NGX_ERROR;
            }

            b->end = b->start + need;
        }

        b->pos = b->start;
        b->last = b->start;
        b->temporary = 1;
        b->flush = 1;
        b->tag = NGX_HTTP_SANDBOX_BRIDGE_TAG;

        out = cl;
        ex->sse_out = cl;
        ex->sse_last = &ex->sse_out;
    }

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (!ngx_buf_in_memory(b) || b->last == b->pos) {
            continue;
        }

        if (ngx_http_sandbox_bridge_demux(&ex->demux, b->pos,
                                          b->last - b->pos,
                                          ngx_http_sandbox_bridge_exec_payload,
                                          ex)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                          "sandbox bridge: bad Docker stream frame");
            return NGX_ERROR;
        }

        if (!ex->stream) {
            b->pos = b->last;
            continue;
        }

        hl = ex->held_free;
        if (hl) {
            ex->held_free = hl->next;

        } else {
            hl = ngx_alloc_chain_link(sr->pool);
            if (hl == NULL) {
                return NGX_ERROR;
            }
        }

        hl->buf = b;
        hl->next = ex->held;
        ex->held = hl;
    }

    if (!ex->stream) {
        return NGX_OK;
    }

    if (out && out->buf->last == out->buf->pos) {
        /* everything was held back inside UTF-8 sequences */
        out->next = ex->free;
        ex->free = out;
        out = NULL;
    }

    ex->sse_out = NULL;

    rc = ngx_http_sandbox_bridge_next_body_filter(sr, out);

    ngx_chain_update_chains(sr->pool, &ex->free, &ex->busy, &out,
                            NGX_HTTP_SANDBOX_BRIDGE_TAG);

    if (ex->busy == NULL) {
        /* all sent: let the upstream reuse its buffer */
        while (ex->held) {
            hl = ex->held;
            ex->held = hl->next;
            hl->buf->pos = hl->buf->last;
            hl->next = ex->held_free;
            ex->held_free = hl;
        }
    }

    return rc;
}


/* sends text on the SSE response of r, through the active request */

ngx_int_t
ngx_http_sandbox_bridge_sse_send(ngx_http_request_t *r, ngx_str_t *text,
    ngx_uint_t last)
{
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = text->data;
    b->last = text->data + text->len;
    b->memory = text->len ? 1 : 0;
    b->flush = 1;
    b->last_buf = last ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static void
ngx_http_sandbox_bridge_exec_heartbeat(ngx_event_t *ev)
{
    ngx_http_sandbox_bridge_exec_t *ex = ev->data;

    ngx_chain_t          out;
    ngx_connection_t    *c;
    ngx_http_request_t  *r, *active;

    r = ex->request;
    c = r->connection;
    active = c->data;

    ngx_add_timer(&ex->heartbeat, ex->lcf->heartbeat);

    if (ex->hb && ex->hb->pos != ex->hb->last) {
        /* the previous one is still queued: the client is slow */
        return;
    }

    if (active != r
        && !(ex->stream_call.sr == active && ex->running))
    {
        return;
    }

    if (ex->hb == NULL) {
        ex->hb = ngx_calloc_buf(r->pool);
        if (ex->hb == NULL) {
            return;
        }

        ex->hb->memory = 1;
        ex->hb->flush = 1;
    }

    ex->hb->pos = ngx_http_sandbox_bridge_keepalive.data;
    ex->hb->last = ex->hb->pos + ngx_http_sandbox_bridge_keepalive.len;

    out.buf = ex->hb;
    out.next = NULL;

    if (active == r) {
        (void) ngx_http_output_filter(r, &out);

    } else {
        (void) ngx_http_sandbox_bridge_next_body_filter(active, &out);
    }

    ngx_http_run_posted_requests(c);
}


static json_t *
ngx_http_sandbox_bridge_exec_text(ngx_http_sandbox_bridge_acc_t *acc,
    ngx_str_t *suffix)
{
    u_char  *p, *q;
    json_t  *j;

    p = ngx_alloc(3 * (acc->len + (suffix ? suffix->len : 0)) + 1,
                  ngx_cycle->log);
    if (p == NULL) {
        return NULL;
    }

    /* D8: invalid or cut UTF-8 becomes U+FFFD */
    q = ngx_http_sandbox_bridge_utf8_repair(p, acc->data, acc->len);

    if (suffix) {
        q = ngx_http_sandbox_bridge_utf8_repair(q, suffix->data, suffix->len);
    }

    j = json_stringn((char *) p, q - p);

    ngx_free(p);

    return j;
}


/* PROTOCOL §5.4 key order; D8 adds outputTruncated when capped */

json_t *
ngx_http_sandbox_bridge_exec_result(ngx_http_sandbox_bridge_exec_t *ex)
{
    json_t     *res;
    u_char     *p;
    ngx_str_t   msg;
    u_char      buf[128];

    res = json_object();
    if (res == NULL) {
        return NULL;
    }

    if (ex->timed_out) {
        json_object_set_new(res, "exitCode", json_null());

    } else if (ex->exit_code == NGX_HTTP_SANDBOX_BRIDGE_EXIT_NULL) {
        json_object_set_new(res, "exitCode", json_null());

    } else {
        json_object_set_new(res, "exitCode", json_integer(ex->exit_code));
    }

    json_object_set_new(res, "signal", json_null());
    json_object_set_new(res, "timedOut", ex->timed_out ? json_true()
                                                       : json_false());
    json_object_set_new(res, "stdout",
                        ngx_http_sandbox_bridge_exec_text(&ex->out, NULL));

    if (ex->timed_out) {
        /* PROTOCOL §5.5: stderr is the timeout message */
        p = ngx_snprintf(buf, sizeof(buf), "Command timeout after %Mms\n",
                         ex->timeout);
        msg.data = buf;
        msg.len = p - buf;

        json_object_set_new(res, "stderr", json_stringn((char *) msg.data,
                                                        msg.len));

    } else {
        json_object_set_new(res, "stderr",
                            ngx_http_sandbox_bridge_exec_text(&ex->err, NULL));
    }

    if (json_object_get(res, "stdout") == NULL
        || json_object_get(res, "stderr") == NULL)
    {
        json_decref(res);
        return NULL;
    }

    if (ex->truncated) {
        json_object_set_new(res, "outputTruncated", json_true());
    }

    return res;
}


static void
ngx_http_sandbox_bridge_octal(u_char *dst, size_t digits, uint64_t v)
{
    while (digits--) {
        dst[digits] = (u_char) ('0' + (v & 7));
        v >>= 3;
    }
}


/* a one-entry ustar archive */

static ngx_chain_t *
ngx_http_sandbox_bridge_tar(ngx_pool_t *pool, ngx_str_t *name,
    ngx_str_t *data, off_t *len)
{
    size_t        size, i;
    u_char       *p, *h;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;
    ngx_uint_t    sum;

    if (name->len >= 100) {
        return NULL;
    }

    size = 512 + ((data->len + 511) / 512) * 512 + 1024;

    p = ngx_pcalloc(pool, size);
    b = ngx_calloc_buf(pool);
    cl = ngx_alloc_chain_link(pool);

    if (p == NULL || b == NULL || cl == NULL) {
        return NULL;
    }

    h = p;

    ngx_memcpy(h, name->data, name->len);
    ngx_http_sandbox_bridge_octal(h + 100, 7, 0600);
    ngx_http_sandbox_bridge_octal(h + 108, 7, 0);
    ngx_http_sandbox_bridge_octal(h + 116, 7, 0);
    ngx_http_sandbox_bridge_octal(h + 124, 11, data->len);
    ngx_http_sandbox_bridge_octal(h + 136, 11, (uint64_t) ngx_time());
    ngx_memset(h + 148, ' ', 8);
    h[156] = '0';
    ngx_memcpy(h + 257, "ustar", 6);
    ngx_memcpy(h + 263, "00", 2);

    for (sum = 0, i = 0; i < 512; i++) {
        sum += h[i];
    }

    /* six digits, NUL, space */
    ngx_http_sandbox_bridge_octal(h + 148, 6, sum);
    h[154] = '\0';
    h[155] = ' ';

    ngx_memcpy(h + 512, data->data, data->len);

    b->pos = p;
    b->last = p + size;
    b->memory = 1;
    b->last_buf = 1;

    cl->buf = b;
    cl->next = NULL;

    *len = size;

    return cl;
}


/*
 * Kill every process that carries the exec's marker, and remove a staged
 * stdin file, from a background request: the client may be gone.
 */

ngx_int_t
ngx_http_sandbox_bridge_exec_kill(ngx_http_sandbox_bridge_loc_conf_t *lcf,
    ngx_str_t *container, u_char *marker, ngx_str_t *stdin_path)
{
    u_char                          *p;
    size_t                           len;
    ngx_http_request_t              *r;
    ngx_http_sandbox_bridge_ctx_t   *ctx;
    ngx_http_sandbox_bridge_kill_t  *k;

    static const char  kill_head[] =
        "exec 2>/dev/null; m='PSB_EXEC=";

    /*
     * The marked processes and all their descendants (which catches those
     * that dropped the marker with env -i); stopped first so none can
     * react or fork away, then killed.
     */
    static const char  kill_body[] =
        "'; for i in 1 2 3; do l=' '; "
        "for p in /proc/[0-9]*; do n=${p#/proc/}; "
        "[ \"$n\" = \"$$\" ] && continue; "
        "if tr '\\000' '\\n' < \"$p/environ\" | grep -qxF \"$m\"; "
        "then l=\"$l$n \"; fi; done; "
        "c=1; while [ $c = 1 ]; do c=0; "
        "for p in /proc/[0-9]*; do n=${p#/proc/}; "
        "case \"$l\" in *\" $n \"*) continue;; esac; v=; "
        "while read k v; do [ \"$k\" = PPid: ] && break; "
        "done < \"$p/status\"; "
        "case \"$l\" in *\" $v \"*) l=\"$l$n \"; c=1;; esac; done; done; "
        "[ \"$l\" = ' ' ] && break; kill -STOP $l; kill -KILL $l; done";

    r = ngx_http_sandbox_bridge_fake_request(lcf);
    if (r == NULL) {
        return NGX_ERROR;
    }

    ctx = ngx_http_sandbox_bridge_get_ctx(r);
    k = ngx_pcalloc(r->pool, sizeof(ngx_http_sandbox_bridge_kill_t));

    if (ctx == NULL || k == NULL) {
        ngx_http_sandbox_bridge_fake_request_free(r);
        return NGX_ERROR;
    }

    len = sizeof(kill_head) + 32 + sizeof(kill_body) + 32
          + (stdin_path ? ngx_http_sandbox_bridge_shell_quote_len(stdin_path)
                        : 0);

    k->script.data = ngx_pnalloc(r->pool, len);
    k->container.data = ngx_pnalloc(r->pool, container->len);

    if (k->script.data == NULL || k->container.data == NULL) {
        ngx_http_sandbox_bridge_fake_request_free(r);
        return NGX_ERROR;
    }

    p = k->script.data;

    if (marker) {
        p = ngx_cpymem(p, kill_head, sizeof(kill_head) - 1);
        p = ngx_cpymem(p, marker, 32);
        p = ngx_cpymem(p, kill_body, sizeof(kill_body) - 1);
    } else {
        p = ngx_cpymem(p, "true", 4);
    }

    if (stdin_path && stdin_path->len) {
        p = ngx_cpymem(p, "; rm -f ", 8);
        p = ngx_http_sandbox_bridge_shell_quote(p, stdin_path);
    }

    k->script.len = p - k->script.data;

    ngx_memcpy(k->container.data, container->data, container->len);
    k->container.len = container->len;
    k->lcf = lcf;

    ctx->op = k;

    ngx_http_sandbox_bridge_kill_start(r);
    ngx_http_run_posted_requests(r->connection);

    return NGX_OK;
}


static void
ngx_http_sandbox_bridge_kill_start(ngx_http_request_t *r)
{
    json_t                          *body, *cmd;
    ngx_str_t                        uri;
    ngx_http_sandbox_bridge_ctx_t   *ctx;
    ngx_http_sandbox_bridge_kill_t  *k;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    k = ctx->op;

    body = json_object();
    cmd = json_array();

    if (body == NULL || cmd == NULL) {
        json_decref(body);
        json_decref(cmd);
        ngx_http_sandbox_bridge_fake_request_free(r);
        return;
    }

    json_array_append_new(cmd, json_string("sh"));
    json_array_append_new(cmd, json_string("-c"));
    json_array_append_new(cmd, ngx_http_sandbox_bridge_json_strn(&k->script));

    json_object_set_new(body, "AttachStdout", json_true());
    json_object_set_new(body, "AttachStderr", json_true());
    json_object_set_new(body, "Tty", json_false());
    json_object_set_new(body, "Cmd", cmd);

    uri.len = sizeof("/containers//exec") - 1 + k->container.len;
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        json_decref(body);
        ngx_http_sandbox_bridge_fake_request_free(r);
        return;
    }

    ngx_sprintf(uri.data, "/containers/%V/exec", &k->container);

    ctx->resume = ngx_http_sandbox_bridge_kill_created;

    if (ngx_http_sandbox_bridge_docker_json_call(r, &k->lcf->docker_location,
                                                 NGX_HTTP_POST, &uri, NULL,
                                                 body, &k->call)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_fake_request_free(r);
    }
}


static void
ngx_http_sandbox_bridge_kill_created(ngx_http_request_t *r)
{
    json_t                          *reply, *id, *body;
    ngx_str_t                        uri;
    ngx_http_sandbox_bridge_ctx_t   *ctx;
    ngx_http_sandbox_bridge_kill_t  *k;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    k = ctx->op;

    reply = ngx_http_sandbox_bridge_docker_reply(&k->call);
    id = reply ? json_object_get(reply, "Id") : NULL;

    if (k->call.status != NGX_HTTP_CREATED || !json_is_string(id)
        || json_string_length(id) > 128)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "sandbox bridge: kill in \"%V\" not started (%ui)",
                      &k->container, k->call.status);
        json_decref(reply);
        ngx_http_sandbox_bridge_fake_request_free(r);
        return;
    }

    uri.len = sizeof("/exec//start") - 1 + json_string_length(id);
    uri.data = ngx_pnalloc(r->pool, uri.len);
    body = json_object();

    if (uri.data == NULL || body == NULL) {
        json_decref(reply);
        json_decref(body);
        ngx_http_sandbox_bridge_fake_request_free(r);
        return;
    }

    ngx_sprintf(uri.data, "/exec/%s/start", json_string_value(id));
    json_decref(reply);

    json_object_set_new(body, "Detach", json_false());
    json_object_set_new(body, "Tty", json_false());

    ctx->resume = ngx_http_sandbox_bridge_kill_done;

    if (ngx_http_sandbox_bridge_docker_json_call(r, &k->lcf->docker_location,
                                                 NGX_HTTP_POST, &uri, NULL,
                                                 body, &k->call)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_fake_request_free(r);
    }
}


static void
ngx_http_sandbox_bridge_kill_done(ngx_http_request_t *r)
{
    ngx_http_sandbox_bridge_ctx_t   *ctx;
    ngx_http_sandbox_bridge_kill_t  *k;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    k = ctx->op;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "sandbox bridge: kill in \"%V\" done: %ui",
                   &k->container, k->call.status);

    ngx_http_sandbox_bridge_fake_request_free(r);
}


/* POST <prefix>/exec: §3.7 and §5 */

typedef struct {
    ngx_str_t                         id;
    ngx_str_t                         command;
    ngx_str_t                         cwd;
    ngx_str_t                         stdin_data;
    ngx_str_t                         session;
    ngx_msec_t                        timeout;
    ngx_uint_t                        stream;
    const char                       *bad_key;
    ngx_http_sandbox_bridge_exec_t    ex;
} ngx_http_sandbox_bridge_exec_op_t;


static ngx_int_t ngx_http_sandbox_bridge_exec_limits(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx, ngx_http_sandbox_bridge_exec_op_t *op);
static ngx_int_t ngx_http_sandbox_bridge_exec_prepare(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx, ngx_http_sandbox_bridge_exec_op_t *op);


ngx_int_t
ngx_http_sandbox_bridge_exec_route(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx)
{
    int64_t                              timeout;
    ngx_int_t                            rc;
    ngx_str_t                            s;
    const char                          *err;
    ngx_http_sandbox_bridge_exec_op_t   *op;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    op = ngx_pcalloc(r->pool, sizeof(ngx_http_sandbox_bridge_exec_op_t));
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->op = op;

    if (ngx_http_sandbox_bridge_read_raw_string(ctx->body, "providerLeaseId",
                                                &op->id)
        != NGX_OK
        || op->id.len == 0
        || ngx_http_sandbox_bridge_read_raw_string(ctx->body, "command",
                                                   &op->command)
           != NGX_OK
        || op->command.len == 0)
    {
        return ngx_http_sandbox_bridge_send_error(r, NGX_HTTP_BAD_REQUEST,
                                                  "invalid_request",
                                                  "providerLeaseId and "
                                                  "command are required.");
    }

    err = ngx_http_sandbox_bridge_check_id(&op->id);
    if (err) {
        return ngx_http_sandbox_bridge_send_error(r, NGX_HTTP_BAD_REQUEST,
                                                  "invalid_request", "%s",
                                                  err);
    }

    if (ngx_http_sandbox_bridge_read_raw_string(ctx->body, "cwd", &op->cwd)
        != NGX_OK)
    {
        op->cwd.len = 0;
    }

    if (ngx_http_sandbox_bridge_read_raw_string(ctx->body, "stdin",
                                                &op->stdin_data)
        != NGX_OK)
    {
        op->stdin_data.len = 0;
    }

    if (ngx_http_sandbox_bridge_read_string(ctx->body, "sessionId", &s)
        == NGX_OK && s.len <= 128)
    {
        op->session = s;

    } else {
        ngx_str_set(&op->session, "paperclip");
    }

    (void) ngx_http_sandbox_bridge_read_integer(ctx->body, "timeoutMs",
                                                300000, &timeout);
    if (timeout <= 0) {
        timeout = 300000;
    }

    if ((uint64_t) timeout > lcf->exec_timeout_max) {
        timeout = lcf->exec_timeout_max;
    }

    op->timeout = (ngx_msec_t) timeout;
    op->stream = json_is_true(json_object_get(ctx->body, "streamOutput"));

    rc = ngx_http_sandbox_bridge_exec_limits(r, ctx, op);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_sandbox_bridge_exec_prepare(r, ctx, op);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_sandbox_bridge_lease_touch(r, &op->id,
                                          ngx_http_sandbox_bridge_exec_leased);

    if (rc == NGX_DECLINED) {
        return ngx_http_sandbox_bridge_store_unavailable(r);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DONE;
}


/* D9: refused before anything is touched */

static ngx_int_t
ngx_http_sandbox_bridge_exec_limits(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx, ngx_http_sandbox_bridge_exec_op_t *op)
{
    size_t                               i;
    json_t                              *v, *args, *env;
    ngx_uint_t                           n;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    if (op->command.len > lcf->max_command_size) {
        return ngx_http_sandbox_bridge_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                                  "invalid_request",
                                                  "command is longer than "
                                                  "%uz bytes.",
                                                  lcf->max_command_size);
    }

    args = json_object_get(ctx->body, "args");
    n = 0;

    if (json_is_array(args)) {
        json_array_foreach(args, i, v) {
            if (!json_is_string(v)) {
                continue;
            }

            if (++n > lcf->max_args) {
                return ngx_http_sandbox_bridge_reply_error(r,
                                           NGX_HTTP_BAD_REQUEST,
                                           "invalid_request",
                                           "args has more than %ui entries.",
                                           lcf->max_args);
            }

            if (json_string_length(v) > lcf->max_arg_size) {
                return ngx_http_sandbox_bridge_reply_error(r,
                                           NGX_HTTP_BAD_REQUEST,
                                           "invalid_request",
                                           "An args entry is longer than "
                                           "%uz bytes.", lcf->max_arg_size);
            }
        }
    }

    env = json_object_get(ctx->body, "env");

    if (json_is_object(env) && json_object_size(env) > lcf->max_env) {
        return ngx_http_sandbox_bridge_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                                  "invalid_request",
                                                  "env has more than %ui "
                                                  "entries.", lcf->max_env);
    }

    if (op->stdin_data.len > lcf->max_stdin_size) {
        return ngx_http_sandbox_bridge_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                                  "invalid_request",
                                                  "stdin is larger than %uz "
                                                  "bytes.",
                                                  lcf->max_stdin_size);
    }

    return NGX_OK;
}


/* the §5.2 script, built before anything is touched */

static ngx_int_t
ngx_http_sandbox_bridge_exec_prepare(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx, ngx_http_sandbox_bridge_exec_op_t *op)
{
    ngx_int_t                        rc;
    ngx_http_sandbox_bridge_exec_t  *ex;

    ex = &op->ex;

    if (op->stdin_data.len) {
        ex->stdin_path.len = sizeof("/tmp/.paperclip-bridge-stdin-") - 1 + 32;
        ex->stdin_path.data = ngx_pnalloc(r->pool, ex->stdin_path.len);
        if (ex->stdin_path.data == NULL
            || ngx_http_sandbox_bridge_random_hex(
                   ngx_cpymem(ex->stdin_path.data,
                              "/tmp/.paperclip-bridge-stdin-",
                              sizeof("/tmp/.paperclip-bridge-stdin-") - 1),
                   32)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = ngx_http_sandbox_bridge_exec_script(r->pool, &op->command,
                                        json_object_get(ctx->body, "args"),
                                        &op->cwd,
                                        json_object_get(ctx->body, "env"),
                                        &ex->stdin_path, &ex->script,
                                        &op->bad_key);

    if (rc == NGX_DECLINED) {
        /* reported once the route has started (§5.2) */
        ex->stdin_path.len = 0;
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the script is one argument of sh -lc: Linux's MAX_ARG_STRLEN */
    if (ex->script.len >= NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_MAX) {
        return ngx_http_sandbox_bridge_reply_error(r, NGX_HTTP_BAD_REQUEST,
                           "invalid_request",
                           "The quoted command line (command, args, env, "
                           "cwd) is longer than %d bytes.",
                           NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_MAX - 1);
    }

    return NGX_OK;
}


static void
ngx_http_sandbox_bridge_exec_leased(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_lease_t *lease, ngx_int_t rc)
{
    size_t                               len;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_exec_t      *ex;
    ngx_http_sandbox_bridge_exec_op_t   *op;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;
    ex = &op->ex;

    if (rc == NGX_ERROR) {
        ngx_http_sandbox_bridge_finish(r,
                               ngx_http_sandbox_bridge_store_unavailable(r));
        return;
    }

    if (rc == NGX_BUSY) {
        ngx_http_sandbox_bridge_finish(r,
                          ngx_http_sandbox_bridge_not_owned(r, &lease->id));
        return;
    }

    if (rc == NGX_DECLINED) {
        /* D3: nothing is created */
        ngx_http_sandbox_bridge_finish(r,
                              ngx_http_sandbox_bridge_send_error(r,
                                  NGX_HTTP_CONFLICT, "sandbox_state_lost",
                                  NGX_HTTP_SANDBOX_BRIDGE_STATE_LOST));
        return;
    }

    ex->lcf = lcf;
    ex->request = r;
    ex->container = lease->container;
    ex->session = op->session;
    ex->stdin_data = op->stdin_data;
    ex->timeout = op->timeout;
    ex->limit = lcf->output_limit;
    ex->stream = op->stream;
    ex->done = ngx_http_sandbox_bridge_exec_respond;

    if (op->bad_key) {
        /* the whole key: a cut one could split a UTF-8 sequence */
        len = sizeof("Invalid sandbox environment variable key: ") - 1
              + ngx_strlen(op->bad_key);

        ex->failed = 1;
        ex->error.data = ngx_pnalloc(r->pool, len);
        if (ex->error.data) {
            ngx_sprintf(ex->error.data,
                        "Invalid sandbox environment variable key: %s",
                        op->bad_key);
            ex->error.len = len;
        }

        ex->stdin_path.len = 0;
        ex->finished = 1;
        ngx_http_sandbox_bridge_exec_respond(r, ex);
        return;
    }

    if (ngx_http_sandbox_bridge_exec_run(r, ex) != NGX_OK)
    {
        ex->failed = 1;
        ngx_str_set(&ex->error, "could not start the command");
        ex->finished = 1;
        ngx_http_sandbox_bridge_exec_respond(r, ex);
    }
}


static void
ngx_http_sandbox_bridge_exec_respond(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_exec_t *ex)
{
    json_t  *res, *e;

    if (ex->heartbeat.timer_set) {
        ngx_del_timer(&ex->heartbeat);
    }

    if (ex->lost && !ex->sse_started) {
        ngx_http_sandbox_bridge_finish(r,
                              ngx_http_sandbox_bridge_send_error(r,
                                  NGX_HTTP_CONFLICT, "sandbox_state_lost",
                                  NGX_HTTP_SANDBOX_BRIDGE_STATE_LOST));
        return;
    }

    if (ex->failed) {
        if (!ex->stream) {
            ngx_http_sandbox_bridge_finish(r,
                              ngx_http_sandbox_bridge_send_error(r,
                                  NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  "internal_error", "%V", &ex->error));
            return;
        }

        if (ngx_http_sandbox_bridge_sse_start(r, ex) != NGX_OK) {
            ngx_http_sandbox_bridge_finish(r, NGX_ERROR);
            return;
        }

        e = json_object();
        if (e == NULL) {
            ngx_http_sandbox_bridge_finish(r, NGX_ERROR);
            return;
        }

        json_object_set_new(e, "error",
                            ngx_http_sandbox_bridge_json_strn(&ex->error));

        ngx_http_sandbox_bridge_sse_final(r, "error", e);
        return;
    }

    res = ngx_http_sandbox_bridge_exec_result(ex);
    if (res == NULL) {
        ngx_http_sandbox_bridge_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (!ex->stream) {
        ngx_http_sandbox_bridge_finish(r,
                       ngx_http_sandbox_bridge_send_json(r, NGX_HTTP_OK, res));
        return;
    }

    ngx_http_sandbox_bridge_sse_final(r, "complete", res);
}


/*
 * §5.6: the SSE response starts once the command is about to run, so a
 * lost lease can still get its 409 (D3); later errors are SSE events.
 */

static ngx_int_t
ngx_http_sandbox_bridge_sse_start(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_exec_t *ex)
{
    ngx_int_t  rc;
    ngx_str_t  text;

    if (ex->sse_started) {
        return NGX_OK;
    }

    ex->sse_started = 1;

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

    if (ex->finished) {
        /* only an error event follows */
        return NGX_OK;
    }

    ex->heartbeat.handler = ngx_http_sandbox_bridge_exec_heartbeat;
    ex->heartbeat.data = ex;
    ex->heartbeat.log = r->connection->log;

    ngx_add_timer(&ex->heartbeat, ex->lcf->heartbeat);

    return NGX_OK;
}


/* D8: a sequence cut off at the end of the output becomes U+FFFD */

static void
ngx_http_sandbox_bridge_exec_flush_utf8(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_exec_t *ex)
{
    u_char      *p;
    ngx_str_t    text;
    ngx_uint_t   i;

    for (i = 0; i < 2; i++) {
        if (ex->utf8[i].len == 0) {
            continue;
        }

        text.data = ngx_pnalloc(r->pool,
                                ngx_http_sandbox_bridge_sse_event_len(4));
        if (text.data == NULL) {
            return;
        }

        p = ngx_cpymem(text.data, i ? "event: stderr\ndata: {\"data\":\""
                                    : "event: stdout\ndata: {\"data\":\"",
                       sizeof("event: stdout\ndata: {\"data\":\"") - 1);
        p = ngx_http_sandbox_bridge_escape(p, &ex->utf8[i], (u_char *) "",
                                           0, 1);
        p = ngx_cpymem(p, "\"}\n\n", 4);

        ex->utf8[i].len = 0;
        text.len = p - text.data;

        (void) ngx_http_sandbox_bridge_sse_send(r, &text, 0);
    }
}


/* the one terminal event: "event: <name>\ndata: <json>\n\n", then the end */

static void
ngx_http_sandbox_bridge_sse_final(ngx_http_request_t *r, const char *event,
    json_t *data)
{
    char       *s;
    size_t      len;
    ngx_str_t   text;

    s = json_dumps(data, JSON_COMPACT);
    json_decref(data);

    if (s == NULL) {
        ngx_http_sandbox_bridge_finish(r, NGX_ERROR);
        return;
    }

    len = ngx_strlen(s);
    text.len = sizeof("event: \ndata: \n\n") - 1 + ngx_strlen(event) + len;
    text.data = ngx_pnalloc(r->pool, text.len);

    if (text.data == NULL) {
        free(s);
        ngx_http_sandbox_bridge_finish(r, NGX_ERROR);
        return;
    }

    ngx_sprintf(text.data, "event: %s\ndata: %*s\n\n", event, len, s);
    free(s);

    ngx_http_sandbox_bridge_finish(r,
                               ngx_http_sandbox_bridge_sse_send(r, &text, 1));
}
