
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_reap.h"
#include "ngx_http_sandbox_bridge_adopt.h"
#include "ngx_http_sandbox_bridge_background.h"
#include "ngx_http_sandbox_bridge_orphan.h"
#include "ngx_http_sandbox_bridge_pool.h"
#include "ngx_http_sandbox_bridge_store.h"
#include "ngx_http_sandbox_bridge_sweep.h"
#include "ngx_http_sandbox_bridge_util.h"


/*
 * A reaper pass over one Docker host (README "Lease records and the
 * reaper"), its first half: under the host's lock, list the containers
 * this deployment labelled; one without a lease record in two
 * consecutive passes is removed. When the host's deployment marker is
 * gone from Redis (Redis lost its data), nothing is removed: the
 * records are rebuilt from the labels instead. sweep.c does the rest.
 */

/* work per pass is bounded; the next pass continues */
#define NGX_HTTP_SANDBOX_BRIDGE_LISTING_MAX  (16 * 1024 * 1024)


static void ngx_http_sandbox_bridge_reap_cleanup(void *data);
static void ngx_http_sandbox_bridge_reap(ngx_http_sandbox_bridge_op_t *op);
static ngx_int_t ngx_http_sandbox_bridge_reap_step(
    ngx_http_sandbox_bridge_reap_t *rp);
static ngx_int_t ngx_http_sandbox_bridge_reap_lock(
    ngx_http_sandbox_bridge_reap_t *rp);
static ngx_int_t ngx_http_sandbox_bridge_reap_list(
    ngx_http_sandbox_bridge_reap_t *rp);
static ngx_int_t ngx_http_sandbox_bridge_reap_listed(
    ngx_http_sandbox_bridge_reap_t *rp);
static ngx_int_t ngx_http_sandbox_bridge_reap_check(
    ngx_http_sandbox_bridge_reap_t *rp);
static ngx_int_t ngx_http_sandbox_bridge_reap_marker(
    ngx_http_sandbox_bridge_reap_t *rp, ngx_uint_t set);
static ngx_int_t ngx_http_sandbox_bridge_reap_marked(
    ngx_http_sandbox_bridge_reap_t *rp);
static ngx_int_t ngx_http_sandbox_bridge_reap_judge(
    ngx_http_sandbox_bridge_reap_t *rp,
    ngx_http_sandbox_bridge_reap_item_t *item);



ngx_int_t
ngx_http_sandbox_bridge_reap_start(ngx_http_sandbox_bridge_main_conf_t *mcf,
    ngx_http_sandbox_bridge_loc_conf_t *lcf,
    ngx_http_sandbox_bridge_host_t *host, ngx_str_t *worker,
    ngx_uint_t *running)
{
    ngx_pool_t                      *pool;
    ngx_pool_cleanup_t              *cln;
    ngx_http_sandbox_bridge_reap_t  *rp;

    rp = ngx_http_sandbox_bridge_job(lcf,
                                     sizeof(ngx_http_sandbox_bridge_reap_t),
                                     ngx_http_sandbox_bridge_reap);
    if (rp == NULL) {
        return NGX_ERROR;
    }

    pool = rp->op.request->pool;

    cln = ngx_pool_cleanup_add(pool, 0);

    if (cln == NULL
        || ngx_array_init(&rp->containers, pool, 16,
                          sizeof(ngx_http_sandbox_bridge_reap_item_t))
           != NGX_OK
        || ngx_array_init(&rp->stale, pool, 16, sizeof(ngx_str_t))
           != NGX_OK
        || ngx_array_init(&rp->execs, pool, 16,
                          sizeof(ngx_http_sandbox_bridge_reap_exec_t))
           != NGX_OK)
    {
        ngx_http_sandbox_bridge_job_cancel(&rp->op);
        return NGX_ERROR;
    }

    /* however the pass ends, the next one may start */
    cln->handler = ngx_http_sandbox_bridge_reap_cleanup;
    cln->data = rp;

    rp->mcf = mcf;
    rp->lcf = lcf;
    rp->host = host->name;
    rp->location = host->location;
    rp->placement = !lcf->hosts->simple;
    rp->worker = worker;
    rp->running = running;
    (*running)++;

    ngx_http_sandbox_bridge_job_start(&rp->op);

    return NGX_OK;
}


static void
ngx_http_sandbox_bridge_reap_cleanup(void *data)
{
    ngx_http_sandbox_bridge_reap_t  *rp = data;

    json_decref(rp->list);
    rp->list = NULL;

    (*rp->running)--;
}


static void
ngx_http_sandbox_bridge_reap(ngx_http_sandbox_bridge_op_t *op)
{
    if (ngx_http_sandbox_bridge_reap_step(
                                  (ngx_http_sandbox_bridge_reap_t *) op)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_finalize(op, NGX_OK);
    }
}


/* NGX_OK: a step is under way; else the pass is over */

static ngx_int_t
ngx_http_sandbox_bridge_reap_step(ngx_http_sandbox_bridge_reap_t *rp)
{
    redisReply                           *reply;
    ngx_http_sandbox_bridge_reap_item_t  *item;

    reply = rp->op.reply;

    switch ((ngx_http_sandbox_bridge_reap_state_e) rp->op.state) {

    case NGX_HTTP_SANDBOX_BRIDGE_REAP_LOCK:
        return ngx_http_sandbox_bridge_reap_lock(rp);

    case NGX_HTTP_SANDBOX_BRIDGE_REAP_LOCKED:
        if (reply == NULL || reply->type != REDIS_REPLY_STATUS) {
            /* another worker holds the lock, or Redis is down */
            return NGX_DONE;
        }

        return ngx_http_sandbox_bridge_reap_list(rp);

    case NGX_HTTP_SANDBOX_BRIDGE_REAP_LISTED:
        return ngx_http_sandbox_bridge_reap_listed(rp);

    case NGX_HTTP_SANDBOX_BRIDGE_REAP_COUNTED:
        if (reply == NULL
            || (reply->type != REDIS_REPLY_STRING
                && reply->type != REDIS_REPLY_NIL)
            || reply->len >= sizeof(rp->pass))
        {
            return NGX_DONE;
        }

        /* the previous pass's time, "0" if none is known */
        rp->pass_len = (reply->type == REDIS_REPLY_STRING && reply->len)
                       ? (size_t) (ngx_cpymem(rp->pass, reply->str,
                                              reply->len) - rp->pass)
                       : (size_t) (ngx_cpymem(rp->pass, "0", 1) - rp->pass);

        return ngx_http_sandbox_bridge_reap_marker(rp, 0);

    case NGX_HTTP_SANDBOX_BRIDGE_REAP_MARKED:
        return ngx_http_sandbox_bridge_reap_marked(rp);

    case NGX_HTTP_SANDBOX_BRIDGE_REAP_CHECKED:
        if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
            return NGX_DONE;
        }

        return ngx_http_sandbox_bridge_reap_check(rp);

    case NGX_HTTP_SANDBOX_BRIDGE_REAP_MARKER_SET:
        return ngx_http_sandbox_bridge_sweep_execs(rp);

    case NGX_HTTP_SANDBOX_BRIDGE_REAP_EXECS_LISTED:
        return ngx_http_sandbox_bridge_sweep_execs_listed(rp);

    case NGX_HTTP_SANDBOX_BRIDGE_REAP_NODE_CHECKED:
        return ngx_http_sandbox_bridge_sweep_node_checked(rp);

    case NGX_HTTP_SANDBOX_BRIDGE_REAP_REMOVED:
        if (rp->call.status == NGX_HTTP_NO_CONTENT
            || rp->call.status == NGX_HTTP_NOT_FOUND)
        {
            item = (ngx_http_sandbox_bridge_reap_item_t *) rp->containers.elts
                   + rp->next - 1;

            ngx_http_sandbox_bridge_log_lease(rp->op.request, "reaped",
                                              &item->id, &rp->host);
        }

        return ngx_http_sandbox_bridge_reap_check(rp);

    case NGX_HTTP_SANDBOX_BRIDGE_REAP_SCANNED:
        return ngx_http_sandbox_bridge_sweep_scanned(rp);

    case NGX_HTTP_SANDBOX_BRIDGE_REAP_FORGOT:
        return ngx_http_sandbox_bridge_sweep_forgot(rp);
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_sandbox_bridge_reap_lock(ngx_http_sandbox_bridge_reap_t *rp)
{
    ngx_http_sandbox_bridge_args_t  args;
    u_char                          key[512], px[NGX_INT_T_LEN];

    args.argc = 0;
    args.overflow = 0;

    if (rp->mcf->redis_prefix.len + rp->host.len + 32 > sizeof(key)) {
        return NGX_ERROR;
    }

    ngx_http_sandbox_bridge_arg_lit(&args, "SET");
    ngx_http_sandbox_bridge_arg(&args, key,
                                ngx_sprintf(key, "%Vreaper:lock:{%V}",
                                            &rp->mcf->redis_prefix, &rp->host)
                                - key);
    ngx_http_sandbox_bridge_arg_str(&args, rp->worker);
    ngx_http_sandbox_bridge_arg_lit(&args, "NX");
    ngx_http_sandbox_bridge_arg_lit(&args, "PX");
    ngx_http_sandbox_bridge_arg(&args, px,
                                ngx_sprintf(px, "%M",
                                            rp->mcf->reaper_interval)
                                - px);

    return ngx_http_sandbox_bridge_redis_step(&rp->op, -1,
                                        NGX_HTTP_SANDBOX_BRIDGE_REAP_LOCKED,
                                        0, &args);
}


/* every container this deployment labelled, running or not */

static ngx_int_t
ngx_http_sandbox_bridge_reap_list(ngx_http_sandbox_bridge_reap_t *rp)
{
    u_char     *p, *last;
    size_t      i;
    ngx_str_t   filter;

    static u_char  hex[] = "0123456789ABCDEF";
    static const char  head[] = "{\"label\":[\"paperclip.bridge.prefix=";
    static const char  tail[] = "\"]}";

    /* the filter, percent-encoded whole: the prefix may hold + or & */
    filter.data = ngx_pnalloc(rp->op.request->pool,
                              3 * (sizeof(head) + rp->mcf->redis_prefix.len
                                   + sizeof(tail)));
    if (filter.data == NULL) {
        return NGX_ERROR;
    }

    p = filter.data;

#define ngx_http_sandbox_bridge_pct(s, n)                                     \
    for (i = 0; i < (n); i++) {                                               \
        if (isalnum((s)[i]) || (s)[i] == '-' || (s)[i] == '_'                 \
            || (s)[i] == '.')                                                 \
        {                                                                     \
            *p++ = (s)[i];                                                    \
        } else {                                                              \
            *p++ = '%';                                                       \
            *p++ = hex[(u_char) (s)[i] >> 4];                                 \
            *p++ = hex[(u_char) (s)[i] & 0xf];                                \
        }                                                                     \
    }

    ngx_http_sandbox_bridge_pct(head, sizeof(head) - 1);
    ngx_http_sandbox_bridge_pct(rp->mcf->redis_prefix.data,
                                rp->mcf->redis_prefix.len);
    ngx_http_sandbox_bridge_pct(tail, sizeof(tail) - 1);

#undef ngx_http_sandbox_bridge_pct

    last = p;
    filter.len = last - filter.data;

    rp->call.limit = NGX_HTTP_SANDBOX_BRIDGE_LISTING_MAX;
    rp->listed_len = ngx_http_sandbox_bridge_now_ms(rp->listed_at)
                     - rp->listed_at;

    return ngx_http_sandbox_bridge_docker(&rp->op, &rp->call, NGX_HTTP_GET,
                                          NGX_HTTP_SANDBOX_BRIDGE_REAP_LISTED,
                                          &rp->location,
                                          "/containers/json?all=1&filters=%V",
                                          &filter);
}


static ngx_int_t
ngx_http_sandbox_bridge_reap_listed(ngx_http_sandbox_bridge_reap_t *rp)
{
    size_t                                i;
    json_t                               *list, *c, *id, *name;
    ngx_str_t                             s, n;
    ngx_pool_t                           *pool;
    ngx_http_sandbox_bridge_args_t        args;
    ngx_http_sandbox_bridge_reap_item_t  *item;
    u_char                                key[512];

    pool = rp->op.request->pool;

    list = (rp->call.status == NGX_HTTP_OK)
           ? ngx_http_sandbox_bridge_docker_reply(&rp->call) : NULL;

    if (!json_is_array(list)) {
        ngx_log_error(NGX_LOG_WARN, rp->op.request->connection->log, 0,
                      "sandbox bridge: reaper could not list the containers "
                      "of \"%V\" (status %ui%s), nothing is forgotten",
                      &rp->host, rp->call.status,
                      rp->call.truncated ? ", listing cut short"
                      : rp->call.status == NGX_HTTP_OK ? ", not a JSON list"
                      : "");
        json_decref(list);
        return NGX_DONE;
    }

    rp->list = list;

    json_array_foreach(list, i, c) {
        id = json_object_get(json_object_get(c, "Labels"),
                             "paperclip.bridge.lease");
        name = json_array_get(json_object_get(c, "Names"), 0);

        if (!json_is_string(name)) {
            continue;
        }

        /* Names are "/<name>" */
        n.data = (u_char *) json_string_value(name);
        n.len = json_string_length(name);

        if (n.len && n.data[0] == '/') {
            n.data++;
            n.len--;
        }

        if (json_is_string(id)) {
            s.data = (u_char *) json_string_value(id);
            s.len = json_string_length(id);

        } else if (ngx_http_sandbox_bridge_pool_lease(rp->mcf,
                                   json_object_get(c, "Labels"), &n, &s)
                   != NGX_OK)
        {
            /* unclaimed pool containers are the refill job's */
            continue;
        }

        item = ngx_array_push(&rp->containers);
        if (item == NULL) {
            return NGX_ERROR;
        }

        item->labels = json_object_get(c, "Labels");
        item->pool = !json_is_string(id);

        item->id.data = ngx_pstrdup(pool, &s);
        item->id.len = s.len;

        item->name.data = ngx_pstrdup(pool, &n);
        item->name.len = n.len;

        if (item->id.data == NULL || item->name.data == NULL) {
            return NGX_ERROR;
        }
    }

    /*
     * A complete listing: its time becomes the host's last pass, and the
     * one before is read back, so "two passes in a row" is known. The
     * key expires after a week without a pass; then nothing is forgotten
     * until two new passes.
     */
    args.argc = 0;
    args.overflow = 0;

    ngx_http_sandbox_bridge_arg_lit(&args, "SET");
    ngx_http_sandbox_bridge_arg(&args, key,
                                ngx_snprintf(key, sizeof(key),
                                             "%Vreaper:pass:{%V}",
                                             &rp->mcf->redis_prefix,
                                             &rp->host)
                                - key);
    ngx_http_sandbox_bridge_arg(&args, rp->listed_at, rp->listed_len);
    ngx_http_sandbox_bridge_arg_lit(&args, "PX");
    ngx_http_sandbox_bridge_arg_lit(&args, "604800000");
    ngx_http_sandbox_bridge_arg_lit(&args, "GET");

    return ngx_http_sandbox_bridge_redis_step(&rp->op, -1,
                                        NGX_HTTP_SANDBOX_BRIDGE_REAP_COUNTED,
                                        0, &args);
}


/*
 * A container whose lease record is gone (expired, deleted) in two
 * passes is removed; with the marker gone its record is rebuilt instead.
 */

static ngx_int_t
ngx_http_sandbox_bridge_reap_check(ngx_http_sandbox_bridge_reap_t *rp)
{
    ngx_http_sandbox_bridge_reap_item_t  *item;

    if (rp->op.state == NGX_HTTP_SANDBOX_BRIDGE_REAP_CHECKED
        && rp->adopting && rp->op.reply->integer == 1)
    {
        item = (ngx_http_sandbox_bridge_reap_item_t *) rp->containers.elts
               + rp->next - 1;

        if (rp->adopted++ == 0) {
            ngx_log_error(NGX_LOG_ALERT, rp->op.request->connection->log, 0,
                          "sandbox bridge: the deployment marker of \"%V\" "
                          "is gone from Redis and lease records are missing "
                          "(Redis lost its data?): no container is removed, "
                          "the records are rebuilt from the containers' "
                          "labels", &rp->host);
        }

        ngx_log_error(NGX_LOG_NOTICE, rp->op.request->connection->log, 0,
                      "sandbox bridge: adopted container \"%V\" of lease "
                      "\"%V\" back", &item->name, &item->id);

        ngx_http_sandbox_bridge_log_lease(rp->op.request, "adopted",
                                          &item->id, &rp->host);

    } else if (rp->op.state == NGX_HTTP_SANDBOX_BRIDGE_REAP_CHECKED
               && rp->adopting && rp->op.reply->integer == 2)
    {
        /* first seen without a record: maybe a release in progress */
        rp->waiting++;

    } else if (rp->op.state == NGX_HTTP_SANDBOX_BRIDGE_REAP_CHECKED
               && !rp->adopting && rp->op.reply->integer == 1)
    {
        item = (ngx_http_sandbox_bridge_reap_item_t *) rp->containers.elts
               + rp->next - 1;

        ngx_log_error(NGX_LOG_NOTICE, rp->op.request->connection->log, 0,
                      "sandbox bridge: reaping container \"%V\" of lease "
                      "\"%V\"", &item->name, &item->id);

        rp->removed++;
        rp->call.limit = 0;

        return ngx_http_sandbox_bridge_docker(&rp->op, &rp->call,
                                        NGX_HTTP_DELETE,
                                        NGX_HTTP_SANDBOX_BRIDGE_REAP_REMOVED,
                                        &rp->location,
                                        "/containers/%V?force=true&v=true",
                                        &item->name);
    }

    if (rp->next >= rp->containers.nelts
        || rp->removed >= NGX_HTTP_SANDBOX_BRIDGE_REAP_MAX)
    {
        if (rp->adopting && rp->waiting == 0) {
            /* every record is back: the marker may be set again */
            return ngx_http_sandbox_bridge_reap_marker(rp, 1);
        }

        if (rp->adopting) {
            return ngx_http_sandbox_bridge_sweep_execs(rp);
        }

        return ngx_http_sandbox_bridge_sweep_scan(rp);
    }

    item = (ngx_http_sandbox_bridge_reap_item_t *) rp->containers.elts
           + rp->next++;

    return ngx_http_sandbox_bridge_reap_judge(rp, item);
}


/*
 * The host's deployment marker, "<prefix>deployment:{<host>}": set by the
 * first pass, it vanishes only when Redis lost its data (or after a week
 * without a pass). Without it no record's absence means anything, so
 * nothing is removed.
 */

static ngx_int_t
ngx_http_sandbox_bridge_reap_marker(ngx_http_sandbox_bridge_reap_t *rp,
    ngx_uint_t set)
{
    ngx_str_t                       key;
    ngx_http_sandbox_bridge_args_t  args;

    if (ngx_http_sandbox_bridge_orphan_key(rp->op.request->pool, rp->mcf,
                                           "deployment", &rp->host, &key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    args.argc = 0;
    args.overflow = 0;

    /* like the pass key, it lasts a week after the last pass */
    if (!set) {
        ngx_http_sandbox_bridge_arg_lit(&args, "GETEX");
        ngx_http_sandbox_bridge_arg_str(&args, &key);
        ngx_http_sandbox_bridge_arg_lit(&args, "PX");
        ngx_http_sandbox_bridge_arg_lit(&args, "604800000");

        return ngx_http_sandbox_bridge_redis_step(&rp->op, -1,
                                        NGX_HTTP_SANDBOX_BRIDGE_REAP_MARKED,
                                        0, &args);
    }

    ngx_http_sandbox_bridge_arg_lit(&args, "SET");
    ngx_http_sandbox_bridge_arg_str(&args, &key);
    ngx_http_sandbox_bridge_arg(&args, rp->listed_at, rp->listed_len);
    ngx_http_sandbox_bridge_arg_lit(&args, "NX");
    ngx_http_sandbox_bridge_arg_lit(&args, "PX");
    ngx_http_sandbox_bridge_arg_lit(&args, "604800000");

    return ngx_http_sandbox_bridge_redis_step(&rp->op, -1,
                                    NGX_HTTP_SANDBOX_BRIDGE_REAP_MARKER_SET,
                                    0, &args);
}


static ngx_int_t
ngx_http_sandbox_bridge_reap_marked(ngx_http_sandbox_bridge_reap_t *rp)
{
    redisReply  *reply;

    reply = rp->op.reply;

    if (reply == NULL
        || (reply->type != REDIS_REPLY_NIL
            && reply->type != REDIS_REPLY_STRING))
    {
        return NGX_DONE;
    }

    /* set by no pass yet, or lost: the first adoption tells */
    rp->adopting = (reply->type == REDIS_REPLY_NIL);

    return ngx_http_sandbox_bridge_reap_check(rp);
}


/* ADOPT rebuilds a missing record; ORPHAN says whether to remove */

static ngx_int_t
ngx_http_sandbox_bridge_reap_judge(ngx_http_sandbox_bridge_reap_t *rp,
    ngx_http_sandbox_bridge_reap_item_t *item)
{
    ngx_str_t                       key, mark;
    ngx_http_sandbox_bridge_args_t  args;
    u_char                          now[NGX_INT64_LEN];
    u_char                          ttl[NGX_INT64_LEN];

    if (ngx_http_sandbox_bridge_lease_key(rp->op.request->pool, rp->mcf,
                                          &item->id, &key)
        != NGX_OK
        || ngx_http_sandbox_bridge_orphan_key(rp->op.request->pool, rp->mcf,
                                              "orphan", &item->id, &mark)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    args.argc = 0;
    args.overflow = 0;

    ngx_http_sandbox_bridge_arg_str(&args, &key);

    /* this pass is named by its listing time */
    ngx_http_sandbox_bridge_arg_str(&args, &mark);
    ngx_http_sandbox_bridge_arg(&args, rp->listed_at, rp->listed_len);
    ngx_http_sandbox_bridge_arg(&args, ttl,
                                ngx_sprintf(ttl, "%M",
                                            4 * rp->mcf->reaper_interval)
                                - ttl);

    if (rp->adopting && item->pool) {
        /* a claimed pool container's labels do not name its owner */
        rp->op.state = NGX_HTTP_SANDBOX_BRIDGE_REAP_MARKED;
        return ngx_http_sandbox_bridge_reap_check(rp);
    }

    if (rp->adopting) {
        ngx_http_sandbox_bridge_arg(&args, now,
                                    ngx_http_sandbox_bridge_now_ms(now)
                                    - now);
        ngx_http_sandbox_bridge_arg_str(&args, &item->name);
        ngx_http_sandbox_bridge_arg_str(&args, &rp->host);
        ngx_http_sandbox_bridge_arg(&args, rp->placement ? "1" : "0", 1);
        ngx_http_sandbox_bridge_arg_str(&args, &rp->mcf->redis_prefix);
        ngx_http_sandbox_bridge_adopt_fields(&args, item->labels);

        return ngx_http_sandbox_bridge_redis_step(&rp->op,
                                        NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_ADOPT,
                                        NGX_HTTP_SANDBOX_BRIDGE_REAP_CHECKED,
                                        2, &args);
    }

    return ngx_http_sandbox_bridge_redis_step(&rp->op,
                                        NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_ORPHAN,
                                        NGX_HTTP_SANDBOX_BRIDGE_REAP_CHECKED,
                                        2, &args);
}
