
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_kill.h"
#include "ngx_http_sandbox_bridge_background.h"
#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_input.h"
#include "ngx_http_sandbox_bridge_util.h"


/*
 * A background job: kill every process that carries one of the markers
 * of a container's dropped or timed-out execs, and remove their staged
 * stdin files. The client may be gone. Kills for one container that
 * come within a few milliseconds share one job: one Docker exec instead
 * of one per command (README "Exec").
 */

#define NGX_HTTP_SANDBOX_BRIDGE_KILL_BATCH  128
#define NGX_HTTP_SANDBOX_BRIDGE_KILL_WAIT   10


typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_KILL_GATHER = NGX_HTTP_SANDBOX_BRIDGE_START,
    NGX_HTTP_SANDBOX_BRIDGE_KILL_CREATE,
    NGX_HTTP_SANDBOX_BRIDGE_KILL_START,
    NGX_HTTP_SANDBOX_BRIDGE_KILL_DONE
} ngx_http_sandbox_bridge_kill_state_e;


typedef struct {
    ngx_http_sandbox_bridge_op_t          op;
    ngx_queue_t                           queue;
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    ngx_str_t                             location;
    ngx_str_t                             container;
    ngx_array_t                           markers;
    ngx_array_t                           stdin_paths;
    ngx_str_t                             script;
    ngx_http_sandbox_bridge_call_t        call;
} ngx_http_sandbox_bridge_kill_t;


static ngx_http_sandbox_bridge_kill_t *ngx_http_sandbox_bridge_kill_job(
    ngx_http_sandbox_bridge_loc_conf_t *lcf, ngx_str_t *location,
    ngx_str_t *container);
static ngx_int_t ngx_http_sandbox_bridge_kill_script(
    ngx_http_sandbox_bridge_kill_t *k);
static void ngx_http_sandbox_bridge_kill_run(ngx_http_sandbox_bridge_op_t *op);


/* per worker: kill jobs still gathering markers */
static ngx_queue_t  ngx_http_sandbox_bridge_kills;


/*
 * The marked processes' process groups first (an exec's process leads
 * its own group), found with one grep where grep has -z. Then the marked
 * processes and all their descendants (which catches those that left the
 * group or dropped the marker with env -i), stopped first so none can
 * react or fork away, then killed. The markers are the "-e" arguments.
 */

static const char  ngx_http_sandbox_bridge_kill_head[] =
    "exec 2>/dev/null; set --";

static const char  ngx_http_sandbox_bridge_kill_body[] =
    "; z=; printf 'x\\000' | grep -qzxF x && z=1; "
    "marked() { if [ \"$z\" ]; then "
    "for f in $(grep -lzxF \"$@\" /proc/[0-9]*/environ); do "
    "f=${f#/proc/}; echo \"${f%/environ}\"; done; "
    "else for p in /proc/[0-9]*; do "
    "tr '\\000' '\\n' < \"$p/environ\" | grep -qxF \"$@\" "
    "&& echo \"${p#/proc/}\"; done; fi; }; "
    "for n in $(marked \"$@\"); do [ \"$n\" = \"$$\" ] && continue; "
    "kill -KILL -$n; kill -KILL $n; done; "
    "for i in 1 2 3; do l=' '; "
    "for n in $(marked \"$@\"); do [ \"$n\" = \"$$\" ] || l=\"$l$n \"; done; "
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
    u_char                          *m;
    ngx_str_t                       *path;
    ngx_http_sandbox_bridge_kill_t  *k;

    k = ngx_http_sandbox_bridge_kill_job(lcf, location, container);
    if (k == NULL) {
        return NGX_ERROR;
    }

    if (marker) {
        m = ngx_array_push(&k->markers);
        if (m == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(m, marker, 32);
    }

    if (stdin_path && stdin_path->len) {
        path = ngx_array_push(&k->stdin_paths);
        if (path == NULL) {
            return NGX_ERROR;
        }

        path->data = ngx_pstrdup(k->op.request->pool, stdin_path);
        if (path->data == NULL) {
            return NGX_ERROR;
        }

        path->len = stdin_path->len;
    }

    return NGX_OK;
}


/* the gathering job of the container, or a new one */

static ngx_http_sandbox_bridge_kill_t *
ngx_http_sandbox_bridge_kill_job(ngx_http_sandbox_bridge_loc_conf_t *lcf,
    ngx_str_t *location, ngx_str_t *container)
{
    ngx_pool_t                      *pool;
    ngx_queue_t                     *q;
    ngx_http_sandbox_bridge_kill_t  *k;

    if (ngx_http_sandbox_bridge_kills.next == NULL) {
        ngx_queue_init(&ngx_http_sandbox_bridge_kills);
    }

    for (q = ngx_queue_head(&ngx_http_sandbox_bridge_kills);
         q != ngx_queue_sentinel(&ngx_http_sandbox_bridge_kills);
         q = ngx_queue_next(q))
    {
        k = ngx_queue_data(q, ngx_http_sandbox_bridge_kill_t, queue);

        if (k->lcf == lcf
            && k->markers.nelts + k->stdin_paths.nelts
               < NGX_HTTP_SANDBOX_BRIDGE_KILL_BATCH
            && k->container.len == container->len
            && ngx_strncmp(k->container.data, container->data,
                           container->len) == 0
            && k->location.len == location->len
            && ngx_strncmp(k->location.data, location->data,
                           location->len) == 0)
        {
            return k;
        }
    }

    k = ngx_http_sandbox_bridge_job(lcf, sizeof(ngx_http_sandbox_bridge_kill_t),
                                    ngx_http_sandbox_bridge_kill_run);
    if (k == NULL) {
        return NULL;
    }

    pool = k->op.request->pool;

    k->lcf = lcf;
    k->container.data = ngx_pstrdup(pool, container);
    k->location.data = ngx_pstrdup(pool, location);

    if (k->container.data == NULL || k->location.data == NULL
        || ngx_array_init(&k->markers, pool, 4, 32) != NGX_OK
        || ngx_array_init(&k->stdin_paths, pool, 1, sizeof(ngx_str_t))
           != NGX_OK)
    {
        ngx_http_sandbox_bridge_job_cancel(&k->op);
        return NULL;
    }

    k->container.len = container->len;
    k->location.len = location->len;

    ngx_queue_insert_tail(&ngx_http_sandbox_bridge_kills, &k->queue);

    ngx_http_sandbox_bridge_job_start(&k->op);

    return k;
}


/* "exec ...; set -- -e PSB_EXEC=<m>...; <body>; rm -f <stdin files>" */

static ngx_int_t
ngx_http_sandbox_bridge_kill_script(ngx_http_sandbox_bridge_kill_t *k)
{
    u_char      *p, *m;
    size_t       len;
    ngx_str_t   *path;
    ngx_uint_t   i;

    m = k->markers.elts;
    path = k->stdin_paths.elts;

    len = sizeof(ngx_http_sandbox_bridge_kill_head)
          + k->markers.nelts * (sizeof(" -e PSB_EXEC=") - 1 + 32)
          + sizeof(ngx_http_sandbox_bridge_kill_body)
          + sizeof("; rm -f") + sizeof("true");

    for (i = 0; i < k->stdin_paths.nelts; i++) {
        len += 1 + ngx_http_sandbox_bridge_shell_quote_len(&path[i]);
    }

    p = ngx_pnalloc(k->op.request->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    k->script.data = p;

    if (k->markers.nelts) {
        p = ngx_cpymem(p, ngx_http_sandbox_bridge_kill_head,
                       sizeof(ngx_http_sandbox_bridge_kill_head) - 1);

        for (i = 0; i < k->markers.nelts; i++) {
            p = ngx_cpymem(p, " -e PSB_EXEC=", sizeof(" -e PSB_EXEC=") - 1);
            p = ngx_cpymem(p, m + 32 * i, 32);
        }

        p = ngx_cpymem(p, ngx_http_sandbox_bridge_kill_body,
                       sizeof(ngx_http_sandbox_bridge_kill_body) - 1);

    } else {
        p = ngx_cpymem(p, "true", sizeof("true") - 1);
    }

    if (k->stdin_paths.nelts) {
        p = ngx_cpymem(p, "; rm -f", sizeof("; rm -f") - 1);

        for (i = 0; i < k->stdin_paths.nelts; i++) {
            *p++ = ' ';
            p = ngx_http_sandbox_bridge_shell_quote(p, &path[i]);
        }
    }

    k->script.len = p - k->script.data;

    return NGX_OK;
}


static void
ngx_http_sandbox_bridge_kill_run(ngx_http_sandbox_bridge_op_t *op)
{
    json_t                          *reply, *id;
    ngx_http_sandbox_bridge_kill_t  *k;

    k = (ngx_http_sandbox_bridge_kill_t *) op;

    switch ((ngx_http_sandbox_bridge_kill_state_e) op->state) {

    case NGX_HTTP_SANDBOX_BRIDGE_KILL_GATHER:
        /* other kills for the container may join for a moment */
        ngx_http_sandbox_bridge_sleep(op, NGX_HTTP_SANDBOX_BRIDGE_KILL_WAIT,
                                      NGX_HTTP_SANDBOX_BRIDGE_KILL_CREATE);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_KILL_CREATE:
        ngx_queue_remove(&k->queue);

        if (ngx_http_sandbox_bridge_kill_script(k) != NGX_OK) {
            break;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, op->request->connection->log, 0,
                       "sandbox bridge: kill in \"%V\": %ui command(s)",
                       &k->container, k->markers.nelts);

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
