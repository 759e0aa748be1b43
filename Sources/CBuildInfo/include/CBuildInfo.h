#ifndef PROXYD_CBUILDINFO_H
#define PROXYD_CBUILDINFO_H

/* When this file was compiled, as "Mmm dd yyyy hh:mm:ss" (__DATE__ __TIME__; clang takes
   SOURCE_DATE_EPOCH instead when it is set, for reproducible builds). scripts/build-release
   recompiles it every time; an incremental debug build may keep an older date. */
const char *proxyd_build_date(void);

#endif
