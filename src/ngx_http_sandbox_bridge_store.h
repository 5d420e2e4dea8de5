
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_STORE_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_STORE_H_INCLUDED_


#include "ngx_http_sandbox_bridge_spec.h"


/* the Redis scripts, in src/lua/ (README "Lease records") */
#define NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_BEGIN    0
#define NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_TOUCH    1
#define NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_COMMIT   2
#define NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_DESTROY  3
#define NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_FORGET   4
#define NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_COUNT    5
#define NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_HOSTS    6
#define NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_ADOPT    7
#define NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_ORPHAN   8
#define NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_LEASES   9
#define NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_UNLOCK   10
#define NGX_HTTP_SANDBOX_BRIDGE_NSCRIPTS        11


/* a "creating" record's TTL (ms): the acquire's own deadline */
#define NGX_HTTP_SANDBOX_BRIDGE_CREATING_TTL(s)  (3 * (s)->timeout + 10000)


/* what a lease record in Redis says */
typedef struct {
    ngx_str_t                        id;
    ngx_str_t                        container;
    ngx_str_t                        docker;
    ngx_str_t                        cred;
    ngx_str_t                        cwd;
    ngx_str_t                        state;
} ngx_http_sandbox_bridge_lease_t;


extern ngx_http_sandbox_bridge_script_t  ngx_http_sandbox_bridge_scripts[];


ngx_int_t ngx_http_sandbox_bridge_lease_key(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_str_t *id, ngx_str_t *key);
ngx_int_t ngx_http_sandbox_bridge_container_name(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_str_t *id,
    ngx_str_t *name);
ngx_int_t ngx_http_sandbox_bridge_lease_fields(ngx_pool_t *pool,
    redisReply *reply, ngx_http_sandbox_bridge_lease_t *lease);
u_char *ngx_http_sandbox_bridge_scan_pattern(u_char *dst, u_char *last,
    ngx_str_t *prefix);

ngx_int_t ngx_http_sandbox_bridge_store_hosts(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_args_t *args);
ngx_int_t ngx_http_sandbox_bridge_store_begin(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_spec_t *s, ngx_uint_t next);
ngx_int_t ngx_http_sandbox_bridge_store_touch(ngx_http_sandbox_bridge_op_t *op,
    ngx_str_t *key, ngx_http_sandbox_bridge_spec_t *s, ngx_uint_t next);
ngx_int_t ngx_http_sandbox_bridge_store_commit(
    ngx_http_sandbox_bridge_op_t *op, ngx_http_sandbox_bridge_spec_t *s,
    ngx_uint_t next);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_STORE_H_INCLUDED_ */
