
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_prom.h"
#include "ngx_http_sandbox_bridge_metrics.h"
#include "ngx_http_sandbox_bridge_pool.h"


/*
 * A sandbox_metrics location (README "Metrics"): its GET serves the
 * zone's numbers (metrics.c) as the Prometheus text exposition format
 * 0.0.4, written line by line into a chain of buffers.
 */

#define NGX_HTTP_SANDBOX_BRIDGE_PROM_LINE  1024
#define NGX_HTTP_SANDBOX_BRIDGE_PROM_BUF   16384



typedef struct {
    ngx_pool_t                      *pool;
    ngx_chain_t                     *first;
    ngx_chain_t                    **last;
    ngx_buf_t                       *b;
    ngx_uint_t                       error;
} ngx_http_sandbox_bridge_prom_out_t;


static ngx_int_t ngx_http_sandbox_bridge_prom_handler(
    ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_prom_write(
    ngx_http_sandbox_bridge_prom_out_t *o,
    ngx_http_sandbox_bridge_metrics_t *m);
static void ngx_http_sandbox_bridge_prom_pool(
    ngx_http_sandbox_bridge_prom_out_t *o,
    ngx_http_sandbox_bridge_main_conf_t *mcf);
static void ngx_http_sandbox_bridge_prom_status_label(ngx_uint_t i,
    ngx_str_t *label, u_char *buf);
static void ngx_http_sandbox_bridge_prom_head(
    ngx_http_sandbox_bridge_prom_out_t *o, const char *name,
    const char *type, const char *help);
static void ngx_http_sandbox_bridge_prom_hist(
    ngx_http_sandbox_bridge_prom_out_t *o, const char *name,
    ngx_str_t *label, ngx_http_sandbox_bridge_metrics_hist_t *h);
static void ngx_http_sandbox_bridge_prom_printf(
    ngx_http_sandbox_bridge_prom_out_t *o, const char *fmt, ...);



/* sandbox_metrics; the location's own allow/deny apply, not bridge auth */

char *
ngx_http_sandbox_bridge_prom(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_sandbox_bridge_loc_conf_t *lcf = conf;

    ngx_http_core_loc_conf_t             *clcf;
    ngx_http_sandbox_bridge_metrics_t    *m;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (lcf->enable) {
        return "cannot be in a \"sandbox_bridge\" location";
    }

    if (clcf->handler == ngx_http_sandbox_bridge_prom_handler) {
        return "is duplicate";
    }

    if (lcf->auth != NGX_CONF_UNSET_UINT) {
        return "cannot be combined with \"sandbox_auth\"";
    }

    mcf = ngx_http_conf_get_module_main_conf(cf,
                                             ngx_http_sandbox_bridge_module);

    m = ngx_http_sandbox_bridge_metrics_get(cf, mcf);
    if (m == NULL) {
        return NGX_CONF_ERROR;
    }

    if (!m->used) {
        m->used = 1;
        m->used_file = cf->conf_file->file.name;
        m->used_line = cf->conf_file->line;
    }

    lcf->auth = NGX_HTTP_SANDBOX_BRIDGE_AUTH_OFF;
    clcf->handler = ngx_http_sandbox_bridge_prom_handler;

    return NGX_CONF_OK;
}


/* 1: a sandbox_metrics location (no bridge may share it) */

ngx_uint_t
ngx_http_sandbox_bridge_prom_location(ngx_http_core_loc_conf_t *clcf)
{
    return clcf->handler == ngx_http_sandbox_bridge_prom_handler;
}


/* GET: the text exposition format, version 0.0.4 */

static ngx_int_t
ngx_http_sandbox_bridge_prom_handler(ngx_http_request_t *r)
{
    ngx_int_t                               rc;
    ngx_chain_t                            *cl;
    ngx_http_sandbox_bridge_metrics_t      *m;
    ngx_http_sandbox_bridge_main_conf_t    *mcf;
    ngx_http_sandbox_bridge_prom_out_t   o;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);
    m = mcf->metrics;

    if (m == NULL || m->sh == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&o, sizeof(ngx_http_sandbox_bridge_prom_out_t));
    o.pool = r->pool;
    o.last = &o.first;

    ngx_http_sandbox_bridge_prom_write(&o, m);
    ngx_http_sandbox_bridge_prom_pool(&o, mcf);

    if (o.error || o.b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    o.b->last_buf = 1;
    o.b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = 0;

    for (cl = o.first; cl; cl = cl->next) {
        r->headers_out.content_length_n += ngx_buf_size(cl->buf);
    }

    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, o.first);
}


static void
ngx_http_sandbox_bridge_prom_write(ngx_http_sandbox_bridge_prom_out_t *o,
    ngx_http_sandbox_bridge_metrics_t *m)
{
    ngx_str_t                               *route, label;
    ngx_uint_t                               i, j, n;
    ngx_atomic_uint_t                        v;
    ngx_http_sandbox_bridge_metrics_sh_t    *sh;
    ngx_http_sandbox_bridge_metrics_host_t  *host;
    u_char                                   buf[
                                NGX_HTTP_SANDBOX_BRIDGE_METRICS_NAME + 16];

    sh = m->sh;

    ngx_http_sandbox_bridge_prom_head(o, "sandbox_bridge_requests_total",
        "counter", "Bridge requests by route and HTTP status.");

    for (i = 0; i < NGX_HTTP_SANDBOX_BRIDGE_METRICS_NROUTES; i++) {
        route = &ngx_http_sandbox_bridge_metrics_routes[i];

        for (j = 0; j < NGX_HTTP_SANDBOX_BRIDGE_METRICS_NSTATUS; j++) {
            v = sh->requests[i][j];

            if (v == 0) {
                continue;
            }

            ngx_http_sandbox_bridge_prom_status_label(j, &label, buf);

            ngx_http_sandbox_bridge_prom_printf(o,
                "sandbox_bridge_requests_total{route=\"%V\",status=\"%V\"} "
                "%uA\n", route, &label, v);
        }
    }

    ngx_http_sandbox_bridge_prom_head(o,
        "sandbox_bridge_request_duration_seconds", "histogram",
        "Bridge request duration by route.");

    for (i = 0; i < NGX_HTTP_SANDBOX_BRIDGE_METRICS_NROUTES; i++) {
        label.data = buf;
        label.len = ngx_snprintf(buf, sizeof(buf), "route=\"%V\"",
                                 &ngx_http_sandbox_bridge_metrics_routes[i])
                    - buf;

        ngx_http_sandbox_bridge_prom_hist(o,
            "sandbox_bridge_request_duration_seconds", &label,
            &sh->request_duration[i]);
    }

    ngx_http_sandbox_bridge_prom_head(o, "sandbox_bridge_leases", "gauge",
        "Leases in Redis by state, the whole deployment, recounted "
        "at most once per refresh interval.");

    for (i = 0; i < NGX_HTTP_SANDBOX_BRIDGE_LEASES_NSTATES; i++) {
        ngx_http_sandbox_bridge_prom_printf(o,
            "sandbox_bridge_leases{state=\"%V\"} %uA\n",
            &ngx_http_sandbox_bridge_metrics_states[i], sh->leases[i]);
    }

    ngx_http_sandbox_bridge_prom_head(o,
        "sandbox_bridge_leases_refreshes_total", "counter",
        "Complete recounts of the lease gauge.");
    ngx_http_sandbox_bridge_prom_printf(o,
        "sandbox_bridge_leases_refreshes_total %uA\n", sh->refreshes);

    ngx_http_sandbox_bridge_prom_head(o,
        "sandbox_bridge_leases_acquired_total", "counter",
        "Leases acquired (created or reused by an acquire).");
    ngx_http_sandbox_bridge_prom_printf(o,
        "sandbox_bridge_leases_acquired_total %uA\n", sh->acquired);

    ngx_http_sandbox_bridge_prom_head(o,
        "sandbox_bridge_leases_released_total", "counter",
        "Leases destroyed by a release or a DELETE.");
    ngx_http_sandbox_bridge_prom_printf(o,
        "sandbox_bridge_leases_released_total %uA\n", sh->released);

    ngx_http_sandbox_bridge_prom_head(o,
        "sandbox_bridge_leases_reaped_total", "counter",
        "Leases the reaper ended: containers reaped, records forgotten.");
    ngx_http_sandbox_bridge_prom_printf(o,
        "sandbox_bridge_leases_reaped_total %uA\n", sh->reaped);

    ngx_http_sandbox_bridge_prom_head(o, "sandbox_bridge_exec_total",
        "counter", "Execs by mode and how they ended.");

    for (i = 0; i < NGX_HTTP_SANDBOX_BRIDGE_METRICS_NMODES; i++) {
        for (j = 0; j < NGX_HTTP_SANDBOX_BRIDGE_METRICS_NOUTCOMES; j++) {
            ngx_http_sandbox_bridge_prom_printf(o,
                "sandbox_bridge_exec_total{mode=\"%V\",outcome=\"%V\"} "
                "%uA\n", &ngx_http_sandbox_bridge_metrics_modes[i],
                &ngx_http_sandbox_bridge_metrics_outcomes[j],
                sh->exec[i][j]);
        }
    }

    ngx_http_sandbox_bridge_prom_head(o,
        "sandbox_bridge_exec_duration_seconds", "histogram",
        "How long exec commands ran.");
    ngx_str_null(&label);
    ngx_http_sandbox_bridge_prom_hist(o,
        "sandbox_bridge_exec_duration_seconds", &label, &sh->exec_duration);

    ngx_http_sandbox_bridge_prom_head(o, "sandbox_bridge_streams_active",
        "gauge", "Streaming execs (SSE) in progress.");
    ngx_http_sandbox_bridge_prom_printf(o,
        "sandbox_bridge_streams_active %A\n",
        (ngx_atomic_int_t) sh->streams_active);

    ngx_http_sandbox_bridge_prom_head(o,
        "sandbox_bridge_docker_requests_total", "counter",
        "Docker Engine API calls by Docker host and HTTP status "
        "(none: no answer).");

    n = sh->nhosts;
    ngx_memory_barrier();

    for (i = 0; i < n; i++) {
        host = &sh->hosts[i];

        for (j = 0; j < NGX_HTTP_SANDBOX_BRIDGE_METRICS_NSTATUS; j++) {
            v = host->requests[j];

            if (v == 0) {
                continue;
            }

            ngx_http_sandbox_bridge_prom_status_label(j, &label, buf);

            ngx_http_sandbox_bridge_prom_printf(o,
                "sandbox_bridge_docker_requests_total{host=\"%*s\","
                "status=\"%V\"} %uA\n", host->len, host->name, &label, v);
        }
    }

    ngx_http_sandbox_bridge_prom_head(o,
        "sandbox_bridge_docker_request_duration_seconds", "histogram",
        "Docker Engine API call duration by Docker host.");

    for (i = 0; i < n; i++) {
        host = &sh->hosts[i];

        label.data = buf;
        label.len = ngx_snprintf(buf, sizeof(buf), "host=\"%*s\"",
                                 host->len, host->name)
                    - buf;

        ngx_http_sandbox_bridge_prom_hist(o,
            "sandbox_bridge_docker_request_duration_seconds", &label,
            &host->duration);
    }

    ngx_http_sandbox_bridge_prom_head(o,
        "sandbox_bridge_redis_commands_total", "counter",
        "Redis commands by outcome (failed: no reply, timed out or "
        "connection lost).");

    for (i = 0; i < NGX_HTTP_SANDBOX_BRIDGE_METRICS_NREDIS; i++) {
        ngx_http_sandbox_bridge_prom_printf(o,
            "sandbox_bridge_redis_commands_total{outcome=\"%V\"} %uA\n",
            &ngx_http_sandbox_bridge_metrics_redis_outcomes[i], sh->redis[i]);
    }

    ngx_http_sandbox_bridge_prom_head(o,
        "sandbox_bridge_redis_reconnects_total", "counter",
        "Attempts to connect to Redis again after a failure.");
    ngx_http_sandbox_bridge_prom_printf(o,
        "sandbox_bridge_redis_reconnects_total %uA\n",
        sh->redis_reconnects);

    ngx_http_sandbox_bridge_prom_head(o,
        "sandbox_bridge_auth_failures_total", "counter",
        "Requests refused with 401, by reason.");

    for (i = 0; i < NGX_HTTP_SANDBOX_BRIDGE_METRICS_NREASONS; i++) {
        ngx_http_sandbox_bridge_prom_printf(o,
            "sandbox_bridge_auth_failures_total{reason=\"%V\"} %uA\n",
            &ngx_http_sandbox_bridge_metrics_reasons[i].reason, sh->auth[i]);
    }
}


/* the warm pool's size per Docker host, as this worker last saw it */

static void
ngx_http_sandbox_bridge_prom_pool(ngx_http_sandbox_bridge_prom_out_t *o,
    ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    ngx_str_t   name;
    ngx_uint_t  i, size;

    for (i = 0; ngx_http_sandbox_bridge_pool_gauge(mcf, i, &name, &size)
                == NGX_OK;
         i++)
    {
        if (i == 0) {
            ngx_http_sandbox_bridge_prom_head(o,
                "sandbox_bridge_warm_pool", "gauge",
                "Warm pool containers ready to be claimed, by Docker host.");
        }

        ngx_http_sandbox_bridge_prom_printf(o,
            "sandbox_bridge_warm_pool{host=\"%V\"} %ui\n", &name, size);
    }
}


/* the status label of slot i: the code, "none" for 0, or "other" */

static void
ngx_http_sandbox_bridge_prom_status_label(ngx_uint_t i, ngx_str_t *label,
    u_char *buf)
{
    if (i == NGX_HTTP_SANDBOX_BRIDGE_METRICS_NSTATUS - 1) {
        ngx_str_set(label, "other");

    } else if (ngx_http_sandbox_bridge_metrics_statuses[i] == 0) {
        ngx_str_set(label, "none");

    } else {
        label->data = buf;
        label->len = ngx_sprintf(buf, "%ui",
                                 ngx_http_sandbox_bridge_metrics_statuses[i])
                     - buf;
    }
}


static void
ngx_http_sandbox_bridge_prom_head(ngx_http_sandbox_bridge_prom_out_t *o,
    const char *name, const char *type, const char *help)
{
    ngx_http_sandbox_bridge_prom_printf(o, "# HELP %s %s\n# TYPE %s %s\n",
                                           name, help, name, type);
}


/* cumulative buckets, sum in seconds, count; label may be empty */

static void
ngx_http_sandbox_bridge_prom_hist(ngx_http_sandbox_bridge_prom_out_t *o,
    const char *name, ngx_str_t *label,
    ngx_http_sandbox_bridge_metrics_hist_t *h)
{
    ngx_uint_t         i;
    ngx_atomic_uint_t  total, sum;

    total = 0;

    for (i = 0; i <= NGX_HTTP_SANDBOX_BRIDGE_METRICS_NBUCKETS; i++) {
        total += h->bucket[i];

        ngx_http_sandbox_bridge_prom_printf(o,
            "%s_bucket{%V%sle=\"%s\"} %uA\n", name, label,
            label->len ? "," : "", ngx_http_sandbox_bridge_metrics_le[i],
            total);
    }

    sum = h->sum_ms;

    ngx_http_sandbox_bridge_prom_printf(o, "%s_sum%s%V%s %uA.%03uA\n",
        name, label->len ? "{" : "", label, label->len ? "}" : "",
        sum / 1000, sum % 1000);
    ngx_http_sandbox_bridge_prom_printf(o, "%s_count%s%V%s %uA\n",
        name, label->len ? "{" : "", label, label->len ? "}" : "", total);
}


/* one line into the reply; a new buffer when the last one is full */

static void
ngx_http_sandbox_bridge_prom_printf(
    ngx_http_sandbox_bridge_prom_out_t *o, const char *fmt, ...)
{
    va_list       args;
    ngx_chain_t  *cl;

    if (o->error) {
        return;
    }

    if (o->b == NULL
        || (size_t) (o->b->end - o->b->last)
           < NGX_HTTP_SANDBOX_BRIDGE_PROM_LINE)
    {
        o->b = ngx_create_temp_buf(o->pool,
                                   NGX_HTTP_SANDBOX_BRIDGE_PROM_BUF);
        cl = ngx_alloc_chain_link(o->pool);

        if (o->b == NULL || cl == NULL) {
            o->error = 1;
            return;
        }

        cl->buf = o->b;
        cl->next = NULL;
        *o->last = cl;
        o->last = &cl->next;
    }

    va_start(args, fmt);
    o->b->last = ngx_vslprintf(o->b->last, o->b->last
                               + NGX_HTTP_SANDBOX_BRIDGE_PROM_LINE,
                               fmt, args);
    va_end(args);
}
