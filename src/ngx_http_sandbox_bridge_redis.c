
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_redis.h"
#include "ngx_http_sandbox_bridge_metrics.h"


/*
 * Commands on the worker's link (redis_conn.c): sent, timed, their
 * replies delivered; EVALSHA with its NOSCRIPT retry; WAIT after the
 * scripts that create or delete a lease; argument lists.
 */

typedef struct {
    ngx_http_sandbox_bridge_redis_t      *redis;
    ngx_http_request_t                   *r;
    ngx_pool_cleanup_t                   *cln;
    ngx_http_sandbox_bridge_redis_pt      handler;
    void                                 *data;
    ngx_event_t                           timer;
    ngx_int_t                             script;
    int                                   argc;
    char                                **argv;
    size_t                               *argvlen;
    /* wait=: the script's reply, kept until its WAIT answers */
    redisReply                           *saved;
    ngx_uint_t                            waits;
    ngx_queue_t                           queue;
    unsigned                              queued:1;
    unsigned                              done:1;
    unsigned                              retried:1;
    unsigned                              wait:1;
} ngx_http_sandbox_bridge_redis_cmd_t;


static void ngx_http_sandbox_bridge_redis_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static ngx_int_t ngx_http_sandbox_bridge_redis_send_wait(
    ngx_http_sandbox_bridge_redis_cmd_t *cmd, redisAsyncContext *ac);
static void ngx_http_sandbox_bridge_redis_wait_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static redisReply *ngx_http_sandbox_bridge_redis_copy(redisReply *reply);
static void ngx_http_sandbox_bridge_redis_deliver(
    ngx_http_sandbox_bridge_redis_cmd_t *cmd, redisReply *reply);
static void ngx_http_sandbox_bridge_redis_cmd_timeout(ngx_event_t *ev);
static void ngx_http_sandbox_bridge_redis_cmd_detach(void *data);
static void ngx_http_sandbox_bridge_redis_cmd_free(
    ngx_http_sandbox_bridge_redis_cmd_t *cmd);


ngx_int_t
ngx_http_sandbox_bridge_redis_command(ngx_http_sandbox_bridge_main_conf_t *mcf,
    ngx_http_request_t *r, ngx_http_sandbox_bridge_redis_pt handler,
    void *data, int argc, const char **argv, const size_t *argvlen)
{
    if (!ngx_http_sandbox_bridge_redis_ready(mcf)) {
        return NGX_DECLINED;
    }

    return ngx_http_sandbox_bridge_redis_send(mcf->redis, r, -1, handler,
                                              data, argc, argv, argvlen);
}


/* EVALSHA sha nkeys argv...; falls back to EVAL once on NOSCRIPT */

ngx_int_t
ngx_http_sandbox_bridge_redis_script(ngx_http_sandbox_bridge_main_conf_t *mcf,
    ngx_http_request_t *r, ngx_uint_t script,
    ngx_http_sandbox_bridge_redis_pt handler, void *data, int nkeys,
    int argc, const char **argv, const size_t *argvlen)
{
    int         i;
    const char  *av[NGX_HTTP_SANDBOX_BRIDGE_REDIS_MAX_ARGS];
    size_t       al[NGX_HTTP_SANDBOX_BRIDGE_REDIS_MAX_ARGS];
    u_char       nk[NGX_INT_T_LEN];

    if (!ngx_http_sandbox_bridge_redis_ready(mcf)) {
        return NGX_DECLINED;
    }

    if (argc + 3 > NGX_HTTP_SANDBOX_BRIDGE_REDIS_MAX_ARGS
        || script >= mcf->redis->nscripts)
    {
        return NGX_ERROR;
    }

    av[0] = "EVALSHA";
    al[0] = 7;
    av[1] = (const char *) mcf->redis->shas[script];
    al[1] = 40;
    av[2] = (char *) nk;
    al[2] = ngx_sprintf(nk, "%d", nkeys) - nk;

    for (i = 0; i < argc; i++) {
        av[i + 3] = argv[i];
        al[i + 3] = argvlen[i];
    }

    return ngx_http_sandbox_bridge_redis_send(mcf->redis, r, script, handler,
                                              data, argc + 3, av, al);
}


ngx_int_t
ngx_http_sandbox_bridge_redis_send(ngx_http_sandbox_bridge_redis_t *redis,
    ngx_http_request_t *r, ngx_int_t script,
    ngx_http_sandbox_bridge_redis_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    int                                   i;
    size_t                                size;
    u_char                               *p;
    ngx_uint_t                            copy;
    ngx_msec_t                            timeout;
    ngx_http_sandbox_bridge_redis_cmd_t  *cmd;

    if (redis->ac == NULL && !redis->asking) {
        return NGX_DECLINED;
    }

    /* kept for the NOSCRIPT retry, or until the primary is known */
    copy = script >= 0 || redis->ac == NULL;

    /* the command outlives a request that goes away: malloc, not pool */
    size = sizeof(ngx_http_sandbox_bridge_redis_cmd_t)
           + argc * (sizeof(char *) + sizeof(size_t));

    if (copy) {
        for (i = 0; i < argc; i++) {
            size += argvlen[i] + 1;
        }
    }

    cmd = ngx_calloc(size, redis->log);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    cmd->redis = redis;
    cmd->r = r;
    cmd->handler = handler;
    cmd->data = data;
    cmd->script = script;
    cmd->argc = argc;

    if (copy) {
        cmd->argv = (char **) (cmd + 1);
        cmd->argvlen = (size_t *) (cmd->argv + argc);
        p = (u_char *) (cmd->argvlen + argc);

        for (i = 0; i < argc; i++) {
            cmd->argv[i] = (char *) p;
            cmd->argvlen[i] = argvlen[i];
            p = ngx_cpymem(p, argv[i], argvlen[i]);
            *p++ = '\0';
        }
    }

    if (r) {
        cmd->cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cmd->cln == NULL) {
            ngx_free(cmd);
            return NGX_ERROR;
        }

        cmd->cln->handler = ngx_http_sandbox_bridge_redis_cmd_detach;
        cmd->cln->data = cmd;
    }

    cmd->wait = script >= 0 && redis->mcf->redis_wait_replicas
                && redis->scripts[script].wait;

    cmd->timer.handler = ngx_http_sandbox_bridge_redis_cmd_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = redis->log;

    if (redis->ac == NULL) {
        ngx_queue_insert_tail(&redis->pending, &cmd->queue);
        cmd->queued = 1;

        ngx_add_timer(&cmd->timer, redis->mcf->redis_command_timeout);
        return NGX_OK;
    }

    if (redisAsyncCommandArgv(redis->ac, ngx_http_sandbox_bridge_redis_reply,
                              cmd, argc, argv, argvlen)
        != REDIS_OK)
    {
        if (cmd->cln) {
            cmd->cln->handler = NULL;
        }

        ngx_free(cmd);
        return NGX_DECLINED;
    }

    /*
     * a WAIT blocks the link: its script waits for it, and so may the
     * keepalive PING behind one
     */
    timeout = redis->mcf->redis_command_timeout;

    if (cmd->wait
        || (script == NGX_HTTP_SANDBOX_BRIDGE_REDIS_OWN
            && redis->mcf->redis_wait_replicas))
    {
        timeout += redis->mcf->redis_wait_timeout;
    }

    ngx_add_timer(&cmd->timer, timeout);

    if (cmd->wait
        && ngx_http_sandbox_bridge_redis_send_wait(cmd, redis->ac) != NGX_OK)
    {
        /* the script is queued: its reply comes, the WAIT's never will */
        cmd->wait = 0;
    }

    return NGX_OK;
}


static void
ngx_http_sandbox_bridge_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                           *rep = reply;
    ngx_uint_t                            readonly;
    ngx_http_sandbox_bridge_redis_t      *redis;
    ngx_http_sandbox_bridge_redis_cmd_t  *cmd = privdata;

    redis = cmd->redis;

    if (rep != NULL && redis->ac == ac) {
        redis->last_reply = ngx_current_msec;
    }

    /* a primary turned replica (failover): ask the sentinels again */
    readonly = redis->sentinel != NULL
               && rep != NULL
               && rep->type == REDIS_REPLY_ERROR
               && rep->len >= sizeof("READONLY") - 1
               && ngx_strncmp(rep->str, "READONLY", sizeof("READONLY") - 1)
                  == 0
               && redis->ac == ac;

    if (!cmd->done
        && rep != NULL
        && rep->type == REDIS_REPLY_ERROR
        && cmd->script >= 0
        && !cmd->retried
        && rep->len >= 8
        && ngx_strncmp(rep->str, "NOSCRIPT", 8) == 0
        && redis->ac == ac)
    {
        /* the script cache was flushed: EVAL loads it again */
        cmd->retried = 1;
        cmd->argv[0] = "EVAL";
        cmd->argvlen[0] = 4;
        cmd->argv[1] = (char *) redis->scripts[cmd->script].source.data;
        cmd->argvlen[1] = redis->scripts[cmd->script].source.len;

        if (redisAsyncCommandArgv(ac, ngx_http_sandbox_bridge_redis_reply,
                                  cmd, cmd->argc, (const char **) cmd->argv,
                                  cmd->argvlen)
            == REDIS_OK)
        {
            if (cmd->wait) {
                (void) ngx_http_sandbox_bridge_redis_send_wait(cmd, ac);
            }

            return;
        }
    }

    if (cmd->waits) {
        /* delivered when the last WAIT answers */
        if (rep && !cmd->done && cmd->saved == NULL) {
            cmd->saved = ngx_http_sandbox_bridge_redis_copy(rep);
        }

    } else {
        ngx_http_sandbox_bridge_redis_deliver(cmd, rep);
        ngx_http_sandbox_bridge_redis_cmd_free(cmd);
    }

    if (readonly) {
        ngx_http_sandbox_bridge_redis_reset(redis, "READONLY");
    }
}


static ngx_int_t
ngx_http_sandbox_bridge_redis_send_wait(
    ngx_http_sandbox_bridge_redis_cmd_t *cmd, redisAsyncContext *ac)
{
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    const char                           *argv[3];
    size_t                                argvlen[3];
    u_char                                n[NGX_INT_T_LEN];
    u_char                                t[NGX_INT_T_LEN];

    mcf = cmd->redis->mcf;

    argv[0] = "WAIT";
    argvlen[0] = sizeof("WAIT") - 1;
    argv[1] = (const char *) n;
    argvlen[1] = ngx_sprintf(n, "%i", mcf->redis_wait_replicas) - n;
    argv[2] = (const char *) t;
    argvlen[2] = ngx_sprintf(t, "%M", mcf->redis_wait_timeout) - t;

    if (redisAsyncCommandArgv(ac, ngx_http_sandbox_bridge_redis_wait_reply,
                              cmd, 3, argv, argvlen)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    cmd->waits++;

    return NGX_OK;
}


/*
 * wait=: a lease-creating or -deleting script counts only once enough
 * replicas have it; otherwise the caller sees a store failure (503).
 */

static void
ngx_http_sandbox_bridge_redis_wait_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                           *rep = reply, *saved;
    ngx_http_sandbox_bridge_redis_t      *redis;
    ngx_http_sandbox_bridge_redis_cmd_t  *cmd = privdata;

    redis = cmd->redis;

    if (rep != NULL && redis->ac == ac) {
        redis->last_reply = ngx_current_msec;
    }

    if (--cmd->waits) {
        return;
    }

    saved = cmd->saved;
    cmd->saved = NULL;

    if (saved && saved->type != REDIS_REPLY_ERROR
        && (rep == NULL
            || rep->type != REDIS_REPLY_INTEGER
            || rep->integer < redis->mcf->redis_wait_replicas))
    {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "sandbox bridge: redis \"%V\" WAIT: %i of %i "
                      "replicas acknowledged",
                      &redis->name,
                      (rep && rep->type == REDIS_REPLY_INTEGER)
                      ? (ngx_int_t) rep->integer : (ngx_int_t) -1,
                      redis->mcf->redis_wait_replicas);

        freeReplyObject(saved);
        saved = NULL;
    }

    ngx_http_sandbox_bridge_redis_deliver(cmd, saved);
    ngx_http_sandbox_bridge_redis_cmd_free(cmd);

    if (saved) {
        freeReplyObject(saved);
    }
}


/* a deep copy hiredis's freeReplyObject() can free */

static redisReply *
ngx_http_sandbox_bridge_redis_copy(redisReply *reply)
{
    size_t       i;
    redisReply  *r;

    r = calloc(1, sizeof(redisReply));
    if (r == NULL) {
        return NULL;
    }

    r->type = reply->type;
    r->integer = reply->integer;

    if (reply->str) {
        r->str = malloc(reply->len + 1);
        if (r->str == NULL) {
            free(r);
            return NULL;
        }

        memcpy(r->str, reply->str, reply->len);
        r->str[reply->len] = '\0';
        r->len = reply->len;
    }

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements) {
        r->element = calloc(reply->elements, sizeof(redisReply *));
        if (r->element == NULL) {
            freeReplyObject(r);
            return NULL;
        }

        r->elements = reply->elements;

        for (i = 0; i < reply->elements; i++) {
            r->element[i] = ngx_http_sandbox_bridge_redis_copy(
                                                           reply->element[i]);
            if (r->element[i] == NULL) {
                freeReplyObject(r);
                return NULL;
            }
        }
    }

    return r;
}


static void
ngx_http_sandbox_bridge_redis_deliver(ngx_http_sandbox_bridge_redis_cmd_t *cmd,
    redisReply *reply)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (cmd->done) {
        return;
    }

    cmd->done = 1;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    if (cmd->cln) {
        cmd->cln->handler = NULL;
        cmd->cln = NULL;
    }

    r = cmd->r;
    cmd->r = NULL;

    c = r ? r->connection : NULL;

    if (cmd->script != NGX_HTTP_SANDBOX_BRIDGE_REDIS_OWN) {
        ngx_http_sandbox_bridge_metrics_redis(cmd->redis->mcf,
                           reply == NULL
                           ? NGX_HTTP_SANDBOX_BRIDGE_METRICS_REDIS_FAILED
                           : reply->type == REDIS_REPLY_ERROR
                             ? NGX_HTTP_SANDBOX_BRIDGE_METRICS_REDIS_ERROR
                             : NGX_HTTP_SANDBOX_BRIDGE_METRICS_REDIS_OK);
    }

    cmd->handler(r, cmd->data, reply);

    if (c) {
        ngx_http_run_posted_requests(c);
    }
}


static void
ngx_http_sandbox_bridge_redis_cmd_timeout(ngx_event_t *ev)
{
    ngx_http_sandbox_bridge_redis_t      *redis;
    ngx_http_sandbox_bridge_redis_cmd_t  *cmd = ev->data;

    redis = cmd->redis;

    if (cmd->queued) {
        /* no primary known in time: as with Redis down */
        ngx_queue_remove(&cmd->queue);
        cmd->queued = 0;

        ngx_http_sandbox_bridge_redis_deliver(cmd, NULL);
        ngx_http_sandbox_bridge_redis_cmd_free(cmd);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                  "sandbox bridge: redis \"%V\" command timed out",
                  &redis->name);

    ngx_http_sandbox_bridge_redis_deliver(cmd, NULL);

    /* a stuck link is reset; the reset frees this command */
    ngx_http_sandbox_bridge_redis_reset(redis, "command timed out");
}


static void
ngx_http_sandbox_bridge_redis_cmd_detach(void *data)
{
    ngx_http_sandbox_bridge_redis_cmd_t  *cmd = data;

    /* the request is going away; the reply will just be dropped */
    cmd->done = 1;
    cmd->r = NULL;
    cmd->cln = NULL;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }
}


static void
ngx_http_sandbox_bridge_redis_cmd_free(ngx_http_sandbox_bridge_redis_cmd_t *cmd)
{
    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    if (cmd->cln) {
        cmd->cln->handler = NULL;
    }

    ngx_free(cmd);
}


void
ngx_http_sandbox_bridge_redis_flush(ngx_http_sandbox_bridge_redis_t *redis)
{
    ngx_queue_t                          *q;
    ngx_http_sandbox_bridge_redis_cmd_t  *cmd;

    while (!ngx_queue_empty(&redis->pending)) {
        q = ngx_queue_head(&redis->pending);
        ngx_queue_remove(q);

        cmd = ngx_queue_data(q, ngx_http_sandbox_bridge_redis_cmd_t, queue);
        cmd->queued = 0;

        if (redis->ac == NULL
            || cmd->done
            || redisAsyncCommandArgv(redis->ac,
                                     ngx_http_sandbox_bridge_redis_reply,
                                     cmd, cmd->argc,
                                     (const char **) cmd->argv,
                                     cmd->argvlen)
               != REDIS_OK)
        {
            ngx_http_sandbox_bridge_redis_deliver(cmd, NULL);
            ngx_http_sandbox_bridge_redis_cmd_free(cmd);
            continue;
        }

        if (cmd->wait
            && ngx_http_sandbox_bridge_redis_send_wait(cmd, redis->ac)
               != NGX_OK)
        {
            cmd->wait = 0;
        }
    }
}


void
ngx_http_sandbox_bridge_arg(ngx_http_sandbox_bridge_args_t *a,
    const void *data, size_t len)
{
    if (a->argc == NGX_HTTP_SANDBOX_BRIDGE_REDIS_MAX_ARGS) {
        a->overflow = 1;
        return;
    }

    a->argv[a->argc] = data;
    a->argvlen[a->argc] = len;
    a->argc++;
}
