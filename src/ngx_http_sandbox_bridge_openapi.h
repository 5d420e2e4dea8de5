
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_OPENAPI_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_OPENAPI_H_INCLUDED_


#include "ngx_http_sandbox_bridge_request.h"


extern size_t  ngx_http_sandbox_bridge_openapi_size;

ngx_uint_t ngx_http_sandbox_bridge_openapi_public(ngx_http_request_t *r);
void ngx_http_sandbox_bridge_openapi(ngx_http_sandbox_bridge_op_t *op);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_OPENAPI_H_INCLUDED_ */
