
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_lease_end.h"
#include "ngx_http_sandbox_bridge_input.h"
#include "ngx_http_sandbox_bridge_store.h"
#include "ngx_http_sandbox_bridge_util.h"


/*
 * How a probe, acquire or resume ends (lease.c runs the flow): the
 * utility commands of a container that was already there, the answer,
 * and a failure, which first removes the container the flow made and
 * forgets its record.
 */


/* a lease utility: a command through the exec engine, which must exit 0 */

void
ngx_http_sandbox_bridge_lease_util(ngx_http_sandbox_bridge_lease_op_t *lo,
    const char *action, ngx_str_t *path, ngx_str_t *script, ngx_uint_t next)
{
    ngx_http_sandbox_bridge_dexec_t     *ex;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(lo->op.request,
                                       ngx_http_sandbox_bridge_module);

    /* a new one each time: the previous one's timers may still be known */
    ex = ngx_http_sandbox_bridge_dexec_create(lo->op.request, lcf);
    if (ex == NULL) {
        ngx_http_sandbox_bridge_lease_docker_fail(lo, action);
        return;
    }

    lo->ex = ex;
    lo->action = action;
    lo->action_path = path;

    ex->location = lo->location;
    ex->container = lo->spec.container;
    ex->session = lo->spec.session;
    ex->script = *script;
    ex->timeout = lo->spec.timeout;
    ex->output.limit = NGX_HTTP_SANDBOX_BRIDGE_UTIL_LIMIT;

    ngx_http_sandbox_bridge_dexec(&lo->op, ex, next);
}


ngx_int_t
ngx_http_sandbox_bridge_lease_util_ok(ngx_http_sandbox_bridge_lease_op_t *lo)
{
    json_t                           *body;
    ngx_str_t                         err;
    ngx_http_sandbox_bridge_dexec_t  *ex;

    ex = lo->ex;

    if (ex->failed) {
        if (ex->lost && lo->spec.kind == NGX_HTTP_SANDBOX_BRIDGE_RESUME) {
            ngx_http_sandbox_bridge_lease_lost(lo);
            return NGX_ERROR;
        }

        body = ngx_http_sandbox_bridge_error_jsonf("internal_error", "%V",
                                                   &ex->error);
        ngx_http_sandbox_bridge_lease_fail(lo, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                           body);
        return NGX_ERROR;
    }

    if (!ex->timed_out && ex->exit_code == 0) {
        return NGX_OK;
    }

    if (ex->timed_out) {
        body = ngx_http_sandbox_bridge_error_jsonf("internal_error",
                                  "%s %V timed out: Command timeout after "
                                  "%Mms", lo->action, &lo->spec.cwd,
                                  ex->timeout);

    } else {
        err.data = ex->output.err.data;
        err.len = ex->output.err.len;
        ngx_http_sandbox_bridge_trim(&err);

        if (ex->exit_code == NGX_HTTP_SANDBOX_BRIDGE_EXIT_NULL) {
            body = ngx_http_sandbox_bridge_error_jsonf("internal_error",
                                  "%s %V failed with exit code null%s%V",
                                  lo->action, lo->action_path,
                                  err.len ? ": " : "", &err);

        } else {
            body = ngx_http_sandbox_bridge_error_jsonf("internal_error",
                                  "%s %V failed with exit code %i%s%V",
                                  lo->action, lo->action_path,
                                  ex->exit_code, err.len ? ": " : "", &err);
        }
    }

    ngx_http_sandbox_bridge_lease_fail(lo, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       body);

    return NGX_ERROR;
}


void
ngx_http_sandbox_bridge_lease_respond(ngx_http_sandbox_bridge_lease_op_t *lo)
{
    json_t                          *body;
    ngx_uint_t                       resumed;
    ngx_http_sandbox_bridge_ctx_t   *ctx;
    ngx_http_sandbox_bridge_spec_t  *s;

    s = &lo->spec;
    resumed = (s->kind == NGX_HTTP_SANDBOX_BRIDGE_RESUME);

    ctx = ngx_http_get_module_ctx(lo->op.request,
                                  ngx_http_sandbox_bridge_module);

    ngx_http_sandbox_bridge_log_lease(lo->op.request,
                                      resumed ? "resumed" : "acquired",
                                      &s->id, &ctx->docker_host);

    body = json_pack("{s:s%,s:o}",
                     "providerLeaseId", (char *) s->id.data, s->id.len,
                     "metadata",
                     ngx_http_sandbox_bridge_spec_metadata(s, resumed));

    ngx_http_sandbox_bridge_reply(&lo->op, NGX_HTTP_OK, body);
}


void
ngx_http_sandbox_bridge_lease_probed(ngx_http_sandbox_bridge_lease_op_t *lo)
{
    json_t  *out;

    out = json_stringn((char *) lo->ex->output.out.data,
                       lo->ex->output.out.len);

    lo->resp_status = NGX_HTTP_OK;
    lo->resp = json_pack("{s:b,s:s,s:{s:s,s:s%,s:b,s:o}}",
                         "ok", 1,
                         "summary", "Connected to Cloudflare sandbox bridge.",
                         "metadata",
                         "provider", "docker",
                         "remoteCwd", (char *) lo->spec.cwd.data,
                         lo->spec.cwd.len,
                         "namedSessions", lo->spec.strategy.len == 5,
                         "stdout", out ? out : json_string(""));

    /* a probe always destroys its sandbox */
    if (ngx_http_sandbox_bridge_docker(&lo->op, &lo->call, NGX_HTTP_DELETE,
                                       NGX_HTTP_SANDBOX_BRIDGE_LEASE_REMOVED,
                                       &lo->location,
                                       "/containers/%V?force=true&v=true",
                                       &lo->spec.container)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_lease_forget(lo);
    }
}


void
ngx_http_sandbox_bridge_lease_fail(ngx_http_sandbox_bridge_lease_op_t *lo,
    ngx_uint_t status, json_t *body)
{
    json_t      *msg;
    ngx_uint_t   level;

    msg = json_object_get(body, "message");
    level = (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) ? NGX_LOG_ERR
                                                       : NGX_LOG_INFO;

    ngx_log_error(level, lo->op.request->connection->log, 0,
                  "sandbox bridge: lease \"%V\": %s", &lo->spec.id,
                  json_is_string(msg) ? json_string_value(msg) : "");

    lo->resp_status = status;
    lo->resp = body;

    /* a failed acquire without reuse must not leave an orphan */
    if (lo->spec.kind == NGX_HTTP_SANDBOX_BRIDGE_PROBE
        || (lo->spec.kind == NGX_HTTP_SANDBOX_BRIDGE_ACQUIRE
            && !lo->spec.reuse))
    {
        if (ngx_http_sandbox_bridge_docker(&lo->op, &lo->call,
                                       NGX_HTTP_DELETE,
                                       NGX_HTTP_SANDBOX_BRIDGE_LEASE_REMOVED,
                                       &lo->location,
                                       "/containers/%V?force=true&v=true",
                                       &lo->spec.container)
            == NGX_OK)
        {
            return;
        }
    }

    ngx_http_sandbox_bridge_reply(&lo->op, lo->resp_status, lo->resp);
    lo->resp = NULL;
}


void
ngx_http_sandbox_bridge_lease_docker_fail(
    ngx_http_sandbox_bridge_lease_op_t *lo, const char *what)
{
    u_char      *p;
    ngx_uint_t   status;
    u_char       buf[768];

    p = ngx_snprintf(buf, sizeof(buf), "%s failed: ", what);
    p = ngx_http_sandbox_bridge_docker_error(&lo->call, p,
                                             buf + sizeof(buf) - p);

    status = lo->call.status ? NGX_HTTP_INTERNAL_SERVER_ERROR
                             : NGX_HTTP_SERVICE_UNAVAILABLE;

    ngx_http_sandbox_bridge_lease_fail(lo, status,
                           ngx_http_sandbox_bridge_error_jsonf(
                               status == NGX_HTTP_SERVICE_UNAVAILABLE
                               ? "driver_unavailable" : "internal_error",
                               "%*s", p - buf, buf));
}


void
ngx_http_sandbox_bridge_lease_lost(ngx_http_sandbox_bridge_lease_op_t *lo)
{
    ngx_uint_t  status;

    ngx_http_sandbox_bridge_lease_fail(lo, NGX_HTTP_CONFLICT,
                                  ngx_http_sandbox_bridge_error_json(&status,
                                      NGX_HTTP_SANDBOX_BRIDGE_ERR_STATE_LOST));
}


/* after the container's removal, its record; then the stored answer */

void
ngx_http_sandbox_bridge_lease_forget(ngx_http_sandbox_bridge_lease_op_t *lo)
{
    ngx_http_sandbox_bridge_args_t  args;

    if (lo->op.state == NGX_HTTP_SANDBOX_BRIDGE_LEASE_REMOVED
        && lo->call.status != NGX_HTTP_NO_CONTENT
        && lo->call.status != NGX_HTTP_NOT_FOUND)
    {
        /* the reaper will retry: the container has no live record */
        ngx_log_error(NGX_LOG_WARN, lo->op.request->connection->log, 0,
                      "sandbox bridge: removing container \"%V\" gave %ui",
                      &lo->spec.container, lo->call.status);
    }

    args.argc = 0;
    args.overflow = 0;

    ngx_http_sandbox_bridge_arg_lit(&args, "DEL");
    ngx_http_sandbox_bridge_arg_str(&args, &lo->spec.key);

    if (ngx_http_sandbox_bridge_redis_step(&lo->op, -1,
                                      NGX_HTTP_SANDBOX_BRIDGE_LEASE_FORGOTTEN,
                                      0, &args)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_reply(&lo->op, lo->resp_status, lo->resp);
        lo->resp = NULL;
    }
}
