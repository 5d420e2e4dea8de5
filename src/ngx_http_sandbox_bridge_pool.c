
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include <openssl/evp.h>

#include "ngx_http_sandbox_bridge_pool.h"
#include "ngx_http_sandbox_bridge_store.h"
#include "ngx_http_sandbox_bridge_util.h"


/*
 * The warm pool (README "Warm pool"): per bridge and Docker host,
 * sandbox_warm_pool started containers made as lease containers are,
 * labelled paperclip.bridge.pool=<hash of their configuration> and named
 * "<name prefix>pool_<random>" (no lease id holds "_"). Ready ones are
 * the members of the Redis set "<prefix>pool:{<host>}:<hash>"; claim.c
 * hands them to acquires, refill.c keeps the set full. Here: what they
 * are made of, their keys and names, the reaper's view of a claimed one,
 * and the pool's size for health and metrics.
 */


/*
 * The containers of this bridge's configuration, and the hash naming it:
 * everything the container is made with but the lease's own labels, and
 * the pool's size (bridges of other sizes keep pools of their own).
 */

json_t *
ngx_http_sandbox_bridge_pool_spec(ngx_http_request_t *r, u_char *hash)
{
    char                                *text;
    json_t                              *body, *labels;
    unsigned int                         n;
    ngx_http_sandbox_bridge_spec_t       s;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;
    u_char                               md[EVP_MAX_MD_SIZE];

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    ngx_memzero(&s, sizeof(ngx_http_sandbox_bridge_spec_t));
    ngx_str_set(&s.id, "pool");

    body = ngx_http_sandbox_bridge_spec_container(r, &s);
    labels = json_object_get(body, "Labels");

    if (labels == NULL) {
        json_decref(body);
        return NULL;
    }

    json_object_del(labels, "paperclip.bridge.lease");

    if (json_object_set_new(labels, "paperclip.bridge.pool",
                            json_integer(lcf->warm_pool))
        != 0)
    {
        json_decref(body);
        return NULL;
    }

    text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);

    if (text == NULL
        || EVP_Digest(text, ngx_strlen(text), md, &n, EVP_sha256(), NULL)
           != 1)
    {
        free(text);
        json_decref(body);
        return NULL;
    }

    free(text);

    ngx_hex_dump(hash, md, NGX_HTTP_SANDBOX_BRIDGE_POOL_HASH_LEN / 2);

    if (json_object_set_new(labels, "paperclip.bridge.pool",
                            json_stringn((char *) hash,
                                        NGX_HTTP_SANDBOX_BRIDGE_POOL_HASH_LEN))
        != 0)
    {
        json_decref(body);
        return NULL;
    }

    return body;
}


/* "<prefix>pool<kind>:{<host>}:<hash>" */

ngx_int_t
ngx_http_sandbox_bridge_pool_key(ngx_pool_t *pool,
    ngx_http_sandbox_bridge_main_conf_t *mcf, const char *kind,
    ngx_str_t *host, u_char *hash, ngx_str_t *key)
{
    size_t  n;

    n = ngx_strlen(kind);

    key->len = mcf->redis_prefix.len + sizeof("pool:{}:") - 1 + n + host->len
               + NGX_HTTP_SANDBOX_BRIDGE_POOL_HASH_LEN;
    key->data = ngx_pnalloc(pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(key->data, "%Vpool%*s:{%V}:%*s", &mcf->redis_prefix, n, kind,
                host, (size_t) NGX_HTTP_SANDBOX_BRIDGE_POOL_HASH_LEN, hash);

    return NGX_OK;
}


/* still named "<name prefix>pool_...": not handed out */

ngx_uint_t
ngx_http_sandbox_bridge_pool_unclaimed(
    ngx_http_sandbox_bridge_main_conf_t *mcf, ngx_str_t *name)
{
    size_t  n;

    n = mcf->redis_prefix.len;

    return name->len >= n + sizeof("pool_") - 1
           && ngx_strncmp(name->data + n, "pool_", sizeof("pool_") - 1) == 0;
}


/*
 * For the reaper: a claimed pool container's labels do not name its
 * lease, its name does ("<name prefix><lease id>", as a lease's).
 */

ngx_int_t
ngx_http_sandbox_bridge_pool_lease(ngx_http_sandbox_bridge_main_conf_t *mcf,
    json_t *labels, ngx_str_t *name, ngx_str_t *id)
{
    if (!json_is_string(json_object_get(labels, "paperclip.bridge.pool"))
        || name->len <= mcf->redis_prefix.len
        || ngx_http_sandbox_bridge_pool_unclaimed(mcf, name))
    {
        return NGX_DECLINED;
    }

    id->data = name->data + mcf->redis_prefix.len;
    id->len = name->len - mcf->redis_prefix.len;

    return NGX_OK;
}



/* /health's cache key: with a pool, its state too (target, ready) */

u_char *
ngx_http_sandbox_bridge_pool_health_key(ngx_http_request_t *r, u_char *key,
    size_t *len)
{
    u_char                              *p, *k;
    ngx_uint_t                           i;
    ngx_http_sandbox_bridge_host_t      *h;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    if (lcf->warm_pool == 0) {
        return key;
    }

    k = ngx_pnalloc(r->pool, *len + sizeof("|") - 1
                    + lcf->hosts->hosts.nelts * (2 * NGX_INT_T_LEN + 2));
    if (k == NULL) {
        return NULL;
    }

    p = ngx_cpymem(k, key, *len);
    *p++ = '|';
    h = lcf->hosts->hosts.elts;

    for (i = 0; i < lcf->hosts->hosts.nelts; i++) {
        p = h[i].pool_known
            ? ngx_sprintf(p, "%i:%ui;", lcf->warm_pool, h[i].pool_size)
            : ngx_sprintf(p, "%i:-;", lcf->warm_pool);
    }

    *len = p - k;

    return k;
}


/* /health: "warmPool", per Docker host of the bridge, when it has one */

json_t *
ngx_http_sandbox_bridge_pool_health(ngx_http_request_t *r, json_t *body)
{
    json_t                              *list;
    ngx_uint_t                           i;
    ngx_http_sandbox_bridge_host_t      *h;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_sandbox_bridge_module);

    if (body == NULL || lcf->warm_pool == 0) {
        return body;
    }

    list = json_array();
    h = lcf->hosts->hosts.elts;

    for (i = 0; list && i < lcf->hosts->hosts.nelts; i++) {
        json_array_append_new(list,
                              json_pack("{s:s%,s:I,s:o}",
                                        "host", (char *) h[i].name.data,
                                        h[i].name.len,
                                        "target", (json_int_t) lcf->warm_pool,
                                        "ready",
                                        h[i].pool_known
                                        ? json_integer(h[i].pool_size)
                                        : json_null()));
    }

    json_object_set_new(body, "warmPool", list);

    return body;
}


/*
 * sandbox_bridge_warm_pool{host}: the n-th host name with a known size;
 * the sizes of the pools of several bridges on one host add up
 */

ngx_int_t
ngx_http_sandbox_bridge_pool_gauge(ngx_http_sandbox_bridge_main_conf_t *mcf,
    ngx_uint_t n, ngx_str_t *name, ngx_uint_t *size)
{
    ngx_uint_t                           i, k, j, b, c, seen;
    ngx_http_sandbox_bridge_host_t      *h, *o;
    ngx_http_sandbox_bridge_loc_conf_t  **bridges;

    bridges = mcf->bridges.elts;
    j = 0;
    name->len = 0;
    *size = 0;

    for (i = 0; i < mcf->bridges.nelts; i++) {
        if (bridges[i]->hosts == NULL || bridges[i]->warm_pool == 0) {
            continue;
        }

        h = bridges[i]->hosts->hosts.elts;

        for (k = 0; k < bridges[i]->hosts->hosts.nelts; k++) {
            if (!h[k].pool_known) {
                continue;
            }

            if (name->len) {
                /* a later pool on the chosen host */
                if (h[k].name.len == name->len
                    && ngx_strncmp(h[k].name.data, name->data, name->len)
                       == 0)
                {
                    *size += h[k].pool_size;
                }

                continue;
            }

            /* a host name counts once, where it first appears */
            seen = 0;

            for (b = 0; b <= i && !seen; b++) {
                if (bridges[b]->hosts == NULL || bridges[b]->warm_pool == 0) {
                    continue;
                }

                o = bridges[b]->hosts->hosts.elts;

                for (c = 0; c < (b == i ? k : bridges[b]->hosts->hosts.nelts);
                     c++)
                {
                    if (o[c].pool_known && o[c].name.len == h[k].name.len
                        && ngx_strncmp(o[c].name.data, h[k].name.data,
                                       h[k].name.len)
                           == 0)
                    {
                        seen = 1;
                        break;
                    }
                }
            }

            if (!seen && j++ == n) {
                *name = h[k].name;
                *size = h[k].pool_size;
            }
        }
    }

    return name->len ? NGX_OK : NGX_DONE;
}
