
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_DOCKER_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_DOCKER_H_INCLUDED_


#include "ngx_http_sandbox_bridge_request.h"


#define NGX_HTTP_SANDBOX_BRIDGE_CAPTURE_MAX  (1024 * 1024)


typedef struct ngx_http_sandbox_bridge_call_s  ngx_http_sandbox_bridge_call_t;

/* stream mode: consumes the response body of the subrequest */
typedef ngx_int_t (*ngx_http_sandbox_bridge_body_pt)(ngx_http_request_t *sr,
    ngx_http_sandbox_bridge_call_t *call, ngx_chain_t *in);


struct ngx_http_sandbox_bridge_call_s {
    ngx_http_sandbox_bridge_op_t     *op;
    ngx_http_request_t               *sr;
    ngx_str_t                         location;

    /* Docker's HTTP status; 0 when Docker gave no answer */
    ngx_uint_t                        status;
    ngx_int_t                         rc;

    /* the request body's length, applied after the location is found */
    off_t                             body_len;

    /* capture mode */
    u_char                           *body;
    size_t                            len;
    size_t                            cap;
    size_t                            limit;

    ngx_http_sandbox_bridge_body_pt   body_filter;
    void                             *data;

    unsigned                          done:1;
    unsigned                          truncated:1;
};


ngx_int_t ngx_http_sandbox_bridge_docker(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_call_t *call, ngx_uint_t method, ngx_uint_t next,
    ngx_str_t *location, const char *fmt, ...);
ngx_int_t ngx_http_sandbox_bridge_docker_json(
    ngx_http_sandbox_bridge_op_t *op, ngx_http_sandbox_bridge_call_t *call,
    ngx_uint_t method, ngx_uint_t next, ngx_str_t *location, json_t *body,
    const char *fmt, ...);
ngx_int_t ngx_http_sandbox_bridge_docker_body(
    ngx_http_sandbox_bridge_op_t *op, ngx_http_sandbox_bridge_call_t *call,
    ngx_uint_t method, ngx_uint_t next, ngx_str_t *location,
    const char *content_type, ngx_chain_t *body, off_t body_len,
    const char *fmt, ...);

json_t *ngx_http_sandbox_bridge_docker_reply(
    ngx_http_sandbox_bridge_call_t *call);
u_char *ngx_http_sandbox_bridge_docker_error(
    ngx_http_sandbox_bridge_call_t *call, u_char *buf, size_t size);

ngx_int_t ngx_http_sandbox_bridge_docker_init(ngx_conf_t *cf);
ngx_int_t ngx_http_sandbox_bridge_docker_note(ngx_conf_t *cf);
ngx_int_t ngx_http_sandbox_bridge_next_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_DOCKER_H_INCLUDED_ */
