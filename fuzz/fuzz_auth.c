
/*
 * Copyright (C) nginx-sandbox-bridge authors
 *
 * fuzz_auth: authentication (auth.c, hmac.c) on arbitrary bytes.
 *
 * Input, read as lines:
 *     Authorization header value
 *     method
 *     request target (path and query, as sent)
 *     Host header value             (no line: no Host header)
 *     body                          (everything after the fourth newline)
 *
 * Checked:
 *   - parse_bearer() on the whole input and on the header line: the token
 *     is README "sandbox_auth"'s trimmed ^Bearer\s+(.+)$ (reference);
 *   - parse_hmac() on both: whatever it accepts has a keyId of 1-64
 *     [A-Za-z0-9._-], a nonce of 16-128 [A-Za-z0-9_-], a ts of 1-12 digits
 *     and a sig of 64 lowercase hex digits, all inside the header; the
 *     canonical "PSB-HMAC-SHA256 keyId=.., ts=.., nonce=.., sig=.." form
 *     of what it accepted parses back to the same fields;
 *   - hmac_canonical() is the documented canonical request (reference);
 *   - parse_tokens() and the sandbox_auth_hmac_key_file parser, both on
 *     the whole input as file text, against reference parsers;
 *   - the access handler end to end on a fake request (bearer and signed):
 *     a bearer token is accepted exactly when it is a configured one; a
 *     signed request whose header has sig=<64 zeros> is re-signed here
 *     (reference signer, ts moved near "now") and must be accepted exactly
 *     when key, time window and Host allow it; accepted means the nonce is
 *     stored with SET NX PX and the request passes with the key's
 *     credential; the same request again is refused as a replay, a
 *     tampered signature is refused; every refusal is a 401 envelope.
 */


#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include "psb_fuzz.h"
#include "ngx_http_sandbox_bridge_auth.h"
#include "ngx_http_sandbox_bridge_hmac.h"
#include "ngx_http_sandbox_bridge_request.h"
#include "ngx_http_sandbox_bridge_util.h"

/* redis.c but its two entry points, which are the stubs below */
#define ngx_http_sandbox_bridge_redis_command  psb_module_redis_command
#define ngx_http_sandbox_bridge_redis_script   psb_module_redis_script
#include "ngx_http_sandbox_bridge_redis.c"
#undef ngx_http_sandbox_bridge_redis_command
#undef ngx_http_sandbox_bridge_redis_script


#define PSB_SCHEME        "PSB-HMAC-SHA256"
#define PSB_BAD_SIG       "Missing or invalid request signature."
#define PSB_BAD_TS        "Request signature timestamp is outside the " \
                          "allowed window."
#define PSB_BAD_HOST      "Request Host is not allowed."
#define PSB_REPLAY        "Request nonce was already used."
#define PSB_BAD_BEARER    "Missing or invalid bridge bearer token."
#define PSB_SIGNED_ONLY   "This location requires signed requests."

#define PSB_MAX_NONCES    64


typedef struct {
    const char  *token;
    ngx_uint_t   admin;
} psb_token_t;


static u_char  psb_user_tokens[] =
    "# users\ntok-user-one\n\n  tok-user-two\r\n";
static u_char  psb_admin_tokens[] = "tok-admin-one";

static psb_token_t  psb_tokens[] = {
    { "tok-user-one", 0 },
    { "tok-user-two", 0 },
    { "tok-admin-one", 1 },
};

static ngx_http_sandbox_bridge_hmac_key_t  psb_keys[] = {
    { ngx_string("k1"), ngx_string("k1-secret-0123456789"),
      ngx_string("hmac:k1"), 0 },
    { ngx_string("ops.key_2"), ngx_string("ops-secret-abcdefghijkl"),
      ngx_string("hmac:ops.key_2"), 1 },
};

static ngx_str_t  psb_hosts[] = {
    ngx_string("bridge.example"),
    ngx_string("Bridge.Example:8443"),
};

static ngx_array_t  psb_creds_a, psb_keys_a, psb_hosts_a;


/* the Redis side of the nonce check: SET key 1 NX PX ms */

static struct {
    ngx_http_sandbox_bridge_redis_pt   handler;
    void                              *data;
    ngx_uint_t                         calls;
    ngx_str_t                          key;
    u_char                             keybuf[512];
} psb_redis;

static ngx_str_t   psb_nonces[PSB_MAX_NONCES];
static ngx_uint_t  psb_nnonces;

static ngx_int_t   psb_phase_rc;
static ngx_uint_t  psb_phase_runs;

static char        psb_key_path[64];


ngx_int_t
ngx_http_sandbox_bridge_redis_command(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_http_request_t *r,
    ngx_http_sandbox_bridge_redis_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    u_char  px[NGX_INT_T_LEN];
    size_t  n;

    psb_fuzz_assert(argc == 6
                    && argvlen[0] == 3 && ngx_memcmp(argv[0], "SET", 3) == 0
                    && argvlen[2] == 1 && argv[2][0] == '1'
                    && argvlen[3] == 2 && ngx_memcmp(argv[3], "NX", 2) == 0
                    && argvlen[4] == 2 && ngx_memcmp(argv[4], "PX", 2) == 0,
                    "the nonce is not stored with SET key 1 NX PX");

    n = ngx_sprintf(px, "%M", 2 * psb_fuzz_lcf->hmac_skew + 1000) - px;

    psb_fuzz_assert(argvlen[5] == n && ngx_memcmp(argv[5], px, n) == 0,
                    "nonce TTL %.*s, want %.*s", (int) argvlen[5], argv[5],
                    (int) n, px);

    psb_fuzz_assert(argvlen[1] < sizeof(psb_redis.keybuf), "nonce key size");

    ngx_memcpy(psb_redis.keybuf, argv[1], argvlen[1]);
    psb_redis.key.data = psb_redis.keybuf;
    psb_redis.key.len = argvlen[1];

    psb_redis.handler = handler;
    psb_redis.data = data;
    psb_redis.calls++;

    return NGX_OK;
}


/* an access handler that answered NGX_DONE resumes the phases: run it */

void
ngx_http_core_run_phases(ngx_http_request_t *r)
{
    psb_phase_runs++;
    psb_phase_rc = ngx_http_sandbox_bridge_auth_handler(r);
}


/* the key file parser reads a real file: these are its nginx calls */

ngx_int_t
ngx_conf_full_name(ngx_cycle_t *cycle, ngx_str_t *name, ngx_uint_t prefix)
{
    return NGX_OK;
}


ssize_t
ngx_read_file(ngx_file_t *file, u_char *buf, size_t size, off_t offset)
{
    ssize_t  n;

    n = pread(file->fd, buf, size, offset);

    return n < 0 ? NGX_ERROR : n;
}


static void
psb_hex(u_char *dst, const u_char *src, size_t n)
{
    static const u_char  hex[] = "0123456789abcdef";

    while (n--) {
        *dst++ = hex[*src >> 4];
        *dst++ = hex[*src++ & 0xf];
    }
}


static void
psb_sha256_hex(const u_char *p, size_t len, u_char *hex)
{
    u_char        md[EVP_MAX_MD_SIZE];
    unsigned int  n;

    psb_fuzz_assert(EVP_Digest(p, len, md, &n, EVP_sha256(), NULL) == 1
                    && n == 32, "sha256");
    psb_hex(hex, md, 32);
}


static ngx_uint_t
psb_alnum(u_char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
           || (c >= 'A' && c <= 'Z');
}


static ngx_uint_t
psb_chars(ngx_str_t *s, size_t min, size_t max, const char *extra,
    ngx_uint_t *nul)
{
    size_t  i;

    if (s->len < min || s->len > max) {
        return 0;
    }

    for (i = 0; i < s->len; i++) {
        if (psb_alnum(s->data[i])
            || (s->data[i] && ngx_strchr(extra, s->data[i])))
        {
            continue;
        }

        return 0;
    }

    return 1;
}


static ngx_uint_t
psb_inside(ngx_str_t *s, u_char *p, size_t len)
{
    return s->data >= p && s->data + s->len <= p + len;
}


/* Bearer: ^Bearer\s+(.+)$, then trim; nginx header values hold no CR/LF */

static ngx_int_t
psb_ref_bearer(u_char *p, size_t len, ngx_str_t *token)
{
    u_char  *last;

    if (len < 7 || ngx_strncasecmp(p, (u_char *) "bearer", 6) != 0
        || !psb_fuzz_is_space(p[6]))
    {
        return NGX_DECLINED;
    }

    last = p + len;
    p += 6;

    while (p < last && psb_fuzz_is_space(*p)) {
        p++;
    }

    while (last > p && psb_fuzz_is_space(last[-1])) {
        last--;
    }

    if (p == last) {
        return NGX_DECLINED;
    }

    token->data = p;
    token->len = last - p;

    return NGX_OK;
}


static void
psb_check_bearer(u_char *p, size_t len)
{
    u_char     *h;
    ngx_int_t   rc, ref;
    ngx_str_t   hdr, token, want;

    h = psb_fuzz_dup(p, len);
    hdr.data = h;
    hdr.len = len;

    rc = ngx_http_sandbox_bridge_parse_bearer(&hdr, &token);
    ref = psb_ref_bearer(h, len, &want);

    if (ngx_strlchr(h, h + len, '\n') == NULL
        && ngx_strlchr(h, h + len, '\r') == NULL)
    {
        psb_fuzz_assert(rc == ref, "parse_bearer %s \"%.*s\"",
                        rc == NGX_OK ? "accepts" : "refuses", (int) len, h);
    }

    if (rc == NGX_OK) {
        psb_fuzz_assert(token.len > 0 && psb_inside(&token, h, len)
                        && !psb_fuzz_is_space(token.data[0])
                        && !psb_fuzz_is_space(token.data[token.len - 1]),
                        "bad bearer token");

        if (ref == NGX_OK) {
            psb_fuzz_assert(token.data == want.data && token.len == want.len,
                            "bearer token differs from the reference");
        }
    }

    free(h);
}


static void
psb_check_hmac_fields(ngx_http_sandbox_bridge_hmac_auth_t *a, u_char *h,
    size_t len)
{
    size_t      i;
    ngx_uint_t  nul;

    nul = 0;

    psb_fuzz_assert(len > 16 && ngx_memcmp(h, PSB_SCHEME " ", 16) == 0,
                    "parse_hmac accepts another scheme");

    psb_fuzz_assert(psb_inside(&a->key_id, h, len)
                    && psb_inside(&a->ts, h, len)
                    && psb_inside(&a->nonce, h, len)
                    && psb_inside(&a->sig, h, len),
                    "a field points outside the header");

    psb_fuzz_assert(psb_chars(&a->key_id, 1, 64, "._-", &nul),
                    "bad keyId \"%.*s\"", (int) a->key_id.len,
                    a->key_id.data);
    psb_fuzz_assert(psb_chars(&a->nonce, 16, 128, "_-", &nul),
                    "bad nonce \"%.*s\"", (int) a->nonce.len,
                    a->nonce.data);

    psb_fuzz_assert(a->ts.len >= 1 && a->ts.len <= 12, "ts length %zu",
                    a->ts.len);

    for (i = 0; i < a->ts.len; i++) {
        psb_fuzz_assert(a->ts.data[i] >= '0' && a->ts.data[i] <= '9',
                        "ts \"%.*s\"", (int) a->ts.len, a->ts.data);
    }

    psb_fuzz_assert(a->sig.len == 64, "sig length %zu", a->sig.len);

    for (i = 0; i < 64; i++) {
        psb_fuzz_assert((a->sig.data[i] >= '0' && a->sig.data[i] <= '9')
                        || (a->sig.data[i] >= 'a' && a->sig.data[i] <= 'f'),
                        "sig \"%.*s\"", 64, a->sig.data);
    }
}


static void
psb_check_hmac(u_char *p, size_t len)
{
    u_char                               *h, *c, *e;
    ngx_str_t                             hdr;
    ngx_http_sandbox_bridge_hmac_auth_t   a, b;

    h = psb_fuzz_dup(p, len);
    hdr.data = h;
    hdr.len = len;

    if (ngx_http_sandbox_bridge_parse_hmac(&hdr, &a) != NGX_OK) {
        free(h);
        return;
    }

    psb_check_hmac_fields(&a, h, len);

    /* what util/psb-sign prints for these fields must parse back */
    c = malloc(16 + 64 + 12 + 128 + 64 + 40);
    psb_fuzz_assert(c != NULL, "out of memory");

    e = ngx_sprintf(c, PSB_SCHEME " keyId=%V, ts=%V, nonce=%V, sig=%V",
                    &a.key_id, &a.ts, &a.nonce, &a.sig);

    hdr.data = c;
    hdr.len = e - c;

    psb_fuzz_assert(ngx_http_sandbox_bridge_parse_hmac(&hdr, &b) == NGX_OK
                    && psb_fuzz_eq(a.key_id.data, a.key_id.len,
                                   b.key_id.data, b.key_id.len)
                    && psb_fuzz_eq(a.ts.data, a.ts.len, b.ts.data, b.ts.len)
                    && psb_fuzz_eq(a.nonce.data, a.nonce.len, b.nonce.data,
                                   b.nonce.len)
                    && psb_fuzz_eq(a.sig.data, a.sig.len, b.sig.data,
                                   b.sig.len),
                    "the signer's form of an accepted header does not "
                    "parse back: \"%.*s\"", (int) hdr.len, c);

    free(c);
    free(h);
}


static int
psb_cmp_str(const void *one, const void *two)
{
    int               rc;
    const ngx_str_t  *x = one, *y = two;

    rc = (x->len && y->len) ? ngx_memcmp(x->data, y->data,
                                         ngx_min(x->len, y->len))
                            : 0;

    return rc ? rc : (x->len > y->len) - (x->len < y->len);
}


/*
 * The canonical request, from the comment in hmac.c and util/psb-sign:
 * PSB-HMAC-SHA256, method, path, the query's "&" parts sorted bytewise,
 * lowercase Host, ts, nonce, hex SHA-256 of the body; "\n" between.
 */

static u_char *
psb_ref_canonical(ngx_str_t *method, ngx_str_t *path, ngx_str_t *query,
    ngx_str_t *host, ngx_http_sandbox_bridge_hmac_auth_t *a, u_char *body_hex,
    size_t *len)
{
    u_char     *buf, *p, *s, *amp;
    size_t      n, i;
    ngx_str_t  *parts;

    buf = malloc(16 + method->len + path->len + query->len + host->len
                 + a->ts.len + a->nonce.len + 64 + 8);
    parts = malloc((query->len + 1) * sizeof(ngx_str_t));
    psb_fuzz_assert(buf != NULL && parts != NULL, "out of memory");

    n = 0;

    if (query->len) {
        s = query->data;

        for ( ;; ) {
            amp = ngx_strlchr(s, query->data + query->len, '&');

            parts[n].data = s;
            parts[n].len = (amp ? amp : query->data + query->len) - s;
            n++;

            if (amp == NULL) {
                break;
            }

            s = amp + 1;
        }
    }

    qsort(parts, n, sizeof(ngx_str_t), psb_cmp_str);

    p = ngx_cpymem(buf, PSB_SCHEME "\n", 16);
    p = ngx_cpymem(p, method->data, method->len);
    *p++ = '\n';
    p = ngx_cpymem(p, path->data, path->len);
    *p++ = '\n';

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = '&';
        }

        p = ngx_cpymem(p, parts[i].data, parts[i].len);
    }

    *p++ = '\n';

    for (i = 0; i < host->len; i++) {
        *p++ = (host->data[i] >= 'A' && host->data[i] <= 'Z')
               ? host->data[i] | 0x20 : host->data[i];
    }

    *p++ = '\n';
    p = ngx_cpymem(p, a->ts.data, a->ts.len);
    *p++ = '\n';
    p = ngx_cpymem(p, a->nonce.data, a->nonce.len);
    *p++ = '\n';
    p = ngx_cpymem(p, body_hex, 64);

    free(parts);

    *len = p - buf;

    return buf;
}


/* the path and query hmac_verify() signs: up to "?" or "#", after "?" */

static void
psb_split_target(ngx_str_t *target, ngx_str_t *path, ngx_str_t *query)
{
    u_char  *p, *last;

    p = target->data;
    last = p + target->len;

    while (p < last && *p != '?' && *p != '#') {
        p++;
    }

    path->data = target->data;
    path->len = p - target->data;

    query->data = p;
    query->len = 0;

    if (p < last && *p == '?') {
        query->data = p + 1;
        query->len = last - p - 1;
    }
}


static void
psb_check_canonical(ngx_pool_t *pool, ngx_str_t *header, ngx_str_t *method,
    ngx_str_t *target, ngx_str_t *host, ngx_str_t *body)
{
    u_char                               *ref, *m;
    size_t                                len;
    ngx_str_t                             path, query, out, mth, pth, qry;
    ngx_str_t                             hst;
    ngx_http_sandbox_bridge_hmac_auth_t   a;
    u_char                                body_hex[64];

    if (ngx_http_sandbox_bridge_parse_hmac(header, &a) != NGX_OK) {
        return;
    }

    psb_sha256_hex(body->data, body->len, body_hex);
    psb_split_target(target, &path, &query);

    /* each part in its own allocation */
    m = psb_fuzz_dup(method->data, method->len);
    mth.data = m; mth.len = method->len;
    pth.data = psb_fuzz_dup(path.data, path.len); pth.len = path.len;
    qry.data = psb_fuzz_dup(query.data, query.len); qry.len = query.len;
    hst.data = psb_fuzz_dup(host->data, host->len); hst.len = host->len;

    psb_fuzz_assert(ngx_http_sandbox_bridge_hmac_canonical(pool, &mth, &pth,
                                                           &qry, &hst, &a,
                                                           body_hex, &out)
                    == NGX_OK, "hmac_canonical failed");

    ref = psb_ref_canonical(&mth, &pth, &qry, &hst, &a, body_hex, &len);

    psb_fuzz_assert(psb_fuzz_eq(out.data, out.len, ref, len),
                    "canonical request differs from the reference:\n"
                    "%.*s\n-- want --\n%.*s", (int) out.len, out.data,
                    (int) len, ref);

    free(ref);
    free(m);
    free(pth.data);
    free(qry.data);
    free(hst.data);
}


/* one token per line; blank lines and "#" comments skipped (auth.c) */

static void
psb_check_tokens(ngx_pool_t *pool, u_char *p, size_t len)
{
    u_char                          *text, *last, *eol, *s, *q;
    ngx_str_t                        t;
    ngx_uint_t                       n;
    ngx_array_t                     *creds;
    ngx_http_sandbox_bridge_cred_t  *cred;
    u_char                           hex[64], md[EVP_MAX_MD_SIZE];
    unsigned int                     mdlen;

    text = psb_fuzz_dup(p, len);
    t.data = text;
    t.len = len;

    creds = ngx_array_create(pool, 2, sizeof(ngx_http_sandbox_bridge_cred_t));
    psb_fuzz_assert(creds != NULL, "out of memory");

    psb_fuzz_assert(ngx_http_sandbox_bridge_parse_tokens(pool, &t, creds, 1)
                    == NGX_OK, "parse_tokens failed");

    cred = creds->elts;
    n = 0;
    last = text + len;

    for (q = text; q < last; q = eol + 1) {
        eol = ngx_strlchr(q, last, '\n');
        eol = eol ? eol : last;

        s = eol;
        if (s > q && s[-1] == '\r') {
            s--;
        }

        while (q < s && psb_fuzz_is_space(*q)) {
            q++;
        }

        if (q == s || *q == '#') {
            continue;
        }

        psb_fuzz_assert(n < creds->nelts, "parse_tokens lost a token");

        psb_sha256_hex(q, s - q, hex);
        psb_fuzz_assert(EVP_Digest(q, s - q, md, &mdlen, EVP_sha256(), NULL)
                        == 1, "sha256");
        psb_fuzz_assert(ngx_memcmp(cred[n].digest, md, 32) == 0
                        && cred[n].admin == 1,
                        "token %lu: wrong digest", (unsigned long) n);

        psb_sha256_hex(cred[n].digest, 32, hex);
        psb_fuzz_assert(cred[n].id.len == 20
                        && ngx_memcmp(cred[n].id.data, "tok-", 4) == 0
                        && ngx_memcmp(cred[n].id.data + 4, hex, 16) == 0,
                        "token %lu: wrong id", (unsigned long) n);
        n++;
    }

    psb_fuzz_assert(n == creds->nelts, "parse_tokens found %lu tokens, "
                    "want %lu", (unsigned long) creds->nelts,
                    (unsigned long) n);

    free(text);
}


/*
 * sandbox_auth_hmac_key_file: lines "keyId secret [admin]", fields
 * separated by spaces, "#" comments and blank lines skipped, keyId 1-64
 * [A-Za-z0-9._-], secret at least 16 bytes. Returns 0 for a bad file.
 */

static ngx_uint_t
psb_ref_keys(u_char *p, size_t len, ngx_http_sandbox_bridge_hmac_key_t *keys,
    ngx_uint_t *nkeys, ngx_uint_t max, ngx_uint_t *loose, ngx_uint_t *nul)
{
    u_char     *last, *eol, *end, *w[4];
    size_t      wl[4];
    ngx_str_t   id;
    ngx_uint_t  n, k;

    last = p + len;
    k = 0;

    for ( /* void */ ; p < last; p = eol + 1) {
        eol = ngx_strlchr(p, last, '\n');
        eol = eol ? eol : last;

        end = eol;
        while (end > p && (end[-1] == '\r' || end[-1] == ' ')) {
            end--;
        }

        while (p < end && *p == ' ') {
            p++;
        }

        if (p == end || *p == '#') {
            continue;
        }

        /* up to four words; a fourth is always an error */
        for (n = 0; p < end && n < 4; n++) {
            w[n] = p;
            while (p < end && *p != ' ') {
                p++;
            }

            wl[n] = p - w[n];

            while (p < end && *p == ' ') {
                p++;
            }
        }

        if (n < 2) {
            return 0;
        }

        id.data = w[0];
        id.len = wl[0];

        if (!psb_chars(&id, 1, 64, "._-", nul)) {
            return 0;
        }

        if (n > 2 && !(n == 3 && wl[2] == 5
                       && ngx_memcmp(w[2], "admin", 5) == 0))
        {
            return 0;
        }

        if (wl[1] < 16) {
            return 0;
        }

        psb_fuzz_assert(k < max, "too many keys");

        keys[k].id = id;
        keys[k].secret.data = w[1];
        keys[k].secret.len = wl[1];
        keys[k].admin = (n > 2);
        k++;
    }

    *nkeys = k;

    return 1;
}


static void
psb_check_key_file(ngx_pool_t *pool, u_char *p, size_t len)
{
    int                                   fd;
    char                                 *rv;
    ngx_str_t                            *value;
    ngx_uint_t                            i, nref, ok, loose, nul;
    ngx_conf_t                            cf;
    ngx_array_t                           args;
    ngx_http_sandbox_bridge_hmac_key_t   *key;
    ngx_http_sandbox_bridge_loc_conf_t    lcf;
    ngx_http_sandbox_bridge_hmac_key_t    ref[64];
    u_char                                cred[80];

    if (len > 4096 || (len && ngx_strlchr(p, p + len, '\n') == NULL)) {
        /* one-line files are the header and bearer checks' business */
        return;
    }

    fd = open(psb_key_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    psb_fuzz_assert(fd != -1, "open %s", psb_key_path);
    psb_fuzz_assert(write(fd, p, len) == (ssize_t) len, "write");
    close(fd);

    ngx_memzero(&cf, sizeof(ngx_conf_t));
    cf.pool = pool;
    cf.temp_pool = pool;
    cf.log = &psb_fuzz_log;
    cf.cycle = (ngx_cycle_t *) ngx_cycle;
    cf.args = &args;

    psb_fuzz_assert(ngx_array_init(&args, pool, 2, sizeof(ngx_str_t))
                    == NGX_OK, "out of memory");
    value = ngx_array_push_n(&args, 2);
    psb_fuzz_assert(value != NULL, "out of memory");
    ngx_str_set(&value[0], "sandbox_auth_hmac_key_file");
    value[1].data = (u_char *) psb_key_path;
    value[1].len = ngx_strlen(psb_key_path);

    ngx_memzero(&lcf, sizeof(lcf));
    lcf.hmac_keys = NGX_CONF_UNSET_PTR;

    rv = ngx_http_sandbox_bridge_hmac_key_file(&cf, NULL, &lcf);

    loose = 0;
    nul = 0;
    ok = psb_ref_keys(p, len, ref, &nref, 64, &loose, &nul);

    psb_fuzz_assert((rv == NGX_CONF_OK) == ok,
                    "the key file parser %s a file the reference %s",
                    rv == NGX_CONF_OK ? "accepts" : "refuses",
                    ok ? "accepts" : "refuses");

    if (!ok) {
        return;
    }

    psb_fuzz_assert(lcf.hmac_keys->nelts == nref, "%lu keys, want %lu",
                    (unsigned long) lcf.hmac_keys->nelts,
                    (unsigned long) nref);

    key = lcf.hmac_keys->elts;

    for (i = 0; i < nref; i++) {
        ngx_sprintf(cred, "hmac:%V", &ref[i].id);

        psb_fuzz_assert(psb_fuzz_eq(key[i].id.data, key[i].id.len,
                                    ref[i].id.data, ref[i].id.len)
                        && psb_fuzz_eq(key[i].secret.data, key[i].secret.len,
                                       ref[i].secret.data, ref[i].secret.len)
                        && psb_fuzz_eq(key[i].cred.data, key[i].cred.len,
                                       cred, 5 + ref[i].id.len)
                        && key[i].admin == ref[i].admin,
                        "key %lu differs from the reference",
                        (unsigned long) i);
    }
}


static void
psb_unlink_keys(void)
{
    (void) unlink(psb_key_path);
}


/* the access phase on a fake request; returns the handler's rc */

static ngx_int_t
psb_access(ngx_pool_t *pool, ngx_str_t *header, ngx_str_t *method,
    ngx_str_t *target, ngx_str_t *host, ngx_uint_t has_host,
    ngx_http_request_t **rp)
{
    ngx_int_t            rc;
    ngx_uint_t           i, seen;
    redisReply           reply;
    ngx_table_elt_t     *ah, *hh;
    ngx_http_request_t  *r;

    r = psb_fuzz_request(pool, NGX_HTTP_POST, target->data, target->len);
    r->method_name = *method;

    ah = ngx_pcalloc(pool, sizeof(ngx_table_elt_t));
    hh = ngx_pcalloc(pool, sizeof(ngx_table_elt_t));
    psb_fuzz_assert(ah != NULL && hh != NULL, "out of memory");

    ngx_str_set(&ah->key, "Authorization");
    ah->value = *header;
    ah->hash = 1;
    r->headers_in.authorization = ah;

    if (has_host) {
        ngx_str_set(&hh->key, "Host");
        hh->value = *host;
        hh->hash = 1;
        r->headers_in.host = hh;
    }

    psb_fuzz_response_reset();
    ngx_memzero(&psb_redis, sizeof(psb_redis));
    psb_phase_runs = 0;

    *rp = r;

    rc = ngx_http_sandbox_bridge_auth_handler(r);

    if (rc != NGX_DONE || psb_redis.handler == NULL) {
        psb_fuzz_assert(psb_redis.calls == 0, "a nonce is stored for a "
                        "request that did not pass (rc %ld)", (long) rc);
        return rc;
    }

    /* Redis answers SET NX: OK the first time, nil for a replay */

    ngx_memzero(&reply, sizeof(redisReply));
    seen = 0;

    for (i = 0; i < psb_nnonces; i++) {
        if (psb_fuzz_eq(psb_nonces[i].data, psb_nonces[i].len,
                        psb_redis.key.data, psb_redis.key.len))
        {
            seen = 1;
        }
    }

    if (seen) {
        reply.type = REDIS_REPLY_NIL;

    } else {
        reply.type = REDIS_REPLY_STATUS;
        reply.str = "OK";
        reply.len = 2;

        psb_fuzz_assert(psb_nnonces < PSB_MAX_NONCES, "too many nonces");

        psb_nonces[psb_nnonces].data = psb_fuzz_dup(psb_redis.key.data,
                                                    psb_redis.key.len);
        psb_nonces[psb_nnonces].len = psb_redis.key.len;
        psb_nnonces++;
    }

    psb_redis.handler(r, psb_redis.data, &reply);

    psb_fuzz_assert(psb_phase_runs == 1, "the phases ran %lu times",
                    (unsigned long) psb_phase_runs);

    return psb_phase_rc;
}


/* a refusal: NGX_DONE after a 401 envelope with this message */

static void
psb_expect_401(ngx_int_t rc, const char *msg, const char *what)
{
    json_t  *body, *m;

    psb_fuzz_assert(rc == NGX_DONE, "%s: the access handler returned %ld, "
                    "want a 401", what, (long) rc);

    body = psb_fuzz_response_check(what);

    psb_fuzz_assert(body != NULL && psb_fuzz_resp.status == 401
                    && psb_fuzz_resp.finalized == 1,
                    "%s: no 401 was sent", what);

    m = json_object_get(body, "message");

    psb_fuzz_assert(msg == NULL || ngx_strcmp(json_string_value(m), msg) == 0,
                    "%s: message \"%s\", want \"%s\"", what,
                    json_string_value(m), msg);

    json_decref(body);
}


/* a pass: NGX_DECLINED, nothing sent, the request has this credential */

static void
psb_expect_pass(ngx_int_t rc, ngx_http_request_t *r, u_char *cred,
    size_t len, ngx_uint_t admin, const char *what)
{
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    psb_fuzz_assert(rc == NGX_DECLINED && psb_fuzz_resp.headers == 0
                    && psb_fuzz_resp.finalized == 0,
                    "%s: refused (rc %ld): %.*s", what, (long) rc,
                    (int) psb_fuzz_resp.len, psb_fuzz_resp.body);

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    psb_fuzz_assert(ctx != NULL
                    && psb_fuzz_eq(ctx->cred_id.data, ctx->cred_id.len,
                                   cred, len)
                    && ctx->cred_admin == admin,
                    "%s: wrong credential \"%.*s\"", what,
                    ctx ? (int) ctx->cred_id.len : 0,
                    ctx ? ctx->cred_id.data : (u_char *) "");
}


static void
psb_check_bearer_access(ngx_pool_t *pool, ngx_str_t *header,
    ngx_str_t *method, ngx_str_t *target, ngx_str_t *host,
    ngx_uint_t has_host)
{
    u_char               hex[64], md[EVP_MAX_MD_SIZE], id[20];
    ngx_int_t            rc;
    ngx_str_t            token;
    ngx_uint_t           i, n;
    unsigned int         mdlen;
    ngx_http_request_t  *r;

    n = sizeof(psb_tokens) / sizeof(psb_tokens[0]);
    i = n;

    if (ngx_strlchr(header->data, header->data + header->len, '\r')) {
        /* nginx never passes a CR in a header value: only run it */
        (void) psb_access(pool, header, method, target, host, has_host, &r);
        return;
    }

    if (psb_ref_bearer(header->data, header->len, &token) == NGX_OK) {
        for (i = 0; i < n; i++) {
            if (psb_fuzz_eq(token.data, token.len, psb_tokens[i].token,
                            ngx_strlen(psb_tokens[i].token)))
            {
                break;
            }
        }
    }

    rc = psb_access(pool, header, method, target, host, has_host, &r);

    if (i == n) {
        psb_expect_401(rc, PSB_BAD_BEARER, "bearer");
        return;
    }

    /* its public name: tok-<16 hex of sha256(sha256(token))> */
    psb_fuzz_assert(EVP_Digest(psb_tokens[i].token,
                               ngx_strlen(psb_tokens[i].token), md, &mdlen,
                               EVP_sha256(), NULL) == 1, "sha256");
    psb_sha256_hex(md, 32, hex);
    ngx_memcpy(ngx_cpymem(id, "tok-", 4), hex, 16);

    psb_expect_pass(rc, r, id, 20, psb_tokens[i].admin, "bearer token");
}


/*
 * A header with sig=<64 zeros> is signed here: its ts becomes now plus
 * (ts % 1201 - 600) s, its sig the reference HMAC. Returns the new header
 * and where its sig is.
 */

static u_char *
psb_resign(ngx_str_t *header, ngx_http_sandbox_bridge_hmac_auth_t *a,
    ngx_str_t *method, ngx_str_t *target, ngx_str_t *host, ngx_str_t *body,
    ngx_http_sandbox_bridge_hmac_key_t *key, ngx_int_t *delta, u_char **sig)
{
    u_char        *h, *q, *canon, *ts_at, *sig_at;
    size_t         n, clen;
    ssize_t        shift;
    ngx_str_t      path, query, *first, *second;
    unsigned int   maclen;
    u_char         body_hex[64], mac[EVP_MAX_MD_SIZE];
    u_char         ts[NGX_TIME_T_LEN];

    *delta = (ngx_int_t) (ngx_atotm(a->ts.data, a->ts.len) % 1201) - 600;
    n = ngx_sprintf(ts, "%T", ngx_time() + *delta) - ts;

    h = malloc(header->len + n + 64);
    psb_fuzz_assert(h != NULL, "out of memory");

    first = (a->ts.data < a->sig.data) ? &a->ts : &a->sig;
    second = (first == &a->ts) ? &a->sig : &a->ts;

    q = ngx_cpymem(h, header->data, first->data - header->data);

    if (first == &a->ts) {
        ts_at = q;
        q += n;
    } else {
        sig_at = q;
        q += 64;
    }

    q = ngx_cpymem(q, first->data + first->len,
                   second->data - first->data - first->len);

    if (second == &a->ts) {
        ts_at = q;
        q += n;
    } else {
        sig_at = q;
        q += 64;
    }

    q = ngx_cpymem(q, second->data + second->len,
                   header->data + header->len - second->data - second->len);

    /* keyId and nonce move with the header, by the change of ts's length */
    shift = (ssize_t) n - (ssize_t) a->ts.len;

    a->key_id.data = h + ((a->key_id.data - header->data)
                          + ((a->key_id.data > a->ts.data) ? shift : 0));
    a->nonce.data = h + ((a->nonce.data - header->data)
                         + ((a->nonce.data > a->ts.data) ? shift : 0));

    ngx_memcpy(ts_at, ts, n);
    a->ts.data = ts_at;
    a->ts.len = n;

    header->data = h;
    header->len = q - h;

    psb_sha256_hex(body->data, body->len, body_hex);
    psb_split_target(target, &path, &query);

    canon = psb_ref_canonical(method, &path, &query, host, a, body_hex,
                              &clen);

    if (key) {
        psb_fuzz_assert(HMAC(EVP_sha256(), key->secret.data,
                             (int) key->secret.len, canon, clen, mac,
                             &maclen)
                        != NULL && maclen == 32, "HMAC");
    } else {
        ngx_memset(mac, 0x5a, 32);
    }

    free(canon);

    psb_hex(sig_at, mac, 32);
    a->sig.data = sig_at;

    *sig = sig_at;

    return h;
}


static void
psb_check_signed_access(ngx_pool_t *pool, ngx_str_t *header,
    ngx_str_t *method, ngx_str_t *target, ngx_str_t *host,
    ngx_uint_t has_host, ngx_str_t *body)
{
    u_char                               *h, *sig, c;
    ngx_int_t                             rc, delta;
    ngx_str_t                             hdr;
    ngx_uint_t                            i, k, nkeys;
    ngx_http_request_t                   *r;
    ngx_http_sandbox_bridge_hmac_key_t   *key;
    ngx_http_sandbox_bridge_hmac_auth_t   a;

    if (ngx_http_sandbox_bridge_parse_hmac(header, &a) != NGX_OK) {
        rc = psb_access(pool, header, method, target, host, has_host, &r);
        psb_expect_401(rc, PSB_BAD_SIG, "unparsable signature");
        return;
    }

    if (ngx_strncmp(a.sig.data, "00000000000000000000000000000000"
                    "00000000000000000000000000000000", 64) != 0)
    {
        /* a signature from the fuzzer can only be refused */
        rc = psb_access(pool, header, method, target, host, has_host, &r);
        psb_expect_401(rc, NULL, "foreign signature");
        return;
    }

    nkeys = sizeof(psb_keys) / sizeof(psb_keys[0]);
    key = NULL;

    for (k = 0; k < nkeys; k++) {
        if (psb_fuzz_eq(psb_keys[k].id.data, psb_keys[k].id.len,
                        a.key_id.data, a.key_id.len))
        {
            key = &psb_keys[k];
        }
    }

    hdr = *header;
    h = psb_resign(&hdr, &a, method, target, host, body, key, &delta, &sig);

    rc = psb_access(pool, &hdr, method, target, host, has_host, &r);

    if (key == NULL) {
        psb_expect_401(rc, PSB_BAD_SIG, "unknown key");
        goto done;
    }

    if (delta > 300 || delta < -300) {
        psb_expect_401(rc, PSB_BAD_TS, "outside the window");
        goto done;
    }

    for (i = 0; i < psb_hosts_a.nelts; i++) {
        if (has_host && host->len == psb_hosts[i].len
            && ngx_strncasecmp(host->data, psb_hosts[i].data, host->len) == 0)
        {
            break;
        }
    }

    if (i == psb_hosts_a.nelts) {
        psb_expect_401(rc, PSB_BAD_HOST, "host");
        goto done;
    }

    /* key, window and Host fit: the reference signature must pass */

    psb_fuzz_assert(psb_redis.calls == 1,
                    "a correctly signed request was refused: %.*s\n%.*s",
                    (int) psb_fuzz_resp.len, psb_fuzz_resp.body,
                    (int) hdr.len, hdr.data);

    psb_expect_pass(rc, r, key->cred.data, key->cred.len, key->admin,
                    "a correctly signed request");

    /* the nonce key: <prefix>nonce:{<keyId>}:<nonce> */
    {
        u_char  want[512], *e;

        e = ngx_snprintf(want, sizeof(want), "%Vnonce:{%V}:%V",
                         &psb_fuzz_mcf->redis_prefix, &a.key_id, &a.nonce);

        psb_fuzz_assert(psb_fuzz_eq(psb_nonces[psb_nnonces - 1].data,
                                    psb_nonces[psb_nnonces - 1].len,
                                    want, e - want),
                        "nonce key \"%.*s\"",
                        (int) psb_nonces[psb_nnonces - 1].len,
                        psb_nonces[psb_nnonces - 1].data);
    }

    /* one hex digit changed: refused before the nonce is looked at */
    i = (delta + 600) % 64;
    c = sig[i];
    sig[i] = (c == '0') ? '1' : '0';

    rc = psb_access(pool, &hdr, method, target, host, has_host, &r);
    psb_expect_401(rc, PSB_BAD_SIG, "tampered signature");

    sig[i] = c;

    /* the same request again is a replay */
    rc = psb_access(pool, &hdr, method, target, host, has_host, &r);
    psb_expect_401(rc, PSB_REPLAY, "replay");

done:

    free(h);
}


int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    u_char               *data, *p, *last, *nl;
    ngx_int_t             rc;
    ngx_str_t             line[4], body, header, t;
    ngx_uint_t            nlines, i, has_host;
    ngx_pool_t           *pool, *cp;
    ngx_http_request_t   *r;

    psb_fuzz_init();

    if (psb_creds_a.elts == NULL) {
        /* the location: bearer and signed, two keys, two hosts */
        cp = ngx_cycle->pool;

        psb_fuzz_assert(ngx_array_init(&psb_creds_a, cp, 4,
                                     sizeof(ngx_http_sandbox_bridge_cred_t))
                        == NGX_OK, "out of memory");

        t.data = psb_user_tokens;
        t.len = sizeof(psb_user_tokens) - 1;
        psb_fuzz_assert(ngx_http_sandbox_bridge_parse_tokens(cp, &t,
                                                         &psb_creds_a, 0)
                        == NGX_OK, "parse_tokens");

        t.data = psb_admin_tokens;
        t.len = sizeof(psb_admin_tokens) - 1;
        psb_fuzz_assert(ngx_http_sandbox_bridge_parse_tokens(cp, &t,
                                                         &psb_creds_a, 1)
                        == NGX_OK, "parse_tokens");

        psb_fuzz_assert(psb_creds_a.nelts == 3, "%lu tokens",
                        (unsigned long) psb_creds_a.nelts);

        psb_keys_a.elts = psb_keys;
        psb_keys_a.nelts = sizeof(psb_keys) / sizeof(psb_keys[0]);
        psb_keys_a.size = sizeof(ngx_http_sandbox_bridge_hmac_key_t);
        psb_keys_a.nalloc = psb_keys_a.nelts;
        psb_keys_a.pool = cp;

        psb_hosts_a.elts = psb_hosts;
        psb_hosts_a.nelts = sizeof(psb_hosts) / sizeof(psb_hosts[0]);
        psb_hosts_a.size = sizeof(ngx_str_t);
        psb_hosts_a.nalloc = psb_hosts_a.nelts;
        psb_hosts_a.pool = cp;

        psb_fuzz_lcf->creds = &psb_creds_a;
        psb_fuzz_lcf->hmac_keys = &psb_keys_a;
        psb_fuzz_lcf->hmac_hosts = &psb_hosts_a;

        ngx_snprintf((u_char *) psb_key_path, sizeof(psb_key_path),
                     "/tmp/psb-fuzz-keys-%P%Z", ngx_pid);
        atexit(psb_unlink_keys);
    }

    /* a fresh Redis for every input */
    for (i = 0; i < psb_nnonces; i++) {
        free(psb_nonces[i].data);
    }

    psb_nnonces = 0;

    psb_fuzz_lcf->auth = NGX_HTTP_SANDBOX_BRIDGE_AUTH_ANY;

    pool = psb_fuzz_pool();
    data = psb_fuzz_dup(in, size);

    /* 1. the parsers on the whole input */

    psb_check_bearer(data, size);
    psb_check_hmac(data, size);
    psb_check_tokens(pool, data, size);
    psb_check_key_file(pool, data, size);

    /* 2. the request: header, method, target, Host, body */

    p = data;
    last = data + size;
    nlines = 0;

    while (nlines < 4) {
        nl = ngx_strlchr(p, last, '\n');

        line[nlines].data = p;
        line[nlines].len = (nl ? nl : last) - p;
        nlines++;

        if (nl == NULL) {
            p = last;
            break;
        }

        p = nl + 1;
    }

    has_host = (nlines == 4);

    for (i = nlines; i < 4; i++) {
        ngx_str_null(&line[i]);
    }

    if (line[1].len == 0) {
        ngx_str_set(&line[1], "POST");
    }

    if (line[2].len == 0) {
        ngx_str_set(&line[2], PSB_FUZZ_PREFIX "/exec");
    }

    body.data = p;
    body.len = last - p;

    psb_fuzz_body = body;
    psb_fuzz_body_seed = (uint32_t) size;

    header = line[0];

    psb_check_bearer(header.data, header.len);
    psb_check_hmac(header.data, header.len);
    psb_check_canonical(pool, &header, &line[1], &line[2], &line[3], &body);

    /* 3. the access handler */

    if (header.len > 16 && ngx_memcmp(header.data, PSB_SCHEME " ", 16) == 0)
    {
        psb_check_signed_access(pool, &header, &line[1], &line[2], &line[3],
                                has_host, &body);

    } else {
        psb_check_bearer_access(pool, &header, &line[1], &line[2], &line[3],
                                has_host);

        /* a location that takes signed requests only */
        psb_fuzz_lcf->auth = NGX_HTTP_SANDBOX_BRIDGE_AUTH_HMAC;

        rc = psb_access(pool, &header, &line[1], &line[2], &line[3],
                        has_host, &r);
        psb_expect_401(rc, PSB_SIGNED_ONLY, "signed only");
    }

    ngx_destroy_pool(pool);
    free(data);

    return 0;
}
