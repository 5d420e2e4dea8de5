
/*
 * Copyright (C) nginx-sandbox-bridge authors
 *
 * fuzz_demux: a Docker exec stream (Docker's multiplexed format: 8-byte
 * header, byte 0 the stream, bytes 1-3 zero, bytes 4-7 the big-endian
 * payload length, then the payload) cut into random pieces, as the
 * upstream hands it over.
 *
 * Input: bytes 0-1 seed the piece sizes (byte 0 bit 0 set: a
 * non-streaming exec), byte 2 sets the exec result (bit 0 timed out,
 * bit 1 a small output limit, bits 2-7 the exit code, 63 for none), the
 * rest is the stream. Checked:
 *   - ngx_http_sandbox_bridge_demux() (sse.c): the payload handed to the
 *     callback, byte for byte and stream for stream, is what a
 *     whole-stream reference demuxer finds; a bad header fails exactly
 *     when the reference says so; no callback gets an empty piece or
 *     memory outside the current input piece;
 *   - ngx_http_sandbox_bridge_stream_body() (stream.c) on the same
 *     pieces, one upstream buffer each, as docker.c's body filter calls
 *     it: same verdict; for a streaming exec the SSE events it passes to
 *     the next body filter (a client that sends some of them only before
 *     the next buffer) are well-formed frames in the buffer it sized
 *     (13 * bytes + 256, its safety net never fires), and with what
 *     stream_flush() sends at the end they decode to the repaired payload
 *     of each stream; an upstream buffer is released (pos = last) only
 *     when nothing made from it is unsent; the kept output is the first
 *     "limit" bytes of each stream, raw (byte 1 bit 0 set: an internal
 *     exec) or JSON-escaped in blocks (a user's exec), "truncated"
 *     exactly when more came;
 *   - ngx_http_sandbox_bridge_result() (result.c) on escaped output
 *     is the README "Exec" result object, alone or as the body of a
 *     "complete" event: key order, exitCode null when timed out or
 *     unknown, the timeout message as stderr, repaired and capped
 *     stdout/stderr, the chain's length as reported.
 */


#include "psb_fuzz.h"

#include "ngx_http_sandbox_bridge_result.h"


typedef struct {
    u_char  *data;
    size_t   len;
    size_t   cap;
} psb_buf_t;


typedef struct {
    psb_buf_t                        got;       /* payload, in order */
    psb_buf_t                        tags;      /* its stream, per byte */
    u_char                          *piece;
    size_t                           piece_len;
} psb_demux_t;


/* what stream_body() hands on: SSE events, consumed now or later */
typedef struct {
    ngx_http_request_t              *sr;
    uint32_t                         seed;
    ngx_uint_t                       calls;
    ngx_chain_t                     *unsent;    /* held by a "slow client" */
    psb_buf_t                        text[2];   /* decoded event data */
} psb_sse_t;


static psb_sse_t  psb_sse;


static void
psb_buf_add(psb_buf_t *b, const u_char *p, size_t len)
{
    u_char  *n;

    if (b->len + len > b->cap) {
        b->cap = 2 * (b->len + len) + 64;
        n = realloc(b->data, b->cap);
        psb_fuzz_assert(n != NULL, "out of memory");
        b->data = n;
    }

    if (len) {
        ngx_memcpy(b->data + b->len, p, len);
        b->len += len;
    }
}


static void
psb_buf_fill(psb_buf_t *b, u_char c, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        psb_buf_add(b, &c, 1);
    }
}


/* JSON-decode "<p>" (escaped text) and append it */

static void
psb_add_text(psb_buf_t *b, const u_char *p, size_t len)
{
    u_char        *s;
    json_t        *j;
    json_error_t   err;

    s = malloc(len + 2);
    psb_fuzz_assert(s != NULL, "out of memory");

    s[0] = '"';
    ngx_memcpy(s + 1, p, len);
    s[len + 1] = '"';

    j = json_loadb((char *) s, len + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                   &err);

    psb_fuzz_assert(json_is_string(j), "not JSON text (%s): \"%.*s\"",
                    err.text, (int) len, p);

    psb_buf_add(b, (u_char *) json_string_value(j), json_string_length(j));

    json_decref(j);
    free(s);
}


static ngx_int_t
psb_payload(void *data, ngx_uint_t stream, u_char *p, size_t len)
{
    psb_demux_t *d = data;

    psb_fuzz_assert(len > 0, "empty payload callback");
    psb_fuzz_assert(p >= d->piece && p + len <= d->piece + d->piece_len,
                    "payload outside the input piece");
    psb_fuzz_assert(stream == NGX_HTTP_SANDBOX_BRIDGE_STDOUT
                    || stream == NGX_HTTP_SANDBOX_BRIDGE_STDERR,
                    "stream %lu", (unsigned long) stream);

    psb_buf_add(&d->got, p, len);
    psb_buf_fill(&d->tags, (u_char) stream, len);

    return NGX_OK;
}


/* consecutive "event: stdout|stderr\ndata: {"data":"..."}\n\n" events */

static void
psb_parse_events(u_char *p, size_t len, const char *what)
{
    u_char      *e, *q;
    size_t       plen;
    ngx_uint_t   i;

    static const char  *prefix[2] = {
        "event: stdout\ndata: {\"data\":\"",
        "event: stderr\ndata: {\"data\":\""
    };

    e = p + len;
    plen = ngx_strlen(prefix[0]);

    while (p < e) {
        psb_fuzz_assert((size_t) (e - p) > plen + 4,
                        "%s: a cut event: \"%.*s\"", what, (int) (e - p), p);

        if (ngx_memcmp(p, prefix[0], plen) == 0) {
            i = 0;

        } else {
            psb_fuzz_assert(ngx_memcmp(p, prefix[1], plen) == 0,
                            "%s: bad SSE event: \"%.*s\"", what,
                            (int) (e - p), p);
            i = 1;
        }

        /* the data ends at the first "}\n\n": escaped text has no newline */
        q = p + plen;

        while (q + 4 <= e && ngx_memcmp(q, "\"}\n\n", 4) != 0) {
            psb_fuzz_assert(*q != '\n' && *q != '\r',
                            "%s: SSE data spans more than one line", what);
            q++;
        }

        psb_fuzz_assert(q + 4 <= e, "%s: unterminated event", what);
        psb_fuzz_assert(q > p + plen, "%s: an event without data", what);

        psb_add_text(&psb_sse.text[i], p + plen, q - p - plen);

        p = q + 4;
    }
}


/* the next body filter of the Docker subrequest: the client's side */

static ngx_int_t
psb_next_body(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t  *cl, *ln;

    psb_fuzz_assert(r == psb_sse.sr, "events to the wrong request");

    psb_sse.calls++;

    for (cl = in; cl; cl = cl->next) {
        psb_fuzz_assert(ngx_buf_in_memory(cl->buf) && cl->buf->flush,
                        "an event buffer not in memory or not flushed");

        psb_parse_events(cl->buf->pos, cl->buf->last - cl->buf->pos,
                         "stream_body");

        /* a slow client keeps some, they are sent before the next call */
        if (psb_fuzz_rand(&psb_sse.seed) % 4 == 0) {
            ln = ngx_alloc_chain_link(r->pool);
            psb_fuzz_assert(ln != NULL, "out of memory");
            ln->buf = cl->buf;
            ln->next = psb_sse.unsent;
            psb_sse.unsent = ln;
            continue;
        }

        cl->buf->pos = cl->buf->last;
    }

    return NGX_OK;
}


static void
psb_send_unsent(void)
{
    ngx_chain_t  *cl;

    for (cl = psb_sse.unsent; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
    }

    psb_sse.unsent = NULL;
}


/* the whole stream at once; returns 1 if a header is bad */

static ngx_uint_t
psb_ref_demux(const u_char *p, size_t len, psb_buf_t *out, psb_buf_t *tags,
    psb_buf_t *per)
{
    size_t      i, n;
    uint32_t    plen;
    ngx_uint_t  stream;

    i = 0;

    while (i + 8 <= len) {

        if (p[i] > 2 || p[i + 1] || p[i + 2] || p[i + 3]) {
            return 1;
        }

        /* stdin (0) is shown as stdout, as the module does */
        stream = (p[i] == 2) ? NGX_HTTP_SANDBOX_BRIDGE_STDERR
                             : NGX_HTTP_SANDBOX_BRIDGE_STDOUT;

        plen = (uint32_t) p[i + 4] << 24 | (uint32_t) p[i + 5] << 16
               | (uint32_t) p[i + 6] << 8 | p[i + 7];

        i += 8;
        n = ngx_min((size_t) plen, len - i);

        psb_buf_add(out, p + i, n);
        psb_buf_fill(tags, (u_char) stream, n);
        psb_buf_add(&per[stream - 1], p + i, n);

        i += n;
    }

    return 0;
}


static void
psb_repair(psb_buf_t *dst, const u_char *p, size_t len)
{
    u_char  *buf, *e;

    buf = malloc(3 * len + 1);
    psb_fuzz_assert(buf != NULL, "out of memory");

    e = ngx_http_sandbox_bridge_utf8_repair(buf, len ? (u_char *) p : buf,
                                            len);
    psb_buf_add(dst, buf, e - buf);

    free(buf);
}


#define PSB_COMPLETE  "event: complete\ndata: "


static void
psb_check_result(ngx_http_sandbox_bridge_dexec_t *ex, psb_buf_t *per,
    size_t limit, ngx_uint_t sse)
{
    char                            *dump;
    u_char                          *p;
    json_t                          *res, *v;
    void                            *it;
    size_t                           n, total;
    psb_buf_t                        want, body;
    ngx_chain_t                     *out, *cl;
    ngx_uint_t                       i;
    const char                      *key;

    static const char  *keys[] = {
        "exitCode", "signal", "timedOut", "stdout", "stderr",
        "outputTruncated"
    };

    ngx_memzero(&want, sizeof(psb_buf_t));
    ngx_memzero(&body, sizeof(psb_buf_t));

    out = ngx_http_sandbox_bridge_result(ex, sse, &total);
    psb_fuzz_assert(out != NULL, "result failed");

    for (cl = out; cl; cl = cl->next) {
        psb_fuzz_assert(cl->buf->last > cl->buf->pos,
                        "result has an empty buffer");
        psb_buf_add(&body, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    psb_fuzz_assert(body.len == total, "result says %zu bytes, has %zu",
                    total, body.len);

    p = body.data;
    n = body.len;

    if (sse) {
        psb_fuzz_assert(n > sizeof(PSB_COMPLETE) + 1
                        && ngx_memcmp(p, PSB_COMPLETE,
                                      sizeof(PSB_COMPLETE) - 1) == 0
                        && ngx_memcmp(p + n - 2, "\n\n", 2) == 0
                        && ngx_strlchr(p + sizeof(PSB_COMPLETE) - 1,
                                       p + n - 2, '\n') == NULL,
                        "not one complete event");
        p += sizeof(PSB_COMPLETE) - 1;
        n -= sizeof(PSB_COMPLETE) - 1 + 2;
    }

    res = json_loadb((char *) p, n, JSON_ALLOW_NUL, NULL);
    psb_fuzz_assert(res != NULL && json_is_object(res),
                    "the result is not a JSON object: %.*s", (int) n, p);
    free(body.data);

    /* the exec result's key order, outputTruncated last and only when capped */
    i = 0;

    for (it = json_object_iter(res); it; it = json_object_iter_next(res, it))
    {
        key = json_object_iter_key(it);

        psb_fuzz_assert(i < 6 && ngx_strcmp(key, keys[i]) == 0,
                        "result key %lu is \"%s\"", (unsigned long) i, key);
        i++;
    }

    psb_fuzz_assert(i == (ex->output.truncated ? 6 : 5),
                    "result has %lu keys", (unsigned long) i);

    v = json_object_get(res, "exitCode");
    psb_fuzz_assert(ex->timed_out
                    || ex->exit_code == NGX_HTTP_SANDBOX_BRIDGE_EXIT_NULL
                    ? json_is_null(v)
                    : json_is_integer(v)
                      && json_integer_value(v) == ex->exit_code,
                    "bad exitCode");
    psb_fuzz_assert(json_is_null(json_object_get(res, "signal")),
                    "signal is not null");
    psb_fuzz_assert(json_is_boolean(json_object_get(res, "timedOut"))
                    && json_is_true(json_object_get(res, "timedOut"))
                       == (ex->timed_out != 0),
                    "bad timedOut");

    n = ngx_min(per[0].len, limit);
    psb_repair(&want, per[0].data, n);
    v = json_object_get(res, "stdout");

    psb_fuzz_assert(json_is_string(v)
                    && psb_fuzz_eq(json_string_value(v),
                                   json_string_length(v), want.data,
                                   want.len),
                    "stdout is not the repaired output");

    want.len = 0;

    if (!ex->timed_out) {
        n = ngx_min(per[1].len, limit);
        psb_repair(&want, per[1].data, n);
        v = json_object_get(res, "stderr");

        psb_fuzz_assert(json_is_string(v)
                        && psb_fuzz_eq(json_string_value(v),
                                       json_string_length(v), want.data,
                                       want.len),
                        "stderr is not the repaired output");

    } else {
        v = json_object_get(res, "stderr");
        want.len = 0;
        psb_buf_add(&want, (u_char *) "Command timeout after ", 22);

        psb_fuzz_assert(json_is_string(v)
                        && json_string_length(v) > want.len
                        && ngx_memcmp(json_string_value(v), want.data,
                                      want.len) == 0,
                        "stderr of a timed out exec: \"%s\"",
                        json_string_value(v));
    }

    dump = json_dumps(res, JSON_COMPACT);
    psb_fuzz_assert(dump != NULL, "the result does not encode");

    free(dump);
    free(want.data);
    json_decref(res);
}


int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    u_char                            *src;
    size_t                             len, off, n, limit, i;
    uint32_t                           seed, seed0;
    ngx_int_t                          rc;
    ngx_uint_t                         ref_err, mod_err, sse, k, nin;
    ngx_buf_t                         *b, **ins;
    psb_buf_t                          want, tags, per[2], rep;
    ngx_pool_t                        *pool;
    ngx_chain_t                        cl;
    psb_demux_t                        d;
    ngx_http_request_t                *r, *sr;
    ngx_http_sandbox_bridge_call_t     call;
    ngx_http_sandbox_bridge_dexec_t    ex;
    ngx_http_sandbox_bridge_demux_t    dm;
    ngx_http_sandbox_bridge_stream_t  *st;

    psb_fuzz_init();

    if (size < 3) {
        return 0;
    }

    seed0 = ((uint32_t) in[0] << 8 | in[1]) + 1;
    seed = seed0;

    len = size - 3;
    src = (u_char *) in + 3;

    ngx_memzero(&want, sizeof(psb_buf_t));
    ngx_memzero(&tags, sizeof(psb_buf_t));
    ngx_memzero(per, sizeof(per));
    ngx_memzero(&rep, sizeof(psb_buf_t));
    ngx_memzero(&d, sizeof(psb_demux_t));
    ngx_memzero(&dm, sizeof(dm));

    ref_err = psb_ref_demux(src, len, &want, &tags, per);

    /* 1. demux() on the stream in pieces, each in its own exact buffer */

    mod_err = 0;

    for (off = 0; off < len; off += n) {
        n = psb_fuzz_rand(&seed) % 8;
        n = (n < 4) ? 1 + n : (n < 7) ? 1 + psb_fuzz_rand(&seed) % 24
                                      : 1 + psb_fuzz_rand(&seed) % 1024;
        n = ngx_min(n, len - off);

        d.piece = psb_fuzz_dup(src + off, n);
        d.piece_len = n;

        rc = ngx_http_sandbox_bridge_demux(&dm, d.piece, n, psb_payload, &d);

        free(d.piece);

        if (rc != NGX_OK) {
            psb_fuzz_assert(rc == NGX_ERROR, "demux returned %ld", (long) rc);
            mod_err = 1;
            break;
        }

        psb_fuzz_assert(dm.hdr_len < 8, "header length %zu", dm.hdr_len);
    }

    psb_fuzz_assert(mod_err == ref_err, "demux %s a stream the reference %s",
                    mod_err ? "rejected" : "accepted",
                    ref_err ? "rejects" : "accepts");

    psb_fuzz_assert(psb_fuzz_eq(d.got.data, d.got.len, want.data, want.len)
                    && psb_fuzz_eq(d.tags.data, d.tags.len, tags.data,
                                   tags.len),
                    "demux payload differs from the reference: %zu bytes, "
                    "want %zu", d.got.len, want.len);

    /*
     * 2. stream.c: the same stream through stream_body() as the Docker
     * subrequest's body filter hands it over, one upstream buffer per
     * piece; for a streaming exec (byte 0 bit 0 clear) the SSE events go
     * to a client that sometimes sends them only before the next buffer.
     */

    limit = (in[2] & 2) ? 1 + (seed0 % 64) : 8 * 1024 * 1024;
    sse = !(in[0] & 1);

    pool = psb_fuzz_pool();
    r = psb_fuzz_request(pool, NGX_HTTP_POST, (u_char *) "/exec", 5);
    sr = psb_fuzz_request(pool, NGX_HTTP_POST, (u_char *) "/_psb_docker", 12);
    sr->main = r;
    sr->parent = r;

    ngx_memzero(&ex, sizeof(ex));
    st = &ex.output;

    ngx_http_sandbox_bridge_stream_init(st, r, limit, 15000);
    st->sse = sse;
    st->escaped = !(in[1] & 1);
    ex.op.request = r;
    st->sr = sr;
    st->running = 1;

    ngx_memzero(&call, sizeof(call));
    call.sr = sr;
    call.data = st;
    call.body_filter = ngx_http_sandbox_bridge_stream_body;

    ngx_memzero(&psb_sse, sizeof(psb_sse));
    psb_sse.sr = sr;
    psb_sse.seed = seed0 * 2654435761u + 1;
    psb_fuzz_next_body = psb_next_body;

    ins = calloc(len + 1, sizeof(ngx_buf_t *));
    psb_fuzz_assert(ins != NULL, "out of memory");
    nin = 0;

    seed = seed0;
    mod_err = 0;

    for (off = 0; off < len; off += n) {
        n = psb_fuzz_rand(&seed) % 8;
        n = (n < 4) ? 1 + n : (n < 7) ? 1 + psb_fuzz_rand(&seed) % 24
                                      : 1 + psb_fuzz_rand(&seed) % 1024;
        n = ngx_min(n, len - off);

        b = ngx_create_temp_buf(pool, n);
        psb_fuzz_assert(b != NULL, "out of memory");
        b->last = ngx_cpymem(b->pos, src + off, n);
        ins[nin++] = b;

        cl.buf = b;
        cl.next = NULL;

        /* the client took what it still had before nginx reads more */
        psb_send_unsent();

        rc = ngx_http_sandbox_bridge_stream_body(sr, &call, &cl);

        if (rc == NGX_ERROR) {
            mod_err = 1;
            break;
        }

        psb_fuzz_assert(rc == NGX_OK, "stream_body returned %ld", (long) rc);

        if (!sse) {
            psb_fuzz_assert(b->pos == b->last,
                            "a captured buffer is not consumed");
            continue;
        }

        if (st->busy == NULL) {
            /* all sent: every upstream buffer may be reused */
            for (k = 0; k < nin; k++) {
                psb_fuzz_assert(ins[k]->pos == ins[k]->last,
                                "buffer %lu still held with nothing unsent",
                                (unsigned long) k);
            }

        } else {
            psb_fuzz_assert(psb_sse.unsent != NULL,
                            "output busy but the client has it all");
        }
    }

    psb_fuzz_assert(mod_err == ref_err,
                    "stream_body %s a stream the reference %s",
                    mod_err ? "rejected" : "accepted",
                    ref_err ? "rejects" : "accepts");

    psb_send_unsent();

    /* the end of the stream: what is held inside UTF-8 is flushed */
    if (sse && !mod_err) {
        psb_fuzz_response_reset();
        r->header_sent = 1;

        ngx_http_sandbox_bridge_stream_flush(st);

        if (psb_fuzz_resp.len) {
            psb_parse_events(psb_fuzz_resp.body, psb_fuzz_resp.len,
                             "stream_flush");
        }

        psb_fuzz_assert(st->utf8[0].len == 0 && st->utf8[1].len == 0,
                        "stream_flush left bytes held");

        for (i = 0; i < 2; i++) {
            rep.len = 0;
            psb_repair(&rep, per[i].data, per[i].len);

            psb_fuzz_assert(psb_fuzz_eq(psb_sse.text[i].data,
                                        psb_sse.text[i].len, rep.data,
                                        rep.len),
                            "%s events differ from the repaired payload",
                            i ? "stderr" : "stdout");
        }
    }

    psb_fuzz_next_body = NULL;

    if (!mod_err) {
        /* what was kept: the first "limit" bytes of each stream */
        for (i = 0; st->escaped == 0 && i < 2; i++) {
            ngx_http_sandbox_bridge_acc_t  *acc = i ? &st->err : &st->out;

            psb_fuzz_assert(psb_fuzz_eq(acc->data, acc->len, per[i].data,
                                        ngx_min(per[i].len, limit))
                            && acc->len <= acc->cap && acc->cap <= limit,
                            "%s kept %zu bytes (cap %zu), want %zu",
                            i ? "stderr" : "stdout", acc->len, acc->cap,
                            ngx_min(per[i].len, limit));
        }

        for (i = 0; st->escaped && i < 2; i++) {
            psb_fuzz_assert(st->text[i].raw == ngx_min(per[i].len, limit)
                            && (i ? st->err.len : st->out.len) == 0,
                            "%s took %zu bytes, want %zu",
                            i ? "stderr" : "stdout", st->text[i].raw,
                            ngx_min(per[i].len, limit));
        }

        psb_fuzz_assert(st->truncated
                        == (per[0].len > limit || per[1].len > limit),
                        "truncated is %d", (int) st->truncated);

        /* 3. result.c: the result over what was kept */
        ex.exit_code = ((in[2] >> 2) == 63) ? NGX_HTTP_SANDBOX_BRIDGE_EXIT_NULL
                                             : in[2] >> 2;
        ex.timed_out = in[2] & 1;
        ex.timeout = 1000 * (seed0 % 600);

        if (st->escaped) {
            psb_check_result(&ex, per, limit, sse);
        }
    }

    ngx_destroy_pool(pool);

    free(ins);
    free(want.data);
    free(tags.data);
    free(per[0].data);
    free(per[1].data);
    free(rep.data);
    free(d.got.data);
    free(d.tags.data);
    free(psb_sse.text[0].data);
    free(psb_sse.text[1].data);

    return 0;
}
