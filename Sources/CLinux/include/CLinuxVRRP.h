#ifndef PROXYD_CLINUX_VRRP_H
#define PROXYD_CLINUX_VRRP_H
// Small helpers for vrrpd where Swift cannot reach (fork/exec between fork and exec,
// struct ip_mreqn, signalfd, netlink attribute macros). Each is a thin wrapper.
#include <sys/types.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>
#include <fcntl.h>
#include <grp.h>
#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include "CLinuxCapabilities.h"

/// fork + exec in a new session (so a timeout can kill the whole group), stdio on
/// /dev/null, signals unblocked and default, optionally as uid:gid. Returns the child pid
/// or -errno. The child exits 126 if it cannot change ids and 127 if exec fails.
static inline pid_t clinux_spawn(const char *path, char *const argv[], char *const envp[],
                                 int change_ids, uid_t uid, gid_t gid) {
    pid_t pid = fork();
    if (pid < 0) return -errno;
    if (pid > 0) return pid;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < 32; s++) signal(s, SIG_DFL);
    setsid();
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) { dup2(fd, 0); dup2(fd, 1); dup2(fd, 2); }
    for (int i = 3; i < 1024; i++) close(i);
    if (change_ids) {
        // A vrrpd that keeps CAP_SETUID/CAP_SETGID only in its permitted set (vrrpd's
        // capability limit) needs them effective here; changing to a non-root uid then
        // clears every capability of the script.
        clinux_caps_raise((1ULL << CAP_SETUID) | (1ULL << CAP_SETGID), 1);
        if (setgroups(1, &gid) != 0 && getuid() == 0) _exit(126);   // only its group, as keepalived
        if (setgid(gid) != 0) _exit(126);
        if (setuid(uid) != 0) _exit(126);
    }
    execve(path, argv, envp);
    _exit(127);
}

static inline int clinux_wifexited(int status) { return WIFEXITED(status); }
static inline int clinux_wexitstatus(int status) { return WEXITSTATUS(status); }
static inline int clinux_wifsignaled(int status) { return WIFSIGNALED(status); }
static inline int clinux_wtermsig(int status) { return WTERMSIG(status); }

/// Block the daemon's signals and return a signalfd for them.
static inline int clinux_signalfd(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return -errno;
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/// Read one signal number from a signalfd (0: none pending).
static inline int clinux_signalfd_read(int fd) {
    struct signalfd_siginfo si;
    ssize_t n = read(fd, &si, sizeof si);
    if (n != (ssize_t)sizeof si) return 0;
    return (int)si.ssi_signo;
}

/// Join (or leave) an IPv4 multicast group on one interface; group in network order.
static inline int clinux_mcast_membership(int fd, uint32_t group_be, int ifindex, int join) {
    struct ip_mreqn m;
    memset(&m, 0, sizeof m);
    m.imr_multiaddr.s_addr = group_be;
    m.imr_ifindex = ifindex;
    int r = setsockopt(fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &m, sizeof m);
    return r < 0 ? -errno : 0;
}

/// Multicast output interface by index.
static inline int clinux_mcast_if(int fd, int ifindex) {
    struct ip_mreqn m;
    memset(&m, 0, sizeof m);
    m.imr_ifindex = ifindex;
    int r = setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m);
    return r < 0 ? -errno : 0;
}
#endif
