
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_HIREDIS_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_HIREDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>


ngx_int_t ngx_http_sandbox_bridge_hiredis_attach(redisAsyncContext *ac,
    ngx_log_t *log);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_HIREDIS_H_INCLUDED_ */
