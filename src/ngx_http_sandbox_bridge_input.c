
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include <math.h>

#include "ngx_http_sandbox_bridge_input.h"


/*
 * Request input: JSON coercions with JavaScript's semantics, ids,
 * durations, limits and the shell command line. Pure functions: the
 * fuzzers call them directly (fuzz/README.md).
 */


static ngx_int_t ngx_http_sandbox_bridge_js_number(json_t *v, double *out);
static ngx_int_t ngx_http_sandbox_bridge_js_string_number(const char *s,
    size_t len, double *out);


/* boolean(): only a literal true is true */

ngx_int_t
ngx_http_sandbox_bridge_read_bool(json_t *obj, const char *key,
    ngx_int_t fallback)
{
    json_t  *v;

    v = json_object_get(obj, key);
    if (v == NULL) {
        return fallback;
    }

    return json_is_true(v) ? 1 : 0;
}


/* string(): trimmed, non-blank, else NGX_DECLINED */

ngx_int_t
ngx_http_sandbox_bridge_read_string(json_t *obj, const char *key,
    ngx_str_t *out)
{
    if (ngx_http_sandbox_bridge_read_raw_string(obj, key, out) != NGX_OK) {
        return NGX_DECLINED;
    }

    ngx_http_sandbox_bridge_trim(out);

    return out->len ? NGX_OK : NGX_DECLINED;
}


/* String.prototype.trim() for ASCII white space, in place */

void
ngx_http_sandbox_bridge_trim(ngx_str_t *s)
{
    u_char  *p, *last;

    p = s->data;
    last = p + s->len;

    while (p < last && (*p == ' ' || (*p >= '\t' && *p <= '\r'))) {
        p++;
    }

    while (last > p
           && (last[-1] == ' ' || (last[-1] >= '\t' && last[-1] <= '\r')))
    {
        last--;
    }

    s->data = p;
    s->len = last - p;
}


ngx_int_t
ngx_http_sandbox_bridge_read_raw_string(json_t *obj, const char *key,
    ngx_str_t *out)
{
    json_t  *v;

    v = json_object_get(obj, key);
    if (v == NULL || !json_is_string(v)) {
        return NGX_DECLINED;
    }

    out->data = (u_char *) json_string_value(v);
    out->len = json_string_length(v);

    return NGX_OK;
}


/* integer(): JS Number() truncated toward zero */

ngx_int_t
ngx_http_sandbox_bridge_read_integer(json_t *obj, const char *key,
    int64_t fallback, int64_t *out)
{
    double   d;
    json_t  *v;

    v = json_object_get(obj, key);

    if (v == NULL
        || ngx_http_sandbox_bridge_js_number(v, &d) != NGX_OK
        || !isfinite(d))
    {
        *out = fallback;
        return NGX_DECLINED;
    }

    d = trunc(d);

    if (d > 9007199254740991.0) {
        d = 9007199254740991.0;

    } else if (d < -9007199254740991.0) {
        d = -9007199254740991.0;
    }

    *out = (int64_t) d;

    return NGX_OK;
}


static ngx_int_t
ngx_http_sandbox_bridge_js_number(json_t *v, double *out)
{
    json_t  *e;

    switch (json_typeof(v)) {

    case JSON_INTEGER:
        *out = (double) json_integer_value(v);
        return NGX_OK;

    case JSON_REAL:
        *out = json_real_value(v);
        return NGX_OK;

    case JSON_NULL:
    case JSON_FALSE:
        *out = 0;
        return NGX_OK;

    case JSON_TRUE:
        *out = 1;
        return NGX_OK;

    case JSON_STRING:
        return ngx_http_sandbox_bridge_js_string_number(json_string_value(v),
                                                   json_string_length(v),
                                                   out);

    case JSON_ARRAY:
        if (json_array_size(v) == 0) {
            *out = 0;
            return NGX_OK;
        }

        if (json_array_size(v) == 1) {
            e = json_array_get(v, 0);

            if (json_is_number(e) || json_is_string(e)) {
                return ngx_http_sandbox_bridge_js_number(e, out);
            }

            if (json_is_null(e)) {
                *out = 0;
                return NGX_OK;
            }
        }

        return NGX_DECLINED;

    default:
        return NGX_DECLINED;
    }
}


static ngx_int_t
ngx_http_sandbox_bridge_js_string_number(const char *s, size_t len,
    double *out)
{
    char        *end;
    double       d;
    size_t       n;
    const char  *p, *last;
    char         buf[64];

    p = s;
    last = s + len;

    while (p < last && (*p == ' ' || (*p >= '\t' && *p <= '\r'))) {
        p++;
    }

    while (last > p
           && (last[-1] == ' ' || (last[-1] >= '\t' && last[-1] <= '\r')))
    {
        last--;
    }

    n = last - p;

    if (n == 0) {
        *out = 0;
        return NGX_OK;
    }

    if (n >= sizeof(buf)) {
        return NGX_DECLINED;
    }

    ngx_memcpy(buf, p, n);
    buf[n] = '\0';

    if (n > 2 && buf[0] == '0'
        && (buf[1] == 'x' || buf[1] == 'X' || buf[1] == 'o'
            || buf[1] == 'O' || buf[1] == 'b' || buf[1] == 'B'))
    {
        int  base = (buf[1] == 'x' || buf[1] == 'X') ? 16
                    : (buf[1] == 'o' || buf[1] == 'O') ? 8 : 2;

        /* only digits of the base: no sign, blank or second prefix */
        d = 0;

        for (end = buf + 2; *end; end++) {
            int  digit;

            digit = (*end >= '0' && *end <= '9') ? *end - '0'
                    : (*end >= 'a' && *end <= 'f') ? *end - 'a' + 10
                    : (*end >= 'A' && *end <= 'F') ? *end - 'A' + 10 : 99;

            if (digit >= base) {
                return NGX_DECLINED;
            }

            d = d * base + digit;
        }

        *out = d;
        return NGX_OK;
    }

    /* reject forms strtod accepts but JS does not */
    for (end = buf; *end; end++) {
        if (!((*end >= '0' && *end <= '9') || *end == '.' || *end == 'e'
              || *end == 'E' || *end == '+' || *end == '-'))
        {
            if (ngx_strcmp(buf, "Infinity") == 0
                || ngx_strcmp(buf, "+Infinity") == 0
                || ngx_strcmp(buf, "-Infinity") == 0)
            {
                *out = (buf[0] == '-') ? -INFINITY : INFINITY;
                return NGX_OK;
            }

            return NGX_DECLINED;
        }
    }

    d = strtod(buf, &end);

    if (*end != '\0') {
        return NGX_DECLINED;
    }

    *out = d;

    return NGX_OK;
}


/* "30s", "10m", "1h", "2d", "500ms" or plain seconds */

ngx_msec_int_t
ngx_http_sandbox_bridge_parse_duration(u_char *p, size_t len)
{
    u_char          *last;
    ngx_msec_int_t   n, unit;

    last = p + len;
    n = 0;

    if (p == last || *p < '0' || *p > '9') {
        return NGX_ERROR;
    }

    while (p < last && *p >= '0' && *p <= '9') {
        n = n * 10 + (*p++ - '0');

        if (n > 365 * 86400) {
            return NGX_ERROR;
        }
    }

    if (last - p == 2 && p[0] == 'm' && p[1] == 's') {
        return n;
    }

    if (last - p > 1) {
        return NGX_ERROR;
    }

    unit = 1000;

    if (p < last) {
        switch (*p) {
        case 's':
            unit = 1000;
            break;
        case 'm':
            unit = 60 * 1000;
            break;
        case 'h':
            unit = 3600 * 1000;
            break;
        case 'd':
            unit = 86400 * 1000;
            break;
        default:
            return NGX_ERROR;
        }
    }

    n *= unit;

    if (n > (ngx_msec_int_t) 365 * 86400 * 1000) {
        return NGX_ERROR;
    }

    return n;
}


/* id normalization (README "Protocol") */

ngx_int_t
ngx_http_sandbox_bridge_normalize_id(ngx_pool_t *pool, ngx_str_t *in,
    ngx_str_t *out)
{
    u_char     *p, *last, *d, c;
    ngx_str_t   t;

    t = *in;
    ngx_http_sandbox_bridge_trim(&t);

    p = t.data;
    last = p + t.len;

    out->data = ngx_pnalloc(pool, last - p + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    d = out->data;

    for ( /* void */ ; p < last; p++) {
        c = ngx_tolower(*p);

        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            *d++ = c;
            continue;
        }

        /* every run of other characters, and "-" runs, become one "-" */
        if (d == out->data || d[-1] != '-') {
            *d++ = '-';
        }
    }

    p = out->data;

    while (p < d && *p == '-') {
        p++;
    }

    while (d > p && d[-1] == '-') {
        d--;
    }

    out->len = d - p;
    out->data = p;

    return NGX_OK;
}


/* 1-63 characters of [a-z0-9-], no leading or trailing "-" */

const char *
ngx_http_sandbox_bridge_check_id(ngx_str_t *id)
{
    size_t  i;

    if (id->len == 0 || id->len > NGX_HTTP_SANDBOX_BRIDGE_ID_MAX) {
        return "Lease ids must be 1-63 characters of [a-z0-9-] "
               "and must not start or end with \"-\".";
    }

    for (i = 0; i < id->len; i++) {
        if (!((id->data[i] >= 'a' && id->data[i] <= 'z')
              || (id->data[i] >= '0' && id->data[i] <= '9')
              || id->data[i] == '-'))
        {
            return "Lease ids must be 1-63 characters of [a-z0-9-] "
                   "and must not start or end with \"-\".";
        }
    }

    if (id->data[0] == '-' || id->data[id->len - 1] == '-') {
        return "Lease ids must be 1-63 characters of [a-z0-9-] "
               "and must not start or end with \"-\".";
    }

    return NULL;
}


/* shell quoting: '...' with each ' as '"'"' */

size_t
ngx_http_sandbox_bridge_shell_quote_len(ngx_str_t *src)
{
    size_t  i, n;

    n = 2;

    for (i = 0; i < src->len; i++) {
        n += (src->data[i] == '\'') ? 5 : 1;
    }

    return n;
}


u_char *
ngx_http_sandbox_bridge_shell_quote(u_char *dst, ngx_str_t *src)
{
    size_t  i;

    *dst++ = '\'';

    for (i = 0; i < src->len; i++) {
        if (src->data[i] == '\'') {
            dst = ngx_cpymem(dst, "'\"'\"'", 5);
            continue;
        }

        *dst++ = src->data[i];
    }

    *dst++ = '\'';

    return dst;
}


/* sessionId: a string up to SESSION_MAX bytes; NGX_DECLINED if longer */

ngx_int_t
ngx_http_sandbox_bridge_read_session(json_t *obj, ngx_str_t *session)
{
    if (ngx_http_sandbox_bridge_read_string(obj, "sessionId", session)
        != NGX_OK)
    {
        ngx_str_set(session, NGX_HTTP_SANDBOX_BRIDGE_DEFAULT_SESSION);
        return NGX_OK;
    }

    if (session->len > NGX_HTTP_SANDBOX_BRIDGE_SESSION_MAX) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* timeoutMs: <= 0 or not a number means the default; the operator caps it */

ngx_msec_t
ngx_http_sandbox_bridge_read_timeout(json_t *obj,
    ngx_http_sandbox_bridge_loc_conf_t *lcf)
{
    int64_t  timeout;

    (void) ngx_http_sandbox_bridge_read_integer(obj, "timeoutMs",
                                    NGX_HTTP_SANDBOX_BRIDGE_DEFAULT_TIMEOUT,
                                    &timeout);
    if (timeout <= 0) {
        timeout = NGX_HTTP_SANDBOX_BRIDGE_DEFAULT_TIMEOUT;
    }

    if ((uint64_t) timeout > lcf->exec_timeout_max) {
        timeout = lcf->exec_timeout_max;
    }

    return (ngx_msec_t) timeout;
}


/* the deepest nesting of arrays and objects, outside strings */

ngx_uint_t
ngx_http_sandbox_bridge_json_depth(u_char *p, size_t len)
{
    u_char      *last;
    ngx_uint_t   depth, max, in_string;

    last = p + len;
    depth = 0;
    max = 0;
    in_string = 0;

    for ( /* void */ ; p < last; p++) {

        if (in_string) {
            if (*p == '\\') {
                p++;

            } else if (*p == '"') {
                in_string = 0;
            }

            continue;
        }

        switch (*p) {
        case '"':
            in_string = 1;
            break;

        case '[':
        case '{':
            if (++depth > max) {
                max = depth;
            }
            break;

        case ']':
        case '}':
            if (depth) {
                depth--;
            }
            break;
        }
    }

    return max;
}



/* the command line run as sh -lc (README "Exec") */

ngx_int_t
ngx_http_sandbox_bridge_exec_script(ngx_pool_t *pool, ngx_str_t *command,
    json_t *args, ngx_str_t *cwd, json_t *env, ngx_str_t *stdin_path,
    ngx_str_t *script, const char **bad_key)
{
    size_t       len, i, k;
    u_char      *p;
    json_t      *v;
    ngx_str_t    s;
    ngx_uint_t   nenv;
    const char  *key;

    static ngx_str_t  profile = ngx_string(
        "if [ -f /etc/profile ]; then . /etc/profile >/dev/null 2>&1 || true; "
        "fi && "
        "if [ -f \"$HOME/.profile\" ]; then . \"$HOME/.profile\" >/dev/null "
        "2>&1 || true; fi && "
        "if [ -f \"$HOME/.bash_profile\" ]; then . \"$HOME/.bash_profile\" "
        ">/dev/null 2>&1 || true; elif [ -f \"$HOME/.bashrc\" ]; then . "
        "\"$HOME/.bashrc\" >/dev/null 2>&1 || true; fi && "
        "if [ -f \"$HOME/.zprofile\" ]; then . \"$HOME/.zprofile\" "
        ">/dev/null 2>&1 || true; fi");

    nenv = 0;

    if (env && json_is_object(env)) {
        json_object_foreach(env, key, v) {
            k = ngx_strlen(key);

            if (k == 0 || !(isalpha((unsigned char) key[0]) || key[0] == '_')) {
                *bad_key = key;
                return NGX_DECLINED;
            }

            for (i = 1; i < k; i++) {
                if (!(isalpha((unsigned char) key[i]) || key[i] == '_'
                      || (key[i] >= '0' && key[i] <= '9')))
                {
                    *bad_key = key;
                    return NGX_DECLINED;
                }
            }
        }
    }

    len = profile.len + sizeof(" && exec env") - 1
          + ngx_http_sandbox_bridge_shell_quote_len(command) + 1;

    if (cwd && cwd->len) {
        len += sizeof(" && cd ") - 1
               + ngx_http_sandbox_bridge_shell_quote_len(cwd);
    }

    if (env && json_is_object(env)) {
        json_object_foreach(env, key, v) {
            if (!json_is_string(v)) {
                continue;
            }

            s.data = (u_char *) json_string_value(v);
            s.len = json_string_length(v);

            len += 1 + ngx_strlen(key) + 1
                   + ngx_http_sandbox_bridge_shell_quote_len(&s);
            nenv++;
        }
    }

    if (args && json_is_array(args)) {
        json_array_foreach(args, i, v) {
            if (!json_is_string(v)) {
                continue;
            }

            s.data = (u_char *) json_string_value(v);
            s.len = json_string_length(v);

            len += 1 + ngx_http_sandbox_bridge_shell_quote_len(&s);
        }
    }

    if (stdin_path && stdin_path->len) {
        len += sizeof(" < ") - 1
               + ngx_http_sandbox_bridge_shell_quote_len(stdin_path);
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    script->data = p;

    p = ngx_cpymem(p, profile.data, profile.len);

    if (cwd && cwd->len) {
        p = ngx_cpymem(p, " && cd ", sizeof(" && cd ") - 1);
        p = ngx_http_sandbox_bridge_shell_quote(p, cwd);
    }

    if (nenv) {
        p = ngx_cpymem(p, " && exec env", sizeof(" && exec env") - 1);

        json_object_foreach(env, key, v) {
            if (!json_is_string(v)) {
                continue;
            }

            s.data = (u_char *) json_string_value(v);
            s.len = json_string_length(v);

            *p++ = ' ';
            p = ngx_cpymem(p, key, ngx_strlen(key));
            *p++ = '=';
            p = ngx_http_sandbox_bridge_shell_quote(p, &s);
        }

    } else {
        p = ngx_cpymem(p, " && exec", sizeof(" && exec") - 1);
    }

    *p++ = ' ';
    p = ngx_http_sandbox_bridge_shell_quote(p, command);

    if (args && json_is_array(args)) {
        json_array_foreach(args, i, v) {
            if (!json_is_string(v)) {
                continue;
            }

            s.data = (u_char *) json_string_value(v);
            s.len = json_string_length(v);

            *p++ = ' ';
            p = ngx_http_sandbox_bridge_shell_quote(p, &s);
        }
    }

    if (stdin_path && stdin_path->len) {
        p = ngx_cpymem(p, " < ", sizeof(" < ") - 1);
        p = ngx_http_sandbox_bridge_shell_quote(p, stdin_path);
    }

    script->len = p - script->data;

    return NGX_OK;
}
