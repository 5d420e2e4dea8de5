
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_metrics.h"



/*
 * Prometheus metrics (README "Metrics"): counters and histograms in one
 * shared memory zone, so every worker adds to the same numbers and they
 * survive a reload; prom.c serves them. Label sets are fixed: routes,
 * statuses, outcomes and reasons are the tables below, Docker hosts are
 * the configured Docker locations.
 */

#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_VERSION  1


/* the last two are "other" (a route the table does not know) and none */
ngx_str_t  ngx_http_sandbox_bridge_metrics_routes[] = {
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
ngx_uint_t  ngx_http_sandbox_bridge_metrics_statuses[] = {
    0, 200, 201, 204, 304, 400, 401, 403, 404, 405, 408, 409, 413, 429,
    499, 500, 502, 503, 504
};


ngx_http_sandbox_bridge_metrics_reason_t
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


ngx_str_t  ngx_http_sandbox_bridge_metrics_outcomes[] = {
    ngx_string("exit"),
    ngx_string("timeout"),
    ngx_string("disconnect"),
    ngx_string("error")
};


ngx_str_t  ngx_http_sandbox_bridge_metrics_modes[] = {
    ngx_string("json"),
    ngx_string("sse")
};


ngx_str_t  ngx_http_sandbox_bridge_metrics_redis_outcomes[] = {
    ngx_string("ok"),
    ngx_string("error"),
    ngx_string("failed")
};


ngx_str_t  ngx_http_sandbox_bridge_metrics_states[] = {
    ngx_string("creating"),
    ngx_string("ready"),
    ngx_string("other")
};


/* upper bounds in ms, and as "le" labels */
static ngx_msec_t  ngx_http_sandbox_bridge_metrics_bounds[] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
    300000
};

char  *ngx_http_sandbox_bridge_metrics_le[] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
    "10", "30", "60", "300", "+Inf"
};


#define ngx_http_sandbox_bridge_metrics_n(a)  (sizeof(a) / sizeof(a[0]))

/* the tables have the sizes metrics.h gives (else this does not compile) */
typedef char  ngx_http_sandbox_bridge_metrics_sizes_t[
    (ngx_http_sandbox_bridge_metrics_n(ngx_http_sandbox_bridge_metrics_routes)
         == NGX_HTTP_SANDBOX_BRIDGE_METRICS_NROUTES
     && ngx_http_sandbox_bridge_metrics_n(
            ngx_http_sandbox_bridge_metrics_statuses)
        == NGX_HTTP_SANDBOX_BRIDGE_METRICS_NSTATUS - 1
     && ngx_http_sandbox_bridge_metrics_n(
            ngx_http_sandbox_bridge_metrics_reasons)
        == NGX_HTTP_SANDBOX_BRIDGE_METRICS_NREASONS
     && ngx_http_sandbox_bridge_metrics_n(
            ngx_http_sandbox_bridge_metrics_outcomes)
        == NGX_HTTP_SANDBOX_BRIDGE_METRICS_NOUTCOMES
     && ngx_http_sandbox_bridge_metrics_n(ngx_http_sandbox_bridge_metrics_modes)
        == NGX_HTTP_SANDBOX_BRIDGE_METRICS_NMODES
     && ngx_http_sandbox_bridge_metrics_n(
            ngx_http_sandbox_bridge_metrics_redis_outcomes)
        == NGX_HTTP_SANDBOX_BRIDGE_METRICS_NREDIS
     && ngx_http_sandbox_bridge_metrics_n(
            ngx_http_sandbox_bridge_metrics_states)
        == NGX_HTTP_SANDBOX_BRIDGE_LEASES_NSTATES
     && ngx_http_sandbox_bridge_metrics_n(
            ngx_http_sandbox_bridge_metrics_bounds)
        == NGX_HTTP_SANDBOX_BRIDGE_METRICS_NBUCKETS
     && ngx_http_sandbox_bridge_metrics_n(ngx_http_sandbox_bridge_metrics_le)
        == NGX_HTTP_SANDBOX_BRIDGE_METRICS_NBUCKETS + 1) ? 1 : -1];


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


ngx_http_sandbox_bridge_metrics_t *
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