#ifndef PROXYD_CSYSTEMD_SHIM_H
#define PROXYD_CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#endif
