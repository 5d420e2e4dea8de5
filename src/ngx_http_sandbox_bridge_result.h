
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_RESULT_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_RESULT_H_INCLUDED_


#include "ngx_http_sandbox_bridge_dexec.h"


/* a finished exec's result object (README "Exec"); *len its size */
ngx_chain_t *ngx_http_sandbox_bridge_result(
    ngx_http_sandbox_bridge_dexec_t *ex, ngx_uint_t sse, size_t *len);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_RESULT_H_INCLUDED_ */
