
/*
 * Copyright (C) nginx-sandbox-bridge authors
 */


#include "ngx_http_sandbox_bridge_workspace.h"
#include "ngx_http_sandbox_bridge_tar.h"


/*
 * The workspace of a container just created, before its start, or of a
 * pool container being claimed (README "Workspace and sentinel", "Warm
 * pool"): the sentinel file as a tar archive that the
 * Docker host unpacks, instead of commands in the container (a probe's
 * container, removed after, gets it too). The engine makes the missing
 * directories, root's with mode 0755, as "mkdir -p" of root does; it
 * leaves existing ones, symbolic links too, as they are.
 *
 * Not under the file systems the runtime mounts at the start (/proc, /sys,
 * /dev), which would hide what was unpacked there: such a workspace, or
 * one named with "." or "..", is made by commands after the start.
 */


static ngx_int_t ngx_http_sandbox_bridge_workspace_plain(ngx_str_t *path);
static void ngx_http_sandbox_bridge_workspace_base(
    ngx_http_sandbox_bridge_loc_conf_t *lcf, ngx_str_t *path,
    ngx_str_t *base, ngx_str_t *name);


ngx_int_t
ngx_http_sandbox_bridge_workspace_upload(ngx_http_sandbox_bridge_op_t *op,
    ngx_http_sandbox_bridge_call_t *call, ngx_str_t *location,
    ngx_http_sandbox_bridge_spec_t *s, ngx_str_t *container, ngx_uint_t next)
{
    ngx_str_t                            base, name, text;
    ngx_http_sandbox_bridge_tar_t        tar;
    ngx_http_sandbox_bridge_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(op->request,
                                       ngx_http_sandbox_bridge_module);

    if (ngx_http_sandbox_bridge_workspace_plain(&s->cwd) != NGX_OK) {
        return NGX_DECLINED;
    }

    /* a probe's cwd that is "/" or a volume exists: nothing to write */
    if (s->kind == NGX_HTTP_SANDBOX_BRIDGE_PROBE) {
        ngx_http_sandbox_bridge_workspace_base(lcf, &s->cwd, &base, &name);

        while (name.len && name.data[name.len - 1] == '/') {
            name.len--;
        }

        if (name.len == 0) {
            return NGX_DONE;
        }
    }

    ngx_http_sandbox_bridge_workspace_base(lcf, &s->sentinel, &base, &name);

    ngx_http_sandbox_bridge_tar_init(&tar, op->request->pool);

    if (ngx_http_sandbox_bridge_spec_sentinel_text(op->request->pool, s, 0,
                                                   &text)
        != NGX_OK
        || ngx_http_sandbox_bridge_tar_add(&tar, &name, 0644, &text) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_sandbox_bridge_tar_finish(&tar) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_sandbox_bridge_docker_body(op, call, NGX_HTTP_PUT, next,
                                   location, "application/x-tar",
                                   tar.out, tar.len,
                                   "/containers/%V/archive?path=%V",
                                   container, &base);
}


static ngx_int_t
ngx_http_sandbox_bridge_workspace_plain(ngx_str_t *path)
{
    u_char      *p, *end, *c;
    size_t       len;
    ngx_uint_t   first;

    p = path->data;
    end = p + path->len;

    for (first = 1; p < end; first = 0) {
        while (p < end && *p == '/') {
            p++;
        }

        c = p;

        while (p < end && *p != '/') {
            p++;
        }

        len = p - c;

        if ((len == 1 && c[0] == '.')
            || (len == 2 && c[0] == '.' && c[1] == '.'))
        {
            return NGX_DECLINED;
        }

        if (first
            && ((len == sizeof("proc") - 1
                 && ngx_strncmp(c, "proc", len) == 0)
                || (len == sizeof("sys") - 1
                    && ngx_strncmp(c, "sys", len) == 0)
                || (len == sizeof("dev") - 1
                    && ngx_strncmp(c, "dev", len) == 0)))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * Where to unpack: "/", or under a read-only root the volume that holds
 * the path (the engine refuses the root file system there); the name of
 * the path relative to it, as the exec's "/" made a relative path.
 */

static void
ngx_http_sandbox_bridge_workspace_base(
    ngx_http_sandbox_bridge_loc_conf_t *lcf, ngx_str_t *path,
    ngx_str_t *base, ngx_str_t *name)
{
    ngx_str_t   *v;
    ngx_uint_t   i;

    static ngx_str_t  volumes[] = {
        ngx_string(NGX_HTTP_SANDBOX_BRIDGE_VOLUME_WORKSPACE),
        ngx_string(NGX_HTTP_SANDBOX_BRIDGE_VOLUME_TMP)
    };

    *name = *path;

    while (name->len && name->data[0] == '/') {
        name->data++;
        name->len--;
    }

    ngx_str_set(base, "/");

    if (!lcf->read_only_root) {
        return;
    }

    for (i = 0; i < sizeof(volumes) / sizeof(ngx_str_t); i++) {
        v = &volumes[i];

        /* "<volume>" or "<volume>/...", without the leading "/" */
        if (name->len < v->len - 1
            || ngx_strncmp(name->data, v->data + 1, v->len - 1) != 0
            || (name->len > v->len - 1 && name->data[v->len - 1] != '/'))
        {
            continue;
        }

        *base = *v;
        name->data += v->len - 1;
        name->len -= v->len - 1;

        while (name->len && name->data[0] == '/') {
            name->data++;
            name->len--;
        }

        return;
    }
}
