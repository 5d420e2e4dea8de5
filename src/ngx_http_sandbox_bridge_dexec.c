
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_dexec.h"
#include "ngx_http_sandbox_bridge_apart.h"
#include "ngx_http_sandbox_bridge_body.h"
#include "ngx_http_sandbox_bridge_kill.h"
#include "ngx_http_sandbox_bridge_orphan.h"
#include "ngx_http_sandbox_bridge_tar.h"
#include "ngx_http_sandbox_bridge_util.h"


/* after a timeout the kill is repeated until the command is gone */
#define NGX_HTTP_SANDBOX_BRIDGE_KILL_RETRY  5000
#define NGX_HTTP_SANDBOX_BRIDGE_KILL_MAX    5


typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_DEXEC_STAGE = NGX_HTTP_SANDBOX_BRIDGE_START,
    NGX_HTTP_SANDBOX_BRIDGE_DEXEC_STAGED,
    NGX_HTTP_SANDBOX_BRIDGE_DEXEC_CREATED,
    NGX_HTTP_SANDBOX_BRIDGE_DEXEC_STREAMED,
    NGX_HTTP_SANDBOX_BRIDGE_DEXEC_INSPECTED
} ngx_http_sandbox_bridge_dexec_state_e;


static void ngx_http_sandbox_bridge_dexec_run(
    ngx_http_sandbox_bridge_op_t *op);
static void ngx_http_sandbox_bridge_dexec_stage(
    ngx_http_sandbox_bridge_dexec_t *ex);
static void ngx_http_sandbox_bridge_dexec_create_exec(
    ngx_http_sandbox_bridge_dexec_t *ex);
static void ngx_http_sandbox_bridge_dexec_start(
    ngx_http_sandbox_bridge_dexec_t *ex);
static void ngx_http_sandbox_bridge_dexec_inspect(
    ngx_http_sandbox_bridge_dexec_t *ex);
static void ngx_http_sandbox_bridge_dexec_exit_code(
    ngx_http_sandbox_bridge_dexec_t *ex);
static void ngx_http_sandbox_bridge_dexec_fail(
    ngx_http_sandbox_bridge_dexec_t *ex,
    ngx_http_sandbox_bridge_call_t *call, const char *what);
static void ngx_http_sandbox_bridge_dexec_finish(
    ngx_http_sandbox_bridge_dexec_t *ex);
static void ngx_http_sandbox_bridge_dexec_cleanup(void *data);
static void ngx_http_sandbox_bridge_exec_timeout(ngx_event_t *ev);


ngx_http_sandbox_bridge_dexec_t *
ngx_http_sandbox_bridge_dexec_create(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_loc_conf_t *lcf)
{
    ngx_pool_cleanup_t               *cln;
    ngx_http_sandbox_bridge_dexec_t  *ex;

    ex = ngx_http_sandbox_bridge_op_create(r,
                                       sizeof(ngx_http_sandbox_bridge_dexec_t),
                                       ngx_http_sandbox_bridge_dexec_run);
    if (ex == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_sandbox_bridge_dexec_cleanup;
    cln->data = ex;

    ex->lcf = lcf;
    ex->location = lcf->docker_location;
    ex->exit_code = NGX_HTTP_SANDBOX_BRIDGE_EXIT_NULL;

    ngx_http_sandbox_bridge_stream_init(&ex->output, r, lcf->output_limit,
                                        lcf->heartbeat);

    ex->timer.handler = ngx_http_sandbox_bridge_exec_timeout;
    ex->timer.data = ex;
    ex->timer.log = r->connection->log;

    return ex;
}


/* runs ex->script in ex->container; "parent" resumes in "next" */

void
ngx_http_sandbox_bridge_dexec(ngx_http_sandbox_bridge_op_t *parent,
    ngx_http_sandbox_bridge_dexec_t *ex, ngx_uint_t next)
{
    ngx_http_sandbox_bridge_op_nest(&ex->op, parent, next);

    if (ngx_http_sandbox_bridge_random_hex(ex->marker, sizeof(ex->marker))
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_dexec_fail(ex, NULL, "start the command");
        return;
    }

    ngx_http_sandbox_bridge_dexec_run(&ex->op);
}


static void
ngx_http_sandbox_bridge_dexec_run(ngx_http_sandbox_bridge_op_t *op)
{
    ngx_http_sandbox_bridge_dexec_t  *ex;

    ex = (ngx_http_sandbox_bridge_dexec_t *) op;

    switch ((ngx_http_sandbox_bridge_dexec_state_e) op->state) {

    case NGX_HTTP_SANDBOX_BRIDGE_DEXEC_STAGE:
        if (ex->stdin_path.len) {
            ngx_http_sandbox_bridge_dexec_stage(ex);
            return;
        }

        ngx_http_sandbox_bridge_dexec_create_exec(ex);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_DEXEC_STAGED:
        ngx_str_null(&ex->stdin_data);
        ngx_http_sandbox_bridge_body_release(ex->op.request);

        if (ex->call.status != NGX_HTTP_OK) {
            ex->lost = (ex->call.status == NGX_HTTP_NOT_FOUND);
            ngx_http_sandbox_bridge_dexec_fail(ex, &ex->call, "stage stdin");
            return;
        }

        ngx_http_sandbox_bridge_dexec_create_exec(ex);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_DEXEC_CREATED:
        ngx_http_sandbox_bridge_dexec_start(ex);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_DEXEC_STREAMED:
        ngx_http_sandbox_bridge_dexec_inspect(ex);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_DEXEC_INSPECTED:
        ngx_http_sandbox_bridge_dexec_exit_code(ex);
        return;
    }
}


/* stdin: a one-file tar unpacked into /tmp (README "Exec") */

static void
ngx_http_sandbox_bridge_dexec_stage(ngx_http_sandbox_bridge_dexec_t *ex)
{
    ngx_str_t                      name;
    ngx_http_sandbox_bridge_tar_t  tar;

    name.data = ex->stdin_path.data + sizeof("/tmp/") - 1;
    name.len = ex->stdin_path.len - (sizeof("/tmp/") - 1);

    ngx_http_sandbox_bridge_tar_init(&tar, ex->op.request->pool);

    if (ngx_http_sandbox_bridge_tar_add(&tar, &name, 0600, &ex->stdin_data)
        != NGX_OK
        || ngx_http_sandbox_bridge_tar_finish(&tar) != NGX_OK
        || ngx_http_sandbox_bridge_docker_body(&ex->op, &ex->call,
                                   NGX_HTTP_PUT,
                                   NGX_HTTP_SANDBOX_BRIDGE_DEXEC_STAGED,
                                   &ex->location, "application/x-tar",
                                   tar.out, tar.len,
                                   "/containers/%V/archive?path=/tmp",
                                   &ex->container)
           != NGX_OK)
    {
        ngx_http_sandbox_bridge_dexec_fail(ex, NULL, "stage stdin");
    }
}


static void
ngx_http_sandbox_bridge_dexec_create_exec(ngx_http_sandbox_bridge_dexec_t *ex)
{
    json_t  *body, *env;
    u_char   buf[64 + 256];

    env = json_array();
    if (env == NULL) {
        ngx_http_sandbox_bridge_dexec_fail(ex, NULL, "create exec");
        return;
    }

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

    body = json_pack("{s:b,s:b,s:b,s:b,s:[s,s,s%],s:o,s:s}",
                     "AttachStdin", 0, "AttachStdout", 1,
                     "AttachStderr", 1, "Tty", 0,
                     "Cmd", "sh", "-lc", ex->script.data, ex->script.len,
                     "Env", env, "WorkingDir", "/");

    /* apart: a stream's pool keeps nothing of this call but the reply */
    if (ngx_http_sandbox_bridge_docker_apart(&ex->op, &ex->call, ex->lcf,
                                       NGX_HTTP_POST,
                                       NGX_HTTP_SANDBOX_BRIDGE_DEXEC_CREATED,
                                       &ex->location, body,
                                       "/containers/%V/exec", &ex->container)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_dexec_fail(ex, NULL, "create exec");
    }
}


static void
ngx_http_sandbox_bridge_dexec_start(ngx_http_sandbox_bridge_dexec_t *ex)
{
    json_t  *reply, *id;

    if (ex->call.status == NGX_HTTP_NOT_FOUND
        || ex->call.status == NGX_HTTP_CONFLICT)
    {
        /* the container is gone or stopped */
        ex->lost = 1;
        ngx_http_sandbox_bridge_dexec_fail(ex, &ex->call, "create exec");
        return;
    }

    if (ex->call.status != NGX_HTTP_CREATED) {
        ngx_http_sandbox_bridge_dexec_fail(ex, &ex->call, "create exec");
        return;
    }

    reply = ngx_http_sandbox_bridge_docker_reply(&ex->call);
    id = reply ? json_object_get(reply, "Id") : NULL;

    if (!json_is_string(id) || json_string_length(id) > 128) {
        json_decref(reply);
        ngx_http_sandbox_bridge_dexec_fail(ex, &ex->call, "create exec");
        return;
    }

    ex->exec_id.len = json_string_length(id);
    ex->exec_id.data = ngx_pnalloc(ex->op.request->pool, ex->exec_id.len);
    if (ex->exec_id.data == NULL) {
        json_decref(reply);
        ngx_http_sandbox_bridge_dexec_fail(ex, NULL, "create exec");
        return;
    }

    ngx_memcpy(ex->exec_id.data, json_string_value(id), ex->exec_id.len);
    json_decref(reply);

    if (ex->started && ex->started(ex) != NGX_OK) {
        ngx_http_sandbox_bridge_dexec_fail(ex, NULL, "start stream");
        return;
    }

    ex->stream_call.body_filter = ngx_http_sandbox_bridge_stream_body;
    ex->stream_call.data = &ex->output;

    if (ngx_http_sandbox_bridge_docker_json(&ex->op, &ex->stream_call,
                                       NGX_HTTP_POST,
                                       NGX_HTTP_SANDBOX_BRIDGE_DEXEC_STREAMED,
                                       &ex->location,
                                       json_pack("{s:b,s:b}", "Detach", 0,
                                                 "Tty", 0),
                                       "/exec/%V/start", &ex->exec_id)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_dexec_fail(ex, NULL, "start exec");
        return;
    }

    ex->output.sr = ex->stream_call.sr;
    ex->output.running = 1;
    ex->start = ngx_current_msec;

    ngx_add_timer(&ex->timer, ex->timeout);

    /* a reaper kills it should this worker die */
    ngx_http_sandbox_bridge_orphan_add(ex->op.request, &ex->container,
                                       ex->marker, ex->timeout);
}


static void
ngx_http_sandbox_bridge_dexec_inspect(ngx_http_sandbox_bridge_dexec_t *ex)
{
    ex->output.running = 0;

    if (ex->timer.timer_set) {
        ngx_del_timer(&ex->timer);
    }

    if (ex->output.sse) {
        ngx_http_sandbox_bridge_stream_flush(&ex->output);
    }

    if (ex->stream_call.status != NGX_HTTP_OK) {
        ngx_http_sandbox_bridge_dexec_fail(ex, &ex->stream_call,
                                           "start exec");
        return;
    }

    if (ngx_http_sandbox_bridge_docker(&ex->op, &ex->call, NGX_HTTP_GET,
                                       NGX_HTTP_SANDBOX_BRIDGE_DEXEC_INSPECTED,
                                       &ex->location, "/exec/%V/json",
                                       &ex->exec_id)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_dexec_fail(ex, NULL, "inspect exec");
    }
}


static void
ngx_http_sandbox_bridge_dexec_exit_code(ngx_http_sandbox_bridge_dexec_t *ex)
{
    json_t  *reply, *code, *running;

    if (ex->call.status != NGX_HTTP_OK) {
        ngx_http_sandbox_bridge_dexec_fail(ex, &ex->call, "inspect exec");
        return;
    }

    reply = ngx_http_sandbox_bridge_docker_reply(&ex->call);
    code = reply ? json_object_get(reply, "ExitCode") : NULL;
    running = reply ? json_object_get(reply, "Running") : NULL;

    if (json_is_integer(code) && !json_is_true(running)) {
        ex->exit_code = (ngx_int_t) json_integer_value(code);
    }

    json_decref(reply);

    ngx_http_sandbox_bridge_dexec_finish(ex);
}


static void
ngx_http_sandbox_bridge_dexec_fail(ngx_http_sandbox_bridge_dexec_t *ex,
    ngx_http_sandbox_bridge_call_t *call, const char *what)
{
    u_char  *p;
    u_char   buf[512];

    p = ngx_snprintf(buf, sizeof(buf), "%s failed", what);

    if (call) {
        p = ngx_cpymem(p, ": ", 2);
        p = ngx_http_sandbox_bridge_docker_error(call, p,
                                                 buf + sizeof(buf) - p);

        /* Docker gave no answer at all */
        ex->unreachable = (call->status == 0);
    }

    ex->error.len = p - buf;
    ex->error.data = ngx_pnalloc(ex->op.request->pool, ex->error.len);
    if (ex->error.data) {
        ngx_memcpy(ex->error.data, buf, ex->error.len);

    } else {
        ex->error.len = 0;
    }

    ex->failed = 1;

    ngx_log_error(NGX_LOG_ERR, ex->op.request->connection->log, 0,
                  "sandbox bridge: exec in \"%V\": %*s",
                  &ex->container, p - buf, buf);

    ngx_http_sandbox_bridge_dexec_finish(ex);
}


static void
ngx_http_sandbox_bridge_dexec_finish(ngx_http_sandbox_bridge_dexec_t *ex)
{
    ex->finished = 1;

    if (ex->timer.timer_set) {
        ngx_del_timer(&ex->timer);
    }

    ngx_http_sandbox_bridge_stream_stop(&ex->output);

    if (ex->start) {
        ngx_http_sandbox_bridge_orphan_del(ex->op.request, &ex->container,
                                           ex->marker);
    }

    /* the staged stdin file is removed in the background */
    if (ex->stdin_path.len && !ex->timed_out) {
        (void) ngx_http_sandbox_bridge_kill(ex->lcf, &ex->location,
                                            &ex->container, NULL,
                                            &ex->stdin_path);
    }

    ngx_http_sandbox_bridge_op_return(&ex->op);
}


/* the request ends while the command may run: kill it in the background */

static void
ngx_http_sandbox_bridge_dexec_cleanup(void *data)
{
    ngx_http_sandbox_bridge_dexec_t  *ex = data;

    if (ex->timer.timer_set) {
        ngx_del_timer(&ex->timer);
    }

    ngx_http_sandbox_bridge_stream_stop(&ex->output);

    if (ex->finished || ex->op.parent == NULL) {
        return;
    }

    ex->finished = 1;

    if (ex->start) {
        ngx_http_sandbox_bridge_orphan_del(ex->op.request, &ex->container,
                                           ex->marker);
    }

    if (ex->exec_id.len == 0 && ex->stdin_path.len == 0) {
        return;
    }

    /* the job copies what it needs: this pool is going away */
    (void) ngx_http_sandbox_bridge_kill(ex->lcf, &ex->location,
                                        &ex->container,
                                        ex->exec_id.len ? ex->marker : NULL,
                                        &ex->stdin_path);
}


static void
ngx_http_sandbox_bridge_exec_timeout(ngx_event_t *ev)
{
    ngx_http_sandbox_bridge_dexec_t  *ex = ev->data;

    ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                  "sandbox bridge: exec in \"%V\" timed out after %M ms%s",
                  &ex->container, ex->timeout, ex->kills ? ", again" : "");

    ex->timed_out = 1;

    /* kill the process tree; the stream then ends by itself */
    if (ngx_http_sandbox_bridge_kill(ex->lcf, &ex->location, &ex->container,
                                     ex->marker, &ex->stdin_path)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "sandbox bridge: could not start the exec kill");
    }

    if (++ex->kills < NGX_HTTP_SANDBOX_BRIDGE_KILL_MAX) {
        ngx_add_timer(&ex->timer, NGX_HTTP_SANDBOX_BRIDGE_KILL_RETRY);
    }
}
