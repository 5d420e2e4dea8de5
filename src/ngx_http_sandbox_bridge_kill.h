
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_KILL_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_KILL_H_INCLUDED_


#include "ngx_http_sandbox_bridge_module.h"


ngx_int_t ngx_http_sandbox_bridge_kill(ngx_http_sandbox_bridge_loc_conf_t *lcf,
    ngx_str_t *location, ngx_str_t *container, u_char *marker,
    ngx_str_t *stdin_path);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_KILL_H_INCLUDED_ */
