#!/bin/sh
# Turn the module's Redis scripts (src/lua/*.lua) into a C header:
# one "static const char ngx_http_sandbox_bridge_lua_<name>[]" each.
# Comment lines ("-- ...") are left out.
#
#   util/lua2h.sh src/lua > objs/ngx_http_sandbox_bridge_lua.h
set -eu

echo "/* generated from the .lua files by util/lua2h.sh */"
echo

for f in "$1"/*.lua; do
    n=$(basename "$f" .lua)
    echo "static const char  ngx_http_sandbox_bridge_lua_$n[] ="
    grep -v '^ *--' "$f" \
        | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$/\\n"/'
    echo "    ;"
    echo
done
