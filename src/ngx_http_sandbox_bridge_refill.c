
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_refill.h"
#include "ngx_http_sandbox_bridge_fill.h"
#include "ngx_http_sandbox_bridge_background.h"
#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_orphan.h"
#include "ngx_http_sandbox_bridge_pool.h"
#include "ngx_http_sandbox_bridge_store.h"
#include "ngx_http_sandbox_bridge_util.h"


/*
 * The warm pool's refill job (README "Warm pool"), per bridge and Docker
 * host, every sandbox_reaper_interval and after each claim: under a Redis
 * lock it tops the pool set up, forgets members that are gone, and
 * removes unclaimed pool containers of a configuration no bridge runs
 * any more (its "<prefix>pool:live:{<host>}:<hash>" key expired), ones
 * beyond the pool's size and strays left by a refill or claim cut
 * short. A bridge without a pool does that too while the host's
 * "<prefix>pool:any:{<host>}" says some bridge had one.
 */


/* per worker */
static ngx_event_t  ngx_http_sandbox_bridge_refill_ev;
static ngx_uint_t   ngx_http_sandbox_bridge_refill_running;


static void ngx_http_sandbox_bridge_refill_arm(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_msec_t t);
static void ngx_http_sandbox_bridge_refill_handler(ngx_event_t *ev);
static void ngx_http_sandbox_bridge_fill_cleanup(void *data);
static void ngx_http_sandbox_bridge_fill_run(ngx_http_sandbox_bridge_op_t *op);
static ngx_int_t ngx_http_sandbox_bridge_fill_step(
    ngx_http_sandbox_bridge_fill_t *f);
static ngx_int_t ngx_http_sandbox_bridge_refill_unlock(
    ngx_http_sandbox_bridge_fill_t *f);


/* the refill timer: soon after start, then every reaper interval */

ngx_int_t
ngx_http_sandbox_bridge_refill_init(ngx_cycle_t *cycle,
    ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    ngx_event_t  *ev;

    ev = &ngx_http_sandbox_bridge_refill_ev;
    ngx_memzero(ev, sizeof(ngx_event_t));

    ev->handler = ngx_http_sandbox_bridge_refill_handler;
    ev->data = mcf;
    ev->log = cycle->log;
    ev->cancelable = 1;

    ngx_http_sandbox_bridge_refill_running = 0;
    ngx_http_sandbox_bridge_refill_arm(mcf, 1000);

    return NGX_OK;
}


void
ngx_http_sandbox_bridge_refill_exit(void)
{
    if (ngx_http_sandbox_bridge_refill_ev.timer_set) {
        ngx_del_timer(&ngx_http_sandbox_bridge_refill_ev);
    }
}


static void
ngx_http_sandbox_bridge_refill_arm(ngx_http_sandbox_bridge_main_conf_t *mcf,
    ngx_msec_t t)
{
    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(&ngx_http_sandbox_bridge_refill_ev,
                  t / 2 + (ngx_msec_t) ngx_random() % (t / 2 + 1));
}


static void
ngx_http_sandbox_bridge_refill_handler(ngx_event_t *ev)
{
    ngx_http_sandbox_bridge_main_conf_t  *mcf = ev->data;

    ngx_uint_t                           i, k;
    ngx_http_sandbox_bridge_host_t      *h;
    ngx_http_sandbox_bridge_loc_conf_t  **bridges;

    ngx_http_sandbox_bridge_refill_arm(mcf, mcf->reaper_interval);

    if (ngx_http_sandbox_bridge_refill_running) {
        return;
    }

    bridges = mcf->bridges.elts;

    for (i = 0; i < mcf->bridges.nelts; i++) {
        if (bridges[i]->hosts == NULL) {
            continue;
        }

        h = bridges[i]->hosts->hosts.elts;

        for (k = 0; k < bridges[i]->hosts->hosts.nelts; k++) {
            ngx_http_sandbox_bridge_refill_start(bridges[i], &h[k]);
        }
    }
}


void
ngx_http_sandbox_bridge_refill_start(ngx_http_sandbox_bridge_loc_conf_t *lcf,
    ngx_http_sandbox_bridge_host_t *host)
{
    void                            **conf;
    json_t                           *body;
    ngx_pool_t                       *pool;
    ngx_pool_cleanup_t               *cln;
    ngx_http_request_t               *r;
    ngx_http_sandbox_bridge_fill_t   *f;

    f = ngx_http_sandbox_bridge_job(lcf,
                                    sizeof(ngx_http_sandbox_bridge_fill_t),
                                    ngx_http_sandbox_bridge_fill_run);
    if (f == NULL) {
        return;
    }

    r = f->op.request;
    pool = r->pool;

    /* the job makes containers as this bridge location does */
    conf = ngx_palloc(pool, sizeof(void *) * ngx_http_max_module);
    cln = ngx_pool_cleanup_add(pool, 0);

    if (conf == NULL || cln == NULL
        || ngx_array_init(&f->members, pool, 8,
                          sizeof(ngx_http_sandbox_bridge_fill_member_t))
           != NGX_OK)
    {
        ngx_http_sandbox_bridge_job_cancel(&f->op);
        return;
    }

    ngx_memcpy(conf, r->loc_conf, sizeof(void *) * ngx_http_max_module);
    conf[ngx_http_sandbox_bridge_module.ctx_index] = lcf;
    r->loc_conf = conf;

    f->mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);
    f->lcf = lcf;
    f->h = host;
    f->host = host->name;
    f->location = host->location;

    body = ngx_http_sandbox_bridge_pool_spec(r, f->hash);
    json_decref(body);

    if (body == NULL
        || ngx_http_sandbox_bridge_pool_key(pool, f->mcf, "", &f->host,
                                            f->hash, &f->set)
           != NGX_OK
        || ngx_http_sandbox_bridge_pool_key(pool, f->mcf, ":lock", &f->host,
                                            f->hash, &f->lock)
           != NGX_OK
        || ngx_http_sandbox_bridge_orphan_key(pool, f->mcf, "pool:any",
                                              &f->host, &f->any)
           != NGX_OK)
    {
        ngx_http_sandbox_bridge_job_cancel(&f->op);
        return;
    }

    cln->handler = ngx_http_sandbox_bridge_fill_cleanup;
    cln->data = f;

    ngx_http_sandbox_bridge_refill_running++;

    ngx_http_sandbox_bridge_job_start(&f->op);
}


static void
ngx_http_sandbox_bridge_fill_cleanup(void *data)
{
    ngx_http_sandbox_bridge_fill_t  *f = data;

    json_decref(f->list);
    f->list = NULL;

    ngx_http_sandbox_bridge_refill_running--;
}


static void
ngx_http_sandbox_bridge_fill_run(ngx_http_sandbox_bridge_op_t *op)
{
    ngx_http_sandbox_bridge_fill_t  *f;

    f = (ngx_http_sandbox_bridge_fill_t *) op;

    if (ngx_http_sandbox_bridge_fill_step(f) == NGX_OK) {
        return;
    }

    /* done: the lock goes, so a claim's refill may run at once */
    if (f->locked) {
        f->locked = 0;

        if (ngx_http_sandbox_bridge_refill_unlock(f) == NGX_OK) {
            return;
        }
    }

    /* every worker learns the pool's size, for health and metrics */
    if (!f->counted && f->lcf->warm_pool) {
        f->counted = 1;

        if (ngx_http_sandbox_bridge_fill_cmd(f,
                                       NGX_HTTP_SANDBOX_BRIDGE_FILL_COUNTED,
                                       "SCARD", &f->set, NULL)
            == NGX_OK)
        {
            return;
        }
    }

    ngx_http_sandbox_bridge_finalize(op, NGX_OK);
}


/* NGX_OK: a step is under way; else the job is over */

static ngx_int_t
ngx_http_sandbox_bridge_fill_step(ngx_http_sandbox_bridge_fill_t *f)
{
    ngx_str_t                        key, v;
    redisReply                      *reply;
    ngx_http_sandbox_bridge_args_t   args;
    u_char                           px[NGX_INT_T_LEN];

    static ngx_str_t  week = ngx_string("604800000");

    reply = f->op.reply;

    switch ((ngx_http_sandbox_bridge_fill_state_e) f->op.state) {

    case NGX_HTTP_SANDBOX_BRIDGE_FILL_BEGIN:
        if (f->lcf->warm_pool == 0) {
            /* no pool here: is there any on the host to clear away? */
            return ngx_http_sandbox_bridge_fill_cmd(f,
                                          NGX_HTTP_SANDBOX_BRIDGE_FILL_ANY,
                                          "EXISTS", &f->any, NULL);
        }

        /* fall through */

    case NGX_HTTP_SANDBOX_BRIDGE_FILL_ANY:
        if (f->op.state == NGX_HTTP_SANDBOX_BRIDGE_FILL_ANY
            && (reply == NULL || reply->type != REDIS_REPLY_INTEGER
                || reply->integer == 0))
        {
            return NGX_DONE;
        }

        args.argc = 0;
        args.overflow = 0;

        /* the token: only this job unlocks it (unlock.lua) */
        if (ngx_http_sandbox_bridge_random_hex(f->token, sizeof(f->token))
            != NGX_OK)
        {
            return NGX_DONE;
        }

        ngx_http_sandbox_bridge_arg_lit(&args, "SET");
        ngx_http_sandbox_bridge_arg_str(&args, &f->lock);
        ngx_http_sandbox_bridge_arg(&args, f->token, sizeof(f->token));
        ngx_http_sandbox_bridge_arg_lit(&args, "NX");
        ngx_http_sandbox_bridge_arg_lit(&args, "PX");
        ngx_http_sandbox_bridge_arg(&args, px,
                                ngx_sprintf(px, "%d",
                                       NGX_HTTP_SANDBOX_BRIDGE_REFILL_LOCK_MS)
                                - px);

        return ngx_http_sandbox_bridge_redis_step(&f->op, -1,
                                        NGX_HTTP_SANDBOX_BRIDGE_FILL_LOCKED,
                                        0, &args);

    case NGX_HTTP_SANDBOX_BRIDGE_FILL_LOCKED:
        if (reply == NULL || reply->type != REDIS_REPLY_STATUS) {
            /* another worker fills this pool, or Redis is down */
            return NGX_DONE;
        }

        f->locked = 1;

        if (f->lcf->warm_pool == 0) {
            return ngx_http_sandbox_bridge_fill_list(f);
        }

        /* this configuration is alive: its pool containers are kept */
        if (ngx_http_sandbox_bridge_pool_key(f->op.request->pool, f->mcf,
                                             ":live", &f->host, f->hash, &key)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        v.data = px;
        v.len = ngx_sprintf(px, "%M", 3 * f->mcf->reaper_interval) - px;

        return ngx_http_sandbox_bridge_fill_cmd(f,
                                          NGX_HTTP_SANDBOX_BRIDGE_FILL_LIVE,
                                          "SET", &key, &v);

    case NGX_HTTP_SANDBOX_BRIDGE_FILL_LIVE:
        /* a week, as the reaper's keys */
        return ngx_http_sandbox_bridge_fill_cmd(f,
                                        NGX_HTTP_SANDBOX_BRIDGE_FILL_ANY_SET,
                                        "SET", &f->any, &week);

    case NGX_HTTP_SANDBOX_BRIDGE_FILL_ANY_SET:
        return ngx_http_sandbox_bridge_fill_list(f);

    case NGX_HTTP_SANDBOX_BRIDGE_FILL_LISTED:
        return ngx_http_sandbox_bridge_fill_listed(f);

    case NGX_HTTP_SANDBOX_BRIDGE_FILL_MEMBERS:
        return ngx_http_sandbox_bridge_fill_members(f);

    case NGX_HTTP_SANDBOX_BRIDGE_FILL_OTHER:
        if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
            return NGX_DONE;
        }

        if (reply->integer) {
            /* another live configuration's: not ours to judge */
            f->kept++;
            return ngx_http_sandbox_bridge_fill_judge(f);
        }

        return ngx_http_sandbox_bridge_fill_remove(f,
                                        "its configuration is not used");

    case NGX_HTTP_SANDBOX_BRIDGE_FILL_REMOVED:
        return ngx_http_sandbox_bridge_fill_cmd(f,
                                      NGX_HTTP_SANDBOX_BRIDGE_FILL_FORGOTTEN,
                                      "SREM", &f->name_set, &f->id);

    case NGX_HTTP_SANDBOX_BRIDGE_FILL_FORGOTTEN:
        return ngx_http_sandbox_bridge_fill_judge(f);

    case NGX_HTTP_SANDBOX_BRIDGE_FILL_STALE:
        return ngx_http_sandbox_bridge_fill_stale(f);

    case NGX_HTTP_SANDBOX_BRIDGE_FILL_CREATED:
        return ngx_http_sandbox_bridge_fill_created(f);

    case NGX_HTTP_SANDBOX_BRIDGE_FILL_STARTED:
        if (f->call.status == NGX_HTTP_NO_CONTENT
            || f->call.status == NGX_HTTP_NOT_MODIFIED)
        {
            return ngx_http_sandbox_bridge_fill_cmd(f,
                                          NGX_HTTP_SANDBOX_BRIDGE_FILL_ADDED,
                                          "SADD", &f->set, &f->id);
        }

        ngx_log_error(NGX_LOG_WARN, f->op.request->connection->log, 0,
                      "sandbox bridge: starting pool container \"%V\" "
                      "gave %ui", &f->name, f->call.status);

        return ngx_http_sandbox_bridge_docker(&f->op, &f->call,
                                      NGX_HTTP_DELETE,
                                      NGX_HTTP_SANDBOX_BRIDGE_FILL_DISCARDED,
                                      &f->location,
                                      "/containers/%V?force=true&v=true",
                                      &f->name);

    case NGX_HTTP_SANDBOX_BRIDGE_FILL_ADDED:
        if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
            /* a stray now, removed by a later refill */
            return NGX_DONE;
        }

        f->created++;
        return ngx_http_sandbox_bridge_fill_create(f);

    case NGX_HTTP_SANDBOX_BRIDGE_FILL_COUNTED:
        if (reply && reply->type == REDIS_REPLY_INTEGER) {
            f->h->pool_size = (ngx_uint_t) reply->integer;
            f->h->pool_known = 1;
        }

        return NGX_DONE;

    case NGX_HTTP_SANDBOX_BRIDGE_FILL_DISCARDED:
    case NGX_HTTP_SANDBOX_BRIDGE_FILL_EXPIRED:
    case NGX_HTTP_SANDBOX_BRIDGE_FILL_UNLOCKED:
        return NGX_DONE;
    }

    return NGX_DONE;
}


/*
 * The lock by its token: a job that outlived the lock's expiry leaves
 * alone the lock another job has taken since.
 */

static ngx_int_t
ngx_http_sandbox_bridge_refill_unlock(ngx_http_sandbox_bridge_fill_t *f)
{
    ngx_http_sandbox_bridge_args_t  args;

    args.argc = 0;
    args.overflow = 0;

    ngx_http_sandbox_bridge_arg_str(&args, &f->lock);
    ngx_http_sandbox_bridge_arg(&args, f->token, sizeof(f->token));

    return ngx_http_sandbox_bridge_redis_step(&f->op,
                                        NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_UNLOCK,
                                        NGX_HTTP_SANDBOX_BRIDGE_FILL_UNLOCKED,
                                        1, &args);
}
