
/*
 * Copyright (C) nginx-sandbox-bridge authors
 *
 * Shared pieces of the libFuzzer harnesses: the little of nginx's runtime
 * the module needs (log, cycle, pools, a fake request whose responses are
 * captured), reference checks and the assertion that turns a broken
 * invariant into a libFuzzer crash.
 */


#ifndef _PSB_FUZZ_H_INCLUDED_
#define _PSB_FUZZ_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_sandbox_bridge_module.h"


#define PSB_FUZZ_MAX_MODULES  4

#define PSB_FUZZ_PREFIX       "/api/paperclip-sandbox/v1"


/* a broken invariant: print what and where, then abort() for libFuzzer */
#define psb_fuzz_assert(cond, ...)                                            \
    do {                                                                      \
        if (!(cond)) {                                                        \
            psb_fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);            \
        }                                                                     \
    } while (0)


typedef struct {
    ngx_uint_t      headers;        /* ngx_http_send_header() calls */
    ngx_uint_t      status;
    ngx_str_t       content_type;
    off_t           content_length;
    ngx_uint_t      finalized;      /* ngx_http_finalize_request() calls */
    ngx_int_t       final_rc;
    ngx_uint_t      last_buf;
    u_char         *body;
    size_t          len;
    size_t          cap;
} psb_fuzz_response_t;


extern psb_fuzz_response_t                   psb_fuzz_resp;
extern ngx_log_t                             psb_fuzz_log;
extern ngx_http_sandbox_bridge_main_conf_t  *psb_fuzz_mcf;
extern ngx_http_sandbox_bridge_loc_conf_t   *psb_fuzz_lcf;

/* PSB_FUZZ_STRICT=1: also fail on the known findings (crashes-found/) */
extern ngx_uint_t                            psb_fuzz_strict;

/* what ngx_http_read_client_request_body() "reads" */
extern ngx_str_t                             psb_fuzz_body;
extern uint32_t                              psb_fuzz_body_seed;

/* below the module's body filters (docker.c's next): NULL passes all */
extern ngx_http_output_body_filter_pt        psb_fuzz_next_body;


void psb_fuzz_init(void);
void psb_fuzz_fail(const char *file, int line, const char *cond,
    const char *fmt, ...);
void psb_fuzz_unreachable(const char *name);

ngx_pool_t *psb_fuzz_pool(void);
ngx_http_request_t *psb_fuzz_request(ngx_pool_t *pool, ngx_uint_t method,
    u_char *uri, size_t len);
ngx_chain_t *psb_fuzz_chain(ngx_pool_t *pool, u_char *p, size_t len,
    uint32_t seed);
void psb_fuzz_response_reset(void);
json_t *psb_fuzz_response_check(const char *what);

u_char *psb_fuzz_dup(const u_char *p, size_t len);
uint32_t psb_fuzz_rand(uint32_t *state);
ngx_uint_t psb_fuzz_eq(const void *a, size_t alen, const void *b,
    size_t blen);
size_t psb_fuzz_utf8_check(const u_char *p, size_t len);
ngx_uint_t psb_fuzz_is_space(u_char c);


#endif /* _PSB_FUZZ_H_INCLUDED_ */
