
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_REDIS_CONN_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_REDIS_CONN_H_INCLUDED_


#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_sandbox_bridge_module.h"
#include "ngx_http_sandbox_bridge_sentinel.h"


#define NGX_HTTP_SANDBOX_BRIDGE_REDIS_DOWN        0
#define NGX_HTTP_SANDBOX_BRIDGE_REDIS_CONNECTING  1
#define NGX_HTTP_SANDBOX_BRIDGE_REDIS_READY       2


typedef struct {
    ngx_str_t                        name;
    ngx_str_t                        source;
    /* creates or deletes a lease: followed by WAIT with wait= */
    ngx_uint_t                       wait;
} ngx_http_sandbox_bridge_script_t;


/* this worker's link: made in init_process, kept in the main conf */
struct ngx_http_sandbox_bridge_redis_s {
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    redisAsyncContext                    *ac;
    ngx_uint_t                            state;
    ngx_event_t                           reconnect;
    ngx_event_t                           connect_timer;
    /* an idle ready link is PINGed (health reads the link's state) */
    ngx_event_t                           keepalive;
    ngx_msec_t                            last_reply;
    ngx_msec_t                            backoff;
    ngx_http_sandbox_bridge_script_t     *scripts;
    u_char                              (*shas)[41];
    ngx_uint_t                            nscripts;
    ngx_uint_t                            handshake_failed;
    ngx_log_t                            *log;
    /* the primary: from sandbox_redis, or named by a sentinel */
    ngx_http_sandbox_bridge_sentinel_t   *sentinel;
    ngx_str_t                             name;
    u_char                                host[NGX_SOCKADDR_STRLEN + 1];
    ngx_int_t                             port;
    u_char                                name_buf[NGX_SOCKADDR_STRLEN
                                                   + sizeof(":65535") + 1];
    /* commands sent while the sentinels are asked wait here */
    ngx_queue_t                           pending;
    unsigned                              asking:1;
    unsigned                              exiting:1;
    unsigned                              pinging:1;
};


ngx_int_t ngx_http_sandbox_bridge_redis_init_worker(ngx_cycle_t *cycle,
    ngx_http_sandbox_bridge_main_conf_t *mcf,
    ngx_http_sandbox_bridge_script_t *scripts, ngx_uint_t nscripts);
void ngx_http_sandbox_bridge_redis_exit_worker(
    ngx_http_sandbox_bridge_main_conf_t *mcf);

ngx_uint_t ngx_http_sandbox_bridge_redis_ready(
    ngx_http_sandbox_bridge_main_conf_t *mcf);
ngx_uint_t ngx_http_sandbox_bridge_redis_alive(
    ngx_http_sandbox_bridge_main_conf_t *mcf);
void ngx_http_sandbox_bridge_redis_reset(
    ngx_http_sandbox_bridge_redis_t *redis, const char *why);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_REDIS_CONN_H_INCLUDED_ */
