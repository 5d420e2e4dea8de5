
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
static ngx_int_t ngx_http_sandbox_bridge_too_large(ngx_http_request_t *r);
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
    ngx_str_set(&ctx->cred_id, "");

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

    /* D9: refused before a byte of it is read */
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
    ngx_buf_t                           *b;
    ngx_chain_t                         *cl;
    json_error_t                         err;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

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

    if (len > lcf->max_body_size) {
        ngx_http_sandbox_bridge_finish(r, ngx_http_sandbox_bridge_too_large(r));
        return NGX_DONE;
    }

    if (ngx_http_sandbox_bridge_json_depth(data, len) > lcf->max_json_depth) {
        return ngx_http_sandbox_bridge_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                                  "invalid_request",
                                                  "Request body nests "
                                                  "deeper than %ui levels.",
                                                  lcf->max_json_depth);
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


static ngx_int_t
ngx_http_sandbox_bridge_too_large(ngx_http_request_t *r)
{
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    r->keepalive = 0;

    return ngx_http_sandbox_bridge_send_error(r,
                                              NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                              "payload_too_large",
                                              "Request body is larger than "
                                              "%uz bytes.",
                                              lcf->max_body_size);
}


/* the deepest nesting of arrays and objects, outside strings */

ngx_uint_t
ngx_http_sandbox_bridge_json_depth(u_char *p, size_t len)
{
    u_char      *last;
    ngx_uint_t   depth, max, in_string;

    last = p + len;
    depth = 0;
    max = 0;
    in_string = 0;

    for ( /* void */ ; p < last; p++) {

        if (in_string) {
            if (*p == '\\') {
                p++;

            } else if (*p == '"') {
                in_string = 0;
            }

            continue;
        }

        switch (*p) {
        case '"':
            in_string = 1;
            break;

        case '[':
        case '{':
            if (++depth > max) {
                max = depth;
            }
            break;

        case ']':
        case '}':
            if (depth) {
                depth--;
            }
            break;
        }
    }

    return max;
}


/*
 * nginx's own error pages (413, 400, 408 ...) in a bridge location become
 * the bridge's JSON envelope.
 */

ngx_int_t
ngx_http_sandbox_bridge_error_header(ngx_http_request_t *r)
{
    size_t                               len;
    u_char                              *p;
    const char                          *code, *msg;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    if (!lcf->enable || r->err_status == 0 || r->header_only) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_sandbox_bridge_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    switch (r->err_status) {
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        code = "payload_too_large";
        msg = "Request body is too large.";
        break;
    case NGX_HTTP_BAD_REQUEST:
        code = "invalid_request";
        msg = "Bad request.";
        break;
    case NGX_HTTP_REQUEST_TIME_OUT:
        code = "request_timeout";
        msg = "Request timed out.";
        break;
    case NGX_HTTP_NOT_FOUND:
        code = "not_found";
        msg = "Not found.";
        break;
    case NGX_HTTP_SERVICE_UNAVAILABLE:
        code = "unavailable";
        msg = "Service unavailable.";
        break;
    default:
        code = "internal_error";
        msg = "Internal error.";
    }

    len = sizeof("{\"error\":\"\",\"message\":\"\"}") - 1
          + ngx_strlen(code) + ngx_strlen(msg);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->error_page.data = p;
    ctx->error_page.len = ngx_sprintf(p,
                                      "{\"error\":\"%s\",\"message\":\"%s\"}",
                                      code, msg) - p;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;
    r->headers_out.content_length_n = ctx->error_page.len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_sandbox_bridge_error_body(ngx_http_request_t *r, ngx_chain_t *in,
    ngx_chain_t **out)
{
    ngx_buf_t                      *b;
    ngx_chain_t                    *cl;
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    if (ctx == NULL || ctx->error_page.data == NULL) {
        return NGX_DECLINED;
    }

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
    }

    *out = NULL;

    if (ctx->error_page_sent) {
        return NGX_OK;
    }

    ctx->error_page_sent = 1;

    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);
    if (b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->error_page.data;
    b->last = b->pos + ctx->error_page.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    cl->buf = b;
    cl->next = NULL;
    *out = cl;

    return NGX_OK;
}
