
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_spec.h"
#include "ngx_http_sandbox_bridge_input.h"
#include "ngx_http_sandbox_bridge_store.h"
#include "ngx_http_sandbox_bridge_util.h"


#define NGX_HTTP_SANDBOX_BRIDGE_DEFAULT_CWD  "/workspace/paperclip"
#define NGX_HTTP_SANDBOX_BRIDGE_SENTINEL     "/.paperclip-lease.json"


static ngx_int_t ngx_http_sandbox_bridge_spec_fields(ngx_pool_t *pool,
    json_t *body, ngx_http_sandbox_bridge_spec_t *s,
    ngx_http_sandbox_bridge_refusal_t *no);
static ngx_int_t ngx_http_sandbox_bridge_spec_base(ngx_pool_t *pool,
    json_t *body, ngx_http_sandbox_bridge_spec_t *s, ngx_str_t *base,
    ngx_http_sandbox_bridge_refusal_t *no);
static ngx_int_t ngx_http_sandbox_bridge_spec_scripts(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_spec_t *s);
static ngx_int_t ngx_http_sandbox_bridge_spec_script(ngx_pool_t *pool,
    const char *command, json_t *args, ngx_str_t *cwd, ngx_str_t *out);
static ngx_int_t ngx_http_sandbox_bridge_truthy_text(json_t *v,
    ngx_pool_t *pool, ngx_str_t *out);


/*
 * The whole lease request of s->kind: its fields, its id (README
 * "Protocol"), Redis key, container name and utility command lines.
 */

ngx_int_t
ngx_http_sandbox_bridge_spec_parse(ngx_http_request_t *r, json_t *body,
    ngx_http_sandbox_bridge_spec_t *s, ngx_http_sandbox_bridge_refusal_t *no)
{
    ngx_str_t                             base;
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);

    no->err = NGX_HTTP_SANDBOX_BRIDGE_ERR_NOMEM;
    no->text = NULL;

    if (ngx_http_sandbox_bridge_spec_fields(r->pool, body, s, no) != NGX_OK
        || ngx_http_sandbox_bridge_spec_base(r->pool, body, s, &base, no)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    s->timeout = ngx_http_sandbox_bridge_read_timeout(body, lcf);

    /* a resumed id is used as given */
    if (s->kind != NGX_HTTP_SANDBOX_BRIDGE_RESUME && s->normalize) {
        if (ngx_http_sandbox_bridge_normalize_id(r->pool, &base, &s->id)
            != NGX_OK)
        {
            return NGX_DECLINED;
        }

    } else {
        s->id = base;
    }

    no->text = ngx_http_sandbox_bridge_check_id(&s->id);
    if (no->text) {
        no->err = NGX_HTTP_SANDBOX_BRIDGE_ERR_LAST;
        return NGX_DECLINED;
    }

    if (ngx_http_sandbox_bridge_lease_key(r->pool, mcf, &s->id, &s->key)
        != NGX_OK
        || ngx_http_sandbox_bridge_container_name(r->pool, mcf, &s->id,
                                                  &s->container)
           != NGX_OK
        || ngx_http_sandbox_bridge_spec_scripts(r->pool, s) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the id before normalization */

static ngx_int_t
ngx_http_sandbox_bridge_spec_base(ngx_pool_t *pool, json_t *body,
    ngx_http_sandbox_bridge_spec_t *s, ngx_str_t *base,
    ngx_http_sandbox_bridge_refusal_t *no)
{
    u_char  *p;

    switch (s->kind) {

    case NGX_HTTP_SANDBOX_BRIDGE_PROBE:
        /* pc-probe-<ms>-<8 hex> */
        base->data = ngx_pnalloc(pool, sizeof("pc-probe--") - 1
                                       + NGX_INT64_LEN + 8);
        if (base->data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(base->data, "pc-probe-", sizeof("pc-probe-") - 1);
        p = ngx_http_sandbox_bridge_now_ms(p);
        *p++ = '-';

        if (ngx_http_sandbox_bridge_random_hex(p, 8) != NGX_OK) {
            return NGX_ERROR;
        }

        base->len = p + 8 - base->data;
        return NGX_OK;

    case NGX_HTTP_SANDBOX_BRIDGE_ACQUIRE:
        if (ngx_http_sandbox_bridge_truthy_text(
                json_object_get(body, "environmentId"), pool, &s->env_id)
            != NGX_OK
            || ngx_http_sandbox_bridge_truthy_text(
                   json_object_get(body, "runId"), pool, &s->run_id)
               != NGX_OK)
        {
            no->err = NGX_HTTP_SANDBOX_BRIDGE_ERR_REQUIRED_IDS;
            return NGX_DECLINED;
        }

        (void) ngx_http_sandbox_bridge_read_raw_string(body, "issueId",
                                                       &s->issue_id);

        s->reuse = ngx_http_sandbox_bridge_read_bool(body, "reuseLease", 0);

        if (s->reuse) {
            base->len = sizeof("pc-env-") - 1 + s->env_id.len;
            base->data = ngx_pnalloc(pool, base->len);
            if (base->data == NULL) {
                return NGX_ERROR;
            }

            ngx_sprintf(base->data, "pc-env-%V", &s->env_id);
            return NGX_OK;
        }

        base->len = sizeof("pc--") - 1 + s->run_id.len + 8;
        base->data = ngx_pnalloc(pool, base->len);
        if (base->data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_sprintf(base->data, "pc-%V-", &s->run_id);

        return ngx_http_sandbox_bridge_random_hex(p, 8);

    case NGX_HTTP_SANDBOX_BRIDGE_RESUME:
        if (ngx_http_sandbox_bridge_read_raw_string(body, "providerLeaseId",
                                                    base)
            != NGX_OK
            || base->len == 0)
        {
            no->err = NGX_HTTP_SANDBOX_BRIDGE_ERR_REQUIRED_LEASE;
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    return NGX_ERROR;
}


/* the lease fields of probe, acquire and resume */

static ngx_int_t
ngx_http_sandbox_bridge_spec_fields(ngx_pool_t *pool, json_t *body,
    ngx_http_sandbox_bridge_spec_t *s, ngx_http_sandbox_bridge_refusal_t *no)
{
    ngx_str_t  v;

    if (ngx_http_sandbox_bridge_read_string(body, "requestedCwd", &s->cwd)
        != NGX_OK)
    {
        ngx_str_set(&s->cwd, NGX_HTTP_SANDBOX_BRIDGE_DEFAULT_CWD);
    }

    s->keepalive = ngx_http_sandbox_bridge_read_bool(body, "keepAlive", 0);
    s->normalize = ngx_http_sandbox_bridge_read_bool(body, "normalizeId", 1);

    if (ngx_http_sandbox_bridge_read_string(body, "sleepAfter",
                                            &s->sleep_after)
        != NGX_OK)
    {
        ngx_str_set(&s->sleep_after, "10m");
    }

    s->sleep_ms = ngx_http_sandbox_bridge_parse_duration(s->sleep_after.data,
                                                         s->sleep_after.len);
    if (s->sleep_ms <= 0) {
        no->err = NGX_HTTP_SANDBOX_BRIDGE_ERR_SLEEP_AFTER;
        return NGX_DECLINED;
    }

    if (ngx_http_sandbox_bridge_read_raw_string(body, "sessionStrategy", &v)
        == NGX_OK
        && v.len == sizeof("default") - 1
        && ngx_strncmp(v.data, "default", v.len) == 0)
    {
        ngx_str_set(&s->strategy, "default");

    } else {
        ngx_str_set(&s->strategy, "named");
    }

    if (ngx_http_sandbox_bridge_read_session(body, &s->session) != NGX_OK) {
        no->err = NGX_HTTP_SANDBOX_BRIDGE_ERR_SESSION;
        return NGX_DECLINED;
    }

    /* <cwd without trailing slashes>/.paperclip-lease.json */
    v = s->cwd;
    while (v.len && v.data[v.len - 1] == '/') {
        v.len--;
    }

    s->sentinel.len = v.len + sizeof(NGX_HTTP_SANDBOX_BRIDGE_SENTINEL) - 1;
    s->sentinel.data = ngx_pnalloc(pool, s->sentinel.len);
    if (s->sentinel.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(s->sentinel.data, v.data, v.len),
               NGX_HTTP_SANDBOX_BRIDGE_SENTINEL,
               sizeof(NGX_HTTP_SANDBOX_BRIDGE_SENTINEL) - 1);

    return NGX_OK;
}


/* a utility: the exec command line with no env, cwd "/" unless given */

static ngx_int_t
ngx_http_sandbox_bridge_spec_script(ngx_pool_t *pool, const char *command,
    json_t *args, ngx_str_t *cwd, ngx_str_t *out)
{
    ngx_int_t    rc;
    ngx_str_t    cmd, root;
    const char  *bad;

    cmd.data = (u_char *) command;
    cmd.len = ngx_strlen(command);
    ngx_str_set(&root, "/");

    rc = ngx_http_sandbox_bridge_exec_script(pool, &cmd, args,
                                             cwd ? cwd : &root, NULL, NULL,
                                             out, &bad);
    json_decref(args);

    return rc;
}


static ngx_int_t
ngx_http_sandbox_bridge_spec_scripts(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_spec_t *s)
{
    u_char     *p;
    ngx_str_t   test;

    test.data = ngx_pnalloc(pool, sizeof("test -s ") - 1
                            + ngx_http_sandbox_bridge_shell_quote_len(
                                                               &s->sentinel));
    if (test.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(test.data, "test -s ", sizeof("test -s ") - 1);
    p = ngx_http_sandbox_bridge_shell_quote(p, &s->sentinel);
    test.len = p - test.data;

    if (ngx_http_sandbox_bridge_spec_script(pool, "mkdir",
                           json_pack("[s,s%]", "-p", (char *) s->cwd.data,
                                     s->cwd.len),
                           NULL, &s->mkdir_script)
        != NGX_OK
        || ngx_http_sandbox_bridge_spec_script(pool, "sh",
                           json_pack("[s,s%]", "-c", (char *) test.data,
                                     test.len),
                           NULL, &s->check_script)
           != NGX_OK
        || ngx_http_sandbox_bridge_spec_script(pool, "pwd", NULL, &s->cwd,
                                               &s->pwd_script)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the sentinel file's content: JSON and a newline (README "Protocol") */

ngx_int_t
ngx_http_sandbox_bridge_spec_sentinel_text(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_spec_t *s, ngx_uint_t resumed, ngx_str_t *out)
{
    char    *text;
    size_t   len;
    u_char  *p;
    json_t  *j;
    u_char   updated[32];

    p = ngx_http_sandbox_bridge_iso_time(updated);

    /* key order kept (README "Protocol") */
    j = json_pack("{s:s,s:s%,s:s%,s:s%,s:s%,s:b,s:s%,s:b,s:b,s:s%}",
                  "provider", "docker",
                  "providerLeaseId", (char *) s->id.data, s->id.len,
                  "remoteCwd", (char *) s->cwd.data, s->cwd.len,
                  "sessionStrategy", (char *) s->strategy.data,
                  s->strategy.len,
                  "sessionId", (char *) s->session.data, s->session.len,
                  "keepAlive", (int) s->keepalive,
                  "sleepAfter", (char *) s->sleep_after.data,
                  s->sleep_after.len,
                  "normalizeId", (int) s->normalize,
                  "resumedLease", (int) resumed,
                  "updatedAt", (char *) updated, (size_t) (p - updated));

    text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);

    if (text == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(text);

    out->data = ngx_pnalloc(pool, len + 1);
    if (out->data == NULL) {
        free(text);
        return NGX_ERROR;
    }

    p = ngx_cpymem(out->data, text, len);
    *p++ = '\n';
    out->len = p - out->data;

    free(text);

    return NGX_OK;
}


/* mkdir -p '<cwd>' && printf '%s\n' '<sentinel json>' > '<path>' */

ngx_int_t
ngx_http_sandbox_bridge_spec_sentinel(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_spec_t *s, ngx_uint_t resumed)
{
    size_t     len;
    u_char    *p;
    ngx_str_t  json, sh;

    if (ngx_http_sandbox_bridge_spec_sentinel_text(pool, s, resumed, &json)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* printf adds the newline */
    json.len--;

    len = sizeof("mkdir -p  && printf '%s\\n'  > ") - 1
          + ngx_http_sandbox_bridge_shell_quote_len(&s->cwd)
          + ngx_http_sandbox_bridge_shell_quote_len(&json)
          + ngx_http_sandbox_bridge_shell_quote_len(&s->sentinel);

    sh.data = ngx_pnalloc(pool, len);
    if (sh.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(sh.data, "mkdir -p ", sizeof("mkdir -p ") - 1);
    p = ngx_http_sandbox_bridge_shell_quote(p, &s->cwd);
    p = ngx_cpymem(p, " && printf '%s\\n' ",
                   sizeof(" && printf '%s\\n' ") - 1);
    p = ngx_http_sandbox_bridge_shell_quote(p, &json);
    p = ngx_cpymem(p, " > ", sizeof(" > ") - 1);
    p = ngx_http_sandbox_bridge_shell_quote(p, &s->sentinel);
    sh.len = p - sh.data;

    return ngx_http_sandbox_bridge_spec_script(pool, "sh",
                                 json_pack("[s,s%]", "-c", (char *) sh.data,
                                           sh.len),
                                 NULL, &s->sentinel_script);
}


/* the container: hardened, labelled as this deployment's */

json_t *
ngx_http_sandbox_bridge_spec_container(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_spec_t *s)
{
    json_t                               *body, *labels, *host, *caps;
    ngx_str_t                            *cap;
    ngx_uint_t                            i;
    ngx_http_sandbox_bridge_kv_t         *kv;
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);

    labels = json_object();
    caps = json_array();

    if (labels == NULL || caps == NULL) {
        json_decref(labels);
        json_decref(caps);
        return NULL;
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
                        ngx_http_sandbox_bridge_json_strn(&s->id));
    json_object_set_new(labels, "paperclip.bridge.prefix",
                        ngx_http_sandbox_bridge_json_strn(&mcf->redis_prefix));

    /* no capabilities but a small documented set */
    cap = lcf->cap_add->elts;
    for (i = 0; i < lcf->cap_add->nelts; i++) {
        json_array_append_new(caps, ngx_http_sandbox_bridge_json_strn(&cap[i]));
    }

    host = json_pack("{s:s%,s:b,s:o,s:[s]}",
                     "NetworkMode", (char *) lcf->network.data,
                     lcf->network.len,
                     "Init", 1, "CapAdd", caps, "CapDrop", "ALL");
    if (host == NULL) {
        json_decref(labels);
        return NULL;
    }

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

    if (lcf->runtime.len) {
        json_object_set_new(host, "Runtime",
                            ngx_http_sandbox_bridge_json_strn(&lcf->runtime));
    }

    if (lcf->no_new_privileges) {
        json_object_set_new(host, "SecurityOpt",
                            json_pack("[s]", "no-new-privileges"));
    }

    body = json_pack("{s:s%,s:[s,s],s:s,s:o,s:o}",
                     "Image", (char *) lcf->image.data, lcf->image.len,
                     "Cmd", "sleep", "infinity",
                     "WorkingDir", "/",
                     "Labels", labels,
                     "HostConfig", host);

    if (body && lcf->read_only_root) {
        /* anonymous volumes keep /workspace and /tmp writable */
        json_object_set_new(host, "ReadonlyRootfs", json_true());
        json_object_set_new(body, "Volumes",
                            json_pack("{s{}s{}}",
                                      NGX_HTTP_SANDBOX_BRIDGE_VOLUME_WORKSPACE,
                                      NGX_HTTP_SANDBOX_BRIDGE_VOLUME_TMP));

    } else if (body && lcf->runtime.len) {
        /*
         * a runtime may mount its own /tmp over an empty one (gVisor:
         * a tmpfs in its kernel), hiding the stdin staged there
         */
        json_object_set_new(body, "Volumes",
                            json_pack("{s{}}",
                                      NGX_HTTP_SANDBOX_BRIDGE_VOLUME_TMP));
    }

    return body;
}


json_t *
ngx_http_sandbox_bridge_spec_metadata(ngx_http_sandbox_bridge_spec_t *s,
    ngx_uint_t resumed)
{
    return json_pack("{s:s,s:s%,s:s%,s:s%,s:s%,s:b,s:s%,s:b,s:b}",
                     "provider", "docker",
                     "remoteCwd", (char *) s->cwd.data, s->cwd.len,
                     "sandboxId", (char *) s->id.data, s->id.len,
                     "sessionStrategy", (char *) s->strategy.data,
                     s->strategy.len,
                     "sessionId", (char *) s->session.data, s->session.len,
                     "keepAlive", (int) s->keepalive,
                     "sleepAfter", (char *) s->sleep_after.data,
                     s->sleep_after.len,
                     "normalizeId", (int) s->normalize,
                     "resumedLease", (int) resumed);
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
