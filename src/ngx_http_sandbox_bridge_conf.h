
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_CONF_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_CONF_H_INCLUDED_


#include "ngx_http_sandbox_bridge_module.h"


/* bounds whose errors name the directive */
typedef struct {
    ngx_conf_post_handler_pt  post_handler;
    ngx_int_t                 low;
    ngx_int_t                 high;
} ngx_http_sandbox_bridge_bounds_t;


char *ngx_http_sandbox_bridge_redis_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_sandbox_bridge_docker_location(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_sandbox_bridge_cpus(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_sandbox_bridge_label(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_sandbox_bridge_network(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_sandbox_bridge_runtime(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_sandbox_bridge_cap_add(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_sandbox_bridge_auth_mode(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_sandbox_bridge_check_bounds(ngx_conf_t *cf, void *post,
    void *data);
char *ngx_http_sandbox_bridge_check_msec(ngx_conf_t *cf, void *post,
    void *data);


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_CONF_H_INCLUDED_ */
