
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include <openssl/rand.h>

#include "ngx_http_sandbox_bridge_util.h"


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


json_t *
ngx_http_sandbox_bridge_json_strn(ngx_str_t *s)
{
    return json_stringn((const char *) s->data, s->len);
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
