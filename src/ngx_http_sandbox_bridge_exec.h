
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_EXEC_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_EXEC_H_INCLUDED_


#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_sse.h"


#define NGX_HTTP_SANDBOX_BRIDGE_EXIT_NULL  -1


typedef struct ngx_http_sandbox_bridge_exec_s  ngx_http_sandbox_bridge_exec_t;

typedef void (*ngx_http_sandbox_bridge_exec_done_pt)(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_exec_t *ex);


typedef struct {
    u_char                           *data;
    size_t                            len;
    size_t                            cap;
} ngx_http_sandbox_bridge_acc_t;


struct ngx_http_sandbox_bridge_exec_s {
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    ngx_str_t                             container;
    ngx_str_t                             script;
    ngx_str_t                             session;
    ngx_str_t                             stdin_data;
    ngx_msec_t                            timeout;
    size_t                                limit;
    unsigned                              stream:1;

    /* result */
    ngx_int_t                             exit_code;
    ngx_str_t                             error;
    ngx_http_sandbox_bridge_acc_t         out;
    ngx_http_sandbox_bridge_acc_t         err;
    unsigned                              timed_out:1;
    unsigned                              truncated:1;
    unsigned                              failed:1;
    unsigned                              lost:1;

    /* internal */
    unsigned                              running:1;
    unsigned                              finished:1;
    unsigned                              sse_started:1;
    ngx_http_request_t                   *request;
    ngx_str_t                             exec_id;
    ngx_str_t                             stdin_path;
    u_char                                marker[32];
    ngx_http_sandbox_bridge_call_t        call;
    ngx_http_sandbox_bridge_call_t        stream_call;
    ngx_http_sandbox_bridge_demux_t       demux;
    ngx_http_sandbox_bridge_utf8_t        utf8[2];
    ngx_event_t                           timer;
    ngx_event_t                           heartbeat;
    ngx_buf_t                            *hb;
    ngx_chain_t                          *free;
    ngx_chain_t                          *busy;
    ngx_chain_t                          *held;
    ngx_chain_t                          *held_free;
    ngx_chain_t                          *sse_out;
    ngx_chain_t                         **sse_last;
    ngx_http_sandbox_bridge_exec_done_pt  done;
};


ngx_int_t ngx_http_sandbox_bridge_exec_run(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_exec_t *ex);
ngx_int_t ngx_http_sandbox_bridge_exec_script(ngx_pool_t *pool,
    ngx_str_t *command, json_t *args, ngx_str_t *cwd, json_t *env,
    ngx_str_t *stdin_path, ngx_str_t *script, const char **bad_key);
json_t *ngx_http_sandbox_bridge_exec_result(ngx_http_sandbox_bridge_exec_t *ex);
ngx_int_t ngx_http_sandbox_bridge_exec_kill(
    ngx_http_sandbox_bridge_loc_conf_t *lcf, ngx_str_t *container,
    u_char *marker, ngx_str_t *stdin_path);
ngx_int_t ngx_http_sandbox_bridge_sse_send(ngx_http_request_t *r,
    ngx_str_t *text, ngx_uint_t last);

ngx_int_t ngx_http_sandbox_bridge_exec_route(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_EXEC_H_INCLUDED_ */
