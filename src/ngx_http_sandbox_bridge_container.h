
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_CONTAINER_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_CONTAINER_H_INCLUDED_


#include "ngx_http_sandbox_bridge_request.h"


/* a lease's sandbox as the request asks for it */
typedef struct {
    ngx_str_t                        id;
    ngx_str_t                        container;
    ngx_str_t                        cwd;
    ngx_str_t                        sentinel;
    ngx_str_t                        strategy;
    ngx_str_t                        session;
    ngx_str_t                        sleep_after;
    ngx_msec_int_t                   sleep_ms;
    ngx_uint_t                       keepalive;
    ngx_uint_t                       normalize;

    /* the lease utilities' command lines */
    ngx_str_t                        mkdir_script;
    ngx_str_t                        check_script;
    ngx_str_t                        pwd_script;
    ngx_str_t                        sentinel_script;
} ngx_http_sandbox_bridge_spec_t;


ngx_int_t ngx_http_sandbox_bridge_spec_parse(ngx_pool_t *pool, json_t *body,
    ngx_http_sandbox_bridge_spec_t *s, ngx_http_sandbox_bridge_err_e *err);
ngx_int_t ngx_http_sandbox_bridge_spec_scripts(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_spec_t *s);
ngx_int_t ngx_http_sandbox_bridge_spec_sentinel(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_spec_t *s, ngx_uint_t resumed);
json_t *ngx_http_sandbox_bridge_spec_container(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_spec_t *s);
json_t *ngx_http_sandbox_bridge_spec_metadata(
    ngx_http_sandbox_bridge_spec_t *s, ngx_uint_t resumed);
ngx_int_t ngx_http_sandbox_bridge_truthy_text(json_t *v, ngx_pool_t *pool,
    ngx_str_t *out);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_CONTAINER_H_INCLUDED_ */
