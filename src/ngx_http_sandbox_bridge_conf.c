
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_conf.h"
#include "ngx_http_sandbox_bridge_util.h"
#include "ngx_http_sandbox_bridge_hosts.h"


/* directive parsers; an error names its directive (README "Directives") */


static ngx_int_t ngx_http_sandbox_bridge_secret(ngx_conf_t *cf,
    ngx_str_t *file, ngx_str_t *secret);
static ngx_int_t ngx_http_sandbox_bridge_sentinels_conf(ngx_conf_t *cf,
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_str_t *list);
static ngx_int_t ngx_http_sandbox_bridge_wait_conf(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_str_t *s);


/* "name=value" (or "unix:path"): the value, when v starts with name */

#define ngx_http_sandbox_bridge_option(v, name, val)                          \
    ((v)->len >= sizeof(name) - 1                                             \
     && ngx_strncmp((v)->data, name, sizeof(name) - 1) == 0                   \
     && ((val)->data = (v)->data + sizeof(name) - 1,                          \
         (val)->len = (v)->len - (sizeof(name) - 1), 1))


/*
 * sandbox_redis 127.0.0.1:6379 | unix:/path
 *     | sentinel=host:port[,host:port...] master=name
 *     [db=N] [password_file=path] [sentinel_password_file=path]
 *     [wait=replicas,time] [prefix=str] [connect_timeout=time]
 *     [command_timeout=time];
 */

char *
ngx_http_sandbox_bridge_redis_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_sandbox_bridge_main_conf_t *mcf = conf;

    u_char      *p;
    ngx_str_t   *value, s;
    ngx_url_t    u;
    ngx_int_t    n, rc;
    ngx_uint_t   i;

    if (mcf->redis_addr.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    mcf->redis_addr = value[1];

    if (ngx_http_sandbox_bridge_option(&value[1], "sentinel=", &s)) {
        if (ngx_http_sandbox_bridge_sentinels_conf(cf, mcf, &s) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

    } else if (ngx_http_sandbox_bridge_option(&value[1], "unix:", &s)) {
        if (s.len == 0) {
            return "has an empty unix socket path";
        }

        mcf->redis_unix = s;

    } else {
        ngx_memzero(&u, sizeof(ngx_url_t));
        u.url = value[1];
        u.default_port = 6379;

        /* resolved here: hiredis would resolve with blocking getaddrinfo */
        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid address \"%V\" in \"sandbox_redis\" "
                               "directive%s%s", &value[1],
                               u.err ? ": " : "", u.err ? u.err : "");
            return NGX_CONF_ERROR;
        }

        p = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        mcf->redis_host.data = p;
        mcf->redis_host.len = ngx_sock_ntop(u.addrs[0].sockaddr,
                                            u.addrs[0].socklen, p,
                                            NGX_SOCKADDR_STRLEN, 0);
        p[mcf->redis_host.len] = '\0';

        if (mcf->redis_host.len > 2 && p[0] == '[') {
            mcf->redis_host.data++;
            mcf->redis_host.len -= 2;
            mcf->redis_host.data[mcf->redis_host.len] = '\0';
        }

        mcf->redis_port = u.port;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_http_sandbox_bridge_option(&value[i], "db=", &s)) {
            n = ngx_atoi(s.data, s.len);
            if (n == NGX_ERROR || n > 1024) {
                goto invalid;
            }

            mcf->redis_db = n;
            continue;
        }

        if (ngx_http_sandbox_bridge_option(&value[i], "prefix=", &s)) {

            if (s.len == 0 || s.len > 64
                || ngx_strlchr(s.data, s.data + s.len, '{')
                || ngx_strlchr(s.data, s.data + s.len, '}'))
            {
                goto invalid;
            }

            mcf->redis_prefix = s;
            continue;
        }

        if (ngx_http_sandbox_bridge_option(&value[i], "password_file=", &s)) {

            rc = ngx_http_sandbox_bridge_secret(cf, &s, &mcf->redis_password);
            if (rc != NGX_OK) {
                if (rc == NGX_DECLINED) {
                    goto invalid;
                }

                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_http_sandbox_bridge_option(&value[i],
                                           "sentinel_password_file=", &s))
        {
            rc = ngx_http_sandbox_bridge_secret(cf, &s,
                                                &mcf->redis_sentinel_password);
            if (rc != NGX_OK) {
                if (rc == NGX_DECLINED) {
                    goto invalid;
                }

                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_http_sandbox_bridge_option(&value[i], "master=", &s)) {

            if (s.len == 0 || s.len > 255) {
                goto invalid;
            }

            mcf->redis_master.data = ngx_pnalloc(cf->pool, s.len + 1);
            if (mcf->redis_master.data == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memcpy(mcf->redis_master.data, s.data, s.len);
            mcf->redis_master.data[s.len] = '\0';
            mcf->redis_master.len = s.len;
            continue;
        }

        if (ngx_http_sandbox_bridge_option(&value[i], "wait=", &s)) {

            if (ngx_http_sandbox_bridge_wait_conf(mcf, &s) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        if (ngx_http_sandbox_bridge_option(&value[i], "connect_timeout=", &s)) {

            mcf->redis_connect_timeout = ngx_parse_time(&s, 0);
            if (mcf->redis_connect_timeout == (ngx_msec_t) NGX_ERROR
                || mcf->redis_connect_timeout == 0)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_http_sandbox_bridge_option(&value[i], "command_timeout=", &s)) {

            mcf->redis_command_timeout = ngx_parse_time(&s, 0);
            if (mcf->redis_command_timeout == (ngx_msec_t) NGX_ERROR
                || mcf->redis_command_timeout == 0)
            {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    if ((mcf->redis_sentinels == NULL) != (mcf->redis_master.len == 0)) {
        return mcf->redis_sentinels ? "needs master=<name> with sentinel="
                                    : "takes master= only with sentinel=";
    }

    if (mcf->redis_sentinel_password.len && mcf->redis_sentinels == NULL) {
        return "takes sentinel_password_file= only with sentinel=";
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"sandbox_redis\" "
                       "directive", &value[i]);

    return NGX_CONF_ERROR;
}


/* a secret from a file: trailing newlines dropped, never logged */

static ngx_int_t
ngx_http_sandbox_bridge_secret(ngx_conf_t *cf, ngx_str_t *file,
    ngx_str_t *secret)
{
    ngx_str_t  text;

    if (file->len == 0) {
        return NGX_DECLINED;
    }

    if (ngx_http_sandbox_bridge_read_file(cf, file, &text) != NGX_OK) {
        return NGX_ERROR;
    }

    while (text.len
           && (text.data[text.len - 1] == '\n'
               || text.data[text.len - 1] == '\r'))
    {
        text.len--;
    }

    secret->data = ngx_pnalloc(cf->pool, text.len + 1);
    if (secret->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(secret->data, text.data, text.len);
    secret->data[text.len] = '\0';
    secret->len = text.len;
    ngx_explicit_memzero(text.data, text.len);

    return NGX_OK;
}


/* sentinel=host:port[,host:port...]: each resolved here, as the primary */

static ngx_int_t
ngx_http_sandbox_bridge_sentinels_conf(ngx_conf_t *cf,
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_str_t *list)
{
    u_char                                   *p, *last, *comma;
    ngx_url_t                                 u;
    ngx_http_sandbox_bridge_sentinel_addr_t  *sa;

    mcf->redis_sentinels = ngx_array_create(cf->pool, 3,
                               sizeof(ngx_http_sandbox_bridge_sentinel_addr_t));
    if (mcf->redis_sentinels == NULL) {
        return NGX_ERROR;
    }

    p = list->data;
    last = list->data + list->len;

    for ( ;; ) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));
        u.url.data = p;
        u.url.len = comma - p;
        u.default_port = 26379;

        if (u.url.len == 0
            || ngx_parse_url(cf->pool, &u) != NGX_OK
            || u.naddrs == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid sentinel \"%V\" in "
                               "\"sandbox_redis\" directive%s%s", &u.url,
                               u.err ? ": " : "", u.err ? u.err : "");
            return NGX_ERROR;
        }

        sa = ngx_array_push(mcf->redis_sentinels);
        if (sa == NULL) {
            return NGX_ERROR;
        }

        sa->name = u.url;
        sa->port = u.port;
        sa->host.data = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
        if (sa->host.data == NULL) {
            return NGX_ERROR;
        }

        sa->host.len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                                     sa->host.data, NGX_SOCKADDR_STRLEN, 0);
        sa->host.data[sa->host.len] = '\0';

        if (sa->host.len > 2 && sa->host.data[0] == '[') {
            sa->host.data++;
            sa->host.len -= 2;
            sa->host.data[sa->host.len] = '\0';
        }

        if (comma == last) {
            break;
        }

        p = comma + 1;
    }

    return NGX_OK;
}


/* wait=<replicas>,<timeout>: WAIT after lease-creating/-deleting scripts */

static ngx_int_t
ngx_http_sandbox_bridge_wait_conf(ngx_http_sandbox_bridge_main_conf_t *mcf,
    ngx_str_t *s)
{
    u_char     *comma;
    ngx_int_t   n;
    ngx_str_t   t;

    comma = ngx_strlchr(s->data, s->data + s->len, ',');
    if (comma == NULL) {
        return NGX_ERROR;
    }

    n = ngx_atoi(s->data, comma - s->data);
    if (n < 1 || n > 64) {
        return NGX_ERROR;
    }

    t.data = comma + 1;
    t.len = s->data + s->len - t.data;

    mcf->redis_wait_timeout = ngx_parse_time(&t, 0);
    if (mcf->redis_wait_timeout == (ngx_msec_t) NGX_ERROR
        || mcf->redis_wait_timeout == 0)
    {
        return NGX_ERROR;
    }

    mcf->redis_wait_replicas = n;

    return NGX_OK;
}


char *
ngx_http_sandbox_bridge_docker_location(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    return ngx_http_sandbox_bridge_hosts_add(cf, conf);
}


/* "1.5" -> 1500000000 NanoCPUs */

char *
ngx_http_sandbox_bridge_cpus(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_sandbox_bridge_loc_conf_t *lcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (lcf->nano_cpus != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atofp(value[1].data, value[1].len, 3);

    if (n == NGX_ERROR || n > 1024000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"sandbox_cpus\" "
                           "directive, it must be a number such as 1 or "
                           "0.5", &value[1]);
        return NGX_CONF_ERROR;
    }

    lcf->nano_cpus = n * 1000000;

    return NGX_CONF_OK;
}


char *
ngx_http_sandbox_bridge_label(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_sandbox_bridge_loc_conf_t *lcf = conf;

    u_char                        *eq;
    ngx_str_t                     *value;
    ngx_http_sandbox_bridge_kv_t  *kv;

    value = cf->args->elts;

    eq = ngx_strlchr(value[1].data, value[1].data + value[1].len, '=');

    if (eq == NULL || eq == value[1].data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid label \"%V\" in \"sandbox_label\" "
                           "directive, it must be key=value", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (lcf->labels == NGX_CONF_UNSET_PTR) {
        lcf->labels = ngx_array_create(cf->pool, 4,
                                       sizeof(ngx_http_sandbox_bridge_kv_t));
        if (lcf->labels == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    kv = ngx_array_push(lcf->labels);
    if (kv == NULL) {
        return NGX_CONF_ERROR;
    }

    kv->key.data = value[1].data;
    kv->key.len = eq - value[1].data;
    kv->value.data = eq + 1;
    kv->value.len = value[1].data + value[1].len - eq - 1;

    return NGX_CONF_OK;
}


/* a Docker name: [A-Za-z0-9_.-] and the characters in extra */

static ngx_int_t
ngx_http_sandbox_bridge_docker_name(ngx_str_t *v, const char *extra)
{
    size_t  i;

    for (i = 0; i < v->len; i++) {
        if (!(isalnum(v->data[i]) || v->data[i] == '-' || v->data[i] == '_'
              || v->data[i] == '.'
              || (v->data[i] && ngx_strchr(extra, v->data[i]))))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


char *
ngx_http_sandbox_bridge_network(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_sandbox_bridge_loc_conf_t *lcf = conf;

    ngx_str_t  *value;

    if (lcf->network.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_sandbox_bridge_docker_name(&value[1], ":") != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid network \"%V\" in "
                           "\"sandbox_network\" directive", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (value[1].len == 0) {
        return "takes a network name";
    }

    lcf->network = value[1];

    return NGX_CONF_OK;
}


char *
ngx_http_sandbox_bridge_runtime(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_sandbox_bridge_loc_conf_t *lcf = conf;

    ngx_str_t  *value;

    if (lcf->runtime.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "takes a runtime name";
    }

    /* a name from dockerd's "runtimes"; goes into the JSON as is */
    if (ngx_http_sandbox_bridge_docker_name(&value[1], "") != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid runtime \"%V\" in "
                           "\"sandbox_runtime\" directive", &value[1]);
        return NGX_CONF_ERROR;
    }

    lcf->runtime = value[1];

    return NGX_CONF_OK;
}


/* sandbox_cap_add CAP ... | none; */

char *
ngx_http_sandbox_bridge_cap_add(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_sandbox_bridge_loc_conf_t *lcf = conf;

    size_t       j;
    ngx_str_t   *value, *cap;
    ngx_uint_t   i;

    if (lcf->cap_add != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    lcf->cap_add = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
    if (lcf->cap_add == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2
        && value[1].len == 4 && ngx_strncmp(value[1].data, "none", 4) == 0)
    {
        return NGX_CONF_OK;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        for (j = 0; j < value[i].len; j++) {
            if (!((value[i].data[j] >= 'A' && value[i].data[j] <= 'Z')
                  || value[i].data[j] == '_'))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid capability \"%V\" in "
                                   "\"sandbox_cap_add\" directive, such as "
                                   "CHOWN or NET_BIND_SERVICE", &value[i]);
                return NGX_CONF_ERROR;
            }
        }

        if (value[i].len == 0
            || (value[i].len == 3 && ngx_strncmp(value[i].data, "ALL", 3) == 0))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid capability \"%V\" in "
                               "\"sandbox_cap_add\" directive", &value[i]);
            return NGX_CONF_ERROR;
        }

        cap = ngx_array_push(lcf->cap_add);
        if (cap == NULL) {
            return NGX_CONF_ERROR;
        }

        *cap = value[i];
    }

    return NGX_CONF_OK;
}


char *
ngx_http_sandbox_bridge_auth_mode(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_uint_t       *mode;
    ngx_str_t        *value;
    ngx_conf_enum_t  *e;

    mode = (ngx_uint_t *) ((char *) conf + cmd->offset);
    value = cf->args->elts;

    for (e = cmd->post; e->name.len; e++) {
        if (e->name.len == value[1].len
            && ngx_strcasecmp(e->name.data, value[1].data) == 0)
        {
            if (*mode != NGX_CONF_UNSET_UINT) {
                return "is duplicate";
            }

            *mode = e->value;
            ((ngx_http_sandbox_bridge_loc_conf_t *) conf)->auth_set = 1;
            return NGX_CONF_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, it must "
                       "be \"off\", \"bearer\", \"hmac\" or \"any\"", &value[1],
                       &value[0]);

    return NGX_CONF_ERROR;
}


char *
ngx_http_sandbox_bridge_check_bounds(ngx_conf_t *cf, void *post, void *data)
{
    ngx_http_sandbox_bridge_bounds_t *b = post;

    ngx_int_t  *np = data;
    ngx_str_t  *value;

    if (*np >= b->low && *np <= b->high) {
        return NGX_CONF_OK;
    }

    value = cf->args->elts;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, it must "
                       "be between %i and %i", &value[1], &value[0],
                       b->low, b->high);

    return NGX_CONF_ERROR;
}


char *
ngx_http_sandbox_bridge_check_msec(ngx_conf_t *cf, void *post, void *data)
{
    ngx_http_sandbox_bridge_bounds_t *b = post;

    ngx_msec_t  *mp = data;
    ngx_str_t   *value;

    if (*mp >= (ngx_msec_t) b->low && *mp <= (ngx_msec_t) b->high) {
        return NGX_CONF_OK;
    }

    value = cf->args->elts;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, it must "
                       "be between %ims and %ims", &value[1], &value[0],
                       b->low, b->high);

    return NGX_CONF_ERROR;
}
