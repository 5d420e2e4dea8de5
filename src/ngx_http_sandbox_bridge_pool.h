
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_POOL_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_POOL_H_INCLUDED_


#include "ngx_http_sandbox_bridge_request.h"


ngx_int_t ngx_http_sandbox_bridge_pool_init(ngx_cycle_t *cycle,
    ngx_http_sandbox_bridge_main_conf_t *mcf);
void ngx_http_sandbox_bridge_pool_exit(void);

ngx_int_t ngx_http_sandbox_bridge_pool_claim(
    ngx_http_sandbox_bridge_op_t *parent, redisReply *begun,
    ngx_str_t *location, ngx_str_t *container, ngx_uint_t *claimed,
    ngx_uint_t next);
json_t *ngx_http_sandbox_bridge_pool_health(ngx_http_request_t *r,
    json_t *body);
u_char *ngx_http_sandbox_bridge_pool_health_key(ngx_http_request_t *r,
    u_char *key, size_t *len);
ngx_int_t ngx_http_sandbox_bridge_pool_gauge(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_uint_t n, ngx_str_t *name,
    ngx_uint_t *size);
ngx_int_t ngx_http_sandbox_bridge_pool_lease(
    ngx_http_sandbox_bridge_main_conf_t *mcf, json_t *labels,
    ngx_str_t *name, ngx_str_t *id);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_POOL_H_INCLUDED_ */
