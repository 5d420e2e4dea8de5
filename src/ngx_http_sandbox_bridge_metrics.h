
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


/*
 * The zone's layout, shared by the counting hooks (metrics.c) and the
 * exposition (prom.c). The label tables are defined in metrics.c, which
 * does not compile when one's length is not the size given here.
 */

#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_HOSTS    32
#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_NAME     128
#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_NBUCKETS 14
#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_NROUTES  12
/* the statuses table and "other" */
#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_NSTATUS  20
#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_NREASONS 7
#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_NOUTCOMES 4
#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_NMODES   2
#define NGX_HTTP_SANDBOX_BRIDGE_METRICS_NREDIS   3


typedef struct {
    ngx_str_t                        message;
    ngx_str_t                        reason;
} ngx_http_sandbox_bridge_metrics_reason_t;


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

    ngx_atomic_t                     exec[
                                 NGX_HTTP_SANDBOX_BRIDGE_METRICS_NMODES]
                                 [NGX_HTTP_SANDBOX_BRIDGE_METRICS_NOUTCOMES];
    ngx_http_sandbox_bridge_metrics_hist_t   exec_duration;
    ngx_atomic_t                     streams_active;

    ngx_atomic_t                     redis[
                                 NGX_HTTP_SANDBOX_BRIDGE_METRICS_NREDIS];
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


extern ngx_str_t  ngx_http_sandbox_bridge_metrics_routes[];
extern ngx_uint_t  ngx_http_sandbox_bridge_metrics_statuses[];
extern ngx_http_sandbox_bridge_metrics_reason_t
    ngx_http_sandbox_bridge_metrics_reasons[];
extern ngx_str_t  ngx_http_sandbox_bridge_metrics_outcomes[];
extern ngx_str_t  ngx_http_sandbox_bridge_metrics_modes[];
extern ngx_str_t  ngx_http_sandbox_bridge_metrics_redis_outcomes[];
extern ngx_str_t  ngx_http_sandbox_bridge_metrics_states[];
extern char  *ngx_http_sandbox_bridge_metrics_le[];


/* directives (README "Metrics") */
char *ngx_http_sandbox_bridge_metrics_zone(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_sandbox_bridge_metrics_check(ngx_conf_t *cf,
    ngx_http_sandbox_bridge_main_conf_t *mcf);
ngx_int_t ngx_http_sandbox_bridge_metrics_init(ngx_conf_t *cf);
/* the http block's metrics, made at the first directive that needs them */
ngx_http_sandbox_bridge_metrics_t *ngx_http_sandbox_bridge_metrics_get(
    ngx_conf_t *cf, ngx_http_sandbox_bridge_main_conf_t *mcf);

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


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_METRICS_H_INCLUDED_ */
