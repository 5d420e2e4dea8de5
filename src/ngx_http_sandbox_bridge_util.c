
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include <math.h>
#include <openssl/rand.h>

#include "ngx_http_sandbox_bridge_util.h"


#define NGX_HTTP_SANDBOX_BRIDGE_ERRMSG_MAX  (16 * 1024)


static ngx_int_t ngx_http_sandbox_bridge_js_number(json_t *v, double *out);
static ngx_int_t ngx_http_sandbox_bridge_js_string_number(const char *s,
    size_t len, double *out);


u_char *
ngx_http_sandbox_bridge_json_dump(ngx_pool_t *pool, json_t *j, size_t *len)
{
    char    *s;
    size_t   n;
    u_char  *p;

    s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL) {
        return NULL;
    }

    n = ngx_strlen(s);

    p = ngx_pnalloc(pool, n);
    if (p != NULL) {
        ngx_memcpy(p, s, n);
        *len = n;
    }

    free(s);

    return p;
}


void
ngx_http_sandbox_bridge_json_cleanup(void *data)
{
    json_t  **pj = data;

    if (*pj) {
        json_decref(*pj);
        *pj = NULL;
    }
}


json_t *
ngx_http_sandbox_bridge_json_strn(ngx_str_t *s)
{
    return json_stringn((const char *) s->data, s->len);
}


ngx_int_t
ngx_http_sandbox_bridge_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *body)
{
    size_t        len;
    u_char       *p;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_http_sandbox_bridge_json_dump(r->pool, body, &len);
    json_decref(body);

    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->header_sent) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "sandbox bridge: response header already sent");
        return NGX_ERROR;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = p;
    b->last = p + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_sandbox_bridge_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *fmt, ...)
{
    va_list    args;
    ngx_int_t  rc;

    va_start(args, fmt);
    rc = ngx_http_sandbox_bridge_send_error_v(r, status, code, fmt, args);
    va_end(args);

    return rc;
}


ngx_int_t
ngx_http_sandbox_bridge_send_error_v(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *fmt, va_list args)
{
    u_char  *p;
    json_t  *body;
    u_char   msg[NGX_HTTP_SANDBOX_BRIDGE_ERRMSG_MAX];

    p = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);

    body = json_object();
    if (body == NULL) {
        return NGX_ERROR;
    }

    json_object_set_new(body, "error", json_string(code));
    json_object_set_new(body, "message",
                        json_stringn((char *) msg, p - msg));

    if (json_object_get(body, "message") == NULL) {
        /* the message was not valid UTF-8 */
        json_object_set_new(body, "message", json_string(code));
    }

    return ngx_http_sandbox_bridge_send_json(r, status, body);
}


/* PROTOCOL §1.3 boolean(): only a literal true is true */

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


/* PROTOCOL §1.3 string(): trimmed, non-blank, else NGX_DECLINED */

ngx_int_t
ngx_http_sandbox_bridge_read_string(json_t *obj, const char *key,
    ngx_str_t *out)
{
    u_char  *p, *last;

    if (ngx_http_sandbox_bridge_read_raw_string(obj, key, out) != NGX_OK) {
        return NGX_DECLINED;
    }

    p = out->data;
    last = p + out->len;

    while (p < last && (*p == ' ' || (*p >= '\t' && *p <= '\r'))) {
        p++;
    }

    while (last > p
           && (last[-1] == ' ' || (last[-1] >= '\t' && last[-1] <= '\r')))
    {
        last--;
    }

    if (p == last) {
        return NGX_DECLINED;
    }

    out->data = p;
    out->len = last - p;

    return NGX_OK;
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


/* PROTOCOL §1.3 integer(): JS Number() truncated toward zero */

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


/* PROTOCOL §4.1 normalization */

ngx_int_t
ngx_http_sandbox_bridge_normalize_id(ngx_pool_t *pool, ngx_str_t *in,
    ngx_str_t *out)
{
    u_char  *p, *last, *d, c;

    p = in->data;
    last = p + in->len;

    while (p < last && (*p == ' ' || (*p >= '\t' && *p <= '\r'))) {
        p++;
    }

    while (last > p
           && (last[-1] == ' ' || (last[-1] >= '\t' && last[-1] <= '\r')))
    {
        last--;
    }

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


/* D6: 1-63 characters of [a-z0-9-], no leading or trailing "-" */

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


/* PROTOCOL §5.2: '...' with each ' as '"'"' */

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


ngx_int_t
ngx_http_sandbox_bridge_random_hex(u_char *dst, size_t n)
{
    u_char  buf[64];

    if (n > 2 * sizeof(buf)) {
        return NGX_ERROR;
    }

    if (RAND_bytes(buf, (int) ((n + 1) / 2)) != 1) {
        return NGX_ERROR;
    }

    ngx_hex_dump(dst, buf, n / 2);

    if (n % 2) {
        dst[n - 1] = "0123456789abcdef"[buf[n / 2] & 0x0f];
    }

    return NGX_OK;
}


/* 2026-05-11T12:00:00.000Z, 24 bytes */

u_char *
ngx_http_sandbox_bridge_iso_time(u_char *dst)
{
    ngx_tm_t    tm;
    ngx_time_t  *tp;

    tp = ngx_timeofday();
    ngx_gmtime(tp->sec, &tm);

    return ngx_sprintf(dst, "%4d-%02d-%02dT%02d:%02d:%02d.%03MZ",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                       tp->msec);
}


/* the request path as sent, without query and trailing slashes */

void
ngx_http_sandbox_bridge_raw_path(ngx_http_request_t *r, ngx_str_t *path)
{
    u_char  *p, *last;

    p = r->unparsed_uri.data;
    last = p + r->unparsed_uri.len;

    path->data = p;

    while (p < last && *p != '?' && *p != '#') {
        p++;
    }

    while (p > path->data && p[-1] == '/') {
        p--;
    }

    path->len = p - path->data;
}


/* reads a small file at configuration time; errors name the directive */

ngx_int_t
ngx_http_sandbox_bridge_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *out)
{
    ssize_t          n;
    ngx_str_t       *directive;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    directive = cf->args->elts;

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = *name;
    file.log = cf->log;

    file.fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%V\" directive cannot open \"%V\"",
                           &directive[0], name);
        return NGX_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR
        || !ngx_is_file(&fi)
        || ngx_file_size(&fi) > 1024 * 1024)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive: \"%V\" is not a regular "
                           "file of at most 1m", &directive[0], name);
        ngx_close_file(file.fd);
        return NGX_ERROR;
    }

    out->len = (size_t) ngx_file_size(&fi);
    out->data = ngx_pnalloc(cf->temp_pool, out->len + 1);
    if (out->data == NULL) {
        ngx_close_file(file.fd);
        return NGX_ERROR;
    }

    n = ngx_read_file(&file, out->data, out->len, 0);

    ngx_close_file(file.fd);

    if (n == NGX_ERROR || (size_t) n != out->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive could not read \"%V\"",
                           &directive[0], name);
        return NGX_ERROR;
    }

    out->data[out->len] = '\0';

    return NGX_OK;
}


ngx_int_t
ngx_http_sandbox_bridge_add_header(ngx_http_request_t *r, const char *key,
    const char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}


/* milliseconds since the epoch, as decimal text */

u_char *
ngx_http_sandbox_bridge_now_ms(u_char *dst)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return ngx_sprintf(dst, "%T%03M", tp->sec, tp->msec);
}


ngx_int_t
ngx_http_sandbox_bridge_unhex(u_char *src, size_t len, u_char *dst)
{
    size_t     i;
    ngx_int_t  n;

    for (i = 0; i + 1 < len; i += 2) {
        n = ngx_hextoi(src + i, 2);
        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        *dst++ = (u_char) n;
    }

    return NGX_OK;
}
