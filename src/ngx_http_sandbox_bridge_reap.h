
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_REAP_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_REAP_H_INCLUDED_


#include "ngx_http_sandbox_bridge_hosts.h"


/* one reaper pass over one Docker host (reap.c, sweep.c) */

/* containers removed per pass; the next pass continues */
#define NGX_HTTP_SANDBOX_BRIDGE_REAP_MAX     64

typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_REAP_LOCK = NGX_HTTP_SANDBOX_BRIDGE_START,
    NGX_HTTP_SANDBOX_BRIDGE_REAP_LOCKED,
    NGX_HTTP_SANDBOX_BRIDGE_REAP_LISTED,
    NGX_HTTP_SANDBOX_BRIDGE_REAP_COUNTED,
    NGX_HTTP_SANDBOX_BRIDGE_REAP_MARKED,
    NGX_HTTP_SANDBOX_BRIDGE_REAP_CHECKED,
    NGX_HTTP_SANDBOX_BRIDGE_REAP_REMOVED,
    NGX_HTTP_SANDBOX_BRIDGE_REAP_SCANNED,
    NGX_HTTP_SANDBOX_BRIDGE_REAP_FORGOT,
    NGX_HTTP_SANDBOX_BRIDGE_REAP_MARKER_SET,
    NGX_HTTP_SANDBOX_BRIDGE_REAP_EXECS_LISTED,
    NGX_HTTP_SANDBOX_BRIDGE_REAP_NODE_CHECKED
} ngx_http_sandbox_bridge_reap_state_e;


typedef struct {
    ngx_str_t                             id;
    ngx_str_t                             name;
    json_t                               *labels;   /* in rp->list */
    ngx_uint_t                            pool;     /* owner unknown */
} ngx_http_sandbox_bridge_reap_item_t;


/* a running exec's record */
typedef struct {
    ngx_str_t                             container;
    ngx_str_t                             marker;
    ngx_str_t                             value;
} ngx_http_sandbox_bridge_reap_exec_t;


typedef struct {
    ngx_http_sandbox_bridge_op_t          op;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    /* the lock's value; the scheduler's count of passes under way */
    ngx_str_t                            *worker;
    ngx_uint_t                           *running;
    /* the host's name (locks, records, logs) and its Docker location */
    ngx_str_t                             host;
    ngx_str_t                             location;
    /* several hosts: lease sets per host count the leases */
    ngx_uint_t                            placement;
    json_t                               *list;
    ngx_uint_t                            adopting;
    ngx_uint_t                            adopted;
    ngx_uint_t                            waiting;
    ngx_array_t                           execs;
    ngx_uint_t                            exec_next;
    ngx_uint_t                            exec_cur;
    ngx_http_sandbox_bridge_call_t        call;
    ngx_array_t                           containers;
    ngx_uint_t                            next;
    ngx_uint_t                            removed;
    ngx_uint_t                            forgotten;
    ngx_uint_t                            scans;
    ngx_str_t                             cursor;
    ngx_array_t                           stale;
    u_char                                pass[NGX_INT64_LEN];
    size_t                                pass_len;
    u_char                                listed_at[NGX_INT64_LEN];
    size_t                                listed_len;
} ngx_http_sandbox_bridge_reap_t;


ngx_int_t ngx_http_sandbox_bridge_reap_start(
    ngx_http_sandbox_bridge_main_conf_t *mcf,
    ngx_http_sandbox_bridge_loc_conf_t *lcf,
    ngx_http_sandbox_bridge_host_t *host, ngx_str_t *worker,
    ngx_uint_t *running);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_REAP_H_INCLUDED_ */
