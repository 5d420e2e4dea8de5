
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_reaper.h"
#include "ngx_http_sandbox_bridge_adopt.h"
#include "ngx_http_sandbox_bridge_background.h"
#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_kill.h"
#include "ngx_http_sandbox_bridge_orphan.h"
#include "ngx_http_sandbox_bridge_store.h"
#include "ngx_http_sandbox_bridge_util.h"
#include "ngx_http_sandbox_bridge_hosts.h"


/*
 * The reaper (README "Reaper"): per Docker host, one pass at a time in
 * the whole deployment (a Redis lock per host). A pass lists the host's
 * containers; a container without a lease record in two consecutive
 * passes is removed; a ready lease placed on that host whose container
 * two consecutive complete listings did not show is forgotten. A failed,
 * cut or unparsable listing forgets nothing. When the host's deployment
 * marker is gone from Redis (Redis lost its data), nothing is removed:
 * the containers' records are rebuilt from their labels instead. Last,
 * the commands of dead workers are killed (exec records, orphan.c).
 */

/* work per pass is bounded; the next pass continues */
#define NGX_HTTP_SANDBOX_BRIDGE_REAP_MAX     64
#define NGX_HTTP_SANDBOX_BRIDGE_SCAN_MAX     32
#define NGX_HTTP_SANDBOX_BRIDGE_LISTING_MAX  (16 * 1024 * 1024)
#define NGX_HTTP_SANDBOX_BRIDGE_EXECS_MAX    256


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
    /* the host's name (locks, records, logs) and its Docker location */
    ngx_str_t                             host;
    ngx_str_t                             location;
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


/* per worker */
static ngx_event_t   ngx_http_sandbox_bridge_reaper_ev;
static ngx_uint_t    ngx_http_sandbox_bridge_reaper_running;
static ngx_str_t     ngx_http_sandbox_bridge_worker_id;


static void ngx_http_sandbox_bridge_reaper_handler(ngx_event_t *ev);
static void ngx_http_sandbox_bridge_reaper_arm(
    ngx_http_sandbox_bridge_main_conf_t *mcf);
static ngx_uint_t ngx_http_sandbox_bridge_reaper_seen(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_uint_t b, ngx_uint_t k);
static void ngx_http_sandbox_bridge_reaper_start(
    ngx_http_sandbox_bridge_main_conf_t *mcf,
    ngx_http_sandbox_bridge_loc_conf_t *lcf,
    ngx_http_sandbox_bridge_host_t *host);
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
static ngx_int_t ngx_http_sandbox_bridge_reap_scan(
    ngx_http_sandbox_bridge_reap_t *rp);
static ngx_int_t ngx_http_sandbox_bridge_reap_scanned(
    ngx_http_sandbox_bridge_reap_t *rp);
static ngx_int_t ngx_http_sandbox_bridge_reap_forget(
    ngx_http_sandbox_bridge_reap_t *rp);
static ngx_int_t ngx_http_sandbox_bridge_reap_marker(
    ngx_http_sandbox_bridge_reap_t *rp, ngx_uint_t set);
static ngx_int_t ngx_http_sandbox_bridge_reap_marked(
    ngx_http_sandbox_bridge_reap_t *rp);
static ngx_int_t ngx_http_sandbox_bridge_reap_judge(
    ngx_http_sandbox_bridge_reap_t *rp,
    ngx_http_sandbox_bridge_reap_item_t *item);
static ngx_int_t ngx_http_sandbox_bridge_reap_execs(
    ngx_http_sandbox_bridge_reap_t *rp);
static ngx_int_t ngx_http_sandbox_bridge_reap_execs_listed(
    ngx_http_sandbox_bridge_reap_t *rp);
static ngx_int_t ngx_http_sandbox_bridge_reap_owners(
    ngx_http_sandbox_bridge_reap_t *rp);
static void ngx_http_sandbox_bridge_reap_kill(
    ngx_http_sandbox_bridge_reap_t *rp,
    ngx_http_sandbox_bridge_reap_exec_t *e, const char *why);
static void ngx_http_sandbox_bridge_reaper_cleanup(void *data);


ngx_int_t
ngx_http_sandbox_bridge_reaper_init(ngx_cycle_t *cycle,
    ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    u_char       *p;
    ngx_event_t  *ev;

    p = ngx_pnalloc(cycle->pool, cycle->hostname.len + NGX_INT_T_LEN + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_http_sandbox_bridge_worker_id.data = p;
    ngx_http_sandbox_bridge_worker_id.len =
                     ngx_sprintf(p, "%V:%P", &cycle->hostname, ngx_pid) - p;

    ev = &ngx_http_sandbox_bridge_reaper_ev;
    ngx_memzero(ev, sizeof(ngx_event_t));

    ev->handler = ngx_http_sandbox_bridge_reaper_handler;
    ev->data = mcf;
    ev->log = cycle->log;
    ev->cancelable = 1;

    ngx_http_sandbox_bridge_reaper_running = 0;
    ngx_http_sandbox_bridge_reaper_arm(mcf);

    return NGX_OK;
}


void
ngx_http_sandbox_bridge_reaper_exit(void)
{
    if (ngx_http_sandbox_bridge_reaper_ev.timer_set) {
        ngx_del_timer(&ngx_http_sandbox_bridge_reaper_ev);
    }
}


static void
ngx_http_sandbox_bridge_reaper_arm(ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    ngx_msec_t  t;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    /* jitter spreads the workers' attempts on the lock */
    t = mcf->reaper_interval / 2
        + (ngx_msec_t) ngx_random() % (mcf->reaper_interval / 2 + 1);

    ngx_add_timer(&ngx_http_sandbox_bridge_reaper_ev, t);
}


/* one pass per Docker host (by name) that some bridge uses */

static void
ngx_http_sandbox_bridge_reaper_handler(ngx_event_t *ev)
{
    ngx_http_sandbox_bridge_main_conf_t  *mcf = ev->data;

    ngx_uint_t                           i, k;
    ngx_http_sandbox_bridge_host_t      *h;
    ngx_http_sandbox_bridge_loc_conf_t  **bridges;

    ngx_http_sandbox_bridge_reaper_arm(mcf);
    ngx_http_sandbox_bridge_orphan_heartbeat(mcf);

    if (ngx_http_sandbox_bridge_reaper_running) {
        return;
    }

    bridges = mcf->bridges.elts;

    for (i = 0; i < mcf->bridges.nelts; i++) {
        if (bridges[i]->hosts == NULL) {
            continue;
        }

        h = bridges[i]->hosts->hosts.elts;

        for (k = 0; k < bridges[i]->hosts->hosts.nelts; k++) {
            if (!ngx_http_sandbox_bridge_reaper_seen(mcf, i, k)) {
                ngx_http_sandbox_bridge_reaper_start(mcf, bridges[i], &h[k]);
            }
        }
    }
}


/* host k of bridge b has a name that an earlier bridge or host had */

static ngx_uint_t
ngx_http_sandbox_bridge_reaper_seen(ngx_http_sandbox_bridge_main_conf_t *mcf,
    ngx_uint_t b, ngx_uint_t k)
{
    ngx_str_t                           *name;
    ngx_uint_t                           i, j, n;
    ngx_http_sandbox_bridge_host_t      *h;
    ngx_http_sandbox_bridge_loc_conf_t  **bridges;

    bridges = mcf->bridges.elts;
    name = &((ngx_http_sandbox_bridge_host_t *)
             bridges[b]->hosts->hosts.elts)[k].name;

    for (i = 0; i <= b; i++) {
        if (bridges[i]->hosts == NULL) {
            continue;
        }

        h = bridges[i]->hosts->hosts.elts;
        n = (i == b) ? k : bridges[i]->hosts->hosts.nelts;

        for (j = 0; j < n; j++) {
            if (h[j].name.len == name->len
                && ngx_strncmp(h[j].name.data, name->data, name->len) == 0)
            {
                return 1;
            }
        }
    }

    return 0;
}


static void
ngx_http_sandbox_bridge_reaper_start(ngx_http_sandbox_bridge_main_conf_t *mcf,
    ngx_http_sandbox_bridge_loc_conf_t *lcf,
    ngx_http_sandbox_bridge_host_t *host)
{
    ngx_pool_t                      *pool;
    ngx_pool_cleanup_t              *cln;
    ngx_http_sandbox_bridge_reap_t  *rp;

    rp = ngx_http_sandbox_bridge_job(lcf,
                                     sizeof(ngx_http_sandbox_bridge_reap_t),
                                     ngx_http_sandbox_bridge_reap);
    if (rp == NULL) {
        return;
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
        return;
    }

    /* however the pass ends, the next one may start */
    cln->handler = ngx_http_sandbox_bridge_reaper_cleanup;
    cln->data = rp;

    rp->mcf = mcf;
    rp->lcf = lcf;
    rp->host = host->name;
    rp->location = host->location;
    ngx_http_sandbox_bridge_reaper_running++;

    ngx_http_sandbox_bridge_job_start(&rp->op);
}


static void
ngx_http_sandbox_bridge_reaper_cleanup(void *data)
{
    ngx_http_sandbox_bridge_reap_t  *rp = data;

    json_decref(rp->list);
    rp->list = NULL;

    ngx_http_sandbox_bridge_reaper_running--;
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
    size_t                                plen;
    ngx_str_t                            *stale, id;
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
        return ngx_http_sandbox_bridge_reap_execs(rp);

    case NGX_HTTP_SANDBOX_BRIDGE_REAP_EXECS_LISTED:
        return ngx_http_sandbox_bridge_reap_execs_listed(rp);

    case NGX_HTTP_SANDBOX_BRIDGE_REAP_NODE_CHECKED:
        if (reply && reply->type == REDIS_REPLY_INTEGER
            && reply->integer == 0)
        {
            ngx_http_sandbox_bridge_reap_kill(rp,
                    (ngx_http_sandbox_bridge_reap_exec_t *) rp->execs.elts
                    + rp->exec_cur - 1, "its node has no heartbeat");
        }

        return ngx_http_sandbox_bridge_reap_owners(rp);

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
        return ngx_http_sandbox_bridge_reap_scanned(rp);

    case NGX_HTTP_SANDBOX_BRIDGE_REAP_FORGOT:
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

        return ngx_http_sandbox_bridge_reap_forget(rp);
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
    ngx_http_sandbox_bridge_arg_str(&args, &ngx_http_sandbox_bridge_worker_id);
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
    ngx_str_t                             s;
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

        if (!json_is_string(id) || !json_is_string(name)) {
            continue;
        }

        item = ngx_array_push(&rp->containers);
        if (item == NULL) {
            return NGX_ERROR;
        }

        item->labels = json_object_get(c, "Labels");

        s.data = (u_char *) json_string_value(id);
        s.len = json_string_length(id);

        item->id.data = ngx_pstrdup(pool, &s);
        item->id.len = s.len;

        /* Names are "/<name>" */
        s.data = (u_char *) json_string_value(name);
        s.len = json_string_length(name);

        if (s.len && s.data[0] == '/') {
            s.data++;
            s.len--;
        }

        item->name.data = ngx_pstrdup(pool, &s);
        item->name.len = s.len;

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
            return ngx_http_sandbox_bridge_reap_execs(rp);
        }

        return ngx_http_sandbox_bridge_reap_scan(rp);
    }

    item = (ngx_http_sandbox_bridge_reap_item_t *) rp->containers.elts
           + rp->next++;

    return ngx_http_sandbox_bridge_reap_judge(rp, item);
}


/* lease records without a listed container are candidates to forget */

static ngx_int_t
ngx_http_sandbox_bridge_reap_scan(ngx_http_sandbox_bridge_reap_t *rp)
{
    u_char                          *p;
    ngx_http_sandbox_bridge_args_t   args;
    u_char                           match[512];

    if (rp->scans >= NGX_HTTP_SANDBOX_BRIDGE_SCAN_MAX
        || (rp->scans && rp->cursor.len == 1 && rp->cursor.data[0] == '0'))
    {
        return ngx_http_sandbox_bridge_reap_forget(rp);
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


static ngx_int_t
ngx_http_sandbox_bridge_reap_scanned(ngx_http_sandbox_bridge_reap_t *rp)
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

    return ngx_http_sandbox_bridge_reap_scan(rp);
}


/* the script decides: placed on this host, missed by the last pass too */

static ngx_int_t
ngx_http_sandbox_bridge_reap_forget(ngx_http_sandbox_bridge_reap_t *rp)
{
    ngx_str_t                       *stale;
    ngx_http_sandbox_bridge_args_t   args;

    if (rp->forgotten >= rp->stale.nelts) {
        return ngx_http_sandbox_bridge_reap_execs(rp);
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

    if (rp->adopting) {
        ngx_http_sandbox_bridge_arg(&args, now,
                                    ngx_http_sandbox_bridge_now_ms(now)
                                    - now);
        ngx_http_sandbox_bridge_arg_str(&args, &item->name);
        ngx_http_sandbox_bridge_arg_str(&args, &rp->host);
        ngx_http_sandbox_bridge_arg(&args, rp->lcf->hosts->simple ? "0" : "1",
                                    1);
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


/* the exec records of every listed container */

static ngx_int_t
ngx_http_sandbox_bridge_reap_execs(ngx_http_sandbox_bridge_reap_t *rp)
{
    ngx_str_t                             key;
    ngx_http_sandbox_bridge_args_t        args;
    ngx_http_sandbox_bridge_reap_item_t  *item;

    if (rp->exec_next >= rp->containers.nelts
        || rp->execs.nelts >= NGX_HTTP_SANDBOX_BRIDGE_EXECS_MAX)
    {
        return ngx_http_sandbox_bridge_reap_owners(rp);
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


static ngx_int_t
ngx_http_sandbox_bridge_reap_execs_listed(ngx_http_sandbox_bridge_reap_t *rp)
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

    return ngx_http_sandbox_bridge_reap_execs(rp);
}


/* a record whose worker is gone: its command is killed */

static ngx_int_t
ngx_http_sandbox_bridge_reap_owners(ngx_http_sandbox_bridge_reap_t *rp)
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
            ngx_http_sandbox_bridge_reap_kill(rp, e,
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
ngx_http_sandbox_bridge_reap_kill(ngx_http_sandbox_bridge_reap_t *rp,
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
