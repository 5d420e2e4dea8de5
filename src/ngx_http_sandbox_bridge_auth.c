
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ngx_http_sandbox_bridge_auth.h"
#include "ngx_http_sandbox_bridge_request.h"
#include "ngx_http_sandbox_bridge_hmac.h"
#include "ngx_http_sandbox_bridge_openapi.h"
#include "ngx_http_sandbox_bridge_util.h"


#define ngx_http_sandbox_bridge_is_space(c)                                   \
    ((c) == ' ' || ((c) >= '\t' && (c) <= '\r'))


static ngx_int_t ngx_http_sandbox_bridge_sha256(u_char *data, size_t len,
    u_char *digest);


/*
 * README "Protocol": ^Bearer\s+(.+)$ with a case-insensitive scheme,
 * then trim the capture.
 */

ngx_int_t
ngx_http_sandbox_bridge_parse_bearer(ngx_str_t *header, ngx_str_t *token)
{
    u_char  *p, *last;

    if (header->len < sizeof("Bearer") - 1 + 2
        || ngx_strncasecmp(header->data, (u_char *) "Bearer",
                           sizeof("Bearer") - 1) != 0)
    {
        return NGX_DECLINED;
    }

    p = header->data + sizeof("Bearer") - 1;
    last = header->data + header->len;

    if (!ngx_http_sandbox_bridge_is_space(*p)) {
        return NGX_DECLINED;
    }

    while (p < last && ngx_http_sandbox_bridge_is_space(*p)) {
        p++;
    }

    while (last > p && ngx_http_sandbox_bridge_is_space(last[-1])) {
        last--;
    }

    if (p == last) {
        return NGX_DECLINED;
    }

    token->data = p;
    token->len = last - p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_sandbox_bridge_sha256(u_char *data, size_t len, u_char *digest)
{
    unsigned int  n;

    if (EVP_Digest(data, len, digest, &n,
                   ngx_http_sandbox_bridge_sha256_md(), NULL) != 1
        || n != NGX_HTTP_SANDBOX_BRIDGE_DIGEST_LEN)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_sandbox_bridge_auth_handler(ngx_http_request_t *r)
{
    int                                  diff;
    ngx_str_t                            token;
    ngx_uint_t                           i, matched;
    ngx_table_elt_t                     *h;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_cred_t      *cred;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;
    u_char                               digest[32];

    if (r != r->main) {
        return NGX_DECLINED;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    if (lcf->auth == NGX_HTTP_SANDBOX_BRIDGE_AUTH_OFF
        || ngx_http_sandbox_bridge_openapi_public(r))
    {
        return NGX_DECLINED;
    }

    h = r->headers_in.authorization;

    if (h && (lcf->auth & NGX_HTTP_SANDBOX_BRIDGE_AUTH_HMAC)
        && h->value.len > sizeof(NGX_HTTP_SANDBOX_BRIDGE_HMAC_SCHEME)
        && ngx_strncmp(h->value.data, NGX_HTTP_SANDBOX_BRIDGE_HMAC_SCHEME " ",
                       sizeof(NGX_HTTP_SANDBOX_BRIDGE_HMAC_SCHEME)) == 0)
    {
        ctx = ngx_http_sandbox_bridge_get_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_sandbox_bridge_hmac_check(r, ctx);
    }

    if (!(lcf->auth & NGX_HTTP_SANDBOX_BRIDGE_AUTH_BEARER)) {
        return ngx_http_sandbox_bridge_unauthorized(r,
                                     "This location requires signed "
                                     "requests.");
    }

    /* fail closed: no usable token configured */
    if (lcf->creds == NULL || lcf->creds->nelts == 0) {
        return ngx_http_sandbox_bridge_unauthorized(r,
                                        NGX_HTTP_SANDBOX_BRIDGE_UNAUTHORIZED);
    }

    if (h == NULL
        || ngx_http_sandbox_bridge_parse_bearer(&h->value, &token) != NGX_OK)
    {
        return ngx_http_sandbox_bridge_unauthorized(r,
                                        NGX_HTTP_SANDBOX_BRIDGE_UNAUTHORIZED);
    }

    if (ngx_http_sandbox_bridge_sha256(token.data, token.len, digest)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* compare against every token so timing does not tell which matched */
    cred = lcf->creds->elts;
    matched = lcf->creds->nelts;

    for (i = 0; i < lcf->creds->nelts; i++) {
        diff = CRYPTO_memcmp(digest, cred[i].digest,
                             NGX_HTTP_SANDBOX_BRIDGE_DIGEST_LEN);
        if (diff == 0) {
            matched = i;
        }
    }

    if (matched == lcf->creds->nelts) {
        return ngx_http_sandbox_bridge_unauthorized(r,
                                        NGX_HTTP_SANDBOX_BRIDGE_UNAUTHORIZED);
    }

    ctx = ngx_http_sandbox_bridge_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->cred_id = cred[matched].id;
    ctx->cred_admin = cred[matched].admin;

    return NGX_DECLINED;
}


/* one token per line; blank lines and "#" comments are skipped */

ngx_int_t
ngx_http_sandbox_bridge_parse_tokens(ngx_pool_t *pool, ngx_str_t *text,
    ngx_array_t *creds, ngx_uint_t admin)
{
    u_char                          *p, *last, *eol, *s;
    ngx_http_sandbox_bridge_cred_t  *cred;
    u_char                           id[NGX_HTTP_SANDBOX_BRIDGE_DIGEST_LEN];

    p = text->data;
    last = p + text->len;

    while (p < last) {
        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        s = eol;
        if (s > p && s[-1] == '\r') {
            s--;
        }

        /* whitespace-only lines are not tokens (README "Protocol") */
        while (p < s && ngx_http_sandbox_bridge_is_space(*p)) {
            p++;
        }

        if (p < s && *p != '#') {
            cred = ngx_array_push(creds);
            if (cred == NULL) {
                return NGX_ERROR;
            }

            cred->admin = admin;

            /* the token itself is hashed untrimmed at its end */
            if (ngx_http_sandbox_bridge_sha256(p, s - p, cred->digest)
                != NGX_OK
                || ngx_http_sandbox_bridge_sha256(cred->digest,
                                                  sizeof(cred->digest), id)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            /* a public name for the credential: sha256(sha256(token)) */
            cred->id.len = sizeof("tok-") - 1 + 16;
            cred->id.data = ngx_pnalloc(pool, cred->id.len);
            if (cred->id.data == NULL) {
                return NGX_ERROR;
            }

            ngx_hex_dump(ngx_cpymem(cred->id.data, "tok-", 4), id, 8);
        }

        p = eol + 1;
    }

    return NGX_OK;
}


/* sandbox_auth_token_file and sandbox_auth_admin_token_file */

char *
ngx_http_sandbox_bridge_token_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_sandbox_bridge_loc_conf_t *lcf = conf;

    ngx_str_t   *value, *file, text;
    ngx_uint_t   n;

    file = (ngx_str_t *) ((char *) conf + cmd->offset);

    if (file->data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    *file = value[1];

    if (ngx_http_sandbox_bridge_read_file(cf, file, &text) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (lcf->creds == NGX_CONF_UNSET_PTR) {
        lcf->creds = ngx_array_create(cf->pool, 2,
                                      sizeof(ngx_http_sandbox_bridge_cred_t));
        if (lcf->creds == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    n = lcf->creds->nelts;

    if (ngx_http_sandbox_bridge_parse_tokens(cf->pool, &text, lcf->creds,
                                             cmd->post ? 1 : 0)
        != NGX_OK)
    {
        ngx_explicit_memzero(text.data, text.len);
        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(text.data, text.len);

    if (lcf->creds->nelts == n) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"%V\" holds no token", file);
    }

    return NGX_CONF_OK;
}
