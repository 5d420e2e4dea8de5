
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_adopt.h"
#include "ngx_http_sandbox_bridge_util.h"


/*
 * What a lease record needs to be rebuilt from its container (README
 * "Lease records and the reaper"): Docker labels are fixed at create,
 * so they hold the acquire's owner and policy.
 */

typedef struct {
    const char                      *label;
    const char                      *field;
} ngx_http_sandbox_bridge_adopt_map_t;


static ngx_http_sandbox_bridge_adopt_map_t  ngx_http_sandbox_bridge_adopt_map[]
    = {
    { "paperclip.bridge.lease", "id" },
    { "paperclip.bridge.cred", "cred" },
    { "paperclip.bridge.reuse", "reuse" },
    { "paperclip.bridge.keepalive", "keepalive" },
    { "paperclip.bridge.sleep-after", "sleep_after" },
    { "paperclip.bridge.sleep-ms", "sleep_ms" },
    { "paperclip.bridge.cwd", "cwd" },
    { "paperclip.bridge.session", "session" },
    { "paperclip.bridge.strategy", "strategy" },
    { "paperclip.bridge.env", "env_id" },
    { "paperclip.bridge.run", "run_id" },
    { "paperclip.bridge.issue", "issue_id" },
    { NULL, NULL }
};


/* labels the container body; on failure it is freed and NULL returned */

json_t *
ngx_http_sandbox_bridge_adopt_labels(ngx_http_request_t *r, json_t *body,
    ngx_http_sandbox_bridge_spec_t *s)
{
    json_t                         *j, *labels;
    ngx_http_sandbox_bridge_ctx_t  *ctx;
    ngx_str_t    v[12];
    ngx_uint_t   i;
    u_char       ms[NGX_INT64_LEN];

    ctx = ngx_http_get_module_ctx(r, ngx_http_sandbox_bridge_module);
    labels = body ? json_object_get(body, "Labels") : NULL;

    if (ctx == NULL || labels == NULL) {
        json_decref(body);
        return NULL;
    }

    v[0] = s->id;
    v[1] = ctx->cred_id;
    v[2].data = (u_char *) (s->reuse ? "1" : "0");
    v[2].len = 1;
    v[3].data = (u_char *) (s->keepalive ? "1" : "0");
    v[3].len = 1;
    v[4] = s->sleep_after;
    v[5].data = ms;
    v[5].len = ngx_sprintf(ms, "%M", (ngx_msec_t) s->sleep_ms) - ms;
    v[6] = s->cwd;
    v[7] = s->session;
    v[8] = s->strategy;
    v[9] = s->env_id;
    v[10] = s->run_id;
    v[11] = s->issue_id;

    for (i = 0; ngx_http_sandbox_bridge_adopt_map[i].label; i++) {
        j = v[i].len ? ngx_http_sandbox_bridge_json_strn(&v[i])
                     : json_string("");

        if (json_object_set_new(labels,
                                ngx_http_sandbox_bridge_adopt_map[i].label, j)
            != 0)
        {
            json_decref(body);
            return NULL;
        }
    }

    return body;
}


/* the record's field/value pairs, from a listed container's labels */

void
ngx_http_sandbox_bridge_adopt_fields(ngx_http_sandbox_bridge_args_t *args,
    json_t *labels)
{
    json_t      *v;
    ngx_uint_t   i;
    const char  *f;

    for (i = 0; ngx_http_sandbox_bridge_adopt_map[i].label; i++) {
        v = json_object_get(labels, ngx_http_sandbox_bridge_adopt_map[i].label);
        if (!json_is_string(v)) {
            continue;
        }

        f = ngx_http_sandbox_bridge_adopt_map[i].field;

        ngx_http_sandbox_bridge_arg(args, f, ngx_strlen(f));
        ngx_http_sandbox_bridge_arg(args, json_string_value(v),
                                    json_string_length(v));
    }
}
