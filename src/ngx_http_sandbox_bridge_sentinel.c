
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_sandbox_bridge_sentinel.h"
#include "ngx_http_sandbox_bridge_hiredis.h"


/*
 * Redis Sentinel (README "Redis Sentinel"): the sentinels are asked in
 * turn, each on a short async link of its own, "SENTINEL
 * get-master-addr-by-name <master>"; the first that names a primary wins.
 * A sentinel that fails, times out or knows no primary passes the
 * question to the next one. Everything runs in the event loop.
 */

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
    unsigned                              busy:1;
};


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
static void ngx_http_sandbox_bridge_sentinel_on_connect(
    const redisAsyncContext *ac, int status);
static void ngx_http_sandbox_bridge_sentinel_on_disconnect(
    const redisAsyncContext *ac, int status);
static void ngx_http_sandbox_bridge_sentinel_timeout(ngx_event_t *ev);


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
    s->handler = handler;
    s->data = data;

    ngx_http_sandbox_bridge_sentinel_try(s);
}


void
ngx_http_sandbox_bridge_sentinel_destroy(ngx_http_sandbox_bridge_sentinel_t *s)
{
    s->busy = 0;
    s->handler = NULL;

    ngx_http_sandbox_bridge_sentinel_drop(s);
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

    ac = redisAsyncConnect((char *) addr->host.data, (int) addr->port);

    if (ac == NULL || ac->err
        || ngx_http_sandbox_bridge_hiredis_attach(ac, s->log) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "sandbox bridge: sentinel \"%V\" connect failed: %s",
                      &addr->name, ac ? ac->errstr : "out of memory");
        if (ac) {
            redisAsyncFree(ac);
        }

        ngx_http_sandbox_bridge_sentinel_try(s);
        return;
    }

    s->ac = ac;
    ac->data = s;

    redisAsyncSetConnectCallback(ac,
                                 ngx_http_sandbox_bridge_sentinel_on_connect);
    redisAsyncSetDisconnectCallback(ac,
                              ngx_http_sandbox_bridge_sentinel_on_disconnect);

    ngx_add_timer(&s->timer, s->mcf->redis_connect_timeout);

    if (s->mcf->redis_sentinel_password.len) {
        argv[0] = "AUTH";
        argvlen[0] = sizeof("AUTH") - 1;
        argv[1] = (const char *) s->mcf->redis_sentinel_password.data;
        argvlen[1] = s->mcf->redis_sentinel_password.len;

        (void) redisAsyncCommandArgv(ac,
                                   ngx_http_sandbox_bridge_sentinel_auth_reply,
                                   s, 2, argv, argvlen);
    }

    argv[0] = "SENTINEL";
    argvlen[0] = sizeof("SENTINEL") - 1;
    argv[1] = "get-master-addr-by-name";
    argvlen[1] = sizeof("get-master-addr-by-name") - 1;
    argv[2] = (const char *) s->mcf->redis_master.data;
    argvlen[2] = s->mcf->redis_master.len;

    (void) redisAsyncCommandArgv(ac,
                                 ngx_http_sandbox_bridge_sentinel_master_reply,
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

    if (ac != s->ac) {
        return;
    }

    if (rep == NULL) {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "sandbox bridge: sentinel \"%V\" did not answer",
                      &s->addr->name);
        goto next;
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
        goto next;
    }

    port = ngx_atoi((u_char *) rep->element[1]->str, rep->element[1]->len);
    if (port < 1 || port > 65535) {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "sandbox bridge: sentinel \"%V\" sent a bad port",
                      &s->addr->name);
        goto next;
    }

    ngx_memcpy(s->host, rep->element[0]->str, rep->element[0]->len);
    s->host[rep->element[0]->len] = '\0';

    ngx_http_sandbox_bridge_sentinel_finish(s, s->host, port);
    return;

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
