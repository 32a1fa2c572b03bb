/*
 * export.h - what libprodata exports. The library is compiled with
 * -fvisibility=hidden, so a function is visible to programs linking
 * libprodata.so only when its declaration sits between PD_API_BEGIN and
 * PD_API_END, which every public header puts around its declarations (after
 * its own includes). Functions shared by the files of one module stay hidden;
 * `make check-exports` checks that every exported symbol starts with pd_ and
 * that every function declared in a public header is exported.
 */
#ifndef PRODATA_EXPORT_H
#define PRODATA_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define PD_API_BEGIN _Pragma("GCC visibility push(default)")
#define PD_API_END _Pragma("GCC visibility pop")
#else
#define PD_API_BEGIN
#define PD_API_END
#endif

#endif
