
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include <openssl/sha.h>

#include "ngx_http_sandbox_bridge_redis.h"
#include "ngx_http_sandbox_bridge_hiredis.h"
#include "ngx_http_sandbox_bridge_metrics.h"
#include "ngx_http_sandbox_bridge_sentinel.h"
#include "ngx_http_sandbox_bridge_util.h"


#define NGX_HTTP_SANDBOX_BRIDGE_REDIS_DOWN        0
#define NGX_HTTP_SANDBOX_BRIDGE_REDIS_CONNECTING  1
#define NGX_HTTP_SANDBOX_BRIDGE_REDIS_READY       2

#define NGX_HTTP_SANDBOX_BRIDGE_BACKOFF_MIN       100
#define NGX_HTTP_SANDBOX_BRIDGE_BACKOFF_MAX       5000
/* with Sentinel a failover should be noticed within a second */
#define NGX_HTTP_SANDBOX_BRIDGE_BACKOFF_SENTINEL  1000


typedef struct ngx_http_sandbox_bridge_redis_s  ngx_http_sandbox_bridge_redis_t;


struct ngx_http_sandbox_bridge_redis_s {
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    redisAsyncContext                    *ac;
    ngx_uint_t                            state;
    ngx_event_t                           reconnect;
    ngx_event_t                           connect_timer;
    ngx_msec_t                            backoff;
    ngx_http_sandbox_bridge_script_t     *scripts;
    u_char                              (*shas)[41];
    ngx_uint_t                            nscripts;
    ngx_uint_t                            handshake_failed;
    ngx_log_t                            *log;
    /* the primary: from sandbox_redis, or named by a sentinel */
    ngx_http_sandbox_bridge_sentinel_t   *sentinel;
    ngx_str_t                             name;
    u_char                                host[NGX_SOCKADDR_STRLEN + 1];
    ngx_int_t                             port;
    u_char                                name_buf[NGX_SOCKADDR_STRLEN
                                                   + sizeof(":65535") + 1];
    /* commands sent while the sentinels are asked wait here */
    ngx_queue_t                           pending;
    unsigned                              asking:1;
    unsigned                              exiting:1;
};


/* this worker's connection: per process, made in init_process */
static ngx_http_sandbox_bridge_redis_t  *ngx_http_sandbox_bridge_redis_conn;


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


static ngx_int_t ngx_http_sandbox_bridge_redis_ready(
    ngx_http_sandbox_bridge_main_conf_t *mcf);
static void ngx_http_sandbox_bridge_redis_connect(
    ngx_http_sandbox_bridge_redis_t *redis);
static void ngx_http_sandbox_bridge_redis_on_primary(void *data,
    u_char *host, ngx_int_t port);
static void ngx_http_sandbox_bridge_redis_on_switch(void *data,
    u_char *host, ngx_int_t port);
static void ngx_http_sandbox_bridge_redis_connect_to(
    ngx_http_sandbox_bridge_redis_t *redis);
static void ngx_http_sandbox_bridge_redis_flush(
    ngx_http_sandbox_bridge_redis_t *redis);
static void ngx_http_sandbox_bridge_redis_role_reply(ngx_http_request_t *r,
    void *data, redisReply *reply);
static ngx_int_t ngx_http_sandbox_bridge_redis_send_wait(
    ngx_http_sandbox_bridge_redis_cmd_t *cmd, redisAsyncContext *ac);
static void ngx_http_sandbox_bridge_redis_wait_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static redisReply *ngx_http_sandbox_bridge_redis_copy(redisReply *reply);
static void ngx_http_sandbox_bridge_redis_reset(
    ngx_http_sandbox_bridge_redis_t *redis, const char *why);
static void ngx_http_sandbox_bridge_redis_schedule(
    ngx_http_sandbox_bridge_redis_t *redis);
static void ngx_http_sandbox_bridge_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_sandbox_bridge_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_sandbox_bridge_redis_on_connect(
    const redisAsyncContext *ac, int status);
static void ngx_http_sandbox_bridge_redis_on_disconnect(
    const redisAsyncContext *ac, int status);
static void ngx_http_sandbox_bridge_redis_handshake_reply(
    ngx_http_request_t *r, void *data, redisReply *reply);
static void ngx_http_sandbox_bridge_redis_ready_reply(ngx_http_request_t *r,
    void *data, redisReply *reply);

static ngx_int_t ngx_http_sandbox_bridge_redis_send(
    ngx_http_sandbox_bridge_redis_t *redis, ngx_http_request_t *r,
    ngx_int_t script, ngx_http_sandbox_bridge_redis_pt handler, void *data,
    int argc, const char **argv, const size_t *argvlen);
static void ngx_http_sandbox_bridge_redis_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_sandbox_bridge_redis_deliver(
    ngx_http_sandbox_bridge_redis_cmd_t *cmd, redisReply *reply);
static void ngx_http_sandbox_bridge_redis_cmd_timeout(ngx_event_t *ev);
static void ngx_http_sandbox_bridge_redis_cmd_detach(void *data);
static void ngx_http_sandbox_bridge_redis_cmd_free(
    ngx_http_sandbox_bridge_redis_cmd_t *cmd);



ngx_int_t
ngx_http_sandbox_bridge_redis_init_worker(ngx_cycle_t *cycle,
    ngx_http_sandbox_bridge_main_conf_t *mcf,
    ngx_http_sandbox_bridge_script_t *scripts, ngx_uint_t nscripts)
{
    ngx_uint_t                        i;
    ngx_http_sandbox_bridge_redis_t  *redis;
    u_char                            sha[SHA_DIGEST_LENGTH];

    redis = ngx_pcalloc(cycle->pool, sizeof(ngx_http_sandbox_bridge_redis_t));
    if (redis == NULL) {
        return NGX_ERROR;
    }

    redis->shas = ngx_pcalloc(cycle->pool, nscripts * 41);
    if (redis->shas == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < nscripts; i++) {
        SHA1(scripts[i].source.data, scripts[i].source.len, sha);
        ngx_hex_dump(redis->shas[i], sha, SHA_DIGEST_LENGTH);
    }

    redis->mcf = mcf;
    redis->log = cycle->log;
    redis->name = mcf->redis_addr;
    ngx_queue_init(&redis->pending);

    if (mcf->redis_sentinels) {
        redis->sentinel = ngx_http_sandbox_bridge_sentinel_create(cycle, mcf);
        if (redis->sentinel == NULL) {
            return NGX_ERROR;
        }

        ngx_http_sandbox_bridge_sentinel_watch(redis->sentinel,
                                      ngx_http_sandbox_bridge_redis_on_switch,
                                      redis);

    } else if (mcf->redis_unix.len == 0) {
        ngx_memcpy(redis->host, mcf->redis_host.data, mcf->redis_host.len);
        redis->host[mcf->redis_host.len] = '\0';
        redis->port = mcf->redis_port;
    }
    redis->scripts = scripts;
    redis->nscripts = nscripts;
    redis->backoff = NGX_HTTP_SANDBOX_BRIDGE_BACKOFF_MIN;

    redis->reconnect.handler = ngx_http_sandbox_bridge_redis_reconnect_handler;
    redis->reconnect.data = redis;
    redis->reconnect.log = cycle->log;
    redis->reconnect.cancelable = 1;

    redis->connect_timer.handler =
                                 ngx_http_sandbox_bridge_redis_connect_timeout;
    redis->connect_timer.data = redis;
    redis->connect_timer.log = cycle->log;
    redis->connect_timer.cancelable = 1;

    ngx_http_sandbox_bridge_redis_conn = redis;

    ngx_http_sandbox_bridge_redis_connect(redis);

    return NGX_OK;
}


void
ngx_http_sandbox_bridge_redis_exit_worker(
    ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    redisAsyncContext                *ac;
    ngx_http_sandbox_bridge_redis_t  *redis;

    redis = ngx_http_sandbox_bridge_redis_conn;

    if (redis == NULL) {
        return;
    }

    redis->exiting = 1;

    if (redis->reconnect.timer_set) {
        ngx_del_timer(&redis->reconnect);
    }

    if (redis->connect_timer.timer_set) {
        ngx_del_timer(&redis->connect_timer);
    }

    if (redis->sentinel) {
        ngx_http_sandbox_bridge_sentinel_destroy(redis->sentinel);
        redis->asking = 0;
        ngx_http_sandbox_bridge_redis_flush(redis);
    }

    ac = redis->ac;
    redis->ac = NULL;

    if (ac) {
        redisAsyncFree(ac);
    }

    ngx_http_sandbox_bridge_redis_conn = NULL;
}


/*
 * Commands are accepted while connecting too: hiredis queues them behind
 * the handshake, and a failed connect fails them within connect_timeout.
 * While the sentinels are asked they wait in redis->pending (at most
 * command_timeout) and are sent behind the handshake, or failed.
 */

static ngx_int_t
ngx_http_sandbox_bridge_redis_ready(ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    ngx_http_sandbox_bridge_redis_t  *redis;

    redis = ngx_http_sandbox_bridge_redis_conn;

    return redis != NULL
           && ((redis->state != NGX_HTTP_SANDBOX_BRIDGE_REDIS_DOWN
                && redis->ac != NULL)
               || redis->asking);
}


/* with Sentinel, every (re)connect first asks the sentinels for the primary */

static void
ngx_http_sandbox_bridge_redis_connect(ngx_http_sandbox_bridge_redis_t *redis)
{
    if (redis->sentinel) {
        redis->asking = 1;
        ngx_http_sandbox_bridge_sentinel_ask(redis->sentinel,
                                      ngx_http_sandbox_bridge_redis_on_primary,
                                      redis);
        return;
    }

    ngx_http_sandbox_bridge_redis_connect_to(redis);
}


static void
ngx_http_sandbox_bridge_redis_on_primary(void *data, u_char *host,
    ngx_int_t port)
{
    ngx_http_sandbox_bridge_redis_t  *redis = data;

    redis->asking = 0;

    if (redis->exiting || redis->ac) {
        ngx_http_sandbox_bridge_redis_flush(redis);
        return;
    }

    if (host == NULL) {
        ngx_http_sandbox_bridge_redis_flush(redis);
        ngx_http_sandbox_bridge_redis_schedule(redis);
        return;
    }

    ngx_cpystrn(redis->host, host, sizeof(redis->host));
    redis->port = port;
    redis->name.data = redis->name_buf;
    redis->name.len = ngx_snprintf(redis->name_buf, sizeof(redis->name_buf),
                                   "%s:%i", redis->host, port)
                      - redis->name_buf;

    ngx_http_sandbox_bridge_redis_connect_to(redis);

    /* behind the handshake, or failed when there is no link */
    ngx_http_sandbox_bridge_redis_flush(redis);
}


static void
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


/* +switch-master: a link to another primary is dropped and made again */

static void
ngx_http_sandbox_bridge_redis_on_switch(void *data, u_char *host,
    ngx_int_t port)
{
    ngx_http_sandbox_bridge_redis_t  *redis = data;

    if (redis->ac == NULL
        || (port == redis->port
            && ngx_strcmp(host, redis->host) == 0))
    {
        return;
    }

    redis->backoff = NGX_HTTP_SANDBOX_BRIDGE_BACKOFF_MIN;

    ngx_http_sandbox_bridge_redis_reset(redis, "+switch-master");
}


static void
ngx_http_sandbox_bridge_redis_connect_to(
    ngx_http_sandbox_bridge_redis_t *redis)
{
    redisAsyncContext                    *ac;
    ngx_uint_t                            i;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    const char                           *argv[3];
    size_t                                argvlen[3];
    u_char                                db[NGX_INT_T_LEN];

    mcf = redis->mcf;

    if (mcf->redis_unix.len) {
        ac = redisAsyncConnectUnix((char *) mcf->redis_unix.data);

    } else {
        ac = redisAsyncConnect((char *) redis->host, (int) redis->port);
    }

    if (ac == NULL || ac->err) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "sandbox bridge: redis connect to \"%V\" failed: %s",
                      &redis->name, ac ? ac->errstr : "out of memory");
        if (ac) {
            redisAsyncFree(ac);
        }

        ngx_http_sandbox_bridge_redis_schedule(redis);
        return;
    }

    if (ngx_http_sandbox_bridge_hiredis_attach(ac, redis->log) != NGX_OK) {
        redisAsyncFree(ac);
        ngx_http_sandbox_bridge_redis_schedule(redis);
        return;
    }

    redis->ac = ac;
    redis->state = NGX_HTTP_SANDBOX_BRIDGE_REDIS_CONNECTING;
    redis->handshake_failed = 0;

    ac->data = redis;

    redisAsyncSetConnectCallback(ac, ngx_http_sandbox_bridge_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac,
                                 ngx_http_sandbox_bridge_redis_on_disconnect);

    ngx_add_timer(&redis->connect_timer, mcf->redis_connect_timeout);

    /* the handshake is pipelined; its last PING marks the link ready */

    if (mcf->redis_password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (char *) mcf->redis_password.data;
        argvlen[1] = mcf->redis_password.len;

        (void) ngx_http_sandbox_bridge_redis_send(redis, NULL, -1,
                               ngx_http_sandbox_bridge_redis_handshake_reply,
                               redis, 2, argv, argvlen);
    }

    if (mcf->redis_db) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (char *) db;
        argvlen[1] = ngx_sprintf(db, "%i", mcf->redis_db) - db;

        (void) ngx_http_sandbox_bridge_redis_send(redis, NULL, -1,
                               ngx_http_sandbox_bridge_redis_handshake_reply,
                               redis, 2, argv, argvlen);
    }

    if (redis->sentinel) {
        /* a sentinel may lag behind a failover: only a primary will do */
        argv[0] = "ROLE";
        argvlen[0] = sizeof("ROLE") - 1;

        (void) ngx_http_sandbox_bridge_redis_send(redis, NULL, -1,
                                   ngx_http_sandbox_bridge_redis_role_reply,
                                   redis, 1, argv, argvlen);
    }

    for (i = 0; i < redis->nscripts; i++) {
        argv[0] = "SCRIPT";
        argvlen[0] = 6;
        argv[1] = "LOAD";
        argvlen[1] = 4;
        argv[2] = (const char *) redis->scripts[i].source.data;
        argvlen[2] = redis->scripts[i].source.len;

        (void) ngx_http_sandbox_bridge_redis_send(redis, NULL, -1,
                               ngx_http_sandbox_bridge_redis_handshake_reply,
                               redis, 3, argv, argvlen);
    }

    argv[0] = "PING";
    argvlen[0] = 4;

    (void) ngx_http_sandbox_bridge_redis_send(redis, NULL, -1,
                                   ngx_http_sandbox_bridge_redis_ready_reply,
                                   redis, 1, argv, argvlen);
}


static void
ngx_http_sandbox_bridge_redis_handshake_reply(ngx_http_request_t *r,
    void *data, redisReply *reply)
{
    ngx_http_sandbox_bridge_redis_t  *redis = data;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        if (reply && !redis->handshake_failed) {
            ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                          "sandbox bridge: redis handshake failed: %*s",
                          (size_t) reply->len, reply->str);
        }

        redis->handshake_failed = 1;
    }
}


static void
ngx_http_sandbox_bridge_redis_role_reply(ngx_http_request_t *r, void *data,
    redisReply *reply)
{
    ngx_http_sandbox_bridge_redis_t  *redis = data;

    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ARRAY
        && reply->elements > 0
        && reply->element[0]->type == REDIS_REPLY_STRING
        && reply->element[0]->len == sizeof("master") - 1
        && ngx_strncmp(reply->element[0]->str, "master",
                       sizeof("master") - 1) == 0)
    {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, redis->log, 0,
                  "sandbox bridge: redis \"%V\" is not a primary",
                  &redis->name);

    redis->handshake_failed = 1;
}


static void
ngx_http_sandbox_bridge_redis_ready_reply(ngx_http_request_t *r, void *data,
    redisReply *reply)
{
    ngx_http_sandbox_bridge_redis_t  *redis = data;

    if (reply == NULL) {
        return;
    }

    if (redis->handshake_failed || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_sandbox_bridge_redis_reset(redis, "handshake failed");
        return;
    }

    if (redis->connect_timer.timer_set) {
        ngx_del_timer(&redis->connect_timer);
    }

    redis->state = NGX_HTTP_SANDBOX_BRIDGE_REDIS_READY;
    redis->backoff = NGX_HTTP_SANDBOX_BRIDGE_BACKOFF_MIN;

    ngx_log_error(NGX_LOG_NOTICE, redis->log, 0,
                  "sandbox bridge: redis \"%V\" ready",
                  &redis->name);
}


static void
ngx_http_sandbox_bridge_redis_on_connect(const redisAsyncContext *ac,
    int status)
{
    ngx_http_sandbox_bridge_redis_t  *redis = ac->data;

    if (status == REDIS_OK) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                  "sandbox bridge: redis connect to \"%V\" failed: %s",
                  &redis->name, ac->errstr);

    /* hiredis frees the context after this callback */
    if (redis->ac == ac) {
        redis->ac = NULL;
    }

    redis->state = NGX_HTTP_SANDBOX_BRIDGE_REDIS_DOWN;

    ngx_http_sandbox_bridge_redis_schedule(redis);
}


static void
ngx_http_sandbox_bridge_redis_on_disconnect(const redisAsyncContext *ac,
    int status)
{
    ngx_http_sandbox_bridge_redis_t  *redis = ac->data;

    if (redis->ac == ac) {
        redis->ac = NULL;
    }

    redis->state = NGX_HTTP_SANDBOX_BRIDGE_REDIS_DOWN;

    if (redis->exiting) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, redis->log, 0,
                  "sandbox bridge: redis \"%V\" connection lost%s%s",
                  &redis->name, status == REDIS_OK ? "" : ": ",
                  status == REDIS_OK ? "" : ac->errstr);

    ngx_http_sandbox_bridge_redis_schedule(redis);
}


static void
ngx_http_sandbox_bridge_redis_reset(ngx_http_sandbox_bridge_redis_t *redis,
    const char *why)
{
    redisAsyncContext  *ac;

    ac = redis->ac;

    if (ac == NULL) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, redis->log, 0,
                  "sandbox bridge: redis \"%V\" reset: %s",
                  &redis->name, why);

    redis->ac = NULL;
    redis->state = NGX_HTTP_SANDBOX_BRIDGE_REDIS_DOWN;

    /* runs every pending callback with a NULL reply */
    redisAsyncFree(ac);

    ngx_http_sandbox_bridge_redis_schedule(redis);
}


static void
ngx_http_sandbox_bridge_redis_schedule(ngx_http_sandbox_bridge_redis_t *redis)
{
    ngx_msec_t  delay;

    if (redis->exiting || redis->reconnect.timer_set) {
        return;
    }

    if (redis->connect_timer.timer_set) {
        ngx_del_timer(&redis->connect_timer);
    }

    /* exponential backoff with +-25% jitter */
    delay = redis->backoff - redis->backoff / 4
            + (ngx_msec_t) ngx_random() % (redis->backoff / 2 + 1);

    redis->backoff *= 2;
    if (redis->backoff > NGX_HTTP_SANDBOX_BRIDGE_BACKOFF_MAX) {
        redis->backoff = NGX_HTTP_SANDBOX_BRIDGE_BACKOFF_MAX;
    }

    if (redis->sentinel
        && redis->backoff > NGX_HTTP_SANDBOX_BRIDGE_BACKOFF_SENTINEL)
    {
        redis->backoff = NGX_HTTP_SANDBOX_BRIDGE_BACKOFF_SENTINEL;
    }

    ngx_add_timer(&redis->reconnect, delay);
}


static void
ngx_http_sandbox_bridge_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_sandbox_bridge_redis_t  *redis = ev->data;

    if (redis->exiting || redis->ac) {
        return;
    }

    ngx_http_sandbox_bridge_metrics_redis_reconnect(redis->mcf);
    ngx_http_sandbox_bridge_redis_connect(redis);
}


static void
ngx_http_sandbox_bridge_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_sandbox_bridge_redis_t  *redis = ev->data;

    if (redis->state != NGX_HTTP_SANDBOX_BRIDGE_REDIS_READY) {
        ngx_http_sandbox_bridge_redis_reset(redis, "connect timed out");
    }
}


ngx_int_t
ngx_http_sandbox_bridge_redis_command(ngx_http_sandbox_bridge_main_conf_t *mcf,
    ngx_http_request_t *r, ngx_http_sandbox_bridge_redis_pt handler,
    void *data, int argc, const char **argv, const size_t *argvlen)
{
    if (!ngx_http_sandbox_bridge_redis_ready(mcf)) {
        return NGX_DECLINED;
    }

    return ngx_http_sandbox_bridge_redis_send(
                                           ngx_http_sandbox_bridge_redis_conn,
                                           r, -1, handler, data, argc, argv,
                                           argvlen);
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
        || script >= ngx_http_sandbox_bridge_redis_conn->nscripts)
    {
        return NGX_ERROR;
    }

    av[0] = "EVALSHA";
    al[0] = 7;
    av[1] = (const char *) ngx_http_sandbox_bridge_redis_conn->shas[script];
    al[1] = 40;
    av[2] = (char *) nk;
    al[2] = ngx_sprintf(nk, "%d", nkeys) - nk;

    for (i = 0; i < argc; i++) {
        av[i + 3] = argv[i];
        al[i + 3] = argvlen[i];
    }

    return ngx_http_sandbox_bridge_redis_send(
                                           ngx_http_sandbox_bridge_redis_conn,
                                           r, script, handler, data,
                                           argc + 3, av, al);
}


static ngx_int_t
ngx_http_sandbox_bridge_redis_send(ngx_http_sandbox_bridge_redis_t *redis,
    ngx_http_request_t *r, ngx_int_t script,
    ngx_http_sandbox_bridge_redis_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    int                                   i;
    size_t                                size;
    u_char                               *p;
    ngx_uint_t                            copy;
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

    ngx_add_timer(&cmd->timer, redis->mcf->redis_command_timeout
                               + (cmd->wait ? redis->mcf->redis_wait_timeout
                                            : 0));

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

    ngx_http_sandbox_bridge_metrics_redis(cmd->redis->mcf,
                       reply == NULL
                       ? NGX_HTTP_SANDBOX_BRIDGE_METRICS_REDIS_FAILED
                       : reply->type == REDIS_REPLY_ERROR
                         ? NGX_HTTP_SANDBOX_BRIDGE_METRICS_REDIS_ERROR
                         : NGX_HTTP_SANDBOX_BRIDGE_METRICS_REDIS_OK);

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
