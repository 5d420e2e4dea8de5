
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_POOL_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_POOL_H_INCLUDED_


#include "ngx_http_sandbox_bridge_request.h"


#define NGX_HTTP_SANDBOX_BRIDGE_POOL_HASH_LEN  16


json_t *ngx_http_sandbox_bridge_pool_spec(ngx_http_request_t *r,
    u_char *hash);
ngx_int_t ngx_http_sandbox_bridge_pool_key(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_main_conf_t *mcf, const char *kind,
    ngx_str_t *host, u_char *hash, ngx_str_t *key);
ngx_uint_t ngx_http_sandbox_bridge_pool_unclaimed(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_str_t *name);
ngx_int_t ngx_http_sandbox_bridge_pool_lease(
    ngx_http_sandbox_bridge_main_conf_t *mcf, json_t *labels,
    ngx_str_t *name, ngx_str_t *id);

json_t *ngx_http_sandbox_bridge_pool_health(ngx_http_request_t *r,
    json_t *body);
u_char *ngx_http_sandbox_bridge_pool_health_key(ngx_http_request_t *r,
    u_char *key, size_t *len);
ngx_int_t ngx_http_sandbox_bridge_pool_gauge(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_uint_t n, ngx_str_t *name,
    ngx_uint_t *size);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_POOL_H_INCLUDED_ */
