
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_admin.h"
#include "ngx_http_sandbox_bridge_destroy.h"
#include "ngx_http_sandbox_bridge_input.h"
#include "ngx_http_sandbox_bridge_store.h"
#include "ngx_http_sandbox_bridge_util.h"


/* the admin view of leases (README "Admin view of leases") */

#define NGX_HTTP_SANDBOX_BRIDGE_ADMIN_LIMIT      100
#define NGX_HTTP_SANDBOX_BRIDGE_ADMIN_LIMIT_MAX  1000


typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_ADMIN_ASK = NGX_HTTP_SANDBOX_BRIDGE_START,
    NGX_HTTP_SANDBOX_BRIDGE_ADMIN_ANSWERED
} ngx_http_sandbox_bridge_admin_state_e;


typedef struct {
    ngx_http_sandbox_bridge_op_t          op;
    ngx_str_t                             id;
    unsigned                              one:1;
} ngx_http_sandbox_bridge_admin_op_t;


/* how a record's field is shown */
typedef enum {
    NGX_HTTP_SANDBOX_BRIDGE_ADMIN_TEXT = 0,
    NGX_HTTP_SANDBOX_BRIDGE_ADMIN_FLAG,
    NGX_HTTP_SANDBOX_BRIDGE_ADMIN_TIME
} ngx_http_sandbox_bridge_admin_type_e;


size_t  ngx_http_sandbox_bridge_admin_size =
    sizeof(ngx_http_sandbox_bridge_admin_op_t);


static void ngx_http_sandbox_bridge_admin_run(
    ngx_http_sandbox_bridge_admin_op_t *ao);
static ngx_int_t ngx_http_sandbox_bridge_admin_ask_one(
    ngx_http_sandbox_bridge_admin_op_t *ao, u_char *now);
static ngx_int_t ngx_http_sandbox_bridge_admin_ask_page(
    ngx_http_sandbox_bridge_admin_op_t *ao, u_char *now);
static void ngx_http_sandbox_bridge_admin_answer(
    ngx_http_sandbox_bridge_admin_op_t *ao);
static json_t *ngx_http_sandbox_bridge_admin_view(redisReply *v,
    int64_t now);
static json_t *ngx_http_sandbox_bridge_admin_time(int64_t ms);
static ngx_int_t ngx_http_sandbox_bridge_admin_digits(ngx_str_t *s,
    size_t max);


/* GET <prefix>/leases[?cursor=<c>&limit=<n>] */

void
ngx_http_sandbox_bridge_admin_leases(ngx_http_sandbox_bridge_op_t *op)
{
    ngx_http_sandbox_bridge_admin_run((ngx_http_sandbox_bridge_admin_op_t *)
                                      op);
}


/* GET <prefix>/leases/<id> */

void
ngx_http_sandbox_bridge_admin_lease(ngx_http_sandbox_bridge_op_t *op)
{
    ngx_http_sandbox_bridge_admin_op_t  *ao;

    ao = (ngx_http_sandbox_bridge_admin_op_t *) op;
    ao->one = 1;

    ngx_http_sandbox_bridge_admin_run(ao);
}


static void
ngx_http_sandbox_bridge_admin_run(ngx_http_sandbox_bridge_admin_op_t *ao)
{
    ngx_int_t  rc;
    u_char     now[NGX_INT64_LEN];

    switch ((ngx_http_sandbox_bridge_admin_state_e) ao->op.state) {

    case NGX_HTTP_SANDBOX_BRIDGE_ADMIN_ASK:
        *ngx_http_sandbox_bridge_now_ms(now) = '\0';

        rc = ao->one ? ngx_http_sandbox_bridge_admin_ask_one(ao, now)
                     : ngx_http_sandbox_bridge_admin_ask_page(ao, now);

        /* NGX_DECLINED too: Redis is not connected */
        if (rc != NGX_OK && rc != NGX_DONE) {
            ngx_http_sandbox_bridge_fail(&ao->op,
                                         NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE);
        }

        return;

    case NGX_HTTP_SANDBOX_BRIDGE_ADMIN_ANSWERED:
        ngx_http_sandbox_bridge_admin_answer(ao);
        return;
    }
}


/* NGX_OK: asked; NGX_DONE: answered already; else the store failed */

static ngx_int_t
ngx_http_sandbox_bridge_admin_ask_one(ngx_http_sandbox_bridge_admin_op_t *ao,
    u_char *now)
{
    const char                           *err;
    ngx_str_t                             key;
    ngx_http_request_t                   *r;
    ngx_http_sandbox_bridge_ctx_t        *ctx;
    ngx_http_sandbox_bridge_args_t        args;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    r = ao->op.request;
    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    if (ngx_http_sandbox_bridge_path_id(&ao->op, &ao->id) != NGX_OK) {
        return NGX_DONE;
    }

    err = ngx_http_sandbox_bridge_check_id(&ao->id);
    if (err) {
        ngx_http_sandbox_bridge_failf(&ao->op, NGX_HTTP_BAD_REQUEST,
                                      "invalid_request", "%s", err);
        return NGX_DONE;
    }

    ctx->lease_id = ao->id;

    if (ngx_http_sandbox_bridge_lease_key(r->pool, mcf, &ao->id, &key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    args.argc = 0;
    args.overflow = 0;

    ngx_http_sandbox_bridge_arg_str(&args, &key);
    ngx_http_sandbox_bridge_arg(&args, now, ngx_strlen(now));
    ngx_http_sandbox_bridge_arg_str(&args, &mcf->redis_prefix);

    return ngx_http_sandbox_bridge_redis_step(&ao->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_LEASES,
                                     NGX_HTTP_SANDBOX_BRIDGE_ADMIN_ANSWERED,
                                     1, &args);
}


static ngx_int_t
ngx_http_sandbox_bridge_admin_ask_page(
    ngx_http_sandbox_bridge_admin_op_t *ao, u_char *now)
{
    u_char                               *p, *match;
    size_t                                size;
    ngx_str_t                             cursor, limit;
    ngx_http_request_t                   *r;
    ngx_http_sandbox_bridge_args_t        args;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    r = ao->op.request;
    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);

    if (ngx_http_arg(r, (u_char *) "cursor", sizeof("cursor") - 1, &cursor)
        != NGX_OK)
    {
        ngx_str_set(&cursor, "0");

    } else if (ngx_http_sandbox_bridge_admin_digits(&cursor, NGX_INT64_LEN)
               == NGX_ERROR)
    {
        ngx_http_sandbox_bridge_failf(&ao->op, NGX_HTTP_BAD_REQUEST,
                                      "invalid_request",
                                      "cursor must be the nextCursor of "
                                      "a previous page.");
        return NGX_DONE;
    }

    if (ngx_http_arg(r, (u_char *) "limit", sizeof("limit") - 1, &limit)
        != NGX_OK)
    {
        ngx_str_set(&limit, ngx_value(NGX_HTTP_SANDBOX_BRIDGE_ADMIN_LIMIT));

    } else if (ngx_http_sandbox_bridge_admin_digits(&limit, 4) == NGX_ERROR
               || ngx_atoi(limit.data, limit.len) < 1
               || ngx_atoi(limit.data, limit.len)
                  > NGX_HTTP_SANDBOX_BRIDGE_ADMIN_LIMIT_MAX)
    {
        ngx_http_sandbox_bridge_failf(&ao->op, NGX_HTTP_BAD_REQUEST,
                                      "invalid_request",
                                      "limit must be an integer from 1 to "
                                      "%d.",
                                      NGX_HTTP_SANDBOX_BRIDGE_ADMIN_LIMIT_MAX);
        return NGX_DONE;
    }

    size = 2 * mcf->redis_prefix.len + sizeof("lease:{*}");

    match = ngx_pnalloc(r->pool, size);
    if (match == NULL) {
        return NGX_ERROR;
    }

    p = ngx_http_sandbox_bridge_scan_pattern(match, match + size,
                                             &mcf->redis_prefix);
    if (p == NULL) {
        return NGX_ERROR;
    }

    args.argc = 0;
    args.overflow = 0;

    ngx_http_sandbox_bridge_arg(&args, now, ngx_strlen(now));
    ngx_http_sandbox_bridge_arg_str(&args, &mcf->redis_prefix);
    ngx_http_sandbox_bridge_arg_str(&args, &cursor);
    ngx_http_sandbox_bridge_arg(&args, match, p - match);
    ngx_http_sandbox_bridge_arg_str(&args, &limit);

    return ngx_http_sandbox_bridge_redis_step(&ao->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_LEASES,
                                     NGX_HTTP_SANDBOX_BRIDGE_ADMIN_ANSWERED,
                                     0, &args);
}


/* {cursor, {{record, pttl, active}, ...}} -> the JSON answer */

static void
ngx_http_sandbox_bridge_admin_answer(ngx_http_sandbox_bridge_admin_op_t *ao)
{
    size_t       i;
    json_t      *list, *lease, *next;
    int64_t      now;
    ngx_time_t  *tp;
    redisReply  *reply, *cursor, *views;

    reply = ao->op.reply;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        ngx_http_sandbox_bridge_fail(&ao->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE);
        return;
    }

    cursor = reply->element[0];
    views = reply->element[1];

    tp = ngx_timeofday();
    now = (int64_t) tp->sec * 1000 + tp->msec;

    if (ao->one) {
        if (views->elements == 0) {
            ngx_http_sandbox_bridge_failf(&ao->op, NGX_HTTP_NOT_FOUND,
                                          "not_found", "No lease %V.",
                                          &ao->id);
            return;
        }

        ngx_http_sandbox_bridge_reply(&ao->op, NGX_HTTP_OK,
                     ngx_http_sandbox_bridge_admin_view(views->element[0],
                                                        now));
        return;
    }

    list = json_array();

    for (i = 0; list && i < views->elements; i++) {
        lease = ngx_http_sandbox_bridge_admin_view(views->element[i], now);

        if (lease == NULL || json_array_append_new(list, lease) != 0) {
            json_decref(list);
            list = NULL;
        }
    }

    if (list == NULL) {
        ngx_http_sandbox_bridge_fail(&ao->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_NOMEM);
        return;
    }

    next = (cursor->len == 1 && cursor->str[0] == '0')
           ? json_null() : json_stringn(cursor->str, cursor->len);

    ngx_http_sandbox_bridge_reply(&ao->op, NGX_HTTP_OK,
                                  json_pack("{s:o,s:o}", "leases", list,
                                            "nextCursor", next));
}


/* one lease: {record (field, value, ...), pttl, active execs} */

static json_t *
ngx_http_sandbox_bridge_admin_view(redisReply *v, int64_t now)
{
    size_t       i, n;
    json_t      *j, *val;
    int64_t      ttl;
    redisReply  *h, *k, *f;

    static const struct {
        const char                            *field;
        const char                            *name;
        ngx_http_sandbox_bridge_admin_type_e   type;
    } map[] = {
        { "id", "id", NGX_HTTP_SANDBOX_BRIDGE_ADMIN_TEXT },
        { "state", "state", NGX_HTTP_SANDBOX_BRIDGE_ADMIN_TEXT },
        { "kind", "kind", NGX_HTTP_SANDBOX_BRIDGE_ADMIN_TEXT },
        { "docker", "host", NGX_HTTP_SANDBOX_BRIDGE_ADMIN_TEXT },
        { "cred", "credential", NGX_HTTP_SANDBOX_BRIDGE_ADMIN_TEXT },
        { "container", "container", NGX_HTTP_SANDBOX_BRIDGE_ADMIN_TEXT },
        { "created", "createdAt", NGX_HTTP_SANDBOX_BRIDGE_ADMIN_TIME },
        { "last_used", "lastUsedAt", NGX_HTTP_SANDBOX_BRIDGE_ADMIN_TIME },
        { "reuse", "reusable", NGX_HTTP_SANDBOX_BRIDGE_ADMIN_FLAG },
        { "keepalive", "keepAlive", NGX_HTTP_SANDBOX_BRIDGE_ADMIN_FLAG },
        { "sleep_after", "sleepAfter", NGX_HTTP_SANDBOX_BRIDGE_ADMIN_TEXT },
        { NULL, NULL, NGX_HTTP_SANDBOX_BRIDGE_ADMIN_TEXT }
    };

    if (v->type != REDIS_REPLY_ARRAY || v->elements != 3
        || v->element[0]->type != REDIS_REPLY_ARRAY
        || v->element[1]->type != REDIS_REPLY_INTEGER
        || v->element[2]->type != REDIS_REPLY_INTEGER)
    {
        return NULL;
    }

    h = v->element[0];
    j = json_object();
    if (j == NULL) {
        return NULL;
    }

    /* every field is there, null when the record lacks it */
    for (n = 0; map[n].field; n++) {
        json_object_set_new(j, map[n].name, json_null());
    }

    for (i = 0; i + 1 < h->elements; i += 2) {
        k = h->element[i];
        f = h->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || f->type != REDIS_REPLY_STRING) {
            continue;
        }

        for (n = 0; map[n].field; n++) {
            if (k->len == ngx_strlen(map[n].field)
                && ngx_strncmp(k->str, map[n].field, k->len) == 0)
            {
                break;
            }
        }

        if (map[n].field == NULL) {
            continue;
        }

        switch (map[n].type) {

        case NGX_HTTP_SANDBOX_BRIDGE_ADMIN_FLAG:
            val = json_boolean(f->len == 1 && f->str[0] == '1');
            break;

        case NGX_HTTP_SANDBOX_BRIDGE_ADMIN_TIME:
            val = ngx_http_sandbox_bridge_admin_time(
                      ngx_atoof((u_char *) f->str, f->len));
            break;

        default: /* NGX_HTTP_SANDBOX_BRIDGE_ADMIN_TEXT */
            val = json_stringn(f->str, f->len);
        }

        if (val == NULL || json_object_set_new(j, map[n].name, val) != 0) {
            json_decref(j);
            return NULL;
        }
    }

    /* PTTL: -1 never expires (keepAlive) */
    ttl = v->element[1]->integer;

    val = (ttl >= 0) ? ngx_http_sandbox_bridge_admin_time(now + ttl)
                     : json_null();

    if (val == NULL
        || json_object_set_new(j, "expiresAt", val) != 0
        || json_object_set_new(j, "activeExecs",
                               json_integer(v->element[2]->integer))
           != 0)
    {
        json_decref(j);
        return NULL;
    }

    return j;
}


/* ms since the epoch as "2026-12-04T21:40:02.123Z"; null when unknown */

static json_t *
ngx_http_sandbox_bridge_admin_time(int64_t ms)
{
    u_char    *p;
    ngx_tm_t   tm;
    u_char     buf[sizeof("2026-12-04T21:40:02.123Z") + NGX_INT64_LEN];

    if (ms <= 0) {
        return json_null();
    }

    ngx_gmtime((time_t) (ms / 1000), &tm);

    p = ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02d.%03LZ",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                    (int64_t) (ms % 1000));

    return json_stringn((char *) buf, p - buf);
}


static ngx_int_t
ngx_http_sandbox_bridge_admin_digits(ngx_str_t *s, size_t max)
{
    size_t  i;

    if (s->len == 0 || s->len > max) {
        return NGX_ERROR;
    }

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < '0' || s->data[i] > '9') {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
