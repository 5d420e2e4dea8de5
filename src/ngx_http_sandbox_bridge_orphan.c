
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_orphan.h"
#include "ngx_http_sandbox_bridge_util.h"


/*
 * Exec records (README "Lease records and the reaper"): every running
 * exec is a field of "<prefix>exec:{<container>}", its marker mapped to
 * "<node> <worker pid> <deadline ms>". A worker that dies cannot end
 * its commands; the reaper finds them here and kills those whose owner
 * is gone: a dead pid on this node, or a node without a heartbeat
 * ("<prefix>node:{<node>}").
 */

/* an owner alive past its command's deadline this long has failed */
#define NGX_HTTP_SANDBOX_BRIDGE_OVERDUE  60000


static uint64_t ngx_http_sandbox_bridge_orphan_now(void);
static void ngx_http_sandbox_bridge_orphan_ignore(ngx_http_request_t *r,
    void *data, redisReply *reply);
static ngx_int_t ngx_http_sandbox_bridge_orphan_exec_key(
    ngx_http_request_t *r, ngx_str_t *container, u_char *buf, size_t size,
    ngx_str_t *key);
static void ngx_http_sandbox_bridge_orphan_send(
    ngx_http_sandbox_bridge_main_conf_t *mcf,
    ngx_http_sandbox_bridge_args_t *args);


ngx_int_t
ngx_http_sandbox_bridge_orphan_key(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_main_conf_t *mcf, const char *kind,
    ngx_str_t *name, ngx_str_t *key)
{
    size_t  n;

    n = ngx_strlen(kind);

    key->len = mcf->redis_prefix.len + n + sizeof(":{}") - 1 + name->len;
    key->data = ngx_pnalloc(pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(key->data, "%V%*s:{%V}", &mcf->redis_prefix, n, kind, name);

    return NGX_OK;
}


/* "<prefix>exec:{<container>}" into buf; no pool (see orphan_del) */

static ngx_int_t
ngx_http_sandbox_bridge_orphan_exec_key(ngx_http_request_t *r,
    ngx_str_t *container, u_char *buf, size_t size, ngx_str_t *key)
{
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);

    if (mcf->redis_prefix.len + container->len + sizeof("exec:{}") > size) {
        return NGX_ERROR;
    }

    key->data = buf;
    key->len = ngx_sprintf(buf, "%Vexec:{%V}", &mcf->redis_prefix, container)
               - buf;

    return NGX_OK;
}


void
ngx_http_sandbox_bridge_orphan_add(ngx_http_request_t *r,
    ngx_str_t *container, u_char *marker, ngx_msec_t timeout)
{
    ngx_str_t                             key;
    ngx_http_sandbox_bridge_args_t        args;
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    uint64_t                              deadline;
    u_char                                buf[1024];
    u_char                                value[NGX_MAXHOSTNAMELEN + 64];
    u_char                                ttl[NGX_INT64_LEN];

    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    if (ngx_http_sandbox_bridge_orphan_exec_key(r, container, buf,
                                                sizeof(buf), &key)
        != NGX_OK)
    {
        return;
    }

    deadline = ngx_http_sandbox_bridge_orphan_now() + timeout;

    args.argc = 0;
    args.overflow = 0;

    ngx_http_sandbox_bridge_arg_lit(&args, "HSET");
    ngx_http_sandbox_bridge_arg_str(&args, &key);
    ngx_http_sandbox_bridge_arg(&args, marker,
                                NGX_HTTP_SANDBOX_BRIDGE_MARKER_LEN);
    ngx_http_sandbox_bridge_arg(&args, value,
                                ngx_snprintf(value, sizeof(value),
                                             "%V %P %uL", &ngx_cycle->hostname,
                                             ngx_pid, deadline)
                                - value);

    ngx_http_sandbox_bridge_orphan_send(mcf, &args);

    /* the record outlives the longest command allowed */
    args.argc = 0;

    ngx_http_sandbox_bridge_arg_lit(&args, "PEXPIRE");
    ngx_http_sandbox_bridge_arg_str(&args, &key);
    ngx_http_sandbox_bridge_arg(&args, ttl,
                                ngx_sprintf(ttl, "%M",
                                            lcf->exec_timeout_max
                                            + 2 * mcf->reaper_interval
                                            + NGX_HTTP_SANDBOX_BRIDGE_OVERDUE)
                                - ttl);

    ngx_http_sandbox_bridge_orphan_send(mcf, &args);
}


/* also called from a request's pool cleanup, where r->pool is NULL */

void
ngx_http_sandbox_bridge_orphan_del(ngx_http_request_t *r,
    ngx_str_t *container, u_char *marker)
{
    ngx_str_t                             key;
    ngx_http_sandbox_bridge_args_t        args;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    u_char                                buf[1024];

    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);

    if (ngx_http_sandbox_bridge_orphan_exec_key(r, container, buf,
                                                sizeof(buf), &key)
        != NGX_OK)
    {
        return;
    }

    args.argc = 0;
    args.overflow = 0;

    ngx_http_sandbox_bridge_arg_lit(&args, "HDEL");
    ngx_http_sandbox_bridge_arg_str(&args, &key);
    ngx_http_sandbox_bridge_arg(&args, marker,
                                NGX_HTTP_SANDBOX_BRIDGE_MARKER_LEN);

    ngx_http_sandbox_bridge_orphan_send(mcf, &args);
}


/* this node is alive: every worker says so at each reaper tick */

void
ngx_http_sandbox_bridge_orphan_heartbeat(
    ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    ngx_http_sandbox_bridge_args_t  args;
    u_char                          key[NGX_MAXHOSTNAMELEN + 512];
    u_char                          ttl[NGX_INT64_LEN];

    if (mcf->redis_prefix.len + ngx_cycle->hostname.len + 16 > sizeof(key)) {
        return;
    }

    args.argc = 0;
    args.overflow = 0;

    ngx_http_sandbox_bridge_arg_lit(&args, "SET");
    ngx_http_sandbox_bridge_arg(&args, key,
                                ngx_sprintf(key, "%Vnode:{%V}",
                                            &mcf->redis_prefix,
                                            &ngx_cycle->hostname)
                                - key);
    ngx_http_sandbox_bridge_arg_lit(&args, "1");
    ngx_http_sandbox_bridge_arg_lit(&args, "PX");
    ngx_http_sandbox_bridge_arg(&args, ttl,
                                ngx_sprintf(ttl, "%M",
                                            3 * mcf->reaper_interval)
                                - ttl);

    ngx_http_sandbox_bridge_orphan_send(mcf, &args);
}


/*
 * An exec record's owner: NGX_OK alive, NGX_DONE gone (or overdue),
 * NGX_AGAIN another node's worker, whose heartbeat decides ("node" is
 * set to it). A record that cannot be read counts as gone.
 */

ngx_int_t
ngx_http_sandbox_bridge_orphan_owner(ngx_http_sandbox_bridge_main_conf_t *mcf,
    ngx_str_t *value, ngx_str_t *node)
{
    u_char     *p, *q, *last;
    ngx_pid_t   pid;
    uint64_t    deadline;

    p = value->data;
    last = p + value->len;

    q = ngx_strlchr(p, last, ' ');
    if (q == NULL) {
        return NGX_DONE;
    }

    node->data = p;
    node->len = q - p;

    p = q + 1;
    q = ngx_strlchr(p, last, ' ');
    if (q == NULL) {
        return NGX_DONE;
    }

    pid = ngx_atoi(p, q - p);
    deadline = (uint64_t) ngx_atotm(q + 1, last - q - 1);

    if (pid == NGX_ERROR || deadline == (uint64_t) NGX_ERROR) {
        return NGX_DONE;
    }

    if (ngx_http_sandbox_bridge_orphan_now()
        > deadline + 2 * mcf->reaper_interval
          + NGX_HTTP_SANDBOX_BRIDGE_OVERDUE)
    {
        return NGX_DONE;
    }

    if (node->len != ngx_cycle->hostname.len
        || ngx_strncmp(node->data, ngx_cycle->hostname.data, node->len) != 0)
    {
        return NGX_AGAIN;
    }

    /* only a pid of this node can be asked */
    if (kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH) {
        return NGX_DONE;
    }

    return NGX_OK;
}


static void
ngx_http_sandbox_bridge_orphan_send(ngx_http_sandbox_bridge_main_conf_t *mcf,
    ngx_http_sandbox_bridge_args_t *args)
{
    if (args->overflow) {
        return;
    }

    /* best effort: while Redis is down there is nothing to record */
    (void) ngx_http_sandbox_bridge_redis_command(mcf, NULL,
                                        ngx_http_sandbox_bridge_orphan_ignore,
                                        NULL, args->argc, args->argv,
                                        args->argvlen);
}


static void
ngx_http_sandbox_bridge_orphan_ignore(ngx_http_request_t *r, void *data,
    redisReply *reply)
{
}


static uint64_t
ngx_http_sandbox_bridge_orphan_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}
