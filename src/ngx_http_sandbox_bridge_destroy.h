
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_DESTROY_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_DESTROY_H_INCLUDED_


#include "ngx_http_sandbox_bridge_request.h"


extern size_t  ngx_http_sandbox_bridge_destroy_size;

void ngx_http_sandbox_bridge_release(ngx_http_sandbox_bridge_op_t *op);
void ngx_http_sandbox_bridge_delete(ngx_http_sandbox_bridge_op_t *op);
ngx_int_t ngx_http_sandbox_bridge_path_id(ngx_http_sandbox_bridge_op_t *op,
    ngx_str_t *id);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_DESTROY_H_INCLUDED_ */
