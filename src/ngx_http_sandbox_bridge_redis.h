
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_REDIS_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_REDIS_H_INCLUDED_


#include "ngx_http_sandbox_bridge_redis_conn.h"


#define NGX_HTTP_SANDBOX_BRIDGE_REDIS_MAX_ARGS  64

/* "script" of the link's keepalive PING: sent, not counted in metrics */
#define NGX_HTTP_SANDBOX_BRIDGE_REDIS_OWN       -2


/* reply is NULL when Redis failed, timed out or went away */
typedef void (*ngx_http_sandbox_bridge_redis_pt)(ngx_http_request_t *r,
    void *data, redisReply *reply);


/* a command line built with a bound: "overflow" fails the command */
typedef struct {
    int          argc;
    const char  *argv[NGX_HTTP_SANDBOX_BRIDGE_REDIS_MAX_ARGS];
    size_t       argvlen[NGX_HTTP_SANDBOX_BRIDGE_REDIS_MAX_ARGS];
    unsigned     overflow:1;
} ngx_http_sandbox_bridge_args_t;


#define ngx_http_sandbox_bridge_arg_str(a, s)                                 \
    ngx_http_sandbox_bridge_arg(a, (s)->data, (s)->len)

#define ngx_http_sandbox_bridge_arg_lit(a, lit)                               \
    ngx_http_sandbox_bridge_arg(a, lit, sizeof(lit) - 1)


ngx_int_t ngx_http_sandbox_bridge_redis_command(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_http_request_t *r,
    ngx_http_sandbox_bridge_redis_pt handler, void *data,
    int argc, const char **argv, const size_t *argvlen);
ngx_int_t ngx_http_sandbox_bridge_redis_script(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_http_request_t *r,
    ngx_uint_t script, ngx_http_sandbox_bridge_redis_pt handler, void *data,
    int nkeys, int argc, const char **argv, const size_t *argvlen);

/* the link's own commands (handshake), and those that waited for it */
ngx_int_t ngx_http_sandbox_bridge_redis_send(
    ngx_http_sandbox_bridge_redis_t *redis, ngx_http_request_t *r,
    ngx_int_t script, ngx_http_sandbox_bridge_redis_pt handler, void *data,
    int argc, const char **argv, const size_t *argvlen);
void ngx_http_sandbox_bridge_redis_flush(
    ngx_http_sandbox_bridge_redis_t *redis);

void ngx_http_sandbox_bridge_arg(ngx_http_sandbox_bridge_args_t *a,
    const void *data, size_t len);



#endif /* _NGX_HTTP_SANDBOX_BRIDGE_REDIS_H_INCLUDED_ */
