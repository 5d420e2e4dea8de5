
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_UTIL_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_UTIL_H_INCLUDED_


#include "ngx_http_sandbox_bridge_module.h"


#define NGX_HTTP_SANDBOX_BRIDGE_ID_MAX  63


ngx_int_t ngx_http_sandbox_bridge_send_json(ngx_http_request_t *r,
    ngx_uint_t status, json_t *body);
ngx_int_t ngx_http_sandbox_bridge_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *fmt, ...);
ngx_int_t ngx_http_sandbox_bridge_send_error_v(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *fmt, va_list args);
u_char *ngx_http_sandbox_bridge_json_dump(ngx_pool_t *pool, json_t *j,
    size_t *len);
void ngx_http_sandbox_bridge_json_cleanup(void *data);
json_t *ngx_http_sandbox_bridge_json_strn(ngx_str_t *s);

ngx_int_t ngx_http_sandbox_bridge_read_bool(json_t *obj, const char *key,
    ngx_int_t fallback);
ngx_int_t ngx_http_sandbox_bridge_read_string(json_t *obj, const char *key,
    ngx_str_t *out);
ngx_int_t ngx_http_sandbox_bridge_read_raw_string(json_t *obj,
    const char *key, ngx_str_t *out);
ngx_int_t ngx_http_sandbox_bridge_read_integer(json_t *obj, const char *key,
    int64_t fallback, int64_t *out);

ngx_msec_int_t ngx_http_sandbox_bridge_parse_duration(u_char *p, size_t len);
ngx_int_t ngx_http_sandbox_bridge_normalize_id(ngx_pool_t *pool,
    ngx_str_t *in, ngx_str_t *out);
const char *ngx_http_sandbox_bridge_check_id(ngx_str_t *id);

u_char *ngx_http_sandbox_bridge_shell_quote(u_char *dst, ngx_str_t *src);
size_t ngx_http_sandbox_bridge_shell_quote_len(ngx_str_t *src);

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
