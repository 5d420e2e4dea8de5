
/*
 * Copyright (C) nginx-sandbox-bridge authors
 *
 * fuzz_sse: the D8 output path of sse.c -- ngx_http_sandbox_bridge_escape(),
 * _sse_event() and _utf8_repair() -- on arbitrary command output, fed whole
 * and in random pieces.
 *
 * Input: byte 0 bit 0 picks stderr, bytes 1-2 seed the piece sizes, the
 * rest is the command's output. Checked:
 *   - every output fits the size the module reserves for it
 *     (escape_len, sse_event_len, 3 * len for utf8_repair);
 *   - utf8_repair() is valid UTF-8, equals a reference repair (one U+FFFD
 *     per byte that starts no valid sequence) and keeps valid input as is;
 *   - escape() output is valid JSON string content that decodes to the
 *     repaired text;
 *   - escaping in pieces (last = 0, then one empty call with last = 1)
 *     gives exactly the one-shot result: no sequence is split or lost;
 *   - every SSE event is "event: stdout|stderr\ndata: {"data":"..."}\n\n"
 *     on one data line, never with empty data, and the events' decoded data
 *     plus the final flush is the repaired text.
 */


#include "psb_fuzz.h"
#include "ngx_http_sandbox_bridge_sse.h"


#define PSB_EVENT_OUT  "event: stdout\ndata: "
#define PSB_EVENT_ERR  "event: stderr\ndata: "


typedef struct {
    u_char  *data;
    size_t   len;
    size_t   cap;
} psb_buf_t;


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


/* the length of the valid sequence at p (module rules), 0 if none */

static size_t
psb_ref_seq(const u_char *p, size_t len)
{
    size_t  n, i;
    u_char  lo, hi;

    if (p[0] < 0x80) {
        return 1;
    }

    lo = 0x80;
    hi = 0xbf;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;

    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        lo = (p[0] == 0xe0) ? 0xa0 : 0x80;
        hi = (p[0] == 0xed) ? 0x9f : 0xbf;

    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        lo = (p[0] == 0xf0) ? 0x90 : 0x80;
        hi = (p[0] == 0xf4) ? 0x8f : 0xbf;

    } else {
        return 0;
    }

    if (len < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if (p[i] < lo || p[i] > hi) {
            return 0;
        }

        lo = 0x80;
        hi = 0xbf;
    }

    return n;
}


static void
psb_ref_repair(psb_buf_t *out, const u_char *p, size_t len)
{
    size_t  i, n;

    for (i = 0; i < len; i += n) {
        n = psb_ref_seq(p + i, len - i);

        if (n == 0) {
            psb_buf_add(out, (u_char *) "\xef\xbf\xbd", 3);
            n = 1;
            continue;
        }

        psb_buf_add(out, p + i, n);
    }
}


/* "..." around escaped text must parse as a JSON string equal to want */

static void
psb_check_json_text(const u_char *p, size_t len, psb_buf_t *want,
    const char *what)
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

    psb_fuzz_assert(j != NULL && json_is_string(j),
                    "%s: not valid JSON string content (%s): \"%.*s\"",
                    what, j ? "not a string" : err.text, (int) len, p);

    if (want) {
        psb_fuzz_assert(psb_fuzz_eq(json_string_value(j),
                                    json_string_length(j),
                                    want->data, want->len),
                        "%s: decodes to other text than the repaired "
                        "input", what);
    }

    json_decref(j);
    free(s);
}


/* one event: "event: <stream>\ndata: {"data":"<escaped>"}\n\n" */

static void
psb_check_event(u_char *p, size_t len, ngx_uint_t stream, psb_buf_t *data)
{
    size_t         plen;
    json_t        *j, *d;
    json_error_t   err;
    const char    *prefix;

    prefix = (stream == NGX_HTTP_SANDBOX_BRIDGE_STDERR) ? PSB_EVENT_ERR
                                                        : PSB_EVENT_OUT;
    plen = ngx_strlen(prefix);

    psb_fuzz_assert(len > plen + 2 && ngx_memcmp(p, prefix, plen) == 0
                    && p[len - 2] == '\n' && p[len - 1] == '\n',
                    "bad SSE framing: \"%.*s\"", (int) len, p);

    psb_fuzz_assert(ngx_strlchr(p + plen, p + len - 2, '\n') == NULL
                    && ngx_strlchr(p + plen, p + len - 2, '\r') == NULL,
                    "SSE data spans more than one line");

    j = json_loadb((char *) p + plen, len - plen - 2, JSON_ALLOW_NUL, &err);

    psb_fuzz_assert(j != NULL, "SSE data is not JSON (%s): \"%.*s\"",
                    err.text, (int) len, p);

    d = json_object_get(j, "data");

    psb_fuzz_assert(json_is_string(d) && json_object_size(j) == 1
                    && json_string_length(d) > 0,
                    "SSE data is not {\"data\": <non-empty string>}");

    psb_buf_add(data, (u_char *) json_string_value(d), json_string_length(d));

    json_decref(j);
}


/* "..." around a flushed tail: its decoded text is appended to data */

static void
psb_add_json_text(psb_buf_t *data, const u_char *p, size_t len)
{
    u_char  *s;
    json_t  *j;

    s = malloc(len + 2);
    psb_fuzz_assert(s != NULL, "out of memory");

    s[0] = '"';
    ngx_memcpy(s + 1, p, len);
    s[len + 1] = '"';

    j = json_loadb((char *) s, len + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                   NULL);

    psb_fuzz_assert(json_is_string(j), "flushed tail is not JSON text");

    psb_buf_add(data, (u_char *) json_string_value(j), json_string_length(j));

    json_decref(j);
    free(s);
}


/* piece sizes: many 0-4 byte pieces to cut sequences, some larger ones */

static size_t
psb_piece(uint32_t *seed, size_t min, size_t left)
{
    size_t  n;

    n = psb_fuzz_rand(seed) % 8;
    n = (n < 5) ? n : (n < 7) ? 1 + psb_fuzz_rand(seed) % 16
                              : 1 + psb_fuzz_rand(seed) % 512;

    return ngx_min(ngx_max(n, min), left);
}


int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    size_t                           len, off, n, cap, one_len;
    u_char                          *src, *one, *out, *e, *piece;
    uint32_t                         seed;
    ngx_str_t                        escaped;
    ngx_uint_t                       stream;
    psb_buf_t                        rep, ref, cat, data;
    ngx_http_sandbox_bridge_utf8_t   st;

    static u_char                    empty[1];

    psb_fuzz_init();

    if (size < 3) {
        return 0;
    }

    stream = (in[0] & 1) ? NGX_HTTP_SANDBOX_BRIDGE_STDERR
                         : NGX_HTTP_SANDBOX_BRIDGE_STDOUT;
    seed = ((uint32_t) in[1] << 8 | in[2]) + 1;

    len = size - 3;
    src = psb_fuzz_dup(in + 3, len);

    ngx_memzero(&rep, sizeof(psb_buf_t));
    ngx_memzero(&ref, sizeof(psb_buf_t));
    ngx_memzero(&cat, sizeof(psb_buf_t));
    ngx_memzero(&data, sizeof(psb_buf_t));

    /* utf8_repair: at most 3 bytes per input byte, valid, as the reference */

    out = malloc(3 * len + 1);
    psb_fuzz_assert(out != NULL, "out of memory");

    e = ngx_http_sandbox_bridge_utf8_repair(out, src, len);

    psb_fuzz_assert(e >= out && (size_t) (e - out) <= 3 * len,
                    "utf8_repair wrote %zd bytes for %zu", e - out, len);

    psb_buf_add(&rep, out, e - out);
    free(out);

    psb_fuzz_assert(psb_fuzz_utf8_check(rep.data, rep.len) == rep.len,
                    "utf8_repair output is not valid UTF-8 at %zu",
                    psb_fuzz_utf8_check(rep.data, rep.len));

    psb_ref_repair(&ref, src, len);

    psb_fuzz_assert(psb_fuzz_eq(ref.data, ref.len, rep.data, rep.len),
                    "utf8_repair differs from the reference repair");

    if (psb_fuzz_utf8_check(src, len) == len) {
        psb_fuzz_assert(psb_fuzz_eq(rep.data, rep.len, src, len),
                        "utf8_repair changed valid UTF-8");
    }

    /* one-shot escape: JSON text of the repaired output */

    cap = ngx_http_sandbox_bridge_escape_len(len);
    one = malloc(cap);
    psb_fuzz_assert(one != NULL, "out of memory");

    ngx_memzero(&st, sizeof(st));
    e = ngx_http_sandbox_bridge_escape(one, &st, src, len, 1);

    psb_fuzz_assert(e >= one && (size_t) (e - one) <= cap,
                    "escape wrote %zd bytes, escape_len %zu", e - one, cap);
    psb_fuzz_assert(st.len == 0, "escape(last) kept %zu bytes", st.len);

    one_len = e - one;
    psb_check_json_text(one, one_len, &rep, "escape");

    /* escape in pieces, then an empty last call: the same bytes */

    ngx_memzero(&st, sizeof(st));

    for (off = 0; off < len; off += n) {
        n = psb_piece(&seed, 0, len - off);

        piece = psb_fuzz_dup(src + off, n);
        cap = ngx_http_sandbox_bridge_escape_len(n);
        out = malloc(cap);
        psb_fuzz_assert(out != NULL, "out of memory");

        e = ngx_http_sandbox_bridge_escape(out, &st, piece, n, 0);

        psb_fuzz_assert(e >= out && (size_t) (e - out) <= cap,
                        "escape wrote %zd bytes, escape_len %zu",
                        e - out, cap);
        psb_fuzz_assert(st.len <= 3, "escape holds %zu bytes", st.len);

        psb_buf_add(&cat, out, e - out);

        free(out);
        free(piece);
    }

    cap = ngx_http_sandbox_bridge_escape_len(0);
    out = malloc(cap);
    psb_fuzz_assert(out != NULL, "out of memory");

    e = ngx_http_sandbox_bridge_escape(out, &st, empty, 0, 1);

    psb_fuzz_assert((size_t) (e - out) <= cap,
                    "final escape wrote %zd bytes", e - out);
    psb_fuzz_assert(st.len == 0, "escape(last) kept %zu bytes", st.len);

    psb_buf_add(&cat, out, e - out);
    free(out);

    psb_fuzz_assert(psb_fuzz_eq(cat.data, cat.len, one, one_len),
                    "escape in pieces differs from one-shot escape: "
                    "\"%.*s\" vs \"%.*s\"", (int) cat.len, cat.data,
                    (int) one_len, one);

    free(one);

    /* SSE events, as stream.c makes them: one per non-empty payload piece */

    ngx_memzero(&st, sizeof(st));
    seed = ((uint32_t) in[2] << 8 | in[1]) + 7;

    for (off = 0; off < len; off += n) {
        n = psb_piece(&seed, 1, len - off);

        piece = psb_fuzz_dup(src + off, n);
        cap = ngx_http_sandbox_bridge_sse_event_len(n);
        out = malloc(cap);
        psb_fuzz_assert(out != NULL, "out of memory");

        e = ngx_http_sandbox_bridge_sse_event(out, stream, &st, piece, n,
                                              &escaped);

        psb_fuzz_assert(e >= out && (size_t) (e - out) <= cap,
                        "sse_event wrote %zd bytes, sse_event_len %zu",
                        e - out, cap);

        if (e != out) {
            psb_check_event(out, e - out, stream, &data);
        }

        /* the event's data lies inside the event; no event, no data */
        psb_fuzz_assert(e == out
                        ? escaped.len == 0
                        : escaped.data > out && escaped.data < e
                          && escaped.len < (size_t) (e - escaped.data),
                        "sse_event's escaped data lies outside the event");

        free(out);
        free(piece);
    }

    /* what is still held is what a flush at the end of the stream gives */

    cap = ngx_http_sandbox_bridge_escape_len(0);
    out = malloc(cap);
    psb_fuzz_assert(out != NULL, "out of memory");

    e = ngx_http_sandbox_bridge_escape(out, &st, empty, 0, 1);

    if (e != out) {
        psb_add_json_text(&data, out, e - out);
    }

    free(out);

    psb_fuzz_assert(psb_fuzz_eq(data.data, data.len, rep.data, rep.len),
                    "SSE events carry other text than the repaired output");

    free(rep.data);
    free(ref.data);
    free(cat.data);
    free(data.data);
    free(src);

    return 0;
}
