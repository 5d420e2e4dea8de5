
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_APART_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_APART_H_INCLUDED_


#include "ngx_http_sandbox_bridge_docker.h"


ngx_int_t ngx_http_sandbox_bridge_docker_apart(
    ngx_http_sandbox_bridge_op_t *op, ngx_http_sandbox_bridge_call_t *call,
    ngx_http_sandbox_bridge_loc_conf_t *lcf, ngx_uint_t method,
    ngx_uint_t next, ngx_str_t *location, json_t *body, const char *fmt, ...);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_APART_H_INCLUDED_ */
