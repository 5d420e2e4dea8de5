
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#ifndef _NGX_HTTP_SANDBOX_BRIDGE_MODULE_H_INCLUDED_
#define _NGX_HTTP_SANDBOX_BRIDGE_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>


#define NGX_HTTP_SANDBOX_BRIDGE_VERSION  "0.1.0"

/* bits: bearer, hmac; "any" is both */
#define NGX_HTTP_SANDBOX_BRIDGE_AUTH_OFF     0
#define NGX_HTTP_SANDBOX_BRIDGE_AUTH_BEARER  1
#define NGX_HTTP_SANDBOX_BRIDGE_AUTH_HMAC    2
#define NGX_HTTP_SANDBOX_BRIDGE_AUTH_ANY     3

#define NGX_HTTP_SANDBOX_BRIDGE_DIGEST_LEN   32


typedef struct ngx_http_sandbox_bridge_ctx_s    ngx_http_sandbox_bridge_ctx_t;
typedef struct ngx_http_sandbox_bridge_metrics_s
    ngx_http_sandbox_bridge_metrics_t;
typedef struct ngx_http_sandbox_bridge_hosts_s  ngx_http_sandbox_bridge_hosts_t;
typedef struct ngx_http_sandbox_bridge_redis_s  ngx_http_sandbox_bridge_redis_t;


/* one sandbox_docker_location of a bridge (README "Docker hosts") */
typedef struct {
    ngx_str_t                         name;
    ngx_str_t                         location;
    ngx_uint_t                        weight;
    /* 0: no limit */
    ngx_uint_t                        max_leases;

    /* per worker: the last /_ping's answer and when it came */
    ngx_msec_t                        pinged_at;
    /* per worker: the warm pool's size seen by the last refill pass */
    ngx_uint_t                        pool_size;
    unsigned                          pool_known:1;
    unsigned                          pinged:1;
    unsigned                          up:1;
} ngx_http_sandbox_bridge_host_t;


struct ngx_http_sandbox_bridge_hosts_s {
    ngx_array_t                       hosts;
    /* per worker: the last /health body and the state it shows */
    void                             *health;
    /* one location without parameters: the bridge of old, unchanged */
    unsigned                          simple:1;
};


/* one accepted bearer token, kept only as its SHA-256 digest */
typedef struct {
    u_char                          digest[NGX_HTTP_SANDBOX_BRIDGE_DIGEST_LEN];
    ngx_str_t                       id;
    ngx_uint_t                      admin;
} ngx_http_sandbox_bridge_cred_t;


typedef struct {
    ngx_str_t                       key;
    ngx_str_t                       value;
} ngx_http_sandbox_bridge_kv_t;


typedef struct {
    ngx_str_t                       key_id;
    ngx_str_t                       ts;
    ngx_str_t                       nonce;
    ngx_str_t                       sig;
} ngx_http_sandbox_bridge_hmac_auth_t;


typedef struct {
    ngx_str_t                       id;
    ngx_str_t                       secret;
    ngx_str_t                       cred;
    ngx_uint_t                      admin;
} ngx_http_sandbox_bridge_hmac_key_t;



/* sandbox_redis sentinel=...: one sentinel, resolved at configuration */
typedef struct {
    ngx_str_t                       name;
    ngx_str_t                       host;
    ngx_int_t                       port;
} ngx_http_sandbox_bridge_sentinel_addr_t;


typedef struct {
    /* sandbox_redis */
    ngx_str_t                       redis_addr;
    ngx_str_t                       redis_host;
    ngx_int_t                       redis_port;
    ngx_str_t                       redis_unix;
    ngx_int_t                       redis_db;
    ngx_str_t                       redis_password;
    ngx_str_t                       redis_prefix;
    ngx_msec_t                      redis_connect_timeout;
    ngx_msec_t                      redis_command_timeout;
    ngx_array_t                    *redis_sentinels;
    ngx_str_t                       redis_master;
    ngx_str_t                       redis_sentinel_password;
    ngx_int_t                       redis_wait_replicas;
    ngx_msec_t                      redis_wait_timeout;
    /* per worker: its link, made in init_process (redis_conn.c) */
    ngx_http_sandbox_bridge_redis_t  *redis;

    ngx_msec_t                      reaper_interval;

    /* bridge locations, for the reaper */
    ngx_array_t                     bridges;

    /* sandbox_metrics_zone (README "Metrics") */
    ngx_http_sandbox_bridge_metrics_t  *metrics;

    /* prefix locations and whether "internal" (docker.c) */
    ngx_array_t                    *prefix_locations;
} ngx_http_sandbox_bridge_main_conf_t;


typedef struct {
    ngx_flag_t                      enable;
    ngx_str_t                       prefix;

    ngx_uint_t                      auth;
    ngx_uint_t                      auth_set;
    ngx_array_t                    *creds;
    ngx_str_t                       token_file;
    ngx_str_t                       admin_token_file;
    ngx_array_t                    *hmac_keys;
    ngx_str_t                       hmac_key_file;
    ngx_msec_t                      hmac_skew;
    ngx_array_t                    *hmac_hosts;

    ngx_str_t                       driver;
    ngx_str_t                       docker_location;
    ngx_http_sandbox_bridge_hosts_t  *hosts;
    ngx_str_t                       image;
    ngx_str_t                       network;
    ngx_str_t                       runtime;
    off_t                           memory;
    ngx_int_t                       nano_cpus;
    ngx_int_t                       pids_limit;
    /* sandbox_warm_pool: started containers kept per Docker host */
    ngx_int_t                       warm_pool;
    ngx_array_t                    *labels;
    ngx_array_t                    *cap_add;
    ngx_flag_t                      no_new_privileges;
    ngx_flag_t                      read_only_root;

    ngx_msec_t                      exec_timeout_max;

    /* request limits (README "Limits") */
    size_t                          max_body_size;
    ngx_uint_t                      max_json_depth;
    ngx_uint_t                      max_args;
    size_t                          max_arg_size;
    ngx_uint_t                      max_env;
    size_t                          max_stdin_size;
    size_t                          max_command_size;
    size_t                          output_limit;
    ngx_msec_t                      heartbeat;

    ngx_http_core_srv_conf_t       *cscf;
} ngx_http_sandbox_bridge_loc_conf_t;


extern ngx_module_t  ngx_http_sandbox_bridge_module;


#endif /* _NGX_HTTP_SANDBOX_BRIDGE_MODULE_H_INCLUDED_ */
