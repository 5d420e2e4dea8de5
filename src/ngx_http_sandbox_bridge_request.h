
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_REQUEST_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_REQUEST_H_INCLUDED_


#include "ngx_http_sandbox_bridge_redis.h"


/* the state every flow starts in */
#define NGX_HTTP_SANDBOX_BRIDGE_START  0


typedef struct ngx_http_sandbox_bridge_op_s  ngx_http_sandbox_bridge_op_t;

/* a flow's state machine: one switch on op->state */
typedef void (*ngx_http_sandbox_bridge_run_pt)(
    ngx_http_sandbox_bridge_op_t *op);

/* how a flow without a client ends (background jobs) */
typedef void (*ngx_http_sandbox_bridge_end_pt)(
    ngx_http_sandbox_bridge_op_t *op);


/*
 * One flow of a request: a route, a background job, or a nested engine
 * (the Docker exec engine runs inside a lease or exec flow). Async steps
 * count themselves in "pending", set "state" to the step that follows
 * and wake the flow when the last of them completes.
 */

struct ngx_http_sandbox_bridge_op_s {
    ngx_http_request_t               *request;
    ngx_http_sandbox_bridge_run_pt    run;
    ngx_uint_t                        state;
    ngx_uint_t                        pending;

    /* a nested flow resumes its parent in parent_state when it ends */
    ngx_http_sandbox_bridge_op_t     *parent;
    ngx_uint_t                        parent_state;

    /* the reply of the Redis step just completed, NULL when it failed */
    redisReply                       *reply;

    ngx_event_t                       sleep;

    /* NULL: the client request is finalized */
    ngx_http_sandbox_bridge_end_pt    end;

    unsigned                          finalized:1;
};


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

    /* a body read from a file, and the stdin held in it (body.c) */
    u_char                           *body_data;
    ngx_str_t                         stdin_data;

    /* the innermost running flow */
    ngx_http_sandbox_bridge_op_t     *op;

    ngx_str_t                         error_page;

    /* what the log variables show (README "Variables") */
    ngx_str_t                         route_name;
    ngx_str_t                         lease_id;
    ngx_str_t                         docker_host;
    ngx_str_t                         error_code;
    ngx_int_t                         exit_code;
    ngx_msec_t                        exec_ms;

    unsigned                          error_page_sent:1;
    unsigned                          body_read:1;
    unsigned                          exit_known:1;
    unsigned                          exec_ran:1;
};


/* the fixed errors; their texts are in one table (README "Errors") */
typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE = 0,
    NGX_HTTP_SANDBOX_BRIDGE_ERR_STATE_LOST,
    NGX_HTTP_SANDBOX_BRIDGE_ERR_FOREIGN,
    NGX_HTTP_SANDBOX_BRIDGE_ERR_NOT_JSON,
    NGX_HTTP_SANDBOX_BRIDGE_ERR_REQUIRED_IDS,
    NGX_HTTP_SANDBOX_BRIDGE_ERR_REQUIRED_LEASE,
    NGX_HTTP_SANDBOX_BRIDGE_ERR_REQUIRED_EXEC,
    NGX_HTTP_SANDBOX_BRIDGE_ERR_SLEEP_AFTER,
    NGX_HTTP_SANDBOX_BRIDGE_ERR_PATH_ESCAPE,
    NGX_HTTP_SANDBOX_BRIDGE_ERR_PATH_ID,
    NGX_HTTP_SANDBOX_BRIDGE_ERR_SESSION,
    NGX_HTTP_SANDBOX_BRIDGE_ERR_NOMEM,
    NGX_HTTP_SANDBOX_BRIDGE_ERR_NO_ROOM,
    NGX_HTTP_SANDBOX_BRIDGE_ERR_NO_HOST,
    NGX_HTTP_SANDBOX_BRIDGE_ERR_LAST
} ngx_http_sandbox_bridge_err_e;


typedef struct {
    ngx_uint_t                        status;
    ngx_str_t                         code;
    ngx_str_t                         message;
} ngx_http_sandbox_bridge_err_t;


extern ngx_http_sandbox_bridge_err_t  ngx_http_sandbox_bridge_errors[];


ngx_http_sandbox_bridge_ctx_t *ngx_http_sandbox_bridge_get_ctx(
    ngx_http_request_t *r);

void *ngx_http_sandbox_bridge_op_create(ngx_http_request_t *r, size_t size,
    ngx_http_sandbox_bridge_run_pt run);
void ngx_http_sandbox_bridge_op_nest(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_op_t *parent, ngx_uint_t parent_state);
void ngx_http_sandbox_bridge_op_return(ngx_http_sandbox_bridge_op_t *op);

void ngx_http_sandbox_bridge_wake(ngx_http_request_t *r);

void ngx_http_sandbox_bridge_sleep(ngx_http_sandbox_bridge_op_t *op,
    ngx_msec_t ms, ngx_uint_t next);
void ngx_http_sandbox_bridge_op_resume(ngx_http_sandbox_bridge_op_t *op);
ngx_int_t ngx_http_sandbox_bridge_redis_step(ngx_http_sandbox_bridge_op_t *op,
    ngx_int_t script, ngx_uint_t next, int nkeys,
    ngx_http_sandbox_bridge_args_t *args);

void ngx_http_sandbox_bridge_finalize(ngx_http_sandbox_bridge_op_t *op,
    ngx_int_t rc);
void ngx_http_sandbox_bridge_reply(ngx_http_sandbox_bridge_op_t *op,
    ngx_uint_t status, json_t *body);
void ngx_http_sandbox_bridge_fail(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_err_e err);
void ngx_http_sandbox_bridge_failf(ngx_http_sandbox_bridge_op_t *op,
    ngx_uint_t status, const char *code, const char *fmt, ...);
ngx_int_t ngx_http_sandbox_bridge_unauthorized(ngx_http_request_t *r,
    const char *msg);
void ngx_http_sandbox_bridge_not_owned(ngx_http_sandbox_bridge_op_t *op,
    ngx_str_t *id);

json_t *ngx_http_sandbox_bridge_error_json(ngx_uint_t *status,
    ngx_http_sandbox_bridge_err_e err);
json_t *ngx_http_sandbox_bridge_error_jsonf(const char *code,
    const char *fmt, ...);
ngx_int_t ngx_http_sandbox_bridge_send_json(ngx_http_request_t *r,
    ngx_uint_t status, json_t *body);
ngx_int_t ngx_http_sandbox_bridge_send_body(ngx_http_request_t *r,
    ngx_uint_t status, ngx_chain_t *out, size_t len);

void ngx_http_sandbox_bridge_log_lease(ngx_http_request_t *r,
    const char *event, ngx_str_t *id, ngx_str_t *host);

ngx_int_t ngx_http_sandbox_bridge_error_header(ngx_http_request_t *r);
ngx_int_t ngx_http_sandbox_bridge_error_body(ngx_http_request_t *r,
    ngx_chain_t *in, ngx_chain_t **out);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_REQUEST_H_INCLUDED_ */
