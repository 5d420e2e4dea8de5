
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_ORPHAN_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_ORPHAN_H_INCLUDED_


#include "ngx_http_sandbox_bridge_redis.h"


/* an exec record's marker: 32 hex digits */
#define NGX_HTTP_SANDBOX_BRIDGE_MARKER_LEN  32


void ngx_http_sandbox_bridge_orphan_add(ngx_http_request_t *r,
    ngx_str_t *container, u_char *marker, ngx_msec_t timeout);
void ngx_http_sandbox_bridge_orphan_del(ngx_http_request_t *r,
    ngx_str_t *container, u_char *marker);
void ngx_http_sandbox_bridge_orphan_heartbeat(
    ngx_http_sandbox_bridge_main_conf_t *mcf);
ngx_int_t ngx_http_sandbox_bridge_orphan_key(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_main_conf_t *mcf, const char *kind,
    ngx_str_t *name, ngx_str_t *key);
ngx_int_t ngx_http_sandbox_bridge_orphan_owner(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_str_t *value,
    ngx_str_t *node);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_ORPHAN_H_INCLUDED_ */
