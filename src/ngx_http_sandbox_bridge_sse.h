
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_SSE_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_SSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HTTP_SANDBOX_BRIDGE_STDOUT  1
#define NGX_HTTP_SANDBOX_BRIDGE_STDERR  2


/* called for each piece of a frame's payload */
typedef ngx_int_t (*ngx_http_sandbox_bridge_payload_pt)(void *data,
    ngx_uint_t stream, u_char *p, size_t len);


/* Docker's multiplexed stream: 8-byte header, then the payload */
typedef struct {
    u_char      hdr[8];
    size_t      hdr_len;
    ngx_uint_t  stream;
    uint32_t    remaining;
} ngx_http_sandbox_bridge_demux_t;


/* bytes of a UTF-8 sequence held back until its end arrives */
typedef struct {
    u_char      tail[4];
    size_t      len;
} ngx_http_sandbox_bridge_utf8_t;


ngx_int_t ngx_http_sandbox_bridge_demux(ngx_http_sandbox_bridge_demux_t *d,
    u_char *p, size_t len, ngx_http_sandbox_bridge_payload_pt handler,
    void *data);

size_t ngx_http_sandbox_bridge_escape_len(size_t len);
u_char *ngx_http_sandbox_bridge_escape(u_char *dst,
    ngx_http_sandbox_bridge_utf8_t *st, u_char *src, size_t len,
    ngx_uint_t last);

u_char *ngx_http_sandbox_bridge_utf8_repair(u_char *dst, u_char *src,
    size_t len);
size_t ngx_http_sandbox_bridge_sse_event_len(size_t len);
u_char *ngx_http_sandbox_bridge_sse_event(u_char *dst, ngx_uint_t stream,
    ngx_http_sandbox_bridge_utf8_t *st, u_char *src, size_t len,
    ngx_str_t *escaped);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_SSE_H_INCLUDED_ */
