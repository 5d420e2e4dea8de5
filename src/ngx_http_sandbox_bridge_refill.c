
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_refill.h"
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
static ngx_int_t ngx_http_sandbox_bridge_fill_cmd(
    ngx_http_sandbox_bridge_fill_t *f, ngx_uint_t next, const char *cmd,
    ngx_str_t *key, ngx_str_t *arg);
static ngx_int_t ngx_http_sandbox_bridge_fill_list(
    ngx_http_sandbox_bridge_fill_t *f);
static ngx_int_t ngx_http_sandbox_bridge_fill_listed(
    ngx_http_sandbox_bridge_fill_t *f);
static ngx_int_t ngx_http_sandbox_bridge_fill_members(
    ngx_http_sandbox_bridge_fill_t *f);
static ngx_int_t ngx_http_sandbox_bridge_fill_judge(
    ngx_http_sandbox_bridge_fill_t *f);
static ngx_int_t ngx_http_sandbox_bridge_fill_remove(
    ngx_http_sandbox_bridge_fill_t *f, const char *why);
static ngx_int_t ngx_http_sandbox_bridge_fill_stale(
    ngx_http_sandbox_bridge_fill_t *f);
static ngx_int_t ngx_http_sandbox_bridge_fill_create(
    ngx_http_sandbox_bridge_fill_t *f);
static ngx_int_t ngx_http_sandbox_bridge_fill_created(
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

        if (ngx_http_sandbox_bridge_fill_cmd(f,
                                       NGX_HTTP_SANDBOX_BRIDGE_FILL_UNLOCKED,
                                       "DEL", &f->lock, NULL)
            == NGX_OK)
        {
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

        ngx_http_sandbox_bridge_arg_lit(&args, "SET");
        ngx_http_sandbox_bridge_arg_str(&args, &f->lock);
        ngx_http_sandbox_bridge_arg_lit(&args, "1");
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
        v.data = px;
        v.len = ngx_sprintf(px, "%d", 604800000) - px;

        return ngx_http_sandbox_bridge_fill_cmd(f,
                                        NGX_HTTP_SANDBOX_BRIDGE_FILL_ANY_SET,
                                        "SET", &f->any, &v);

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


/* "cmd key [arg]", with PX for SET and PEXPIRE's own time */

static ngx_int_t
ngx_http_sandbox_bridge_fill_cmd(ngx_http_sandbox_bridge_fill_t *f,
    ngx_uint_t next, const char *cmd, ngx_str_t *key, ngx_str_t *arg)
{
    ngx_http_sandbox_bridge_args_t  args;

    args.argc = 0;
    args.overflow = 0;

    ngx_http_sandbox_bridge_arg(&args, cmd, ngx_strlen(cmd));
    ngx_http_sandbox_bridge_arg_str(&args, key);

    if (ngx_strcmp(cmd, "SET") == 0) {
        ngx_http_sandbox_bridge_arg_lit(&args, "1");
        ngx_http_sandbox_bridge_arg_lit(&args, "PX");
    }

    if (arg) {
        ngx_http_sandbox_bridge_arg_str(&args, arg);
    }

    return ngx_http_sandbox_bridge_redis_step(&f->op, -1, next, 0, &args);
}


/* this deployment's pool containers on the host, of any configuration */

static ngx_int_t
ngx_http_sandbox_bridge_fill_list(ngx_http_sandbox_bridge_fill_t *f)
{
    u_char     *p, *raw, *e1, *e2;
    size_t      i, n;
    json_t     *j;
    ngx_str_t   filter;
    u_char      l1[512], l2[512];

    static u_char  hex[] = "0123456789ABCDEF";

    /* this deployment's pool containers made for this host name */
    e1 = ngx_snprintf(l1, sizeof(l1), "paperclip.bridge.prefix=%V",
                      &f->mcf->redis_prefix);
    e2 = ngx_snprintf(l2, sizeof(l2), "paperclip.bridge.pool-host=%V",
                      &f->host);

    j = json_pack("{s:[s%,s%]}", "label", (char *) l1, (size_t) (e1 - l1),
                  (char *) l2, (size_t) (e2 - l2));

    raw = j ? ngx_http_sandbox_bridge_json_dump(f->op.request->pool, j, &n)
            : NULL;
    json_decref(j);

    if (raw == NULL) {
        return NGX_ERROR;
    }

    /* percent-encoded whole: the prefix may hold + or & */
    filter.data = ngx_pnalloc(f->op.request->pool, 3 * n);
    if (filter.data == NULL) {
        return NGX_ERROR;
    }

    p = filter.data;

    for (i = 0; i < n; i++) {
        if (isalnum(raw[i]) || raw[i] == '-' || raw[i] == '_'
            || raw[i] == '.')
        {
            *p++ = raw[i];

        } else {
            *p++ = '%';
            *p++ = hex[raw[i] >> 4];
            *p++ = hex[raw[i] & 0xf];
        }
    }

    filter.len = p - filter.data;

    f->call.limit = NGX_HTTP_SANDBOX_BRIDGE_REFILL_LISTING_MAX;

    return ngx_http_sandbox_bridge_docker(&f->op, &f->call, NGX_HTTP_GET,
                                          NGX_HTTP_SANDBOX_BRIDGE_FILL_LISTED,
                                          &f->location,
                                          "/containers/json?all=1&filters=%V",
                                          &filter);
}


static ngx_int_t
ngx_http_sandbox_bridge_fill_listed(ngx_http_sandbox_bridge_fill_t *f)
{
    json_t                          *list;
    ngx_http_sandbox_bridge_args_t   args;

    list = (f->call.status == NGX_HTTP_OK && !f->call.truncated)
           ? ngx_http_sandbox_bridge_docker_reply(&f->call) : NULL;

    f->call.limit = 0;

    if (!json_is_array(list)) {
        ngx_log_error(NGX_LOG_WARN, f->op.request->connection->log, 0,
                      "sandbox bridge: warm pool could not list the "
                      "containers of \"%V\" (status %ui)", &f->host,
                      f->call.status);
        json_decref(list);
        return NGX_DONE;
    }

    json_decref(f->list);
    f->list = list;

    args.argc = 0;
    args.overflow = 0;

    ngx_http_sandbox_bridge_arg_lit(&args, "SMEMBERS");
    ngx_http_sandbox_bridge_arg_str(&args, &f->set);

    return ngx_http_sandbox_bridge_redis_step(&f->op, -1,
                                        NGX_HTTP_SANDBOX_BRIDGE_FILL_MEMBERS,
                                        0, &args);
}


static ngx_int_t
ngx_http_sandbox_bridge_fill_members(ngx_http_sandbox_bridge_fill_t *f)
{
    size_t                                  i;
    ngx_str_t                               s;
    redisReply                             *reply, *e;
    ngx_http_sandbox_bridge_fill_member_t  *m;

    reply = f->op.reply;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        return NGX_DONE;
    }

    f->members.nelts = 0;
    f->next = 0;
    f->stale = 0;
    f->have = 0;
    f->kept = 0;
    f->created = 0;

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_STRING) {
            continue;
        }

        m = ngx_array_push(&f->members);
        if (m == NULL) {
            return NGX_ERROR;
        }

        s.data = (u_char *) e->str;
        s.len = e->len;

        m->id.data = ngx_pstrdup(f->op.request->pool, &s);
        m->id.len = s.len;
        m->seen = 0;

        if (m->id.data == NULL) {
            return NGX_ERROR;
        }
    }

    return ngx_http_sandbox_bridge_fill_judge(f);
}


/* each unclaimed pool container listed: keep, count, or remove */

static ngx_int_t
ngx_http_sandbox_bridge_fill_judge(ngx_http_sandbox_bridge_fill_t *f)
{
    json_t                                 *c, *labels, *name, *id, *hash;
    ngx_str_t                               key;
    ngx_uint_t                              i, running;
    ngx_http_sandbox_bridge_fill_member_t  *m, *mine;

    while (f->next < json_array_size(f->list)) {
        c = json_array_get(f->list, f->next++);

        labels = json_object_get(c, "Labels");
        hash = json_object_get(labels, "paperclip.bridge.pool");
        id = json_object_get(c, "Id");
        name = json_array_get(json_object_get(c, "Names"), 0);

        if (!json_is_string(hash) || !json_is_string(id)
            || !json_is_string(name) || json_string_length(name) < 2)
        {
            continue;
        }

        /* Names are "/<name>" */
        f->name.data = (u_char *) json_string_value(name) + 1;
        f->name.len = json_string_length(name) - 1;
        f->id.data = (u_char *) json_string_value(id);
        f->id.len = json_string_length(id);

        if (!ngx_http_sandbox_bridge_pool_unclaimed(f->mcf, &f->name)) {
            /* a lease's now: the reaper's */
            continue;
        }

        if (json_string_length(hash) != NGX_HTTP_SANDBOX_BRIDGE_POOL_HASH_LEN)
        {
            continue;
        }

        if (ngx_strncmp(json_string_value(hash), f->hash,
                        NGX_HTTP_SANDBOX_BRIDGE_POOL_HASH_LEN)
            != 0)
        {
            /* made under another configuration: is it still in use? */
            if (ngx_http_sandbox_bridge_pool_key(f->op.request->pool, f->mcf,
                                       "", &f->host,
                                       (u_char *) json_string_value(hash),
                                       &f->name_set)
                != NGX_OK
                || ngx_http_sandbox_bridge_pool_key(f->op.request->pool,
                                       f->mcf, ":live", &f->host,
                                       (u_char *) json_string_value(hash),
                                       &key)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            return ngx_http_sandbox_bridge_fill_cmd(f,
                                          NGX_HTTP_SANDBOX_BRIDGE_FILL_OTHER,
                                          "EXISTS", &key, NULL);
        }

        mine = NULL;
        m = f->members.elts;

        for (i = 0; i < f->members.nelts; i++) {
            if (m[i].id.len == f->id.len
                && ngx_strncmp(m[i].id.data, f->id.data, f->id.len) == 0)
            {
                mine = &m[i];
                mine->seen = 1;
                break;
            }
        }

        running = json_is_string(json_object_get(c, "State"))
                  && ngx_strcmp(json_string_value(json_object_get(c, "State")),
                                "running") == 0;

        if (mine && running
            && f->have < (ngx_uint_t) f->lcf->warm_pool)
        {
            f->have++;
            f->kept++;
            continue;
        }

        /* not registered: being claimed right now, or left behind */
        if (mine == NULL
            && ngx_time() - (time_t) json_integer_value(
                                          json_object_get(c, "Created"))
               < NGX_HTTP_SANDBOX_BRIDGE_REFILL_STRAY_S)
        {
            f->kept++;
            continue;
        }

        f->name_set = f->set;

        return ngx_http_sandbox_bridge_fill_remove(f,
                                  mine == NULL ? "a stray"
                                  : running ? "beyond the pool's size"
                                  : "it is not running");
    }

    return ngx_http_sandbox_bridge_fill_stale(f);
}


/* by name: a container renamed by a claim meanwhile is not touched */

static ngx_int_t
ngx_http_sandbox_bridge_fill_remove(ngx_http_sandbox_bridge_fill_t *f,
    const char *why)
{
    ngx_log_error(NGX_LOG_NOTICE, f->op.request->connection->log, 0,
                  "sandbox bridge: removing pool container \"%V\" of \"%V\": "
                  "%s", &f->name, &f->host, why);

    return ngx_http_sandbox_bridge_docker(&f->op, &f->call, NGX_HTTP_DELETE,
                                        NGX_HTTP_SANDBOX_BRIDGE_FILL_REMOVED,
                                        &f->location,
                                        "/containers/%V?force=true&v=true",
                                        &f->name);
}


/* members whose container the listing did not show are forgotten */

static ngx_int_t
ngx_http_sandbox_bridge_fill_stale(ngx_http_sandbox_bridge_fill_t *f)
{
    ngx_http_sandbox_bridge_fill_member_t  *m;

    m = f->members.elts;

    while (f->stale < f->members.nelts) {
        if (m[f->stale].seen) {
            f->stale++;
            continue;
        }

        return ngx_http_sandbox_bridge_fill_cmd(f,
                                          NGX_HTTP_SANDBOX_BRIDGE_FILL_STALE,
                                          "SREM", &f->set,
                                          &m[f->stale++].id);
    }

    return ngx_http_sandbox_bridge_fill_create(f);
}


static ngx_int_t
ngx_http_sandbox_bridge_fill_create(ngx_http_sandbox_bridge_fill_t *f)
{
    json_t     *body;
    ngx_str_t   id, ttl;
    u_char      hash[NGX_HTTP_SANDBOX_BRIDGE_POOL_HASH_LEN];
    u_char      buf[sizeof("pool_") - 1 + 16], px[NGX_INT_T_LEN];

    if (f->have + f->created >= (ngx_uint_t) f->lcf->warm_pool) {
        if (f->created && ++f->rounds < NGX_HTTP_SANDBOX_BRIDGE_REFILL_ROUNDS) {
            /* claims may have taken some meanwhile */
            return ngx_http_sandbox_bridge_fill_list(f);
        }

        if (f->lcf->warm_pool == 0) {
            /* none left: bridges without a pool stop looking */
            return f->kept ? NGX_DONE
                           : ngx_http_sandbox_bridge_fill_cmd(f,
                                        NGX_HTTP_SANDBOX_BRIDGE_FILL_EXPIRED,
                                        "DEL", &f->any, NULL);
        }

        ttl.data = px;
        ttl.len = ngx_sprintf(px, "%M",
                              3 * f->mcf->reaper_interval
                              + NGX_HTTP_SANDBOX_BRIDGE_REFILL_LOCK_MS)
                  - px;

        return ngx_http_sandbox_bridge_fill_cmd(f,
                                        NGX_HTTP_SANDBOX_BRIDGE_FILL_EXPIRED,
                                        "PEXPIRE", &f->set, &ttl);
    }

    ngx_memcpy(buf, "pool_", sizeof("pool_") - 1);

    if (ngx_http_sandbox_bridge_random_hex(buf + sizeof("pool_") - 1, 16)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    id.data = buf;
    id.len = sizeof(buf);

    if (ngx_http_sandbox_bridge_container_name(f->op.request->pool, f->mcf,
                                               &id, &f->name)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    body = ngx_http_sandbox_bridge_pool_spec(f->op.request, hash);

    if (body == NULL
        || json_object_set_new(json_object_get(body, "Labels"),
                               "paperclip.bridge.pool-host",
                               ngx_http_sandbox_bridge_json_strn(&f->host))
           != 0)
    {
        json_decref(body);
        return NGX_ERROR;
    }

    return ngx_http_sandbox_bridge_docker_json(&f->op, &f->call,
                                       NGX_HTTP_POST,
                                       NGX_HTTP_SANDBOX_BRIDGE_FILL_CREATED,
                                       &f->location, body,
                                       "/containers/create?name=%V",
                                       &f->name);
}


static ngx_int_t
ngx_http_sandbox_bridge_fill_created(ngx_http_sandbox_bridge_fill_t *f)
{
    json_t     *reply, *id;
    ngx_str_t   s;

    reply = (f->call.status == NGX_HTTP_CREATED)
            ? ngx_http_sandbox_bridge_docker_reply(&f->call) : NULL;
    id = json_object_get(reply, "Id");

    if (!json_is_string(id)) {
        ngx_log_error(NGX_LOG_WARN, f->op.request->connection->log, 0,
                      "sandbox bridge: creating a pool container on \"%V\" "
                      "gave %ui", &f->host, f->call.status);
        json_decref(reply);
        return NGX_DONE;
    }

    s.data = (u_char *) json_string_value(id);
    s.len = json_string_length(id);

    f->id.data = ngx_pstrdup(f->op.request->pool, &s);
    f->id.len = s.len;

    json_decref(reply);

    if (f->id.data == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_sandbox_bridge_docker(&f->op, &f->call, NGX_HTTP_POST,
                                        NGX_HTTP_SANDBOX_BRIDGE_FILL_STARTED,
                                        &f->location, "/containers/%V/start",
                                        &f->name);
}
