
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_stream.h"


/*
 * An exec's output: Docker's multiplexed frames in, kept for the JSON
 * result and, for a stream, turned into SSE events to the client with
 * keepalive comments while it is quiet.
 */

#define NGX_HTTP_SANDBOX_BRIDGE_TAG                                           \
    (ngx_buf_tag_t) &ngx_http_sandbox_bridge_module

/* the read buffer of a stream without output (README "Exec") */
#define NGX_HTTP_SANDBOX_BRIDGE_IDLE_BUF  256


static ngx_int_t ngx_http_sandbox_bridge_stream_payload(void *data,
    ngx_uint_t stream, u_char *p, size_t len);
static ngx_int_t ngx_http_sandbox_bridge_acc_add(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_acc_t *acc, u_char *p, size_t len, size_t limit);
static ngx_int_t ngx_http_sandbox_bridge_text_add(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_text_t *text, u_char *p, size_t len,
    ngx_str_t *escaped);
static u_char *ngx_http_sandbox_bridge_text_room(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_text_t *text, size_t need);
static void ngx_http_sandbox_bridge_stream_heartbeat(ngx_event_t *ev);
static void ngx_http_sandbox_bridge_stream_buffer(
    ngx_http_sandbox_bridge_stream_t *st, ngx_http_request_t *sr,
    size_t total);
static void ngx_http_sandbox_bridge_stream_shrink(
    ngx_http_sandbox_bridge_stream_t *st, ngx_http_request_t *sr);


static ngx_str_t  ngx_http_sandbox_bridge_keepalive =
    ngx_string(": keepalive\n\n");


void
ngx_http_sandbox_bridge_stream_init(ngx_http_sandbox_bridge_stream_t *st,
    ngx_http_request_t *r, size_t limit, ngx_msec_t heartbeat)
{
    st->request = r;
    st->limit = limit;
    st->heartbeat_ms = heartbeat;
    st->sse_last = &st->sse_out;

    st->heartbeat.handler = ngx_http_sandbox_bridge_stream_heartbeat;
    st->heartbeat.data = st;
    st->heartbeat.log = r->connection->log;
}


void
ngx_http_sandbox_bridge_stream_heartbeat_start(
    ngx_http_sandbox_bridge_stream_t *st)
{
    ngx_add_timer(&st->heartbeat, st->heartbeat_ms);
}


void
ngx_http_sandbox_bridge_stream_stop(ngx_http_sandbox_bridge_stream_t *st)
{
    if (st->heartbeat.timer_set) {
        ngx_del_timer(&st->heartbeat);
    }
}


ngx_int_t
ngx_http_sandbox_bridge_stream_body(ngx_http_request_t *sr,
    ngx_http_sandbox_bridge_call_t *call, ngx_chain_t *in)
{
    ngx_http_sandbox_bridge_stream_t *st = call->data;

    size_t        total, need;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t  *cl, *out, *hl;

    total = 0;

    for (cl = in; cl; cl = cl->next) {
        if (ngx_buf_in_memory(cl->buf)) {
            total += cl->buf->last - cl->buf->pos;
        }
    }

    out = NULL;

    if (st->sse && total) {
        /* worst case: 6 bytes per input byte plus framing per event */
        need = 13 * total + 256;

        cl = ngx_chain_get_free_buf(sr->pool, &st->free);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        b = cl->buf;

        if (b->start == NULL || (size_t) (b->end - b->start) < need) {
            b->start = ngx_palloc(sr->pool, need);
            if (b->start == NULL) {
                return NGX_ERROR;
            }

            b->end = b->start + need;
        }

        b->pos = b->start;
        b->last = b->start;
        b->temporary = 1;
        b->flush = 1;
        b->tag = NGX_HTTP_SANDBOX_BRIDGE_TAG;

        out = cl;
        st->sse_out = cl;
        st->sse_last = &st->sse_out;
    }

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (!ngx_buf_in_memory(b) || b->last == b->pos) {
            continue;
        }

        if (ngx_http_sandbox_bridge_demux(&st->demux, b->pos,
                                      b->last - b->pos,
                                      ngx_http_sandbox_bridge_stream_payload,
                                      st)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                          "sandbox bridge: bad Docker stream frame");
            return NGX_ERROR;
        }

        if (!st->sse) {
            b->pos = b->last;
            continue;
        }

        hl = st->held_free;
        if (hl) {
            st->held_free = hl->next;

        } else {
            hl = ngx_alloc_chain_link(sr->pool);
            if (hl == NULL) {
                return NGX_ERROR;
            }
        }

        hl->buf = b;
        hl->next = st->held;
        st->held = hl;
    }

    if (!st->sse) {
        ngx_http_sandbox_bridge_stream_buffer(st, sr, total);
        return NGX_OK;
    }

    if (out && out->buf->last == out->buf->pos) {
        /* everything was held back inside UTF-8 sequences */
        out->next = st->free;
        st->free = out;
        out = NULL;
    }

    st->sse_out = NULL;

    rc = ngx_http_sandbox_bridge_next_body_filter(sr, out);

    ngx_chain_update_chains(sr->pool, &st->free, &st->busy, &out,
                            NGX_HTTP_SANDBOX_BRIDGE_TAG);

    if (st->busy == NULL) {
        /* all sent: let the upstream reuse its buffer */
        while (st->held) {
            hl = st->held;
            st->held = hl->next;
            hl->buf->pos = hl->buf->last;
            hl->next = st->held_free;
            st->held_free = hl;
        }

        ngx_http_sandbox_bridge_stream_buffer(st, sr, total);
    }

    return rc;
}


/*
 * Nothing refers to the upstream's read buffer any more (total: the
 * bytes just passed on). Docker's answer to the exec start has been
 * read into a buffer of proxy_buffer_size; a command that prints
 * nothing leaves it empty for as long as it runs. So the first call,
 * which comes right after the header, swaps it for a small one, and
 * output swaps the full size back in; nginx reads into whichever
 * buffer u->buffer points to once the previous one is drained.
 */

static void
ngx_http_sandbox_bridge_stream_buffer(ngx_http_sandbox_bridge_stream_t *st,
    ngx_http_request_t *sr, size_t total)
{
    u_char               *p;
    size_t                size;
    ngx_http_upstream_t  *u;

    u = sr->upstream;

    if (u == NULL || u->buffer.start == NULL) {
        return;
    }

    if (total == 0) {
        if (!st->body_seen) {
            st->body_seen = 1;
            ngx_http_sandbox_bridge_stream_shrink(st, sr);
        }

        return;
    }

    st->body_seen = 1;
    st->quiet = 0;

    if (u->buffer.start != st->idle_buf) {
        return;
    }

    size = u->conf->buffer_size;

    p = ngx_palloc(sr->pool, size);
    if (p == NULL) {
        /* reading on with the small one is slower, not wrong */
        return;
    }

    u->buffer.start = p;
    u->buffer.pos = p;
    u->buffer.last = p;
    u->buffer.end = p + size;
}


/* the read buffer and the event buffers go back while nothing comes */

static void
ngx_http_sandbox_bridge_stream_shrink(ngx_http_sandbox_bridge_stream_t *st,
    ngx_http_request_t *sr)
{
    ngx_chain_t          *cl;
    ngx_http_upstream_t  *u;

    for (cl = st->free; cl; cl = cl->next) {
        if (cl->buf->start
            && ngx_pfree(sr->pool, cl->buf->start) == NGX_OK)
        {
            cl->buf->start = NULL;
            cl->buf->end = NULL;
        }
    }

    u = sr->upstream;

    if (u->buffer.start == st->idle_buf
        || u->buffer.end - u->buffer.start <= NGX_HTTP_SANDBOX_BRIDGE_IDLE_BUF
        || u->buffer.pos != u->buffer.last)
    {
        return;
    }

    if (st->idle_buf == NULL) {
        st->idle_buf = ngx_pnalloc(sr->pool, NGX_HTTP_SANDBOX_BRIDGE_IDLE_BUF);
        if (st->idle_buf == NULL) {
            return;
        }
    }

    /* only a buffer that really goes back is swapped */
    if (ngx_pfree(sr->pool, u->buffer.start) != NGX_OK) {
        return;
    }

    u->buffer.start = st->idle_buf;
    u->buffer.pos = st->idle_buf;
    u->buffer.last = st->idle_buf;
    u->buffer.end = st->idle_buf + NGX_HTTP_SANDBOX_BRIDGE_IDLE_BUF;
}


static ngx_int_t
ngx_http_sandbox_bridge_stream_payload(void *data, ngx_uint_t stream,
    u_char *p, size_t len)
{
    ngx_http_sandbox_bridge_stream_t *st = data;

    size_t                           n, take;
    ngx_str_t                        escaped, *copy;
    ngx_buf_t                       *b;
    ngx_http_sandbox_bridge_acc_t   *acc;
    ngx_http_sandbox_bridge_text_t  *text;

    acc = (stream == NGX_HTTP_SANDBOX_BRIDGE_STDERR) ? &st->err : &st->out;
    text = &st->text[stream - 1];

    take = st->escaped ? text->raw : acc->len;

    if (take + len > st->limit) {
        st->truncated = 1;
    }

    take = ngx_min(len, st->limit - take);

    if (!st->escaped) {
        if (ngx_http_sandbox_bridge_acc_add(st->request->pool, acc, p, len,
                                            st->limit)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (st->sse) {
        n = ngx_http_sandbox_bridge_sse_event_len(len);

        b = (*st->sse_last) ? (*st->sse_last)->buf : NULL;

        if (b == NULL || (size_t) (b->end - b->last) < n) {
            /* the caller sized the buffer; this is only a safety net */
            return NGX_ERROR;
        }

        b->last = ngx_http_sandbox_bridge_sse_event(b->last, stream,
                                                    &st->utf8[stream - 1],
                                                    p, len, &escaped);

        if (!st->escaped || take == 0) {
            return NGX_OK;
        }

        if (take == len) {
            /* the same bytes from the same state: keep the event's text */
            text->raw += len;
            text->utf8 = st->utf8[stream - 1];
            copy = &escaped;

            return ngx_http_sandbox_bridge_text_add(st->request->pool, text,
                                                    NULL, 0, copy);
        }
    }

    if (!st->escaped || take == 0) {
        return NGX_OK;
    }

    return ngx_http_sandbox_bridge_text_add(st->request->pool, text, p, take,
                                            NULL);
}


/*
 * Escape len bytes at p into the text's blocks, or copy the already
 * escaped bytes of *escaped. Blocks grow from 4k to 64k, so a short
 * output costs little.
 */

static ngx_int_t
ngx_http_sandbox_bridge_text_add(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_text_t *text, u_char *p, size_t len,
    ngx_str_t *escaped)
{
    size_t     n, room;
    u_char    *dst, *src;
    ngx_buf_t *b;

    if (escaped) {
        src = escaped->data;
        len = escaped->len;

        while (len) {
            dst = ngx_http_sandbox_bridge_text_room(pool, text, 1);
            if (dst == NULL) {
                return NGX_ERROR;
            }

            b = text->block;
            n = ngx_min(len, (size_t) (b->end - b->last));
            b->last = ngx_cpymem(b->last, src, n);
            text->len += n;
            src += n;
            len -= n;
        }

        return NGX_OK;
    }

    text->raw += len;

    do {
        /* a piece whose worst case fits the room left */
        dst = ngx_http_sandbox_bridge_text_room(pool, text,
                                     ngx_http_sandbox_bridge_escape_len(64));
        if (dst == NULL) {
            return NGX_ERROR;
        }

        b = text->block;
        room = b->end - b->last;
        n = ngx_min(len, room / 6 - 4);

        b->last = ngx_http_sandbox_bridge_escape(b->last, &text->utf8, p, n,
                                                 0);
        text->len += b->last - dst;
        p += n;
        len -= n;

    } while (len);

    return NGX_OK;
}


/* at least need bytes free in the current block, or a new block */

static u_char *
ngx_http_sandbox_bridge_text_room(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_text_t *text, size_t need)
{
    size_t        size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = text->block;

    if (b && (size_t) (b->end - b->last) >= need) {
        return b->last;
    }

    size = text->next ? text->next : 4096;
    text->next = ngx_min(size * 2, 65536);
    size = ngx_max(size, need);

    b = ngx_create_temp_buf(pool, size);
    cl = ngx_alloc_chain_link(pool);

    if (b == NULL || cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    if (text->tail == NULL) {
        text->tail = &text->head;
    }

    *text->tail = cl;
    text->tail = &cl->next;
    text->block = b;

    return b->last;
}


/*
 * The text's blocks for a response (NULL if none), with what is still
 * held flushed as U+FFFD; *len is their total.
 */

ngx_int_t
ngx_http_sandbox_bridge_text_end(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_text_t *text, ngx_chain_t **out, size_t *len)
{
    u_char     *dst;
    ngx_buf_t  *b;

    if (text->utf8.len) {
        dst = ngx_http_sandbox_bridge_text_room(pool, text,
                                     ngx_http_sandbox_bridge_escape_len(0));
        if (dst == NULL) {
            return NGX_ERROR;
        }

        b = text->block;
        b->last = ngx_http_sandbox_bridge_escape(dst, &text->utf8,
                                                 (u_char *) "", 0, 1);
        text->len += b->last - dst;
    }

    *out = text->head;
    *len = text->len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_sandbox_bridge_acc_add(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_acc_t *acc, u_char *p, size_t len, size_t limit)
{
    size_t   cap;
    u_char  *n;

    if (acc->len + len > limit) {
        len = limit - acc->len;
    }

    if (len == 0) {
        return NGX_OK;
    }

    if (acc->len + len > acc->cap) {
        cap = ngx_max(acc->cap * 2, 1024);

        while (cap < acc->len + len) {
            cap *= 2;
        }

        cap = ngx_min(cap, limit);

        n = ngx_pnalloc(pool, cap);
        if (n == NULL) {
            return NGX_ERROR;
        }

        if (acc->len) {
            ngx_memcpy(n, acc->data, acc->len);
        }

        /* the old block goes back to the pool when large */
        if (acc->data) {
            ngx_pfree(pool, acc->data);
        }

        acc->data = n;
        acc->cap = cap;
    }

    ngx_memcpy(acc->data + acc->len, p, len);
    acc->len += len;

    return NGX_OK;
}


static void
ngx_http_sandbox_bridge_stream_heartbeat(ngx_event_t *ev)
{
    ngx_http_sandbox_bridge_stream_t *st = ev->data;

    ngx_chain_t          out;
    ngx_connection_t    *c;
    ngx_http_request_t  *r, *active;

    r = st->request;
    c = r->connection;
    active = c->data;

    ngx_add_timer(&st->heartbeat, st->heartbeat_ms);

    /* quiet for a whole interval, everything sent: give buffers back */
    if (st->quiet && st->body_seen && st->running && st->held == NULL
        && st->sr && st->sr->upstream && st->sr->upstream->buffer.start)
    {
        ngx_http_sandbox_bridge_stream_shrink(st, st->sr);
    }

    st->quiet = 1;

    if (st->hb && st->hb->pos != st->hb->last) {
        /* the previous one is still queued: the client is slow */
        return;
    }

    if (active != r
        && !(st->sr == active && st->running))
    {
        return;
    }

    if (st->hb == NULL) {
        st->hb = ngx_calloc_buf(r->pool);
        if (st->hb == NULL) {
            return;
        }

        st->hb->memory = 1;
        st->hb->flush = 1;
    }

    st->hb->pos = ngx_http_sandbox_bridge_keepalive.data;
    st->hb->last = st->hb->pos + ngx_http_sandbox_bridge_keepalive.len;

    out.buf = st->hb;
    out.next = NULL;

    if (active == r) {
        (void) ngx_http_output_filter(r, &out);

    } else {
        (void) ngx_http_sandbox_bridge_next_body_filter(active, &out);
    }

    ngx_http_run_posted_requests(c);
}


void
ngx_http_sandbox_bridge_stream_flush(ngx_http_sandbox_bridge_stream_t *st)
{
    u_char              *p;
    ngx_str_t            text;
    ngx_uint_t           i;
    ngx_http_request_t  *r;

    r = st->request;

    for (i = 0; i < 2; i++) {
        if (st->utf8[i].len == 0) {
            continue;
        }

        text.data = ngx_pnalloc(r->pool,
                                ngx_http_sandbox_bridge_sse_event_len(4));
        if (text.data == NULL) {
            return;
        }

        p = ngx_cpymem(text.data, i ? "event: stderr\ndata: {\"data\":\""
                                    : "event: stdout\ndata: {\"data\":\"",
                       sizeof("event: stdout\ndata: {\"data\":\"") - 1);
        p = ngx_http_sandbox_bridge_escape(p, &st->utf8[i], (u_char *) "",
                                           0, 1);
        p = ngx_cpymem(p, "\"}\n\n", 4);

        st->utf8[i].len = 0;
        text.len = p - text.data;

        (void) ngx_http_sandbox_bridge_sse_send(r, &text, 0);
    }
}


ngx_int_t
ngx_http_sandbox_bridge_sse_send(ngx_http_request_t *r, ngx_str_t *text,
    ngx_uint_t last)
{
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = text->data;
    b->last = text->data + text->len;
    b->memory = text->len ? 1 : 0;
    b->flush = 1;
    b->last_buf = last ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
