
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_compat.h"


/*
 * Docker-compatible engines that answer some calls with another status
 * than Docker (README "Podman"): the status Docker would have sent, so the
 * flows check Docker's statuses only.
 */

typedef struct {
    ngx_uint_t  status;
    ngx_str_t   cause;
    ngx_uint_t  docker;
} ngx_http_sandbox_bridge_compat_map_t;


static ngx_http_sandbox_bridge_compat_map_t
    ngx_http_sandbox_bridge_compat_map[] = {

    /* podman: POST /containers/create?name=<a name in use> */
    { NGX_HTTP_INTERNAL_SERVER_ERROR, ngx_string("that name is already in use"),
      NGX_HTTP_CONFLICT },

    { 0, ngx_null_string, 0 }
};


ngx_uint_t
ngx_http_sandbox_bridge_compat_status(ngx_uint_t status, u_char *body,
    size_t len)
{
    json_t                                *reply, *cause;
    ngx_uint_t                             docker;
    ngx_http_sandbox_bridge_compat_map_t  *m;

    for (m = ngx_http_sandbox_bridge_compat_map; m->status; m++) {
        if (m->status == status) {
            break;
        }
    }

    if (m->status == 0 || len == 0) {
        return status;
    }

    /* podman's error body: {"cause":…,"message":…,"response":<status>} */
    reply = json_loadb((char *) body, len, 0, NULL);
    cause = reply ? json_object_get(reply, "cause") : NULL;
    docker = status;

    if (json_is_string(cause)) {
        for ( /* void */ ; m->status; m++) {
            if (m->status == status
                && json_string_length(cause) == m->cause.len
                && ngx_strncmp(json_string_value(cause), m->cause.data,
                               m->cause.len)
                   == 0)
            {
                docker = m->docker;
                break;
            }
        }
    }

    json_decref(reply);

    return docker;
}
