
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_STREAM_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_STREAM_H_INCLUDED_


#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_sse.h"


typedef struct {
    u_char                           *data;
    size_t                            len;
    size_t                            cap;
} ngx_http_sandbox_bridge_acc_t;


/* output kept JSON-escaped as it arrives, in blocks (README "Exec") */
typedef struct {
    ngx_chain_t                      *head;
    ngx_chain_t                     **tail;
    ngx_buf_t                        *block;
    size_t                            raw;
    size_t                            len;
    size_t                            next;
    ngx_http_sandbox_bridge_utf8_t    utf8;
} ngx_http_sandbox_bridge_text_t;


typedef struct {
    ngx_http_request_t               *request;
    ngx_http_request_t               *sr;
    size_t                            limit;
    ngx_msec_t                        heartbeat_ms;

    /* what the command wrote, up to limit each: raw or escaped */
    ngx_http_sandbox_bridge_acc_t     out;
    ngx_http_sandbox_bridge_acc_t     err;
    ngx_http_sandbox_bridge_text_t    text[2];

    ngx_http_sandbox_bridge_demux_t   demux;
    ngx_http_sandbox_bridge_utf8_t    utf8[2];
    ngx_event_t                       heartbeat;
    ngx_buf_t                        *hb;
    ngx_chain_t                      *free;
    ngx_chain_t                      *busy;
    ngx_chain_t                      *held;
    ngx_chain_t                      *held_free;
    ngx_chain_t                      *sse_out;
    ngx_chain_t                     **sse_last;

    /* the Docker call's read buffer while no output comes */
    u_char                           *idle_buf;

    unsigned                          sse:1;
    unsigned                          escaped:1;
    unsigned                          running:1;
    unsigned                          truncated:1;
    unsigned                          body_seen:1;
    unsigned                          quiet:1;
} ngx_http_sandbox_bridge_stream_t;


void ngx_http_sandbox_bridge_stream_init(ngx_http_sandbox_bridge_stream_t *st,
    ngx_http_request_t *r, size_t limit, ngx_msec_t heartbeat);
ngx_int_t ngx_http_sandbox_bridge_stream_body(ngx_http_request_t *sr,
    ngx_http_sandbox_bridge_call_t *call, ngx_chain_t *in);
void ngx_http_sandbox_bridge_stream_heartbeat_start(
    ngx_http_sandbox_bridge_stream_t *st);
void ngx_http_sandbox_bridge_stream_stop(ngx_http_sandbox_bridge_stream_t *st);
void ngx_http_sandbox_bridge_stream_flush(ngx_http_sandbox_bridge_stream_t *st);
ngx_int_t ngx_http_sandbox_bridge_text_end(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_text_t *text, ngx_chain_t **out, size_t *len);
ngx_int_t ngx_http_sandbox_bridge_sse_send(ngx_http_request_t *r,
    ngx_str_t *text, ngx_uint_t last);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_STREAM_H_INCLUDED_ */
