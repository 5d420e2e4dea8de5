
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_compat.h"
#include "ngx_http_sandbox_bridge_metrics.h"
#include "ngx_http_sandbox_bridge_util.h"


static ngx_int_t ngx_http_sandbox_bridge_docker_v(
    ngx_http_sandbox_bridge_op_t *op, ngx_http_sandbox_bridge_call_t *call,
    ngx_uint_t method, ngx_uint_t next, ngx_str_t *location,
    const char *content_type, ngx_chain_t *body, off_t body_len,
    const char *fmt, va_list args);
static ngx_int_t ngx_http_sandbox_bridge_call_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static ngx_int_t ngx_http_sandbox_bridge_capture(ngx_http_request_t *sr,
    ngx_http_sandbox_bridge_call_t *call, ngx_chain_t *in);
static ngx_int_t ngx_http_sandbox_bridge_body_length(ngx_http_request_t *r);
static ngx_int_t ngx_http_sandbox_bridge_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_sandbox_bridge_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/* the Docker URIs are short; a longer one is a bug, not input */
#define NGX_HTTP_SANDBOX_BRIDGE_URI_MAX  1024


ngx_int_t
ngx_http_sandbox_bridge_docker(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_call_t *call, ngx_uint_t method, ngx_uint_t next,
    ngx_str_t *location, const char *fmt, ...)
{
    va_list    args;
    ngx_int_t  rc;

    va_start(args, fmt);
    rc = ngx_http_sandbox_bridge_docker_v(op, call, method, next, location,
                                          NULL, NULL, 0, fmt, args);
    va_end(args);

    return rc;
}


ngx_int_t
ngx_http_sandbox_bridge_docker_body(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_call_t *call, ngx_uint_t method, ngx_uint_t next,
    ngx_str_t *location, const char *content_type, ngx_chain_t *body,
    off_t body_len, const char *fmt, ...)
{
    va_list    args;
    ngx_int_t  rc;

    va_start(args, fmt);
    rc = ngx_http_sandbox_bridge_docker_v(op, call, method, next, location,
                                          content_type, body, body_len, fmt,
                                          args);
    va_end(args);

    return rc;
}


/* the body is consumed (decref'd) whatever happens */

ngx_int_t
ngx_http_sandbox_bridge_docker_json(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_call_t *call, ngx_uint_t method, ngx_uint_t next,
    ngx_str_t *location, json_t *body, const char *fmt, ...)
{
    size_t        len;
    u_char       *p;
    va_list       args;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (body == NULL) {
        return NGX_ERROR;
    }

    p = ngx_http_sandbox_bridge_json_dump(op->request->pool, body, &len);
    json_decref(body);

    if (p == NULL) {
        return NGX_ERROR;
    }

    b = ngx_calloc_buf(op->request->pool);
    cl = ngx_alloc_chain_link(op->request->pool);
    if (b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    b->pos = p;
    b->last = p + len;
    b->memory = 1;
    b->last_buf = 1;

    cl->buf = b;
    cl->next = NULL;

    va_start(args, fmt);
    rc = ngx_http_sandbox_bridge_docker_v(op, call, method, next, location,
                                          "application/json", cl, len, fmt,
                                          args);
    va_end(args);

    return rc;
}


/*
 * One Docker Engine API call as a subrequest to the operator's internal
 * location, which proxy_passes to the Docker socket or TCP/TLS endpoint.
 * fmt gives "<path>[?<args>]" after the location; the flow resumes in
 * "next" once the call is done.
 */

static ngx_int_t
ngx_http_sandbox_bridge_docker_v(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_call_t *call, ngx_uint_t method, ngx_uint_t next,
    ngx_str_t *location, const char *content_type, ngx_chain_t *body,
    off_t body_len, const char *fmt, va_list args)
{
    u_char                      *p, *q;
    ngx_str_t                    uri, qs;
    ngx_table_elt_t             *h;
    ngx_http_request_t          *r, *sr;
    ngx_http_request_body_t     *rb;
    ngx_http_post_subrequest_t  *ps;
    u_char                       buf[NGX_HTTP_SANDBOX_BRIDGE_URI_MAX];

    r = op->request;

    if (location->len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "sandbox bridge: no \"sandbox_docker_location\"");
        return NGX_ERROR;
    }

    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    if (p == buf + sizeof(buf)) {
        return NGX_ERROR;
    }

    q = ngx_strlchr(buf, p, '?');

    uri.len = location->len + ((q ? q : p) - buf);
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(uri.data, location->data, location->len), buf,
               (q ? q : p) - buf);

    ngx_str_null(&qs);

    if (q) {
        qs.len = p - q - 1;
        qs.data = ngx_pnalloc(r->pool, qs.len);
        if (qs.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(qs.data, q + 1, qs.len);
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_sandbox_bridge_call_done;
    ps->data = call;

    call->op = op;
    call->location = *location;
    call->done = 0;
    call->status = 0;
    call->rc = 0;
    call->len = 0;
    call->truncated = 0;
    call->body_len = body ? body_len : -1;

    if (call->limit == 0) {
        call->limit = NGX_HTTP_SANDBOX_BRIDGE_CAPTURE_MAX;
    }

    if (ngx_http_subrequest(r, &uri, q ? &qs : NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->method = method;

    switch (method) {
    case NGX_HTTP_POST:
        ngx_str_set(&sr->method_name, "POST");
        break;
    case NGX_HTTP_PUT:
        ngx_str_set(&sr->method_name, "PUT");
        break;
    case NGX_HTTP_DELETE:
        ngx_str_set(&sr->method_name, "DELETE");
        break;
    default:
        sr->method = NGX_HTTP_GET;
        ngx_str_set(&sr->method_name, "GET");
    }

    /* none of the client's headers reach Docker */
    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 2,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* set after the location is found: client_max_body_size is not ours */
    sr->headers_in.content_length_n = -1;

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

    op->state = next;
    op->pending++;
    op->reply = NULL;

    return NGX_OK;
}


static ngx_int_t
ngx_http_sandbox_bridge_call_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    ngx_http_sandbox_bridge_call_t *call = data;

    ngx_http_request_t            *pr;
    ngx_http_sandbox_bridge_op_t  *top;

    if (call->done) {
        return NGX_OK;
    }

    call->done = 1;
    call->rc = rc;

    if (sr->upstream && sr->upstream->headers_in.status_n) {
        call->status = sr->upstream->headers_in.status_n;
    }

    if (!call->truncated) {
        call->status = ngx_http_sandbox_bridge_compat_status(call->status,
                                                             call->body,
                                                             call->len);
    }

    /* the parent's pool lives on (a stream): give the read buffer back */
    if (sr->upstream && sr->upstream->buffer.start) {
        (void) ngx_pfree(sr->pool, sr->upstream->buffer.start);
        sr->upstream->buffer.start = NULL;
        sr->upstream->buffer.pos = NULL;
        sr->upstream->buffer.last = NULL;
        sr->upstream->buffer.end = NULL;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "sandbox bridge: docker \"%V\" done rc:%i status:%ui",
                   &sr->uri, rc, call->status);

    ngx_http_sandbox_bridge_metrics_docker(sr, &call->location, call->status);

    /* the flow resumes when nginx runs the parent request again */
    pr = sr->parent;
    pr->write_event_handler = ngx_http_sandbox_bridge_wake;

    if (call->op->pending) {
        call->op->pending--;
    }

    for (top = call->op; top->parent; top = top->parent) { /* void */ }

    if (top->end == NULL
        && (rc == NGX_ERROR || rc == NGX_HTTP_CLIENT_CLOSED_REQUEST
            || sr->connection->error))
    {
        /* the client is gone: the request ends */
        return rc;
    }

    /* Docker's errors are ours to report, not nginx error pages */
    return NGX_OK;
}


/* the parsed JSON reply of a complete capture, or NULL */

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
            /* most replies are short JSON: start small */
            cap = ngx_max(call->cap * 2, 512);

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


/* a rewrite phase handler: a Docker call's body length, past find_config */

static ngx_int_t
ngx_http_sandbox_bridge_body_length(ngx_http_request_t *r)
{
    ngx_http_sandbox_bridge_call_t  *call;

    if (r == r->main) {
        return NGX_DECLINED;
    }

    call = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);

    if (call && call->sr == r && call->body_len >= 0) {
        r->headers_in.content_length_n = call->body_len;
    }

    return NGX_DECLINED;
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


static void ngx_http_sandbox_bridge_docker_check(ngx_conf_t *cf);
static void ngx_http_sandbox_bridge_docker_check_one(ngx_conf_t *cf,
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_str_t *d);


ngx_int_t
ngx_http_sandbox_bridge_docker_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_sandbox_bridge_body_length;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_sandbox_bridge_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_sandbox_bridge_body_filter;

    ngx_http_sandbox_bridge_docker_check(cf);

    return NGX_OK;
}


/* every prefix location, from merge: is it "internal"? */

ngx_int_t
ngx_http_sandbox_bridge_docker_note(ngx_conf_t *cf)
{
    ngx_http_core_loc_conf_t             *clcf, **loc;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    mcf = ngx_http_conf_get_module_main_conf(cf,
                                             ngx_http_sandbox_bridge_module);

    /* "if" and limit_except blocks are nameless: their location counts */
    if (clcf->name.len == 0 || clcf->named || clcf->noname
        || clcf->exact_match
#if (NGX_PCRE)
        || clcf->regex
#endif
       )
    {
        return NGX_OK;
    }

    if (mcf->prefix_locations == NULL) {
        mcf->prefix_locations = ngx_array_create(cf->pool, 16,
                                                 sizeof(void *));
        if (mcf->prefix_locations == NULL) {
            return NGX_ERROR;
        }
    }

    loc = ngx_array_push(mcf->prefix_locations);
    if (loc == NULL) {
        return NGX_ERROR;
    }

    *loc = clcf;

    return NGX_OK;
}


/*
 * A Docker location that is not "internal" lets any client drive the
 * Docker API: warn for each bridge's location (the longest prefix match
 * of its API paths).
 */

static void
ngx_http_sandbox_bridge_docker_check(ngx_conf_t *cf)
{
    ngx_uint_t                            i, k;
    ngx_http_sandbox_bridge_host_t       *h;
    ngx_http_sandbox_bridge_loc_conf_t  **bridges;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf,
                                             ngx_http_sandbox_bridge_module);

    if (mcf->prefix_locations == NULL) {
        return;
    }

    bridges = mcf->bridges.elts;

    for (i = 0; i < mcf->bridges.nelts; i++) {

        if (bridges[i]->hosts == NULL) {
            ngx_http_sandbox_bridge_docker_check_one(cf, mcf,
                                           &bridges[i]->docker_location);
            continue;
        }

        h = bridges[i]->hosts->hosts.elts;

        for (k = 0; k < bridges[i]->hosts->hosts.nelts; k++) {
            ngx_http_sandbox_bridge_docker_check_one(cf, mcf, &h[k].location);
        }
    }
}


/* the longest prefix location that serves "<d>/containers/..." */

static void
ngx_http_sandbox_bridge_docker_check_one(ngx_conf_t *cf,
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_str_t *d)
{
    ngx_uint_t                  j;
    ngx_http_core_loc_conf_t  **loc, *best;

    if (d->len == 0) {
        return;
    }

    loc = mcf->prefix_locations->elts;
    best = NULL;

    for (j = 0; j < mcf->prefix_locations->nelts; j++) {
        if (loc[j]->name.len <= d->len + 1
            && ngx_strncmp(loc[j]->name.data, d->data,
                           ngx_min(loc[j]->name.len, d->len)) == 0
            && (loc[j]->name.len <= d->len
                || loc[j]->name.data[d->len] == '/')
            && (best == NULL || loc[j]->name.len > best->name.len))
        {
            best = loc[j];
        }
    }

    if (best && !best->internal) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"sandbox_docker_location %V\" is served "
                           "by location \"%V\", which is not "
                           "\"internal\": clients can reach the Docker "
                           "API through it", d, &best->name);
    }
}


ngx_int_t
ngx_http_sandbox_bridge_next_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in)
{
    return ngx_http_next_body_filter(r, in);
}
