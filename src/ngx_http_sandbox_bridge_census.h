
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_CENSUS_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_CENSUS_H_INCLUDED_


#include "ngx_http_sandbox_bridge_module.h"


ngx_int_t ngx_http_sandbox_bridge_census_init(ngx_cycle_t *cycle,
    ngx_http_sandbox_bridge_main_conf_t *mcf);
void ngx_http_sandbox_bridge_census_exit(void);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_CENSUS_H_INCLUDED_ */
