#!/bin/sh
# Turn docs/openapi.json into a C header: its bytes as one array,
# "static const u_char ngx_http_sandbox_bridge_openapi_json[]".
#
#   util/json2h.sh docs/openapi.json > objs/ngx_http_sandbox_bridge_openapi.h
set -eu

test -s "$1"

echo "/* generated from $(basename "$1") by util/json2h.sh */"
echo
echo "static const u_char  ngx_http_sandbox_bridge_openapi_json[] = {"
od -An -v -tx1 "$1" | sed -e 's/ *$//' -e 's/ \([0-9a-f][0-9a-f]\)/0x\1, /g' \
    -e 's/^/    /' -e 's/, $/,/'
echo "};"
