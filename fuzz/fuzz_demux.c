
/*
 * Copyright (C) nginx-sandbox-bridge authors
 *
 * fuzz_demux: ngx_http_sandbox_bridge_demux() (sse.c) on a Docker exec
 * stream (BACKENDS.md §A: 8-byte header, byte 0 the stream, bytes 1-3
 * zero, bytes 4-7 the big-endian payload length, then the payload) cut
 * into random pieces, as the upstream hands it over.
 *
 * Input: bytes 0-1 seed the piece sizes, byte 2 sets the exec result
 * (bit 0 timed out, bit 1 a small output limit, bits 2-7 the exit code),
 * the rest is the stream. Checked:
 *   - the payload handed to the callback, byte for byte and stream for
 *     stream, is what a whole-stream reference demuxer finds; a bad header
 *     fails exactly when the reference says so; no callback gets an empty
 *     piece or memory outside the current input piece;
 *   - the streaming path of exec.c on top: each input piece gets the buffer
 *     ngx_http_sandbox_bridge_exec_body() sizes (13 * bytes + 256), whose
 *     safety net (sse_event_len() must still fit) never fires, and the SSE
 *     events decode to the repaired payload of each stream;
 *   - ngx_http_sandbox_bridge_exec_result() on the captured output (cut at
 *     the output limit as acc_add() does) is the §5.4 object with the
 *     repaired text.
 */


#include "psb_fuzz.h"
#include "ngx_http_sandbox_bridge_exec.h"


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

    /* the SSE side, as in exec_payload() */
    u_char                          *sse;
    u_char                          *sse_last;
    u_char                          *sse_end;
    ngx_http_sandbox_bridge_utf8_t   utf8[2];
    psb_buf_t                        text[2];   /* decoded event data */
} psb_demux_t;


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

    u_char      *e, *start;
    size_t       plen;
    const char  *prefix;

    psb_fuzz_assert(len > 0, "empty payload callback");
    psb_fuzz_assert(p >= d->piece && p + len <= d->piece + d->piece_len,
                    "payload outside the input piece");
    psb_fuzz_assert(stream == NGX_HTTP_SANDBOX_BRIDGE_STDOUT
                    || stream == NGX_HTTP_SANDBOX_BRIDGE_STDERR,
                    "stream %lu", (unsigned long) stream);

    psb_buf_add(&d->got, p, len);
    psb_buf_fill(&d->tags, (u_char) stream, len);

    /* exec_payload(): the safety net that fails the exec */
    psb_fuzz_assert((size_t) (d->sse_end - d->sse_last)
                    >= ngx_http_sandbox_bridge_sse_event_len(len),
                    "exec_body's buffer is too small for an event: "
                    "%zd left, %zu needed", d->sse_end - d->sse_last,
                    ngx_http_sandbox_bridge_sse_event_len(len));

    start = d->sse_last;
    e = ngx_http_sandbox_bridge_sse_event(start, stream,
                                          &d->utf8[stream - 1], p, len);

    psb_fuzz_assert(e >= start && e <= d->sse_end, "event overflow");

    d->sse_last = e;

    if (e == start) {
        return NGX_OK;
    }

    prefix = (stream == NGX_HTTP_SANDBOX_BRIDGE_STDERR)
             ? "event: stderr\ndata: {\"data\":\""
             : "event: stdout\ndata: {\"data\":\"";
    plen = ngx_strlen(prefix);

    psb_fuzz_assert((size_t) (e - start) > plen + 4
                    && ngx_memcmp(start, prefix, plen) == 0
                    && ngx_memcmp(e - 4, "\"}\n\n", 4) == 0,
                    "bad SSE event: \"%.*s\"", (int) (e - start), start);

    psb_add_text(&d->text[stream - 1], start + plen, e - start - plen - 4);

    return NGX_OK;
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


static void
psb_check_result(ngx_http_sandbox_bridge_exec_t *ex, psb_buf_t *per,
    size_t limit)
{
    char                            *dump;
    json_t                          *res, *v;
    void                            *it;
    size_t                           n;
    psb_buf_t                        want;
    ngx_uint_t                       i;
    const char                      *key;

    static const char  *keys[] = {
        "exitCode", "signal", "timedOut", "stdout", "stderr",
        "outputTruncated"
    };

    ngx_memzero(&want, sizeof(psb_buf_t));

    res = ngx_http_sandbox_bridge_exec_result(ex);
    psb_fuzz_assert(res != NULL, "exec_result failed");

    /* §5.4 key order, outputTruncated last and only when capped */
    i = 0;

    for (it = json_object_iter(res); it; it = json_object_iter_next(res, it))
    {
        key = json_object_iter_key(it);

        psb_fuzz_assert(i < 6 && ngx_strcmp(key, keys[i]) == 0,
                        "result key %lu is \"%s\"", (unsigned long) i, key);
        i++;
    }

    psb_fuzz_assert(i == (ex->truncated ? 6 : 5), "result has %lu keys",
                    (unsigned long) i);

    v = json_object_get(res, "exitCode");
    psb_fuzz_assert(ex->timed_out ? json_is_null(v)
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
    u_char                          *src, *e;
    size_t                           len, off, n, need, limit;
    uint32_t                         seed;
    ngx_int_t                        rc;
    ngx_uint_t                       ref_err, mod_err, i;
    psb_buf_t                        want, tags, per[2], rep;
    psb_demux_t                      d;
    ngx_http_sandbox_bridge_exec_t   ex;
    ngx_http_sandbox_bridge_demux_t  dm;

    static u_char                    empty[1];

    psb_fuzz_init();

    if (size < 3) {
        return 0;
    }

    seed = ((uint32_t) in[0] << 8 | in[1]) + 1;

    len = size - 3;
    src = (u_char *) in + 3;

    ngx_memzero(&want, sizeof(psb_buf_t));
    ngx_memzero(&tags, sizeof(psb_buf_t));
    ngx_memzero(per, sizeof(per));
    ngx_memzero(&rep, sizeof(psb_buf_t));
    ngx_memzero(&d, sizeof(psb_demux_t));
    ngx_memzero(&dm, sizeof(dm));

    ref_err = psb_ref_demux(src, len, &want, &tags, per);

    /* the stream in pieces, each in its own exact-size buffer */

    mod_err = 0;

    for (off = 0; off < len; off += n) {
        n = psb_fuzz_rand(&seed) % 8;
        n = (n < 4) ? 1 + n : (n < 7) ? 1 + psb_fuzz_rand(&seed) % 24
                                      : 1 + psb_fuzz_rand(&seed) % 1024;
        n = ngx_min(n, len - off);

        d.piece = psb_fuzz_dup(src + off, n);
        d.piece_len = n;

        /* exec_body(): "worst case: 6 bytes per input byte plus framing" */
        need = 13 * n + 256;
        d.sse = malloc(need);
        psb_fuzz_assert(d.sse != NULL, "out of memory");
        d.sse_last = d.sse;
        d.sse_end = d.sse + need;

        rc = ngx_http_sandbox_bridge_demux(&dm, d.piece, n, psb_payload, &d);

        free(d.sse);
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

    /* the events, plus what the end of the stream would flush */

    for (i = 0; i < 2; i++) {
        e = malloc(ngx_http_sandbox_bridge_escape_len(0));
        psb_fuzz_assert(e != NULL, "out of memory");

        n = ngx_http_sandbox_bridge_escape(e, &d.utf8[i], empty, 0, 1) - e;

        if (n) {
            psb_add_text(&d.text[i], e, n);
        }

        free(e);

        rep.len = 0;
        psb_repair(&rep, per[i].data, per[i].len);

        psb_fuzz_assert(psb_fuzz_eq(d.text[i].data, d.text[i].len, rep.data,
                                    rep.len),
                        "%s events differ from the repaired payload",
                        i ? "stderr" : "stdout");
    }

    /* the exec result over what acc_add() would have kept */

    limit = (in[2] & 2) ? 1 + (seed % 64) : 8 * 1024 * 1024;

    ngx_memzero(&ex, sizeof(ex));
    ex.exit_code = in[2] >> 2;
    ex.timed_out = in[2] & 1;
    ex.timeout = 1000 * (seed % 600);
    ex.out.data = per[0].data;
    ex.out.len = ngx_min(per[0].len, limit);
    ex.err.data = per[1].data;
    ex.err.len = ngx_min(per[1].len, limit);
    ex.truncated = (per[0].len > limit || per[1].len > limit);

    /*
     * Known finding (crashes-found/README.md, F6): an exec without output
     * leaves acc->data NULL and exec_text() hands it to utf8_repair(),
     * which computes NULL + 0 (undefined behaviour, UBSan aborts).
     */
    if (!psb_fuzz_strict) {
        ex.out.data = ex.out.data ? ex.out.data : empty;
        ex.err.data = ex.err.data ? ex.err.data : empty;
    }

    psb_check_result(&ex, per, limit);

    free(want.data);
    free(tags.data);
    free(per[0].data);
    free(per[1].data);
    free(rep.data);
    free(d.got.data);
    free(d.tags.data);
    free(d.text[0].data);
    free(d.text[1].data);

    return 0;
}
