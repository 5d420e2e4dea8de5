
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_CLAIM_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_CLAIM_H_INCLUDED_


#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_spec.h"


/* what a claim gave the acquire */
typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_CLAIM_NONE = 0,
    /* renamed; the workspace is made by commands after the start */
    NGX_HTTP_SANDBOX_BRIDGE_CLAIM_RENAMED,
    /* renamed; the workspace upload's answer is in the caller's call */
    NGX_HTTP_SANDBOX_BRIDGE_CLAIM_UPLOADED
} ngx_http_sandbox_bridge_claim_e;


ngx_int_t ngx_http_sandbox_bridge_claim_hash(ngx_http_request_t *r,
    ngx_str_t *hash);
ngx_int_t ngx_http_sandbox_bridge_claim(ngx_http_sandbox_bridge_op_t *parent,
    redisReply *begun, ngx_str_t *location, ngx_http_sandbox_bridge_spec_t *s,
    ngx_http_sandbox_bridge_call_t *upload,
    ngx_http_sandbox_bridge_claim_e *claimed, ngx_uint_t next);
void ngx_http_sandbox_bridge_claim_refill(ngx_http_request_t *r);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_CLAIM_H_INCLUDED_ */
