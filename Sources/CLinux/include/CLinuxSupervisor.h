#ifndef PROXYD_CLINUX_SUPERVISOR_H
#define PROXYD_CLINUX_SUPERVISOR_H
// vrrpd's supervisor and VRRP child: prctl and setns are variadic or GNU-only in C, so
// Swift cannot call them directly.
#include <sys/prctl.h>
#include <sched.h>
#include <errno.h>
#include <signal.h>

/// Have the kernel send `sig` to this process when its parent dies (0 or -errno).
static inline int clinux_set_parent_death_signal(int sig) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0) == 0 ? 0 : -errno;
}

/// Move the calling thread into the network namespace `fd` names (0 or -errno). Tests use
/// it to open sockets inside a namespace: a socket keeps the namespace it was made in.
#ifndef CLONE_NEWNET
#define CLONE_NEWNET 0x40000000
#endif
int setns(int fd, int nstype);
static inline int clinux_setns_net(int fd) {
    return setns(fd, CLONE_NEWNET) == 0 ? 0 : -errno;
}
#endif
