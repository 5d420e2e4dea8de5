
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_HEALTH_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_HEALTH_H_INCLUDED_


#include "ngx_http_sandbox_bridge_request.h"


extern size_t  ngx_http_sandbox_bridge_health_size;

void ngx_http_sandbox_bridge_health(ngx_http_sandbox_bridge_op_t *op);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_HEALTH_H_INCLUDED_ */
