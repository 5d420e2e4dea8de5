
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_METRICS_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_METRICS_H_INCLUDED_


#include "ngx_http_sandbox_bridge_module.h"


/* outcomes of sandbox_bridge_redis_commands_total */
#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_REDIS_OK      0
#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_REDIS_ERROR   1
#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_REDIS_FAILED  2


/* the states of sandbox_bridge_leases{state} */
typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_LEASES_CREATING = 0,
    NGX_HTTP_SANDBOX_BRIDGE_LEASES_READY,
    NGX_HTTP_SANDBOX_BRIDGE_LEASES_OTHER,
    NGX_HTTP_SANDBOX_BRIDGE_LEASES_NSTATES
} ngx_http_sandbox_bridge_leases_state_e;


/* directives (README "Metrics") */
char *ngx_http_sandbox_bridge_metrics_zone(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_sandbox_bridge_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_sandbox_bridge_metrics_check(ngx_conf_t *cf,
    ngx_http_sandbox_bridge_main_conf_t *mcf);
ngx_int_t ngx_http_sandbox_bridge_metrics_init(ngx_conf_t *cf);
ngx_uint_t ngx_http_sandbox_bridge_metrics_location(
    ngx_http_core_loc_conf_t *clcf);

/* the hooks; each is a no-op without sandbox_metrics_zone */
void ngx_http_sandbox_bridge_metrics_docker(ngx_http_request_t *sr,
    ngx_str_t *location, ngx_uint_t status);
void ngx_http_sandbox_bridge_metrics_redis(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_int_t outcome);
void ngx_http_sandbox_bridge_metrics_redis_reconnect(
    ngx_http_sandbox_bridge_main_conf_t *mcf);
void ngx_http_sandbox_bridge_metrics_auth_failure(ngx_http_request_t *r,
    const char *msg);
void ngx_http_sandbox_bridge_metrics_lease(ngx_http_request_t *r,
    const char *event);
void ngx_http_sandbox_bridge_metrics_exec(ngx_http_request_t *r,
    ngx_uint_t sse, const char *end, ngx_msec_int_t ms);
void ngx_http_sandbox_bridge_metrics_stream(ngx_http_request_t *r,
    ngx_int_t delta);

/* the lease gauge: one refresh per interval among this node's workers */
ngx_msec_t ngx_http_sandbox_bridge_metrics_refresh_interval(
    ngx_http_sandbox_bridge_main_conf_t *mcf);
ngx_int_t ngx_http_sandbox_bridge_metrics_refresh_due(
    ngx_http_sandbox_bridge_main_conf_t *mcf);
void ngx_http_sandbox_bridge_metrics_set_leases(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_atomic_uint_t *counts);

/* the Docker host label of a Docker location */


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_METRICS_H_INCLUDED_ */
