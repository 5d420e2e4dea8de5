#ifndef _DDEBUG_H_INCLUDED_
#define _DDEBUG_H_INCLUDED_

#include <ngx_core.h>

#if defined(DDEBUG) && (DDEBUG)
#define dd(...) fprintf(stderr, "sandbox_bridge *** %s: ", __func__);       \
    fprintf(stderr, __VA_ARGS__);                                            \
    fprintf(stderr, " at %s line %d.\n", __FILE__, __LINE__)
#else
#define dd(...)
#endif

#endif /* _DDEBUG_H_INCLUDED_ */
