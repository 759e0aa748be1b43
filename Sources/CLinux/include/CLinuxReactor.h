#ifndef PROXYD_CLINUX_REACTOR_H
#define PROXYD_CLINUX_REACTOR_H
// What the data path's reactor (Sources/ProxyCore/Engine) needs and Swift's Glibc module
// leaves out: epoll and eventfd entirely, and the two GNU extensions below, which glibc
// declares only under _GNU_SOURCE (too late to define here: the system headers are
// already parsed by then), so they are declared again with glibc's own prototypes.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <pthread.h>

int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
int pthread_setname_np(pthread_t thread, const char *name);
#endif
