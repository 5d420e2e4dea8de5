
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_reaper.h"
#include "ngx_http_sandbox_bridge_orphan.h"
#include "ngx_http_sandbox_bridge_reap.h"


/*
 * The reaper (README "Lease records and the reaper"): per worker, a
 * timer starts one pass per Docker host name that some bridge uses
 * (reap.c, sweep.c); a Redis lock per host lets one pass at a time run
 * in the whole deployment.
 */



/* per worker */
static ngx_event_t   ngx_http_sandbox_bridge_reaper_ev;
static ngx_uint_t    ngx_http_sandbox_bridge_reaper_running;
static ngx_str_t     ngx_http_sandbox_bridge_worker_id;


static void ngx_http_sandbox_bridge_reaper_handler(ngx_event_t *ev);
static void ngx_http_sandbox_bridge_reaper_arm(
    ngx_http_sandbox_bridge_main_conf_t *mcf);
static ngx_uint_t ngx_http_sandbox_bridge_reaper_seen(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_uint_t b, ngx_uint_t k);



ngx_int_t
ngx_http_sandbox_bridge_reaper_init(ngx_cycle_t *cycle,
    ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    u_char       *p;
    ngx_event_t  *ev;

    p = ngx_pnalloc(cycle->pool, cycle->hostname.len + NGX_INT_T_LEN + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_http_sandbox_bridge_worker_id.data = p;
    ngx_http_sandbox_bridge_worker_id.len =
                     ngx_sprintf(p, "%V:%P", &cycle->hostname, ngx_pid) - p;

    ev = &ngx_http_sandbox_bridge_reaper_ev;
    ngx_memzero(ev, sizeof(ngx_event_t));

    ev->handler = ngx_http_sandbox_bridge_reaper_handler;
    ev->data = mcf;
    ev->log = cycle->log;
    ev->cancelable = 1;

    ngx_http_sandbox_bridge_reaper_running = 0;
    ngx_http_sandbox_bridge_reaper_arm(mcf);

    return NGX_OK;
}


void
ngx_http_sandbox_bridge_reaper_exit(void)
{
    if (ngx_http_sandbox_bridge_reaper_ev.timer_set) {
        ngx_del_timer(&ngx_http_sandbox_bridge_reaper_ev);
    }
}


static void
ngx_http_sandbox_bridge_reaper_arm(ngx_http_sandbox_bridge_main_conf_t *mcf)
{
    ngx_msec_t  t;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    /* jitter spreads the workers' attempts on the lock */
    t = mcf->reaper_interval / 2
        + (ngx_msec_t) ngx_random() % (mcf->reaper_interval / 2 + 1);

    ngx_add_timer(&ngx_http_sandbox_bridge_reaper_ev, t);
}


/* one pass per Docker host (by name) that some bridge uses */

static void
ngx_http_sandbox_bridge_reaper_handler(ngx_event_t *ev)
{
    ngx_http_sandbox_bridge_main_conf_t  *mcf = ev->data;

    ngx_uint_t                           i, k;
    ngx_http_sandbox_bridge_host_t      *h;
    ngx_http_sandbox_bridge_loc_conf_t  **bridges;

    ngx_http_sandbox_bridge_reaper_arm(mcf);
    ngx_http_sandbox_bridge_orphan_heartbeat(mcf);

    if (ngx_http_sandbox_bridge_reaper_running) {
        return;
    }

    bridges = mcf->bridges.elts;

    for (i = 0; i < mcf->bridges.nelts; i++) {
        if (bridges[i]->hosts == NULL) {
            continue;
        }

        h = bridges[i]->hosts->hosts.elts;

        for (k = 0; k < bridges[i]->hosts->hosts.nelts; k++) {
            if (!ngx_http_sandbox_bridge_reaper_seen(mcf, i, k)) {
                (void) ngx_http_sandbox_bridge_reap_start(mcf, bridges[i],
                                       &h[k],
                                       &ngx_http_sandbox_bridge_worker_id,
                                       &ngx_http_sandbox_bridge_reaper_running);
            }
        }
    }
}


/* host k of bridge b has a name that an earlier bridge or host had */

static ngx_uint_t
ngx_http_sandbox_bridge_reaper_seen(ngx_http_sandbox_bridge_main_conf_t *mcf,
    ngx_uint_t b, ngx_uint_t k)
{
    ngx_str_t                           *name;
    ngx_uint_t                           i, j, n;
    ngx_http_sandbox_bridge_host_t      *h;
    ngx_http_sandbox_bridge_loc_conf_t  **bridges;

    bridges = mcf->bridges.elts;
    name = &((ngx_http_sandbox_bridge_host_t *)
             bridges[b]->hosts->hosts.elts)[k].name;

    for (i = 0; i <= b; i++) {
        if (bridges[i]->hosts == NULL) {
            continue;
        }

        h = bridges[i]->hosts->hosts.elts;
        n = (i == b) ? k : bridges[i]->hosts->hosts.nelts;

        for (j = 0; j < n; j++) {
            if (h[j].name.len == name->len
                && ngx_strncmp(h[j].name.data, name->data, name->len) == 0)
            {
                return 1;
            }
        }
    }

    return 0;
}
