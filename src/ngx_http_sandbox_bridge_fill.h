
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_FILL_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_FILL_H_INCLUDED_


#include "ngx_http_sandbox_bridge_hosts.h"
#include "ngx_http_sandbox_bridge_pool.h"


/* the refill job of one pool (refill.c runs it, fill.c has its steps) */

#define NGX_HTTP_SANDBOX_BRIDGE_REFILL_LOCK_MS      60000
/* an unregistered pool container older than this was left behind */
#define NGX_HTTP_SANDBOX_BRIDGE_REFILL_STRAY_S      60
#define NGX_HTTP_SANDBOX_BRIDGE_REFILL_ROUNDS       3
#define NGX_HTTP_SANDBOX_BRIDGE_REFILL_LISTING_MAX  (4 * 1024 * 1024)



typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_FILL_BEGIN = NGX_HTTP_SANDBOX_BRIDGE_START,
    NGX_HTTP_SANDBOX_BRIDGE_FILL_ANY,
    NGX_HTTP_SANDBOX_BRIDGE_FILL_LOCKED,
    NGX_HTTP_SANDBOX_BRIDGE_FILL_LIVE,
    NGX_HTTP_SANDBOX_BRIDGE_FILL_ANY_SET,
    NGX_HTTP_SANDBOX_BRIDGE_FILL_LISTED,
    NGX_HTTP_SANDBOX_BRIDGE_FILL_MEMBERS,
    NGX_HTTP_SANDBOX_BRIDGE_FILL_OTHER,
    NGX_HTTP_SANDBOX_BRIDGE_FILL_REMOVED,
    NGX_HTTP_SANDBOX_BRIDGE_FILL_FORGOTTEN,
    NGX_HTTP_SANDBOX_BRIDGE_FILL_STALE,
    NGX_HTTP_SANDBOX_BRIDGE_FILL_CREATED,
    NGX_HTTP_SANDBOX_BRIDGE_FILL_STARTED,
    NGX_HTTP_SANDBOX_BRIDGE_FILL_ADDED,
    NGX_HTTP_SANDBOX_BRIDGE_FILL_DISCARDED,
    NGX_HTTP_SANDBOX_BRIDGE_FILL_EXPIRED,
    NGX_HTTP_SANDBOX_BRIDGE_FILL_UNLOCKED,
    NGX_HTTP_SANDBOX_BRIDGE_FILL_COUNTED
} ngx_http_sandbox_bridge_fill_state_e;


typedef struct {
    ngx_str_t                             id;
    ngx_uint_t                            seen;
} ngx_http_sandbox_bridge_fill_member_t;


typedef struct {
    ngx_http_sandbox_bridge_op_t          op;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    ngx_http_sandbox_bridge_host_t       *h;
    ngx_str_t                             host;
    ngx_str_t                             location;
    u_char                                hash[
                                       NGX_HTTP_SANDBOX_BRIDGE_POOL_HASH_LEN];
    ngx_str_t                             set;
    ngx_str_t                             lock;
    u_char                                token[32];
    ngx_str_t                             any;
    json_t                               *list;
    ngx_uint_t                            next;
    ngx_array_t                           members;
    ngx_uint_t                            stale;
    ngx_uint_t                            have;
    ngx_uint_t                            created;
    ngx_uint_t                            rounds;
    ngx_uint_t                            locked;
    ngx_uint_t                            kept;
    ngx_uint_t                            counted;
    /* the container at hand */
    ngx_str_t                             name;
    ngx_str_t                             id;
    ngx_str_t                             name_set;
    ngx_http_sandbox_bridge_call_t        call;
} ngx_http_sandbox_bridge_fill_t;


/* "cmd key [arg]", with PX for SET and PEXPIRE's own time */
ngx_int_t ngx_http_sandbox_bridge_fill_cmd(ngx_http_sandbox_bridge_fill_t *f,
    ngx_uint_t next, const char *cmd, ngx_str_t *key, ngx_str_t *arg);

/* the host's pool containers: listed, judged one by one, removed */
ngx_int_t ngx_http_sandbox_bridge_fill_list(ngx_http_sandbox_bridge_fill_t *f);
ngx_int_t ngx_http_sandbox_bridge_fill_listed(
    ngx_http_sandbox_bridge_fill_t *f);
ngx_int_t ngx_http_sandbox_bridge_fill_members(
    ngx_http_sandbox_bridge_fill_t *f);
ngx_int_t ngx_http_sandbox_bridge_fill_judge(
    ngx_http_sandbox_bridge_fill_t *f);
ngx_int_t ngx_http_sandbox_bridge_fill_remove(
    ngx_http_sandbox_bridge_fill_t *f, const char *why);
ngx_int_t ngx_http_sandbox_bridge_fill_stale(
    ngx_http_sandbox_bridge_fill_t *f);

/* new pool containers up to the pool's size */
ngx_int_t ngx_http_sandbox_bridge_fill_create(
    ngx_http_sandbox_bridge_fill_t *f);
ngx_int_t ngx_http_sandbox_bridge_fill_created(
    ngx_http_sandbox_bridge_fill_t *f);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_FILL_H_INCLUDED_ */
