
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_ADMIN_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_ADMIN_H_INCLUDED_


#include "ngx_http_sandbox_bridge_request.h"


extern size_t  ngx_http_sandbox_bridge_admin_size;

void ngx_http_sandbox_bridge_admin_leases(ngx_http_sandbox_bridge_op_t *op);
void ngx_http_sandbox_bridge_admin_lease(ngx_http_sandbox_bridge_op_t *op);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_ADMIN_H_INCLUDED_ */
