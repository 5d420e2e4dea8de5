
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_HEALTH_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_HEALTH_H_INCLUDED_


#include "ngx_http_sandbox_bridge_handler.h"


ngx_int_t ngx_http_sandbox_bridge_health(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_HEALTH_H_INCLUDED_ */
