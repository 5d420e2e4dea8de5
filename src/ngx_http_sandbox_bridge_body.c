
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_body.h"
#include "ngx_http_sandbox_bridge_request.h"


/*
 * A request body held once (README "Limits"): the top-level "stdin"
 * string is unescaped in place, inside the body's own buffer, and jansson
 * parses the rest with that string empty. The stdin file's tar then
 * points into the buffer, which is freed once Docker has the file.
 */


/* what jansson reads: the body without the stdin string's content */
typedef struct {
    u_char   *pos;
    u_char   *hole;
    u_char   *resume;
    u_char   *last;
} ngx_http_sandbox_bridge_feed_t;


static u_char *ngx_http_sandbox_bridge_body_find(u_char *p, u_char *last,
    u_char **end);
static u_char *ngx_http_sandbox_bridge_string_end(u_char *p, u_char *last);
static ngx_int_t ngx_http_sandbox_bridge_is_stdin(u_char *p, u_char *last);
static ngx_int_t ngx_http_sandbox_bridge_string_check(u_char *p,
    u_char *last);
static u_char *ngx_http_sandbox_bridge_unescape(u_char *p, u_char *last);
static ngx_int_t ngx_http_sandbox_bridge_hex4(u_char *p, uint32_t *v);
static size_t ngx_http_sandbox_bridge_feed(void *buf, size_t size,
    void *data);


json_t *
ngx_http_sandbox_bridge_body_load(u_char *data, size_t len, ngx_str_t *in,
    json_error_t *err)
{
    u_char                          *s, *e, *last;
    ngx_http_sandbox_bridge_feed_t   feed;

    ngx_str_null(in);
    e = NULL;

    s = ngx_http_sandbox_bridge_body_find(data, data + len, &e);

    if (s == NULL || ngx_http_sandbox_bridge_string_check(s, e) != NGX_OK) {
        /* jansson reads it all and reports what is wrong */
        return json_loadb((char *) data, len, JSON_DECODE_ANY, err);
    }

    feed.pos = data;
    feed.hole = s;
    feed.resume = e;
    feed.last = data + len;

    last = memchr(s, '\\', e - s) ? ngx_http_sandbox_bridge_unescape(s, e)
                                    : e;

    in->data = s;
    in->len = last - s;

    return json_load_callback(ngx_http_sandbox_bridge_feed, &feed,
                              JSON_DECODE_ANY, err);
}


/* the request's stdin: held in the body buffer, or a parsed string */

ngx_int_t
ngx_http_sandbox_bridge_body_stdin(ngx_http_request_t *r, ngx_str_t *in)
{
    json_t                         *v;
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    if (ctx->stdin_data.data) {
        *in = ctx->stdin_data;
        return NGX_OK;
    }

    v = json_object_get(ctx->body, "stdin");
    if (!json_is_string(v)) {
        return NGX_DECLINED;
    }

    in->data = (u_char *) json_string_value(v);
    in->len = json_string_length(v);

    return NGX_OK;
}


/* the stdin is with Docker: its memory goes back now, not at the end */

void
ngx_http_sandbox_bridge_body_release(ngx_http_request_t *r)
{
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    if (ctx == NULL || r != r->main) {
        return;
    }

    ngx_str_null(&ctx->stdin_data);

    if (ctx->body_data) {
        (void) ngx_pfree(r->pool, ctx->body_data);
        ctx->body_data = NULL;
    }

    if (ctx->body) {
        (void) json_object_del(ctx->body, "stdin");
    }
}


/*
 * The content of the last "stdin" string of the top-level object, from
 * its first byte to its closing quote (*end); NULL when there is none or
 * the body is not such an object (jansson says why).
 */

static u_char *
ngx_http_sandbox_bridge_body_find(u_char *p, u_char *last, u_char **end)
{
    u_char      *q, *found;
    ngx_uint_t   depth, key, is_stdin, value;

    while (p < last && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    if (p == last || *p != '{') {
        return NULL;
    }

    found = NULL;
    depth = 0;
    key = 0;
    is_stdin = 0;
    value = 0;

    for ( /* void */ ; p < last; p++) {

        switch (*p) {

        case ' ':
        case '\t':
        case '\n':
        case '\r':
            continue;

        case '"':
            q = ngx_http_sandbox_bridge_string_end(p + 1, last);
            if (q == NULL) {
                return NULL;
            }

            if (depth == 1 && key) {
                is_stdin = ngx_http_sandbox_bridge_is_stdin(p + 1, q);
                key = 0;

            } else if (depth == 1 && value) {
                found = p + 1;
                *end = q;
                value = 0;
            }

            p = q;
            continue;

        case ':':
            if (depth == 1) {
                value = is_stdin;
                is_stdin = 0;
            }

            continue;

        case ',':
            if (depth == 1) {
                key = 1;
            }

            continue;

        case '{':
        case '[':
            if (depth == 1 && value) {
                /* a later "stdin" that is no string replaces an earlier */
                found = NULL;
                value = 0;
            }

            if (++depth == 1) {
                key = 1;
            }

            continue;

        case '}':
        case ']':
            if (--depth == 0) {
                return found;
            }

            continue;

        default:
            if (depth == 1 && value) {
                found = NULL;
                value = 0;
            }
        }
    }

    return NULL;
}


/* the closing quote of a string whose content starts at p */

static u_char *
ngx_http_sandbox_bridge_string_end(u_char *p, u_char *last)
{
    u_char  *q, *b;

    for (q = p; q < last; q++) {
        q = memchr(q, '"', last - q);
        if (q == NULL) {
            return NULL;
        }

        /* escaped when an odd number of backslashes precede it */
        for (b = q; b > p && b[-1] == '\\'; b--) { /* void */ }

        if ((q - b) % 2 == 0) {
            return q;
        }
    }

    return NULL;
}


static ngx_int_t
ngx_http_sandbox_bridge_is_stdin(u_char *p, u_char *last)
{
    u_char  *e;
    u_char   buf[32];

    if (ngx_strlchr(p, last, '\\') == NULL) {
        return last - p == 5 && ngx_strncmp(p, "stdin", 5) == 0;
    }

    /* an escaped key, "std\u0069n": decoded in a copy */
    if ((size_t) (last - p) > sizeof(buf)
        || ngx_http_sandbox_bridge_string_check(p, last) != NGX_OK)
    {
        return 0;
    }

    e = ngx_cpymem(buf, p, last - p);
    e = ngx_http_sandbox_bridge_unescape(buf, e);

    return e - buf == 5 && ngx_strncmp(buf, "stdin", 5) == 0;
}


/*
 * NGX_OK when jansson would take the string as it is: no control
 * characters, known escapes, paired surrogates, no \u0000, valid UTF-8.
 */

static ngx_int_t
ngx_http_sandbox_bridge_string_check(u_char *p, u_char *last)
{
    u_char    c;
    size_t    n, i;
    uint32_t  u, lo;

    while (p < last) {
        c = *p;

        if (c >= 0x20 && c < 0x80 && c != '\\') {
            p++;
            continue;
        }

        if (c < 0x20) {
            return NGX_ERROR;
        }

        if (c == '\\') {
            if (last - p < 2) {
                return NGX_ERROR;
            }

            c = p[1];

            if (c != 'u') {
                if (ngx_strlchr((u_char *) "\"\\/bfnrt",
                                (u_char *) "\"\\/bfnrt" + 8, c)
                    == NULL)
                {
                    return NGX_ERROR;
                }

                p += 2;
                continue;
            }

            if (last - p < 6
                || ngx_http_sandbox_bridge_hex4(p + 2, &u) != NGX_OK
                || u == 0 || (u >= 0xdc00 && u <= 0xdfff))
            {
                return NGX_ERROR;
            }

            p += 6;

            if (u >= 0xd800 && u <= 0xdbff) {
                if (last - p < 6 || p[0] != '\\' || p[1] != 'u'
                    || ngx_http_sandbox_bridge_hex4(p + 2, &lo) != NGX_OK
                    || lo < 0xdc00 || lo > 0xdfff)
                {
                    return NGX_ERROR;
                }

                p += 6;
            }

            continue;
        }

        /* UTF-8 as jansson checks it */
        if (c < 0xc2 || c > 0xf4) {
            return NGX_ERROR;
        }

        n = (c >= 0xf0) ? 4 : (c >= 0xe0) ? 3 : 2;

        if ((size_t) (last - p) < n) {
            return NGX_ERROR;
        }

        u = c & (0x7f >> n);

        for (i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                return NGX_ERROR;
            }

            u = (u << 6) | (p[i] & 0x3f);
        }

        if ((n == 3 && (u < 0x800 || (u >= 0xd800 && u <= 0xdfff)))
            || (n == 4 && (u < 0x10000 || u > 0x10ffff)))
        {
            return NGX_ERROR;
        }

        p += n;
    }

    return NGX_OK;
}


/* a checked string unescaped in place; its new end */

static u_char *
ngx_http_sandbox_bridge_unescape(u_char *p, u_char *last)
{
    u_char    *d;
    uint32_t   u, lo;

    d = p;
    u = 0;
    lo = 0xdc00;

    while (p < last) {
        if (*p != '\\') {
            *d++ = *p++;
            continue;
        }

        switch (p[1]) {
        case 'b': *d++ = '\b'; p += 2; continue;
        case 'f': *d++ = '\f'; p += 2; continue;
        case 'n': *d++ = '\n'; p += 2; continue;
        case 'r': *d++ = '\r'; p += 2; continue;
        case 't': *d++ = '\t'; p += 2; continue;
        case 'u': break;
        default: *d++ = p[1]; p += 2; continue;
        }

        (void) ngx_http_sandbox_bridge_hex4(p + 2, &u);
        p += 6;

        if (u >= 0xd800 && u <= 0xdbff) {
            (void) ngx_http_sandbox_bridge_hex4(p + 2, &lo);
            p += 6;
            u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
        }

        if (u < 0x80) {
            *d++ = (u_char) u;

        } else if (u < 0x800) {
            *d++ = (u_char) (0xc0 | (u >> 6));
            *d++ = (u_char) (0x80 | (u & 0x3f));

        } else if (u < 0x10000) {
            *d++ = (u_char) (0xe0 | (u >> 12));
            *d++ = (u_char) (0x80 | ((u >> 6) & 0x3f));
            *d++ = (u_char) (0x80 | (u & 0x3f));

        } else {
            *d++ = (u_char) (0xf0 | (u >> 18));
            *d++ = (u_char) (0x80 | ((u >> 12) & 0x3f));
            *d++ = (u_char) (0x80 | ((u >> 6) & 0x3f));
            *d++ = (u_char) (0x80 | (u & 0x3f));
        }
    }

    return d;
}


static ngx_int_t
ngx_http_sandbox_bridge_hex4(u_char *p, uint32_t *v)
{
    ngx_int_t  n;

    n = ngx_hextoi(p, 4);
    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    *v = (uint32_t) n;

    return NGX_OK;
}


static size_t
ngx_http_sandbox_bridge_feed(void *buf, size_t size, void *data)
{
    ngx_http_sandbox_bridge_feed_t *feed = data;

    size_t   n;
    u_char  *end;

    if (feed->pos == feed->hole) {
        feed->pos = feed->resume;
    }

    end = (feed->pos < feed->hole) ? feed->hole : feed->last;
    n = ngx_min((size_t) (end - feed->pos), size);

    ngx_memcpy(buf, feed->pos, n);
    feed->pos += n;

    return n;
}
