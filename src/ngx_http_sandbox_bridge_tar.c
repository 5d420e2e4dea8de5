
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_tar.h"


#define NGX_HTTP_SANDBOX_BRIDGE_TAR_BLOCK  512


static ngx_int_t ngx_http_sandbox_bridge_tar_header(
    ngx_http_sandbox_bridge_tar_t *tar, ngx_str_t *name, ngx_uint_t mode,
    off_t size, u_char type);
static ngx_int_t ngx_http_sandbox_bridge_tar_pax(
    ngx_http_sandbox_bridge_tar_t *tar, ngx_str_t *name);
static ngx_int_t ngx_http_sandbox_bridge_tar_split(ngx_str_t *name,
    size_t *prefix);
static ngx_int_t ngx_http_sandbox_bridge_tar_link(
    ngx_http_sandbox_bridge_tar_t *tar, u_char *pos, size_t len);
static ngx_int_t ngx_http_sandbox_bridge_tar_pad(
    ngx_http_sandbox_bridge_tar_t *tar, size_t len);
static void ngx_http_sandbox_bridge_tar_octal(u_char *dst, size_t digits,
    uint64_t v);


void
ngx_http_sandbox_bridge_tar_init(ngx_http_sandbox_bridge_tar_t *tar,
    ngx_pool_t *pool)
{
    tar->pool = pool;
    tar->out = NULL;
    tar->last = &tar->out;
    tar->tail = NULL;
    tar->len = 0;
}


ngx_int_t
ngx_http_sandbox_bridge_tar_add(ngx_http_sandbox_bridge_tar_t *tar,
    ngx_str_t *name, ngx_uint_t mode, ngx_str_t *data)
{
    size_t  prefix;

    if (name->len == 0) {
        return NGX_ERROR;
    }

    if (ngx_http_sandbox_bridge_tar_split(name, &prefix) != NGX_OK
        && ngx_http_sandbox_bridge_tar_pax(tar, name) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_sandbox_bridge_tar_header(tar, name, mode, data->len, '0')
        != NGX_OK
        || ngx_http_sandbox_bridge_tar_link(tar, data->data, data->len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_sandbox_bridge_tar_pad(tar,
                         (NGX_HTTP_SANDBOX_BRIDGE_TAR_BLOCK
                          - data->len % NGX_HTTP_SANDBOX_BRIDGE_TAR_BLOCK)
                         % NGX_HTTP_SANDBOX_BRIDGE_TAR_BLOCK);
}


ngx_int_t
ngx_http_sandbox_bridge_tar_finish(ngx_http_sandbox_bridge_tar_t *tar)
{
    if (ngx_http_sandbox_bridge_tar_pad(tar,
                                        2 * NGX_HTTP_SANDBOX_BRIDGE_TAR_BLOCK)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    tar->tail->buf->last_buf = 1;

    return NGX_OK;
}


/*
 * One ustar header block; a name longer than 100 bytes is split into
 * prefix and name at a "/", or given in a pax header before (the name
 * field then holds its first 99 bytes, which a pax reader ignores).
 */

static ngx_int_t
ngx_http_sandbox_bridge_tar_header(ngx_http_sandbox_bridge_tar_t *tar,
    ngx_str_t *name, ngx_uint_t mode, off_t size, u_char type)
{
    u_char      *h;
    size_t       prefix, i;
    ngx_uint_t   sum;

    h = ngx_pcalloc(tar->pool, NGX_HTTP_SANDBOX_BRIDGE_TAR_BLOCK);
    if (h == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_sandbox_bridge_tar_split(name, &prefix) == NGX_OK) {
        if (prefix) {
            ngx_memcpy(h + 345, name->data, prefix);
            ngx_memcpy(h, name->data + prefix + 1, name->len - prefix - 1);

        } else {
            ngx_memcpy(h, name->data, name->len);
        }

    } else {
        ngx_memcpy(h, name->data, 99);
    }

    ngx_http_sandbox_bridge_tar_octal(h + 100, 7, mode);
    ngx_http_sandbox_bridge_tar_octal(h + 108, 7, 0);
    ngx_http_sandbox_bridge_tar_octal(h + 116, 7, 0);
    ngx_http_sandbox_bridge_tar_octal(h + 124, 11, size);
    ngx_http_sandbox_bridge_tar_octal(h + 136, 11, (uint64_t) ngx_time());
    ngx_memset(h + 148, ' ', 8);
    h[156] = type;
    ngx_memcpy(h + 257, "ustar", sizeof("ustar"));
    ngx_memcpy(h + 263, "00", 2);

    for (sum = 0, i = 0; i < NGX_HTTP_SANDBOX_BRIDGE_TAR_BLOCK; i++) {
        sum += h[i];
    }

    /* six digits, NUL, space */
    ngx_http_sandbox_bridge_tar_octal(h + 148, 6, sum);
    h[154] = '\0';
    h[155] = ' ';

    return ngx_http_sandbox_bridge_tar_link(tar, h,
                                            NGX_HTTP_SANDBOX_BRIDGE_TAR_BLOCK);
}


/* a pax extended header with one record: "<len> path=<name>\n" */

static ngx_int_t
ngx_http_sandbox_bridge_tar_pax(ngx_http_sandbox_bridge_tar_t *tar,
    ngx_str_t *name)
{
    size_t     len, digits, pow;
    ngx_str_t  rec, pax;

    len = sizeof(" path=\n") - 1 + name->len;

    /* the record's length counts its own digits */
    for (digits = 1, pow = 10; len + digits >= pow; pow *= 10) {
        digits++;
    }

    rec.len = len + digits;
    rec.data = ngx_pnalloc(tar->pool, rec.len);
    if (rec.data == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_sprintf(rec.data, "%uz path=%V\n", rec.len, name);

    ngx_str_set(&pax, "././@PaxHeader");

    if (ngx_http_sandbox_bridge_tar_header(tar, &pax, 0644, rec.len, 'x')
        != NGX_OK
        || ngx_http_sandbox_bridge_tar_link(tar, rec.data, rec.len) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_sandbox_bridge_tar_pad(tar,
                         (NGX_HTTP_SANDBOX_BRIDGE_TAR_BLOCK
                          - rec.len % NGX_HTTP_SANDBOX_BRIDGE_TAR_BLOCK)
                         % NGX_HTTP_SANDBOX_BRIDGE_TAR_BLOCK);
}


/* NGX_OK: the name fits ustar, whole or as prefix "/" name */

static ngx_int_t
ngx_http_sandbox_bridge_tar_split(ngx_str_t *name, size_t *prefix)
{
    size_t  i, lo;

    *prefix = 0;

    if (name->len <= 100) {
        return NGX_OK;
    }

    lo = name->len - 101;
    i = ngx_min(155, name->len - 2);

    for ( /* void */ ; i >= lo && i > 0; i--) {
        if (name->data[i] == '/') {
            *prefix = i;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_sandbox_bridge_tar_link(ngx_http_sandbox_bridge_tar_t *tar,
    u_char *pos, size_t len)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (len == 0) {
        return NGX_OK;
    }

    b = ngx_calloc_buf(tar->pool);
    cl = ngx_alloc_chain_link(tar->pool);

    if (b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    b->memory = 1;
    b->pos = pos;
    b->last = pos + len;

    cl->buf = b;
    cl->next = NULL;

    *tar->last = cl;
    tar->last = &cl->next;
    tar->tail = cl;
    tar->len += len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_sandbox_bridge_tar_pad(ngx_http_sandbox_bridge_tar_t *tar,
    size_t len)
{
    u_char  *z;

    if (len == 0) {
        return NGX_OK;
    }

    z = ngx_pcalloc(tar->pool, len);
    if (z == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_sandbox_bridge_tar_link(tar, z, len);
}


static void
ngx_http_sandbox_bridge_tar_octal(u_char *dst, size_t digits, uint64_t v)
{
    while (digits--) {
        dst[digits] = (u_char) ('0' + (v & 7));
        v >>= 3;
    }
}
