
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_BODY_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_BODY_H_INCLUDED_


#include "ngx_http_sandbox_bridge_module.h"


json_t *ngx_http_sandbox_bridge_body_load(u_char *data, size_t len,
    ngx_str_t *in, json_error_t *err);
ngx_int_t ngx_http_sandbox_bridge_body_stdin(ngx_http_request_t *r,
    ngx_str_t *in);
void ngx_http_sandbox_bridge_body_release(ngx_http_request_t *r);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_BODY_H_INCLUDED_ */
