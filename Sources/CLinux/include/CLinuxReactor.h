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

// Kernel splicing (`option splice-*`, DataPath/SplicePump): socket -> pipe -> socket.
ssize_t splice(int fd_in, __off64_t *off_in, int fd_out, __off64_t *off_out, size_t len, unsigned int flags);
int pipe2(int pipefd[2], int flags);
#define CLINUX_SPLICE_F_MOVE 1
#define CLINUX_SPLICE_F_NONBLOCK 2
#define CLINUX_F_SETPIPE_SZ 1031
#endif
