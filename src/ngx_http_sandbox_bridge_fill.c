
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_fill.h"
#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_orphan.h"
#include "ngx_http_sandbox_bridge_store.h"
#include "ngx_http_sandbox_bridge_util.h"


/*
 * The refill job's steps (README "Warm pool"): list the host's pool
 * containers, keep, count or remove each, forget set members that are
 * gone, then create and start new ones up to the pool's size.
 */


/* "cmd key [arg]", with PX for SET and PEXPIRE's own time */

ngx_int_t
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

ngx_int_t
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


ngx_int_t
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


ngx_int_t
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

ngx_int_t
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

ngx_int_t
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

ngx_int_t
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


ngx_int_t
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


ngx_int_t
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
