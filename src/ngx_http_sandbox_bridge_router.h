
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_ROUTER_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_ROUTER_H_INCLUDED_


#include "ngx_http_sandbox_bridge_request.h"


ngx_int_t ngx_http_sandbox_bridge_content_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_ROUTER_H_INCLUDED_ */
