
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_SPEC_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_SPEC_H_INCLUDED_


#include "ngx_http_sandbox_bridge_request.h"


/* anonymous volumes: both under a read-only root, /tmp with a runtime */
#define NGX_HTTP_SANDBOX_BRIDGE_VOLUME_WORKSPACE  "/workspace"
#define NGX_HTTP_SANDBOX_BRIDGE_VOLUME_TMP        "/tmp"


typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_PROBE = 0,
    NGX_HTTP_SANDBOX_BRIDGE_ACQUIRE,
    NGX_HTTP_SANDBOX_BRIDGE_RESUME
} ngx_http_sandbox_bridge_lease_kind_e;


/* a lease's sandbox as a probe, acquire or resume asks for it */
typedef struct {
    ngx_http_sandbox_bridge_lease_kind_e  kind;
    ngx_str_t                        id;
    ngx_str_t                        key;
    ngx_str_t                        container;
    ngx_str_t                        cwd;
    ngx_str_t                        sentinel;
    ngx_str_t                        strategy;
    ngx_str_t                        session;
    ngx_str_t                        sleep_after;
    ngx_msec_int_t                   sleep_ms;
    ngx_msec_t                       timeout;
    ngx_uint_t                       keepalive;
    ngx_uint_t                       normalize;
    ngx_uint_t                       reuse;
    ngx_str_t                        env_id;
    ngx_str_t                        run_id;
    ngx_str_t                        issue_id;

    /* an acquire's warm pool configuration (README "Warm pool"), or "" */
    ngx_str_t                        pool;

    /* the lease utilities' command lines */
    ngx_str_t                        mkdir_script;
    ngx_str_t                        check_script;
    ngx_str_t                        pwd_script;
    ngx_str_t                        sentinel_script;
} ngx_http_sandbox_bridge_spec_t;


/* why a request was refused: a fixed error, or ERR_LAST and a text */
typedef struct {
    ngx_http_sandbox_bridge_err_e    err;
    const char                      *text;
} ngx_http_sandbox_bridge_refusal_t;


ngx_int_t ngx_http_sandbox_bridge_spec_parse(ngx_http_request_t *r,
    json_t *body, ngx_http_sandbox_bridge_spec_t *s,
    ngx_http_sandbox_bridge_refusal_t *no);
ngx_int_t ngx_http_sandbox_bridge_spec_sentinel_text(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_spec_t *s, ngx_uint_t resumed, ngx_str_t *out);
ngx_int_t ngx_http_sandbox_bridge_spec_sentinel(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_spec_t *s, ngx_uint_t resumed);
json_t *ngx_http_sandbox_bridge_spec_container(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_spec_t *s);
json_t *ngx_http_sandbox_bridge_spec_metadata(
    ngx_http_sandbox_bridge_spec_t *s, ngx_uint_t resumed);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_SPEC_H_INCLUDED_ */
