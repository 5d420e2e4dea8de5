
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_INPUT_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_INPUT_H_INCLUDED_


#include "ngx_http_sandbox_bridge_module.h"


#define NGX_HTTP_SANDBOX_BRIDGE_ID_MAX           63
#define NGX_HTTP_SANDBOX_BRIDGE_SESSION_MAX      256
#define NGX_HTTP_SANDBOX_BRIDGE_DEFAULT_TIMEOUT  300000
#define NGX_HTTP_SANDBOX_BRIDGE_DEFAULT_SESSION  "paperclip"


ngx_int_t ngx_http_sandbox_bridge_read_bool(json_t *obj, const char *key,
    ngx_int_t fallback);
ngx_int_t ngx_http_sandbox_bridge_read_string(json_t *obj, const char *key,
    ngx_str_t *out);
void ngx_http_sandbox_bridge_trim(ngx_str_t *s);
ngx_int_t ngx_http_sandbox_bridge_read_raw_string(json_t *obj,
    const char *key, ngx_str_t *out);
ngx_int_t ngx_http_sandbox_bridge_read_integer(json_t *obj, const char *key,
    int64_t fallback, int64_t *out);
ngx_int_t ngx_http_sandbox_bridge_read_session(json_t *obj,
    ngx_str_t *session);
ngx_msec_t ngx_http_sandbox_bridge_read_timeout(json_t *obj,
    ngx_http_sandbox_bridge_loc_conf_t *lcf);

ngx_msec_int_t ngx_http_sandbox_bridge_parse_duration(u_char *p, size_t len);
ngx_int_t ngx_http_sandbox_bridge_normalize_id(ngx_pool_t *pool,
    ngx_str_t *in, ngx_str_t *out);
const char *ngx_http_sandbox_bridge_check_id(ngx_str_t *id);
ngx_uint_t ngx_http_sandbox_bridge_json_depth(u_char *p, size_t len);

u_char *ngx_http_sandbox_bridge_shell_quote(u_char *dst, ngx_str_t *src);
size_t ngx_http_sandbox_bridge_shell_quote_len(ngx_str_t *src);
ngx_int_t ngx_http_sandbox_bridge_exec_script(ngx_pool_t *pool,
    ngx_str_t *command, json_t *args, ngx_str_t *cwd, json_t *env,
    ngx_str_t *stdin_path, ngx_str_t *script, const char **bad_key);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_INPUT_H_INCLUDED_ */
