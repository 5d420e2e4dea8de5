
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_PROM_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_PROM_H_INCLUDED_


#include "ngx_http_sandbox_bridge_module.h"


/* sandbox_metrics (README "Metrics") */
char *ngx_http_sandbox_bridge_prom(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
/* 1: a sandbox_metrics location (no bridge may share it) */
ngx_uint_t ngx_http_sandbox_bridge_prom_location(
    ngx_http_core_loc_conf_t *clcf);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_PROM_H_INCLUDED_ */
