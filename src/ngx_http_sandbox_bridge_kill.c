
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_kill.h"
#include "ngx_http_sandbox_bridge_background.h"
#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_input.h"
#include "ngx_http_sandbox_bridge_util.h"


/*
 * A background job: kill every process that carries an exec's marker,
 * and remove a staged stdin file. The client may be gone.
 */

typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_KILL_CREATE = NGX_HTTP_SANDBOX_BRIDGE_START,
    NGX_HTTP_SANDBOX_BRIDGE_KILL_START,
    NGX_HTTP_SANDBOX_BRIDGE_KILL_DONE
} ngx_http_sandbox_bridge_kill_state_e;


typedef struct {
    ngx_http_sandbox_bridge_op_t          op;
    ngx_str_t                             location;
    ngx_str_t                             container;
    ngx_str_t                             script;
    ngx_http_sandbox_bridge_call_t        call;
} ngx_http_sandbox_bridge_kill_t;


static void ngx_http_sandbox_bridge_kill_run(ngx_http_sandbox_bridge_op_t *op);


/*
 * The marked processes' process groups first (an exec's process leads
 * its own group), found with one grep where grep has -z. Then the marked
 * processes and all their descendants (which catches those that left the
 * group or dropped the marker with env -i), stopped first so none can
 * react or fork away, then killed (README "Exec").
 */

static const char  ngx_http_sandbox_bridge_kill_head[] =
    "exec 2>/dev/null; m='PSB_EXEC=";

static const char  ngx_http_sandbox_bridge_kill_body[] =
    "'; z=; printf 'x\\000' | grep -qzxF x && z=1; "
    "marked() { if [ \"$z\" ]; then "
    "for f in $(grep -lzxF \"$m\" /proc/[0-9]*/environ); do "
    "f=${f#/proc/}; echo \"${f%/environ}\"; done; "
    "else for p in /proc/[0-9]*; do "
    "tr '\\000' '\\n' < \"$p/environ\" | grep -qxF \"$m\" "
    "&& echo \"${p#/proc/}\"; done; fi; }; "
    "for n in $(marked); do [ \"$n\" = \"$$\" ] && continue; "
    "kill -KILL -$n; kill -KILL $n; done; "
    "for i in 1 2 3; do l=' '; "
    "for n in $(marked); do [ \"$n\" = \"$$\" ] || l=\"$l$n \"; done; "
    "c=1; while [ $c = 1 ]; do c=0; "
    "for p in /proc/[0-9]*; do n=${p#/proc/}; "
    "case \"$l\" in *\" $n \"*) continue;; esac; v=; "
    "while read k v; do [ \"$k\" = PPid: ] && break; "
    "done < \"$p/status\"; "
    "case \"$l\" in *\" $v \"*) l=\"$l$n \"; c=1;; esac; done; done; "
    "[ \"$l\" = ' ' ] && break; kill -STOP $l; kill -KILL $l; done";


ngx_int_t
ngx_http_sandbox_bridge_kill(ngx_http_sandbox_bridge_loc_conf_t *lcf,
    ngx_str_t *location, ngx_str_t *container, u_char *marker,
    ngx_str_t *stdin_path)
{
    u_char                          *p;
    size_t                           len;
    ngx_pool_t                      *pool;
    ngx_http_sandbox_bridge_kill_t  *k;

    k = ngx_http_sandbox_bridge_job(lcf, sizeof(ngx_http_sandbox_bridge_kill_t),
                                    ngx_http_sandbox_bridge_kill_run);
    if (k == NULL) {
        return NGX_ERROR;
    }

    pool = k->op.request->pool;

    len = sizeof(ngx_http_sandbox_bridge_kill_head) + 32
          + sizeof(ngx_http_sandbox_bridge_kill_body) + sizeof("; rm -f ")
          + (stdin_path ? ngx_http_sandbox_bridge_shell_quote_len(stdin_path)
                        : 0);

    k->script.data = ngx_pnalloc(pool, len);
    k->container.data = ngx_pstrdup(pool, container);
    k->location.data = ngx_pstrdup(pool, location);

    if (k->script.data == NULL || k->container.data == NULL
        || k->location.data == NULL)
    {
        ngx_http_sandbox_bridge_job_cancel(&k->op);
        return NGX_ERROR;
    }

    k->container.len = container->len;
    k->location.len = location->len;

    p = k->script.data;

    if (marker) {
        p = ngx_cpymem(p, ngx_http_sandbox_bridge_kill_head,
                       sizeof(ngx_http_sandbox_bridge_kill_head) - 1);
        p = ngx_cpymem(p, marker, 32);
        p = ngx_cpymem(p, ngx_http_sandbox_bridge_kill_body,
                       sizeof(ngx_http_sandbox_bridge_kill_body) - 1);

    } else {
        p = ngx_cpymem(p, "true", sizeof("true") - 1);
    }

    if (stdin_path && stdin_path->len) {
        p = ngx_cpymem(p, "; rm -f ", sizeof("; rm -f ") - 1);
        p = ngx_http_sandbox_bridge_shell_quote(p, stdin_path);
    }

    k->script.len = p - k->script.data;

    ngx_http_sandbox_bridge_job_start(&k->op);

    return NGX_OK;
}


static void
ngx_http_sandbox_bridge_kill_run(ngx_http_sandbox_bridge_op_t *op)
{
    json_t                          *reply, *id;
    ngx_http_sandbox_bridge_kill_t  *k;

    k = (ngx_http_sandbox_bridge_kill_t *) op;

    switch ((ngx_http_sandbox_bridge_kill_state_e) op->state) {

    case NGX_HTTP_SANDBOX_BRIDGE_KILL_CREATE:
        if (ngx_http_sandbox_bridge_docker_json(op, &k->call, NGX_HTTP_POST,
                                   NGX_HTTP_SANDBOX_BRIDGE_KILL_START,
                                   &k->location,
                                   json_pack("{s:b,s:b,s:b,s:[s,s,s%]}",
                                             "AttachStdout", 1,
                                             "AttachStderr", 1, "Tty", 0,
                                             "Cmd", "sh", "-c",
                                             k->script.data, k->script.len),
                                   "/containers/%V/exec", &k->container)
            != NGX_OK)
        {
            break;
        }

        return;

    case NGX_HTTP_SANDBOX_BRIDGE_KILL_START:
        reply = ngx_http_sandbox_bridge_docker_reply(&k->call);
        id = reply ? json_object_get(reply, "Id") : NULL;

        if (k->call.status != NGX_HTTP_CREATED || !json_is_string(id)
            || json_string_length(id) > 128
            || ngx_http_sandbox_bridge_docker_json(op, &k->call,
                                   NGX_HTTP_POST,
                                   NGX_HTTP_SANDBOX_BRIDGE_KILL_DONE,
                                   &k->location,
                                   json_pack("{s:b,s:b}", "Detach", 0,
                                             "Tty", 0),
                                   "/exec/%s/start", json_string_value(id))
               != NGX_OK)
        {
            ngx_log_error(NGX_LOG_WARN, op->request->connection->log, 0,
                          "sandbox bridge: kill in \"%V\" not started (%ui)",
                          &k->container, k->call.status);
            json_decref(reply);
            break;
        }

        json_decref(reply);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_KILL_DONE:
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, op->request->connection->log, 0,
                       "sandbox bridge: kill in \"%V\" done: %ui",
                       &k->container, k->call.status);
        break;
    }

    ngx_http_sandbox_bridge_finalize(op, NGX_OK);
}
