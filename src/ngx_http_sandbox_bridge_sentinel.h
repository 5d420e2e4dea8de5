
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_SENTINEL_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_SENTINEL_H_INCLUDED_


#include "ngx_http_sandbox_bridge_module.h"


typedef struct ngx_http_sandbox_bridge_sentinel_s
    ngx_http_sandbox_bridge_sentinel_t;

/* host is NULL when no sentinel named a primary */
typedef void (*ngx_http_sandbox_bridge_sentinel_pt)(void *data,
    u_char *host, ngx_int_t port);


ngx_http_sandbox_bridge_sentinel_t *ngx_http_sandbox_bridge_sentinel_create(
    ngx_cycle_t *cycle, ngx_http_sandbox_bridge_main_conf_t *mcf);
void ngx_http_sandbox_bridge_sentinel_ask(ngx_http_sandbox_bridge_sentinel_t *s,
    ngx_http_sandbox_bridge_sentinel_pt handler, void *data);
void ngx_http_sandbox_bridge_sentinel_watch(
    ngx_http_sandbox_bridge_sentinel_t *s,
    ngx_http_sandbox_bridge_sentinel_pt handler, void *data);
void ngx_http_sandbox_bridge_sentinel_destroy(
    ngx_http_sandbox_bridge_sentinel_t *s);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_SENTINEL_H_INCLUDED_ */
