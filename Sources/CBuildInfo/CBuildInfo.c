#include "CBuildInfo.h"

const char *proxyd_build_date(void) {
    return __DATE__ " " __TIME__;
}
