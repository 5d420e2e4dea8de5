
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_BACKGROUND_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_BACKGROUND_H_INCLUDED_


#include "ngx_http_sandbox_bridge_request.h"


void *ngx_http_sandbox_bridge_job(ngx_http_sandbox_bridge_loc_conf_t *lcf,
    size_t size, ngx_http_sandbox_bridge_run_pt run);
void ngx_http_sandbox_bridge_job_start(ngx_http_sandbox_bridge_op_t *op);
void ngx_http_sandbox_bridge_job_cancel(ngx_http_sandbox_bridge_op_t *op);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_BACKGROUND_H_INCLUDED_ */
