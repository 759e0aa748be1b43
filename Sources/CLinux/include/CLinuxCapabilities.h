#ifndef PROXYD_CLINUX_CAPABILITIES_H
#define PROXYD_CLINUX_CAPABILITIES_H
// Capability sets without libcap: the capget/capset system calls and PR_CAPBSET_DROP.
// Capabilities are per thread: call these from a single-threaded process (vrrpd's VRRP
// child) or only the calling thread changes.
#include <stdint.h>
#include <errno.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>

/// The calling thread's effective (which = 0) or permitted (which = 1) set as a bit mask
/// (bit N = capability N); -errno on failure.
static inline int64_t clinux_caps_get(int which) {
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) != 0) return -errno;
    uint64_t low = which == 0 ? data[0].effective : data[0].permitted;
    uint64_t high = which == 0 ? data[1].effective : data[1].permitted;
    return (int64_t)(((high << 32) | low) & 0x7fffffffffffffffULL);
}

/// Sets the effective, permitted and inheritable sets (inheritable emptied).
static inline int clinux_caps_set(uint64_t effective, uint64_t permitted) {
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2] = {
        { (uint32_t)effective, (uint32_t)permitted, 0 },
        { (uint32_t)(effective >> 32), (uint32_t)(permitted >> 32), 0 },
    };
    return syscall(SYS_capset, &header, data) == 0 ? 0 : -errno;
}

/// Keeps only `permitted` (with `effective` of it in use): every other capability leaves
/// the bounding set first (so that nothing this process executes as root gets it back),
/// then the permitted and effective sets. The ambient set is emptied. 0 or -errno.
static inline int clinux_caps_limit(uint64_t effective, uint64_t permitted) {
    for (int cap = 0; cap < 64; cap++) {
        if (permitted & (1ULL << cap)) continue;
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break;   // past the last capability
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) return -errno;
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    return clinux_caps_set(effective & permitted, permitted);
}

/// Raises (or lowers) the capabilities of `mask` in the effective set; they must be in
/// the permitted set. 0 or -errno.
static inline int clinux_caps_raise(uint64_t mask, int raise) {
    int64_t effective = clinux_caps_get(0), permitted = clinux_caps_get(1);
    if (effective < 0) return (int)effective;
    if (permitted < 0) return (int)permitted;
    uint64_t wanted = raise ? ((uint64_t)effective | mask) : ((uint64_t)effective & ~mask);
    return clinux_caps_set(wanted, (uint64_t)permitted);
}

#endif
