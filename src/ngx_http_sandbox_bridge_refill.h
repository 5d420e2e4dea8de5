
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_REFILL_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_REFILL_H_INCLUDED_


#include "ngx_http_sandbox_bridge_request.h"


ngx_int_t ngx_http_sandbox_bridge_refill_init(ngx_cycle_t *cycle,
    ngx_http_sandbox_bridge_main_conf_t *mcf);
void ngx_http_sandbox_bridge_refill_exit(void);
void ngx_http_sandbox_bridge_refill_start(
    ngx_http_sandbox_bridge_loc_conf_t *lcf,
    ngx_http_sandbox_bridge_host_t *host);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_REFILL_H_INCLUDED_ */
