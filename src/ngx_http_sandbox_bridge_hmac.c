
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_http_sandbox_bridge_hmac.h"
#include "ngx_http_sandbox_bridge_redis.h"
#include "ngx_http_sandbox_bridge_util.h"


/*
 * Signed requests (README "Signed requests"). The Authorization header is
 *
 *   PSB-HMAC-SHA256 keyId=<id>, ts=<unix seconds>, nonce=<nonce>,
 *       sig=<hex HMAC-SHA256(secret, canonical request)>
 *
 * and the canonical request is these lines joined with "\n":
 *
 *   PSB-HMAC-SHA256, method, path as sent (no query), the query's
 *   "&"-separated parts sorted bytewise and joined with "&", Host in
 *   lowercase, ts, nonce, hex SHA-256 of the body.
 */


#define NGX_HTTP_SANDBOX_BRIDGE_AUTH_START    0
#define NGX_HTTP_SANDBOX_BRIDGE_AUTH_READING  1
#define NGX_HTTP_SANDBOX_BRIDGE_AUTH_BODY     2
#define NGX_HTTP_SANDBOX_BRIDGE_AUTH_NONCE    3
#define NGX_HTTP_SANDBOX_BRIDGE_AUTH_PASSED   4
#define NGX_HTTP_SANDBOX_BRIDGE_AUTH_FAILED   5
#define NGX_HTTP_SANDBOX_BRIDGE_AUTH_STORE    6

#define NGX_HTTP_SANDBOX_BRIDGE_BAD_SIGNATURE                                 \
    "Missing or invalid request signature."


static ngx_int_t ngx_http_sandbox_bridge_hmac_verify(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx);
static void ngx_http_sandbox_bridge_hmac_body_read(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_hmac_nonce_reply(ngx_http_request_t *r,
    void *data, redisReply *reply);
static ngx_int_t ngx_http_sandbox_bridge_hmac_body_digest(
    ngx_http_request_t *r, u_char *hex);
static int ngx_libc_cdecl ngx_http_sandbox_bridge_cmp_str(const void *a,
    const void *b);
static ngx_int_t ngx_http_sandbox_bridge_valid_chars(ngx_str_t *s,
    size_t min, size_t max, const char *extra);


/* PSB-HMAC-SHA256 keyId=a, ts=1, nonce=n, sig=hex */

ngx_int_t
ngx_http_sandbox_bridge_parse_hmac(ngx_str_t *header,
    ngx_http_sandbox_bridge_hmac_auth_t *a)
{
    u_char     *p, *last, *name, *eq, *end;
    ngx_str_t   v, *dst;

    ngx_memzero(a, sizeof(ngx_http_sandbox_bridge_hmac_auth_t));

    if (header->len < sizeof(NGX_HTTP_SANDBOX_BRIDGE_HMAC_SCHEME)
        || ngx_strncmp(header->data, NGX_HTTP_SANDBOX_BRIDGE_HMAC_SCHEME,
                       sizeof(NGX_HTTP_SANDBOX_BRIDGE_HMAC_SCHEME) - 1)
           != 0
        || header->data[sizeof(NGX_HTTP_SANDBOX_BRIDGE_HMAC_SCHEME) - 1]
           != ' ')
    {
        return NGX_DECLINED;
    }

    p = header->data + sizeof(NGX_HTTP_SANDBOX_BRIDGE_HMAC_SCHEME);
    last = header->data + header->len;

    while (p < last) {

        while (p < last && (*p == ' ' || *p == ',')) {
            p++;
        }

        if (p == last) {
            break;
        }

        name = p;
        eq = ngx_strlchr(p, last, '=');
        if (eq == NULL) {
            return NGX_DECLINED;
        }

        end = ngx_strlchr(eq, last, ',');
        if (end == NULL) {
            end = last;
        }

        v.data = eq + 1;
        v.len = end - v.data;

        while (v.len && v.data[v.len - 1] == ' ') {
            v.len--;
        }

        if (eq - name == 5 && ngx_strncmp(name, "keyId", 5) == 0) {
            dst = &a->key_id;

        } else if (eq - name == 2 && ngx_strncmp(name, "ts", 2) == 0) {
            dst = &a->ts;

        } else if (eq - name == 5 && ngx_strncmp(name, "nonce", 5) == 0) {
            dst = &a->nonce;

        } else if (eq - name == 3 && ngx_strncmp(name, "sig", 3) == 0) {
            dst = &a->sig;

        } else {
            return NGX_DECLINED;
        }

        if (dst->data) {
            return NGX_DECLINED;
        }

        *dst = v;
        p = end;
    }

    if (ngx_http_sandbox_bridge_valid_chars(&a->key_id, 1, 64, "._-")
        != NGX_OK
        || ngx_http_sandbox_bridge_valid_chars(&a->nonce, 16, 128, "_-")
           != NGX_OK
        || a->ts.len == 0 || a->ts.len > 12
        || ngx_atoi(a->ts.data, a->ts.len) == NGX_ERROR
        || a->sig.len != 64
        || ngx_hextoi(a->sig.data, 8) == NGX_ERROR)
    {
        return NGX_DECLINED;
    }

    for (p = a->sig.data; p < a->sig.data + 64; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_sandbox_bridge_valid_chars(ngx_str_t *s, size_t min, size_t max,
    const char *extra)
{
    size_t  i;

    if (s->data == NULL || s->len < min || s->len > max) {
        return NGX_DECLINED;
    }

    for (i = 0; i < s->len; i++) {
        if (s->data[i] == '\0'
            || !(isalnum(s->data[i]) || ngx_strchr(extra, s->data[i])))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static int ngx_libc_cdecl
ngx_http_sandbox_bridge_cmp_str(const void *a, const void *b)
{
    int               rc;
    const ngx_str_t  *x = a, *y = b;

    rc = ngx_memcmp(x->data, y->data, ngx_min(x->len, y->len));
    if (rc) {
        return rc;
    }

    return (x->len > y->len) - (x->len < y->len);
}


ngx_int_t
ngx_http_sandbox_bridge_hmac_canonical(ngx_pool_t *pool, ngx_str_t *method,
    ngx_str_t *path, ngx_str_t *query, ngx_str_t *host,
    ngx_http_sandbox_bridge_hmac_auth_t *a, u_char *body_hex, ngx_str_t *out)
{
    size_t       len, n, i;
    u_char      *p, *q, *amp, *last;
    ngx_str_t   *parts;

    n = 1;
    for (p = query->data; p < query->data + query->len; p++) {
        n += (*p == '&');
    }

    parts = ngx_palloc(pool, n * sizeof(ngx_str_t));
    if (parts == NULL) {
        return NGX_ERROR;
    }

    n = 0;
    p = query->data;
    last = query->data + query->len;

    while (query->len) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        parts[n].data = p;
        parts[n].len = amp - p;
        n++;

        if (amp == last) {
            break;
        }

        p = amp + 1;
    }

    ngx_qsort(parts, n, sizeof(ngx_str_t), ngx_http_sandbox_bridge_cmp_str);

    len = sizeof(NGX_HTTP_SANDBOX_BRIDGE_HMAC_SCHEME) + method->len + 1
          + path->len + 1 + query->len + 1 + host->len + 1 + a->ts.len + 1
          + a->nonce.len + 1 + 64;

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(out->data, NGX_HTTP_SANDBOX_BRIDGE_HMAC_SCHEME "\n%V\n%V\n",
                    method, path);

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = '&';
        }

        p = ngx_cpymem(p, parts[i].data, parts[i].len);
    }

    *p++ = '\n';

    for (q = host->data; q < host->data + host->len; q++) {
        *p++ = ngx_tolower(*q);
    }

    p = ngx_sprintf(p, "\n%V\n%V\n", &a->ts, &a->nonce);
    p = ngx_cpymem(p, body_hex, 64);

    out->len = p - out->data;

    return NGX_OK;
}


/* the access-phase check; re-entered after each asynchronous step */

ngx_int_t
ngx_http_sandbox_bridge_hmac_check(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx)
{
    ngx_int_t                             rc;
    ngx_uint_t                            i;
    time_t                                ts, now;
    ngx_str_t                            *host, h;
    const char                           *argv[6];
    size_t                                argvlen[6];
    ngx_http_sandbox_bridge_hmac_key_t   *key;
    ngx_http_sandbox_bridge_loc_conf_t   *lcf;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;
    u_char                               *nkey, px[NGX_INT_T_LEN];

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_sandbox_bridge_module);

    switch (ctx->auth_state) {

    case NGX_HTTP_SANDBOX_BRIDGE_AUTH_PASSED:
        return NGX_DECLINED;

    case NGX_HTTP_SANDBOX_BRIDGE_AUTH_READING:
    case NGX_HTTP_SANDBOX_BRIDGE_AUTH_NONCE:
        return NGX_DONE;

    case NGX_HTTP_SANDBOX_BRIDGE_AUTH_FAILED:
        return ngx_http_sandbox_bridge_unauthorized(r, ctx->auth_error);

    case NGX_HTTP_SANDBOX_BRIDGE_AUTH_STORE:
        rc = ngx_http_sandbox_bridge_send_json(r,
                                       NGX_HTTP_SERVICE_UNAVAILABLE,
                                       ngx_http_sandbox_bridge_error_json(&i,
                                         NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE));
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;

    case NGX_HTTP_SANDBOX_BRIDGE_AUTH_BODY:
        break;

    default:

        if (ngx_http_sandbox_bridge_parse_hmac(
                &r->headers_in.authorization->value, &ctx->hmac)
            != NGX_OK)
        {
            return ngx_http_sandbox_bridge_unauthorized(r,
                                        NGX_HTTP_SANDBOX_BRIDGE_BAD_SIGNATURE);
        }

        ctx->hmac_key = NULL;
        key = lcf->hmac_keys ? lcf->hmac_keys->elts : NULL;

        for (i = 0; key && i < lcf->hmac_keys->nelts; i++) {
            if (key[i].id.len == ctx->hmac.key_id.len
                && ngx_strncmp(key[i].id.data, ctx->hmac.key_id.data,
                               key[i].id.len) == 0)
            {
                ctx->hmac_key = &key[i];
                break;
            }
        }

        if (ctx->hmac_key == NULL) {
            return ngx_http_sandbox_bridge_unauthorized(r,
                                        NGX_HTTP_SANDBOX_BRIDGE_BAD_SIGNATURE);
        }

        ts = ngx_atotm(ctx->hmac.ts.data, ctx->hmac.ts.len);
        now = ngx_time();

        if (ts == NGX_ERROR
            || (ts > now ? ts - now : now - ts)
               > (time_t) (lcf->hmac_skew / 1000))
        {
            return ngx_http_sandbox_bridge_unauthorized(r,
                                     "Request signature timestamp is outside "
                                     "the allowed window.");
        }

        if (lcf->hmac_hosts) {
            h = r->headers_in.host ? r->headers_in.host->value
                                   : (ngx_str_t) ngx_null_string;
            host = lcf->hmac_hosts->elts;

            for (i = 0; i < lcf->hmac_hosts->nelts; i++) {
                if (host[i].len == h.len
                    && ngx_strncasecmp(host[i].data, h.data, h.len) == 0)
                {
                    break;
                }
            }

            if (i == lcf->hmac_hosts->nelts) {
                return ngx_http_sandbox_bridge_unauthorized(r,
                                          "Request Host is not allowed.");
            }
        }

        /* the signature covers the body: read it first */
        ctx->auth_state = NGX_HTTP_SANDBOX_BRIDGE_AUTH_READING;
        ctx->auth_in_read = 1;

        r->request_body_in_single_buf = 1;

        rc = ngx_http_read_client_request_body(r,
                                     ngx_http_sandbox_bridge_hmac_body_read);
        ctx->auth_in_read = 0;

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        if (ctx->auth_state == NGX_HTTP_SANDBOX_BRIDGE_AUTH_READING) {
            return NGX_DONE;
        }

        /* read at once: drop the reference reading took */
        r->main->count--;
    }

    if (ngx_http_sandbox_bridge_hmac_verify(r, ctx) != NGX_OK) {
        return ngx_http_sandbox_bridge_unauthorized(r,
                                        NGX_HTTP_SANDBOX_BRIDGE_BAD_SIGNATURE);
    }

    /* a nonce is good once within the skew window */
    nkey = ngx_pnalloc(r->pool, mcf->redis_prefix.len
                                + sizeof("nonce:{}:") - 1
                                + ctx->hmac.key_id.len + ctx->hmac.nonce.len);
    if (nkey == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = "SET";
    argvlen[0] = 3;
    argv[1] = (char *) nkey;
    argvlen[1] = ngx_sprintf(nkey, "%Vnonce:{%V}:%V",
                             &mcf->redis_prefix, &ctx->hmac.key_id,
                             &ctx->hmac.nonce) - nkey;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = "NX";
    argvlen[3] = 2;
    argv[4] = "PX";
    argvlen[4] = 2;
    argv[5] = (char *) px;
    argvlen[5] = ngx_sprintf(px, "%M", 2 * lcf->hmac_skew + 1000) - px;

    rc = ngx_http_sandbox_bridge_redis_command(mcf, r,
                                     ngx_http_sandbox_bridge_hmac_nonce_reply,
                                     ctx, 6, argv, argvlen);
    if (rc != NGX_OK) {
        ctx->auth_state = NGX_HTTP_SANDBOX_BRIDGE_AUTH_STORE;
        return ngx_http_sandbox_bridge_hmac_check(r, ctx);
    }

    ctx->auth_state = NGX_HTTP_SANDBOX_BRIDGE_AUTH_NONCE;

    return NGX_DONE;
}


static void
ngx_http_sandbox_bridge_hmac_body_read(ngx_http_request_t *r)
{
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    ctx->auth_state = NGX_HTTP_SANDBOX_BRIDGE_AUTH_BODY;

    if (ctx->auth_in_read) {
        return;
    }

    r->main->count--;
    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


static void
ngx_http_sandbox_bridge_hmac_nonce_reply(ngx_http_request_t *r, void *data,
    redisReply *reply)
{
    ngx_http_sandbox_bridge_ctx_t *ctx = data;

    if (r == NULL) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ctx->auth_state = NGX_HTTP_SANDBOX_BRIDGE_AUTH_STORE;

    } else if (reply->type == REDIS_REPLY_STATUS) {
        ctx->auth_state = NGX_HTTP_SANDBOX_BRIDGE_AUTH_PASSED;
        ctx->cred_id = ctx->hmac_key->cred;
        ctx->cred_admin = ctx->hmac_key->admin;

    } else {
        ctx->auth_state = NGX_HTTP_SANDBOX_BRIDGE_AUTH_FAILED;
        ctx->auth_error = "Request nonce was already used.";
    }

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


static ngx_int_t
ngx_http_sandbox_bridge_hmac_verify(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx)
{
    u_char                               *q;
    ngx_str_t                             path, query, host, canonical;
    unsigned int                          n;
    u_char                                body_hex[64];
    u_char                                mac[EVP_MAX_MD_SIZE];
    u_char                                sig[32];

    if (ngx_http_sandbox_bridge_hmac_body_digest(r, body_hex) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_sandbox_bridge_raw_path(r, &path);

    /* the path as sent, trailing slashes kept */
    q = path.data + path.len;
    while (q < r->unparsed_uri.data + r->unparsed_uri.len && *q == '/') {
        q++;
    }

    path.len = q - path.data;

    query.len = 0;
    query.data = q;

    if (q < r->unparsed_uri.data + r->unparsed_uri.len && *q == '?') {
        query.data = q + 1;
        query.len = r->unparsed_uri.data + r->unparsed_uri.len - query.data;
    }

    host = r->headers_in.host ? r->headers_in.host->value
                              : (ngx_str_t) ngx_null_string;

    if (ngx_http_sandbox_bridge_hmac_canonical(r->pool, &r->method_name,
                                               &path, &query, &host,
                                               &ctx->hmac, body_hex,
                                               &canonical)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (HMAC(ngx_http_sandbox_bridge_sha256_md(), ctx->hmac_key->secret.data,
             (int) ctx->hmac_key->secret.len, canonical.data, canonical.len,
             mac, &n)
        == NULL || n != 32)
    {
        return NGX_ERROR;
    }

    if (ngx_http_sandbox_bridge_unhex(ctx->hmac.sig.data, 64, sig) != NGX_OK) {
        return NGX_DECLINED;
    }

    return CRYPTO_memcmp(mac, sig, 32) == 0 ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_sandbox_bridge_hmac_body_digest(ngx_http_request_t *r, u_char *hex)
{
    off_t          off;
    ssize_t        n;
    EVP_MD_CTX    *md;
    ngx_buf_t     *b;
    ngx_chain_t   *cl;
    unsigned int   len;
    u_char         digest[EVP_MAX_MD_SIZE];
    u_char         buf[4096];

    md = EVP_MD_CTX_new();
    if (md == NULL
        || EVP_DigestInit_ex(md, ngx_http_sandbox_bridge_sha256_md(), NULL)
           != 1)
    {
        EVP_MD_CTX_free(md);
        return NGX_ERROR;
    }

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        b = cl->buf;

        if (b->in_file) {
            for (off = b->file_pos; off < b->file_last; off += n) {
                n = ngx_read_file(b->file, buf,
                                  ngx_min((off_t) sizeof(buf),
                                          b->file_last - off), off);
                if (n <= 0) {
                    EVP_MD_CTX_free(md);
                    return NGX_ERROR;
                }

                EVP_DigestUpdate(md, buf, n);
            }

            continue;
        }

        EVP_DigestUpdate(md, b->pos, b->last - b->pos);
    }

    if (EVP_DigestFinal_ex(md, digest, &len) != 1) {
        EVP_MD_CTX_free(md);
        return NGX_ERROR;
    }

    EVP_MD_CTX_free(md);

    ngx_hex_dump(hex, digest, 32);

    return NGX_OK;
}


/* lines "keyId secret [admin]"; "#" comments and blank lines skipped */

char *
ngx_http_sandbox_bridge_hmac_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_sandbox_bridge_loc_conf_t *lcf = conf;

    u_char                              *p, *q, *last, *eol, *sp, *end;
    ngx_str_t                           *value, text, id;
    ngx_http_sandbox_bridge_hmac_key_t  *key;

    if (lcf->hmac_keys != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    lcf->hmac_key_file = value[1];

    if (ngx_http_sandbox_bridge_read_file(cf, &lcf->hmac_key_file, &text)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    lcf->hmac_keys = ngx_array_create(cf->pool, 2,
                                   sizeof(ngx_http_sandbox_bridge_hmac_key_t));
    if (lcf->hmac_keys == NULL) {
        goto failed;
    }

    p = text.data;
    last = p + text.len;

    for ( /* void */ ; p < last; p = eol + 1) {
        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

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

        sp = ngx_strlchr(p, end, ' ');
        if (sp == NULL || sp == p) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" in \"sandbox_auth_hmac_key_file\" "
                               "has a line without \"keyId secret\"",
                               &lcf->hmac_key_file);
            goto failed;
        }

        id.data = p;
        id.len = sp - p;

        if (ngx_http_sandbox_bridge_valid_chars(&id, 1, 64, "._-")
            != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid key id \"%V\" in \"%V\" of "
                               "\"sandbox_auth_hmac_key_file\"", &id,
                               &lcf->hmac_key_file);
            goto failed;
        }

        key = ngx_array_push(lcf->hmac_keys);
        if (key == NULL) {
            goto failed;
        }

        ngx_memzero(key, sizeof(ngx_http_sandbox_bridge_hmac_key_t));

        key->id.data = ngx_pstrdup(cf->pool, &id);
        key->id.len = id.len;

        p = sp;
        while (p < end && *p == ' ') {
            p++;
        }

        sp = ngx_strlchr(p, end, ' ');

        if (sp) {
            /* the third field, if any, is exactly "admin" */
            q = sp;
            while (q < end && *q == ' ') {
                q++;
            }

            if (end - q != 5 || ngx_strncmp(q, "admin", 5) != 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "the line of key \"%V\" in \"%V\" of "
                                   "\"sandbox_auth_hmac_key_file\" must be "
                                   "\"keyId secret [admin]\"", &id,
                                   &lcf->hmac_key_file);
                goto failed;
            }

            key->admin = 1;

        } else {
            sp = end;
        }

        key->secret.len = sp - p;
        key->secret.data = ngx_pnalloc(cf->pool, key->secret.len);
        key->cred.len = sizeof("hmac:") - 1 + id.len;
        key->cred.data = ngx_pnalloc(cf->pool, key->cred.len);

        if (key->id.data == NULL || key->secret.data == NULL
            || key->cred.data == NULL || key->secret.len < 16)
        {
            if (key->secret.data && key->secret.len < 16) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "the secret of key \"%V\" in "
                                   "\"sandbox_auth_hmac_key_file\" is "
                                   "shorter than 16 bytes", &id);
            }

            goto failed;
        }

        ngx_memcpy(key->secret.data, p, key->secret.len);
        ngx_sprintf(key->cred.data, "hmac:%V", &id);
    }

    ngx_explicit_memzero(text.data, text.len);

    return NGX_CONF_OK;

failed:

    ngx_explicit_memzero(text.data, text.len);

    return NGX_CONF_ERROR;
}


char *
ngx_http_sandbox_bridge_hmac_hosts(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_sandbox_bridge_loc_conf_t *lcf = conf;

    ngx_str_t   *value, *h;
    ngx_uint_t   i;

    if (lcf->hmac_hosts != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    lcf->hmac_hosts = ngx_array_create(cf->pool, cf->args->nelts,
                                       sizeof(ngx_str_t));
    if (lcf->hmac_hosts == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        h = ngx_array_push(lcf->hmac_hosts);
        if (h == NULL) {
            return NGX_CONF_ERROR;
        }

        *h = value[i];
    }

    return NGX_CONF_OK;
}


/*
 * OpenSSL 3 looks an implementation up at every use of EVP_sha256(); an
 * explicit fetch, kept for the process (workers inherit the master's),
 * does it once. Never freed: it lives as long as the process.
 */

const EVP_MD *
ngx_http_sandbox_bridge_sha256_md(void)
{
#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
    static EVP_MD  *md;

    if (md == NULL) {
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
    }

    if (md) {
        return md;
    }
#endif

    return EVP_sha256();
}
