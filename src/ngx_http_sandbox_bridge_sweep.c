
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_sweep.h"
#include "ngx_http_sandbox_bridge_kill.h"
#include "ngx_http_sandbox_bridge_orphan.h"
#include "ngx_http_sandbox_bridge_store.h"
#include "ngx_http_sandbox_bridge_util.h"


/*
 * A reaper pass's second half (reap.c has the first): a ready lease
 * placed on the host whose container two consecutive complete listings
 * did not show is forgotten; then the commands whose worker or node is
 * gone are killed (exec records, orphan.c).
 */

/* work per pass is bounded; the next pass continues */
#define NGX_HTTP_SANDBOX_BRIDGE_SCAN_MAX     32
#define NGX_HTTP_SANDBOX_BRIDGE_EXECS_MAX    256


static ngx_int_t ngx_http_sandbox_bridge_sweep_forget(
    ngx_http_sandbox_bridge_reap_t *rp);
static ngx_int_t ngx_http_sandbox_bridge_sweep_owners(
    ngx_http_sandbox_bridge_reap_t *rp);
static void ngx_http_sandbox_bridge_sweep_kill(
    ngx_http_sandbox_bridge_reap_t *rp,
    ngx_http_sandbox_bridge_reap_exec_t *e, const char *why);



/* lease records without a listed container are candidates to forget */

ngx_int_t
ngx_http_sandbox_bridge_sweep_scan(ngx_http_sandbox_bridge_reap_t *rp)
{
    u_char                          *p;
    ngx_http_sandbox_bridge_args_t   args;
    u_char                           match[512];

    if (rp->scans >= NGX_HTTP_SANDBOX_BRIDGE_SCAN_MAX
        || (rp->scans && rp->cursor.len == 1 && rp->cursor.data[0] == '0'))
    {
        return ngx_http_sandbox_bridge_sweep_forget(rp);
    }

    rp->scans++;

    p = ngx_http_sandbox_bridge_scan_pattern(match, match + sizeof(match),
                                             &rp->mcf->redis_prefix);
    if (p == NULL) {
        return NGX_ERROR;
    }

    args.argc = 0;
    args.overflow = 0;

    ngx_http_sandbox_bridge_arg_lit(&args, "SCAN");

    if (rp->cursor.len) {
        ngx_http_sandbox_bridge_arg_str(&args, &rp->cursor);

    } else {
        ngx_http_sandbox_bridge_arg_lit(&args, "0");
    }

    ngx_http_sandbox_bridge_arg_lit(&args, "MATCH");
    ngx_http_sandbox_bridge_arg(&args, match, p - match);
    ngx_http_sandbox_bridge_arg_lit(&args, "COUNT");
    ngx_http_sandbox_bridge_arg_lit(&args, "500");

    return ngx_http_sandbox_bridge_redis_step(&rp->op, -1,
                                        NGX_HTTP_SANDBOX_BRIDGE_REAP_SCANNED,
                                        0, &args);
}


ngx_int_t
ngx_http_sandbox_bridge_sweep_scanned(ngx_http_sandbox_bridge_reap_t *rp)
{
    size_t                                i, j, plen;
    ngx_str_t                            *stale, id;
    redisReply                           *reply, *keys, *k;
    ngx_http_sandbox_bridge_reap_item_t  *item;

    reply = rp->op.reply;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return NGX_DONE;
    }

    rp->cursor.len = reply->element[0]->len;
    rp->cursor.data = ngx_pnalloc(rp->op.request->pool, rp->cursor.len + 1);
    if (rp->cursor.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(rp->cursor.data, reply->element[0]->str, rp->cursor.len);
    rp->cursor.data[rp->cursor.len] = '\0';

    keys = reply->element[1];
    plen = rp->mcf->redis_prefix.len + sizeof("lease:{") - 1;
    item = rp->containers.elts;

    for (i = 0; i < keys->elements; i++) {
        k = keys->element[i];

        if (k->type != REDIS_REPLY_STRING || k->len <= plen + 1) {
            continue;
        }

        id.data = (u_char *) k->str + plen;
        id.len = k->len - plen - 1;

        for (j = 0; j < rp->containers.nelts; j++) {
            if (item[j].id.len == id.len
                && ngx_strncmp(item[j].id.data, id.data, id.len) == 0)
            {
                break;
            }
        }

        if (j < rp->containers.nelts
            || rp->stale.nelts >= NGX_HTTP_SANDBOX_BRIDGE_REAP_MAX)
        {
            continue;
        }

        stale = ngx_array_push(&rp->stale);
        if (stale == NULL) {
            return NGX_ERROR;
        }

        stale->len = k->len;
        stale->data = ngx_pnalloc(rp->op.request->pool, k->len);
        if (stale->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(stale->data, k->str, k->len);
    }

    return ngx_http_sandbox_bridge_sweep_scan(rp);
}


/* the script decides: placed on this host, missed by the last pass too */

static ngx_int_t
ngx_http_sandbox_bridge_sweep_forget(ngx_http_sandbox_bridge_reap_t *rp)
{
    ngx_str_t                       *stale;
    ngx_http_sandbox_bridge_args_t   args;

    if (rp->forgotten >= rp->stale.nelts) {
        return ngx_http_sandbox_bridge_sweep_execs(rp);
    }

    stale = (ngx_str_t *) rp->stale.elts + rp->forgotten++;

    args.argc = 0;
    args.overflow = 0;

    ngx_http_sandbox_bridge_arg_str(&args, stale);
    ngx_http_sandbox_bridge_arg(&args, rp->listed_at, rp->listed_len);
    ngx_http_sandbox_bridge_arg_str(&args, &rp->host);
    ngx_http_sandbox_bridge_arg(&args, rp->pass, rp->pass_len);

    return ngx_http_sandbox_bridge_redis_step(&rp->op,
                                        NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_FORGET,
                                        NGX_HTTP_SANDBOX_BRIDGE_REAP_FORGOT,
                                        1, &args);
}


/* FORGET's answer: 1 when the record was forgotten */

ngx_int_t
ngx_http_sandbox_bridge_sweep_forgot(ngx_http_sandbox_bridge_reap_t *rp)
{
    size_t       plen;
    ngx_str_t   *stale, id;
    redisReply  *reply;

    reply = rp->op.reply;

    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer) {
        ngx_log_error(NGX_LOG_NOTICE, rp->op.request->connection->log, 0,
                      "sandbox bridge: forgot a lease whose container "
                      "is gone from \"%V\"", &rp->host);

        /* "<prefix>lease:{<id>}" */
        stale = (ngx_str_t *) rp->stale.elts + rp->forgotten - 1;
        plen = rp->mcf->redis_prefix.len + sizeof("lease:{") - 1;

        id.data = stale->data + plen;
        id.len = (stale->len > plen) ? stale->len - plen - 1 : 0;

        ngx_http_sandbox_bridge_log_lease(rp->op.request, "forgotten",
                                          &id, &rp->host);
    }

    return ngx_http_sandbox_bridge_sweep_forget(rp);
}


/* the exec records of every listed container */

ngx_int_t
ngx_http_sandbox_bridge_sweep_execs(ngx_http_sandbox_bridge_reap_t *rp)
{
    ngx_str_t                             key;
    ngx_http_sandbox_bridge_args_t        args;
    ngx_http_sandbox_bridge_reap_item_t  *item;

    if (rp->exec_next >= rp->containers.nelts
        || rp->execs.nelts >= NGX_HTTP_SANDBOX_BRIDGE_EXECS_MAX)
    {
        return ngx_http_sandbox_bridge_sweep_owners(rp);
    }

    item = (ngx_http_sandbox_bridge_reap_item_t *) rp->containers.elts
           + rp->exec_next++;

    if (ngx_http_sandbox_bridge_orphan_key(rp->op.request->pool, rp->mcf,
                                           "exec", &item->name, &key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    args.argc = 0;
    args.overflow = 0;

    ngx_http_sandbox_bridge_arg_lit(&args, "HGETALL");
    ngx_http_sandbox_bridge_arg_str(&args, &key);

    return ngx_http_sandbox_bridge_redis_step(&rp->op, -1,
                                    NGX_HTTP_SANDBOX_BRIDGE_REAP_EXECS_LISTED,
                                    0, &args);
}


ngx_int_t
ngx_http_sandbox_bridge_sweep_execs_listed(ngx_http_sandbox_bridge_reap_t *rp)
{
    size_t                                i;
    ngx_str_t                             s;
    redisReply                           *reply, *k, *v;
    ngx_http_sandbox_bridge_reap_exec_t  *e;
    ngx_http_sandbox_bridge_reap_item_t  *item;

    reply = rp->op.reply;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        return NGX_DONE;
    }

    item = (ngx_http_sandbox_bridge_reap_item_t *) rp->containers.elts
           + rp->exec_next - 1;

    for (i = 0; i + 1 < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING
            || k->len != NGX_HTTP_SANDBOX_BRIDGE_MARKER_LEN
            || rp->execs.nelts >= NGX_HTTP_SANDBOX_BRIDGE_EXECS_MAX)
        {
            continue;
        }

        e = ngx_array_push(&rp->execs);
        if (e == NULL) {
            return NGX_ERROR;
        }

        e->container = item->name;

        s.data = (u_char *) k->str;
        s.len = k->len;
        e->marker.data = ngx_pstrdup(rp->op.request->pool, &s);
        e->marker.len = s.len;

        s.data = (u_char *) v->str;
        s.len = v->len;
        e->value.data = ngx_pstrdup(rp->op.request->pool, &s);
        e->value.len = s.len;

        if (e->marker.data == NULL || e->value.data == NULL) {
            return NGX_ERROR;
        }
    }

    return ngx_http_sandbox_bridge_sweep_execs(rp);
}


/* 0: the exec's node has no heartbeat, its command is killed */

ngx_int_t
ngx_http_sandbox_bridge_sweep_node_checked(ngx_http_sandbox_bridge_reap_t *rp)
{
    redisReply  *reply;

    reply = rp->op.reply;

    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
        ngx_http_sandbox_bridge_sweep_kill(rp,
                    (ngx_http_sandbox_bridge_reap_exec_t *) rp->execs.elts
                    + rp->exec_cur - 1, "its node has no heartbeat");
    }

    return ngx_http_sandbox_bridge_sweep_owners(rp);
}


/* a record whose worker is gone: its command is killed */

static ngx_int_t
ngx_http_sandbox_bridge_sweep_owners(ngx_http_sandbox_bridge_reap_t *rp)
{
    ngx_int_t                             rc;
    ngx_str_t                             node, key;
    ngx_http_sandbox_bridge_args_t        args;
    ngx_http_sandbox_bridge_reap_exec_t  *e;

    while (rp->exec_cur < rp->execs.nelts) {
        e = (ngx_http_sandbox_bridge_reap_exec_t *) rp->execs.elts
            + rp->exec_cur++;

        rc = ngx_http_sandbox_bridge_orphan_owner(rp->mcf, &e->value, &node);

        if (rc == NGX_DONE) {
            ngx_http_sandbox_bridge_sweep_kill(rp, e,
                                              "its worker is gone or it is "
                                              "overdue");
            continue;
        }

        if (rc != NGX_AGAIN) {
            continue;
        }

        if (ngx_http_sandbox_bridge_orphan_key(rp->op.request->pool, rp->mcf,
                                               "node", &node, &key)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        args.argc = 0;
        args.overflow = 0;

        ngx_http_sandbox_bridge_arg_lit(&args, "EXISTS");
        ngx_http_sandbox_bridge_arg_str(&args, &key);

        return ngx_http_sandbox_bridge_redis_step(&rp->op, -1,
                                    NGX_HTTP_SANDBOX_BRIDGE_REAP_NODE_CHECKED,
                                    0, &args);
    }

    return NGX_DONE;
}


static void
ngx_http_sandbox_bridge_sweep_kill(ngx_http_sandbox_bridge_reap_t *rp,
    ngx_http_sandbox_bridge_reap_exec_t *e, const char *why)
{
    ngx_log_error(NGX_LOG_NOTICE, rp->op.request->connection->log, 0,
                  "sandbox bridge: killing a command in \"%V\": %s",
                  &e->container, why);

    if (ngx_http_sandbox_bridge_kill(rp->lcf, &rp->location, &e->container,
                                     e->marker.data, NULL)
        != NGX_OK)
    {
        return;
    }

    ngx_http_sandbox_bridge_orphan_del(rp->op.request, &e->container,
                                       e->marker.data);
}
