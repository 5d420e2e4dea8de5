
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_TAR_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_TAR_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * A small tar archive built in memory for Docker's archive API: ustar
 * entries owned by uid 0, gid 0, a pax header before a name too long
 * for ustar; file contents are linked where they are, not copied.
 */

typedef struct {
    ngx_pool_t     *pool;
    ngx_chain_t    *out;
    ngx_chain_t   **last;
    ngx_chain_t    *tail;
    off_t           len;
} ngx_http_sandbox_bridge_tar_t;


void ngx_http_sandbox_bridge_tar_init(ngx_http_sandbox_bridge_tar_t *tar,
    ngx_pool_t *pool);

/* a regular file */
ngx_int_t ngx_http_sandbox_bridge_tar_add(ngx_http_sandbox_bridge_tar_t *tar,
    ngx_str_t *name, ngx_uint_t mode, ngx_str_t *data);

/* the two zero blocks that end the archive; tar->out is then complete */
ngx_int_t ngx_http_sandbox_bridge_tar_finish(
    ngx_http_sandbox_bridge_tar_t *tar);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_TAR_H_INCLUDED_ */
