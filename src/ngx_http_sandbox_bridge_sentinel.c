
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_sandbox_bridge_sentinel.h"
#include "ngx_http_sandbox_bridge_hiredis.h"


/*
 * Redis Sentinel (README "Redis Sentinel"): every sentinel is asked in
 * turn, each on a short async link of its own, "SENTINEL
 * get-master-addr-by-name <master>" and, in the same pipeline, "SENTINEL
 * MASTER <master>" for its config-epoch. The primary named with the
 * highest epoch wins: a sentinel that lags behind a failover does not
 * send the workers back to the old primary. A sentinel that fails, times
 * out or knows no primary is skipped. Everything runs in the event loop.
 *
 * A second link stays subscribed to "+switch-master" on one sentinel (the
 * next one when it goes away): a failover is followed at once, also when
 * the old primary lives on as a replica.
 */

#define NGX_HTTP_SANDBOX_BRIDGE_SENTINEL_REWATCH  1000

struct ngx_http_sandbox_bridge_sentinel_s {
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    ngx_log_t                            *log;
    redisAsyncContext                    *ac;
    ngx_event_t                           timer;
    ngx_uint_t                            next;
    ngx_uint_t                            tried;
    ngx_http_sandbox_bridge_sentinel_pt   handler;
    void                                 *data;
    ngx_http_sandbox_bridge_sentinel_addr_t  *addr;
    u_char                                host[NGX_SOCKADDR_STRLEN + 1];

    /* this sentinel's answer, and the best one so far */
    u_char                                cand[NGX_SOCKADDR_STRLEN + 1];
    ngx_int_t                             cand_port;
    ngx_int_t                             best_port;
    int64_t                               best_epoch;

    /* the +switch-master subscription */
    redisAsyncContext                    *wac;
    ngx_event_t                           wtimer;
    ngx_uint_t                            wnext;
    ngx_http_sandbox_bridge_sentinel_pt   whandler;
    void                                 *wdata;
    u_char                                whost[NGX_SOCKADDR_STRLEN + 1];

    unsigned                              busy:1;
    unsigned                              exiting:1;
};


static redisAsyncContext *ngx_http_sandbox_bridge_sentinel_connect(
    ngx_http_sandbox_bridge_sentinel_t *s,
    ngx_http_sandbox_bridge_sentinel_addr_t *addr, ngx_uint_t level,
    redisConnectCallback *on_connect, redisDisconnectCallback *on_lost,
    redisCallbackFn *on_auth);
static void ngx_http_sandbox_bridge_sentinel_try(
    ngx_http_sandbox_bridge_sentinel_t *s);
static void ngx_http_sandbox_bridge_sentinel_drop(
    ngx_http_sandbox_bridge_sentinel_t *s);
static void ngx_http_sandbox_bridge_sentinel_finish(
    ngx_http_sandbox_bridge_sentinel_t *s, u_char *host, ngx_int_t port);
static void ngx_http_sandbox_bridge_sentinel_auth_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_sandbox_bridge_sentinel_master_reply(
    redisAsyncContext *ac, void *reply, void *privdata);
static void ngx_http_sandbox_bridge_sentinel_epoch_reply(
    redisAsyncContext *ac, void *reply, void *privdata);
static void ngx_http_sandbox_bridge_sentinel_on_connect(
    const redisAsyncContext *ac, int status);
static void ngx_http_sandbox_bridge_sentinel_on_disconnect(
    const redisAsyncContext *ac, int status);
static void ngx_http_sandbox_bridge_sentinel_timeout(ngx_event_t *ev);
static void ngx_http_sandbox_bridge_sentinel_subscribe(ngx_event_t *ev);
static void ngx_http_sandbox_bridge_sentinel_message(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_sandbox_bridge_sentinel_watch_lost(
    const redisAsyncContext *ac, int status);
static void ngx_http_sandbox_bridge_sentinel_watch_connect(
    const redisAsyncContext *ac, int status);
static void ngx_http_sandbox_bridge_sentinel_rewatch(
    ngx_http_sandbox_bridge_sentinel_t *s);


ngx_http_sandbox_bridge_sentinel_t *
ngx_http_sandbox_bridge_sentinel_create(ngx_cycle_t *cycle,
    ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    ngx_http_sandbox_bridge_sentinel_t  *s;

    s = ngx_pcalloc(cycle->pool, sizeof(ngx_http_sandbox_bridge_sentinel_t));
    if (s == NULL) {
        return NULL;
    }

    s->mcf = mcf;
    s->log = cycle->log;

    s->timer.handler = ngx_http_sandbox_bridge_sentinel_timeout;
    s->timer.data = s;
    s->timer.log = cycle->log;
    s->timer.cancelable = 1;

    s->wtimer.handler = ngx_http_sandbox_bridge_sentinel_subscribe;
    s->wtimer.data = s;
    s->wtimer.log = cycle->log;
    s->wtimer.cancelable = 1;

    return s;
}


void
ngx_http_sandbox_bridge_sentinel_ask(ngx_http_sandbox_bridge_sentinel_t *s,
    ngx_http_sandbox_bridge_sentinel_pt handler, void *data)
{
    if (s->busy) {
        return;
    }

    s->busy = 1;
    s->tried = 0;
    s->best_port = 0;
    s->best_epoch = -1;
    s->handler = handler;
    s->data = data;

    ngx_http_sandbox_bridge_sentinel_try(s);
}


void
ngx_http_sandbox_bridge_sentinel_destroy(ngx_http_sandbox_bridge_sentinel_t *s)
{
    redisAsyncContext  *ac;

    s->busy = 0;
    s->exiting = 1;
    s->handler = NULL;

    ngx_http_sandbox_bridge_sentinel_drop(s);

    if (s->wtimer.timer_set) {
        ngx_del_timer(&s->wtimer);
    }

    ac = s->wac;
    s->wac = NULL;

    if (ac) {
        redisAsyncFree(ac);
    }
}


/* handler(data, new host, new port) on every +switch-master of our master */

void
ngx_http_sandbox_bridge_sentinel_watch(ngx_http_sandbox_bridge_sentinel_t *s,
    ngx_http_sandbox_bridge_sentinel_pt handler, void *data)
{
    s->whandler = handler;
    s->wdata = data;

    ngx_http_sandbox_bridge_sentinel_subscribe(&s->wtimer);
}


/*
 * A link to one sentinel, on nginx's event loop, AUTH sent first when
 * sentinel_password_file is set; NULL (logged at level) if it failed.
 */

static redisAsyncContext *
ngx_http_sandbox_bridge_sentinel_connect(ngx_http_sandbox_bridge_sentinel_t *s,
    ngx_http_sandbox_bridge_sentinel_addr_t *addr, ngx_uint_t level,
    redisConnectCallback *on_connect, redisDisconnectCallback *on_lost,
    redisCallbackFn *on_auth)
{
    const char         *argv[2];
    size_t              argvlen[2];
    redisAsyncContext  *ac;

    ac = redisAsyncConnect((char *) addr->host.data, (int) addr->port);

    if (ac == NULL || ac->err
        || ngx_http_sandbox_bridge_hiredis_attach(ac, s->log) != NGX_OK)
    {
        ngx_log_error(level, s->log, 0,
                      "sandbox bridge: sentinel \"%V\" connect failed: %s",
                      &addr->name, ac ? ac->errstr : "out of memory");
        if (ac) {
            redisAsyncFree(ac);
        }

        return NULL;
    }

    ac->data = s;

    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_lost);

    if (s->mcf->redis_sentinel_password.len) {
        argv[0] = "AUTH";
        argvlen[0] = sizeof("AUTH") - 1;
        argv[1] = (const char *) s->mcf->redis_sentinel_password.data;
        argvlen[1] = s->mcf->redis_sentinel_password.len;

        (void) redisAsyncCommandArgv(ac, on_auth, s, 2, argv, argvlen);
    }

    return ac;
}


static void
ngx_http_sandbox_bridge_sentinel_subscribe(ngx_event_t *ev)
{
    ngx_http_sandbox_bridge_sentinel_t *s = ev->data;

    redisAsyncContext                        *ac;
    ngx_array_t                              *a;
    const char                               *argv[2];
    size_t                                    argvlen[2];
    ngx_http_sandbox_bridge_sentinel_addr_t  *addr;

    if (s->exiting || s->wac) {
        return;
    }

    a = s->mcf->redis_sentinels;
    addr = a->elts;
    addr = &addr[s->wnext];
    s->wnext = (s->wnext + 1) % a->nelts;

    ac = ngx_http_sandbox_bridge_sentinel_connect(s, addr, NGX_LOG_INFO,
                              ngx_http_sandbox_bridge_sentinel_watch_connect,
                              ngx_http_sandbox_bridge_sentinel_watch_lost,
                              ngx_http_sandbox_bridge_sentinel_message);
    if (ac == NULL) {
        ngx_http_sandbox_bridge_sentinel_rewatch(s);
        return;
    }

    s->wac = ac;

    argv[0] = "SUBSCRIBE";
    argvlen[0] = sizeof("SUBSCRIBE") - 1;
    argv[1] = "+switch-master";
    argvlen[1] = sizeof("+switch-master") - 1;

    (void) redisAsyncCommandArgv(ac, ngx_http_sandbox_bridge_sentinel_message,
                                 s, 2, argv, argvlen);
}


static void
ngx_http_sandbox_bridge_sentinel_rewatch(ngx_http_sandbox_bridge_sentinel_t *s)
{
    if (!s->exiting && !s->wtimer.timer_set) {
        ngx_add_timer(&s->wtimer, NGX_HTTP_SANDBOX_BRIDGE_SENTINEL_REWATCH);
    }
}


/* "message" "+switch-master" "<master> <old ip> <old port> <ip> <port>" */

static void
ngx_http_sandbox_bridge_sentinel_message(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                          *rep = reply, *msg;
    u_char                              *p, *last, *f[5];
    size_t                               n[5];
    ngx_int_t                            port;
    ngx_uint_t                           i;
    ngx_http_sandbox_bridge_sentinel_t  *s = privdata;

    if (ac != s->wac || rep == NULL) {
        return;
    }

    if (rep->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "sandbox bridge: sentinel subscription failed: %*s",
                      (size_t) rep->len, rep->str);
        s->wac = NULL;
        redisAsyncFree(ac);
        ngx_http_sandbox_bridge_sentinel_rewatch(s);
        return;
    }

    if (rep->type != REDIS_REPLY_ARRAY
        || rep->elements != 3
        || rep->element[0]->type != REDIS_REPLY_STRING
        || rep->element[0]->len != sizeof("message") - 1
        || ngx_strncmp(rep->element[0]->str, "message",
                       sizeof("message") - 1) != 0
        || rep->element[2]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    msg = rep->element[2];
    p = (u_char *) msg->str;
    last = p + msg->len;

    for (i = 0; i < 5; i++) {
        while (p < last && *p == ' ') {
            p++;
        }

        f[i] = p;

        while (p < last && *p != ' ') {
            p++;
        }

        n[i] = p - f[i];

        if (n[i] == 0) {
            return;
        }
    }

    if (n[0] != s->mcf->redis_master.len
        || ngx_strncmp(f[0], s->mcf->redis_master.data, n[0]) != 0
        || n[3] > NGX_SOCKADDR_STRLEN)
    {
        return;
    }

    port = ngx_atoi(f[4], n[4]);
    if (port < 1 || port > 65535) {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                  "sandbox bridge: sentinel: +switch-master %*s",
                  msg->len, msg->str);

    ngx_memcpy(s->whost, f[3], n[3]);
    s->whost[n[3]] = '\0';

    if (s->whandler) {
        s->whandler(s->wdata, s->whost, port);
    }
}


static void
ngx_http_sandbox_bridge_sentinel_watch_connect(const redisAsyncContext *ac,
    int status)
{
    ngx_http_sandbox_bridge_sentinel_t  *s = ac->data;

    if (status == REDIS_OK || s->wac != ac) {
        return;
    }

    /* hiredis frees the context after this callback */
    s->wac = NULL;
    ngx_http_sandbox_bridge_sentinel_rewatch(s);
}


static void
ngx_http_sandbox_bridge_sentinel_watch_lost(const redisAsyncContext *ac,
    int status)
{
    ngx_http_sandbox_bridge_sentinel_t  *s = ac->data;

    if (s->wac != ac) {
        return;
    }

    s->wac = NULL;
    ngx_http_sandbox_bridge_sentinel_rewatch(s);
}


static void
ngx_http_sandbox_bridge_sentinel_try(ngx_http_sandbox_bridge_sentinel_t *s)
{
    redisAsyncContext                        *ac;
    ngx_array_t                              *a;
    const char                               *argv[3];
    size_t                                    argvlen[3];
    ngx_http_sandbox_bridge_sentinel_addr_t  *addr;

    a = s->mcf->redis_sentinels;

    if (s->tried == a->nelts) {
        if (s->best_port) {
            ngx_http_sandbox_bridge_sentinel_finish(s, s->host, s->best_port);
            return;
        }

        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "sandbox bridge: no sentinel named a primary for "
                      "\"%V\"", &s->mcf->redis_master);
        ngx_http_sandbox_bridge_sentinel_finish(s, NULL, 0);
        return;
    }

    addr = a->elts;
    addr = &addr[s->next];
    s->addr = addr;
    s->next = (s->next + 1) % a->nelts;
    s->tried++;
    s->cand_port = 0;

    ac = ngx_http_sandbox_bridge_sentinel_connect(s, addr, NGX_LOG_ERR,
                              ngx_http_sandbox_bridge_sentinel_on_connect,
                              ngx_http_sandbox_bridge_sentinel_on_disconnect,
                              ngx_http_sandbox_bridge_sentinel_auth_reply);
    if (ac == NULL) {
        ngx_http_sandbox_bridge_sentinel_try(s);
        return;
    }

    s->ac = ac;

    ngx_add_timer(&s->timer, s->mcf->redis_connect_timeout);

    argv[0] = "SENTINEL";
    argvlen[0] = sizeof("SENTINEL") - 1;
    argv[1] = "get-master-addr-by-name";
    argvlen[1] = sizeof("get-master-addr-by-name") - 1;
    argv[2] = (const char *) s->mcf->redis_master.data;
    argvlen[2] = s->mcf->redis_master.len;

    (void) redisAsyncCommandArgv(ac,
                                 ngx_http_sandbox_bridge_sentinel_master_reply,
                                 s, 3, argv, argvlen);

    argv[1] = "MASTER";
    argvlen[1] = sizeof("MASTER") - 1;

    (void) redisAsyncCommandArgv(ac,
                                 ngx_http_sandbox_bridge_sentinel_epoch_reply,
                                 s, 3, argv, argvlen);
}


/* closes the link; hiredis defers the free while one of its callbacks runs */

static void
ngx_http_sandbox_bridge_sentinel_drop(ngx_http_sandbox_bridge_sentinel_t *s)
{
    redisAsyncContext  *ac;

    if (s->timer.timer_set) {
        ngx_del_timer(&s->timer);
    }

    ac = s->ac;
    s->ac = NULL;

    if (ac) {
        redisAsyncFree(ac);
    }
}


static void
ngx_http_sandbox_bridge_sentinel_finish(ngx_http_sandbox_bridge_sentinel_t *s,
    u_char *host, ngx_int_t port)
{
    ngx_http_sandbox_bridge_sentinel_drop(s);

    s->busy = 0;

    if (s->handler) {
        s->handler(s->data, host, port);
    }
}


static void
ngx_http_sandbox_bridge_sentinel_auth_reply(redisAsyncContext *ac,
    void *reply, void *privdata)
{
    redisReply                          *rep = reply;
    ngx_http_sandbox_bridge_sentinel_t  *s = privdata;

    if (ac != s->ac || (rep && rep->type != REDIS_REPLY_ERROR)) {
        return;
    }

    /* the reply text only: the password never reaches the log */
    ngx_log_error(NGX_LOG_ERR, s->log, 0,
                  "sandbox bridge: sentinel \"%V\" AUTH failed: %*s",
                  &s->addr->name, rep ? (size_t) rep->len : 0,
                  rep ? rep->str : "");

    ngx_http_sandbox_bridge_sentinel_drop(s);
    ngx_http_sandbox_bridge_sentinel_try(s);
}


static void
ngx_http_sandbox_bridge_sentinel_master_reply(redisAsyncContext *ac,
    void *reply, void *privdata)
{
    redisReply                          *rep = reply;
    ngx_int_t                            port;
    ngx_http_sandbox_bridge_sentinel_t  *s = privdata;

    if (ac != s->ac || rep == NULL) {
        /* a lost link: the epoch reply moves on */
        return;
    }

    if (rep->type != REDIS_REPLY_ARRAY
        || rep->elements != 2
        || rep->element[0]->type != REDIS_REPLY_STRING
        || rep->element[1]->type != REDIS_REPLY_STRING
        || rep->element[0]->len == 0
        || rep->element[0]->len > NGX_SOCKADDR_STRLEN)
    {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "sandbox bridge: sentinel \"%V\" knows no primary "
                      "\"%V\"%s%*s", &s->addr->name, &s->mcf->redis_master,
                      rep->type == REDIS_REPLY_ERROR ? ": " : "",
                      rep->type == REDIS_REPLY_ERROR ? (size_t) rep->len : 0,
                      rep->type == REDIS_REPLY_ERROR ? rep->str : "");
        return;
    }

    port = ngx_atoi((u_char *) rep->element[1]->str, rep->element[1]->len);
    if (port < 1 || port > 65535) {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "sandbox bridge: sentinel \"%V\" sent a bad port",
                      &s->addr->name);
        return;
    }

    ngx_memcpy(s->cand, rep->element[0]->str, rep->element[0]->len);
    s->cand[rep->element[0]->len] = '\0';
    s->cand_port = port;
}


/* SENTINEL MASTER: field/value pairs; its config-epoch ranks the answer */

static void
ngx_http_sandbox_bridge_sentinel_epoch_reply(redisAsyncContext *ac,
    void *reply, void *privdata)
{
    size_t                               i;
    int64_t                              epoch;
    redisReply                          *rep = reply, *k, *v;
    ngx_http_sandbox_bridge_sentinel_t  *s = privdata;

    if (ac != s->ac) {
        return;
    }

    if (rep == NULL) {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "sandbox bridge: sentinel \"%V\" did not answer",
                      &s->addr->name);
        goto next;
    }

    epoch = 0;

    if (rep->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i + 1 < rep->elements; i += 2) {
            k = rep->element[i];
            v = rep->element[i + 1];

            if (k->type == REDIS_REPLY_STRING
                && v->type == REDIS_REPLY_STRING
                && k->len == sizeof("config-epoch") - 1
                && ngx_strncmp(k->str, "config-epoch",
                               sizeof("config-epoch") - 1) == 0)
            {
                epoch = ngx_atoof((u_char *) v->str, v->len);
                if (epoch < 0) {
                    epoch = 0;
                }
            }
        }
    }

    if (s->cand_port && epoch > s->best_epoch) {
        s->best_epoch = epoch;
        s->best_port = s->cand_port;
        ngx_memcpy(s->host, s->cand, sizeof(s->host));
    }

next:

    ngx_http_sandbox_bridge_sentinel_drop(s);
    ngx_http_sandbox_bridge_sentinel_try(s);
}


static void
ngx_http_sandbox_bridge_sentinel_on_connect(const redisAsyncContext *ac,
    int status)
{
    ngx_http_sandbox_bridge_sentinel_t  *s = ac->data;

    if (status == REDIS_OK || s->ac != ac) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, s->log, 0,
                  "sandbox bridge: sentinel \"%V\" connect failed: %s",
                  &s->addr->name, ac->errstr);

    /* hiredis frees the context after this callback */
    s->ac = NULL;

    if (s->timer.timer_set) {
        ngx_del_timer(&s->timer);
    }

    ngx_http_sandbox_bridge_sentinel_try(s);
}


static void
ngx_http_sandbox_bridge_sentinel_on_disconnect(const redisAsyncContext *ac,
    int status)
{
    ngx_http_sandbox_bridge_sentinel_t  *s = ac->data;

    if (s->ac != ac) {
        return;
    }

    s->ac = NULL;

    if (s->timer.timer_set) {
        ngx_del_timer(&s->timer);
    }

    if (s->busy) {
        ngx_http_sandbox_bridge_sentinel_try(s);
    }
}


static void
ngx_http_sandbox_bridge_sentinel_timeout(ngx_event_t *ev)
{
    ngx_http_sandbox_bridge_sentinel_t  *s = ev->data;

    ngx_log_error(NGX_LOG_ERR, s->log, 0,
                  "sandbox bridge: sentinel \"%V\" timed out",
                  &s->addr->name);

    ngx_http_sandbox_bridge_sentinel_drop(s);
    ngx_http_sandbox_bridge_sentinel_try(s);
}
