
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include <openssl/sha.h>

#include "ngx_http_sandbox_bridge_redis_conn.h"
#include "ngx_http_sandbox_bridge_redis.h"
#include "ngx_http_sandbox_bridge_hiredis.h"
#include "ngx_http_sandbox_bridge_metrics.h"
#include "ngx_http_sandbox_bridge_sentinel.h"


/*
 * The worker's link to Redis: connect, the pipelined handshake (AUTH,
 * SELECT, ROLE with Sentinel, SCRIPT LOAD, PING), asking the sentinels
 * for the primary, back-off and reconnect. The commands are redis.c's.
 */

#define NGX_HTTP_SANDBOX_BRIDGE_BACKOFF_MIN       100
#define NGX_HTTP_SANDBOX_BRIDGE_BACKOFF_MAX       5000
/* with Sentinel a failover should be noticed within a second */
#define NGX_HTTP_SANDBOX_BRIDGE_BACKOFF_SENTINEL  1000
/* an idle link is PINGed this often at most (or at command_timeout/2) */
#define NGX_HTTP_SANDBOX_BRIDGE_KEEPALIVE         1000


static void ngx_http_sandbox_bridge_redis_connect(
    ngx_http_sandbox_bridge_redis_t *redis);
static void ngx_http_sandbox_bridge_redis_on_primary(void *data,
    u_char *host, ngx_int_t port);
static void ngx_http_sandbox_bridge_redis_on_switch(void *data,
    u_char *host, ngx_int_t port);
static void ngx_http_sandbox_bridge_redis_connect_to(
    ngx_http_sandbox_bridge_redis_t *redis);
static void ngx_http_sandbox_bridge_redis_role_reply(ngx_http_request_t *r,
    void *data, redisReply *reply);
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
static ngx_msec_t ngx_http_sandbox_bridge_redis_keepalive_interval(
    ngx_http_sandbox_bridge_main_conf_t *mcf);
static void ngx_http_sandbox_bridge_redis_keepalive_handler(ngx_event_t *ev);
static void ngx_http_sandbox_bridge_redis_keepalive_reply(
    ngx_http_request_t *r, void *data, redisReply *reply);


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

    redis->keepalive.handler = ngx_http_sandbox_bridge_redis_keepalive_handler;
    redis->keepalive.data = redis;
    redis->keepalive.log = cycle->log;
    redis->keepalive.cancelable = 1;

    mcf->redis = redis;

    ngx_http_sandbox_bridge_redis_connect(redis);

    return NGX_OK;
}


void
ngx_http_sandbox_bridge_redis_exit_worker(
    ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    redisAsyncContext                *ac;
    ngx_http_sandbox_bridge_redis_t  *redis;

    redis = mcf->redis;

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

    if (redis->keepalive.timer_set) {
        ngx_del_timer(&redis->keepalive);
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

    mcf->redis = NULL;
}


/*
 * Commands are accepted while connecting too: hiredis queues them behind
 * the handshake, and a failed connect fails them within connect_timeout.
 * While the sentinels are asked they wait in redis->pending (at most
 * command_timeout) and are sent behind the handshake, or failed.
 */

ngx_uint_t
ngx_http_sandbox_bridge_redis_ready(ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    ngx_http_sandbox_bridge_redis_t  *redis;

    redis = mcf->redis;

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
    ngx_msec_t                        interval;
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

    if (!redis->keepalive.timer_set) {
        interval = ngx_http_sandbox_bridge_redis_keepalive_interval(redis->mcf);
        ngx_add_timer(&redis->keepalive, interval);
    }

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


void
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


/*
 * Health without a round trip (README "Health"): the link is alive when
 * ready and a reply came within a keepalive interval and a PING's
 * timeout. A link without a reply for an interval is PINGed; a PING
 * without a reply times out as any command does, which resets the link.
 * With wait= the PING may queue behind a blocking WAIT: its timeout is
 * then the WAIT's (command_timeout + the wait time).
 */

ngx_uint_t
ngx_http_sandbox_bridge_redis_alive(ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    ngx_http_sandbox_bridge_redis_t  *redis;

    redis = mcf->redis;

    return redis != NULL
           && redis->ac != NULL
           && redis->state == NGX_HTTP_SANDBOX_BRIDGE_REDIS_READY
           && (ngx_msec_int_t) (ngx_current_msec - redis->last_reply)
              < (ngx_msec_int_t)
                (ngx_http_sandbox_bridge_redis_keepalive_interval(mcf)
                 + mcf->redis_command_timeout
                 + (mcf->redis_wait_replicas ? mcf->redis_wait_timeout : 0));
}


static ngx_msec_t
ngx_http_sandbox_bridge_redis_keepalive_interval(
    ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    ngx_msec_t  interval;

    interval = mcf->redis_command_timeout / 2;

    if (interval > NGX_HTTP_SANDBOX_BRIDGE_KEEPALIVE) {
        interval = NGX_HTTP_SANDBOX_BRIDGE_KEEPALIVE;
    }

    return interval ? interval : 1;
}


static void
ngx_http_sandbox_bridge_redis_keepalive_handler(ngx_event_t *ev)
{
    ngx_msec_t                        interval;
    ngx_http_sandbox_bridge_redis_t  *redis = ev->data;
    const char                       *argv[1];
    size_t                            argvlen[1];

    if (redis->exiting
        || redis->ac == NULL
        || redis->state != NGX_HTTP_SANDBOX_BRIDGE_REDIS_READY)
    {
        /* set again once the link is ready */
        return;
    }

    interval = ngx_http_sandbox_bridge_redis_keepalive_interval(redis->mcf);

    if (!redis->pinging
        && (ngx_msec_int_t) (ngx_current_msec - redis->last_reply)
           >= (ngx_msec_int_t) interval)
    {
        argv[0] = "PING";
        argvlen[0] = sizeof("PING") - 1;

        if (ngx_http_sandbox_bridge_redis_send(redis, NULL,
                                  NGX_HTTP_SANDBOX_BRIDGE_REDIS_OWN,
                                  ngx_http_sandbox_bridge_redis_keepalive_reply,
                                  redis, 1, argv, argvlen)
            == NGX_OK)
        {
            redis->pinging = 1;
        }
    }

    if (redis->ac != NULL) {
        ngx_add_timer(ev, interval);
    }
}


static void
ngx_http_sandbox_bridge_redis_keepalive_reply(ngx_http_request_t *r,
    void *data, redisReply *reply)
{
    ngx_http_sandbox_bridge_redis_t  *redis = data;

    /* no reply: the link was reset (a timeout resets it) */
    redis->pinging = 0;
}
