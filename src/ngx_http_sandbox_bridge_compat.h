
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_COMPAT_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_COMPAT_H_INCLUDED_


#include "ngx_http_sandbox_bridge_module.h"


ngx_uint_t ngx_http_sandbox_bridge_compat_status(ngx_uint_t status,
    u_char *body, size_t len);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_COMPAT_H_INCLUDED_ */
