
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_router.h"
#include "ngx_http_sandbox_bridge_admin.h"
#include "ngx_http_sandbox_bridge_body.h"
#include "ngx_http_sandbox_bridge_destroy.h"
#include "ngx_http_sandbox_bridge_exec.h"
#include "ngx_http_sandbox_bridge_health.h"
#include "ngx_http_sandbox_bridge_input.h"
#include "ngx_http_sandbox_bridge_lease.h"
#include "ngx_http_sandbox_bridge_openapi.h"
#include "ngx_http_sandbox_bridge_util.h"


/*
 * a route: its name ($sandbox_route), its flow, the size of its op; an
 * admin route is not found for other credentials
 */
typedef struct {
    ngx_str_t                          name;
    ngx_uint_t                         method;
    ngx_str_t                          path;
    ngx_http_sandbox_bridge_run_pt     run;
    size_t                            *size;
    ngx_uint_t                         admin;
} ngx_http_sandbox_bridge_route_t;


static void ngx_http_sandbox_bridge_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_sandbox_bridge_parse_body(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx);
static ngx_int_t ngx_http_sandbox_bridge_not_found(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx);
static ngx_int_t ngx_http_sandbox_bridge_too_large(ngx_http_request_t *r);
static ngx_int_t ngx_http_sandbox_bridge_answered(ngx_http_request_t *r,
    ngx_int_t rc);
static ngx_http_sandbox_bridge_route_t *ngx_http_sandbox_bridge_match(
    ngx_http_request_t *r, ngx_http_sandbox_bridge_ctx_t *ctx);


static ngx_http_sandbox_bridge_route_t  ngx_http_sandbox_bridge_routes[] = {

    { ngx_string("health"), NGX_HTTP_GET, ngx_string("/health"),
      ngx_http_sandbox_bridge_health, &ngx_http_sandbox_bridge_health_size,
      0 },

    { ngx_string("probe"), NGX_HTTP_POST, ngx_string("/probe"),
      ngx_http_sandbox_bridge_probe, &ngx_http_sandbox_bridge_lease_size,
      0 },

    { ngx_string("acquire"), NGX_HTTP_POST, ngx_string("/leases/acquire"),
      ngx_http_sandbox_bridge_acquire, &ngx_http_sandbox_bridge_lease_size,
      0 },

    { ngx_string("resume"), NGX_HTTP_POST, ngx_string("/leases/resume"),
      ngx_http_sandbox_bridge_resume, &ngx_http_sandbox_bridge_lease_size,
      0 },

    { ngx_string("release"), NGX_HTTP_POST, ngx_string("/leases/release"),
      ngx_http_sandbox_bridge_release,
      &ngx_http_sandbox_bridge_destroy_size, 0 },

    /* a prefix route takes exactly one more segment */
    { ngx_string("delete"), NGX_HTTP_DELETE, ngx_string("/leases/"),
      ngx_http_sandbox_bridge_delete, &ngx_http_sandbox_bridge_destroy_size,
      0 },

    { ngx_string("exec"), NGX_HTTP_POST, ngx_string("/exec"),
      ngx_http_sandbox_bridge_exec, &ngx_http_sandbox_bridge_exec_size,
      0 },

    /* extensions (README "Admin view of leases", "OpenAPI") */
    { ngx_string("leases"), NGX_HTTP_GET, ngx_string("/leases"),
      ngx_http_sandbox_bridge_admin_leases,
      &ngx_http_sandbox_bridge_admin_size, 1 },

    { ngx_string("lease"), NGX_HTTP_GET, ngx_string("/leases/"),
      ngx_http_sandbox_bridge_admin_lease,
      &ngx_http_sandbox_bridge_admin_size, 1 },

    { ngx_string("openapi"), NGX_HTTP_GET, ngx_string("/openapi.json"),
      ngx_http_sandbox_bridge_openapi, &ngx_http_sandbox_bridge_openapi_size,
      0 },

    { ngx_null_string, 0, ngx_null_string, NULL, NULL, 0 }
};


ngx_int_t
ngx_http_sandbox_bridge_content_handler(ngx_http_request_t *r)
{
    ngx_int_t                            rc;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    if (r != r->main) {
        return NGX_HTTP_NOT_FOUND;
    }

    ctx = ngx_http_sandbox_bridge_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    /* refused before a byte of it is read */
    if (r->headers_in.content_length_n > (off_t) lcf->max_body_size) {
        return ngx_http_sandbox_bridge_too_large(r);
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r,
                                          ngx_http_sandbox_bridge_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_sandbox_bridge_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_http_sandbox_bridge_op_t     *op;
    ngx_http_sandbox_bridge_ctx_t    *ctx;
    ngx_http_sandbox_bridge_route_t  *rt;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    if (ctx->body_read) {
        return;
    }

    ctx->body_read = 1;

    rt = ngx_http_sandbox_bridge_match(r, ctx);

    if (rt == NULL || (rt->admin && !ctx->cred_admin)) {
        ngx_http_finalize_request(r,
                                ngx_http_sandbox_bridge_not_found(r, ctx));
        return;
    }

    ctx->route_name = rt->name;

    if (r->method == NGX_HTTP_POST) {
        rc = ngx_http_sandbox_bridge_parse_body(r, ctx);

        if (rc == NGX_DONE) {
            return;
        }

        if (rc != NGX_OK) {
            ngx_http_finalize_request(r, rc);
            return;
        }

        /*
         * reading and parsing a large body takes a while: the timers of
         * the steps that follow (Redis, Docker) count from now
         */
        if (ctx->body_data) {
            ngx_time_update();
        }
    }

    op = ngx_http_sandbox_bridge_op_create(r, *rt->size, rt->run);
    if (op == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->op = op;
    r->write_event_handler = ngx_http_sandbox_bridge_wake;

    op->run(op);
}


static ngx_http_sandbox_bridge_route_t *
ngx_http_sandbox_bridge_match(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx)
{
    ngx_http_sandbox_bridge_route_t     *rt;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    ngx_http_sandbox_bridge_raw_path(r, &ctx->path);

    if (ctx->path.len < lcf->prefix.len
        || ngx_strncmp(ctx->path.data, lcf->prefix.data, lcf->prefix.len)
           != 0)
    {
        return NULL;
    }

    ctx->route.data = ctx->path.data + lcf->prefix.len;
    ctx->route.len = ctx->path.len - lcf->prefix.len;

    for (rt = ngx_http_sandbox_bridge_routes; rt->run; rt++) {

        if (rt->method != r->method) {
            continue;
        }

        if (rt->path.data[rt->path.len - 1] == '/') {
            if (ctx->route.len > rt->path.len
                && ngx_strncmp(ctx->route.data, rt->path.data,
                               rt->path.len) == 0
                && ngx_strlchr(ctx->route.data + rt->path.len,
                               ctx->route.data + ctx->route.len, '/')
                   == NULL)
            {
                return rt;
            }

            continue;
        }

        if (ctx->route.len == rt->path.len
            && ngx_strncmp(ctx->route.data, rt->path.data, rt->path.len)
               == 0)
        {
            return rt;
        }
    }

    return NULL;
}


static ngx_int_t
ngx_http_sandbox_bridge_not_found(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx)
{
    u_char     *p, c;
    size_t      i;
    ngx_str_t   path;

    static u_char  hex[] = "0123456789ABCDEF";

    /* like a URL's pathname: bytes outside printable ASCII are escaped */
    path.data = ngx_pnalloc(r->pool, 3 * ctx->path.len);
    if (path.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = path.data;

    for (i = 0; i < ctx->path.len; i++) {
        c = ctx->path.data[i];

        if (c <= 0x20 || c >= 0x7f) {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];
            continue;
        }

        *p++ = c;
    }

    path.len = p - path.data;

    return ngx_http_sandbox_bridge_send_json(r, NGX_HTTP_NOT_FOUND,
                           ngx_http_sandbox_bridge_error_jsonf("not_found",
                                                 "No bridge route matched "
                                                 "%V %V.",
                                                 &r->method_name, &path));
}


/*
 * NGX_OK: ctx->body is a JSON object; NGX_DONE: an error answer was sent
 * and the request finalized; else an nginx status.
 */

static ngx_int_t
ngx_http_sandbox_bridge_parse_body(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx)
{
    size_t                               len;
    u_char                              *data;
    ssize_t                              n;
    ngx_buf_t                           *b;
    ngx_uint_t                           status;
    ngx_chain_t                         *cl;
    json_t                              *err_body;
    json_error_t                         err;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    len = 0;
    data = NULL;
    cl = r->request_body ? r->request_body->bufs : NULL;

    if (cl && cl->next == NULL && !cl->buf->in_file) {
        /* one buffer in memory: used as it is */
        data = cl->buf->pos;
        len = cl->buf->last - cl->buf->pos;

    } else if (cl) {

        for ( /* void */ ; cl; cl = cl->next) {
            len += ngx_buf_size(cl->buf);
        }

        /* the one copy of the body; freed once its stdin is staged */
        data = ngx_pnalloc(r->pool, len + 1);
        if (data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->body_data = data;
        len = 0;

        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            b = cl->buf;

            if (b->in_file) {
                n = ngx_read_file(b->file, data + len,
                                  b->file_last - b->file_pos, b->file_pos);
                if (n != b->file_last - b->file_pos) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                len += n;
                continue;
            }

            len = ngx_cpymem(data + len, b->pos, b->last - b->pos) - data;
        }
    }

    if (len > lcf->max_body_size) {
        return ngx_http_sandbox_bridge_answered(r,
                                       ngx_http_sandbox_bridge_too_large(r));
    }

    if (len && ngx_http_sandbox_bridge_json_depth(data, len)
               > lcf->max_json_depth)
    {
        err_body = ngx_http_sandbox_bridge_error_jsonf("invalid_request",
                                            "Request body nests deeper "
                                            "than %ui levels.",
                                            lcf->max_json_depth);

        return ngx_http_sandbox_bridge_answered(r,
                                ngx_http_sandbox_bridge_send_json(r,
                                          NGX_HTTP_BAD_REQUEST, err_body));
    }

    if (len) {
        ctx->body = ngx_http_sandbox_bridge_body_load(data, len,
                                                      &ctx->stdin_data, &err);

        if (ctx->body == NULL) {
            err_body = ngx_http_sandbox_bridge_error_jsonf("invalid_request",
                                            "Request body is not valid "
                                            "JSON: %s.", err.text);

            return ngx_http_sandbox_bridge_answered(r,
                                ngx_http_sandbox_bridge_send_json(r,
                                          NGX_HTTP_BAD_REQUEST, err_body));
        }
    }

    if (!json_is_object(ctx->body)) {
        err_body = ngx_http_sandbox_bridge_error_json(&status,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_NOT_JSON);

        return ngx_http_sandbox_bridge_answered(r,
                                ngx_http_sandbox_bridge_send_json(r, status,
                                                                  err_body));
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_sandbox_bridge_too_large(ngx_http_request_t *r)
{
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    r->keepalive = 0;

    return ngx_http_sandbox_bridge_send_json(r,
                           NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                           ngx_http_sandbox_bridge_error_jsonf(
                                            "payload_too_large",
                                            "Request body is larger than "
                                            "%uz bytes.",
                                            lcf->max_body_size));
}


/* an error answer: the request ends with it */

static ngx_int_t
ngx_http_sandbox_bridge_answered(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}
