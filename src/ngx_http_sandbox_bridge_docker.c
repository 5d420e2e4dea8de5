
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_util.h"


static ngx_int_t ngx_http_sandbox_bridge_call_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static ngx_int_t ngx_http_sandbox_bridge_capture(ngx_http_request_t *sr,
    ngx_http_sandbox_bridge_call_t *call, ngx_chain_t *in);
static ngx_int_t ngx_http_sandbox_bridge_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_sandbox_bridge_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


static ngx_str_t  ngx_http_sandbox_bridge_methods[] = {
    ngx_string("GET"),
    ngx_string("POST"),
    ngx_string("PUT"),
    ngx_string("DELETE"),
};


/*
 * One Docker Engine API call as a subrequest to the operator's internal
 * location, which proxy_passes to the Docker socket or TCP/TLS endpoint.
 */

ngx_int_t
ngx_http_sandbox_bridge_docker_call(ngx_http_request_t *r,
    ngx_str_t *location, ngx_uint_t method, ngx_str_t *uri, ngx_str_t *args,
    const char *content_type, ngx_chain_t *body, off_t body_len,
    ngx_http_sandbox_bridge_call_t *call)
{
    ngx_str_t                       full;
    ngx_table_elt_t                *h;
    ngx_http_request_t             *sr;
    ngx_http_request_body_t        *rb;
    ngx_http_post_subrequest_t     *ps;
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    if (location->len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "sandbox bridge: no \"sandbox_docker_location\"");
        return NGX_ERROR;
    }

    full.len = location->len + uri->len;
    full.data = ngx_pnalloc(r->pool, full.len);
    if (full.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(full.data, location->data, location->len),
               uri->data, uri->len);

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_sandbox_bridge_call_done;
    ps->data = call;

    call->done = 0;
    call->status = 0;
    call->rc = 0;
    call->len = 0;
    call->truncated = 0;

    if (call->limit == 0) {
        call->limit = NGX_HTTP_SANDBOX_BRIDGE_CAPTURE_MAX;
    }

    if (ngx_http_subrequest(r, &full, args, &sr, ps,
                            NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->method = (method == NGX_HTTP_POST) ? NGX_HTTP_POST
                 : (method == NGX_HTTP_PUT) ? NGX_HTTP_PUT
                 : (method == NGX_HTTP_DELETE) ? NGX_HTTP_DELETE
                 : NGX_HTTP_GET;
    sr->method_name = ngx_http_sandbox_bridge_methods[
                          (method == NGX_HTTP_POST) ? 1
                          : (method == NGX_HTTP_PUT) ? 2
                          : (method == NGX_HTTP_DELETE) ? 3 : 0];

    /* none of the client's headers reach Docker */
    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 2,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->headers_in.content_length_n = body ? body_len : -1;

    if (content_type) {
        h = ngx_list_push(&sr->headers_in.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Content-Type");
        h->value.data = (u_char *) content_type;
        h->value.len = ngx_strlen(content_type);
        h->lowcase_key = (u_char *) "content-type";

        sr->headers_in.content_type = h;
    }

    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (rb == NULL) {
        return NGX_ERROR;
    }

    rb->bufs = body;
    sr->request_body = rb;

    call->sr = sr;

    ngx_http_set_ctx(sr, call, ngx_http_sandbox_bridge_module);

    if (ctx) {
        ctx->pending++;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_sandbox_bridge_docker_json_call(ngx_http_request_t *r,
    ngx_str_t *location, ngx_uint_t method, ngx_str_t *uri, ngx_str_t *args,
    json_t *body, ngx_http_sandbox_bridge_call_t *call)
{
    size_t        len;
    u_char       *p;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (body == NULL) {
        return ngx_http_sandbox_bridge_docker_call(r, location, method, uri,
                                                   args, NULL, NULL, 0, call);
    }

    p = ngx_http_sandbox_bridge_json_dump(r->pool, body, &len);
    json_decref(body);

    if (p == NULL) {
        return NGX_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);
    if (b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    b->pos = p;
    b->last = p + len;
    b->memory = 1;
    b->last_buf = 1;

    cl->buf = b;
    cl->next = NULL;

    return ngx_http_sandbox_bridge_docker_call(r, location, method, uri, args,
                                               "application/json", cl, len,
                                               call);
}


static ngx_int_t
ngx_http_sandbox_bridge_call_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    ngx_http_sandbox_bridge_call_t *call = data;

    ngx_http_request_t             *pr;
    ngx_http_sandbox_bridge_ctx_t  *ctx;

    if (call->done) {
        return rc;
    }

    call->done = 1;
    call->rc = rc;

    if (sr->upstream && sr->upstream->headers_in.status_n) {
        call->status = sr->upstream->headers_in.status_n;
    }

    pr = sr->parent;
    pr->write_event_handler = ngx_http_sandbox_bridge_wake;

    ctx = ngx_http_get_module_ctx(pr, ngx_http_sandbox_bridge_module);
    if (ctx && ctx->pending) {
        ctx->pending--;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "sandbox bridge: docker \"%V\" done rc:%i status:%ui",
                   &sr->uri, rc, call->status);

    if (rc == NGX_ERROR || rc == NGX_HTTP_CLIENT_CLOSED_REQUEST
        || sr->connection->error)
    {
        return rc;
    }

    /* Docker's errors are ours to report, not nginx error pages */
    return NGX_OK;
}


/* the parsed JSON reply of a capture call, or NULL */

json_t *
ngx_http_sandbox_bridge_docker_reply(ngx_http_sandbox_bridge_call_t *call)
{
    if (call->len == 0 || call->truncated) {
        return NULL;
    }

    return json_loadb((char *) call->body, call->len, JSON_DECODE_ANY, NULL);
}


/* "Docker API ...": a short, safe description of a failed call */

u_char *
ngx_http_sandbox_bridge_docker_error(ngx_http_sandbox_bridge_call_t *call,
    u_char *buf, size_t size)
{
    json_t      *reply, *msg;
    const char  *text;

    if (call->status == 0) {
        return ngx_snprintf(buf, size, "Docker API unreachable (nginx %i)",
                            call->rc);
    }

    reply = ngx_http_sandbox_bridge_docker_reply(call);
    msg = reply ? json_object_get(reply, "message") : NULL;
    text = json_is_string(msg) ? json_string_value(msg) : NULL;

    buf = ngx_snprintf(buf, size, "Docker API returned %ui%s%s",
                       call->status, text ? ": " : "", text ? text : "");

    json_decref(reply);

    return buf;
}


static ngx_int_t
ngx_http_sandbox_bridge_capture(ngx_http_request_t *sr,
    ngx_http_sandbox_bridge_call_t *call, ngx_chain_t *in)
{
    size_t        n, cap;
    u_char       *p;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (!ngx_buf_in_memory(b)) {
            if (b->in_file) {
                b->file_pos = b->file_last;
                call->truncated = 1;
            }

            continue;
        }

        n = b->last - b->pos;

        if (call->len + n > call->limit) {
            n = call->limit - call->len;
            call->truncated = 1;
        }

        if (call->len + n > call->cap) {
            cap = ngx_max(call->cap * 2, 4096);

            while (cap < call->len + n) {
                cap *= 2;
            }

            p = ngx_pnalloc(sr->pool, cap);
            if (p == NULL) {
                return NGX_ERROR;
            }

            if (call->len) {
                ngx_memcpy(p, call->body, call->len);
            }

            call->body = p;
            call->cap = cap;
        }

        if (n) {
            ngx_memcpy(call->body + call->len, b->pos, n);
            call->len += n;
        }

        b->pos = b->last;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_sandbox_bridge_header_filter(ngx_http_request_t *r)
{
    ngx_http_sandbox_bridge_call_t  *call;

    if (r == r->main) {
        if (ngx_http_sandbox_bridge_error_header(r) == NGX_ERROR) {
            return NGX_ERROR;
        }

    } else {
        call = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

        if (call && r->upstream) {
            /* relay as it arrives; the body filters apply backpressure */
            r->upstream->buffering = 0;
        }
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_sandbox_bridge_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t                        rc;
    ngx_chain_t                     *out;
    ngx_http_sandbox_bridge_call_t  *call;

    if (r == r->main) {
        rc = ngx_http_sandbox_bridge_error_body(r, in, &out);

        if (rc == NGX_DECLINED) {
            return ngx_http_next_body_filter(r, in);
        }

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        return ngx_http_next_body_filter(r, out);
    }

    call = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    if (call == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    /* an error answer is JSON, not the stream: capture it */
    if (call->body_filter && r->headers_out.status == NGX_HTTP_OK) {
        return call->body_filter(r, call, in);
    }

    return ngx_http_sandbox_bridge_capture(r, call, in);
}


ngx_int_t
ngx_http_sandbox_bridge_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_sandbox_bridge_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_sandbox_bridge_body_filter;

    return NGX_OK;
}


ngx_int_t
ngx_http_sandbox_bridge_next_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in)
{
    return ngx_http_next_body_filter(r, in);
}


/*
 * A request with no client, used as the parent of background Docker
 * calls (the reaper, clean-up after a client went away).
 */

ngx_http_request_t *
ngx_http_sandbox_bridge_fake_request(ngx_http_sandbox_bridge_loc_conf_t *lcf)
{
    ngx_log_t                  *log, *clog;
    ngx_pool_t                 *pool;
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_http_log_ctx_t         *lctx;
    ngx_http_core_main_conf_t  *cmcf;

    /* nothing may point into a client's memory: it can go away first */
    log = ngx_cycle->log;

    c = ngx_get_connection(0, log);
    if (c == NULL) {
        return NULL;
    }

    c->fd = (ngx_socket_t) -1;

    c->pool = ngx_create_pool(1024, log);
    if (c->pool == NULL) {
        goto failed;
    }

    clog = ngx_pcalloc(c->pool, sizeof(ngx_log_t));
    lctx = ngx_pcalloc(c->pool, sizeof(ngx_http_log_ctx_t));
    if (clog == NULL || lctx == NULL) {
        goto failed;
    }

    *clog = *log;
    clog->data = lctx;
    clog->handler = NULL;
    clog->action = "sandbox bridge background work";

    c->log = clog;
    c->pool->log = clog;
    c->read->log = clog;
    c->write->log = clog;

    /*
     * No client socket: keep upstream from watching, tuning or timing
     * one. A write event that is active and ready never gets a send
     * timer; the handlers are there in case any event fires anyway.
     */
    c->write->active = 1;
    c->write->ready = 1;
    c->read->active = 1;
    c->read->handler = ngx_http_empty_handler;
    c->write->handler = ngx_http_empty_handler;
    c->tcp_nodelay = NGX_TCP_NODELAY_DISABLED;
    c->tcp_nopush = NGX_TCP_NOPUSH_DISABLED;

    pool = ngx_create_pool(4096, clog);
    if (pool == NULL) {
        goto failed;
    }

    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    if (r == NULL) {
        ngx_destroy_pool(pool);
        goto failed;
    }

    r->pool = pool;
    r->signature = NGX_HTTP_MODULE;
    r->connection = c;
    r->main_conf = lcf->cscf->ctx->main_conf;
    r->srv_conf = lcf->cscf->ctx->srv_conf;
    r->loc_conf = lcf->cscf->ctx->loc_conf;

    r->ctx = ngx_pcalloc(pool, sizeof(void *) * ngx_http_max_module);
    if (r->ctx == NULL) {
        goto failed_request;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    r->variables = ngx_pcalloc(pool, cmcf->variables.nelts
                                     * sizeof(ngx_http_variable_value_t));
    if (r->variables == NULL) {
        goto failed_request;
    }

    if (ngx_list_init(&r->headers_out.headers, pool, 2,
                      sizeof(ngx_table_elt_t))
        != NGX_OK
        || ngx_list_init(&r->headers_in.headers, pool, 2,
                         sizeof(ngx_table_elt_t))
           != NGX_OK)
    {
        goto failed_request;
    }

    r->headers_in.content_length_n = -1;
    r->headers_out.content_length_n = -1;

    r->main = r;
    r->count = 1;
    r->subrequests = NGX_HTTP_MAX_SUBREQUESTS + 1;
    r->method = NGX_HTTP_GET;
    ngx_str_set(&r->method_name, "GET");
    r->http_version = NGX_HTTP_VERSION_11;
    ngx_str_set(&r->uri, "/");
    ngx_str_set(&r->unparsed_uri, "/");
    ngx_str_set(&r->http_protocol, "HTTP/1.1");

    r->internal = 1;
    r->logged = 1;
    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_sandbox_bridge_wake;

    lctx->connection = c;
    lctx->request = r;
    lctx->current_request = r;

    c->data = r;

    return r;

failed_request:

    ngx_destroy_pool(pool);

failed:

    if (c->pool) {
        ngx_destroy_pool(c->pool);
    }

    ngx_free_connection(c);

    return NULL;
}


void
ngx_http_sandbox_bridge_fake_request_free(ngx_http_request_t *r)
{
    ngx_pool_t        *pool;
    ngx_connection_t  *c;

    c = r->connection;

    ngx_http_free_request(r, 0);

    /* subrequests may have armed the connection's send timer */
    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->destroyed = 1;
    pool = c->pool;

    ngx_free_connection(c);
    ngx_destroy_pool(pool);
}
