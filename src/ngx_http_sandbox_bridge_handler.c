
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_handler.h"
#include "ngx_http_sandbox_bridge_exec.h"
#include "ngx_http_sandbox_bridge_health.h"
#include "ngx_http_sandbox_bridge_lease.h"
#include "ngx_http_sandbox_bridge_util.h"


typedef ngx_int_t (*ngx_http_sandbox_bridge_route_pt)(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx);


typedef struct {
    ngx_uint_t                         method;
    ngx_str_t                          path;
    ngx_http_sandbox_bridge_route_pt   handler;
} ngx_http_sandbox_bridge_route_t;


static void ngx_http_sandbox_bridge_body_handler(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_ctx_cleanup(void *data);
static void ngx_http_sandbox_bridge_sleep_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_sandbox_bridge_parse_body(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx);
static ngx_int_t ngx_http_sandbox_bridge_not_found(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx);
static ngx_http_sandbox_bridge_route_pt ngx_http_sandbox_bridge_match(
    ngx_http_request_t *r, ngx_http_sandbox_bridge_ctx_t *ctx);


static ngx_http_sandbox_bridge_route_t  ngx_http_sandbox_bridge_routes[] = {

    { NGX_HTTP_GET, ngx_string("/health"),
      ngx_http_sandbox_bridge_health },

    { NGX_HTTP_POST, ngx_string("/probe"),
      ngx_http_sandbox_bridge_probe },

    { NGX_HTTP_POST, ngx_string("/leases/acquire"),
      ngx_http_sandbox_bridge_acquire },

    { NGX_HTTP_POST, ngx_string("/leases/resume"),
      ngx_http_sandbox_bridge_resume },

    { NGX_HTTP_POST, ngx_string("/leases/release"),
      ngx_http_sandbox_bridge_release },

    { NGX_HTTP_DELETE, ngx_string("/leases/"),
      ngx_http_sandbox_bridge_delete },

    { NGX_HTTP_POST, ngx_string("/exec"),
      ngx_http_sandbox_bridge_exec_route },

    { 0, ngx_null_string, NULL }
};


ngx_http_sandbox_bridge_ctx_t *
ngx_http_sandbox_bridge_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t             *cln;
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    if (ctx) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_sandbox_bridge_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_sandbox_bridge_ctx_cleanup;
    cln->data = ctx;

    ctx->request = r;

    ngx_http_set_ctx(r, ctx, ngx_http_sandbox_bridge_module);

    return ctx;
}


static void
ngx_http_sandbox_bridge_ctx_cleanup(void *data)
{
    ngx_http_sandbox_bridge_ctx_t  *ctx = data;

    if (ctx->sleep.timer_set) {
        ngx_del_timer(&ctx->sleep);
    }

    if (ctx->body) {
        json_decref(ctx->body);
        ctx->body = NULL;
    }
}


/* resume with step after ms, without blocking anything */

void
ngx_http_sandbox_bridge_sleep(ngx_http_request_t *r, ngx_msec_t ms,
    ngx_http_sandbox_bridge_step_pt step)
{
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    ctx->resume = step;
    ctx->pending++;

    ctx->sleep.handler = ngx_http_sandbox_bridge_sleep_handler;
    ctx->sleep.data = r;
    ctx->sleep.log = r->connection->log;

    ngx_add_timer(&ctx->sleep, ms);
}


static void
ngx_http_sandbox_bridge_sleep_handler(ngx_event_t *ev)
{
    ngx_connection_t               *c;
    ngx_http_request_t             *r;
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    ctx->pending--;

    ngx_http_sandbox_bridge_wake(r);
    ngx_http_run_posted_requests(c);
}


ngx_int_t
ngx_http_sandbox_bridge_content_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    if (r != r->main) {
        return NGX_HTTP_NOT_FOUND;
    }

    ctx = ngx_http_sandbox_bridge_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
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
    ngx_int_t                          rc;
    ngx_http_sandbox_bridge_ctx_t     *ctx;
    ngx_http_sandbox_bridge_route_pt   handler;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    if (ctx->body_read) {
        return;
    }

    ctx->body_read = 1;

    handler = ngx_http_sandbox_bridge_match(r, ctx);

    if (handler == ngx_http_sandbox_bridge_not_found
        || r->method != NGX_HTTP_POST)
    {
        rc = handler(r, ctx);

    } else {
        rc = ngx_http_sandbox_bridge_parse_body(r, ctx);

        if (rc == NGX_OK) {
            rc = handler(r, ctx);
        }
    }

    if (rc == NGX_DONE) {
        return;
    }

    ngx_http_sandbox_bridge_finish(r, rc);
}


static ngx_http_sandbox_bridge_route_pt
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
        return ngx_http_sandbox_bridge_not_found;
    }

    ctx->route.data = ctx->path.data + lcf->prefix.len;
    ctx->route.len = ctx->path.len - lcf->prefix.len;

    for (rt = ngx_http_sandbox_bridge_routes; rt->handler; rt++) {

        if (rt->method != r->method) {
            continue;
        }

        if (rt->path.data[rt->path.len - 1] == '/') {
            /* a prefix route takes exactly one more segment (D5) */
            if (ctx->route.len > rt->path.len
                && ngx_strncmp(ctx->route.data, rt->path.data,
                               rt->path.len) == 0
                && ngx_strlchr(ctx->route.data + rt->path.len,
                               ctx->route.data + ctx->route.len, '/')
                   == NULL)
            {
                return rt->handler;
            }

            continue;
        }

        if (ctx->route.len == rt->path.len
            && ngx_strncmp(ctx->route.data, rt->path.data, rt->path.len)
               == 0)
        {
            return rt->handler;
        }
    }

    return ngx_http_sandbox_bridge_not_found;
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

    return ngx_http_sandbox_bridge_send_error(r, NGX_HTTP_NOT_FOUND,
                                              "not_found",
                                              "No bridge route matched "
                                              "%V %V.",
                                              &r->method_name, &path);
}


static ngx_int_t
ngx_http_sandbox_bridge_parse_body(ngx_http_request_t *r,
    ngx_http_sandbox_bridge_ctx_t *ctx)
{
    size_t         len;
    u_char        *data;
    ssize_t        n;
    ngx_buf_t     *b;
    ngx_chain_t   *cl;
    json_error_t   err;

    len = 0;
    data = NULL;

    if (r->request_body && r->request_body->bufs) {

        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            len += ngx_buf_size(cl->buf);
        }

        data = ngx_pnalloc(r->pool, len + 1);
        if (data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

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

    if (len == 0) {
        return ngx_http_sandbox_bridge_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                                  "invalid_request",
                                                  "Request body must be a "
                                                  "JSON object.");
    }

    ctx->body = json_loadb((char *) data, len, JSON_DECODE_ANY, &err);

    if (ctx->body == NULL) {
        return ngx_http_sandbox_bridge_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                                  "invalid_request",
                                                  "Request body is not "
                                                  "valid JSON: %s.",
                                                  err.text);
    }

    if (!json_is_object(ctx->body)) {
        return ngx_http_sandbox_bridge_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                                  "invalid_request",
                                                  "Request body must be a "
                                                  "JSON object.");
    }

    return NGX_OK;
}


void
ngx_http_sandbox_bridge_wake(ngx_http_request_t *r)
{
    ngx_http_sandbox_bridge_ctx_t    *ctx;
    ngx_http_sandbox_bridge_step_pt   step;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    if (ctx == NULL || ctx->finalized) {
        return;
    }

    if (ctx->pending == 0 && ctx->resume) {
        step = ctx->resume;
        ctx->resume = NULL;
        step(r);
        return;
    }

    if (r == r->connection->data
        && (r->buffered || r->connection->buffered))
    {
        if (ngx_http_output_filter(r, NULL) == NGX_ERROR) {
            ngx_http_sandbox_bridge_finish(r, NGX_ERROR);
        }
    }
}


void
ngx_http_sandbox_bridge_finish(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    if (ctx) {
        if (ctx->finalized) {
            return;
        }

        ctx->finalized = 1;
    }

    ngx_http_finalize_request(r, rc);
}


/* sends an error, ends the request and says so with NGX_DONE */

ngx_int_t
ngx_http_sandbox_bridge_reply_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *fmt, ...)
{
    va_list    args;
    ngx_int_t  rc;

    va_start(args, fmt);
    rc = ngx_http_sandbox_bridge_send_error_v(r, status, code, fmt, args);
    va_end(args);

    ngx_http_sandbox_bridge_finish(r, rc);

    return NGX_DONE;
}
