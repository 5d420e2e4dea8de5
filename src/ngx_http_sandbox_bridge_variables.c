
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_variables.h"


/*
 * $sandbox_* for log_format (README "Variables"): what the request's ctx
 * recorded. A request without a bridge ctx, or a value that never arose,
 * is "not found" (logged as "-").
 */

static ngx_int_t ngx_http_sandbox_bridge_variable_str(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_sandbox_bridge_variable_credential(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_sandbox_bridge_variable_exit_code(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_sandbox_bridge_variable_exec_ms(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_http_sandbox_bridge_ctx_t *ngx_http_sandbox_bridge_variable_ctx(
    ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_variable_set(
    ngx_http_variable_value_t *v, u_char *data, size_t len);


static ngx_http_variable_t  ngx_http_sandbox_bridge_variables[] = {

    { ngx_string("sandbox_route"), NULL,
      ngx_http_sandbox_bridge_variable_str,
      offsetof(ngx_http_sandbox_bridge_ctx_t, route_name),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("sandbox_lease_id"), NULL,
      ngx_http_sandbox_bridge_variable_str,
      offsetof(ngx_http_sandbox_bridge_ctx_t, lease_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("sandbox_credential"), NULL,
      ngx_http_sandbox_bridge_variable_credential, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("sandbox_exit_code"), NULL,
      ngx_http_sandbox_bridge_variable_exit_code, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("sandbox_exec_ms"), NULL,
      ngx_http_sandbox_bridge_variable_exec_ms, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("sandbox_docker_host"), NULL,
      ngx_http_sandbox_bridge_variable_str,
      offsetof(ngx_http_sandbox_bridge_ctx_t, docker_host),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("sandbox_error"), NULL,
      ngx_http_sandbox_bridge_variable_str,
      offsetof(ngx_http_sandbox_bridge_ctx_t, error_code),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_sandbox_bridge_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_sandbox_bridge_variables; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_sandbox_bridge_variable_str(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                      *s;
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    ctx = ngx_http_sandbox_bridge_variable_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((u_char *) ctx + data);

    ngx_http_sandbox_bridge_variable_set(v, s->data, s->len);

    return NGX_OK;
}


/* the credential's id (tok-<16 hex>, hmac:<keyId>), never a secret */

static ngx_int_t
ngx_http_sandbox_bridge_variable_credential(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    ctx = ngx_http_sandbox_bridge_variable_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_sandbox_bridge_variable_set(v, ctx->cred_id.data,
                                         ctx->cred_id.len);

    return NGX_OK;
}


/* a number, or not found when the exec gave none */

static ngx_int_t
ngx_http_sandbox_bridge_variable_number(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_uint_t known, int64_t n)
{
    u_char  *p;

    if (!known) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_http_sandbox_bridge_variable_set(v, p, ngx_sprintf(p, "%L", n) - p);

    return NGX_OK;
}


static ngx_int_t
ngx_http_sandbox_bridge_variable_exit_code(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    ctx = ngx_http_sandbox_bridge_variable_ctx(r);

    return ngx_http_sandbox_bridge_variable_number(r, v,
                                           ctx && ctx->exit_known,
                                           ctx ? (int64_t) ctx->exit_code : 0);
}


static ngx_int_t
ngx_http_sandbox_bridge_variable_exec_ms(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    ctx = ngx_http_sandbox_bridge_variable_ctx(r);

    return ngx_http_sandbox_bridge_variable_number(r, v,
                                           ctx && ctx->exec_ran,
                                           ctx ? (int64_t) ctx->exec_ms : 0);
}


/* a subrequest logs what its main request recorded */

static ngx_http_sandbox_bridge_ctx_t *
ngx_http_sandbox_bridge_variable_ctx(ngx_http_request_t *r)
{
    return ngx_http_get_module_ctx(r->main, ngx_http_sandbox_bridge_module);
}


static void
ngx_http_sandbox_bridge_variable_set(ngx_http_variable_value_t *v,
    u_char *data, size_t len)
{
    if (len == 0) {
        v->not_found = 1;
        return;
    }

    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = data;
}
