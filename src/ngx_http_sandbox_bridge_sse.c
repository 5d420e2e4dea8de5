
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_sse.h"


#define NGX_HTTP_SANDBOX_BRIDGE_EVENT_OUT  "event: stdout\ndata: {\"data\":\""
#define NGX_HTTP_SANDBOX_BRIDGE_EVENT_ERR  "event: stderr\ndata: {\"data\":\""
#define NGX_HTTP_SANDBOX_BRIDGE_EVENT_END  "\"}\n\n"


static size_t ngx_http_sandbox_bridge_utf8_seq(u_char *p, size_t len,
    ngx_uint_t *complete);


ngx_int_t
ngx_http_sandbox_bridge_demux(ngx_http_sandbox_bridge_demux_t *d, u_char *p,
    size_t len, ngx_http_sandbox_bridge_payload_pt handler, void *data)
{
    size_t  n;

    while (len) {

        if (d->remaining == 0) {
            n = ngx_min(len, 8 - d->hdr_len);
            ngx_memcpy(d->hdr + d->hdr_len, p, n);
            d->hdr_len += n;
            p += n;
            len -= n;

            if (d->hdr_len < 8) {
                return NGX_OK;
            }

            d->hdr_len = 0;

            /* 0 stdin, 1 stdout, 2 stderr */
            if (d->hdr[0] > 2 || d->hdr[1] || d->hdr[2] || d->hdr[3]) {
                return NGX_ERROR;
            }

            d->stream = (d->hdr[0] == 2) ? NGX_HTTP_SANDBOX_BRIDGE_STDERR
                                         : NGX_HTTP_SANDBOX_BRIDGE_STDOUT;
            d->remaining = ((uint32_t) d->hdr[4] << 24)
                           | ((uint32_t) d->hdr[5] << 16)
                           | ((uint32_t) d->hdr[6] << 8)
                           | (uint32_t) d->hdr[7];
            continue;
        }

        n = ngx_min(len, d->remaining);

        if (handler(data, d->stream, p, n) != NGX_OK) {
            return NGX_ERROR;
        }

        d->remaining -= n;
        p += n;
        len -= n;
    }

    return NGX_OK;
}


/*
 * The length of the UTF-8 sequence at p: 1..4 bytes. *complete is 0 when
 * the input ends inside a sequence that is valid so far. An invalid
 * sequence reports length 1 and *complete 2.
 */

static size_t
ngx_http_sandbox_bridge_utf8_seq(u_char *p, size_t len, ngx_uint_t *complete)
{
    size_t  n, i;
    u_char  c, lo, hi;

    c = p[0];
    *complete = 1;

    if (c < 0x80) {
        return 1;
    }

    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) {
            lo = 0xa0;
        } else if (c == 0xed) {
            hi = 0x9f;
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) {
            lo = 0x90;
        } else if (c == 0xf4) {
            hi = 0x8f;
        }

    } else {
        *complete = 2;
        return 1;
    }

    for (i = 1; i < n; i++) {
        if (i >= len) {
            *complete = 0;
            return i;
        }

        if (p[i] < lo || p[i] > hi) {
            *complete = 2;
            return 1;
        }

        lo = 0x80;
        hi = 0xbf;
    }

    return n;
}


size_t
ngx_http_sandbox_bridge_escape_len(size_t len)
{
    /* "\u001f" is 6 bytes; U+FFFD is 3; plus 3 held-back bytes */
    return 6 * (len + 4);
}


/*
 * A run of bytes that JSON takes as they are: printable ASCII but '"' and
 * '\\'. Eight bytes are checked at a time (bit tricks on one word).
 */

#define NGX_HTTP_SANDBOX_BRIDGE_ONES   0x0101010101010101ULL
#define NGX_HTTP_SANDBOX_BRIDGE_HIGHS  0x8080808080808080ULL

/* the high bit of each byte of w below n (n <= 0x80) is set in the result */
#define ngx_http_sandbox_bridge_below(w, n)                                  \
    (((w) - NGX_HTTP_SANDBOX_BRIDGE_ONES * (n)) & ~(w))

static ngx_inline u_char *
ngx_http_sandbox_bridge_plain_run(u_char *p, u_char *end)
{
    uint64_t  w, q, b;

    q = NGX_HTTP_SANDBOX_BRIDGE_ONES * '"';
    b = NGX_HTTP_SANDBOX_BRIDGE_ONES * '\\';

    while (end - p >= 8) {
        ngx_memcpy(&w, p, 8);

        /* a byte < 0x20, '"', '\\' or >= 0x80 stops the run */
        if ((ngx_http_sandbox_bridge_below(w, 0x20)
             | ngx_http_sandbox_bridge_below(w ^ q, 1)
             | ngx_http_sandbox_bridge_below(w ^ b, 1)
             | w)
            & NGX_HTTP_SANDBOX_BRIDGE_HIGHS)
        {
            break;
        }

        p += 8;
    }

    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
        p++;
    }

    return p;
}


static ngx_inline u_char *
ngx_http_sandbox_bridge_escape_byte(u_char *dst, u_char c)
{
    static const u_char  hex[] = "0123456789abcdef";

    *dst++ = '\\';

    switch (c) {
    case '"':
    case '\\':
        *dst++ = c;
        break;
    case '\n':
        *dst++ = 'n';
        break;
    case '\r':
        *dst++ = 'r';
        break;
    case '\t':
        *dst++ = 't';
        break;
    case '\b':
        *dst++ = 'b';
        break;
    case '\f':
        *dst++ = 'f';
        break;
    default:
        *dst++ = 'u'; *dst++ = '0'; *dst++ = '0';
        *dst++ = hex[c >> 4];
        *dst++ = hex[c & 0xf];
    }

    return dst;
}


/*
 * JSON-escape bytes as valid UTF-8 (README "Exec"): a sequence cut at the
 * end is held in st for the next call, invalid bytes become U+FFFD. Runs
 * of plain bytes are copied whole.
 */

u_char *
ngx_http_sandbox_bridge_escape(u_char *dst,
    ngx_http_sandbox_bridge_utf8_t *st, u_char *src, size_t len,
    ngx_uint_t last)
{
    size_t      n, take;
    u_char     *p, *q, *end;
    u_char      buf[8];
    ngx_uint_t  complete;

    p = src;
    end = src + len;

    /* finish a sequence held from the previous chunk */
    while (st->len) {
        take = ngx_min((size_t) (end - p), 4 - st->len);
        ngx_memcpy(buf, st->tail, st->len);
        ngx_memcpy(buf + st->len, p, take);

        n = ngx_http_sandbox_bridge_utf8_seq(buf, st->len + take, &complete);

        if (complete == 0) {
            if (!last) {
                ngx_memcpy(st->tail + st->len, p, take);
                st->len += take;
                return dst;
            }

            complete = 2;
            n = 1;
        }

        if (complete == 2) {
            dst = ngx_cpymem(dst, "\xef\xbf\xbd", 3);
            /* drop one held byte and retry with the rest */
            st->len--;
            ngx_memmove(st->tail, st->tail + 1, st->len);
            continue;
        }

        dst = ngx_cpymem(dst, buf, n);
        p += n - st->len;
        st->len = 0;
    }

    while (p < end) {
        q = ngx_http_sandbox_bridge_plain_run(p, end);

        if (q != p) {
            dst = ngx_cpymem(dst, p, q - p);
            p = q;

            if (p == end) {
                break;
            }
        }

        if (*p < 0x80) {
            dst = ngx_http_sandbox_bridge_escape_byte(dst, *p++);
            continue;
        }

        n = ngx_http_sandbox_bridge_utf8_seq(p, end - p, &complete);

        if (complete == 1) {
            dst = ngx_cpymem(dst, p, n);
            p += n;
            continue;
        }

        if (complete == 0 && !last) {
            ngx_memcpy(st->tail, p, end - p);
            st->len = end - p;
            return dst;
        }

        dst = ngx_cpymem(dst, "\xef\xbf\xbd", 3);
        p++;
    }

    return dst;
}


size_t
ngx_http_sandbox_bridge_sse_event_len(size_t len)
{
    return sizeof(NGX_HTTP_SANDBOX_BRIDGE_EVENT_OUT) - 1
           + ngx_http_sandbox_bridge_escape_len(len)
           + sizeof(NGX_HTTP_SANDBOX_BRIDGE_EVENT_END) - 1;
}


/*
 * event: stdout\ndata: {"data":"..."}\n\n; nothing if all held back.
 * *escaped is the event's data.
 */

u_char *
ngx_http_sandbox_bridge_sse_event(u_char *dst, ngx_uint_t stream,
    ngx_http_sandbox_bridge_utf8_t *st, u_char *src, size_t len,
    ngx_str_t *escaped)
{
    u_char  *start, *p;

    start = dst;

    if (stream == NGX_HTTP_SANDBOX_BRIDGE_STDERR) {
        dst = ngx_cpymem(dst, NGX_HTTP_SANDBOX_BRIDGE_EVENT_ERR,
                         sizeof(NGX_HTTP_SANDBOX_BRIDGE_EVENT_ERR) - 1);
    } else {
        dst = ngx_cpymem(dst, NGX_HTTP_SANDBOX_BRIDGE_EVENT_OUT,
                         sizeof(NGX_HTTP_SANDBOX_BRIDGE_EVENT_OUT) - 1);
    }

    p = dst;
    dst = ngx_http_sandbox_bridge_escape(dst, st, src, len, 0);

    escaped->data = p;
    escaped->len = dst - p;

    if (dst == p) {
        return start;
    }

    return ngx_cpymem(dst, NGX_HTTP_SANDBOX_BRIDGE_EVENT_END,
                      sizeof(NGX_HTTP_SANDBOX_BRIDGE_EVENT_END) - 1);
}


/* valid UTF-8 out, U+FFFD for every invalid byte; at most 3x len */

u_char *
ngx_http_sandbox_bridge_utf8_repair(u_char *dst, u_char *src, size_t len)
{
    size_t      n;
    u_char     *p, *end;
    ngx_uint_t  complete;

    if (len == 0) {
        return dst;
    }

    p = src;
    end = src + len;

    while (p < end) {
        if (*p < 0x80) {
            *dst++ = *p++;
            continue;
        }

        n = ngx_http_sandbox_bridge_utf8_seq(p, end - p, &complete);

        if (complete == 1) {
            dst = ngx_cpymem(dst, p, n);
            p += n;
            continue;
        }

        dst = ngx_cpymem(dst, "\xef\xbf\xbd", 3);
        p++;
    }

    return dst;
}
