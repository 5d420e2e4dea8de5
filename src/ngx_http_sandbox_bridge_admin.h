
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_ADMIN_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_ADMIN_H_INCLUDED_


#include "ngx_http_sandbox_bridge_request.h"


/* an exec's id in the admin view's count of running execs */
#define NGX_HTTP_SANDBOX_BRIDGE_EXEC_MARKER_LEN  16


extern size_t  ngx_http_sandbox_bridge_admin_size;

void ngx_http_sandbox_bridge_admin_leases(ngx_http_sandbox_bridge_op_t *op);
void ngx_http_sandbox_bridge_admin_lease(ngx_http_sandbox_bridge_op_t *op);

void ngx_http_sandbox_bridge_admin_exec(ngx_http_request_t *r,
    ngx_str_t *id, u_char *marker, ngx_msec_t deadline);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_ADMIN_H_INCLUDED_ */
