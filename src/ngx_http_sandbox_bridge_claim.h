
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_CLAIM_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_CLAIM_H_INCLUDED_


#include "ngx_http_sandbox_bridge_request.h"


ngx_int_t ngx_http_sandbox_bridge_claim(ngx_http_sandbox_bridge_op_t *parent,
    redisReply *begun, ngx_str_t *location, ngx_str_t *container,
    ngx_uint_t *claimed, ngx_uint_t next);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_CLAIM_H_INCLUDED_ */
