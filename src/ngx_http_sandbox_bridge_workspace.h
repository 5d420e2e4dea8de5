
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_WORKSPACE_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_WORKSPACE_H_INCLUDED_


#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_spec.h"


/*
 * NGX_OK: the upload of a created container's workspace is on its way
 * to state next; NGX_DONE: nothing to upload; NGX_DECLINED: not by
 * archive, the caller makes it after the start; NGX_ERROR.
 */
ngx_int_t ngx_http_sandbox_bridge_workspace_upload(
    ngx_http_sandbox_bridge_op_t *op, ngx_http_sandbox_bridge_call_t *call,
    ngx_str_t *location, ngx_http_sandbox_bridge_spec_t *s,
    ngx_str_t *container, ngx_uint_t next);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_WORKSPACE_H_INCLUDED_ */
