
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_AUTH_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_AUTH_H_INCLUDED_


#include "ngx_http_sandbox_bridge_module.h"


#define NGX_HTTP_SANDBOX_BRIDGE_UNAUTHORIZED                                  \
    "Missing or invalid bridge bearer token."


ngx_int_t ngx_http_sandbox_bridge_auth_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_sandbox_bridge_parse_bearer(ngx_str_t *header,
    ngx_str_t *token);
ngx_int_t ngx_http_sandbox_bridge_parse_tokens(ngx_pool_t *pool,
    ngx_str_t *text, ngx_array_t *creds, ngx_uint_t admin);
char *ngx_http_sandbox_bridge_token_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_AUTH_H_INCLUDED_ */
