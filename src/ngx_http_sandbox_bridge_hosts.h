
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_HOSTS_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_HOSTS_H_INCLUDED_


#include "ngx_http_sandbox_bridge_docker.h"


/* a /_ping of one host within a flow */
typedef struct {
    ngx_http_sandbox_bridge_host_t   *host;
    ngx_http_sandbox_bridge_call_t    call;
} ngx_http_sandbox_bridge_ping_t;


char *ngx_http_sandbox_bridge_hosts_add(ngx_conf_t *cf,
    ngx_http_sandbox_bridge_loc_conf_t *lcf);

ngx_http_sandbox_bridge_host_t *ngx_http_sandbox_bridge_host_find(
    ngx_http_sandbox_bridge_loc_conf_t *lcf, ngx_str_t *name);
ngx_int_t ngx_http_sandbox_bridge_hosts_arg(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_loc_conf_t *lcf,
    ngx_http_sandbox_bridge_args_t *args);

ngx_int_t ngx_http_sandbox_bridge_hosts_ping(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_ping_t **pings, ngx_uint_t fresh_down,
    ngx_uint_t next);
void ngx_http_sandbox_bridge_hosts_pinged(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_ping_t *pings);

ngx_int_t ngx_http_sandbox_bridge_hosts_refused(
    ngx_http_sandbox_bridge_op_t *op, redisReply *reply, ngx_str_t *id);
ngx_http_sandbox_bridge_host_t *ngx_http_sandbox_bridge_hosts_named(
    ngx_http_sandbox_bridge_loc_conf_t *lcf, redisReply *reply);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_HOSTS_H_INCLUDED_ */
