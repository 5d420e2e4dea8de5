
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_background.h"


/*
 * A job is a flow without a client: the reaper, a kill, a clean-up. It
 * runs in a request of its own with no socket, started from a posted
 * event and freed from another, so it never runs inside, or frees a
 * connection under, code that is still using it.
 */

typedef struct {
    /* first: the connection's log context (c->log->data) */
    ngx_http_log_ctx_t                log_ctx;
    ngx_event_t                       start;
    ngx_event_t                       free;
    ngx_http_sandbox_bridge_op_t     *op;
} ngx_http_sandbox_bridge_job_t;


static ngx_http_request_t *ngx_http_sandbox_bridge_fake_request(
    ngx_http_sandbox_bridge_loc_conf_t *lcf);
static void ngx_http_sandbox_bridge_fake_request_free(ngx_http_request_t *r);
static void ngx_http_sandbox_bridge_job_run(ngx_event_t *ev);
static void ngx_http_sandbox_bridge_job_end(ngx_http_sandbox_bridge_op_t *op);
static void ngx_http_sandbox_bridge_job_free(ngx_event_t *ev);


/* a zeroed op of "size" bytes for run(); started by job_start() */

void *
ngx_http_sandbox_bridge_job(ngx_http_sandbox_bridge_loc_conf_t *lcf,
    size_t size, ngx_http_sandbox_bridge_run_pt run)
{
    ngx_http_request_t             *r;
    ngx_http_sandbox_bridge_op_t   *op;
    ngx_http_sandbox_bridge_ctx_t  *ctx;
    ngx_http_sandbox_bridge_job_t  *job;

    r = ngx_http_sandbox_bridge_fake_request(lcf);
    if (r == NULL) {
        return NULL;
    }

    job = r->connection->log->data;

    ctx = ngx_http_sandbox_bridge_get_ctx(r);
    op = ctx ? ngx_http_sandbox_bridge_op_create(r, size, run) : NULL;

    if (op == NULL) {
        ngx_http_sandbox_bridge_fake_request_free(r);
        return NULL;
    }

    op->end = ngx_http_sandbox_bridge_job_end;
    ctx->op = op;
    job->op = op;

    return op;
}


void
ngx_http_sandbox_bridge_job_start(ngx_http_sandbox_bridge_op_t *op)
{
    ngx_http_sandbox_bridge_job_t  *job;

    job = op->request->connection->log->data;

    ngx_post_event(&job->start, &ngx_posted_events);
}


/* a job that was never started */

void
ngx_http_sandbox_bridge_job_cancel(ngx_http_sandbox_bridge_op_t *op)
{
    ngx_http_sandbox_bridge_fake_request_free(op->request);
}


static void
ngx_http_sandbox_bridge_job_run(ngx_event_t *ev)
{
    ngx_connection_t               *c;
    ngx_http_sandbox_bridge_job_t  *job = ev->data;

    c = job->log_ctx.connection;

    job->op->run(job->op);

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_sandbox_bridge_job_end(ngx_http_sandbox_bridge_op_t *op)
{
    ngx_http_sandbox_bridge_job_t  *job;

    job = op->request->connection->log->data;

    ngx_post_event(&job->free, &ngx_posted_events);
}


static void
ngx_http_sandbox_bridge_job_free(ngx_event_t *ev)
{
    ngx_http_sandbox_bridge_job_t  *job = ev->data;

    ngx_http_sandbox_bridge_fake_request_free(job->log_ctx.request);
}


static ngx_http_request_t *
ngx_http_sandbox_bridge_fake_request(ngx_http_sandbox_bridge_loc_conf_t *lcf)
{
    ngx_log_t                      *log, *clog;
    ngx_pool_t                     *pool;
    ngx_connection_t               *c;
    ngx_http_request_t             *r;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_sandbox_bridge_job_t  *job;

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
    job = ngx_pcalloc(c->pool, sizeof(ngx_http_sandbox_bridge_job_t));
    if (clog == NULL || job == NULL) {
        goto failed;
    }

    *clog = *log;
    clog->data = job;
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

    job->log_ctx.connection = c;
    job->log_ctx.request = r;
    job->log_ctx.current_request = r;

    job->start.handler = ngx_http_sandbox_bridge_job_run;
    job->start.data = job;
    job->start.log = clog;

    job->free.handler = ngx_http_sandbox_bridge_job_free;
    job->free.data = job;
    job->free.log = clog;

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


static void
ngx_http_sandbox_bridge_fake_request_free(ngx_http_request_t *r)
{
    ngx_pool_t                     *pool;
    ngx_connection_t               *c;
    ngx_http_sandbox_bridge_job_t  *job;

    c = r->connection;
    job = c->log->data;

    if (job->start.posted) {
        ngx_delete_posted_event(&job->start);
    }

    if (job->free.posted) {
        ngx_delete_posted_event(&job->free);
    }

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
