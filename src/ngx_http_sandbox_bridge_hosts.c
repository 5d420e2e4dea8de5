
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_hosts.h"


/*
 * The Docker hosts of a bridge (README "Docker hosts"): one
 * sandbox_docker_location each, by name. The lease scripts get them as
 * one argument, a line "<name>\t<weight>\t<max_leases>\t<up>\n" per host;
 * whether a host is up comes from a per-worker cache of /_ping answers.
 */

#define NGX_HTTP_SANDBOX_BRIDGE_PING_AGE     1000
#define NGX_HTTP_SANDBOX_BRIDGE_WEIGHT_MAX   1000
#define NGX_HTTP_SANDBOX_BRIDGE_LEASES_MAX   1000000


char *
ngx_http_sandbox_bridge_hosts_add(ngx_conf_t *cf,
    ngx_http_sandbox_bridge_loc_conf_t *lcf)
{
    u_char                          *p;
    ngx_int_t                        n;
    ngx_str_t                       *value;
    ngx_uint_t                       i, params;
    ngx_http_sandbox_bridge_host_t  *h, *other;

    value = cf->args->elts;

    if (value[1].len < 2 || value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid location \"%V\" in "
                           "\"sandbox_docker_location\" directive, "
                           "it must be a URI such as /_docker",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (lcf->hosts == NULL) {
        lcf->hosts = ngx_pcalloc(cf->pool,
                                 sizeof(ngx_http_sandbox_bridge_hosts_t));
        if (lcf->hosts == NULL
            || ngx_array_init(&lcf->hosts->hosts, cf->pool, 2,
                              sizeof(ngx_http_sandbox_bridge_host_t))
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    h = ngx_array_push(&lcf->hosts->hosts);
    if (h == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(h, sizeof(ngx_http_sandbox_bridge_host_t));

    h->location = value[1];

    while (h->location.data[h->location.len - 1] == '/') {
        h->location.len--;
    }

    h->name = h->location;
    h->weight = 1;
    params = 0;

    for (i = 2; i < cf->args->nelts; i++) {
        params = 1;

        if (ngx_strncmp(value[i].data, "name=", 5) == 0) {
            h->name.data = value[i].data + 5;
            h->name.len = value[i].len - 5;

            /* no blanks or controls: the scripts get names as lines */
            for (p = h->name.data; p < h->name.data + h->name.len; p++) {
                if (*p <= ' ' || *p == 0x7f) {
                    break;
                }
            }

            if (h->name.len == 0 || h->name.len > 128
                || p < h->name.data + h->name.len)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "weight=", 7) == 0) {
            n = ngx_atoi(value[i].data + 7, value[i].len - 7);
            if (n < 1 || n > NGX_HTTP_SANDBOX_BRIDGE_WEIGHT_MAX) {
                goto invalid;
            }

            h->weight = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_leases=", 11) == 0) {
            n = ngx_atoi(value[i].data + 11, value[i].len - 11);
            if (n < 1 || n > NGX_HTTP_SANDBOX_BRIDGE_LEASES_MAX) {
                goto invalid;
            }

            h->max_leases = n;
            continue;
        }

        goto invalid;
    }

    other = lcf->hosts->hosts.elts;

    for (i = 0; i + 1 < lcf->hosts->hosts.nelts; i++) {
        if (other[i].name.len == h->name.len
            && ngx_strncmp(other[i].name.data, h->name.data, h->name.len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate host name \"%V\" in "
                               "\"sandbox_docker_location\" directive",
                               &h->name);
            return NGX_CONF_ERROR;
        }
    }

    lcf->hosts->simple = (lcf->hosts->hosts.nelts == 1 && !params);

    /* the first host is the bridge's Docker location of old */
    other = lcf->hosts->hosts.elts;
    lcf->docker_location = other[0].location;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in "
                       "\"sandbox_docker_location\" directive", &value[i]);

    return NGX_CONF_ERROR;
}


/* the host of a lease record; a record without one is the first host's */

ngx_http_sandbox_bridge_host_t *
ngx_http_sandbox_bridge_host_find(ngx_http_sandbox_bridge_loc_conf_t *lcf,
    ngx_str_t *name)
{
    ngx_uint_t                       i;
    ngx_http_sandbox_bridge_host_t  *h;

    if (lcf->hosts == NULL) {
        return NULL;
    }

    h = lcf->hosts->hosts.elts;

    if (name == NULL || name->len == 0) {
        return &h[0];
    }

    for (i = 0; i < lcf->hosts->hosts.nelts; i++) {
        if (h[i].name.len == name->len
            && ngx_strncmp(h[i].name.data, name->data, name->len) == 0)
        {
            return &h[i];
        }
    }

    return NULL;
}


/* a host not pinged yet counts as up: its calls will tell */

ngx_int_t
ngx_http_sandbox_bridge_hosts_arg(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_loc_conf_t *lcf,
    ngx_http_sandbox_bridge_args_t *args)
{
    u_char                          *p, *start;
    size_t                           len;
    ngx_uint_t                       i, up;
    ngx_http_sandbox_bridge_host_t  *h;

    h = lcf->hosts->hosts.elts;
    len = 0;

    for (i = 0; i < lcf->hosts->hosts.nelts; i++) {
        len += h[i].name.len + 2 * NGX_INT_T_LEN + 5;
    }

    start = ngx_pnalloc(pool, len);
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = start;

    for (i = 0; i < lcf->hosts->hosts.nelts; i++) {
        up = lcf->hosts->simple || !h[i].pinged || h[i].up;

        p = ngx_sprintf(p, "%V\t%ui\t%ui\t%ui\n", &h[i].name, h[i].weight,
                        h[i].max_leases, up);
    }

    ngx_http_sandbox_bridge_arg(args, start, p - start);

    return NGX_OK;
}


/*
 * /_ping every host whose cached answer is older than a second (with
 * recheck_down, also every host that was down). NGX_OK: the flow runs on
 * in "next" once they answered; NGX_DONE: nothing to ask.
 */

ngx_int_t
ngx_http_sandbox_bridge_hosts_ping(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_ping_t **pings, ngx_uint_t recheck_down,
    ngx_uint_t next)
{
    ngx_uint_t                           i, n, started;
    ngx_http_sandbox_bridge_host_t      *h;
    ngx_http_sandbox_bridge_ping_t      *pg;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(op->request,
                                       ngx_http_sandbox_bridge_module);

    n = lcf->hosts->hosts.nelts;
    h = lcf->hosts->hosts.elts;

    pg = ngx_pcalloc(op->request->pool,
                     (n + 1) * sizeof(ngx_http_sandbox_bridge_ping_t));
    if (pg == NULL) {
        return NGX_ERROR;
    }

    *pings = pg;
    started = 0;

    for (i = 0; i < n; i++) {
        if (h[i].pinged
            && (h[i].up || !recheck_down)
            && (ngx_msec_int_t) (ngx_current_msec - h[i].pinged_at)
               < NGX_HTTP_SANDBOX_BRIDGE_PING_AGE)
        {
            continue;
        }

        pg[started].host = &h[i];

        if (ngx_http_sandbox_bridge_docker(op, &pg[started].call,
                                           NGX_HTTP_GET, next,
                                           &h[i].location, "/_ping")
            != NGX_OK)
        {
            pg[started].host = NULL;
            return started ? NGX_OK : NGX_ERROR;
        }

        started++;
    }

    return started ? NGX_OK : NGX_DONE;
}


void
ngx_http_sandbox_bridge_hosts_pinged(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_ping_t *pings)
{
    ngx_uint_t                       was;
    ngx_http_sandbox_bridge_ping_t  *pg;

    for (pg = pings; pg && pg->host; pg++) {
        was = !pg->host->pinged || pg->host->up;

        pg->host->pinged = 1;
        pg->host->pinged_at = ngx_current_msec;
        pg->host->up = (pg->call.status == NGX_HTTP_OK);

        if (was && !pg->host->up) {
            ngx_log_error(NGX_LOG_WARN, op->request->connection->log, 0,
                          "sandbox bridge: Docker host \"%V\" is "
                          "unreachable (status %ui)", &pg->host->name,
                          pg->call.status);
        }
    }
}


/*
 * A lease script's refusal for the lease's host, {code, host}: answered
 * here (NGX_DECLINED). NGX_OK: the reply is something else.
 */

ngx_int_t
ngx_http_sandbox_bridge_hosts_refused(ngx_http_sandbox_bridge_op_t *op,
    redisReply *reply, ngx_str_t *id)
{
    ngx_str_t  host;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[0]->integer > -2)
    {
        return NGX_OK;
    }

    ngx_str_null(&host);

    if (reply->element[1]->type == REDIS_REPLY_STRING) {
        host.data = (u_char *) reply->element[1]->str;
        host.len = reply->element[1]->len;
    }

    switch (reply->element[0]->integer) {

    case -2:
        ngx_http_sandbox_bridge_fail(op, NGX_HTTP_SANDBOX_BRIDGE_ERR_NO_ROOM);
        break;

    case -3:
        ngx_http_sandbox_bridge_fail(op, NGX_HTTP_SANDBOX_BRIDGE_ERR_NO_HOST);
        break;

    case -4:
        ngx_http_sandbox_bridge_failf(op, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "driver_unavailable",
                                      "Lease %V is placed on Docker host "
                                      "\"%V\", which this bridge does not "
                                      "know.", id, &host);
        break;

    default:
        ngx_http_sandbox_bridge_failf(op, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "driver_unavailable",
                                      "Docker host \"%V\" of lease %V is "
                                      "unreachable; the lease is kept.",
                                      &host, id);
    }

    return NGX_DECLINED;
}


/* the host a script named, {code or state, host} */

ngx_http_sandbox_bridge_host_t *
ngx_http_sandbox_bridge_hosts_named(ngx_http_sandbox_bridge_loc_conf_t *lcf,
    redisReply *reply)
{
    ngx_str_t  name;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 2
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        return NULL;
    }

    name.data = (u_char *) reply->element[1]->str;
    name.len = reply->element[1]->len;

    return name.len ? ngx_http_sandbox_bridge_host_find(lcf, &name) : NULL;
}
