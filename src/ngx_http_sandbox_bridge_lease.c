
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_lease.h"
#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_exec.h"
#include "ngx_http_sandbox_bridge_util.h"


#define NGX_HTTP_SANDBOX_BRIDGE_PROBE    0
#define NGX_HTTP_SANDBOX_BRIDGE_ACQUIRE  1
#define NGX_HTTP_SANDBOX_BRIDGE_RESUME   2
#define NGX_HTTP_SANDBOX_BRIDGE_DESTROY  3

#define NGX_HTTP_SANDBOX_BRIDGE_DEFAULT_CWD      "/workspace/paperclip"
#define NGX_HTTP_SANDBOX_BRIDGE_DEFAULT_SESSION  "paperclip"
#define NGX_HTTP_SANDBOX_BRIDGE_DEFAULT_TIMEOUT  300000
#define NGX_HTTP_SANDBOX_BRIDGE_SENTINEL         "/.paperclip-lease.json"
#define NGX_HTTP_SANDBOX_BRIDGE_UTIL_LIMIT       (64 * 1024)


typedef struct {
    ngx_uint_t                        kind;
    ngx_str_t                         id;
    ngx_str_t                         key;
    ngx_str_t                         container;
    ngx_str_t                         cwd;
    ngx_str_t                         sentinel;
    ngx_str_t                         strategy;
    ngx_str_t                         session;
    ngx_str_t                         sleep_after;
    ngx_msec_int_t                    sleep_ms;
    ngx_msec_t                        timeout;
    ngx_str_t                         env_id;
    ngx_str_t                         run_id;
    ngx_str_t                         issue_id;
    ngx_str_t                         stdout_text;
    ngx_uint_t                        keepalive;
    ngx_uint_t                        normalize;
    ngx_uint_t                        reuse;
    ngx_uint_t                        retries;

    ngx_uint_t                        resp_status;
    json_t                           *resp;

    const char                       *action;
    ngx_http_sandbox_bridge_step_pt   after_util;
    ngx_http_sandbox_bridge_call_t    call;
    ngx_http_sandbox_bridge_exec_t    ex;
} ngx_http_sandbox_bridge_lease_op_t;


typedef struct {
    ngx_str_t                          id;
    ngx_http_sandbox_bridge_lease_pt   handler;
} ngx_http_sandbox_bridge_touch_t;


static ngx_int_t ngx_http_sandbox_bridge_lease_parse(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx, ngx_uint_t kind);
static ngx_int_t ngx_http_sandbox_bridge_lease_id(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_lease_op_t *op, ngx_str_t *base);
static ngx_int_t ngx_http_sandbox_bridge_truthy_text(json_t *v,
    ngx_pool_t *pool, ngx_str_t *out);
static ngx_int_t ngx_http_sandbox_bridge_lease_begin(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_lease_begun(ngx_http_request_t *r,
    void *data, redisReply *reply);
static void ngx_http_sandbox_bridge_lease_create(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_lease_created(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_lease_start(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_lease_started(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_lease_inspected(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_lease_mkdir(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_lease_write_sentinel(
    ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_lease_commit(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_lease_committed(ngx_http_request_t *r,
    void *data, redisReply *reply);
static void ngx_http_sandbox_bridge_lease_pwd(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_lease_probed(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_lease_resume_touched(
    ngx_http_request_t *r, void *data, redisReply *reply);
static void ngx_http_sandbox_bridge_lease_check_sentinel(
    ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_lease_sentinel_checked(
    ngx_http_request_t *r, ngx_http_sandbox_bridge_exec_t *ex);
static void ngx_http_sandbox_bridge_lease_respond(ngx_http_request_t *r);

static ngx_int_t ngx_http_sandbox_bridge_lease_util(ngx_http_request_t *r,
    const char *action, ngx_str_t *command, json_t *args, ngx_str_t *cwd,
    ngx_http_sandbox_bridge_exec_done_pt done);
static void ngx_http_sandbox_bridge_lease_util_done(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_exec_t *ex);
static void ngx_http_sandbox_bridge_lease_fail(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, u_char *msg, size_t len);
static void ngx_http_sandbox_bridge_lease_docker_fail(ngx_http_request_t *r,
    const char *what);
static void ngx_http_sandbox_bridge_lease_destroy(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_lease_rm(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_step_pt step);
static void ngx_http_sandbox_bridge_lease_removed(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_lease_forgotten(ngx_http_request_t *r,
    void *data, redisReply *reply);
static void ngx_http_sandbox_bridge_lease_send(ngx_http_request_t *r);
static ngx_int_t ngx_http_sandbox_bridge_destroy_start(ngx_http_request_t *r,
    ngx_str_t *id);
static void ngx_http_sandbox_bridge_destroy_forgot(ngx_http_request_t *r,
    void *data, redisReply *reply);

static void ngx_http_sandbox_bridge_touch_reply(ngx_http_request_t *r,
    void *data, redisReply *reply);


/*
 * Lease records: HASH <prefix>lease:{<id>}; the {id} hash tag keeps each
 * lease in one slot for Redis Cluster. keepAlive:false leases expire
 * after sleepAfter without activity (PEXPIRE).
 */

ngx_http_sandbox_bridge_script_t  ngx_http_sandbox_bridge_scripts[] = {

    /*
     * BEGIN: KEYS[1] lease; ARGV now, ttl_ms ("0" persists), credential,
     * admin ("1"), field pairs. -1 when another credential owns it.
     */
    { "begin",
      "local prev = redis.call('HGET', KEYS[1], 'state')\n"
      "if not prev then\n"
      "  redis.call('HSET', KEYS[1], 'created', ARGV[1], 'state', "
      "'creating', 'cred', ARGV[3])\n"
      "elseif redis.call('HGET', KEYS[1], 'cred') ~= ARGV[3]\n"
      "       and ARGV[4] ~= '1' then\n"
      "  return -1\n"
      "end\n"
      "for i = 5, #ARGV, 2 do\n"
      "  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])\n"
      "end\n"
      "redis.call('HSET', KEYS[1], 'last_used', ARGV[1])\n"
      "if ARGV[2] == '0' then redis.call('PERSIST', KEYS[1])\n"
      "else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
      "return prev or false\n",
      "" },

    /*
     * TOUCH: KEYS[1] lease; ARGV now, ttl_ms ("" keeps the record's
     * policy), credential, admin, field pairs. nil for a missing or
     * unfinished lease, -1 when another credential owns it.
     */
    { "touch",
      "if redis.call('HGET', KEYS[1], 'state') ~= 'ready' then\n"
      "  return false\n"
      "end\n"
      "if redis.call('HGET', KEYS[1], 'cred') ~= ARGV[3]\n"
      "   and ARGV[4] ~= '1' then\n"
      "  return -1\n"
      "end\n"
      "for i = 5, #ARGV, 2 do\n"
      "  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])\n"
      "end\n"
      "redis.call('HSET', KEYS[1], 'last_used', ARGV[1])\n"
      "local ttl = ARGV[2]\n"
      "if ttl == '' then\n"
      "  if redis.call('HGET', KEYS[1], 'keepalive') == '1' then\n"
      "    ttl = '0'\n"
      "  else\n"
      "    ttl = redis.call('HGET', KEYS[1], 'sleep_ms') or '600000'\n"
      "  end\n"
      "end\n"
      "if ttl == '0' then redis.call('PERSIST', KEYS[1])\n"
      "else redis.call('PEXPIRE', KEYS[1], ttl) end\n"
      "return redis.call('HGETALL', KEYS[1])\n",
      "" },

    /*
     * COMMIT: KEYS[1] lease; ARGV container, now, ttl_ms ("0" persists).
     * 0 if destroyed meanwhile. The idle clock starts here.
     */
    { "commit",
      "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
      "redis.call('HSET', KEYS[1], 'state', 'ready', 'cid', ARGV[1], "
      "'ready_at', ARGV[2], 'last_used', ARGV[2])\n"
      "if ARGV[3] == '0' then redis.call('PERSIST', KEYS[1])\n"
      "else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end\n"
      "return 1\n",
      "" },

    /*
     * DESTROY: KEYS[1] lease; ARGV credential, admin. 1 forgotten,
     * 0 unknown, -1 when another credential owns it.
     */
    { "destroy",
      "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
      "if redis.call('HGET', KEYS[1], 'cred') ~= ARGV[1]\n"
      "   and ARGV[2] ~= '1' then\n"
      "  return -1\n"
      "end\n"
      "return redis.call('DEL', KEYS[1])\n",
      "" },

    /*
     * FORGET (reaper): KEYS[1] lease; ARGV time of the container listing.
     * Only a lease ready before the listing can have lost its container.
     */
    { "forget",
      "if redis.call('HGET', KEYS[1], 'state') == 'ready'\n"
      "   and tonumber(redis.call('HGET', KEYS[1], 'ready_at') or '0')\n"
      "       < tonumber(ARGV[1]) then\n"
      "  return redis.call('DEL', KEYS[1])\n"
      "end\n"
      "return 0\n",
      "" },
};


ngx_int_t
ngx_http_sandbox_bridge_lease_key(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_str_t *id, ngx_str_t *key)
{
    key->len = mcf->redis_prefix.len + sizeof("lease:{}") - 1 + id->len;
    key->data = ngx_pnalloc(pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(key->data, "%Vlease:{%V}", &mcf->redis_prefix, id);

    return NGX_OK;
}


/* Docker names the container after the key prefix and the lease id */

ngx_int_t
ngx_http_sandbox_bridge_container_name(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_str_t *id, ngx_str_t *name)
{
    size_t   i;
    u_char  *p;

    name->len = mcf->redis_prefix.len + id->len;
    name->data = ngx_pnalloc(pool, name->len);
    if (name->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(name->data, mcf->redis_prefix.data, mcf->redis_prefix.len);
    ngx_memcpy(p, id->data, id->len);

    for (i = 0; i < mcf->redis_prefix.len; i++) {
        if (!(isalnum(name->data[i]) || name->data[i] == '-'
              || name->data[i] == '_' || name->data[i] == '.'))
        {
            name->data[i] = '-';
        }
    }

    if (!isalnum(name->data[0])) {
        name->data[0] = 'x';
    }

    return NGX_OK;
}


/* per-credential ownership: another credential's lease is not found */

ngx_int_t
ngx_http_sandbox_bridge_not_owned(ngx_http_request_t *r, ngx_str_t *id)
{
    return ngx_http_sandbox_bridge_send_error(r, NGX_HTTP_NOT_FOUND,
                                              "not_found",
                                              "No lease %V for this "
                                              "credential.", id);
}


ngx_int_t
ngx_http_sandbox_bridge_store_unavailable(ngx_http_request_t *r)
{
    return ngx_http_sandbox_bridge_send_error(r,
                                       NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "store_unavailable",
                                       "The bridge's lease store (Redis) "
                                       "is unavailable.");
}


/* JS truthiness with String() for the values an id can be built from */

static ngx_int_t
ngx_http_sandbox_bridge_truthy_text(json_t *v, ngx_pool_t *pool,
    ngx_str_t *out)
{
    u_char  *p;

    if (json_is_string(v) && json_string_length(v) > 0) {
        out->data = (u_char *) json_string_value(v);
        out->len = json_string_length(v);
        return NGX_OK;
    }

    if (json_is_integer(v) && json_integer_value(v) != 0) {
        p = ngx_pnalloc(pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        out->data = p;
        out->len = ngx_sprintf(p, "%L", (int64_t) json_integer_value(v)) - p;
        return NGX_OK;
    }

    if (json_is_true(v)) {
        ngx_str_set(out, "true");
        return NGX_OK;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_sandbox_bridge_lease_parse(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx, ngx_uint_t kind)
{
    int64_t                               timeout;
    ngx_str_t                             s;
    ngx_http_sandbox_bridge_lease_op_t   *op;
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    op = ngx_pcalloc(r->pool, sizeof(ngx_http_sandbox_bridge_lease_op_t));
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->op = op;
    op->kind = kind;

    if (ngx_http_sandbox_bridge_read_string(ctx->body, "requestedCwd",
                                            &op->cwd)
        != NGX_OK)
    {
        ngx_str_set(&op->cwd, NGX_HTTP_SANDBOX_BRIDGE_DEFAULT_CWD);
    }

    op->keepalive = ngx_http_sandbox_bridge_read_bool(ctx->body, "keepAlive",
                                                      0);
    op->normalize = ngx_http_sandbox_bridge_read_bool(ctx->body,
                                                      "normalizeId", 1);

    if (ngx_http_sandbox_bridge_read_string(ctx->body, "sleepAfter",
                                            &op->sleep_after)
        != NGX_OK)
    {
        ngx_str_set(&op->sleep_after, "10m");
    }

    op->sleep_ms = ngx_http_sandbox_bridge_parse_duration(
                                   op->sleep_after.data, op->sleep_after.len);

    if (op->sleep_ms <= 0) {
        return ngx_http_sandbox_bridge_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                                  "invalid_request",
                                                  "sleepAfter must be a "
                                                  "duration such as 30s, "
                                                  "10m or 1h.");
    }

    if (ngx_http_sandbox_bridge_read_raw_string(ctx->body, "sessionStrategy",
                                                &s)
        == NGX_OK
        && s.len == 7 && ngx_strncmp(s.data, "default", 7) == 0)
    {
        ngx_str_set(&op->strategy, "default");

    } else {
        ngx_str_set(&op->strategy, "named");
    }

    if (ngx_http_sandbox_bridge_read_string(ctx->body, "sessionId",
                                            &op->session)
        != NGX_OK)
    {
        ngx_str_set(&op->session, NGX_HTTP_SANDBOX_BRIDGE_DEFAULT_SESSION);
    }

    /* D4: <= 0 or not a number means the default; the operator caps it */
    (void) ngx_http_sandbox_bridge_read_integer(ctx->body, "timeoutMs",
                                    NGX_HTTP_SANDBOX_BRIDGE_DEFAULT_TIMEOUT,
                                    &timeout);
    if (timeout <= 0) {
        timeout = NGX_HTTP_SANDBOX_BRIDGE_DEFAULT_TIMEOUT;
    }

    if ((uint64_t) timeout > lcf->exec_timeout_max) {
        timeout = lcf->exec_timeout_max;
    }

    op->timeout = (ngx_msec_t) timeout;

    /* <cwd without trailing slashes>/.paperclip-lease.json (§4.3) */
    s = op->cwd;
    while (s.len && s.data[s.len - 1] == '/') {
        s.len--;
    }

    op->sentinel.len = s.len + sizeof(NGX_HTTP_SANDBOX_BRIDGE_SENTINEL) - 1;
    op->sentinel.data = ngx_pnalloc(r->pool, op->sentinel.len);
    if (op->sentinel.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ngx_cpymem(op->sentinel.data, s.data, s.len),
               NGX_HTTP_SANDBOX_BRIDGE_SENTINEL,
               sizeof(NGX_HTTP_SANDBOX_BRIDGE_SENTINEL) - 1);

    return NGX_OK;
}


/* PROTOCOL §4.1 plus the D6 check */

static ngx_int_t
ngx_http_sandbox_bridge_lease_id(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_lease_op_t *op, ngx_str_t *base)
{
    const char                           *err;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);

    if (op->normalize) {
        if (ngx_http_sandbox_bridge_normalize_id(r->pool, base, &op->id)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        op->id = *base;
    }

    err = ngx_http_sandbox_bridge_check_id(&op->id);
    if (err) {
        return ngx_http_sandbox_bridge_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                                  "invalid_request", "%s",
                                                  err);
    }

    if (ngx_http_sandbox_bridge_lease_key(r->pool, mcf, &op->id, &op->key)
        != NGX_OK
        || ngx_http_sandbox_bridge_container_name(r->pool, mcf, &op->id,
                                                  &op->container)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_sandbox_bridge_probe(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx)
{
    u_char                              *p;
    ngx_int_t                            rc;
    ngx_str_t                            base;
    ngx_http_sandbox_bridge_lease_op_t  *op;
    u_char                               buf[64];

    rc = ngx_http_sandbox_bridge_lease_parse(r, ctx,
                                             NGX_HTTP_SANDBOX_BRIDGE_PROBE);
    if (rc != NGX_OK) {
        return rc;
    }

    op = ctx->op;

    /* pc-probe-<ms>-<8 hex> */
    base.data = buf;
    p = ngx_cpymem(buf, "pc-probe-", 9);
    p = ngx_http_sandbox_bridge_now_ms(p);
    *p++ = '-';
    base.len = p - buf;

    if (ngx_http_sandbox_bridge_random_hex(buf + base.len, 8) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    base.len += 8;

    rc = ngx_http_sandbox_bridge_lease_id(r, op, &base);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_sandbox_bridge_lease_begin(r);
}


ngx_int_t
ngx_http_sandbox_bridge_acquire(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx)
{
    u_char                              *p;
    ngx_int_t                            rc;
    ngx_str_t                            base;
    ngx_http_sandbox_bridge_lease_op_t  *op;

    rc = ngx_http_sandbox_bridge_lease_parse(r, ctx,
                                             NGX_HTTP_SANDBOX_BRIDGE_ACQUIRE);
    if (rc != NGX_OK) {
        return rc;
    }

    op = ctx->op;

    if (ngx_http_sandbox_bridge_truthy_text(
            json_object_get(ctx->body, "environmentId"), r->pool,
            &op->env_id)
        != NGX_OK
        || ngx_http_sandbox_bridge_truthy_text(
               json_object_get(ctx->body, "runId"), r->pool, &op->run_id)
           != NGX_OK)
    {
        return ngx_http_sandbox_bridge_send_error(r, NGX_HTTP_BAD_REQUEST,
                                                  "invalid_request",
                                                  "environmentId and runId "
                                                  "are required.");
    }

    (void) ngx_http_sandbox_bridge_read_raw_string(ctx->body, "issueId",
                                                   &op->issue_id);

    op->reuse = ngx_http_sandbox_bridge_read_bool(ctx->body, "reuseLease",
                                                  0);

    if (op->reuse) {
        base.len = sizeof("pc-env-") - 1 + op->env_id.len;
        base.data = ngx_pnalloc(r->pool, base.len);
        if (base.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_sprintf(base.data, "pc-env-%V", &op->env_id);

    } else {
        base.len = sizeof("pc--") - 1 + op->run_id.len + 8;
        base.data = ngx_pnalloc(r->pool, base.len);
        if (base.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_sprintf(base.data, "pc-%V-", &op->run_id);

        if (ngx_http_sandbox_bridge_random_hex(p, 8) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = ngx_http_sandbox_bridge_lease_id(r, op, &base);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_sandbox_bridge_lease_begin(r);
}


static ngx_int_t
ngx_http_sandbox_bridge_lease_begin(ngx_http_request_t *r)
{
    ngx_int_t                             rc;
    ngx_uint_t                            n;
    ngx_http_sandbox_bridge_ctx_t        *ctx;
    ngx_http_sandbox_bridge_lease_op_t   *op;
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    const char                           *argv[48];
    size_t                                argvlen[48];
    u_char                                now[NGX_INT64_LEN];
    u_char                                ttl[NGX_INT64_LEN];
    u_char                                sleep[NGX_INT64_LEN];

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;

#define ngx_http_sandbox_bridge_arg(s, l)                                     \
    argv[n] = (const char *) (s); argvlen[n] = (l); n++

#define ngx_http_sandbox_bridge_field(k, v)                                   \
    ngx_http_sandbox_bridge_arg(k, sizeof(k) - 1);                            \
    ngx_http_sandbox_bridge_arg((v).data, (v).len)

    n = 0;

    ngx_http_sandbox_bridge_arg(op->key.data, op->key.len);
    ngx_http_sandbox_bridge_arg(now,
                                ngx_http_sandbox_bridge_now_ms(now) - now);

    /* the record outlives the setup; COMMIT sets the lease's own TTL */
    ngx_http_sandbox_bridge_arg(ttl, ngx_sprintf(ttl, "%M",
                                op->timeout * 4 + 600000) - ttl);

    ngx_http_sandbox_bridge_arg(ctx->cred_id.data, ctx->cred_id.len);
    ngx_http_sandbox_bridge_arg(ctx->cred_admin ? "1" : "0", 1);

    ngx_http_sandbox_bridge_field("id", op->id);
    ngx_http_sandbox_bridge_arg("driver", 6);
    ngx_http_sandbox_bridge_arg("docker", 6);
    ngx_http_sandbox_bridge_field("docker", lcf->docker_location);
    ngx_http_sandbox_bridge_field("container", op->container);
    ngx_http_sandbox_bridge_field("cwd", op->cwd);
    ngx_http_sandbox_bridge_field("strategy", op->strategy);
    ngx_http_sandbox_bridge_field("session", op->session);
    ngx_http_sandbox_bridge_arg("keepalive", 9);
    ngx_http_sandbox_bridge_arg(op->keepalive ? "1" : "0", 1);
    ngx_http_sandbox_bridge_field("sleep_after", op->sleep_after);
    ngx_http_sandbox_bridge_arg("sleep_ms", 8);
    ngx_http_sandbox_bridge_arg(sleep, ngx_sprintf(sleep, "%M",
                                (ngx_msec_t) op->sleep_ms) - sleep);
    ngx_http_sandbox_bridge_field("env_id", op->env_id);
    ngx_http_sandbox_bridge_field("run_id", op->run_id);
    ngx_http_sandbox_bridge_field("issue_id", op->issue_id);
    ngx_http_sandbox_bridge_arg("reuse", 5);
    ngx_http_sandbox_bridge_arg(op->reuse ? "1" : "0", 1);
    ngx_http_sandbox_bridge_arg("kind", 4);
    ngx_http_sandbox_bridge_arg(op->kind == NGX_HTTP_SANDBOX_BRIDGE_PROBE
                                ? "probe" : "lease", 5);

    rc = ngx_http_sandbox_bridge_redis_script(mcf, r,
                                    NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_BEGIN,
                                    ngx_http_sandbox_bridge_lease_begun, op,
                                    1, (int) n, argv, argvlen);

    if (rc == NGX_DECLINED) {
        return ngx_http_sandbox_bridge_store_unavailable(r);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->pending++;

    return NGX_DONE;
}


static void
ngx_http_sandbox_bridge_lease_begun(ngx_http_request_t *r, void *data,
    redisReply *reply)
{
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_lease_op_t  *op;

    if (r == NULL) {
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    ctx->pending--;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        if (reply) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "sandbox bridge: redis: %*s",
                          (size_t) reply->len, reply->str);
        }

        ngx_http_sandbox_bridge_finish(r,
                               ngx_http_sandbox_bridge_store_unavailable(r));
        return;
    }

    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == -1) {
        op = data;
        ngx_http_sandbox_bridge_finish(r,
                              ngx_http_sandbox_bridge_send_error(r,
                                  NGX_HTTP_CONFLICT, "lease_conflict",
                                  "Lease %V belongs to another credential.",
                                  &op->id));
        return;
    }

    ngx_http_sandbox_bridge_lease_create(r);
}


static void
ngx_http_sandbox_bridge_lease_create(ngx_http_request_t *r)
{
    json_t                               *body, *labels, *host, *caps;
    ngx_str_t                             uri, args, *cap;
    ngx_uint_t                            i;
    ngx_http_sandbox_bridge_kv_t         *kv;
    ngx_http_sandbox_bridge_ctx_t        *ctx;
    ngx_http_sandbox_bridge_lease_op_t   *op;
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;

    body = json_object();
    labels = json_object();
    host = json_object();

    if (body == NULL || labels == NULL || host == NULL) {
        json_decref(body);
        json_decref(labels);
        json_decref(host);
        ngx_http_sandbox_bridge_lease_fail(r, 500, "internal_error",
                                           (u_char *) "out of memory", 13);
        return;
    }

    if (lcf->labels) {
        kv = lcf->labels->elts;
        for (i = 0; i < lcf->labels->nelts; i++) {
            json_object_setn_new(labels, (const char *) kv[i].key.data,
                                 kv[i].key.len,
                                 ngx_http_sandbox_bridge_json_strn(
                                                               &kv[i].value));
        }
    }

    json_object_set_new(labels, "paperclip.bridge.lease",
                        ngx_http_sandbox_bridge_json_strn(&op->id));
    json_object_set_new(labels, "paperclip.bridge.prefix",
                        ngx_http_sandbox_bridge_json_strn(&mcf->redis_prefix));

    json_object_set_new(host, "NetworkMode",
                        ngx_http_sandbox_bridge_json_strn(&lcf->network));

    if (lcf->memory > 0) {
        json_object_set_new(host, "Memory", json_integer(lcf->memory));
    }

    if (lcf->nano_cpus > 0) {
        json_object_set_new(host, "NanoCpus", json_integer(lcf->nano_cpus));
    }

    if (lcf->pids_limit > 0) {
        json_object_set_new(host, "PidsLimit",
                            json_integer(lcf->pids_limit));
    }

    json_object_set_new(host, "Init", json_true());

    /* hardening: no capabilities but a small documented set */
    caps = json_array();
    if (caps) {
        cap = lcf->cap_add->elts;
        for (i = 0; i < lcf->cap_add->nelts; i++) {
            json_array_append_new(caps,
                                  ngx_http_sandbox_bridge_json_strn(&cap[i]));
        }

        json_object_set_new(host, "CapAdd", caps);
    }

    json_object_set_new(host, "CapDrop", json_pack("[s]", "ALL"));

    if (lcf->no_new_privileges) {
        json_object_set_new(host, "SecurityOpt",
                            json_pack("[s]", "no-new-privileges"));
    }

    if (lcf->read_only_root) {
        /* anonymous volumes keep /workspace and /tmp writable */
        json_object_set_new(host, "ReadonlyRootfs", json_true());
        json_object_set_new(body, "Volumes",
                            json_pack("{s{}s{}}", "/workspace", "/tmp"));
    }

    json_object_set_new(body, "Image",
                        ngx_http_sandbox_bridge_json_strn(&lcf->image));
    json_object_set_new(body, "Cmd", json_pack("[ss]", "sleep", "infinity"));
    json_object_set_new(body, "WorkingDir", json_string("/"));
    json_object_set_new(body, "Labels", labels);
    json_object_set_new(body, "HostConfig", host);

    uri.len = sizeof("/containers/create") - 1;
    uri.data = (u_char *) "/containers/create";

    args.len = sizeof("name=") - 1 + op->container.len;
    args.data = ngx_pnalloc(r->pool, args.len);
    if (args.data == NULL) {
        json_decref(body);
        ngx_http_sandbox_bridge_lease_fail(r, 500, "internal_error",
                                           (u_char *) "out of memory", 13);
        return;
    }

    ngx_sprintf(args.data, "name=%V", &op->container);

    ctx->resume = ngx_http_sandbox_bridge_lease_created;

    if (ngx_http_sandbox_bridge_docker_json_call(r, &lcf->docker_location,
                                                 NGX_HTTP_POST, &uri, &args,
                                                 body, &op->call)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_lease_fail(r, 500, "internal_error",
                                           (u_char *) "create container", 16);
    }
}


static void
ngx_http_sandbox_bridge_lease_created(ngx_http_request_t *r)
{
    ngx_str_t                            uri;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_lease_op_t  *op;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;

    if (op->call.status == NGX_HTTP_CREATED) {
        ngx_http_sandbox_bridge_lease_start(r);
        return;
    }

    if (op->call.status != NGX_HTTP_CONFLICT) {
        ngx_http_sandbox_bridge_lease_docker_fail(r, "create container");
        return;
    }

    /* it exists already: a reused lease, or a concurrent acquire won */
    uri.len = sizeof("/containers//json") - 1 + op->container.len;
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        ngx_http_sandbox_bridge_lease_docker_fail(r, "inspect container");
        return;
    }

    ngx_sprintf(uri.data, "/containers/%V/json", &op->container);

    ctx->resume = ngx_http_sandbox_bridge_lease_inspected;

    if (ngx_http_sandbox_bridge_docker_call(r, &lcf->docker_location,
                                            NGX_HTTP_GET, &uri, NULL, NULL,
                                            NULL, 0, &op->call)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_lease_docker_fail(r, "inspect container");
    }
}


static void
ngx_http_sandbox_bridge_lease_inspected(ngx_http_request_t *r)
{
    json_t                               *reply, *labels, *owner;
    ngx_http_sandbox_bridge_ctx_t        *ctx;
    ngx_http_sandbox_bridge_lease_op_t   *op;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;

    if (op->call.status == NGX_HTTP_NOT_FOUND
        && op->kind == NGX_HTTP_SANDBOX_BRIDGE_RESUME)
    {
        ngx_http_sandbox_bridge_lease_fail(r, NGX_HTTP_CONFLICT,
                              "sandbox_state_lost",
                              (u_char *) NGX_HTTP_SANDBOX_BRIDGE_STATE_LOST,
                              sizeof(NGX_HTTP_SANDBOX_BRIDGE_STATE_LOST) - 1);
        return;
    }

    if (op->call.status == NGX_HTTP_NOT_FOUND
        && op->kind == NGX_HTTP_SANDBOX_BRIDGE_ACQUIRE
        && op->retries++ < 50)
    {
        /* a concurrent create holds the name but has not finished */
        ngx_http_sandbox_bridge_sleep(r, 20,
                                      ngx_http_sandbox_bridge_lease_create);
        return;
    }

    if (op->call.status != NGX_HTTP_OK) {
        ngx_http_sandbox_bridge_lease_docker_fail(r, "inspect container");
        return;
    }

    reply = ngx_http_sandbox_bridge_docker_reply(&op->call);
    labels = reply ? json_object_get(json_object_get(reply, "Config"),
                                     "Labels")
                   : NULL;
    owner = labels ? json_object_get(labels, "paperclip.bridge.prefix")
                   : NULL;

    /* never adopt a container this deployment did not create */
    if (!json_is_string(owner)
        || json_string_length(owner) != mcf->redis_prefix.len
        || ngx_strncmp(json_string_value(owner), mcf->redis_prefix.data,
                       mcf->redis_prefix.len) != 0)
    {
        json_decref(reply);
        ngx_http_sandbox_bridge_lease_fail(r, 500, "internal_error",
                                  (u_char *) "A container with this lease's "
                                  "name exists but was not created by this "
                                  "bridge.", 72);
        return;
    }

    json_decref(reply);

    ngx_http_sandbox_bridge_lease_start(r);
}


static void
ngx_http_sandbox_bridge_lease_start(ngx_http_request_t *r)
{
    ngx_str_t                            uri;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_lease_op_t  *op;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;

    uri.len = sizeof("/containers//start") - 1 + op->container.len;
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        ngx_http_sandbox_bridge_lease_docker_fail(r, "start container");
        return;
    }

    ngx_sprintf(uri.data, "/containers/%V/start", &op->container);

    ctx->resume = ngx_http_sandbox_bridge_lease_started;

    if (ngx_http_sandbox_bridge_docker_call(r, &lcf->docker_location,
                                            NGX_HTTP_POST, &uri, NULL, NULL,
                                            NULL, 0, &op->call)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_lease_docker_fail(r, "start container");
    }
}


static void
ngx_http_sandbox_bridge_lease_started(ngx_http_request_t *r)
{
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_lease_op_t  *op;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;

    /* 304: it was running already */
    if (op->call.status != NGX_HTTP_NO_CONTENT
        && op->call.status != NGX_HTTP_NOT_MODIFIED)
    {
        if (op->call.status == NGX_HTTP_NOT_FOUND
            && op->kind == NGX_HTTP_SANDBOX_BRIDGE_RESUME)
        {
            ngx_http_sandbox_bridge_lease_fail(r, NGX_HTTP_CONFLICT,
                              "sandbox_state_lost",
                              (u_char *) NGX_HTTP_SANDBOX_BRIDGE_STATE_LOST,
                              sizeof(NGX_HTTP_SANDBOX_BRIDGE_STATE_LOST) - 1);
            return;
        }

        ngx_http_sandbox_bridge_lease_docker_fail(r, "start container");
        return;
    }

    if (op->kind == NGX_HTTP_SANDBOX_BRIDGE_RESUME) {
        ngx_http_sandbox_bridge_lease_check_sentinel(r);
        return;
    }

    ngx_http_sandbox_bridge_lease_mkdir(r);
}


static void
ngx_http_sandbox_bridge_lease_mkdir(ngx_http_request_t *r)
{
    json_t                              *args;
    ngx_str_t                            cmd;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_lease_op_t  *op;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;

    args = json_array();
    if (args == NULL) {
        ngx_http_sandbox_bridge_lease_docker_fail(r, "ensure workspace");
        return;
    }

    json_array_append_new(args, json_string("-p"));
    json_array_append_new(args, ngx_http_sandbox_bridge_json_strn(&op->cwd));

    ngx_str_set(&cmd, "mkdir");

    op->after_util = (op->kind == NGX_HTTP_SANDBOX_BRIDGE_PROBE)
                     ? ngx_http_sandbox_bridge_lease_pwd
                     : ngx_http_sandbox_bridge_lease_write_sentinel;

    if (ngx_http_sandbox_bridge_lease_util(r, "ensure workspace", &cmd, args,
                                  NULL, ngx_http_sandbox_bridge_lease_util_done)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_lease_docker_fail(r, "ensure workspace");
    }

    json_decref(args);
}


static void
ngx_http_sandbox_bridge_lease_write_sentinel(ngx_http_request_t *r)
{
    char                                *text;
    size_t                               len;
    u_char                              *p;
    json_t                              *s, *args;
    ngx_str_t                            cmd, script, json;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_lease_op_t  *op;
    u_char                               updated[32];

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;

    s = json_object();
    args = json_array();

    if (s == NULL || args == NULL) {
        json_decref(s);
        json_decref(args);
        ngx_http_sandbox_bridge_lease_docker_fail(r, "write sentinel");
        return;
    }

    p = ngx_http_sandbox_bridge_iso_time(updated);

    /* PROTOCOL §4.3, key order kept */
    json_object_set_new(s, "provider", json_string("docker"));
    json_object_set_new(s, "providerLeaseId",
                        ngx_http_sandbox_bridge_json_strn(&op->id));
    json_object_set_new(s, "remoteCwd",
                        ngx_http_sandbox_bridge_json_strn(&op->cwd));
    json_object_set_new(s, "sessionStrategy",
                        ngx_http_sandbox_bridge_json_strn(&op->strategy));
    json_object_set_new(s, "sessionId",
                        ngx_http_sandbox_bridge_json_strn(&op->session));
    json_object_set_new(s, "keepAlive", json_boolean(op->keepalive));
    json_object_set_new(s, "sleepAfter",
                        ngx_http_sandbox_bridge_json_strn(&op->sleep_after));
    json_object_set_new(s, "normalizeId", json_boolean(op->normalize));
    json_object_set_new(s, "resumedLease",
                        json_boolean(op->kind
                                     == NGX_HTTP_SANDBOX_BRIDGE_RESUME));
    json_object_set_new(s, "updatedAt",
                        json_stringn((char *) updated, p - updated));

    text = json_dumps(s, JSON_INDENT(2));
    json_decref(s);

    if (text == NULL) {
        json_decref(args);
        ngx_http_sandbox_bridge_lease_docker_fail(r, "write sentinel");
        return;
    }

    json.data = (u_char *) text;
    json.len = ngx_strlen(text);

    /* mkdir -p '<cwd>' && printf '%s\n' '<json>' > '<path>' */
    len = sizeof("mkdir -p  && printf '%s\\n'  > ") - 1
          + ngx_http_sandbox_bridge_shell_quote_len(&op->cwd)
          + ngx_http_sandbox_bridge_shell_quote_len(&json)
          + ngx_http_sandbox_bridge_shell_quote_len(&op->sentinel);

    script.data = ngx_pnalloc(r->pool, len);
    if (script.data == NULL) {
        free(text);
        json_decref(args);
        ngx_http_sandbox_bridge_lease_docker_fail(r, "write sentinel");
        return;
    }

    p = ngx_cpymem(script.data, "mkdir -p ", 9);
    p = ngx_http_sandbox_bridge_shell_quote(p, &op->cwd);
    p = ngx_cpymem(p, " && printf '%s\\n' ", 18);
    p = ngx_http_sandbox_bridge_shell_quote(p, &json);
    p = ngx_cpymem(p, " > ", 3);
    p = ngx_http_sandbox_bridge_shell_quote(p, &op->sentinel);
    script.len = p - script.data;

    free(text);

    json_array_append_new(args, json_string("-c"));
    json_array_append_new(args, ngx_http_sandbox_bridge_json_strn(&script));

    ngx_str_set(&cmd, "sh");

    op->after_util = (op->kind == NGX_HTTP_SANDBOX_BRIDGE_RESUME)
                     ? ngx_http_sandbox_bridge_lease_respond
                     : ngx_http_sandbox_bridge_lease_commit;

    if (ngx_http_sandbox_bridge_lease_util(r, "write sentinel", &cmd, args,
                                  NULL, ngx_http_sandbox_bridge_lease_util_done)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_lease_docker_fail(r, "write sentinel");
    }

    json_decref(args);
}


static void
ngx_http_sandbox_bridge_lease_commit(ngx_http_request_t *r)
{
    ngx_int_t                             rc;
    ngx_http_sandbox_bridge_ctx_t        *ctx;
    ngx_http_sandbox_bridge_lease_op_t   *op;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    const char                           *argv[4];
    size_t                                argvlen[4];
    u_char                                now[NGX_INT64_LEN];
    u_char                                ttl[NGX_INT64_LEN];

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;

    argv[0] = (char *) op->key.data;
    argvlen[0] = op->key.len;
    argv[1] = (char *) op->container.data;
    argvlen[1] = op->container.len;
    argv[2] = (char *) now;
    argvlen[2] = ngx_http_sandbox_bridge_now_ms(now) - now;
    argv[3] = (char *) ttl;
    argvlen[3] = op->keepalive ? (size_t) (ngx_cpymem(ttl, "0", 1) - ttl)
                 : (size_t) (ngx_sprintf(ttl, "%M", (ngx_msec_t) op->sleep_ms)
                             - ttl);

    rc = ngx_http_sandbox_bridge_redis_script(mcf, r,
                                    NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_COMMIT,
                                    ngx_http_sandbox_bridge_lease_committed,
                                    op, 1, 4, argv, argvlen);
    if (rc != NGX_OK) {
        ngx_http_sandbox_bridge_lease_fail(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                           "store_unavailable",
                                           (u_char *) "The bridge's lease "
                                           "store (Redis) is unavailable.",
                                           49);
        return;
    }

    ctx->pending++;
}


static void
ngx_http_sandbox_bridge_lease_committed(ngx_http_request_t *r, void *data,
    redisReply *reply)
{
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_lease_op_t  *op;

    if (r == NULL) {
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    ctx->pending--;
    op = data;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_sandbox_bridge_lease_fail(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                           "store_unavailable",
                                           (u_char *) "The bridge's lease "
                                           "store (Redis) is unavailable.",
                                           49);
        return;
    }

    if (reply->integer == 0) {
        /* a DELETE won the race: leave no orphan container behind */
        op->reuse = 0;
        ngx_http_sandbox_bridge_lease_fail(r, NGX_HTTP_CONFLICT,
                              "sandbox_state_lost",
                              (u_char *) NGX_HTTP_SANDBOX_BRIDGE_STATE_LOST,
                              sizeof(NGX_HTTP_SANDBOX_BRIDGE_STATE_LOST) - 1);
        return;
    }

    ngx_http_sandbox_bridge_lease_respond(r);
}


static void
ngx_http_sandbox_bridge_lease_pwd(ngx_http_request_t *r)
{
    ngx_str_t                            cmd;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_lease_op_t  *op;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;

    ngx_str_set(&cmd, "pwd");

    /* D7: a failing probe command fails the probe */
    op->after_util = ngx_http_sandbox_bridge_lease_probed;

    if (ngx_http_sandbox_bridge_lease_util(r, "probe command", &cmd, NULL,
                                  &op->cwd,
                                  ngx_http_sandbox_bridge_lease_util_done)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_lease_docker_fail(r, "probe command");
    }
}


static void
ngx_http_sandbox_bridge_lease_probed(ngx_http_request_t *r)
{
    json_t                              *body, *meta;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_lease_op_t  *op;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;

    body = json_object();
    meta = json_object();

    if (body == NULL || meta == NULL) {
        json_decref(body);
        json_decref(meta);
        ngx_http_sandbox_bridge_lease_fail(r, 500, "internal_error",
                                           (u_char *) "out of memory", 13);
        return;
    }

    json_object_set_new(meta, "provider", json_string("docker"));
    json_object_set_new(meta, "remoteCwd",
                        ngx_http_sandbox_bridge_json_strn(&op->cwd));
    json_object_set_new(meta, "namedSessions",
                        json_boolean(op->strategy.len == 5));
    json_object_set_new(meta, "stdout",
                        json_stringn((char *) op->ex.out.data,
                                     op->ex.out.len));

    if (json_object_get(meta, "stdout") == NULL) {
        json_object_set_new(meta, "stdout", json_string(""));
    }

    json_object_set_new(body, "ok", json_true());
    json_object_set_new(body, "summary",
                        json_string("Connected to Cloudflare sandbox "
                                    "bridge."));
    json_object_set_new(body, "metadata", meta);

    op->resp_status = NGX_HTTP_OK;
    op->resp = body;

    /* a probe always destroys its sandbox */
    ngx_http_sandbox_bridge_lease_destroy(r);
}


ngx_int_t
ngx_http_sandbox_bridge_resume(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx)
{
    ngx_int_t                             rc;
    ngx_uint_t                            n;
    ngx_str_t                             raw;
    ngx_http_sandbox_bridge_lease_op_t   *op;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    const char                           *argv[24];
    size_t                                argvlen[24];
    u_char                                now[NGX_INT64_LEN];
    u_char                                ttl[NGX_INT64_LEN];
    u_char                                sleep[NGX_INT64_LEN];

    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);

    rc = ngx_http_sandbox_bridge_lease_parse(r, ctx,
                                             NGX_HTTP_SANDBOX_BRIDGE_RESUME);
    if (rc != NGX_OK) {
        return rc;
    }

    op = ctx->op;

    if (ngx_http_sandbox_bridge_read_raw_string(ctx->body, "providerLeaseId",
                                                &raw)
        != NGX_OK
        || raw.len == 0)
    {
        return ngx_http_sandbox_bridge_send_error(r, NGX_HTTP_BAD_REQUEST,
                                                  "invalid_request",
                                                  "providerLeaseId is "
                                                  "required.");
    }

    /* used raw (§3.4): no normalization */
    op->normalize = ngx_http_sandbox_bridge_read_bool(ctx->body,
                                                      "normalizeId", 1);
    {
        ngx_uint_t  normalize = op->normalize;

        op->normalize = 0;
        rc = ngx_http_sandbox_bridge_lease_id(r, op, &raw);
        op->normalize = normalize;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    n = 0;
    ngx_http_sandbox_bridge_arg(op->key.data, op->key.len);
    ngx_http_sandbox_bridge_arg(now,
                                ngx_http_sandbox_bridge_now_ms(now) - now);

    if (op->keepalive) {
        ngx_http_sandbox_bridge_arg("0", 1);

    } else {
        ngx_http_sandbox_bridge_arg(ttl, ngx_sprintf(ttl, "%M",
                                    (ngx_msec_t) op->sleep_ms) - ttl);
    }

    ngx_http_sandbox_bridge_arg(ctx->cred_id.data, ctx->cred_id.len);
    ngx_http_sandbox_bridge_arg(ctx->cred_admin ? "1" : "0", 1);

    ngx_http_sandbox_bridge_field("cwd", op->cwd);
    ngx_http_sandbox_bridge_field("strategy", op->strategy);
    ngx_http_sandbox_bridge_field("session", op->session);
    ngx_http_sandbox_bridge_arg("keepalive", 9);
    ngx_http_sandbox_bridge_arg(op->keepalive ? "1" : "0", 1);
    ngx_http_sandbox_bridge_field("sleep_after", op->sleep_after);
    ngx_http_sandbox_bridge_arg("sleep_ms", 8);
    ngx_http_sandbox_bridge_arg(sleep, ngx_sprintf(sleep, "%M",
                                (ngx_msec_t) op->sleep_ms) - sleep);

    rc = ngx_http_sandbox_bridge_redis_script(mcf, r,
                               NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_TOUCH,
                               ngx_http_sandbox_bridge_lease_resume_touched,
                               op, 1, (int) n, argv, argvlen);

    if (rc == NGX_DECLINED) {
        return ngx_http_sandbox_bridge_store_unavailable(r);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->pending++;

    return NGX_DONE;
}


static void
ngx_http_sandbox_bridge_lease_resume_touched(ngx_http_request_t *r,
    void *data, redisReply *reply)
{
    ngx_str_t                            uri;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_lease_op_t  *op = data;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    if (r == NULL) {
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);
    ctx->pending--;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_sandbox_bridge_finish(r,
                               ngx_http_sandbox_bridge_store_unavailable(r));
        return;
    }

    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == -1) {
        ngx_http_sandbox_bridge_finish(r,
                              ngx_http_sandbox_bridge_not_owned(r, &op->id));
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY) {
        /* D3: unknown, expired or destroyed */
        ngx_http_sandbox_bridge_finish(r,
                              ngx_http_sandbox_bridge_send_error(r,
                                  NGX_HTTP_CONFLICT, "sandbox_state_lost",
                                  NGX_HTTP_SANDBOX_BRIDGE_STATE_LOST));
        return;
    }

    /* the container must still exist */
    uri.len = sizeof("/containers//json") - 1 + op->container.len;
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        ngx_http_sandbox_bridge_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_sprintf(uri.data, "/containers/%V/json", &op->container);

    ctx->resume = ngx_http_sandbox_bridge_lease_inspected;

    if (ngx_http_sandbox_bridge_docker_call(r, &lcf->docker_location,
                                            NGX_HTTP_GET, &uri, NULL, NULL,
                                            NULL, 0, &op->call)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


static void
ngx_http_sandbox_bridge_lease_check_sentinel(ngx_http_request_t *r)
{
    u_char                              *p;
    json_t                              *args;
    ngx_str_t                            cmd, script;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_lease_op_t  *op;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;

    script.data = ngx_pnalloc(r->pool, sizeof("test -s ") - 1
                              + ngx_http_sandbox_bridge_shell_quote_len(
                                                              &op->sentinel));
    if (script.data == NULL) {
        ngx_http_sandbox_bridge_lease_docker_fail(r, "check sentinel");
        return;
    }

    p = ngx_cpymem(script.data, "test -s ", 8);
    p = ngx_http_sandbox_bridge_shell_quote(p, &op->sentinel);
    script.len = p - script.data;

    args = json_array();
    if (args == NULL) {
        ngx_http_sandbox_bridge_lease_docker_fail(r, "check sentinel");
        return;
    }

    json_array_append_new(args, json_string("-c"));
    json_array_append_new(args, ngx_http_sandbox_bridge_json_strn(&script));

    ngx_str_set(&cmd, "sh");

    if (ngx_http_sandbox_bridge_lease_util(r, "check sentinel", &cmd, args,
                            NULL,
                            ngx_http_sandbox_bridge_lease_sentinel_checked)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_lease_docker_fail(r, "check sentinel");
    }

    json_decref(args);
}


static void
ngx_http_sandbox_bridge_lease_sentinel_checked(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_exec_t *ex)
{
    if (ex->failed && !ex->lost) {
        ngx_http_sandbox_bridge_lease_fail(r, 500, "internal_error",
                                           ex->error.data, ex->error.len);
        return;
    }

    /* alive when it did not time out and exited 0 or null (§3.4) */
    if (ex->lost || ex->timed_out
        || (ex->exit_code != 0
            && ex->exit_code != NGX_HTTP_SANDBOX_BRIDGE_EXIT_NULL))
    {
        ngx_http_sandbox_bridge_lease_fail(r, NGX_HTTP_CONFLICT,
                              "sandbox_state_lost",
                              (u_char *) NGX_HTTP_SANDBOX_BRIDGE_STATE_LOST,
                              sizeof(NGX_HTTP_SANDBOX_BRIDGE_STATE_LOST) - 1);
        return;
    }

    ngx_http_sandbox_bridge_lease_mkdir(r);
}


static void
ngx_http_sandbox_bridge_lease_respond(ngx_http_request_t *r)
{
    json_t                              *body, *meta;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_lease_op_t  *op;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;

    body = json_object();
    meta = json_object();

    if (body == NULL || meta == NULL) {
        json_decref(body);
        json_decref(meta);
        ngx_http_sandbox_bridge_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    json_object_set_new(meta, "provider", json_string("docker"));
    json_object_set_new(meta, "remoteCwd",
                        ngx_http_sandbox_bridge_json_strn(&op->cwd));
    json_object_set_new(meta, "sandboxId",
                        ngx_http_sandbox_bridge_json_strn(&op->id));
    json_object_set_new(meta, "sessionStrategy",
                        ngx_http_sandbox_bridge_json_strn(&op->strategy));
    json_object_set_new(meta, "sessionId",
                        ngx_http_sandbox_bridge_json_strn(&op->session));
    json_object_set_new(meta, "keepAlive", json_boolean(op->keepalive));
    json_object_set_new(meta, "sleepAfter",
                        ngx_http_sandbox_bridge_json_strn(&op->sleep_after));
    json_object_set_new(meta, "normalizeId", json_boolean(op->normalize));
    json_object_set_new(meta, "resumedLease",
                        json_boolean(op->kind
                                     == NGX_HTTP_SANDBOX_BRIDGE_RESUME));

    json_object_set_new(body, "providerLeaseId",
                        ngx_http_sandbox_bridge_json_strn(&op->id));
    json_object_set_new(body, "metadata", meta);

    ngx_http_sandbox_bridge_finish(r,
                  ngx_http_sandbox_bridge_send_json(r, NGX_HTTP_OK, body));
}


/* a lease utility: the exec pipeline with cwd "/" and no env (§5.2) */

static ngx_int_t
ngx_http_sandbox_bridge_lease_util(ngx_http_request_t *r, const char *action,
    ngx_str_t *command, json_t *args, ngx_str_t *cwd,
    ngx_http_sandbox_bridge_exec_done_pt done)
{
    ngx_str_t                            root;
    const char                          *bad;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_exec_t      *ex;
    ngx_http_sandbox_bridge_lease_op_t  *op;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;
    ex = &op->ex;

    ngx_memzero(ex, sizeof(ngx_http_sandbox_bridge_exec_t));

    ngx_str_set(&root, "/");

    if (ngx_http_sandbox_bridge_exec_script(r->pool, command, args,
                                            cwd ? cwd : &root, NULL, NULL,
                                            &ex->script, &bad)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    op->action = action;

    ex->lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);
    ex->container = op->container;
    ex->session = op->session;
    ex->timeout = op->timeout;
    ex->limit = NGX_HTTP_SANDBOX_BRIDGE_UTIL_LIMIT;
    ex->done = done;

    return ngx_http_sandbox_bridge_exec_run(r, ex);
}


/* "must exit 0" (§3) */

static void
ngx_http_sandbox_bridge_lease_util_done(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_exec_t *ex)
{
    u_char                              *p, *s, *e;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_lease_op_t  *op;
    u_char                               buf[1024];

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;

    if (ex->failed) {
        if (ex->lost && op->kind == NGX_HTTP_SANDBOX_BRIDGE_RESUME) {
            ngx_http_sandbox_bridge_lease_fail(r, NGX_HTTP_CONFLICT,
                              "sandbox_state_lost",
                              (u_char *) NGX_HTTP_SANDBOX_BRIDGE_STATE_LOST,
                              sizeof(NGX_HTTP_SANDBOX_BRIDGE_STATE_LOST) - 1);
            return;
        }

        ngx_http_sandbox_bridge_lease_fail(r, 500, "internal_error",
                                           ex->error.data, ex->error.len);
        return;
    }

    if (!ex->timed_out && ex->exit_code == 0) {
        if (op->kind == NGX_HTTP_SANDBOX_BRIDGE_PROBE) {
            /* pwd output for the probe metadata */
            op->stdout_text.data = ex->out.data;
            op->stdout_text.len = ex->out.len;
        }

        op->after_util(r);
        return;
    }

    s = ex->err.data;
    e = s + ex->err.len;

    while (s < e && (*s == ' ' || (*s >= '\t' && *s <= '\r'))) {
        s++;
    }

    while (e > s && (e[-1] == ' ' || (e[-1] >= '\t' && e[-1] <= '\r'))) {
        e--;
    }

    if (ex->timed_out) {
        p = ngx_snprintf(buf, sizeof(buf),
                         "%s %V timed out: Command timeout after %Mms",
                         op->action, &op->cwd, ex->timeout);

    } else {
        p = ngx_snprintf(buf, sizeof(buf), "%s %V failed with exit code ",
                         op->action,
                         op->action[0] == 'w' || op->action[0] == 'c'
                         ? &op->sentinel : &op->cwd);

        if (ex->exit_code == NGX_HTTP_SANDBOX_BRIDGE_EXIT_NULL) {
            p = ngx_snprintf(p, buf + sizeof(buf) - p, "null");

        } else {
            p = ngx_snprintf(p, buf + sizeof(buf) - p, "%i", ex->exit_code);
        }

        if (e > s) {
            p = ngx_snprintf(p, buf + sizeof(buf) - p, ": %*s", e - s, s);
        }
    }

    ngx_http_sandbox_bridge_lease_fail(r, 500, "internal_error", buf,
                                       p - buf);
}


static void
ngx_http_sandbox_bridge_lease_docker_fail(ngx_http_request_t *r,
    const char *what)
{
    u_char                              *p;
    ngx_uint_t                           status;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_lease_op_t  *op;
    u_char                               buf[768];

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;

    p = ngx_snprintf(buf, sizeof(buf), "%s failed: ", what);
    p = ngx_http_sandbox_bridge_docker_error(&op->call, p,
                                             buf + sizeof(buf) - p);

    status = op->call.status ? 500 : NGX_HTTP_SERVICE_UNAVAILABLE;

    ngx_http_sandbox_bridge_lease_fail(r, status,
                                       status == 500 ? "internal_error"
                                                     : "driver_unavailable",
                                       buf, p - buf);
}


static void
ngx_http_sandbox_bridge_lease_fail(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, u_char *msg, size_t len)
{
    json_t                              *body;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_lease_op_t  *op;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;

    if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "sandbox bridge: lease \"%V\": %*s", &op->id, len, msg);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "sandbox bridge: lease \"%V\": %*s", &op->id, len, msg);
    }

    body = json_object();
    if (body == NULL) {
        ngx_http_sandbox_bridge_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    json_object_set_new(body, "error", json_string(code));
    json_object_set_new(body, "message", json_stringn((char *) msg, len));

    if (json_object_get(body, "message") == NULL) {
        json_object_set_new(body, "message", json_string(code));
    }

    op->resp_status = status;
    op->resp = body;

    /* §3.3: a failed acquire without reuse must not leave an orphan */
    if (op->kind == NGX_HTTP_SANDBOX_BRIDGE_PROBE
        || (op->kind == NGX_HTTP_SANDBOX_BRIDGE_ACQUIRE && !op->reuse))
    {
        ngx_http_sandbox_bridge_lease_destroy(r);
        return;
    }

    ngx_http_sandbox_bridge_lease_send(r);
}


/* remove the container, then forget the record, then answer */

static void
ngx_http_sandbox_bridge_lease_destroy(ngx_http_request_t *r)
{
    ngx_http_sandbox_bridge_lease_rm(r, ngx_http_sandbox_bridge_lease_removed);
}


/* DELETE /containers/<name>?force=true&v=true, then step */

static void
ngx_http_sandbox_bridge_lease_rm(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_step_pt step)
{
    ngx_str_t                            uri, args;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_lease_op_t  *op;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;

    uri.len = sizeof("/containers/") - 1 + op->container.len;
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        ngx_http_sandbox_bridge_lease_send(r);
        return;
    }

    ngx_sprintf(uri.data, "/containers/%V", &op->container);
    ngx_str_set(&args, "force=true&v=true");

    ctx->resume = step;

    if (ngx_http_sandbox_bridge_docker_call(r, &lcf->docker_location,
                                            NGX_HTTP_DELETE, &uri, &args,
                                            NULL, NULL, 0, &op->call)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_lease_send(r);
    }
}


static void
ngx_http_sandbox_bridge_lease_removed(ngx_http_request_t *r)
{
    ngx_int_t                             rc;
    ngx_http_sandbox_bridge_ctx_t        *ctx;
    ngx_http_sandbox_bridge_lease_op_t   *op;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    const char                           *argv[2];
    size_t                                argvlen[2];

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;

    if (op->call.status != NGX_HTTP_NO_CONTENT
        && op->call.status != NGX_HTTP_NOT_FOUND)
    {
        /* the reaper will retry: the container has no live record */
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "sandbox bridge: removing container \"%V\" gave %ui",
                      &op->container, op->call.status);
    }

    argv[0] = "DEL";
    argvlen[0] = 3;
    argv[1] = (char *) op->key.data;
    argvlen[1] = op->key.len;

    rc = ngx_http_sandbox_bridge_redis_command(mcf, r,
                                     ngx_http_sandbox_bridge_lease_forgotten,
                                     op, 2, argv, argvlen);
    if (rc != NGX_OK) {
        ngx_http_sandbox_bridge_lease_send(r);
        return;
    }

    ctx->pending++;
}


static void
ngx_http_sandbox_bridge_lease_forgotten(ngx_http_request_t *r, void *data,
    redisReply *reply)
{
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    if (r == NULL) {
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    ctx->pending--;

    ngx_http_sandbox_bridge_lease_send(r);
}


static void
ngx_http_sandbox_bridge_lease_send(ngx_http_request_t *r)
{
    json_t                              *body;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_lease_op_t  *op;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    op = ctx->op;

    body = op->resp;
    op->resp = NULL;

    ngx_http_sandbox_bridge_finish(r,
                 ngx_http_sandbox_bridge_send_json(r, op->resp_status, body));
}


/* release: §3.5 */

ngx_int_t
ngx_http_sandbox_bridge_release(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx)
{
    ngx_str_t  id;

    if (ngx_http_sandbox_bridge_read_raw_string(ctx->body, "providerLeaseId",
                                                &id)
        != NGX_OK
        || id.len == 0
        || ngx_http_sandbox_bridge_read_bool(ctx->body, "reuseLease", 0))
    {
        return ngx_http_sandbox_bridge_send_json(r, NGX_HTTP_OK,
                                                 json_pack("{sb}", "ok", 1));
    }

    return ngx_http_sandbox_bridge_destroy_start(r, &id);
}


/* DELETE <prefix>/leases/<id>: §3.6 with D5 */

ngx_int_t
ngx_http_sandbox_bridge_delete(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx)
{
    u_char     *seg, *dst, *src;
    ngx_str_t   id;

    seg = ctx->route.data + ctx->route.len;
    while (seg > ctx->route.data && seg[-1] != '/') {
        seg--;
    }

    id.len = ctx->route.data + ctx->route.len - seg;
    id.data = ngx_pnalloc(r->pool, id.len + 1);
    if (id.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    src = seg;
    dst = id.data;

    ngx_unescape_uri(&dst, &src, id.len, 0);

    if (src != seg + id.len) {
        return ngx_http_sandbox_bridge_send_error(r, NGX_HTTP_BAD_REQUEST,
                                                  "invalid_request",
                                                  "providerLeaseId path "
                                                  "parameter is not valid "
                                                  "percent-encoding.");
    }

    id.len = dst - id.data;

    if (id.len == 0) {
        return ngx_http_sandbox_bridge_send_error(r, NGX_HTTP_BAD_REQUEST,
                                                  "invalid_request",
                                                  "providerLeaseId path "
                                                  "parameter is required.");
    }

    return ngx_http_sandbox_bridge_destroy_start(r, &id);
}


static ngx_int_t
ngx_http_sandbox_bridge_destroy_start(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_int_t                             rc;
    ngx_http_sandbox_bridge_ctx_t        *ctx;
    ngx_http_sandbox_bridge_lease_op_t   *op;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    const char                           *argv[3];
    size_t                                argvlen[3];

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);

    op = ngx_pcalloc(r->pool, sizeof(ngx_http_sandbox_bridge_lease_op_t));
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->op = op;
    op->kind = NGX_HTTP_SANDBOX_BRIDGE_DESTROY;

    rc = ngx_http_sandbox_bridge_lease_id(r, op, id);
    if (rc != NGX_OK) {
        return rc;
    }

    argv[0] = (char *) op->key.data;
    argvlen[0] = op->key.len;
    argv[1] = (char *) ctx->cred_id.data;
    argvlen[1] = ctx->cred_id.len;
    argv[2] = ctx->cred_admin ? "1" : "0";
    argvlen[2] = 1;

    /* forget the record first: a racing acquire then cleans up after us */
    rc = ngx_http_sandbox_bridge_redis_script(mcf, r,
                                       NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_DESTROY,
                                       ngx_http_sandbox_bridge_destroy_forgot,
                                       op, 1, 3, argv, argvlen);
    if (rc == NGX_DECLINED) {
        return ngx_http_sandbox_bridge_store_unavailable(r);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->pending++;

    return NGX_DONE;
}


static void
ngx_http_sandbox_bridge_destroy_forgot(ngx_http_request_t *r, void *data,
    redisReply *reply)
{
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_lease_op_t  *op = data;

    if (r == NULL) {
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    ctx->pending--;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_sandbox_bridge_finish(r,
                               ngx_http_sandbox_bridge_store_unavailable(r));
        return;
    }

    if (reply->integer == -1) {
        ngx_http_sandbox_bridge_finish(r,
                              ngx_http_sandbox_bridge_not_owned(r, &op->id));
        return;
    }

    op->resp_status = NGX_HTTP_OK;
    op->resp = json_pack("{sb}", "ok", 1);

    /* errors removing the container are ignored (§3.5, §3.6) */
    ngx_http_sandbox_bridge_lease_rm(r, ngx_http_sandbox_bridge_lease_send);
}


/* exec's lease lookup: refreshes activity (D2) */

ngx_int_t
ngx_http_sandbox_bridge_lease_touch(ngx_http_request_t *r, ngx_str_t *id,
    ngx_http_sandbox_bridge_lease_pt handler)
{
    ngx_int_t                             rc;
    ngx_str_t                             key;
    ngx_http_sandbox_bridge_ctx_t        *ctx;
    ngx_http_sandbox_bridge_touch_t      *t;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    const char                           *argv[5];
    size_t                                argvlen[5];
    u_char                                now[NGX_INT64_LEN];

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);

    t = ngx_palloc(r->pool, sizeof(ngx_http_sandbox_bridge_touch_t));
    if (t == NULL
        || ngx_http_sandbox_bridge_lease_key(r->pool, mcf, id, &key)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    t->id = *id;
    t->handler = handler;

    argv[0] = (char *) key.data;
    argvlen[0] = key.len;
    argv[1] = (char *) now;
    argvlen[1] = ngx_http_sandbox_bridge_now_ms(now) - now;
    argv[2] = "";
    argvlen[2] = 0;
    argv[3] = (char *) ctx->cred_id.data;
    argvlen[3] = ctx->cred_id.len;
    argv[4] = ctx->cred_admin ? "1" : "0";
    argvlen[4] = 1;

    rc = ngx_http_sandbox_bridge_redis_script(mcf, r,
                                         NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_TOUCH,
                                         ngx_http_sandbox_bridge_touch_reply,
                                         t, 1, 5, argv, argvlen);
    if (rc == NGX_OK) {
        ctx->pending++;
    }

    return rc;
}


static void
ngx_http_sandbox_bridge_touch_reply(ngx_http_request_t *r, void *data,
    redisReply *reply)
{
    ngx_http_sandbox_bridge_ctx_t    *ctx;
    ngx_http_sandbox_bridge_lease_t   lease;
    ngx_http_sandbox_bridge_touch_t  *t = data;

    if (r == NULL) {
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    ctx->pending--;

    ngx_memzero(&lease, sizeof(lease));
    lease.id = t->id;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        t->handler(r, &lease, NGX_ERROR);
        return;
    }

    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == -1) {
        t->handler(r, &lease, NGX_BUSY);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY) {
        t->handler(r, &lease, NGX_DECLINED);
        return;
    }

    if (ngx_http_sandbox_bridge_lease_fields(r->pool, reply, &lease)
        != NGX_OK)
    {
        t->handler(r, &lease, NGX_ERROR);
        return;
    }

    t->handler(r, &lease, NGX_OK);
}


ngx_int_t
ngx_http_sandbox_bridge_lease_fields(ngx_pool_t *pool, redisReply *reply,
    ngx_http_sandbox_bridge_lease_t *lease)
{
    size_t      i;
    ngx_str_t  *dst;
    redisReply *k, *v;

    for (i = 0; i + 1 < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        if (k->len == 9 && ngx_strncmp(k->str, "container", 9) == 0) {
            dst = &lease->container;

        } else if (k->len == 4 && ngx_strncmp(k->str, "cred", 4) == 0) {
            dst = &lease->cred;

        } else if (k->len == 3 && ngx_strncmp(k->str, "cwd", 3) == 0) {
            dst = &lease->cwd;

        } else if (k->len == 5 && ngx_strncmp(k->str, "state", 5) == 0) {
            dst = &lease->state;

        } else {
            continue;
        }

        dst->data = ngx_pnalloc(pool, v->len + 1);
        if (dst->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(dst->data, v->str, v->len);
        dst->data[v->len] = '\0';
        dst->len = v->len;
    }

    return lease->container.len ? NGX_OK : NGX_ERROR;
}
