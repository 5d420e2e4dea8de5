
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_SWEEP_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_SWEEP_H_INCLUDED_


#include "ngx_http_sandbox_bridge_reap.h"


/* a pass's second half: records without containers, exec records */
ngx_int_t ngx_http_sandbox_bridge_sweep_scan(
    ngx_http_sandbox_bridge_reap_t *rp);
ngx_int_t ngx_http_sandbox_bridge_sweep_scanned(
    ngx_http_sandbox_bridge_reap_t *rp);
ngx_int_t ngx_http_sandbox_bridge_sweep_forgot(
    ngx_http_sandbox_bridge_reap_t *rp);
ngx_int_t ngx_http_sandbox_bridge_sweep_execs(
    ngx_http_sandbox_bridge_reap_t *rp);
ngx_int_t ngx_http_sandbox_bridge_sweep_execs_listed(
    ngx_http_sandbox_bridge_reap_t *rp);
ngx_int_t ngx_http_sandbox_bridge_sweep_node_checked(
    ngx_http_sandbox_bridge_reap_t *rp);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_SWEEP_H_INCLUDED_ */
