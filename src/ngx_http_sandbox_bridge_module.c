
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_module.h"
#include "ngx_http_sandbox_bridge_auth.h"
#include "ngx_http_sandbox_bridge_census.h"
#include "ngx_http_sandbox_bridge_conf.h"
#include "ngx_http_sandbox_bridge_docker.h"
#include "ngx_http_sandbox_bridge_hmac.h"
#include "ngx_http_sandbox_bridge_metrics.h"
#include "ngx_http_sandbox_bridge_prom.h"
#include "ngx_http_sandbox_bridge_refill.h"
#include "ngx_http_sandbox_bridge_reaper.h"
#include "ngx_http_sandbox_bridge_router.h"
#include "ngx_http_sandbox_bridge_store.h"
#include "ngx_http_sandbox_bridge_util.h"
#include "ngx_http_sandbox_bridge_variables.h"


/*
 * Paperclip's largest stdin, 96 MiB of base64 in one body, and room for
 * the rest of that body (README "Limits")
 */
#define NGX_HTTP_SANDBOX_BRIDGE_MAX_STDIN  (96 * 1024 * 1024)
#define NGX_HTTP_SANDBOX_BRIDGE_MAX_BODY   (100 * 1024 * 1024)

/* nginx's own default client_max_body_size */
#define NGX_HTTP_SANDBOX_BRIDGE_NGX_BODY   (1024 * 1024)


static void *ngx_http_sandbox_bridge_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_sandbox_bridge_init_main_conf(ngx_conf_t *cf,
    void *conf);
static void *ngx_http_sandbox_bridge_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_sandbox_bridge_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_sandbox_bridge_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_sandbox_bridge_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_sandbox_bridge_init_process(ngx_cycle_t *cycle);
static void ngx_http_sandbox_bridge_exit_process(ngx_cycle_t *cycle);

static char *ngx_http_sandbox_bridge(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_conf_enum_t  ngx_http_sandbox_bridge_auth_modes[] = {
    { ngx_string("off"), NGX_HTTP_SANDBOX_BRIDGE_AUTH_OFF },
    { ngx_string("bearer"), NGX_HTTP_SANDBOX_BRIDGE_AUTH_BEARER },
    { ngx_string("hmac"), NGX_HTTP_SANDBOX_BRIDGE_AUTH_HMAC },
    { ngx_string("any"), NGX_HTTP_SANDBOX_BRIDGE_AUTH_ANY },
    { ngx_null_string, 0 }
};


static ngx_http_sandbox_bridge_bounds_t  ngx_http_sandbox_bridge_pids_bounds = {
    ngx_http_sandbox_bridge_check_bounds, 0, 4194304
};


static ngx_http_sandbox_bridge_bounds_t  ngx_http_sandbox_bridge_pool_bounds = {
    ngx_http_sandbox_bridge_check_bounds, 0, 1000
};


static ngx_http_sandbox_bridge_bounds_t
    ngx_http_sandbox_bridge_reaper_bounds = {
    ngx_http_sandbox_bridge_check_msec, 1000, 86400000
};


static ngx_http_sandbox_bridge_bounds_t
    ngx_http_sandbox_bridge_heartbeat_bounds = {
    ngx_http_sandbox_bridge_check_msec, 100, 3600000
};


static ngx_str_t  ngx_http_sandbox_bridge_default_caps[] = {
    ngx_string("CHOWN"),
    ngx_string("DAC_OVERRIDE"),
    ngx_string("FOWNER"),
    ngx_string("FSETID"),
    ngx_string("KILL"),
    ngx_string("SETGID"),
    ngx_string("SETUID"),
    ngx_null_string
};


static ngx_http_sandbox_bridge_bounds_t
    ngx_http_sandbox_bridge_depth_bounds = {
    ngx_http_sandbox_bridge_check_bounds, 2, 512
};


static ngx_http_sandbox_bridge_bounds_t
    ngx_http_sandbox_bridge_count_bounds = {
    ngx_http_sandbox_bridge_check_bounds, 0, 1048576
};


/* marks sandbox_auth_admin_token_file */
static ngx_uint_t  ngx_http_sandbox_bridge_admin = 1;


static ngx_command_t  ngx_http_sandbox_bridge_commands[] = {

    { ngx_string("sandbox_bridge"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_sandbox_bridge,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("sandbox_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_sandbox_bridge_auth_mode,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, auth),
      &ngx_http_sandbox_bridge_auth_modes },

    { ngx_string("sandbox_auth_token_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_sandbox_bridge_token_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, token_file),
      NULL },

    { ngx_string("sandbox_auth_admin_token_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_sandbox_bridge_token_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, admin_token_file),
      &ngx_http_sandbox_bridge_admin },

    { ngx_string("sandbox_auth_hmac_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_sandbox_bridge_hmac_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("sandbox_auth_hmac_skew"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, hmac_skew),
      NULL },

    { ngx_string("sandbox_auth_hmac_hosts"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_sandbox_bridge_hmac_hosts,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("sandbox_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_sandbox_bridge_redis_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("sandbox_reaper_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_main_conf_t, reaper_interval),
      &ngx_http_sandbox_bridge_reaper_bounds },

    { ngx_string("sandbox_metrics_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE23,
      ngx_http_sandbox_bridge_metrics_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("sandbox_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_sandbox_bridge_prom,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("sandbox_docker_location"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_sandbox_bridge_docker_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, docker_location),
      NULL },

    { ngx_string("sandbox_image"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, image),
      NULL },

    { ngx_string("sandbox_network"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_sandbox_bridge_network,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, network),
      NULL },

    { ngx_string("sandbox_runtime"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_sandbox_bridge_runtime,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, runtime),
      NULL },

    { ngx_string("sandbox_memory"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_off_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, memory),
      NULL },

    { ngx_string("sandbox_cpus"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_sandbox_bridge_cpus,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, nano_cpus),
      NULL },

    { ngx_string("sandbox_pids_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, pids_limit),
      &ngx_http_sandbox_bridge_pids_bounds },

    { ngx_string("sandbox_label"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_sandbox_bridge_label,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, labels),
      NULL },

    { ngx_string("sandbox_cap_add"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_sandbox_bridge_cap_add,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, cap_add),
      NULL },

    { ngx_string("sandbox_no_new_privileges"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, no_new_privileges),
      NULL },

    { ngx_string("sandbox_read_only_root"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, read_only_root),
      NULL },

    { ngx_string("sandbox_warm_pool"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, warm_pool),
      &ngx_http_sandbox_bridge_pool_bounds },

    { ngx_string("sandbox_exec_timeout_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, exec_timeout_max),
      NULL },

    { ngx_string("sandbox_max_body_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, max_body_size),
      NULL },

    { ngx_string("sandbox_max_json_depth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, max_json_depth),
      &ngx_http_sandbox_bridge_depth_bounds },

    { ngx_string("sandbox_max_args"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, max_args),
      &ngx_http_sandbox_bridge_count_bounds },

    { ngx_string("sandbox_max_arg_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, max_arg_size),
      NULL },

    { ngx_string("sandbox_max_env"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, max_env),
      &ngx_http_sandbox_bridge_count_bounds },

    { ngx_string("sandbox_max_stdin_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, max_stdin_size),
      NULL },

    { ngx_string("sandbox_max_command_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, max_command_size),
      NULL },

    { ngx_string("sandbox_output_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, output_limit),
      NULL },

    { ngx_string("sandbox_heartbeat_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_sandbox_bridge_loc_conf_t, heartbeat),
      &ngx_http_sandbox_bridge_heartbeat_bounds },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_sandbox_bridge_module_ctx = {
    ngx_http_sandbox_bridge_preconfiguration, /* preconfiguration */
    ngx_http_sandbox_bridge_postconfiguration, /* postconfiguration */

    ngx_http_sandbox_bridge_create_main_conf, /* create main configuration */
    ngx_http_sandbox_bridge_init_main_conf, /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_sandbox_bridge_create_loc_conf, /* create location configuration */
    ngx_http_sandbox_bridge_merge_loc_conf /* merge location configuration */
};


ngx_module_t  ngx_http_sandbox_bridge_module = {
    NGX_MODULE_V1,
    &ngx_http_sandbox_bridge_module_ctx,   /* module context */
    ngx_http_sandbox_bridge_commands,      /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_sandbox_bridge_init_process,  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_sandbox_bridge_exit_process,  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_sandbox_bridge_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_sandbox_bridge_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mcf->redis_addr = { 0, NULL };
     *     mcf->redis_password = { 0, NULL };
     */

    mcf->redis_db = NGX_CONF_UNSET;
    mcf->redis_connect_timeout = NGX_CONF_UNSET_MSEC;
    mcf->redis_command_timeout = NGX_CONF_UNSET_MSEC;
    mcf->reaper_interval = NGX_CONF_UNSET_MSEC;

    if (ngx_array_init(&mcf->bridges, cf->pool, 2, sizeof(void *))
        != NGX_OK)
    {
        return NULL;
    }

    return mcf;
}


static char *
ngx_http_sandbox_bridge_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_sandbox_bridge_main_conf_t *mcf = conf;

    ngx_conf_init_value(mcf->redis_db, 0);
    ngx_conf_init_msec_value(mcf->redis_connect_timeout, 1000);
    ngx_conf_init_msec_value(mcf->redis_command_timeout, 1000);
    ngx_conf_init_msec_value(mcf->reaper_interval, 30000);

    if (mcf->redis_prefix.data == NULL) {
        ngx_str_set(&mcf->redis_prefix, "psb:");
    }

    return ngx_http_sandbox_bridge_metrics_check(cf, mcf);
}


static void *
ngx_http_sandbox_bridge_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_sandbox_bridge_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lcf->enable = 0;
     *     lcf->prefix = { 0, NULL };
     *     lcf->docker_location = { 0, NULL };
     *     lcf->hosts = NULL;
     *     lcf->image = { 0, NULL };
     *     lcf->network = { 0, NULL };
     *     lcf->runtime = { 0, NULL };
     *     lcf->cscf = NULL;
     */

    lcf->auth = NGX_CONF_UNSET_UINT;
    lcf->creds = NGX_CONF_UNSET_PTR;
    lcf->hmac_keys = NGX_CONF_UNSET_PTR;
    lcf->hmac_skew = NGX_CONF_UNSET_MSEC;
    lcf->hmac_hosts = NGX_CONF_UNSET_PTR;
    lcf->memory = NGX_CONF_UNSET;
    lcf->nano_cpus = NGX_CONF_UNSET;
    lcf->pids_limit = NGX_CONF_UNSET;
    lcf->warm_pool = NGX_CONF_UNSET;
    lcf->labels = NGX_CONF_UNSET_PTR;
    lcf->cap_add = NGX_CONF_UNSET_PTR;
    lcf->no_new_privileges = NGX_CONF_UNSET;
    lcf->read_only_root = NGX_CONF_UNSET;
    lcf->exec_timeout_max = NGX_CONF_UNSET_MSEC;
    lcf->output_limit = NGX_CONF_UNSET_SIZE;
    lcf->max_body_size = NGX_CONF_UNSET_SIZE;
    lcf->max_json_depth = NGX_CONF_UNSET_UINT;
    lcf->max_args = NGX_CONF_UNSET_UINT;
    lcf->max_arg_size = NGX_CONF_UNSET_SIZE;
    lcf->max_env = NGX_CONF_UNSET_UINT;
    lcf->max_stdin_size = NGX_CONF_UNSET_SIZE;
    lcf->max_command_size = NGX_CONF_UNSET_SIZE;
    lcf->heartbeat = NGX_CONF_UNSET_MSEC;

    return lcf;
}


static char *
ngx_http_sandbox_bridge_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_sandbox_bridge_loc_conf_t *prev = parent;
    ngx_http_sandbox_bridge_loc_conf_t *conf = child;

    ngx_str_t                            *s, *cap;
    ngx_http_core_loc_conf_t             *clcf;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    ngx_conf_merge_uint_value(conf->auth, prev->auth,
                              NGX_HTTP_SANDBOX_BRIDGE_AUTH_OFF);

    /* a bridge never runs open by omission: sandbox_auth must be set */
    conf->auth_set |= prev->auth_set;

    if (conf->creds == NGX_CONF_UNSET_PTR) {
        conf->creds = prev->creds;
        conf->token_file = prev->token_file;
        conf->admin_token_file = prev->admin_token_file;
    }

    if (conf->creds == NGX_CONF_UNSET_PTR) {
        conf->creds = NULL;
    }

    ngx_conf_merge_str_value(conf->docker_location, prev->docker_location,
                             "");

    if (conf->hosts == NULL) {
        conf->hosts = prev->hosts;
    }

    ngx_conf_merge_str_value(conf->image, prev->image, "");
    ngx_conf_merge_str_value(conf->network, prev->network, "none");
    /* empty: the Docker host's default runtime */
    ngx_conf_merge_str_value(conf->runtime, prev->runtime, "");
    ngx_conf_merge_off_value(conf->memory, prev->memory, 1024 * 1024 * 1024);
    ngx_conf_merge_value(conf->nano_cpus, prev->nano_cpus, 1000000000);
    ngx_conf_merge_value(conf->pids_limit, prev->pids_limit, 512);
    ngx_conf_merge_value(conf->warm_pool, prev->warm_pool, 0);
    ngx_conf_merge_ptr_value(conf->labels, prev->labels, NULL);
    ngx_conf_merge_value(conf->no_new_privileges, prev->no_new_privileges, 1);
    ngx_conf_merge_value(conf->read_only_root, prev->read_only_root, 0);

    if (conf->cap_add == NGX_CONF_UNSET_PTR) {
        conf->cap_add = prev->cap_add;
    }

    if (conf->cap_add == NGX_CONF_UNSET_PTR) {
        /* the documented minimal set; everything else is dropped */
        conf->cap_add = ngx_array_create(cf->pool, 8, sizeof(ngx_str_t));
        if (conf->cap_add == NULL) {
            return NGX_CONF_ERROR;
        }

        for (cap = ngx_http_sandbox_bridge_default_caps; cap->len; cap++) {
            s = ngx_array_push(conf->cap_add);
            if (s == NULL) {
                return NGX_CONF_ERROR;
            }

            *s = *cap;
        }
    }
    ngx_conf_merge_msec_value(conf->exec_timeout_max, prev->exec_timeout_max,
                              3600000);
    ngx_conf_merge_size_value(conf->max_body_size, prev->max_body_size,
                              NGX_HTTP_SANDBOX_BRIDGE_MAX_BODY);
    ngx_conf_merge_uint_value(conf->max_json_depth, prev->max_json_depth, 32);
    ngx_conf_merge_uint_value(conf->max_args, prev->max_args, 1024);
    ngx_conf_merge_size_value(conf->max_arg_size, prev->max_arg_size,
                              64 * 1024);
    ngx_conf_merge_uint_value(conf->max_env, prev->max_env, 256);
    ngx_conf_merge_size_value(conf->max_stdin_size, prev->max_stdin_size,
                              NGX_HTTP_SANDBOX_BRIDGE_MAX_STDIN);
    ngx_conf_merge_size_value(conf->max_command_size, prev->max_command_size,
                              64 * 1024);
    ngx_conf_merge_size_value(conf->output_limit, prev->output_limit,
                              8 * 1024 * 1024);
    ngx_conf_merge_msec_value(conf->heartbeat, prev->heartbeat, 15000);

    if (conf->hmac_keys == NGX_CONF_UNSET_PTR) {
        conf->hmac_keys = prev->hmac_keys;
        conf->hmac_key_file = prev->hmac_key_file;
    }

    if (conf->hmac_keys == NGX_CONF_UNSET_PTR) {
        conf->hmac_keys = NULL;
    }

    ngx_conf_merge_ptr_value(conf->hmac_hosts, prev->hmac_hosts, NULL);
    ngx_conf_merge_msec_value(conf->hmac_skew, prev->hmac_skew, 300000);

    if (conf->hmac_skew < 1000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sandbox_auth_hmac_skew\" must be at least 1s");
        return NGX_CONF_ERROR;
    }

    if ((conf->auth & NGX_HTTP_SANDBOX_BRIDGE_AUTH_BEARER)
        && conf->creds == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sandbox_auth\" needs "
                           "\"sandbox_auth_token_file\"");
        return NGX_CONF_ERROR;
    }

    if (conf->auth & NGX_HTTP_SANDBOX_BRIDGE_AUTH_HMAC) {
        mcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_sandbox_bridge_module);

        if (conf->hmac_keys == NULL || mcf->redis_addr.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"sandbox_auth hmac\" needs "
                               "\"sandbox_auth_hmac_key_file\" and "
                               "\"sandbox_redis\" for its nonces");
            return NGX_CONF_ERROR;
        }
    }

    if (conf->enable) {
        mcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_sandbox_bridge_module);

        if (mcf->redis_addr.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"sandbox_bridge\" needs \"sandbox_redis\" "
                               "in the http block");
            return NGX_CONF_ERROR;
        }

        if (conf->docker_location.len == 0 || conf->image.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"sandbox_bridge\" needs "
                               "\"sandbox_docker_location\" and "
                               "\"sandbox_image\"");
            return NGX_CONF_ERROR;
        }

        if (!conf->auth_set) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"sandbox_bridge\" needs \"sandbox_auth\" "
                               "(\"sandbox_auth off;\" to serve without "
                               "authentication)");
            return NGX_CONF_ERROR;
        }

        if (conf->auth == NGX_HTTP_SANDBOX_BRIDGE_AUTH_OFF) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "\"sandbox_bridge\" serves without "
                               "authentication (\"sandbox_auth off\")");
        }
    }

    if (ngx_http_sandbox_bridge_docker_note(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /*
     * The smaller of client_max_body_size (0: none; nginx's default, 1m,
     * counts as none) and sandbox_max_body_size applies; nginx's 413
     * becomes our JSON.
     */
    if (conf->enable
        && (clcf->client_max_body_size == 0
            || clcf->client_max_body_size == NGX_HTTP_SANDBOX_BRIDGE_NGX_BODY
            || clcf->client_max_body_size > (off_t) conf->max_body_size))
    {
        clcf->client_max_body_size = conf->max_body_size;
    }

    if (conf->enable && conf->exec_timeout_max == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sandbox_exec_timeout_max\" must be positive");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the $sandbox_* variables (README "Variables") */

static ngx_int_t
ngx_http_sandbox_bridge_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_sandbox_bridge_add_variables(cf);
}


static ngx_int_t
ngx_http_sandbox_bridge_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_sandbox_bridge_auth_handler;

    if (ngx_http_sandbox_bridge_metrics_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_sandbox_bridge_docker_init(cf);
}


static ngx_int_t
ngx_http_sandbox_bridge_init_process(ngx_cycle_t *cycle)
{
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_sandbox_bridge_module);

    if (mcf == NULL || mcf->redis_addr.len == 0) {
        return NGX_OK;
    }

    if (ngx_http_sandbox_bridge_redis_init_worker(cycle, mcf,
                                              ngx_http_sandbox_bridge_scripts,
                                              NGX_HTTP_SANDBOX_BRIDGE_NSCRIPTS)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_sandbox_bridge_census_init(cycle, mcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_sandbox_bridge_refill_init(cycle, mcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_sandbox_bridge_reaper_init(cycle, mcf);
}


static void
ngx_http_sandbox_bridge_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_sandbox_bridge_module);

    if (mcf == NULL || mcf->redis_addr.len == 0) {
        return;
    }

    ngx_http_sandbox_bridge_reaper_exit();
    ngx_http_sandbox_bridge_refill_exit();
    ngx_http_sandbox_bridge_census_exit();
    ngx_http_sandbox_bridge_redis_exit_worker(mcf);
}


static char *
ngx_http_sandbox_bridge(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_sandbox_bridge_loc_conf_t *lcf = conf;

    ngx_str_t                            *value;
    ngx_http_core_loc_conf_t             *clcf;
    ngx_http_sandbox_bridge_loc_conf_t  **bridge;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    if (lcf->enable) {
        return "is duplicate";
    }

    value = cf->args->elts;
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (ngx_http_sandbox_bridge_prom_location(clcf)) {
        return "cannot be in a \"sandbox_metrics\" location";
    }

    if (cf->args->nelts == 2) {
        lcf->prefix = value[1];

    } else {
        if (clcf->exact_match || clcf->named
#if (NGX_PCRE)
            || clcf->regex
#endif
           )
        {
            return "needs an explicit API prefix in this location";
        }

        lcf->prefix = clcf->name;
    }

    while (lcf->prefix.len && lcf->prefix.data[lcf->prefix.len - 1] == '/') {
        lcf->prefix.len--;
    }

    if (lcf->prefix.len == 0 || lcf->prefix.data[0] != '/') {
        if (cf->args->nelts == 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid API prefix \"%V\" in "
                               "\"sandbox_bridge\" directive, it must start "
                               "with \"/\" and not be \"/\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        return "cannot serve the API at \"/\", give a prefix";
    }

    lcf->enable = 1;
    lcf->cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);

    clcf->handler = ngx_http_sandbox_bridge_content_handler;

    mcf = ngx_http_conf_get_module_main_conf(cf,
                                             ngx_http_sandbox_bridge_module);

    bridge = ngx_array_push(&mcf->bridges);
    if (bridge == NULL) {
        return NGX_CONF_ERROR;
    }

    *bridge = lcf;

    return NGX_CONF_OK;
}


