
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_metrics.h"


/*
 * Prometheus metrics (README "Metrics"): counters and histograms in one
 * shared memory zone, so every worker adds to the same numbers and they
 * survive a reload; served as the text exposition format 0.0.4. Label
 * sets are fixed: routes, statuses, outcomes and reasons are tables
 * below, Docker hosts are the configured Docker locations.
 */

#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_VERSION  1
#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_HOSTS    32
#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_NAME     128
#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_NBUCKETS 14
#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_LINE     1024
#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_BUF      16384

#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_NROUTES                               \
    (sizeof(ngx_http_sandbox_bridge_metrics_routes) / sizeof(ngx_str_t))
#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_NSTATUS                               \
    (sizeof(ngx_http_sandbox_bridge_metrics_statuses) / sizeof(ngx_uint_t)    \
     + 1)
#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_NREASONS                              \
    (sizeof(ngx_http_sandbox_bridge_metrics_reasons)                          \
     / sizeof(ngx_http_sandbox_bridge_metrics_reason_t))
#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_NOUTCOMES                             \
    (sizeof(ngx_http_sandbox_bridge_metrics_outcomes) / sizeof(ngx_str_t))


typedef struct {
    ngx_str_t                        message;
    ngx_str_t                        reason;
} ngx_http_sandbox_bridge_metrics_reason_t;


/* the last two are "other" (a route the table does not know) and none */
static ngx_str_t  ngx_http_sandbox_bridge_metrics_routes[] = {
    ngx_string("health"),
    ngx_string("probe"),
    ngx_string("acquire"),
    ngx_string("resume"),
    ngx_string("release"),
    ngx_string("delete"),
    ngx_string("exec"),
    ngx_string("leases"),
    ngx_string("lease"),
    ngx_string("openapi"),
    ngx_string("other"),
    ngx_string("none")
};


/* 0: no answer (Docker); a status not listed is "other" */
static ngx_uint_t  ngx_http_sandbox_bridge_metrics_statuses[] = {
    0, 200, 201, 204, 304, 400, 401, 403, 404, 405, 408, 409, 413, 429,
    499, 500, 502, 503, 504
};


static ngx_http_sandbox_bridge_metrics_reason_t
    ngx_http_sandbox_bridge_metrics_reasons[] = {
    { ngx_string("Missing or invalid bridge bearer token."),
      ngx_string("token") },
    { ngx_string("Missing or invalid request signature."),
      ngx_string("signature") },
    { ngx_string("This location requires signed requests."),
      ngx_string("unsigned") },
    { ngx_string("Request signature timestamp"), ngx_string("timestamp") },
    { ngx_string("Request Host is not allowed."), ngx_string("host") },
    { ngx_string("Request nonce was already used."), ngx_string("nonce") },
    { ngx_null_string, ngx_string("other") }
};


static ngx_str_t  ngx_http_sandbox_bridge_metrics_outcomes[] = {
    ngx_string("exit"),
    ngx_string("timeout"),
    ngx_string("disconnect"),
    ngx_string("error")
};


static ngx_str_t  ngx_http_sandbox_bridge_metrics_modes[] = {
    ngx_string("json"),
    ngx_string("sse")
};


static ngx_str_t  ngx_http_sandbox_bridge_metrics_redis_outcomes[] = {
    ngx_string("ok"),
    ngx_string("error"),
    ngx_string("failed")
};


static ngx_str_t  ngx_http_sandbox_bridge_metrics_states[] = {
    ngx_string("creating"),
    ngx_string("ready"),
    ngx_string("other")
};


/* upper bounds in ms, and as "le" labels */
static ngx_msec_t  ngx_http_sandbox_bridge_metrics_bounds[] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
    300000
};

static char  *ngx_http_sandbox_bridge_metrics_le[] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
    "10", "30", "60", "300", "+Inf"
};


/* per bucket, not cumulative; the last is +Inf */
typedef struct {
    ngx_atomic_t                     bucket[
                                 NGX_HTTP_SANDBOX_BRIDGE_METRICS_NBUCKETS + 1];
    ngx_atomic_t                     sum_ms;
} ngx_http_sandbox_bridge_metrics_hist_t;


typedef struct {
    u_char                           name[NGX_HTTP_SANDBOX_BRIDGE_METRICS_NAME];
    size_t                           len;
    ngx_atomic_t                     requests[
                                 NGX_HTTP_SANDBOX_BRIDGE_METRICS_NSTATUS];
    ngx_http_sandbox_bridge_metrics_hist_t   duration;
} ngx_http_sandbox_bridge_metrics_host_t;


/* the shared numbers */
typedef struct {
    ngx_uint_t                       version;
    size_t                           size;

    ngx_atomic_t                     requests[
                                 NGX_HTTP_SANDBOX_BRIDGE_METRICS_NROUTES]
                                 [NGX_HTTP_SANDBOX_BRIDGE_METRICS_NSTATUS];
    ngx_http_sandbox_bridge_metrics_hist_t   request_duration[
                                 NGX_HTTP_SANDBOX_BRIDGE_METRICS_NROUTES];

    ngx_atomic_t                     leases[
                                 NGX_HTTP_SANDBOX_BRIDGE_LEASES_NSTATES];
    ngx_atomic_t                     refresh_at;
    ngx_atomic_t                     refreshes;
    ngx_atomic_t                     acquired;
    ngx_atomic_t                     released;
    ngx_atomic_t                     reaped;

    ngx_atomic_t                     exec[2]
                                 [NGX_HTTP_SANDBOX_BRIDGE_METRICS_NOUTCOMES];
    ngx_http_sandbox_bridge_metrics_hist_t   exec_duration;
    ngx_atomic_t                     streams_active;

    ngx_atomic_t                     redis[3];
    ngx_atomic_t                     redis_reconnects;
    ngx_atomic_t                     auth[
                                 NGX_HTTP_SANDBOX_BRIDGE_METRICS_NREASONS];

    ngx_atomic_t                     nhosts;
    ngx_http_sandbox_bridge_metrics_host_t   hosts[
                                 NGX_HTTP_SANDBOX_BRIDGE_METRICS_HOSTS];
} ngx_http_sandbox_bridge_metrics_sh_t;


/* a configured Docker location and its slot in the zone */
typedef struct {
    ngx_str_t                        location;
    ngx_str_t                        label;
    ngx_http_sandbox_bridge_metrics_host_t  *host;
} ngx_http_sandbox_bridge_metrics_loc_t;


struct ngx_http_sandbox_bridge_metrics_s {
    ngx_shm_zone_t                  *zone;
    ngx_http_sandbox_bridge_metrics_sh_t    *sh;
    ngx_array_t                      hosts;
    ngx_msec_t                       refresh;
    ngx_int_t                        route_index;
    ngx_uint_t                       used;
    ngx_uint_t                       used_line;
    ngx_str_t                        used_file;
};


typedef struct {
    ngx_pool_t                      *pool;
    ngx_chain_t                     *first;
    ngx_chain_t                    **last;
    ngx_buf_t                       *b;
    ngx_uint_t                       error;
} ngx_http_sandbox_bridge_metrics_out_t;


static ngx_http_sandbox_bridge_metrics_t *ngx_http_sandbox_bridge_metrics_get(
    ngx_conf_t *cf, ngx_http_sandbox_bridge_main_conf_t *mcf);
static ngx_int_t ngx_http_sandbox_bridge_metrics_add_host(ngx_conf_t *cf,
    ngx_http_sandbox_bridge_metrics_t *m,
    ngx_http_sandbox_bridge_host_t *host);
static ngx_int_t ngx_http_sandbox_bridge_metrics_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static ngx_int_t ngx_http_sandbox_bridge_metrics_log_handler(
    ngx_http_request_t *r);
static ngx_http_sandbox_bridge_metrics_sh_t *
    ngx_http_sandbox_bridge_metrics_sh(ngx_http_request_t *r);
static ngx_uint_t ngx_http_sandbox_bridge_metrics_status(ngx_uint_t status);
static void ngx_http_sandbox_bridge_metrics_observe(
    ngx_http_sandbox_bridge_metrics_hist_t *h, ngx_msec_int_t ms);
static ngx_int_t ngx_http_sandbox_bridge_metrics_handler(
    ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_metrics_write(
    ngx_http_sandbox_bridge_metrics_out_t *o,
    ngx_http_sandbox_bridge_metrics_t *m);
static void ngx_http_sandbox_bridge_metrics_status_label(ngx_uint_t i,
    ngx_str_t *label, u_char *buf);
static void ngx_http_sandbox_bridge_metrics_head(
    ngx_http_sandbox_bridge_metrics_out_t *o, const char *name,
    const char *type, const char *help);
static void ngx_http_sandbox_bridge_metrics_hist(
    ngx_http_sandbox_bridge_metrics_out_t *o, const char *name,
    ngx_str_t *label, ngx_http_sandbox_bridge_metrics_hist_t *h);
static void ngx_http_sandbox_bridge_metrics_printf(
    ngx_http_sandbox_bridge_metrics_out_t *o, const char *fmt, ...);


/* sandbox_metrics_zone name size [refresh=time] */

char *
ngx_http_sandbox_bridge_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_sandbox_bridge_main_conf_t *mcf = conf;

    ssize_t                             size;
    ngx_str_t                          *value, s;
    ngx_msec_t                          refresh;
    ngx_http_sandbox_bridge_metrics_t  *m;

    m = ngx_http_sandbox_bridge_metrics_get(cf, mcf);
    if (m == NULL) {
        return NGX_CONF_ERROR;
    }

    if (m->zone) {
        return "is duplicate";
    }

    value = cf->args->elts;
    refresh = 5000;

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\" in \"%V\" directive",
                           &value[2], &value[0]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (16 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small in \"%V\" directive, "
                           "it needs at least %uzk", &value[1], &value[0],
                           16 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 4) {
        if (ngx_strncmp(value[3].data, "refresh=", 8) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\" "
                               "directive", &value[3], &value[0]);
            return NGX_CONF_ERROR;
        }

        s.data = value[3].data + 8;
        s.len = value[3].len - 8;

        refresh = ngx_parse_time(&s, 0);

        if (refresh == (ngx_msec_t) NGX_ERROR || refresh < 1000) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid refresh \"%V\" in \"%V\" directive, "
                               "it must be a time of at least 1s",
                               &value[3], &value[0]);
            return NGX_CONF_ERROR;
        }
    }

    m->refresh = refresh;
    m->zone = ngx_shared_memory_add(cf, &value[1], size,
                                    &ngx_http_sandbox_bridge_module);
    if (m->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (m->zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already in use", &value[1]);
        return NGX_CONF_ERROR;
    }

    m->zone->init = ngx_http_sandbox_bridge_metrics_init_zone;
    m->zone->data = m;

    return NGX_CONF_OK;
}


/* sandbox_metrics; the location's own allow/deny apply, not bridge auth */

char *
ngx_http_sandbox_bridge_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
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

    if (clcf->handler == ngx_http_sandbox_bridge_metrics_handler) {
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
    clcf->handler = ngx_http_sandbox_bridge_metrics_handler;

    return NGX_CONF_OK;
}


/* 1: a sandbox_metrics location (no bridge may share it) */

ngx_uint_t
ngx_http_sandbox_bridge_metrics_location(ngx_http_core_loc_conf_t *clcf)
{
    return clcf->handler == ngx_http_sandbox_bridge_metrics_handler;
}


static ngx_http_sandbox_bridge_metrics_t *
ngx_http_sandbox_bridge_metrics_get(ngx_conf_t *cf,
    ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    if (mcf->metrics == NULL) {
        mcf->metrics = ngx_pcalloc(cf->pool,
                                   sizeof(ngx_http_sandbox_bridge_metrics_t));
    }

    return mcf->metrics;
}


/* at the end of the http block: a sandbox_metrics needs the zone */

char *
ngx_http_sandbox_bridge_metrics_check(ngx_conf_t *cf,
    ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    ngx_http_sandbox_bridge_metrics_t  *m;

    m = mcf->metrics;

    if (m && m->used && m->zone == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"sandbox_metrics\" needs \"sandbox_metrics_zone\" "
                      "in the http block in %V:%ui",
                      &m->used_file, m->used_line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* after the merge: the Docker hosts' labels and the request counter */

ngx_int_t
ngx_http_sandbox_bridge_metrics_init(ngx_conf_t *cf)
{
    ngx_str_t                              var;
    ngx_uint_t                             i, h, nh;
    ngx_http_handler_pt                   *ph;
    ngx_http_sandbox_bridge_host_t        *hl;
    ngx_http_core_main_conf_t             *cmcf;
    ngx_http_sandbox_bridge_metrics_t     *m;
    ngx_http_sandbox_bridge_loc_conf_t   **bridges;
    ngx_http_sandbox_bridge_main_conf_t   *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf,
                                             ngx_http_sandbox_bridge_module);
    m = mcf->metrics;

    if (m == NULL || m->zone == NULL) {
        return NGX_OK;
    }

    if (ngx_array_init(&m->hosts, cf->pool, 4,
                       sizeof(ngx_http_sandbox_bridge_metrics_loc_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    bridges = mcf->bridges.elts;

    for (i = 0; i < mcf->bridges.nelts; i++) {
        hl = bridges[i]->hosts ? bridges[i]->hosts->hosts.elts : NULL;
        nh = bridges[i]->hosts ? bridges[i]->hosts->hosts.nelts : 0;

        for (h = 0; h < nh; h++) {
            if (ngx_http_sandbox_bridge_metrics_add_host(cf, m, &hl[h])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    ngx_str_set(&var, "sandbox_route");
    m->route_index = ngx_http_get_variable_index(cf, &var);
    if (m->route_index == NGX_ERROR) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    ph = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (ph == NULL) {
        return NGX_ERROR;
    }

    *ph = ngx_http_sandbox_bridge_metrics_log_handler;

    return NGX_OK;
}


/* a Docker host's series, once per location: its name is the label */

static ngx_int_t
ngx_http_sandbox_bridge_metrics_add_host(ngx_conf_t *cf,
    ngx_http_sandbox_bridge_metrics_t *m, ngx_http_sandbox_bridge_host_t *host)
{
    u_char                                 *p;
    ngx_uint_t                              j, k;
    ngx_http_sandbox_bridge_metrics_loc_t  *loc;

    loc = m->hosts.elts;

    for (j = 0; j < m->hosts.nelts; j++) {
        if (loc[j].location.len == host->location.len
            && ngx_strncmp(loc[j].location.data, host->location.data,
                           host->location.len) == 0)
        {
            return NGX_OK;
        }
    }

    if (m->hosts.nelts == NGX_HTTP_SANDBOX_BRIDGE_METRICS_HOSTS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sandbox_metrics_zone\" counts at most "
                           ngx_value(NGX_HTTP_SANDBOX_BRIDGE_METRICS_HOSTS)
                           " Docker locations");
        return NGX_ERROR;
    }

    /* the label value, escaped as the exposition format wants */
    p = ngx_pnalloc(cf->pool, 2 * host->name.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    loc = ngx_array_push(&m->hosts);
    if (loc == NULL) {
        return NGX_ERROR;
    }

    loc->location = host->location;
    loc->label.data = p;
    loc->host = NULL;

    for (k = 0; k < host->name.len; k++) {
        switch (host->name.data[k]) {
        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = host->name.data[k];
            break;
        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;
        default:
            *p++ = host->name.data[k];
        }
    }

    loc->label.len = p - loc->label.data;

    if (loc->label.len >= NGX_HTTP_SANDBOX_BRIDGE_METRICS_NAME) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "Docker host \"%V\" is too long for a label of "
                           "\"sandbox_metrics_zone\"", &host->name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* in the master: a new zone, or the numbers of the previous cycle */

static ngx_int_t
ngx_http_sandbox_bridge_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data)
{
    ngx_http_sandbox_bridge_metrics_t *om = data;

    ngx_uint_t                               i, j, n;
    ngx_slab_pool_t                         *shpool;
    ngx_http_sandbox_bridge_metrics_t       *m;
    ngx_http_sandbox_bridge_metrics_sh_t    *sh;
    ngx_http_sandbox_bridge_metrics_loc_t   *loc;
    ngx_http_sandbox_bridge_metrics_host_t  *host;

    m = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (om && om->sh) {
        sh = om->sh;

    } else if (shm_zone->shm.exists && shpool->data) {
        sh = shpool->data;

    } else {
        sh = NULL;
    }

    if (sh && (sh->version != NGX_HTTP_SANDBOX_BRIDGE_METRICS_VERSION
               || sh->size != sizeof(ngx_http_sandbox_bridge_metrics_sh_t)))
    {
        /* another layout: start again */
        sh = NULL;
    }

    if (sh == NULL) {
        sh = ngx_slab_calloc(shpool,
                             sizeof(ngx_http_sandbox_bridge_metrics_sh_t));
        if (sh == NULL) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "\"sandbox_metrics_zone\" \"%V\" is too small, "
                          "it needs %uz bytes", &shm_zone->shm.name,
                          sizeof(ngx_http_sandbox_bridge_metrics_sh_t)
                          + 16 * ngx_pagesize);
            return NGX_ERROR;
        }

        sh->version = NGX_HTTP_SANDBOX_BRIDGE_METRICS_VERSION;
        sh->size = sizeof(ngx_http_sandbox_bridge_metrics_sh_t);
        shpool->data = sh;
    }

    m->sh = sh;

    /* hosts keep their slot (and numbers) from cycle to cycle */
    loc = m->hosts.elts;
    n = sh->nhosts;

    for (i = 0; i < m->hosts.nelts; i++) {
        for (j = 0; j < n; j++) {
            host = &sh->hosts[j];

            if (host->len == loc[i].label.len
                && ngx_memcmp(host->name, loc[i].label.data, host->len) == 0)
            {
                break;
            }
        }

        if (j == n) {
            if (n == NGX_HTTP_SANDBOX_BRIDGE_METRICS_HOSTS) {
                ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, 0,
                              "\"sandbox_metrics_zone\" \"%V\" has no room "
                              "for Docker location \"%V\"",
                              &shm_zone->shm.name, &loc[i].location);
                continue;
            }

            host = &sh->hosts[n++];
            ngx_memcpy(host->name, loc[i].label.data, loc[i].label.len);
            host->len = loc[i].label.len;
        }

        loc[i].host = &sh->hosts[j];
    }

    /* the names are written before they are counted in */
    ngx_memory_barrier();
    sh->nhosts = n;

    return NGX_OK;
}


static ngx_http_sandbox_bridge_metrics_sh_t *
ngx_http_sandbox_bridge_metrics_sh(ngx_http_request_t *r)
{
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);

    if (mcf == NULL || mcf->metrics == NULL) {
        return NULL;
    }

    return mcf->metrics->sh;
}


static ngx_uint_t
ngx_http_sandbox_bridge_metrics_status(ngx_uint_t status)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_SANDBOX_BRIDGE_METRICS_NSTATUS - 1; i++) {
        if (ngx_http_sandbox_bridge_metrics_statuses[i] == status) {
            return i;
        }
    }

    return i;
}


static void
ngx_http_sandbox_bridge_metrics_observe(
    ngx_http_sandbox_bridge_metrics_hist_t *h, ngx_msec_int_t ms)
{
    ngx_uint_t  i;

    if (ms < 0) {
        ms = 0;
    }

    for (i = 0; i < NGX_HTTP_SANDBOX_BRIDGE_METRICS_NBUCKETS; i++) {
        if ((ngx_msec_t) ms <= ngx_http_sandbox_bridge_metrics_bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&h->sum_ms, (ngx_atomic_int_t) ms);
    (void) ngx_atomic_fetch_add(&h->bucket[i], 1);
}


/* every request of a bridge location, once, when it is logged */

static ngx_int_t
ngx_http_sandbox_bridge_metrics_log_handler(ngx_http_request_t *r)
{
    ngx_uint_t                             route, status;
    ngx_time_t                            *tp;
    ngx_msec_int_t                         ms;
    ngx_http_variable_value_t             *vv;
    ngx_http_sandbox_bridge_metrics_t     *m;
    ngx_http_sandbox_bridge_loc_conf_t    *lcf;
    ngx_http_sandbox_bridge_main_conf_t   *mcf;

    if (r != r->main) {
        return NGX_OK;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);
    m = mcf->metrics;

    if (!lcf->enable || m == NULL || m->sh == NULL) {
        return NGX_OK;
    }

    route = NGX_HTTP_SANDBOX_BRIDGE_METRICS_NROUTES - 1;
    vv = ngx_http_get_indexed_variable(r, m->route_index);

    if (vv && !vv->not_found) {
        for (route = 0; route < NGX_HTTP_SANDBOX_BRIDGE_METRICS_NROUTES - 2;
             route++)
        {
            if (ngx_http_sandbox_bridge_metrics_routes[route].len == vv->len
                && ngx_strncmp(ngx_http_sandbox_bridge_metrics_routes[route]
                               .data, vv->data, vv->len) == 0)
            {
                break;
            }
        }
    }

    status = r->err_status ? r->err_status : r->headers_out.status;

    if (status == 0 && r->connection->error) {
        status = NGX_HTTP_CLIENT_CLOSED_REQUEST;
    }

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));

    status = ngx_http_sandbox_bridge_metrics_status(status);

    (void) ngx_atomic_fetch_add(&m->sh->requests[route][status], 1);
    ngx_http_sandbox_bridge_metrics_observe(&m->sh->request_duration[route],
                                            ms);

    return NGX_OK;
}


/* a Docker call (subrequest sr) is done; status 0: no answer */

void
ngx_http_sandbox_bridge_metrics_docker(ngx_http_request_t *sr,
    ngx_str_t *location, ngx_uint_t status)
{
    ngx_uint_t                              i;
    ngx_time_t                             *tp;
    ngx_msec_int_t                          ms;
    ngx_http_sandbox_bridge_metrics_t      *m;
    ngx_http_sandbox_bridge_metrics_loc_t  *loc;
    ngx_http_sandbox_bridge_main_conf_t    *mcf;

    mcf = ngx_http_get_module_main_conf(sr, ngx_http_sandbox_bridge_module);
    m = mcf ? mcf->metrics : NULL;

    if (m == NULL || m->sh == NULL) {
        return;
    }

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - sr->start_sec) * 1000
                           + (tp->msec - sr->start_msec));
    loc = m->hosts.elts;

    for (i = 0; i < m->hosts.nelts; i++) {
        if (loc[i].host
            && loc[i].location.len == location->len
            && ngx_strncmp(loc[i].location.data, location->data,
                           location->len) == 0)
        {
            (void) ngx_atomic_fetch_add(&loc[i].host->requests[
                             ngx_http_sandbox_bridge_metrics_status(status)],
                             1);
            ngx_http_sandbox_bridge_metrics_observe(&loc[i].host->duration,
                                                    ms);
            return;
        }
    }
}


void
ngx_http_sandbox_bridge_metrics_redis(ngx_http_sandbox_bridge_main_conf_t *mcf,
    ngx_int_t outcome)
{
    if (mcf && mcf->metrics && mcf->metrics->sh
        && outcome >= 0 && outcome < 3)
    {
        (void) ngx_atomic_fetch_add(&mcf->metrics->sh->redis[outcome], 1);
    }
}


void
ngx_http_sandbox_bridge_metrics_redis_reconnect(
    ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    if (mcf && mcf->metrics && mcf->metrics->sh) {
        (void) ngx_atomic_fetch_add(&mcf->metrics->sh->redis_reconnects, 1);
    }
}


/* the reason is known from the fixed message (README "Errors") */

void
ngx_http_sandbox_bridge_metrics_auth_failure(ngx_http_request_t *r,
    const char *msg)
{
    ngx_uint_t                                 i;
    ngx_http_sandbox_bridge_metrics_sh_t      *sh;
    ngx_http_sandbox_bridge_metrics_reason_t  *rs;

    sh = ngx_http_sandbox_bridge_metrics_sh(r);
    if (sh == NULL) {
        return;
    }

    rs = ngx_http_sandbox_bridge_metrics_reasons;

    for (i = 0; rs[i].message.len; i++) {
        if (ngx_strncmp(msg, rs[i].message.data, rs[i].message.len) == 0) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&sh->auth[i], 1);
}


/* the lease lifecycle events of README "Logs" */

void
ngx_http_sandbox_bridge_metrics_lease(ngx_http_request_t *r,
    const char *event)
{
    ngx_atomic_t                          *a;
    ngx_http_sandbox_bridge_metrics_sh_t  *sh;

    sh = ngx_http_sandbox_bridge_metrics_sh(r);
    if (sh == NULL) {
        return;
    }

    if (ngx_strcmp(event, "acquired") == 0) {
        a = &sh->acquired;

    } else if (ngx_strcmp(event, "released") == 0
               || ngx_strcmp(event, "deleted") == 0)
    {
        a = &sh->released;

    } else if (ngx_strcmp(event, "reaped") == 0
               || ngx_strcmp(event, "forgotten") == 0)
    {
        a = &sh->reaped;

    } else {
        return;
    }

    (void) ngx_atomic_fetch_add(a, 1);
}


/* end: "exit", "timeout", "disconnect" or "error"; an error of a gone
 * client is a disconnect too; ms < 0: the command never ran */

void
ngx_http_sandbox_bridge_metrics_exec(ngx_http_request_t *r, ngx_uint_t sse,
    const char *end, ngx_msec_int_t ms)
{
    ngx_uint_t                             o;
    ngx_http_sandbox_bridge_metrics_sh_t  *sh;

    sh = ngx_http_sandbox_bridge_metrics_sh(r);
    if (sh == NULL) {
        return;
    }

    if (ngx_strcmp(end, "exit") == 0) {
        o = 0;

    } else if (ngx_strcmp(end, "timeout") == 0) {
        o = 1;

    } else if (ngx_strcmp(end, "disconnect") == 0 || r->connection->error) {
        o = 2;

    } else {
        o = 3;
    }

    (void) ngx_atomic_fetch_add(&sh->exec[sse ? 1 : 0][o], 1);

    if (ms >= 0) {
        ngx_http_sandbox_bridge_metrics_observe(&sh->exec_duration, ms);
    }
}


void
ngx_http_sandbox_bridge_metrics_stream(ngx_http_request_t *r,
    ngx_int_t delta)
{
    ngx_http_sandbox_bridge_metrics_sh_t  *sh;

    sh = ngx_http_sandbox_bridge_metrics_sh(r);

    if (sh) {
        (void) ngx_atomic_fetch_add(&sh->streams_active,
                                    (ngx_atomic_int_t) delta);
    }
}


ngx_msec_t
ngx_http_sandbox_bridge_metrics_refresh_interval(
    ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    if (mcf->metrics == NULL || mcf->metrics->sh == NULL) {
        return 0;
    }

    return mcf->metrics->refresh;
}


/* 1: this worker recounts the leases now; the others wait an interval */

ngx_int_t
ngx_http_sandbox_bridge_metrics_refresh_due(
    ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    ngx_time_t                            *tp;
    ngx_atomic_uint_t                      now, at;
    ngx_http_sandbox_bridge_metrics_sh_t  *sh;

    if (mcf->metrics == NULL || mcf->metrics->sh == NULL) {
        return 0;
    }

    sh = mcf->metrics->sh;
    tp = ngx_timeofday();
    now = (ngx_atomic_uint_t) tp->sec * 1000 + tp->msec;
    at = sh->refresh_at;

    if (now < at) {
        return 0;
    }

    return ngx_atomic_cmp_set(&sh->refresh_at, at,
                              now + mcf->metrics->refresh);
}


void
ngx_http_sandbox_bridge_metrics_set_leases(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_atomic_uint_t *counts)
{
    ngx_uint_t  i;

    if (mcf->metrics == NULL || mcf->metrics->sh == NULL) {
        return;
    }

    for (i = 0; i < NGX_HTTP_SANDBOX_BRIDGE_LEASES_NSTATES; i++) {
        mcf->metrics->sh->leases[i] = counts[i];
    }

    (void) ngx_atomic_fetch_add(&mcf->metrics->sh->refreshes, 1);
}


/* GET: the text exposition format, version 0.0.4 */

static ngx_int_t
ngx_http_sandbox_bridge_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                               rc;
    ngx_chain_t                            *cl;
    ngx_http_sandbox_bridge_metrics_t      *m;
    ngx_http_sandbox_bridge_main_conf_t    *mcf;
    ngx_http_sandbox_bridge_metrics_out_t   o;

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

    ngx_memzero(&o, sizeof(ngx_http_sandbox_bridge_metrics_out_t));
    o.pool = r->pool;
    o.last = &o.first;

    ngx_http_sandbox_bridge_metrics_write(&o, m);

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
ngx_http_sandbox_bridge_metrics_write(ngx_http_sandbox_bridge_metrics_out_t *o,
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

    ngx_http_sandbox_bridge_metrics_head(o, "sandbox_bridge_requests_total",
        "counter", "Bridge requests by route and HTTP status.");

    for (i = 0; i < NGX_HTTP_SANDBOX_BRIDGE_METRICS_NROUTES; i++) {
        route = &ngx_http_sandbox_bridge_metrics_routes[i];

        for (j = 0; j < NGX_HTTP_SANDBOX_BRIDGE_METRICS_NSTATUS; j++) {
            v = sh->requests[i][j];

            if (v == 0) {
                continue;
            }

            ngx_http_sandbox_bridge_metrics_status_label(j, &label, buf);

            ngx_http_sandbox_bridge_metrics_printf(o,
                "sandbox_bridge_requests_total{route=\"%V\",status=\"%V\"} "
                "%uA\n", route, &label, v);
        }
    }

    ngx_http_sandbox_bridge_metrics_head(o,
        "sandbox_bridge_request_duration_seconds", "histogram",
        "Bridge request duration by route.");

    for (i = 0; i < NGX_HTTP_SANDBOX_BRIDGE_METRICS_NROUTES; i++) {
        label.data = buf;
        label.len = ngx_snprintf(buf, sizeof(buf), "route=\"%V\"",
                                 &ngx_http_sandbox_bridge_metrics_routes[i])
                    - buf;

        ngx_http_sandbox_bridge_metrics_hist(o,
            "sandbox_bridge_request_duration_seconds", &label,
            &sh->request_duration[i]);
    }

    ngx_http_sandbox_bridge_metrics_head(o, "sandbox_bridge_leases", "gauge",
        "Leases in Redis by state, the whole deployment, recounted "
        "at most once per refresh interval.");

    for (i = 0; i < NGX_HTTP_SANDBOX_BRIDGE_LEASES_NSTATES; i++) {
        ngx_http_sandbox_bridge_metrics_printf(o,
            "sandbox_bridge_leases{state=\"%V\"} %uA\n",
            &ngx_http_sandbox_bridge_metrics_states[i], sh->leases[i]);
    }

    ngx_http_sandbox_bridge_metrics_head(o,
        "sandbox_bridge_leases_refreshes_total", "counter",
        "Complete recounts of the lease gauge.");
    ngx_http_sandbox_bridge_metrics_printf(o,
        "sandbox_bridge_leases_refreshes_total %uA\n", sh->refreshes);

    ngx_http_sandbox_bridge_metrics_head(o,
        "sandbox_bridge_leases_acquired_total", "counter",
        "Leases acquired (created or reused by an acquire).");
    ngx_http_sandbox_bridge_metrics_printf(o,
        "sandbox_bridge_leases_acquired_total %uA\n", sh->acquired);

    ngx_http_sandbox_bridge_metrics_head(o,
        "sandbox_bridge_leases_released_total", "counter",
        "Leases destroyed by a release or a DELETE.");
    ngx_http_sandbox_bridge_metrics_printf(o,
        "sandbox_bridge_leases_released_total %uA\n", sh->released);

    ngx_http_sandbox_bridge_metrics_head(o,
        "sandbox_bridge_leases_reaped_total", "counter",
        "Leases the reaper ended: containers reaped, records forgotten.");
    ngx_http_sandbox_bridge_metrics_printf(o,
        "sandbox_bridge_leases_reaped_total %uA\n", sh->reaped);

    ngx_http_sandbox_bridge_metrics_head(o, "sandbox_bridge_exec_total",
        "counter", "Execs by mode and how they ended.");

    for (i = 0; i < 2; i++) {
        for (j = 0; j < NGX_HTTP_SANDBOX_BRIDGE_METRICS_NOUTCOMES; j++) {
            ngx_http_sandbox_bridge_metrics_printf(o,
                "sandbox_bridge_exec_total{mode=\"%V\",outcome=\"%V\"} "
                "%uA\n", &ngx_http_sandbox_bridge_metrics_modes[i],
                &ngx_http_sandbox_bridge_metrics_outcomes[j],
                sh->exec[i][j]);
        }
    }

    ngx_http_sandbox_bridge_metrics_head(o,
        "sandbox_bridge_exec_duration_seconds", "histogram",
        "How long exec commands ran.");
    ngx_str_null(&label);
    ngx_http_sandbox_bridge_metrics_hist(o,
        "sandbox_bridge_exec_duration_seconds", &label, &sh->exec_duration);

    ngx_http_sandbox_bridge_metrics_head(o, "sandbox_bridge_streams_active",
        "gauge", "Streaming execs (SSE) in progress.");
    ngx_http_sandbox_bridge_metrics_printf(o,
        "sandbox_bridge_streams_active %A\n",
        (ngx_atomic_int_t) sh->streams_active);

    ngx_http_sandbox_bridge_metrics_head(o,
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

            ngx_http_sandbox_bridge_metrics_status_label(j, &label, buf);

            ngx_http_sandbox_bridge_metrics_printf(o,
                "sandbox_bridge_docker_requests_total{host=\"%*s\","
                "status=\"%V\"} %uA\n", host->len, host->name, &label, v);
        }
    }

    ngx_http_sandbox_bridge_metrics_head(o,
        "sandbox_bridge_docker_request_duration_seconds", "histogram",
        "Docker Engine API call duration by Docker host.");

    for (i = 0; i < n; i++) {
        host = &sh->hosts[i];

        label.data = buf;
        label.len = ngx_snprintf(buf, sizeof(buf), "host=\"%*s\"",
                                 host->len, host->name)
                    - buf;

        ngx_http_sandbox_bridge_metrics_hist(o,
            "sandbox_bridge_docker_request_duration_seconds", &label,
            &host->duration);
    }

    ngx_http_sandbox_bridge_metrics_head(o,
        "sandbox_bridge_redis_commands_total", "counter",
        "Redis commands by outcome (failed: no reply, timed out or "
        "connection lost).");

    for (i = 0; i < 3; i++) {
        ngx_http_sandbox_bridge_metrics_printf(o,
            "sandbox_bridge_redis_commands_total{outcome=\"%V\"} %uA\n",
            &ngx_http_sandbox_bridge_metrics_redis_outcomes[i], sh->redis[i]);
    }

    ngx_http_sandbox_bridge_metrics_head(o,
        "sandbox_bridge_redis_reconnects_total", "counter",
        "Attempts to connect to Redis again after a failure.");
    ngx_http_sandbox_bridge_metrics_printf(o,
        "sandbox_bridge_redis_reconnects_total %uA\n",
        sh->redis_reconnects);

    ngx_http_sandbox_bridge_metrics_head(o,
        "sandbox_bridge_auth_failures_total", "counter",
        "Requests refused with 401, by reason.");

    for (i = 0; i < NGX_HTTP_SANDBOX_BRIDGE_METRICS_NREASONS; i++) {
        ngx_http_sandbox_bridge_metrics_printf(o,
            "sandbox_bridge_auth_failures_total{reason=\"%V\"} %uA\n",
            &ngx_http_sandbox_bridge_metrics_reasons[i].reason, sh->auth[i]);
    }
}


/* the status label of slot i: the code, "none" for 0, or "other" */

static void
ngx_http_sandbox_bridge_metrics_status_label(ngx_uint_t i, ngx_str_t *label,
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
ngx_http_sandbox_bridge_metrics_head(ngx_http_sandbox_bridge_metrics_out_t *o,
    const char *name, const char *type, const char *help)
{
    ngx_http_sandbox_bridge_metrics_printf(o, "# HELP %s %s\n# TYPE %s %s\n",
                                           name, help, name, type);
}


/* cumulative buckets, sum in seconds, count; label may be empty */

static void
ngx_http_sandbox_bridge_metrics_hist(ngx_http_sandbox_bridge_metrics_out_t *o,
    const char *name, ngx_str_t *label,
    ngx_http_sandbox_bridge_metrics_hist_t *h)
{
    ngx_uint_t         i;
    ngx_atomic_uint_t  total, sum;

    total = 0;

    for (i = 0; i <= NGX_HTTP_SANDBOX_BRIDGE_METRICS_NBUCKETS; i++) {
        total += h->bucket[i];

        ngx_http_sandbox_bridge_metrics_printf(o,
            "%s_bucket{%V%sle=\"%s\"} %uA\n", name, label,
            label->len ? "," : "", ngx_http_sandbox_bridge_metrics_le[i],
            total);
    }

    sum = h->sum_ms;

    ngx_http_sandbox_bridge_metrics_printf(o, "%s_sum%s%V%s %uA.%03uA\n",
        name, label->len ? "{" : "", label, label->len ? "}" : "",
        sum / 1000, sum % 1000);
    ngx_http_sandbox_bridge_metrics_printf(o, "%s_count%s%V%s %uA\n",
        name, label->len ? "{" : "", label, label->len ? "}" : "", total);
}


/* one line into the reply; a new buffer when the last one is full */

static void
ngx_http_sandbox_bridge_metrics_printf(
    ngx_http_sandbox_bridge_metrics_out_t *o, const char *fmt, ...)
{
    va_list       args;
    ngx_chain_t  *cl;

    if (o->error) {
        return;
    }

    if (o->b == NULL
        || (size_t) (o->b->end - o->b->last)
           < NGX_HTTP_SANDBOX_BRIDGE_METRICS_LINE)
    {
        o->b = ngx_create_temp_buf(o->pool,
                                   NGX_HTTP_SANDBOX_BRIDGE_METRICS_BUF);
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
                               + NGX_HTTP_SANDBOX_BRIDGE_METRICS_LINE,
                               fmt, args);
    va_end(args);
}
