
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_HANDLER_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_HANDLER_H_INCLUDED_


#include "ngx_http_sandbox_bridge_module.h"


typedef void (*ngx_http_sandbox_bridge_step_pt)(ngx_http_request_t *r);


struct ngx_http_sandbox_bridge_ctx_s {
    ngx_http_request_t               *request;
    ngx_str_t                         cred_id;
    ngx_uint_t                        cred_admin;

    /* signed requests (access phase) */
    ngx_uint_t                        auth_state;
    ngx_uint_t                        auth_in_read;
    const char                       *auth_error;
    ngx_http_sandbox_bridge_hmac_auth_t   hmac;
    ngx_http_sandbox_bridge_hmac_key_t   *hmac_key;
    ngx_str_t                         path;
    ngx_str_t                         route;

    json_t                           *body;

    /* the continuation run when a pending async step completes */
    ngx_http_sandbox_bridge_step_pt   resume;
    ngx_uint_t                        pending;

    void                             *op;
    void                             *exec;

    ngx_event_t                       sleep;

    ngx_str_t                         error_page;
    unsigned                          error_page_sent:1;

    unsigned                          body_read:1;
    unsigned                          finalized:1;
};


ngx_http_sandbox_bridge_ctx_t *ngx_http_sandbox_bridge_get_ctx(
    ngx_http_request_t *r);
ngx_int_t ngx_http_sandbox_bridge_content_handler(ngx_http_request_t *r);
ngx_uint_t ngx_http_sandbox_bridge_json_depth(u_char *p, size_t len);
void ngx_http_sandbox_bridge_wake(ngx_http_request_t *r);
void ngx_http_sandbox_bridge_finish(ngx_http_request_t *r, ngx_int_t rc);
ngx_int_t ngx_http_sandbox_bridge_reply_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *fmt, ...);


ngx_int_t ngx_http_sandbox_bridge_error_header(ngx_http_request_t *r);
ngx_int_t ngx_http_sandbox_bridge_error_body(ngx_http_request_t *r,
    ngx_chain_t *in, ngx_chain_t **out);
void ngx_http_sandbox_bridge_sleep(ngx_http_request_t *r, ngx_msec_t ms,
    ngx_http_sandbox_bridge_step_pt step);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_HANDLER_H_INCLUDED_ */
