
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_LEASE_END_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_LEASE_END_H_INCLUDED_


#include "ngx_http_sandbox_bridge_claim.h"
#include "ngx_http_sandbox_bridge_dexec.h"
#include "ngx_http_sandbox_bridge_hosts.h"
#include "ngx_http_sandbox_bridge_spec.h"


/* the probe, acquire and resume flow (lease.c) and how it ends */

#define NGX_HTTP_SANDBOX_BRIDGE_UTIL_LIMIT  (64 * 1024)



typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_LEASE_PARSE = NGX_HTTP_SANDBOX_BRIDGE_START,
    NGX_HTTP_SANDBOX_BRIDGE_LEASE_PINGED,
    NGX_HTTP_SANDBOX_BRIDGE_LEASE_BEGUN,
    NGX_HTTP_SANDBOX_BRIDGE_LEASE_CLAIMED,
    NGX_HTTP_SANDBOX_BRIDGE_LEASE_TOUCHED,
    NGX_HTTP_SANDBOX_BRIDGE_LEASE_CREATE,
    NGX_HTTP_SANDBOX_BRIDGE_LEASE_CREATED,
    NGX_HTTP_SANDBOX_BRIDGE_LEASE_PREPARED,
    NGX_HTTP_SANDBOX_BRIDGE_LEASE_INSPECTED,
    NGX_HTTP_SANDBOX_BRIDGE_LEASE_STARTED,
    NGX_HTTP_SANDBOX_BRIDGE_LEASE_SENTINEL_CHECKED,
    NGX_HTTP_SANDBOX_BRIDGE_LEASE_WORKSPACE_MADE,
    NGX_HTTP_SANDBOX_BRIDGE_LEASE_SENTINEL_WRITTEN,
    NGX_HTTP_SANDBOX_BRIDGE_LEASE_PROBED,
    NGX_HTTP_SANDBOX_BRIDGE_LEASE_COMMITTED,
    NGX_HTTP_SANDBOX_BRIDGE_LEASE_REMOVED,
    NGX_HTTP_SANDBOX_BRIDGE_LEASE_FORGOTTEN
} ngx_http_sandbox_bridge_lease_state_e;


typedef struct {
    ngx_http_sandbox_bridge_op_t          op;
    ngx_http_sandbox_bridge_spec_t        spec;
    ngx_str_t                             location;
    ngx_uint_t                            retries;
    ngx_http_sandbox_bridge_claim_e       pooled;
    const char                           *action;
    ngx_str_t                            *action_path;
    ngx_uint_t                            resp_status;
    json_t                               *resp;
    ngx_http_sandbox_bridge_call_t        call;
    ngx_http_sandbox_bridge_dexec_t      *ex;
    ngx_http_sandbox_bridge_ping_t       *pings;
    unsigned                              prepared:1;
} ngx_http_sandbox_bridge_lease_op_t;


/* a utility command after the start, and whether it exited 0 */
void ngx_http_sandbox_bridge_lease_util(
    ngx_http_sandbox_bridge_lease_op_t *lo, const char *action,
    ngx_str_t *path, ngx_str_t *script, ngx_uint_t next);
ngx_int_t ngx_http_sandbox_bridge_lease_util_ok(
    ngx_http_sandbox_bridge_lease_op_t *lo);

/* the answers; a failure removes what the flow made first */
void ngx_http_sandbox_bridge_lease_respond(
    ngx_http_sandbox_bridge_lease_op_t *lo);
void ngx_http_sandbox_bridge_lease_probed(
    ngx_http_sandbox_bridge_lease_op_t *lo);
void ngx_http_sandbox_bridge_lease_fail(
    ngx_http_sandbox_bridge_lease_op_t *lo, ngx_uint_t status,
    json_t *body);
void ngx_http_sandbox_bridge_lease_docker_fail(
    ngx_http_sandbox_bridge_lease_op_t *lo, const char *what);
void ngx_http_sandbox_bridge_lease_lost(
    ngx_http_sandbox_bridge_lease_op_t *lo);
void ngx_http_sandbox_bridge_lease_forget(
    ngx_http_sandbox_bridge_lease_op_t *lo);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_LEASE_END_H_INCLUDED_ */
