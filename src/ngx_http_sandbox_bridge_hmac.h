
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_HMAC_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_HMAC_H_INCLUDED_


#include <openssl/evp.h>
#include "ngx_http_sandbox_bridge_request.h"


#define NGX_HTTP_SANDBOX_BRIDGE_HMAC_SCHEME  "PSB-HMAC-SHA256"


/* SHA-256 for EVP calls, looked up once per process */
const EVP_MD *ngx_http_sandbox_bridge_sha256_md(void);

ngx_int_t ngx_http_sandbox_bridge_parse_hmac(ngx_str_t *header,
    ngx_http_sandbox_bridge_hmac_auth_t *a);
ngx_int_t ngx_http_sandbox_bridge_hmac_canonical(ngx_pool_t *pool,
    ngx_str_t *method, ngx_str_t *path, ngx_str_t *query, ngx_str_t *host,
    ngx_http_sandbox_bridge_hmac_auth_t *a, u_char *body_hex,
    ngx_str_t *out);
ngx_int_t ngx_http_sandbox_bridge_hmac_check(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx);

char *ngx_http_sandbox_bridge_hmac_key_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_sandbox_bridge_hmac_hosts(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_HMAC_H_INCLUDED_ */
