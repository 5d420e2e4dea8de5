
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_result.h"



static ngx_chain_t *ngx_http_sandbox_bridge_result_piece(ngx_pool_t *pool,
    u_char *p, size_t n, ngx_chain_t ***last);



/*
 * The result object, key order kept, outputTruncated when capped, as a
 * chain around the output already escaped (README "Exec"); for a stream,
 * inside the "complete" event.
 */

ngx_chain_t *
ngx_http_sandbox_bridge_result(ngx_http_sandbox_bridge_dexec_t *ex,
    ngx_uint_t sse, size_t *len)
{
    size_t                            n;
    u_char                           *p;
    ngx_pool_t                       *pool;
    ngx_chain_t                      *out, **last;
    ngx_http_sandbox_bridge_stream_t *st;
    u_char                            buf[256];

    static ngx_str_t  event = ngx_string("event: complete\ndata: ");

    pool = ex->op.request->pool;
    st = &ex->output;
    out = NULL;
    last = &out;

    p = sse ? ngx_cpymem(buf, event.data, event.len) : buf;

    if (ex->timed_out || ex->exit_code == NGX_HTTP_SANDBOX_BRIDGE_EXIT_NULL) {
        p = ngx_cpymem(p, "{\"exitCode\":null",
                       sizeof("{\"exitCode\":null") - 1);

    } else {
        p = ngx_sprintf(p, "{\"exitCode\":%i", ex->exit_code);
    }

    p = ngx_sprintf(p, ",\"signal\":null,\"timedOut\":%s,\"stdout\":\"",
                    ex->timed_out ? "true" : "false");

    if (ngx_http_sandbox_bridge_result_piece(pool, buf, p - buf, &last) == NULL)
    {
        return NULL;
    }

    *len = p - buf;

    if (ngx_http_sandbox_bridge_text_end(pool, &st->text[0], last, &n)
        != NGX_OK)
    {
        return NULL;
    }

    *len += n;

    while (*last) {
        last = &(*last)->next;
    }

    p = ngx_cpymem(buf, "\",\"stderr\":\"", sizeof("\",\"stderr\":\"") - 1);

    if (ex->timed_out) {
        /* stderr is the timeout message */
        p = ngx_sprintf(p, "Command timeout after %Mms\\n", ex->timeout);

    } else {
        if (ngx_http_sandbox_bridge_result_piece(pool, buf, p - buf, &last)
            == NULL)
        {
            return NULL;
        }

        *len += p - buf;
        p = buf;

        if (ngx_http_sandbox_bridge_text_end(pool, &st->text[1], last, &n)
            != NGX_OK)
        {
            return NULL;
        }

        *len += n;

        while (*last) {
            last = &(*last)->next;
        }
    }

    *p++ = '"';

    if (st->truncated) {
        p = ngx_cpymem(p, ",\"outputTruncated\":true",
                       sizeof(",\"outputTruncated\":true") - 1);
    }

    *p++ = '}';

    if (sse) {
        p = ngx_cpymem(p, "\n\n", 2);
    }

    if (ngx_http_sandbox_bridge_result_piece(pool, buf, p - buf, &last) == NULL)
    {
        return NULL;
    }

    *len += p - buf;

    return out;
}


/* a copy of n bytes at p as the chain's next link */

static ngx_chain_t *
ngx_http_sandbox_bridge_result_piece(ngx_pool_t *pool, u_char *p, size_t n,
    ngx_chain_t ***last)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = ngx_create_temp_buf(pool, n);
    cl = ngx_alloc_chain_link(pool);

    if (b == NULL || cl == NULL) {
        return NULL;
    }

    b->last = ngx_cpymem(b->last, p, n);

    cl->buf = b;
    cl->next = NULL;

    **last = cl;
    *last = &cl->next;

    return cl;
}
