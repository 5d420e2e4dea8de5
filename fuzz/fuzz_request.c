
/*
 * Copyright (C) nginx-sandbox-bridge authors
 *
 * fuzz_request: request bodies (README "Protocol", "Limits") on their way in.
 *
 * The input is a request body. Checked:
 *   - json_depth() (input.c) is the real nesting depth of every body
 *     jansson accepts (at least that with duplicate keys, whose replaced
 *     values count too), so the D9 depth limit cannot be dodged;
 *   - the field coercions of input.c (README "Protocol") on the parsed
 *     object, against references: read_bool(), read_string() (trim),
 *     read_raw_string(), read_integer() (JS Number(), truncated, clamped
 *     to 2^53 - 1), read_timeout() (default, operator cap),
 *     read_session() (256 bytes), parse_duration(), normalize_id() and
 *     check_id() (D6); scan_pattern() (store.c) on every string as a key
 *     prefix: the glob characters escaped, never past its buffer;
 *   - exec_script() (input.c, README "Exec") on command/args/cwd/env/stdin
 *     taken as the exec route takes them: a bad env key is reported
 *     exactly when there is one (the first), otherwise the script is the
 *     profile prefix and then, read back with a POSIX sh word splitter,
 *     exactly the words
 *     "&& cd <cwd> && exec [env K=v ...] <command> <args...> [< <stdin
 *     file>]": quoting can neither be broken out of nor lose a byte;
 *   - spec_parse() (spec.c) for probe, acquire and resume: it refuses
 *     exactly what a reference refuses, for the reference's reason, and
 *     otherwise the id (derived, normalized or as given), the Redis key,
 *     the container name, cwd, sentinel path, timeout and session are the
 *     reference's and the utility command lines (mkdir, sentinel check,
 *     pwd) split back into exactly their words; spec_sentinel()'s command
 *     line writes exactly the sentinel JSON (key order, values) to the
 *     sentinel path; spec_metadata() and spec_container() are the
 *     documented objects;
 *   - json_dump() (util.c) round-trips the body;
 *   - the whole content handler (router.c: body read, route match, D9
 *     limits, JSON parse, then the probe / acquire / resume / release /
 *     exec / DELETE <providerLeaseId> flows / an unknown route) on a fake
 *     request whose body arrives in one to three buffers: exactly one
 *     answer, a valid JSON envelope with an exact Content-Length, never a
 *     bare 500; what reaches Redis (the harness's stub, which then reports
 *     the store unavailable) has a lease key <prefix>lease:{<id>} with a
 *     D6-valid id, and for acquire/probe the id, container and cwd fields
 *     that belong to it.
 *
 * redis.c is compiled in with its two entry points renamed, so the Redis
 * calls are this harness's and the argument builder is the module's.
 */


#include <math.h>

#include "psb_fuzz.h"
#include "ngx_http_sandbox_bridge_body.h"
#include "ngx_http_sandbox_bridge_input.h"
#include "ngx_http_sandbox_bridge_request.h"
#include "ngx_http_sandbox_bridge_router.h"
#include "ngx_http_sandbox_bridge_spec.h"
#include "ngx_http_sandbox_bridge_store.h"
#include "ngx_http_sandbox_bridge_util.h"

/* redis.c but its two entry points, which are the stubs below */
#define ngx_http_sandbox_bridge_redis_command  psb_module_redis_command
#define ngx_http_sandbox_bridge_redis_script   psb_module_redis_script
#include "ngx_http_sandbox_bridge_redis.c"
#undef ngx_http_sandbox_bridge_redis_command
#undef ngx_http_sandbox_bridge_redis_script


#define PSB_MAX_SAFE   9007199254740991.0

#define PSB_PROFILE                                                           \
    "if [ -f /etc/profile ]; then . /etc/profile >/dev/null 2>&1 || true; "   \
    "fi && if [ -f \"$HOME/.profile\" ]; then . \"$HOME/.profile\" "          \
    ">/dev/null 2>&1 || true; fi && if [ -f \"$HOME/.bash_profile\" ]; "      \
    "then . \"$HOME/.bash_profile\" >/dev/null 2>&1 || true; elif [ -f "      \
    "\"$HOME/.bashrc\" ]; then . \"$HOME/.bashrc\" >/dev/null 2>&1 || true; " \
    "fi && if [ -f \"$HOME/.zprofile\" ]; then . \"$HOME/.zprofile\" "        \
    ">/dev/null 2>&1 || true; fi"


typedef struct {
    u_char      *data;
    size_t       len;
    size_t       cap;
} psb_buf_t;


/* the body the current route runs with */
static json_t      *psb_body;
static ngx_str_t    psb_route;
static const char  *psb_only;


/* F1, F2 (see the Redis stub): a 400 or 413 was sent, the route went on */

static ngx_uint_t
psb_known_late(void)
{
    /* F1, F2 are fixed: a route that answered never goes on */
    return 0;
}


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


/* references */

static ngx_uint_t
psb_ref_depth(json_t *j)
{
    size_t       i;
    json_t      *v;
    ngx_uint_t   d, max;
    const char  *k;

    max = 0;

    if (json_is_array(j)) {
        json_array_foreach(j, i, v) {
            d = psb_ref_depth(v);
            max = ngx_max(max, d);
        }

        return max + 1;
    }

    if (json_is_object(j)) {
        json_object_foreach(j, k, v) {
            d = psb_ref_depth(v);
            max = ngx_max(max, d);
        }

        return max + 1;
    }

    return 0;
}


static void
psb_ref_trim(u_char **p, size_t *len)
{
    u_char  *s, *e;

    s = *p;
    e = s + *len;

    while (s < e && psb_fuzz_is_space(*s)) {
        s++;
    }

    while (e > s && psb_fuzz_is_space(e[-1])) {
        e--;
    }

    *p = s;
    *len = e - s;
}


/* JS StringToNumber for ASCII text: 0 and *out, or -1 for NaN */

static ngx_int_t
psb_ref_js_string(u_char *s, size_t len, double *out)
{
    int      base;
    size_t   i, digits;
    double   d;
    u_char   c, *p, *e;
    char     buf[512];

    psb_ref_trim(&s, &len);

    if (len == 0) {
        *out = 0;
        return 0;
    }

    if (len > 2 && s[0] == '0'
        && (s[1] == 'x' || s[1] == 'X' || s[1] == 'o' || s[1] == 'O'
            || s[1] == 'b' || s[1] == 'B'))
    {
        base = (s[1] == 'x' || s[1] == 'X') ? 16
               : (s[1] == 'o' || s[1] == 'O') ? 8 : 2;
        d = 0;

        for (i = 2; i < len; i++) {
            c = s[i];
            c = (c >= '0' && c <= '9') ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : 99;

            if (c >= base) {
                return -1;
            }

            d = d * base + c;
        }

        *out = d;
        return 0;
    }

    p = s;
    e = s + len;

    if (*p == '+' || *p == '-') {
        p++;
    }

    if ((size_t) (e - p) == 8 && ngx_memcmp(p, "Infinity", 8) == 0) {
        *out = (s[0] == '-') ? -INFINITY : INFINITY;
        return 0;
    }

    digits = 0;

    while (p < e && *p >= '0' && *p <= '9') {
        p++;
        digits++;
    }

    if (p < e && *p == '.') {
        p++;

        while (p < e && *p >= '0' && *p <= '9') {
            p++;
            digits++;
        }
    }

    if (digits == 0) {
        return -1;
    }

    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < e && (*p == '+' || *p == '-')) {
            p++;
        }

        if (p == e || *p < '0' || *p > '9') {
            return -1;
        }

        while (p < e && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p != e || len >= sizeof(buf)) {
        return -1;
    }

    ngx_memcpy(buf, s, len);
    buf[len] = '\0';

    *out = strtod(buf, NULL);

    return 0;
}


/* JS Number(v) for a JSON value; *odd for the cases noted below */

static ngx_int_t
psb_ref_js_number(json_t *v, double *out, ngx_uint_t *odd)
{
    json_t  *e;

    switch (json_typeof(v)) {

    case JSON_INTEGER:
        *out = (double) json_integer_value(v);
        return 0;

    case JSON_REAL:
        *out = json_real_value(v);
        return 0;

    case JSON_NULL:
    case JSON_FALSE:
        *out = 0;
        return 0;

    case JSON_TRUE:
        *out = 1;
        return 0;

    case JSON_STRING:
        return psb_ref_js_string((u_char *) json_string_value(v),
                                 json_string_length(v), out);

    case JSON_ARRAY:
        /* Number([x]) is Number(String(x)) */
        if (json_array_size(v) == 0) {
            *out = 0;
            return 0;
        }

        if (json_array_size(v) > 1) {
            return -1;
        }

        e = json_array_get(v, 0);

        if (json_is_null(e)) {
            *out = 0;
            return 0;
        }

        if (json_is_array(e) || json_is_object(e)) {
            /* [[5]] is 5 in JS; known finding F5 */
            *odd = 1;
            return -1;
        }

        if (json_is_boolean(e)) {
            return -1;
        }

        return psb_ref_js_number(e, out, odd);

    default:
        return -1;
    }
}


/* 1-63 of [a-z0-9-], no "-" at either end (D6) */

static ngx_uint_t
psb_ref_id_ok(u_char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > 63 || p[0] == '-' || p[len - 1] == '-') {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9')
              || p[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


/* lease ids: trim, lowercase, runs outside [a-z0-9] to one "-", strip "-" */

static void
psb_ref_normalize(u_char *p, size_t len, psb_buf_t *out)
{
    u_char  c, dash;
    size_t  i;

    psb_ref_trim(&p, &len);

    out->len = 0;
    dash = 0;

    for (i = 0; i < len; i++) {
        c = p[i];
        c = (c >= 'A' && c <= 'Z') ? c | 0x20 : c;

        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (dash && out->len) {
                psb_buf_add(out, (u_char *) "-", 1);
            }

            dash = 0;
            psb_buf_add(out, &c, 1);
            continue;
        }

        dash = 1;
    }
}


/* "500ms", "30s", "10m", "1h", "2d" or seconds; at most a year */

static ngx_msec_int_t
psb_ref_duration(u_char *p, size_t len)
{
    size_t          i;
    ngx_msec_int_t  n, unit;

    for (i = 0, n = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
        n = n * 10 + (p[i] - '0');

        if (n > 365 * 86400) {
            return NGX_ERROR;
        }
    }

    if (i == 0) {
        return NGX_ERROR;
    }

    if (len - i == 2 && p[i] == 'm' && p[i + 1] == 's') {
        return n;
    }

    if (len - i > 1) {
        return NGX_ERROR;
    }

    unit = 1000;

    if (i < len) {
        switch (p[i]) {
        case 's': unit = 1000; break;
        case 'm': unit = 60000; break;
        case 'h': unit = 3600000; break;
        case 'd': unit = 86400000; break;
        default: return NGX_ERROR;
        }
    }

    n *= unit;

    return (n > (ngx_msec_int_t) 365 * 86400 * 1000) ? NGX_ERROR : n;
}


static ngx_uint_t
psb_env_key_ok(const char *k)
{
    size_t  i;

    if (!((k[0] >= 'A' && k[0] <= 'Z') || (k[0] >= 'a' && k[0] <= 'z')
          || k[0] == '_'))
    {
        return 0;
    }

    for (i = 1; k[i]; i++) {
        if (!((k[i] >= 'A' && k[i] <= 'Z') || (k[i] >= 'a' && k[i] <= 'z')
              || (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/* field coercions */

static void
psb_check_bool(json_t *obj, const char *key, ngx_int_t fallback)
{
    json_t     *v;
    ngx_int_t   b;

    v = json_object_get(obj, key);
    b = ngx_http_sandbox_bridge_read_bool(obj, key, fallback);

    psb_fuzz_assert(b == (v == NULL ? fallback : json_is_true(v) ? 1 : 0),
                    "read_bool(%s) = %ld", key, (long) b);
}


static void
psb_check_string(json_t *obj, const char *key, ngx_pool_t *pool)
{
    u_char          *p;
    size_t           len;
    json_t          *v;
    ngx_int_t        rc, raw;
    ngx_str_t        s, r, id;
    psb_buf_t        norm;
    ngx_msec_int_t   d, ref;
    const char      *err;

    v = json_object_get(obj, key);

    raw = ngx_http_sandbox_bridge_read_raw_string(obj, key, &r);
    rc = ngx_http_sandbox_bridge_read_string(obj, key, &s);

    if (!json_is_string(v)) {
        psb_fuzz_assert(raw == NGX_DECLINED && rc == NGX_DECLINED,
                        "read_string(%s) accepts a non-string", key);
        return;
    }

    psb_fuzz_assert(raw == NGX_OK && r.data == (u_char *) json_string_value(v)
                    && r.len == json_string_length(v),
                    "read_raw_string(%s)", key);

    p = r.data;
    len = r.len;
    psb_ref_trim(&p, &len);

    if (len == 0) {
        psb_fuzz_assert(rc == NGX_DECLINED, "read_string(%s) accepts blank",
                        key);

    } else {
        psb_fuzz_assert(rc == NGX_OK && s.data == p && s.len == len,
                        "read_string(%s) does not trim", key);
    }

    /* every string is a candidate duration and lease id */

    d = ngx_http_sandbox_bridge_parse_duration(r.data, r.len);
    ref = psb_ref_duration(r.data, r.len);

    psb_fuzz_assert(d == ref, "parse_duration(\"%.*s\") = %ld, want %ld",
                    (int) r.len, r.data, (long) d, (long) ref);

    ngx_memzero(&norm, sizeof(psb_buf_t));

    psb_fuzz_assert(ngx_http_sandbox_bridge_normalize_id(pool, &r, &id)
                    == NGX_OK, "normalize_id failed");

    psb_ref_normalize(r.data, r.len, &norm);

    psb_fuzz_assert(psb_fuzz_eq(id.data, id.len, norm.data, norm.len),
                    "normalize_id(\"%.*s\") = \"%.*s\", want \"%.*s\"",
                    (int) r.len, r.data, (int) id.len, id.data,
                    (int) norm.len, norm.data);

    err = ngx_http_sandbox_bridge_check_id(&id);
    psb_fuzz_assert((err == NULL) == psb_ref_id_ok(id.data, id.len),
                    "check_id(normalized)");

    err = ngx_http_sandbox_bridge_check_id(&r);
    psb_fuzz_assert((err == NULL) == psb_ref_id_ok(r.data, r.len),
                    "check_id(\"%.*s\")", (int) r.len, r.data);

    free(norm.data);
}


static void
psb_check_integer(json_t *obj, const char *key)
{
    double       d;
    int64_t      got, want;
    json_t      *v, *sv;
    ngx_int_t    rc, ref;
    ngx_uint_t   odd;
    u_char      *s;
    size_t       len;

    v = json_object_get(obj, key);

    rc = ngx_http_sandbox_bridge_read_integer(obj, key, -7, &got);

    if (v == NULL) {
        psb_fuzz_assert(rc == NGX_DECLINED && got == -7,
                        "read_integer(%s) without the field", key);
        return;
    }

    odd = 0;
    ref = psb_ref_js_number(v, &d, &odd);

    if (ref == 0 && isfinite(d)) {
        d = trunc(d);
        d = (d > PSB_MAX_SAFE) ? PSB_MAX_SAFE
            : (d < -PSB_MAX_SAFE) ? -PSB_MAX_SAFE : d;
        want = (int64_t) d;

    } else {
        ref = -1;
        want = -7;
    }

    /* the text Number() reads: the string, or the one string in [...] */
    sv = json_is_string(v) ? v
         : (json_is_array(v) && json_array_size(v) == 1)
           ? json_array_get(v, 0) : NULL;

    if (json_is_string(sv) && !psb_fuzz_strict) {
        s = (u_char *) json_string_value(sv);
        len = json_string_length(sv);
        psb_ref_trim(&s, &len);

        /*
         * Known finding F5 (what remains of it): text of 64 bytes or more
         * is refused; JS whitespace beyond ASCII is not trimmed.
         */
        if (len >= 64
            || psb_fuzz_utf8_check(s, len) != len
            || ngx_strlchr(s, s + len, 0xc2) || ngx_strlchr(s, s + len, 0xe1)
            || ngx_strlchr(s, s + len, 0xe2) || ngx_strlchr(s, s + len, 0xe3)
            || ngx_strlchr(s, s + len, 0xef))
        {
            odd = 1;
        }
    }

    if (odd && !psb_fuzz_strict) {
        return;
    }

    psb_fuzz_assert((rc == NGX_OK) == (ref == 0) && got == want,
                    "read_integer(%s) = %ld (%lld), JS Number() gives "
                    "%s (%lld)", key, (long) rc, (long long) got,
                    ref == 0 ? "a number" : "NaN", (long long) want);
}


/* exec_script */

/*
 * POSIX sh word splitting for the part of a script the module builds:
 * '...' and "..." (no $ ` \ inside) are literal, bare characters may only
 * be [A-Za-z0-9_=./-], and "&&", "<" and ">" stand alone. Anything else means
 * the shell would see more than the module meant.
 */

static void
psb_sh_words(u_char *p, size_t len, psb_buf_t *words, ngx_uint_t *n,
    ngx_uint_t max)
{
    u_char  *e, *q, c;

    e = p + len;
    *n = 0;

    while (p < e) {

        psb_fuzz_assert(*p == ' ', "script: \"%c\" where a blank belongs", *p);

        while (p < e && *p == ' ') {
            p++;
        }

        if (p == e) {
            break;
        }

        psb_fuzz_assert(*n < max, "script has too many words");

        words[*n].len = 0;

        if (*p == '&' || *p == '<' || *p == '>') {
            q = p;
            p += (*p == '&') ? 2 : 1;

            psb_fuzz_assert(p <= e && (p == e || *p == ' ')
                            && (q[0] != '&' || q[1] == '&'),
                            "script: stray operator");

            psb_buf_add(&words[*n], q, p - q);
            (*n)++;
            continue;
        }

        while (p < e && *p != ' ') {
            c = *p;

            if (c == '\'') {
                q = ngx_strlchr(p + 1, e, '\'');
                psb_fuzz_assert(q != NULL, "script: unterminated '");
                psb_buf_add(&words[*n], p + 1, q - p - 1);
                p = q + 1;
                continue;
            }

            if (c == '"') {
                q = ngx_strlchr(p + 1, e, '"');
                psb_fuzz_assert(q != NULL, "script: unterminated \"");

                psb_fuzz_assert(ngx_strlchr(p + 1, q, '$') == NULL
                                && ngx_strlchr(p + 1, q, '`') == NULL
                                && ngx_strlchr(p + 1, q, '\\') == NULL,
                                "script: expansion inside \"...\"");

                psb_buf_add(&words[*n], p + 1, q - p - 1);
                p = q + 1;
                continue;
            }

            psb_fuzz_assert((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                            || (c >= '0' && c <= '9') || c == '_' || c == '='
                            || c == '.' || c == '/' || c == '-',
                            "script: bare \"%c\" (0x%02x) outside quotes", c,
                            c);

            psb_buf_add(&words[*n], p, 1);
            p++;
        }

        (*n)++;
    }
}


static void
psb_expect_word(psb_buf_t *words, ngx_uint_t n, ngx_uint_t *i,
    const u_char *w, size_t len, const char *what)
{
    psb_fuzz_assert(*i < n, "script ends before %s", what);

    psb_fuzz_assert(psb_fuzz_eq(words[*i].data, words[*i].len, w, len),
                    "script word %lu is \"%.*s\", want %s \"%.*s\"",
                    (unsigned long) *i, (int) words[*i].len, words[*i].data,
                    what, (int) len, w);
    (*i)++;
}


static void
psb_check_exec_script(ngx_pool_t *pool, json_t *body)
{
    size_t       k, nargs, nenv, max;
    json_t      *v, *args, *env;
    u_char      *kv;
    ngx_int_t    rc;
    ngx_str_t    command, cwd, stdin_data, stdin_path, script;
    ngx_uint_t   n, i;
    psb_buf_t   *words;
    const char  *key, *bad, *want_bad;

    static u_char  path[] = "/tmp/.paperclip-bridge-stdin-"
                            "0123456789abcdef0123456789abcdef";

    /* as exec_parse() and exec_prepare() take them */
    if (ngx_http_sandbox_bridge_read_raw_string(body, "command", &command)
        != NGX_OK || command.len == 0)
    {
        return;
    }

    if (ngx_http_sandbox_bridge_read_raw_string(body, "cwd", &cwd)
        != NGX_OK)
    {
        cwd.len = 0;
    }

    if (ngx_http_sandbox_bridge_read_raw_string(body, "stdin", &stdin_data)
        != NGX_OK)
    {
        stdin_data.len = 0;
    }

    stdin_path.data = path;
    stdin_path.len = stdin_data.len ? sizeof(path) - 1 : 0;

    args = json_object_get(body, "args");
    env = json_object_get(body, "env");

    bad = NULL;
    rc = ngx_http_sandbox_bridge_exec_script(pool, &command, args, &cwd, env,
                                             &stdin_path, &script, &bad);

    /* the first env key outside ^[A-Za-z_][A-Za-z0-9_]*$ */
    want_bad = NULL;
    nenv = 0;

    if (json_is_object(env)) {
        json_object_foreach(env, key, v) {
            if (want_bad == NULL && !psb_env_key_ok(key)) {
                want_bad = key;
            }

            nenv += json_is_string(v);
        }
    }

    if (want_bad) {
        psb_fuzz_assert(rc == NGX_DECLINED && bad == want_bad,
                        "exec_script does not name the bad env key \"%s\"",
                        want_bad);
        return;
    }

    psb_fuzz_assert(rc == NGX_OK, "exec_script returned %ld", (long) rc);

    psb_fuzz_assert(script.len >= sizeof(PSB_PROFILE) - 1
                    && ngx_memcmp(script.data, PSB_PROFILE,
                                  sizeof(PSB_PROFILE) - 1) == 0,
                    "the script does not start with the login-shell profile");

    nargs = 0;

    if (json_is_array(args)) {
        json_array_foreach(args, k, v) {
            nargs += json_is_string(v);
        }
    }

    max = nargs + nenv + 16;
    words = calloc(max, sizeof(psb_buf_t));
    psb_fuzz_assert(words != NULL, "out of memory");

    psb_sh_words(script.data + sizeof(PSB_PROFILE) - 1,
                 script.len - (sizeof(PSB_PROFILE) - 1), words, &n, max);

    i = 0;

    if (cwd.len) {
        psb_expect_word(words, n, &i, (u_char *) "&&", 2, "&&");
        psb_expect_word(words, n, &i, (u_char *) "cd", 2, "cd");
        psb_expect_word(words, n, &i, cwd.data, cwd.len, "the cwd");
    }

    psb_expect_word(words, n, &i, (u_char *) "&&", 2, "&&");
    psb_expect_word(words, n, &i, (u_char *) "exec", 4, "exec");

    if (nenv) {
        psb_expect_word(words, n, &i, (u_char *) "env", 3, "env");

        json_object_foreach(env, key, v) {
            if (!json_is_string(v)) {
                continue;
            }

            k = ngx_strlen(key);
            kv = malloc(k + 1 + json_string_length(v));
            psb_fuzz_assert(kv != NULL, "out of memory");

            ngx_memcpy(kv, key, k);
            kv[k] = '=';
            ngx_memcpy(kv + k + 1, json_string_value(v),
                       json_string_length(v));

            psb_expect_word(words, n, &i, kv, k + 1 + json_string_length(v),
                            "an env entry");
            free(kv);
        }
    }

    psb_expect_word(words, n, &i, command.data, command.len, "the command");

    if (json_is_array(args)) {
        json_array_foreach(args, k, v) {
            if (json_is_string(v)) {
                psb_expect_word(words, n, &i, (u_char *) json_string_value(v),
                                json_string_length(v), "an arg");
            }
        }
    }

    if (stdin_path.len) {
        psb_expect_word(words, n, &i, (u_char *) "<", 1, "<");
        psb_expect_word(words, n, &i, stdin_path.data, stdin_path.len,
                        "the stdin file");
    }

    psb_fuzz_assert(i == n, "the script has %lu words more than it should",
                    (unsigned long) (n - i));

    for (i = 0; i < max; i++) {
        free(words[i].data);
    }

    free(words);
}

/* sessionId and timeoutMs, as every lease and exec request reads them */

static void
psb_check_session_timeout(json_t *body)
{
    u_char      *p;
    size_t       len;
    json_t      *v;
    int64_t      t;
    ngx_int_t    rc;
    ngx_str_t    session;
    ngx_msec_t   got, want;

    v = json_object_get(body, "sessionId");
    rc = ngx_http_sandbox_bridge_read_session(body, &session);

    p = json_is_string(v) ? (u_char *) json_string_value(v) : NULL;
    len = p ? json_string_length(v) : 0;

    if (p) {
        psb_ref_trim(&p, &len);
    }

    if (len == 0) {
        psb_fuzz_assert(rc == NGX_OK
                        && psb_fuzz_eq(session.data, session.len,
                                       NGX_HTTP_SANDBOX_BRIDGE_DEFAULT_SESSION,
                                       sizeof(
                                       NGX_HTTP_SANDBOX_BRIDGE_DEFAULT_SESSION)
                                       - 1),
                        "read_session without a sessionId");

    } else if (len > NGX_HTTP_SANDBOX_BRIDGE_SESSION_MAX) {
        psb_fuzz_assert(rc == NGX_DECLINED, "read_session takes %zu bytes",
                        len);

    } else {
        psb_fuzz_assert(rc == NGX_OK && session.data == p
                        && session.len == len,
                        "read_session is not the trimmed sessionId");
    }

    got = ngx_http_sandbox_bridge_read_timeout(body, psb_fuzz_lcf);

    if (ngx_http_sandbox_bridge_read_integer(body, "timeoutMs", 0, &t)
        != NGX_OK || t <= 0)
    {
        t = NGX_HTTP_SANDBOX_BRIDGE_DEFAULT_TIMEOUT;
    }

    want = ((uint64_t) t > psb_fuzz_lcf->exec_timeout_max)
           ? psb_fuzz_lcf->exec_timeout_max : (ngx_msec_t) t;

    psb_fuzz_assert(got == want && got > 0,
                    "read_timeout %lu, want %lu", (unsigned long) got,
                    (unsigned long) want);
}


/* scan_pattern(): "<prefix>lease:{*}", glob characters escaped, bounded */

static void
psb_check_scan_pattern(u_char *p, size_t len, uint32_t seed)
{
    u_char     *buf, *e;
    size_t      cap, i;
    ngx_str_t   prefix;
    psb_buf_t   want;

    ngx_memzero(&want, sizeof(psb_buf_t));

    for (i = 0; i < len; i++) {
        if (p[i] == '*' || p[i] == '?' || p[i] == '[' || p[i] == ']'
            || p[i] == '\\')
        {
            psb_buf_add(&want, (u_char *) "\\", 1);
        }

        psb_buf_add(&want, &p[i], 1);
    }

    psb_buf_add(&want, (u_char *) "lease:{*}", 9);

    /* a buffer just large enough, or a little smaller or larger */
    cap = want.len + 2;
    cap = cap - ngx_min(cap, psb_fuzz_rand(&seed) % 4)
          + psb_fuzz_rand(&seed) % 3;

    buf = malloc(cap ? cap : 1);
    psb_fuzz_assert(buf != NULL, "out of memory");

    prefix.data = p;
    prefix.len = len;

    e = ngx_http_sandbox_bridge_scan_pattern(buf, buf + cap, &prefix);

    if (e) {
        psb_fuzz_assert(e <= buf + cap
                        && psb_fuzz_eq(buf, e - buf, want.data, want.len),
                        "scan_pattern(\"%.*s\") = \"%.*s\"", (int) len, p,
                        (int) (e - buf), buf);

    } else {
        /* refused only when it does not fit */
        psb_fuzz_assert(want.len + 2 > cap,
                        "scan_pattern refuses %zu bytes in %zu", want.len,
                        cap);
    }

    free(buf);
    free(want.data);
}


/* the inner command line of "sh -c <line>" split into words */

static ngx_uint_t
psb_inner_words(psb_buf_t *line, psb_buf_t *words, ngx_uint_t max)
{
    ngx_uint_t  n;
    psb_buf_t   b;

    ngx_memzero(&b, sizeof(psb_buf_t));
    psb_buf_add(&b, (u_char *) " ", 1);
    psb_buf_add(&b, line->data, line->len);

    psb_sh_words(b.data, b.len, words, &n, max);

    free(b.data);

    return n;
}


static void
psb_free_words(psb_buf_t *words, ngx_uint_t max)
{
    ngx_uint_t  i;

    for (i = 0; i < max; i++) {
        free(words[i].data);
        words[i].data = NULL;
        words[i].len = 0;
        words[i].cap = 0;
    }
}


/*
 * A utility command line: the profile, "&& cd <cwd> && exec <cmd> <args>"
 * with no env and no stdin; the words after the command go to *tail.
 */

#define PSB_UTIL_WORDS  16

static void
psb_check_util(ngx_str_t *script, ngx_str_t *cwd, const char *cmd,
    psb_buf_t *words, ngx_uint_t *nargs, const char *what)
{
    ngx_uint_t  n, i;

    psb_fuzz_assert(script->len >= sizeof(PSB_PROFILE) - 1
                    && ngx_memcmp(script->data, PSB_PROFILE,
                                  sizeof(PSB_PROFILE) - 1) == 0,
                    "%s: no profile", what);

    psb_sh_words(script->data + sizeof(PSB_PROFILE) - 1,
                 script->len - (sizeof(PSB_PROFILE) - 1), words, &n,
                 PSB_UTIL_WORDS);

    i = 0;
    psb_expect_word(words, n, &i, (u_char *) "&&", 2, "&&");
    psb_expect_word(words, n, &i, (u_char *) "cd", 2, "cd");
    psb_expect_word(words, n, &i, cwd->data, cwd->len, "the cwd");
    psb_expect_word(words, n, &i, (u_char *) "&&", 2, "&&");
    psb_expect_word(words, n, &i, (u_char *) "exec", 4, "exec");
    psb_expect_word(words, n, &i, (u_char *) cmd, ngx_strlen(cmd), what);

    *nargs = n - i;
}


static void
psb_check_sentinel(ngx_pool_t *pool, ngx_http_sandbox_bridge_spec_t *s,
    ngx_uint_t resumed)
{
    char          *k;
    void          *it;
    json_t        *j, *v;
    ngx_str_t      root;
    ngx_uint_t     n, i, nargs;
    json_error_t   err;
    psb_buf_t      words[PSB_UTIL_WORDS], inner[PSB_UTIL_WORDS];

    static const char  *keys[] = {
        "provider", "providerLeaseId", "remoteCwd", "sessionStrategy",
        "sessionId", "keepAlive", "sleepAfter", "normalizeId",
        "resumedLease", "updatedAt"
    };

    ngx_memzero(words, sizeof(words));
    ngx_memzero(inner, sizeof(inner));
    ngx_str_set(&root, "/");

    psb_fuzz_assert(ngx_http_sandbox_bridge_spec_sentinel(pool, s, resumed)
                    == NGX_OK, "spec_sentinel failed");

    /* sh -c "mkdir -p <cwd> && printf '%s\n' <json> > <sentinel>" */
    psb_check_util(&s->sentinel_script, &root, "sh", words, &nargs,
                   "sentinel");
    psb_fuzz_assert(nargs == 2, "sentinel: %lu words after sh",
                    (unsigned long) nargs);

    n = 0;
    for (i = 0; i < PSB_UTIL_WORDS && words[i].data; i++) { n = i; }

    psb_fuzz_assert(psb_fuzz_eq(words[n - 1].data, words[n - 1].len, "-c", 2),
                    "sentinel: no sh -c");

    n = psb_inner_words(&words[n], inner, PSB_UTIL_WORDS);
    i = 0;

    psb_expect_word(inner, n, &i, (u_char *) "mkdir", 5, "mkdir");
    psb_expect_word(inner, n, &i, (u_char *) "-p", 2, "-p");
    psb_expect_word(inner, n, &i, s->cwd.data, s->cwd.len, "the cwd");
    psb_expect_word(inner, n, &i, (u_char *) "&&", 2, "&&");
    psb_expect_word(inner, n, &i, (u_char *) "printf", 6, "printf");
    psb_expect_word(inner, n, &i, (u_char *) "%s\\n", 4, "the format");

    psb_fuzz_assert(i < n, "sentinel: no JSON");

    j = json_loadb((char *) inner[i].data, inner[i].len, 0, &err);
    psb_fuzz_assert(json_is_object(j), "sentinel JSON (%s): %.*s", err.text,
                    (int) inner[i].len, inner[i].data);
    i++;

    psb_expect_word(inner, n, &i, (u_char *) ">", 1, ">");
    psb_expect_word(inner, n, &i, s->sentinel.data, s->sentinel.len,
                    "the sentinel path");
    psb_fuzz_assert(i == n, "sentinel: trailing words");

    n = 0;

    for (it = json_object_iter(j); it; it = json_object_iter_next(j, it)) {
        k = (char *) json_object_iter_key(it);
        psb_fuzz_assert(n < 10 && ngx_strcmp(k, keys[n]) == 0,
                        "sentinel key %lu is \"%s\"", (unsigned long) n, k);
        n++;
    }

    psb_fuzz_assert(n == 10, "sentinel has %lu keys", (unsigned long) n);

#define psb_is_str(obj, key, str)                                             \
    (v = json_object_get(obj, key),                                           \
     json_is_string(v) && psb_fuzz_eq(json_string_value(v),                   \
                                      json_string_length(v), (str).data,      \
                                      (str).len))

    psb_fuzz_assert(psb_is_str(j, "providerLeaseId", s->id)
                    && psb_is_str(j, "remoteCwd", s->cwd)
                    && psb_is_str(j, "sessionStrategy", s->strategy)
                    && psb_is_str(j, "sessionId", s->session)
                    && psb_is_str(j, "sleepAfter", s->sleep_after)
                    && json_is_true(json_object_get(j, "keepAlive"))
                       == (s->keepalive != 0)
                    && json_is_true(json_object_get(j, "normalizeId"))
                       == (s->normalize != 0)
                    && json_is_true(json_object_get(j, "resumedLease"))
                       == (resumed != 0),
                    "sentinel values differ from the request");

    json_decref(j);

    /* the metadata: the same facts, sandboxId for the id */
    j = ngx_http_sandbox_bridge_spec_metadata(s, resumed);

    psb_fuzz_assert(json_is_object(j) && json_object_size(j) == 9
                    && psb_is_str(j, "sandboxId", s->id)
                    && psb_is_str(j, "remoteCwd", s->cwd)
                    && psb_is_str(j, "sessionId", s->session)
                    && psb_is_str(j, "sleepAfter", s->sleep_after)
                    && json_is_true(json_object_get(j, "resumedLease"))
                       == (resumed != 0),
                    "spec_metadata differs from the request");

    json_decref(j);

#undef psb_is_str

    psb_free_words(words, PSB_UTIL_WORDS);
    psb_free_words(inner, PSB_UTIL_WORDS);
}


/* spec_parse() for one kind, against a reference */

static void
psb_check_spec(ngx_pool_t *pool, json_t *body,
    ngx_http_sandbox_bridge_lease_kind_e kind)
{
    u_char                             *p;
    size_t                              len, i;
    json_t                             *v, *c, *labels;
    ngx_int_t                           rc, normalize;
    ngx_str_t                           cwd, sleep, raw, base, sentinel;
    ngx_str_t                           root, want_key;
    ngx_uint_t                          n, nargs, want_err;
    psb_buf_t                           id, name, test, words[PSB_UTIL_WORDS];
    psb_buf_t                           inner[PSB_UTIL_WORDS];
    ngx_msec_int_t                      ms;
    ngx_http_request_t                 *r;
    ngx_http_sandbox_bridge_spec_t      s;
    ngx_http_sandbox_bridge_refusal_t   no;

    ngx_memzero(&s, sizeof(s));
    ngx_memzero(&id, sizeof(psb_buf_t));
    ngx_memzero(&name, sizeof(psb_buf_t));
    ngx_memzero(&test, sizeof(psb_buf_t));
    ngx_memzero(words, sizeof(words));
    ngx_memzero(inner, sizeof(inner));
    ngx_str_set(&root, "/");

    r = psb_fuzz_request(pool, NGX_HTTP_POST, (u_char *) "/", 1);

    s.kind = kind;
    rc = ngx_http_sandbox_bridge_spec_parse(r, body, &s, &no);

    /* the reference: the fields first, then the id */
    want_err = NGX_HTTP_SANDBOX_BRIDGE_ERR_LAST + 1;

    if (ngx_http_sandbox_bridge_read_string(body, "sleepAfter", &sleep)
        != NGX_OK)
    {
        ngx_str_set(&sleep, "10m");
    }

    ms = psb_ref_duration(sleep.data, sleep.len);

    v = json_object_get(body, "sessionId");
    p = json_is_string(v) ? (u_char *) json_string_value(v) : NULL;
    len = p ? json_string_length(v) : 0;

    if (p) {
        psb_ref_trim(&p, &len);
    }

    normalize = !json_is_false(json_object_get(body, "normalizeId"));

    if (ms <= 0) {
        want_err = NGX_HTTP_SANDBOX_BRIDGE_ERR_SLEEP_AFTER;

    } else if (len > NGX_HTTP_SANDBOX_BRIDGE_SESSION_MAX) {
        want_err = NGX_HTTP_SANDBOX_BRIDGE_ERR_SESSION;

    } else if (kind == NGX_HTTP_SANDBOX_BRIDGE_RESUME) {
        if (ngx_http_sandbox_bridge_read_raw_string(body, "providerLeaseId",
                                                    &raw)
            != NGX_OK || raw.len == 0)
        {
            want_err = NGX_HTTP_SANDBOX_BRIDGE_ERR_REQUIRED_LEASE;

        } else if (!psb_ref_id_ok(raw.data, raw.len)) {
            want_err = NGX_HTTP_SANDBOX_BRIDGE_ERR_LAST;
        }

    } else if (kind == NGX_HTTP_SANDBOX_BRIDGE_ACQUIRE) {
        /* truthy text: a non-empty string, a non-zero integer, true */
#define psb_truthy(v)                                                         \
        ((json_is_string(v) && json_string_length(v) > 0)                     \
         || (json_is_integer(v) && json_integer_value(v) != 0)                \
         || json_is_true(v))

        if (!psb_truthy(json_object_get(body, "environmentId"))
            || !psb_truthy(json_object_get(body, "runId")))
        {
            want_err = NGX_HTTP_SANDBOX_BRIDGE_ERR_REQUIRED_IDS;
        }

#undef psb_truthy
    }

    if (want_err <= NGX_HTTP_SANDBOX_BRIDGE_ERR_LAST
        && want_err != NGX_HTTP_SANDBOX_BRIDGE_ERR_LAST)
    {
        psb_fuzz_assert(rc == NGX_DECLINED && no.err == want_err,
                        "spec_parse(kind %d): %ld, refusal %d, want %lu",
                        (int) kind, (long) rc, (int) no.err,
                        (unsigned long) want_err);
        goto done;
    }

    if (rc != NGX_OK) {
        /* only an id D6 refuses is left (the reference decides below) */
        psb_fuzz_assert(rc == NGX_DECLINED
                        && no.err == NGX_HTTP_SANDBOX_BRIDGE_ERR_LAST
                        && no.text != NULL,
                        "spec_parse(kind %d) refused with %d", (int) kind,
                        (int) no.err);

        psb_fuzz_assert(kind != NGX_HTTP_SANDBOX_BRIDGE_PROBE
                        && (want_err == NGX_HTTP_SANDBOX_BRIDGE_ERR_LAST
                            || kind == NGX_HTTP_SANDBOX_BRIDGE_ACQUIRE),
                        "spec_parse(kind %d) refuses the id \"%.*s\"",
                        (int) kind, (int) s.id.len, s.id.data);

        if (kind == NGX_HTTP_SANDBOX_BRIDGE_ACQUIRE) {
            psb_fuzz_assert(!psb_ref_id_ok(s.id.data, s.id.len),
                            "acquire refuses a D6-valid id");
        }

        goto done;
    }

    psb_fuzz_assert(want_err == NGX_HTTP_SANDBOX_BRIDGE_ERR_LAST + 1,
                    "spec_parse(kind %d) accepts what the reference "
                    "refuses (%lu)", (int) kind, (unsigned long) want_err);

    /* the id */
    psb_fuzz_assert(psb_ref_id_ok(s.id.data, s.id.len),
                    "spec_parse accepts the id \"%.*s\"", (int) s.id.len,
                    s.id.data);

    switch (kind) {

    case NGX_HTTP_SANDBOX_BRIDGE_RESUME:
        psb_fuzz_assert(psb_fuzz_eq(s.id.data, s.id.len, raw.data, raw.len),
                        "resume: the id is not providerLeaseId as sent");
        break;

    case NGX_HTTP_SANDBOX_BRIDGE_PROBE:
        psb_fuzz_assert(s.id.len > 9 + 8
                        && ngx_memcmp(s.id.data, "pc-probe-", 9) == 0,
                        "probe id \"%.*s\"", (int) s.id.len, s.id.data);
        break;

    case NGX_HTTP_SANDBOX_BRIDGE_ACQUIRE:
        if (!json_is_true(json_object_get(body, "reuseLease"))) {
            /* pc-<runId>-<8 hex>, normalized unless normalizeId:false */
            psb_fuzz_assert(s.id.len > 8
                            && s.id.data[s.id.len - 9] == '-',
                            "acquire id \"%.*s\"", (int) s.id.len,
                            s.id.data);
            break;
        }

        v = json_object_get(body, "environmentId");

        if (json_is_string(v)) {
            psb_buf_add(&id, (u_char *) "pc-env-", 7);
            psb_buf_add(&id, (u_char *) json_string_value(v),
                        json_string_length(v));

            if (normalize) {
                base.data = id.data;
                base.len = id.len;
                psb_ref_normalize(base.data, base.len, &name);
                id.len = 0;
                psb_buf_add(&id, name.data, name.len);
                name.len = 0;
            }

            psb_fuzz_assert(psb_fuzz_eq(s.id.data, s.id.len, id.data,
                                        id.len),
                            "acquire: id \"%.*s\", want \"%.*s\"",
                            (int) s.id.len, s.id.data, (int) id.len,
                            id.data);
        }

        break;
    }

    /* key and container name */
    psb_fuzz_assert(ngx_http_sandbox_bridge_lease_key(pool, psb_fuzz_mcf,
                                                      &s.id, &want_key)
                    == NGX_OK
                    && psb_fuzz_eq(s.key.data, s.key.len, want_key.data,
                                   want_key.len)
                    && s.key.len == psb_fuzz_mcf->redis_prefix.len + 8
                                    + s.id.len
                    && ngx_memcmp(s.key.data + psb_fuzz_mcf->redis_prefix.len,
                                  "lease:{", 7) == 0,
                    "spec key \"%.*s\"", (int) s.key.len, s.key.data);

    for (i = 0; i < psb_fuzz_mcf->redis_prefix.len; i++) {
        u_char  ch = psb_fuzz_mcf->redis_prefix.data[i];

        ch = (isalnum(ch) || ch == '-' || ch == '_' || ch == '.') ? ch : '-';
        ch = (i == 0 && !isalnum(ch)) ? 'x' : ch;
        psb_buf_add(&name, &ch, 1);
    }

    psb_buf_add(&name, s.id.data, s.id.len);

    psb_fuzz_assert(psb_fuzz_eq(s.container.data, s.container.len, name.data,
                                name.len),
                    "spec container \"%.*s\"", (int) s.container.len,
                    s.container.data);

    /* cwd, sentinel, session, timeout */
    if (ngx_http_sandbox_bridge_read_string(body, "requestedCwd", &cwd)
        != NGX_OK)
    {
        ngx_str_set(&cwd, "/workspace/paperclip");
    }

    psb_fuzz_assert(psb_fuzz_eq(s.cwd.data, s.cwd.len, cwd.data, cwd.len),
                    "spec cwd");

    sentinel = cwd;
    while (sentinel.len && sentinel.data[sentinel.len - 1] == '/') {
        sentinel.len--;
    }

    test.len = 0;
    psb_buf_add(&test, sentinel.data, sentinel.len);
    psb_buf_add(&test, (u_char *) "/.paperclip-lease.json", 22);

    psb_fuzz_assert(psb_fuzz_eq(s.sentinel.data, s.sentinel.len, test.data,
                                test.len),
                    "spec sentinel \"%.*s\"", (int) s.sentinel.len,
                    s.sentinel.data);

    psb_fuzz_assert(s.sleep_ms == ms && s.timeout
                       == ngx_http_sandbox_bridge_read_timeout(body,
                                                               psb_fuzz_lcf)
                    && (len ? (s.session.len == len) : (s.session.len == 9)),
                    "spec sleep_ms, timeout or session");

    /* the utilities */
    psb_check_util(&s.mkdir_script, &root, "mkdir", words, &nargs, "mkdir");
    n = 6;
    psb_fuzz_assert(nargs == 2
                    && psb_fuzz_eq(words[n].data, words[n].len, "-p", 2)
                    && psb_fuzz_eq(words[n + 1].data, words[n + 1].len,
                                   s.cwd.data, s.cwd.len),
                    "mkdir script");
    psb_free_words(words, PSB_UTIL_WORDS);

    psb_check_util(&s.check_script, &root, "sh", words, &nargs, "check");
    psb_fuzz_assert(nargs == 2
                    && psb_fuzz_eq(words[n].data, words[n].len, "-c", 2),
                    "check script");

    nargs = psb_inner_words(&words[n + 1], inner, PSB_UTIL_WORDS);
    psb_fuzz_assert(nargs == 3
                    && psb_fuzz_eq(inner[0].data, inner[0].len, "test", 4)
                    && psb_fuzz_eq(inner[1].data, inner[1].len, "-s", 2)
                    && psb_fuzz_eq(inner[2].data, inner[2].len,
                                   s.sentinel.data, s.sentinel.len),
                    "check script: not test -s <sentinel>");
    psb_free_words(words, PSB_UTIL_WORDS);
    psb_free_words(inner, PSB_UTIL_WORDS);

    psb_check_util(&s.pwd_script, &s.cwd, "pwd", words, &nargs, "pwd");
    psb_fuzz_assert(nargs == 0, "pwd script has arguments");
    psb_free_words(words, PSB_UTIL_WORDS);

    psb_check_sentinel(pool, &s, kind == NGX_HTTP_SANDBOX_BRIDGE_RESUME);

    /* the container body */
    c = ngx_http_sandbox_bridge_spec_container(r, &s);
    labels = json_object_get(c, "Labels");
    v = json_object_get(labels, "paperclip.bridge.lease");

    psb_fuzz_assert(json_is_object(c) && json_is_string(v)
                    && psb_fuzz_eq(json_string_value(v),
                                   json_string_length(v), s.id.data,
                                   s.id.len)
                    && json_is_object(json_object_get(c, "HostConfig")),
                    "spec_container");

    json_decref(c);

done:

    free(id.data);
    free(name.data);
    free(test.data);
}


/* the routes */

/* Redis is "unavailable" after the arguments are checked */

ngx_int_t
ngx_http_sandbox_bridge_redis_command(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_http_request_t *r,
    ngx_http_sandbox_bridge_redis_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    psb_fuzz_assert(0, "unexpected Redis command %.*s", (int) argvlen[0],
                    argv[0]);
    return NGX_ERROR;
}


static ngx_str_t *
psb_field(int argc, const char **argv, const size_t *argvlen,
    const char *name, ngx_str_t *out)
{
    int  i;

    /*
     * KEYS[1], then now, ttl, cred, admin, hosts, placement, prefix, the
     * warm pool configuration, then name/value pairs
     */
    for (i = 9; i + 1 < argc; i += 2) {
        if (psb_fuzz_eq(argv[i], argvlen[i], name, ngx_strlen(name))) {
            out->data = (u_char *) argv[i + 1];
            out->len = argvlen[i + 1];
            return out;
        }
    }

    return NULL;
}


ngx_int_t
ngx_http_sandbox_bridge_redis_script(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_http_request_t *r,
    ngx_uint_t script, ngx_http_sandbox_bridge_redis_pt handler, void *data,
    int nkeys, int argc, const char **argv, const size_t *argvlen)
{
    int         i;
    size_t      plen;
    u_char     *p, *e;
    json_t     *v;
    ngx_str_t   id, f, raw, cwd;
    psb_buf_t   name;

    /*
     * Findings F1 and F2 (fixed): a refusal did not end the route. F1: the
     * lease request parser (now spec_parse() and lease_parse() in
     * lease.c, destroy.c for release/DELETE) went on after refusing
     * sleepAfter or a D6-invalid id -- with that id. F2: the body parser
     * (now router.c parse_body()) ran the route after a 400/413 for the
     * body, with ctx->body NULL. Redis after an answer is a failure.
     */
    if (psb_fuzz_resp.headers) {
        psb_fuzz_assert(psb_known_late(),
                        "%.*s: Redis is asked after the answer was sent: "
                        "%.*s\npsb-fuzz: script %lu, KEYS[1] \"%.*s\"",
                        (int) psb_route.len, psb_route.data,
                        (int) psb_fuzz_resp.len, psb_fuzz_resp.body,
                        (unsigned long) script, (int) argvlen[0], argv[0]);
        return NGX_DECLINED;
    }

    psb_fuzz_assert(script < NGX_HTTP_SANDBOX_BRIDGE_NSCRIPTS && nkeys == 1
                    && argc >= 1 && argc + 3
                       <= NGX_HTTP_SANDBOX_BRIDGE_REDIS_MAX_ARGS,
                    "script %lu with %d keys, %d args",
                    (unsigned long) script, nkeys, argc);

    for (i = 0; i < argc; i++) {
        psb_fuzz_assert(argvlen[i] == 0 || argv[i] != NULL, "NULL argv");
    }

    /* KEYS[1] is <prefix>lease:{<id>} with a D6 id */
    plen = mcf->redis_prefix.len;
    p = (u_char *) argv[0];
    e = p + argvlen[0];

    psb_fuzz_assert(argvlen[0] > plen + 8
                    && ngx_memcmp(p, mcf->redis_prefix.data, plen) == 0
                    && ngx_memcmp(p + plen, "lease:{", 7) == 0
                    && e[-1] == '}',
                    "bad lease key \"%.*s\"", (int) argvlen[0], p);

    id.data = p + plen + 7;
    id.len = e - 1 - id.data;

    psb_fuzz_assert(psb_ref_id_ok(id.data, id.len),
                    "a lease id that D6 refuses reaches Redis: \"%.*s\"",
                    (int) id.len, id.data);

    if (script == NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_BEGIN) {
        ngx_memzero(&name, sizeof(psb_buf_t));

        psb_fuzz_assert(psb_field(argc, argv, argvlen, "id", &f)
                        && psb_fuzz_eq(f.data, f.len, id.data, id.len),
                        "BEGIN: id field is not the key's id");

        /* the container: the prefix made Docker-safe, then the id */
        for (i = 0; i < (int) plen; i++) {
            u_char  c = mcf->redis_prefix.data[i];

            c = (isalnum(c) || c == '-' || c == '_' || c == '.') ? c : '-';
            c = (i == 0 && !isalnum(c)) ? 'x' : c;
            psb_buf_add(&name, &c, 1);
        }

        psb_buf_add(&name, id.data, id.len);

        psb_fuzz_assert(psb_field(argc, argv, argvlen, "container", &f)
                        && psb_fuzz_eq(f.data, f.len, name.data, name.len),
                        "BEGIN: container \"%.*s\" for id \"%.*s\"",
                        (int) f.len, f.data, (int) id.len, id.data);

        free(name.data);

        /* cwd: requestedCwd trimmed, or the default */
        if (ngx_http_sandbox_bridge_read_string(psb_body, "requestedCwd",
                                                &cwd)
            != NGX_OK)
        {
            ngx_str_set(&cwd, "/workspace/paperclip");
        }

        psb_fuzz_assert(psb_field(argc, argv, argvlen, "cwd", &f)
                        && psb_fuzz_eq(f.data, f.len, cwd.data, cwd.len),
                        "BEGIN: cwd \"%.*s\"", (int) f.len, f.data);

        /* acquire with reuseLease and normalizeId:false: pc-env-<env> */
        v = json_object_get(psb_body, "environmentId");

        if (psb_route.len == 15
            && ngx_strncmp(psb_route.data, "/leases/acquire", 15) == 0
            && json_is_string(v)
            && json_is_true(json_object_get(psb_body, "reuseLease"))
            && json_is_false(json_object_get(psb_body, "normalizeId")))
        {
            psb_fuzz_assert(id.len == 7 + json_string_length(v)
                            && ngx_memcmp(id.data, "pc-env-", 7) == 0
                            && ngx_memcmp(id.data + 7, json_string_value(v),
                                          id.len - 7) == 0,
                            "BEGIN: id is not pc-env-<environmentId>");
        }

    } else if (script == NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_TOUCH
               || script == NGX_HTTP_SANDBOX_BRIDGE_SCRIPT_DESTROY)
    {
        /* exec, resume, release take providerLeaseId raw; DELETE unescaped */
        if (ngx_http_sandbox_bridge_read_raw_string(psb_body,
                                                    "providerLeaseId", &raw)
            == NGX_OK && psb_route.len && psb_route.data[0] != 'D')
        {
            psb_fuzz_assert(psb_fuzz_eq(id.data, id.len, raw.data, raw.len),
                            "the key's id is not providerLeaseId as sent");
        }

    } else {
        psb_fuzz_assert(0, "unexpected script %lu", (unsigned long) script);
    }

    return NGX_DECLINED;
}


static void
psb_run_route(ngx_uint_t method, const char *route, u_char *data, size_t len,
    u_char *id, size_t idlen, uint32_t seed)
{
    u_char                          *uri, *p;
    size_t                           n;
    json_t                          *res;
    ngx_int_t                        rc;
    ngx_pool_t                      *pool;
    ngx_http_request_t              *r;

    /* PSB_FUZZ_ROUTE=/leases/release: reproduce with one route only */
    if (psb_only && ngx_strstr(route, psb_only) == NULL
        && !(method == NGX_HTTP_DELETE && ngx_strcmp(psb_only, "DELETE") == 0))
    {
        return;
    }

    pool = psb_fuzz_pool();

    n = sizeof(PSB_FUZZ_PREFIX) - 1 + ngx_strlen(route) + idlen;
    uri = ngx_pnalloc(pool, n);
    psb_fuzz_assert(uri != NULL, "out of memory");

    p = ngx_cpymem(uri, PSB_FUZZ_PREFIX, sizeof(PSB_FUZZ_PREFIX) - 1);
    p = ngx_cpymem(p, route, ngx_strlen(route));

    if (idlen) {
        p = ngx_cpymem(p, id, idlen);
    }

    r = psb_fuzz_request(pool, method, uri, p - uri);
    r->headers_in.content_length_n = len;

    psb_route.data = (u_char *) (method == NGX_HTTP_DELETE ? "D" : route);
    psb_route.len = ngx_strlen(psb_route.data);

    psb_fuzz_body.data = data;
    psb_fuzz_body.len = len;
    psb_fuzz_body_seed = seed;

    psb_fuzz_response_reset();

    rc = ngx_http_sandbox_bridge_content_handler(r);

    psb_fuzz_assert(rc == NGX_DONE, "%s: content handler returned %ld",
                    route, (long) rc);
    psb_fuzz_assert(psb_fuzz_resp.finalized == 1, "%s: finalized %lu times",
                    route, (unsigned long) psb_fuzz_resp.finalized);

    res = psb_fuzz_response_check(route);

    if (res == NULL) {
        psb_fuzz_assert(psb_fuzz_resp.final_rc
                        >= NGX_HTTP_SPECIAL_RESPONSE
                        && psb_fuzz_resp.final_rc
                           != NGX_HTTP_INTERNAL_SERVER_ERROR,
                        "%s: finalized with %ld and no answer", route,
                        (long) psb_fuzz_resp.final_rc);

    } else {
        /* F1, F2: the route's own answer fails after the 400 */
        psb_fuzz_assert(psb_fuzz_resp.final_rc == NGX_OK || psb_known_late(),
                        "%s: finalized with %ld after an answer: %.*s",
                        route, (long) psb_fuzz_resp.final_rc,
                        (int) psb_fuzz_resp.len, psb_fuzz_resp.body);
        psb_fuzz_assert(psb_fuzz_resp.status != 500,
                        "%s: 500 for a request body", route);
        json_decref(res);
    }

    ngx_destroy_pool(pool);
}


/*
 * body_load() on a copy: it fails exactly when jansson fails, with
 * jansson's message; otherwise its object is jansson's with "stdin"
 * empty, and the stdin it unescaped in place is jansson's string.
 */

static void
psb_check_body_load(const uint8_t *in, size_t size, json_t *body,
    json_error_t *err)
{
    u_char        *copy;
    json_t        *got, *a, *b;
    ngx_str_t      sin;
    json_error_t   e;

    copy = psb_fuzz_dup(in, size);
    got = ngx_http_sandbox_bridge_body_load(copy, size, &sin, &e);

    psb_fuzz_assert((got == NULL) == (body == NULL),
                    "body_load %s where jansson %s",
                    got ? "parses" : "fails", body ? "parses" : "fails");

    if (got == NULL) {
        psb_fuzz_assert(body != NULL || strcmp(e.text, err->text) == 0,
                        "body_load says \"%s\", jansson \"%s\"",
                        e.text, err->text);
        free(copy);
        return;
    }

    if (sin.data) {
        a = json_object_get(body, "stdin");
        b = json_object_get(got, "stdin");

        psb_fuzz_assert(json_is_string(a) && json_string_length(a) == sin.len
                        && memcmp(json_string_value(a), sin.data, sin.len)
                           == 0,
                        "the stdin held in place is not jansson's");
        psb_fuzz_assert(json_is_string(b) && json_string_length(b) == 0,
                        "the parsed stdin is not empty");

        a = json_deep_copy(body);
        psb_fuzz_assert(a != NULL, "out of memory");
        json_object_set_new(a, "stdin", json_string(""));

        psb_fuzz_assert(json_equal(a, got), "the rest differs from jansson's");
        json_decref(a);

    } else {
        psb_fuzz_assert(json_equal(body, got), "the body differs from "
                        "jansson's");
    }

    json_decref(got);
    free(copy);
}


int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    u_char          *data, *dump;
    size_t           len;
    json_t          *body, *back, *v;
    ngx_str_t        id;
    ngx_uint_t       depth, i;
    ngx_pool_t      *pool;
    json_error_t     err;

    static const char  *strings[] = {
        "requestedCwd", "sleepAfter", "sessionId", "sessionStrategy",
        "environmentId", "runId", "providerLeaseId", "command", "cwd",
        "stdin", "issueId"
    };

    static const char  *bools[] = {
        "keepAlive", "normalizeId", "reuseLease", "streamOutput"
    };

    psb_fuzz_init();

    psb_only = getenv("PSB_FUZZ_ROUTE");

    data = psb_fuzz_dup(in, size);

    /* 1. the depth check against what jansson builds */

    depth = ngx_http_sandbox_bridge_json_depth(data, size);
    body = json_loadb((char *) data, size, JSON_DECODE_ANY, &err);

    if (body) {
        /* a duplicate key's first value is in the text, not in the object */
        back = json_loadb((char *) data, size,
                          JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);

        psb_fuzz_assert(back ? depth == psb_ref_depth(body)
                             : depth >= psb_ref_depth(body),
                        "json_depth %lu, the body nests %lu deep",
                        (unsigned long) depth,
                        (unsigned long) psb_ref_depth(body));

        json_decref(back);
    }

    /* 1b. the body held once (body.c) parses as jansson parses it */

    psb_check_body_load(in, size, body, &err);

    /* 2. the coercions and the exec script */

    if (json_is_object(body)) {
        pool = psb_fuzz_pool();

        for (i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
            psb_check_bool(body, bools[i], i & 1);
        }

        for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
            psb_check_string(body, strings[i], pool);
        }

        psb_check_integer(body, "timeoutMs");
        psb_check_integer(body, "sleepAfter");
        psb_check_integer(body, "args");

        psb_check_exec_script(pool, body);
        psb_check_session_timeout(body);

        for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
            v = json_object_get(body, strings[i]);

            if (json_is_string(v)) {
                psb_check_scan_pattern((u_char *) json_string_value(v),
                                       json_string_length(v), size + i);
            }
        }

        psb_check_spec(pool, body, NGX_HTTP_SANDBOX_BRIDGE_PROBE);
        psb_check_spec(pool, body, NGX_HTTP_SANDBOX_BRIDGE_ACQUIRE);
        psb_check_spec(pool, body, NGX_HTTP_SANDBOX_BRIDGE_RESUME);

        dump = ngx_http_sandbox_bridge_json_dump(pool, body, &len);
        psb_fuzz_assert(dump != NULL, "json_dump failed");

        back = json_loadb((char *) dump, len, 0, &err);
        psb_fuzz_assert(back != NULL && json_equal(back, body),
                        "json_dump does not round-trip: %s", err.text);
        json_decref(back);

        ngx_destroy_pool(pool);
    }

    /* 3. the content handler, every route with a body, and DELETE */

    psb_body = body;

    psb_run_route(NGX_HTTP_POST, "/probe", data, size, NULL, 0, size);
    psb_run_route(NGX_HTTP_POST, "/leases/acquire", data, size, NULL, 0,
                  size + 1);
    psb_run_route(NGX_HTTP_POST, "/leases/resume", data, size, NULL, 0,
                  size + 2);
    psb_run_route(NGX_HTTP_POST, "/leases/release", data, size, NULL, 0,
                  size + 3);
    psb_run_route(NGX_HTTP_POST, "/exec", data, size, NULL, 0, size + 4);
    psb_run_route(NGX_HTTP_POST, "/leases/nope", data, size, NULL, 0,
                  size + 5);

    if (ngx_http_sandbox_bridge_read_raw_string(body, "providerLeaseId", &id)
        == NGX_OK)
    {
        psb_run_route(NGX_HTTP_DELETE, "/leases/", data, size, id.data,
                      id.len, size + 6);
    }

    psb_body = NULL;

    json_decref(body);
    free(data);

    return 0;
}
