
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_ADOPT_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_ADOPT_H_INCLUDED_


#include "ngx_http_sandbox_bridge_spec.h"
#include "ngx_http_sandbox_bridge_redis.h"
#include "ngx_http_sandbox_bridge_request.h"


json_t *ngx_http_sandbox_bridge_adopt_labels(ngx_http_request_t *r,
    json_t *body, ngx_http_sandbox_bridge_spec_t *s);
void ngx_http_sandbox_bridge_adopt_fields(ngx_http_sandbox_bridge_args_t *args,
    json_t *labels);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_ADOPT_H_INCLUDED_ */
