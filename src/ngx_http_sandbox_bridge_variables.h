
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_VARIABLES_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_VARIABLES_H_INCLUDED_


#include "ngx_http_sandbox_bridge_request.h"


ngx_int_t ngx_http_sandbox_bridge_add_variables(ngx_conf_t *cf);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_VARIABLES_H_INCLUDED_ */
