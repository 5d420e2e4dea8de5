
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_DEXEC_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_DEXEC_H_INCLUDED_


#include "ngx_http_sandbox_bridge_stream.h"


#define NGX_HTTP_SANDBOX_BRIDGE_EXIT_NULL  -1


typedef struct ngx_http_sandbox_bridge_dexec_s  ngx_http_sandbox_bridge_dexec_t;

/* called once the Docker exec exists, just before it starts */
typedef ngx_int_t (*ngx_http_sandbox_bridge_dexec_pt)(
    ngx_http_sandbox_bridge_dexec_t *ex);


/*
 * A command in a container through Docker's exec API: stdin staged as a
 * file, exec create, start (the output stream), inspect. It runs as a
 * flow nested in the caller's and returns to the caller's next state.
 */

struct ngx_http_sandbox_bridge_dexec_s {
    ngx_http_sandbox_bridge_op_t          op;

    /* in */
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    ngx_str_t                             location;
    ngx_str_t                             container;
    ngx_str_t                             script;
    ngx_str_t                             session;
    ngx_str_t                             stdin_data;
    ngx_str_t                             stdin_path;
    ngx_msec_t                            timeout;
    ngx_http_sandbox_bridge_dexec_pt      started;

    /* result: output in output.out, output.err */
    ngx_int_t                             exit_code;
    ngx_msec_t                            start;    /* 0: never started */
    ngx_str_t                             error;
    ngx_http_sandbox_bridge_stream_t      output;
    unsigned                              timed_out:1;
    unsigned                              failed:1;
    unsigned                              lost:1;
    unsigned                              unreachable:1;

    /* internal */
    unsigned                              finished:1;
    ngx_uint_t                            kills;
    ngx_str_t                             exec_id;
    u_char                                marker[32];
    ngx_http_sandbox_bridge_call_t        call;
    ngx_http_sandbox_bridge_call_t        stream_call;
    ngx_event_t                           timer;
};


ngx_http_sandbox_bridge_dexec_t *ngx_http_sandbox_bridge_dexec_create(
    ngx_http_request_t *r, ngx_http_sandbox_bridge_loc_conf_t *lcf);
void ngx_http_sandbox_bridge_dexec(ngx_http_sandbox_bridge_op_t *parent,
    ngx_http_sandbox_bridge_dexec_t *ex, ngx_uint_t next);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_DEXEC_H_INCLUDED_ */
