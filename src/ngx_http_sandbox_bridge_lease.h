
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_LEASE_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_LEASE_H_INCLUDED_


#include "ngx_http_sandbox_bridge_handler.h"
#include "ngx_http_sandbox_bridge_redis.h"


#define NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_BEGIN   0
#define NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_TOUCH   1
#define NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_COMMIT   2
#define NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_DESTROY  3
#define NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_FORGET   4
#define NGX_HTTP_SANDBOX_BRIDGE_NSCRIPTS        5

#define NGX_HTTP_SANDBOX_BRIDGE_STATE_LOST                                    \
    "Cloudflare sandbox state is no longer available."


/* what a lease record in Redis says */
typedef struct {
    ngx_str_t                        id;
    ngx_str_t                        container;
    ngx_str_t                        cred;
    ngx_str_t                        cwd;
    ngx_str_t                        state;
} ngx_http_sandbox_bridge_lease_t;


/*
 * rc: NGX_OK found, NGX_DECLINED missing, NGX_BUSY another credential's,
 * NGX_ERROR store failure
 */
typedef void (*ngx_http_sandbox_bridge_lease_pt)(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_lease_t *lease, ngx_int_t rc);


extern ngx_http_sandbox_bridge_script_t  ngx_http_sandbox_bridge_scripts[];


ngx_int_t ngx_http_sandbox_bridge_lease_touch(ngx_http_request_t *r,
    ngx_str_t *id, ngx_http_sandbox_bridge_lease_pt handler);
ngx_int_t ngx_http_sandbox_bridge_lease_fields(ngx_pool_t *pool,
    redisReply *reply, ngx_http_sandbox_bridge_lease_t *lease);
ngx_int_t ngx_http_sandbox_bridge_lease_key(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_str_t *id, ngx_str_t *key);
ngx_int_t ngx_http_sandbox_bridge_container_name(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_str_t *id,
    ngx_str_t *name);
ngx_int_t ngx_http_sandbox_bridge_store_unavailable(ngx_http_request_t *r);
ngx_int_t ngx_http_sandbox_bridge_not_owned(ngx_http_request_t *r,
    ngx_str_t *id);

ngx_int_t ngx_http_sandbox_bridge_probe(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx);
ngx_int_t ngx_http_sandbox_bridge_acquire(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx);
ngx_int_t ngx_http_sandbox_bridge_resume(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx);
ngx_int_t ngx_http_sandbox_bridge_release(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx);
ngx_int_t ngx_http_sandbox_bridge_delete(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_LEASE_H_INCLUDED_ */
