
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_lease.h"
#include "ngx_http_sandbox_bridge_lease_end.h"
#include "ngx_http_sandbox_bridge_adopt.h"
#include "ngx_http_sandbox_bridge_spec.h"
#include "ngx_http_sandbox_bridge_dexec.h"
#include "ngx_http_sandbox_bridge_input.h"
#include "ngx_http_sandbox_bridge_store.h"
#include "ngx_http_sandbox_bridge_util.h"
#include "ngx_http_sandbox_bridge_hosts.h"
#include "ngx_http_sandbox_bridge_workspace.h"
#include "ngx_http_sandbox_bridge_claim.h"


/*
 * Probe, acquire and resume (README "Protocol"): one flow whose steps
 * differ by kind. A probe and a failed acquire without reuse destroy
 * what they made before they answer.
 */

#define NGX_HTTP_SANDBOX_BRIDGE_CREATE_RETRIES  50


size_t  ngx_http_sandbox_bridge_lease_size =
    sizeof(ngx_http_sandbox_bridge_lease_op_t);


static void ngx_http_sandbox_bridge_lease_as(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_lease_kind_e kind);
static void ngx_http_sandbox_bridge_lease_run(
    ngx_http_sandbox_bridge_lease_op_t *lo);
static void ngx_http_sandbox_bridge_lease_cleanup(void *data);
static void ngx_http_sandbox_bridge_lease_begin(
    ngx_http_sandbox_bridge_lease_op_t *lo);
static ngx_int_t ngx_http_sandbox_bridge_lease_parse(
    ngx_http_sandbox_bridge_lease_op_t *lo);
static ngx_int_t ngx_http_sandbox_bridge_lease_reply(
    ngx_http_sandbox_bridge_lease_op_t *lo);
static void ngx_http_sandbox_bridge_lease_create(
    ngx_http_sandbox_bridge_lease_op_t *lo);
static void ngx_http_sandbox_bridge_lease_inspect(
    ngx_http_sandbox_bridge_lease_op_t *lo);
static void ngx_http_sandbox_bridge_lease_inspected(
    ngx_http_sandbox_bridge_lease_op_t *lo);
static void ngx_http_sandbox_bridge_lease_prepare(
    ngx_http_sandbox_bridge_lease_op_t *lo);
static void ngx_http_sandbox_bridge_lease_prepared(
    ngx_http_sandbox_bridge_lease_op_t *lo);
static void ngx_http_sandbox_bridge_lease_start(
    ngx_http_sandbox_bridge_lease_op_t *lo);
static void ngx_http_sandbox_bridge_lease_commit(
    ngx_http_sandbox_bridge_lease_op_t *lo);


/* the three routes' flows are one, told apart by kind */

void
ngx_http_sandbox_bridge_probe(ngx_http_sandbox_bridge_op_t *op)
{
    ngx_http_sandbox_bridge_lease_as(op, NGX_HTTP_SANDBOX_BRIDGE_PROBE);
}


void
ngx_http_sandbox_bridge_acquire(ngx_http_sandbox_bridge_op_t *op)
{
    ngx_http_sandbox_bridge_lease_as(op, NGX_HTTP_SANDBOX_BRIDGE_ACQUIRE);
}


void
ngx_http_sandbox_bridge_resume(ngx_http_sandbox_bridge_op_t *op)
{
    ngx_http_sandbox_bridge_lease_as(op, NGX_HTTP_SANDBOX_BRIDGE_RESUME);
}


static void
ngx_http_sandbox_bridge_lease_as(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_lease_kind_e kind)
{
    ngx_http_sandbox_bridge_lease_op_t  *lo;

    lo = (ngx_http_sandbox_bridge_lease_op_t *) op;
    lo->spec.kind = kind;

    ngx_http_sandbox_bridge_lease_run(lo);
}


static void
ngx_http_sandbox_bridge_lease_run(ngx_http_sandbox_bridge_lease_op_t *lo)
{
    ngx_int_t                            rc;
    ngx_pool_cleanup_t                  *cln;
    ngx_http_sandbox_bridge_spec_t      *s;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    s = &lo->spec;

    switch ((ngx_http_sandbox_bridge_lease_state_e) lo->op.state) {

    case NGX_HTTP_SANDBOX_BRIDGE_LEASE_PARSE:
        cln = ngx_pool_cleanup_add(lo->op.request->pool, 0);
        if (cln == NULL) {
            ngx_http_sandbox_bridge_fail(&lo->op,
                                         NGX_HTTP_SANDBOX_BRIDGE_ERR_NOMEM);
            return;
        }

        cln->handler = ngx_http_sandbox_bridge_lease_cleanup;
        cln->data = lo;

        if (ngx_http_sandbox_bridge_lease_parse(lo) != NGX_OK) {
            return;
        }

        if (lo->spec.kind == NGX_HTTP_SANDBOX_BRIDGE_RESUME) {
            if (ngx_http_sandbox_bridge_store_touch(&lo->op, &s->key, s,
                                        NGX_HTTP_SANDBOX_BRIDGE_LEASE_TOUCHED)
                != NGX_OK)
            {
                ngx_http_sandbox_bridge_fail(&lo->op,
                                         NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE);
            }

            return;
        }

        /* placement skips hosts that are down */
        lcf = ngx_http_get_module_loc_conf(lo->op.request,
                                           ngx_http_sandbox_bridge_module);

        rc = lcf->hosts->simple
             ? NGX_DONE
             : ngx_http_sandbox_bridge_hosts_ping(&lo->op, &lo->pings, 0,
                                         NGX_HTTP_SANDBOX_BRIDGE_LEASE_PINGED);
        if (rc == NGX_OK) {
            return;
        }

        if (rc == NGX_ERROR) {
            ngx_http_sandbox_bridge_fail(&lo->op,
                                         NGX_HTTP_SANDBOX_BRIDGE_ERR_NOMEM);
            return;
        }

        ngx_http_sandbox_bridge_lease_begin(lo);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_LEASE_PINGED:
        ngx_http_sandbox_bridge_hosts_pinged(&lo->op, lo->pings);
        ngx_http_sandbox_bridge_lease_begin(lo);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_LEASE_BEGUN:
        if (ngx_http_sandbox_bridge_lease_reply(lo) == NGX_OK
            && (lo->spec.kind != NGX_HTTP_SANDBOX_BRIDGE_ACQUIRE
                || ngx_http_sandbox_bridge_claim(&lo->op, lo->op.reply,
                                      &lo->location, s, &lo->call,
                                      &lo->pooled,
                                      NGX_HTTP_SANDBOX_BRIDGE_LEASE_CLAIMED)
                   != NGX_OK))
        {
            ngx_http_sandbox_bridge_lease_create(lo);
        }

        return;

    case NGX_HTTP_SANDBOX_BRIDGE_LEASE_CLAIMED:
        /* a pool container, renamed, its workspace uploaded meanwhile */
        switch (lo->pooled) {

        case NGX_HTTP_SANDBOX_BRIDGE_CLAIM_UPLOADED:
            ngx_http_sandbox_bridge_lease_prepared(lo);
            return;

        case NGX_HTTP_SANDBOX_BRIDGE_CLAIM_RENAMED:
            /* the start answers 304; the workspace by commands */
            ngx_http_sandbox_bridge_lease_start(lo);
            return;

        default:
            ngx_http_sandbox_bridge_lease_create(lo);
            return;
        }

    case NGX_HTTP_SANDBOX_BRIDGE_LEASE_TOUCHED:
        if (ngx_http_sandbox_bridge_lease_reply(lo) != NGX_OK) {
            return;
        }

        /* the container must still exist */
        ngx_http_sandbox_bridge_lease_inspect(lo);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_LEASE_CREATE:
        ngx_http_sandbox_bridge_lease_create(lo);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_LEASE_CREATED:
        if (lo->call.status == NGX_HTTP_CREATED) {
            ngx_http_sandbox_bridge_lease_prepare(lo);
            return;
        }

        if (lo->call.status != NGX_HTTP_CONFLICT) {
            ngx_http_sandbox_bridge_lease_docker_fail(lo, "create container");
            return;
        }

        /* it exists already: a reused lease, or a concurrent acquire won */
        ngx_http_sandbox_bridge_lease_inspect(lo);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_LEASE_PREPARED:
        ngx_http_sandbox_bridge_lease_prepared(lo);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_LEASE_INSPECTED:
        ngx_http_sandbox_bridge_lease_inspected(lo);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_LEASE_STARTED:
        /* a container found, not made, whose removal began since: anew */
        if (lo->call.status == NGX_HTTP_CONFLICT && !lo->prepared
            && lo->pooled == NGX_HTTP_SANDBOX_BRIDGE_CLAIM_NONE
            && lo->spec.kind == NGX_HTTP_SANDBOX_BRIDGE_ACQUIRE
            && lo->retries++ < NGX_HTTP_SANDBOX_BRIDGE_CREATE_RETRIES)
        {
            ngx_http_sandbox_bridge_sleep(&lo->op, 20,
                                          NGX_HTTP_SANDBOX_BRIDGE_LEASE_CREATE);
            return;
        }

        /* 304: it was running already */
        if (lo->call.status != NGX_HTTP_NO_CONTENT
            && lo->call.status != NGX_HTTP_NOT_MODIFIED)
        {
            if (lo->call.status == NGX_HTTP_NOT_FOUND
                && lo->spec.kind == NGX_HTTP_SANDBOX_BRIDGE_RESUME)
            {
                ngx_http_sandbox_bridge_lease_lost(lo);
                return;
            }

            ngx_http_sandbox_bridge_lease_docker_fail(lo, "start container");
            return;
        }

        /* a new container has its workspace already */
        if (lo->prepared) {
            if (lo->spec.kind == NGX_HTTP_SANDBOX_BRIDGE_PROBE) {
                ngx_http_sandbox_bridge_lease_util(lo, "probe command",
                                        &s->cwd, &s->pwd_script,
                                        NGX_HTTP_SANDBOX_BRIDGE_LEASE_PROBED);

            } else {
                ngx_http_sandbox_bridge_lease_commit(lo);
            }

            return;
        }

        if (lo->spec.kind == NGX_HTTP_SANDBOX_BRIDGE_RESUME) {
            ngx_http_sandbox_bridge_lease_util(lo, "check sentinel",
                               &s->sentinel, &s->check_script,
                               NGX_HTTP_SANDBOX_BRIDGE_LEASE_SENTINEL_CHECKED);
            return;
        }

        ngx_http_sandbox_bridge_lease_util(lo, "ensure workspace", &s->cwd,
                                 &s->mkdir_script,
                                 NGX_HTTP_SANDBOX_BRIDGE_LEASE_WORKSPACE_MADE);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_LEASE_SENTINEL_CHECKED:
        if (lo->ex->failed && !lo->ex->lost) {
            ngx_http_sandbox_bridge_lease_fail(lo,
                     NGX_HTTP_INTERNAL_SERVER_ERROR,
                     ngx_http_sandbox_bridge_error_jsonf("internal_error",
                                                         "%V",
                                                         &lo->ex->error));
            return;
        }

        /* alive when it did not time out and exited 0 or null */
        if (lo->ex->lost || lo->ex->timed_out
            || (lo->ex->exit_code != 0
                && lo->ex->exit_code != NGX_HTTP_SANDBOX_BRIDGE_EXIT_NULL))
        {
            ngx_http_sandbox_bridge_lease_lost(lo);
            return;
        }

        ngx_http_sandbox_bridge_lease_util(lo, "ensure workspace", &s->cwd,
                                 &s->mkdir_script,
                                 NGX_HTTP_SANDBOX_BRIDGE_LEASE_WORKSPACE_MADE);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_LEASE_WORKSPACE_MADE:
        if (ngx_http_sandbox_bridge_lease_util_ok(lo) != NGX_OK) {
            return;
        }

        /* a failing probe command fails the probe */
        if (lo->spec.kind == NGX_HTTP_SANDBOX_BRIDGE_PROBE) {
            ngx_http_sandbox_bridge_lease_util(lo, "probe command", &s->cwd,
                                        &s->pwd_script,
                                        NGX_HTTP_SANDBOX_BRIDGE_LEASE_PROBED);
            return;
        }

        if (ngx_http_sandbox_bridge_spec_sentinel(lo->op.request->pool, s,
                                     s->kind == NGX_HTTP_SANDBOX_BRIDGE_RESUME)
            != NGX_OK)
        {
            ngx_http_sandbox_bridge_lease_docker_fail(lo, "write sentinel");
            return;
        }

        ngx_http_sandbox_bridge_lease_util(lo, "write sentinel",
                               &s->sentinel, &s->sentinel_script,
                               NGX_HTTP_SANDBOX_BRIDGE_LEASE_SENTINEL_WRITTEN);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_LEASE_SENTINEL_WRITTEN:
        if (ngx_http_sandbox_bridge_lease_util_ok(lo) != NGX_OK) {
            return;
        }

        if (lo->spec.kind == NGX_HTTP_SANDBOX_BRIDGE_RESUME) {
            ngx_http_sandbox_bridge_lease_respond(lo);
            return;
        }

        ngx_http_sandbox_bridge_lease_commit(lo);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_LEASE_PROBED:
        if (ngx_http_sandbox_bridge_lease_util_ok(lo) == NGX_OK) {
            ngx_http_sandbox_bridge_lease_probed(lo);
        }

        return;

    case NGX_HTTP_SANDBOX_BRIDGE_LEASE_COMMITTED:
        if (lo->op.reply == NULL || lo->op.reply->type != REDIS_REPLY_INTEGER)
        {
            ngx_http_sandbox_bridge_lease_fail(lo,
                                    NGX_HTTP_SERVICE_UNAVAILABLE,
                                    ngx_http_sandbox_bridge_error_json(
                                         &lo->resp_status,
                                         NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE));
            return;
        }

        if (lo->op.reply->integer == 0) {
            /* a DELETE won the race: leave no orphan container behind */
            lo->spec.reuse = 0;
            ngx_http_sandbox_bridge_lease_lost(lo);
            return;
        }

        /* the pool refills once the claim's own calls are done */
        if (lo->pooled != NGX_HTTP_SANDBOX_BRIDGE_CLAIM_NONE) {
            ngx_http_sandbox_bridge_claim_refill(lo->op.request);
        }

        ngx_http_sandbox_bridge_lease_respond(lo);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_LEASE_REMOVED:
        ngx_http_sandbox_bridge_lease_forget(lo);
        return;

    case NGX_HTTP_SANDBOX_BRIDGE_LEASE_FORGOTTEN:
        ngx_http_sandbox_bridge_reply(&lo->op, lo->resp_status, lo->resp);
        lo->resp = NULL;
        return;
    }
}


static ngx_int_t
ngx_http_sandbox_bridge_lease_parse(ngx_http_sandbox_bridge_lease_op_t *lo)
{
    ngx_http_request_t                  *r;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_refusal_t    no;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    r = lo->op.request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    lo->location = lcf->docker_location;
    ctx->docker_host = lo->location;

    if (ngx_http_sandbox_bridge_spec_parse(r, ctx->body, &lo->spec, &no)
        == NGX_OK)
    {
        ctx->lease_id = lo->spec.id;
        return NGX_OK;
    }

    if (no.err == NGX_HTTP_SANDBOX_BRIDGE_ERR_LAST) {
        ngx_http_sandbox_bridge_failf(&lo->op, NGX_HTTP_BAD_REQUEST,
                                      "invalid_request", "%s", no.text);

    } else {
        ngx_http_sandbox_bridge_fail(&lo->op, no.err);
    }

    return NGX_ERROR;
}


static void
ngx_http_sandbox_bridge_lease_begin(ngx_http_sandbox_bridge_lease_op_t *lo)
{
    /* a new lease's acquire may take a pool container (claim.c) */
    if (lo->spec.kind == NGX_HTTP_SANDBOX_BRIDGE_ACQUIRE
        && ngx_http_sandbox_bridge_claim_hash(lo->op.request, &lo->spec.pool)
           != NGX_OK)
    {
        ngx_http_sandbox_bridge_fail(&lo->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_NOMEM);
        return;
    }

    if (ngx_http_sandbox_bridge_store_begin(&lo->op, &lo->spec,
                                        NGX_HTTP_SANDBOX_BRIDGE_LEASE_BEGUN)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_fail(&lo->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE);
    }
}


/* the BEGIN or TOUCH reply: NGX_OK goes on, anything else has answered */

static ngx_int_t
ngx_http_sandbox_bridge_lease_reply(ngx_http_sandbox_bridge_lease_op_t *lo)
{
    redisReply                          *reply;
    ngx_http_sandbox_bridge_ctx_t       *ctx;
    ngx_http_sandbox_bridge_host_t      *host;
    ngx_http_sandbox_bridge_lease_t      lease;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    reply = lo->op.reply;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_sandbox_bridge_fail(&lo->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE);
        return NGX_ERROR;
    }

    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == -1) {
        if (lo->spec.kind == NGX_HTTP_SANDBOX_BRIDGE_RESUME) {
            ngx_http_sandbox_bridge_not_owned(&lo->op, &lo->spec.id);

        } else {
            ngx_http_sandbox_bridge_failf(&lo->op, NGX_HTTP_CONFLICT,
                                      "lease_conflict",
                                      "Lease %V belongs to another "
                                      "credential.", &lo->spec.id);
        }

        return NGX_ERROR;
    }

    if (lo->spec.kind == NGX_HTTP_SANDBOX_BRIDGE_RESUME
        && reply->type != REDIS_REPLY_ARRAY)
    {
        /* unknown, expired or destroyed */
        ngx_http_sandbox_bridge_fail(&lo->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_STATE_LOST);
        return NGX_ERROR;
    }

    if (ngx_http_sandbox_bridge_hosts_refused(&lo->op, reply, &lo->spec.id)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* every later call of the lease goes to its host */
    lcf = ngx_http_get_module_loc_conf(lo->op.request,
                                       ngx_http_sandbox_bridge_module);

    if (lo->spec.kind != NGX_HTTP_SANDBOX_BRIDGE_RESUME) {
        host = ngx_http_sandbox_bridge_hosts_named(lcf, reply);

    } else {
        ngx_memzero(&lease, sizeof(ngx_http_sandbox_bridge_lease_t));
        (void) ngx_http_sandbox_bridge_lease_fields(lo->op.request->pool,
                                                    reply, &lease);

        host = ngx_http_sandbox_bridge_host_find(lcf,
                                   lcf->hosts->simple ? NULL : &lease.docker);
    }

    if (host == NULL) {
        ngx_http_sandbox_bridge_fail(&lo->op,
                                     NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE);
        return NGX_ERROR;
    }

    ctx = ngx_http_get_module_ctx(lo->op.request,
                                  ngx_http_sandbox_bridge_module);

    lo->location = host->location;
    ctx->docker_host = host->name;

    return NGX_OK;
}


static void
ngx_http_sandbox_bridge_lease_create(ngx_http_sandbox_bridge_lease_op_t *lo)
{
    json_t  *body;

    body = ngx_http_sandbox_bridge_spec_container(lo->op.request, &lo->spec);
    body = ngx_http_sandbox_bridge_adopt_labels(lo->op.request, body,
                                                &lo->spec);

    if (ngx_http_sandbox_bridge_docker_json(&lo->op, &lo->call,
                                       NGX_HTTP_POST,
                                       NGX_HTTP_SANDBOX_BRIDGE_LEASE_CREATED,
                                       &lo->location, body,
                                       "/containers/create?name=%V",
                                       &lo->spec.container)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_lease_docker_fail(lo, "create container");
    }
}


static void
ngx_http_sandbox_bridge_lease_inspect(ngx_http_sandbox_bridge_lease_op_t *lo)
{
    if (ngx_http_sandbox_bridge_docker(&lo->op, &lo->call, NGX_HTTP_GET,
                                       NGX_HTTP_SANDBOX_BRIDGE_LEASE_INSPECTED,
                                       &lo->location, "/containers/%V/json",
                                       &lo->spec.container)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_lease_docker_fail(lo, "inspect container");
    }
}


static void
ngx_http_sandbox_bridge_lease_inspected(ngx_http_sandbox_bridge_lease_op_t *lo)
{
    json_t                               *reply, *owner, *state;
    ngx_uint_t                            ours;
    ngx_http_sandbox_bridge_main_conf_t  *mcf;

    if (lo->call.status == NGX_HTTP_NOT_FOUND
        && lo->spec.kind == NGX_HTTP_SANDBOX_BRIDGE_RESUME)
    {
        ngx_http_sandbox_bridge_lease_lost(lo);
        return;
    }

    if (lo->call.status == NGX_HTTP_NOT_FOUND
        && lo->spec.kind == NGX_HTTP_SANDBOX_BRIDGE_ACQUIRE
        && lo->retries++ < NGX_HTTP_SANDBOX_BRIDGE_CREATE_RETRIES)
    {
        /* a concurrent create holds the name but has not finished */
        ngx_http_sandbox_bridge_sleep(&lo->op, 20,
                                      NGX_HTTP_SANDBOX_BRIDGE_LEASE_CREATE);
        return;
    }

    if (lo->call.status != NGX_HTTP_OK) {
        ngx_http_sandbox_bridge_lease_docker_fail(lo, "inspect container");
        return;
    }

    mcf = ngx_http_get_module_main_conf(lo->op.request,
                                        ngx_http_sandbox_bridge_module);

    reply = ngx_http_sandbox_bridge_docker_reply(&lo->call);

    /* a release's (or reaper's) removal of the old one is under way */
    state = json_object_get(json_object_get(reply, "State"), "Status");

    if (json_is_string(state)
        && ngx_strcmp(json_string_value(state), "removing") == 0
        && lo->spec.kind != NGX_HTTP_SANDBOX_BRIDGE_RESUME
        && lo->retries++ < NGX_HTTP_SANDBOX_BRIDGE_CREATE_RETRIES)
    {
        json_decref(reply);
        ngx_http_sandbox_bridge_sleep(&lo->op, 20,
                                      NGX_HTTP_SANDBOX_BRIDGE_LEASE_CREATE);
        return;
    }

    owner = json_object_get(json_object_get(json_object_get(reply, "Config"),
                                            "Labels"),
                            "paperclip.bridge.prefix");

    ours = json_is_string(owner)
           && json_string_length(owner) == mcf->redis_prefix.len
           && ngx_strncmp(json_string_value(owner), mcf->redis_prefix.data,
                          mcf->redis_prefix.len) == 0;

    json_decref(reply);

    /* never adopt a container this deployment did not create */
    if (!ours) {
        ngx_http_sandbox_bridge_lease_fail(lo,
                                     NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     ngx_http_sandbox_bridge_error_json(
                                       &lo->resp_status,
                                       NGX_HTTP_SANDBOX_BRIDGE_ERR_FOREIGN));
        return;
    }

    ngx_http_sandbox_bridge_lease_start(lo);
}


/* a container just created: its workspace by archive, then the start */

static void
ngx_http_sandbox_bridge_lease_prepare(ngx_http_sandbox_bridge_lease_op_t *lo)
{
    ngx_int_t  rc;

    rc = ngx_http_sandbox_bridge_workspace_upload(&lo->op, &lo->call,
                                      &lo->location, &lo->spec,
                                      &lo->spec.container,
                                      NGX_HTTP_SANDBOX_BRIDGE_LEASE_PREPARED);

    if (rc == NGX_OK) {
        return;
    }

    if (rc == NGX_DONE || rc == NGX_DECLINED) {
        lo->prepared = (rc == NGX_DONE);
        ngx_http_sandbox_bridge_lease_start(lo);
        return;
    }

    ngx_http_sandbox_bridge_lease_docker_fail(lo, "prepare workspace");
}


/* the workspace upload answered: the start follows */

static void
ngx_http_sandbox_bridge_lease_prepared(ngx_http_sandbox_bridge_lease_op_t *lo)
{
    if (lo->call.status != NGX_HTTP_OK) {
        ngx_http_sandbox_bridge_lease_docker_fail(lo, "prepare workspace");
        return;
    }

    lo->prepared = 1;
    ngx_http_sandbox_bridge_lease_start(lo);
}


static void
ngx_http_sandbox_bridge_lease_start(ngx_http_sandbox_bridge_lease_op_t *lo)
{
    if (ngx_http_sandbox_bridge_docker(&lo->op, &lo->call, NGX_HTTP_POST,
                                       NGX_HTTP_SANDBOX_BRIDGE_LEASE_STARTED,
                                       &lo->location, "/containers/%V/start",
                                       &lo->spec.container)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_lease_docker_fail(lo, "start container");
    }
}


static void
ngx_http_sandbox_bridge_lease_commit(ngx_http_sandbox_bridge_lease_op_t *lo)
{
    if (ngx_http_sandbox_bridge_store_commit(&lo->op, &lo->spec,
                                      NGX_HTTP_SANDBOX_BRIDGE_LEASE_COMMITTED)
        != NGX_OK)
    {
        ngx_http_sandbox_bridge_lease_fail(lo,
                                    NGX_HTTP_SERVICE_UNAVAILABLE,
                                    ngx_http_sandbox_bridge_error_json(
                                         &lo->resp_status,
                                         NGX_HTTP_SANDBOX_BRIDGE_ERR_STORE));
    }
}


static void
ngx_http_sandbox_bridge_lease_cleanup(void *data)
{
    ngx_http_sandbox_bridge_lease_op_t  *lo = data;

    if (lo->resp) {
        json_decref(lo->resp);
        lo->resp = NULL;
    }
}
