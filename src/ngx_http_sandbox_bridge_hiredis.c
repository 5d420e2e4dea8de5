
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include <sys/ioctl.h>

#include "ngx_http_sandbox_bridge_hiredis.h"


/*
 * hiredis's async context driven by nginx's event loop: its socket is
 * wrapped in an nginx connection; hiredis owns and closes the fd.
 */

static void ngx_http_sandbox_bridge_hiredis_add_read(void *privdata);
static void ngx_http_sandbox_bridge_hiredis_del_read(void *privdata);
static void ngx_http_sandbox_bridge_hiredis_add_write(void *privdata);
static void ngx_http_sandbox_bridge_hiredis_del_write(void *privdata);
static void ngx_http_sandbox_bridge_hiredis_cleanup(void *privdata);
static void ngx_http_sandbox_bridge_hiredis_read(ngx_event_t *ev);
static void ngx_http_sandbox_bridge_hiredis_write(ngx_event_t *ev);


ngx_int_t
ngx_http_sandbox_bridge_hiredis_attach(redisAsyncContext *ac, ngx_log_t *log)
{
    ngx_connection_t  *c;

    c = ngx_get_connection(ac->c.fd, log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = ac;
    c->read->handler = ngx_http_sandbox_bridge_hiredis_read;
    c->write->handler = ngx_http_sandbox_bridge_hiredis_write;
    c->read->log = log;
    c->write->log = log;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_sandbox_bridge_hiredis_add_read;
    ac->ev.delRead = ngx_http_sandbox_bridge_hiredis_del_read;
    ac->ev.addWrite = ngx_http_sandbox_bridge_hiredis_add_write;
    ac->ev.delWrite = ngx_http_sandbox_bridge_hiredis_del_write;
    ac->ev.cleanup = ngx_http_sandbox_bridge_hiredis_cleanup;

    return NGX_OK;
}


static void
ngx_http_sandbox_bridge_hiredis_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT,
                          (ngx_event_flags & NGX_USE_CLEAR_EVENT)
                          ? NGX_CLEAR_EVENT : NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "sandbox bridge: redis add read event failed");
        }
    }
}


static void
ngx_http_sandbox_bridge_hiredis_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_sandbox_bridge_hiredis_add_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT,
                          (ngx_event_flags & NGX_USE_CLEAR_EVENT)
                          ? NGX_CLEAR_EVENT : NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "sandbox bridge: redis add write event failed");
        }
    }
}


static void
ngx_http_sandbox_bridge_hiredis_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/* hiredis frees its context: the connection goes, not the fd */

static void
ngx_http_sandbox_bridge_hiredis_cleanup(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->data = NULL;

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
}


static void
ngx_http_sandbox_bridge_hiredis_read(ngx_event_t *ev)
{
    int                 n;
    ngx_socket_t        fd;
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    c = ev->data;
    ac = c->data;

    if (ac == NULL) {
        return;
    }

    fd = c->fd;

    /* hiredis reads one chunk per call; drain under edge triggering */
    for ( ;; ) {
        redisAsyncHandleRead(ac);

        /* the context was freed while its replies ran */
        if (c->fd != fd || c->data != ac) {
            break;
        }

        if (ioctl(fd, FIONREAD, &n) == -1 || n <= 0) {
            break;
        }
    }
}


static void
ngx_http_sandbox_bridge_hiredis_write(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    if (c->data) {
        redisAsyncHandleWrite(c->data);
    }
}
