
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_census.h"
#include "ngx_http_sandbox_bridge_background.h"
#include "ngx_http_sandbox_bridge_metrics.h"
#include "ngx_http_sandbox_bridge_store.h"


/*
 * The lease census for sandbox_bridge_leases{state}: a background job
 * that counts the lease records in Redis by state (SCAN steps of the
 * "count" script) and stores the result in the metrics zone. Every
 * worker ticks; the zone lets one of them per refresh interval run it,
 * so a scrape never waits for Redis.
 */

#define NGX_HTTP_SANDBOX_BRIDGE_CENSUS_STEPS  1000


typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_CENSUS_SCAN = NGX_HTTP_SANDBOX_BRIDGE_START,
    NGX_HTTP_SANDBOX_BRIDGE_CENSUS_COUNTED
} ngx_http_sandbox_bridge_census_state_e;


typedef struct {
    ngx_http_sandbox_bridge_op_t          op;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    ngx_uint_t                            steps;
    ngx_atomic_uint_t                     counts[
                                     NGX_HTTP_SANDBOX_BRIDGE_LEASES_NSTATES];
    u_char                                cursor[NGX_INT64_LEN + 1];
    size_t                                cursor_len;
} ngx_http_sandbox_bridge_census_t;


/* per worker */
static ngx_event_t  ngx_http_sandbox_bridge_census_ev;
static ngx_uint_t   ngx_http_sandbox_bridge_census_running;


static void ngx_http_sandbox_bridge_census_tick(ngx_event_t *ev);
static void ngx_http_sandbox_bridge_census_arm(ngx_msec_t t);
static void ngx_http_sandbox_bridge_census(ngx_http_sandbox_bridge_op_t *op);
static ngx_int_t ngx_http_sandbox_bridge_census_scan(
    ngx_http_sandbox_bridge_census_t *cs);
static ngx_int_t ngx_http_sandbox_bridge_census_counted(
    ngx_http_sandbox_bridge_census_t *cs);
static void ngx_http_sandbox_bridge_census_cleanup(void *data);
static ngx_msec_t ngx_http_sandbox_bridge_census_interval(
    ngx_http_sandbox_bridge_main_conf_t *mcf);
static ngx_int_t ngx_http_sandbox_bridge_census_due(
    ngx_http_sandbox_bridge_main_conf_t *mcf);
static void ngx_http_sandbox_bridge_census_store(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_atomic_uint_t *counts);


ngx_int_t
ngx_http_sandbox_bridge_census_init(ngx_cycle_t *cycle,
    ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    ngx_event_t  *ev;

    if (ngx_http_sandbox_bridge_census_interval(mcf) == 0
        || mcf->bridges.nelts == 0)
    {
        return NGX_OK;
    }

    ev = &ngx_http_sandbox_bridge_census_ev;
    ngx_memzero(ev, sizeof(ngx_event_t));

    ev->handler = ngx_http_sandbox_bridge_census_tick;
    ev->data = mcf;
    ev->log = cycle->log;
    ev->cancelable = 1;

    ngx_http_sandbox_bridge_census_running = 0;

    /* soon after start, once Redis is likely connected */
    ngx_http_sandbox_bridge_census_arm(500);

    return NGX_OK;
}


void
ngx_http_sandbox_bridge_census_exit(void)
{
    if (ngx_http_sandbox_bridge_census_ev.timer_set) {
        ngx_del_timer(&ngx_http_sandbox_bridge_census_ev);
    }
}


static void
ngx_http_sandbox_bridge_census_arm(ngx_msec_t t)
{
    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(&ngx_http_sandbox_bridge_census_ev,
                  t + (ngx_msec_t) ngx_random() % (t / 2 + 1));
}


static void
ngx_http_sandbox_bridge_census_tick(ngx_event_t *ev)
{
    ngx_http_sandbox_bridge_main_conf_t *mcf = ev->data;

    ngx_pool_t                           *pool;
    ngx_pool_cleanup_t                   *cln;
    ngx_http_sandbox_bridge_census_t     *cs;
    ngx_http_sandbox_bridge_loc_conf_t  **bridges;

    /* a few ticks per interval: the count is at most that late */
    ngx_http_sandbox_bridge_census_arm(
                ngx_http_sandbox_bridge_census_interval(mcf) / 4);

    if (ngx_http_sandbox_bridge_census_running
        || !ngx_http_sandbox_bridge_census_due(mcf))
    {
        return;
    }

    bridges = mcf->bridges.elts;

    cs = ngx_http_sandbox_bridge_job(bridges[0],
                                     sizeof(ngx_http_sandbox_bridge_census_t),
                                     ngx_http_sandbox_bridge_census);
    if (cs == NULL) {
        return;
    }

    pool = cs->op.request->pool;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        ngx_http_sandbox_bridge_job_cancel(&cs->op);
        return;
    }

    cln->handler = ngx_http_sandbox_bridge_census_cleanup;
    cln->data = NULL;

    cs->mcf = mcf;
    ngx_http_sandbox_bridge_census_running = 1;

    ngx_http_sandbox_bridge_job_start(&cs->op);
}


static void
ngx_http_sandbox_bridge_census_cleanup(void *data)
{
    ngx_http_sandbox_bridge_census_running = 0;
}


static void
ngx_http_sandbox_bridge_census(ngx_http_sandbox_bridge_op_t *op)
{
    ngx_int_t                          rc;
    ngx_http_sandbox_bridge_census_t  *cs;

    cs = (ngx_http_sandbox_bridge_census_t *) op;

    switch ((ngx_http_sandbox_bridge_census_state_e) op->state) {

    case NGX_HTTP_SANDBOX_BRIDGE_CENSUS_SCAN:
        rc = ngx_http_sandbox_bridge_census_scan(cs);
        break;

    case NGX_HTTP_SANDBOX_BRIDGE_CENSUS_COUNTED:
        rc = ngx_http_sandbox_bridge_census_counted(cs);
        break;

    default:
        rc = NGX_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_http_sandbox_bridge_finalize(op, NGX_OK);
    }
}


static ngx_int_t
ngx_http_sandbox_bridge_census_scan(ngx_http_sandbox_bridge_census_t *cs)
{
    u_char                          *p;
    ngx_http_sandbox_bridge_args_t   args;
    u_char                           match[512];

    p = ngx_http_sandbox_bridge_scan_pattern(match, match + sizeof(match),
                                             &cs->mcf->redis_prefix);
    if (p == NULL) {
        return NGX_ERROR;
    }

    args.argc = 0;
    args.overflow = 0;

    if (cs->cursor_len) {
        ngx_http_sandbox_bridge_arg(&args, cs->cursor, cs->cursor_len);

    } else {
        ngx_http_sandbox_bridge_arg_lit(&args, "0");
    }

    ngx_http_sandbox_bridge_arg(&args, match, p - match);
    ngx_http_sandbox_bridge_arg_lit(&args, "500");

    cs->steps++;

    return ngx_http_sandbox_bridge_redis_step(&cs->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_COUNT,
                                     NGX_HTTP_SANDBOX_BRIDGE_CENSUS_COUNTED,
                                     0, &args);
}


/* {cursor, creating, ready, other}; the gauge changes on a whole count */

static ngx_int_t
ngx_http_sandbox_bridge_census_counted(ngx_http_sandbox_bridge_census_t *cs)
{
    ngx_uint_t   i;
    redisReply  *reply, *e;

    reply = cs->op.reply;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 1 + NGX_HTTP_SANDBOX_BRIDGE_LEASES_NSTATES
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[0]->len == 0
        || reply->element[0]->len > NGX_INT64_LEN)
    {
        return NGX_DONE;
    }

    for (i = 0; i < NGX_HTTP_SANDBOX_BRIDGE_LEASES_NSTATES; i++) {
        e = reply->element[i + 1];

        if (e->type != REDIS_REPLY_INTEGER || e->integer < 0) {
            return NGX_DONE;
        }

        cs->counts[i] += (ngx_atomic_uint_t) e->integer;
    }

    cs->cursor_len = reply->element[0]->len;
    ngx_memcpy(cs->cursor, reply->element[0]->str, cs->cursor_len);

    if (cs->cursor_len == 1 && cs->cursor[0] == '0') {
        ngx_http_sandbox_bridge_census_store(cs->mcf, cs->counts);
        return NGX_DONE;
    }

    if (cs->steps >= NGX_HTTP_SANDBOX_BRIDGE_CENSUS_STEPS) {
        ngx_log_error(NGX_LOG_WARN, cs->op.request->connection->log, 0,
                      "sandbox bridge: lease census cut after %ui steps",
                      cs->steps);
        return NGX_DONE;
    }

    return ngx_http_sandbox_bridge_census_scan(cs);
}


/* the lease gauge: one refresh per interval among this node's workers */

static ngx_msec_t
ngx_http_sandbox_bridge_census_interval(
    ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    if (mcf->metrics == NULL || mcf->metrics->sh == NULL) {
        return 0;
    }

    return mcf->metrics->refresh;
}


/* 1: this worker recounts the leases now; the others wait an interval */

static ngx_int_t
ngx_http_sandbox_bridge_census_due(ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    ngx_time_t                            *tp;
    ngx_atomic_uint_t                      now, at;
    ngx_http_sandbox_bridge_metrics_sh_t  *sh;

    if (mcf->metrics == NULL || mcf->metrics->sh == NULL) {
        return 0;
    }

    sh = mcf->metrics->sh;
    tp = ngx_timeofday();
    now = (ngx_atomic_uint_t) tp->sec * 1000 + tp->msec;
    at = sh->refresh_at;

    if (now < at) {
        return 0;
    }

    return ngx_atomic_cmp_set(&sh->refresh_at, at,
                              now + mcf->metrics->refresh);
}


static void
ngx_http_sandbox_bridge_census_store(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_atomic_uint_t *counts)
{
    ngx_uint_t  i;

    if (mcf->metrics == NULL || mcf->metrics->sh == NULL) {
        return;
    }

    for (i = 0; i < NGX_HTTP_SANDBOX_BRIDGE_LEASES_NSTATES; i++) {
        mcf->metrics->sh->leases[i] = counts[i];
    }

    (void) ngx_atomic_fetch_add(&mcf->metrics->sh->refreshes, 1);
}
