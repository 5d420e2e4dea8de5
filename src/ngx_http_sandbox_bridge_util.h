
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_UTIL_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_UTIL_H_INCLUDED_


#include "ngx_http_sandbox_bridge_module.h"


u_char *ngx_http_sandbox_bridge_json_dump(ngx_pool_t *pool, json_t *j,
    size_t *len);
json_t *ngx_http_sandbox_bridge_json_strn(ngx_str_t *s);

ngx_int_t ngx_http_sandbox_bridge_random_hex(u_char *dst, size_t n);
u_char *ngx_http_sandbox_bridge_iso_time(u_char *dst);
u_char *ngx_http_sandbox_bridge_now_ms(u_char *dst);
ngx_int_t ngx_http_sandbox_bridge_unhex(u_char *src, size_t len, u_char *dst);
void ngx_http_sandbox_bridge_raw_path(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_sandbox_bridge_add_header(ngx_http_request_t *r,
    const char *key, const char *value);
ngx_int_t ngx_http_sandbox_bridge_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *out);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_UTIL_H_INCLUDED_ */
