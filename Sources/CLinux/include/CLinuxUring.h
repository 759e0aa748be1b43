#ifndef PROXYD_CLINUX_URING_H
#define PROXYD_CLINUX_URING_H
// A minimal io_uring for the data path's reactor (Sources/ProxyCore/Engine/UringPoller):
// the raw syscalls and the three mmap'd regions, written here rather than taken from
// liburing because the reactor needs six operations and the ring's head and tail need
// acquire/release ordering, which C says in one line and Swift cannot say on plain
// memory. The kernel's own header (linux-libc-dev) gives the structures.
#include <sys/socket.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <string.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

struct clinux_uring {
    int fd;
    unsigned features;
    unsigned *sq_head, *sq_tail, *sq_flags;
    unsigned sq_mask, sq_entries;
    unsigned *cq_head, *cq_tail;
    unsigned cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
    void *sq_map; size_t sq_map_size;
    void *cq_map; size_t cq_map_size;
    size_t sqes_size;
    /// SQEs filled but not yet handed to the kernel with io_uring_enter.
    unsigned sqe_tail;
};

/// Sets up a ring of `entries` SQEs (CQ twice that). 0, or -errno: the caller falls back
/// to epoll on any failure (ENOSYS: no io_uring; EPERM: forbidden by seccomp or
/// kernel.io_uring_disabled; EINVAL: a feature the reactor needs is missing).
static inline int clinux_uring_init(struct clinux_uring *ring, unsigned entries) {
    memset(ring, 0, sizeof *ring);
    ring->fd = -1;
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    // No interrupt to run completions: they run when the loop enters the kernel anyway.
    params.flags = IORING_SETUP_COOP_TASKRUN;
    int fd = (int)syscall(__NR_io_uring_setup, entries, &params);
    if (fd < 0 && errno == EINVAL) {
        memset(&params, 0, sizeof params);
        fd = (int)syscall(__NR_io_uring_setup, entries, &params);
    }
    if (fd < 0) return -errno;
    // A timeout passed to io_uring_enter (EXT_ARG, 5.11) and no lost completions (NODROP).
    unsigned needed = IORING_FEAT_EXT_ARG | IORING_FEAT_NODROP | IORING_FEAT_SINGLE_MMAP;
    if ((params.features & needed) != needed) { close(fd); return -EINVAL; }
    size_t sq_size = params.sq_off.array + params.sq_entries * sizeof(unsigned);
    size_t cq_size = params.cq_off.cqes + params.cq_entries * sizeof(struct io_uring_cqe);
    size_t map_size = sq_size > cq_size ? sq_size : cq_size;
    void *map = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    if (map == MAP_FAILED) { int e = errno; close(fd); return -e; }
    size_t sqes_size = params.sq_entries * sizeof(struct io_uring_sqe);
    void *sqes = mmap(NULL, sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (sqes == MAP_FAILED) { int e = errno; munmap(map, map_size); close(fd); return -e; }
    char *base = (char *)map;
    ring->fd = fd;
    ring->features = params.features;
    ring->sq_head = (unsigned *)(base + params.sq_off.head);
    ring->sq_tail = (unsigned *)(base + params.sq_off.tail);
    ring->sq_flags = (unsigned *)(base + params.sq_off.flags);
    ring->sq_mask = *(unsigned *)(base + params.sq_off.ring_mask);
    ring->sq_entries = params.sq_entries;
    ring->cq_head = (unsigned *)(base + params.cq_off.head);
    ring->cq_tail = (unsigned *)(base + params.cq_off.tail);
    ring->cq_mask = *(unsigned *)(base + params.cq_off.ring_mask);
    ring->cqes = (struct io_uring_cqe *)(base + params.cq_off.cqes);
    ring->sqes = (struct io_uring_sqe *)sqes;
    ring->sq_map = map; ring->sq_map_size = map_size;
    ring->sqes_size = sqes_size;
    // SQ slot i always holds SQE i: the submission order is the order SQEs are filled.
    unsigned *array = (unsigned *)(base + params.sq_off.array);
    for (unsigned i = 0; i < params.sq_entries; i++) array[i] = i;
    ring->sqe_tail = *ring->sq_tail;
    return 0;
}

static inline void clinux_uring_exit(struct clinux_uring *ring) {
    if (ring->fd < 0) return;
    munmap(ring->sqes, ring->sqes_size);
    munmap(ring->sq_map, ring->sq_map_size);
    close(ring->fd);
    ring->fd = -1;
}

/// Hands the filled SQEs to the kernel and, with `wait`, waits for one completion at
/// most `timeout_ns` (negative: no limit). Returns the SQEs consumed or -errno; ETIME and
/// EINTR are a normal end of the wait.
static inline int clinux_uring_enter(struct clinux_uring *ring, int wait, long long timeout_ns) {
    unsigned to_submit = ring->sqe_tail - *ring->sq_tail;
    __atomic_store_n(ring->sq_tail, ring->sqe_tail, __ATOMIC_RELEASE);
    struct __kernel_timespec ts;
    struct io_uring_getevents_arg arg;
    memset(&arg, 0, sizeof arg);
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000LL;
        ts.tv_nsec = timeout_ns % 1000000000LL;
        arg.ts = (uint64_t)(uintptr_t)&ts;
    }
    // GETEVENTS even without waiting: it runs the completions the kernel has pending.
    unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
    int r = (int)syscall(__NR_io_uring_enter, ring->fd, to_submit, wait ? 1u : 0u, flags, &arg, sizeof arg);
    return r < 0 ? -errno : r;
}

/// Whether SQEs wait to be submitted.
static inline int clinux_uring_has_unsubmitted(const struct clinux_uring *ring) {
    return ring->sqe_tail != *ring->sq_tail;
}

/// The next free SQE, zeroed; when the ring is full, what is filled is submitted first.
static inline struct io_uring_sqe *clinux_uring_get_sqe(struct clinux_uring *ring) {
    unsigned head = __atomic_load_n(ring->sq_head, __ATOMIC_ACQUIRE);
    if (ring->sqe_tail - head >= ring->sq_entries) {
        clinux_uring_enter(ring, 0, 0);
        head = __atomic_load_n(ring->sq_head, __ATOMIC_ACQUIRE);
        if (ring->sqe_tail - head >= ring->sq_entries) return NULL;
    }
    struct io_uring_sqe *sqe = &ring->sqes[ring->sqe_tail & ring->sq_mask];
    ring->sqe_tail++;
    memset(sqe, 0, sizeof *sqe);
    return sqe;
}

/// Multishot poll (5.13): one CQE per wake-up of `fd` whose mask meets `events` (POLL*
/// bits, the same numbers as EPOLL*), edge-triggered unless `level`. 0 or -EBUSY.
static inline int clinux_uring_poll_multishot(struct clinux_uring *ring, int fd, unsigned events,
                                              uint64_t user_data, int level) {
    struct io_uring_sqe *sqe = clinux_uring_get_sqe(ring);
    if (!sqe) return -EBUSY;
    sqe->opcode = IORING_OP_POLL_ADD;
    sqe->fd = fd;
    sqe->poll32_events = events;
    sqe->len = IORING_POLL_ADD_MULTI | (level ? IORING_POLL_ADD_LEVEL : 0);
    sqe->user_data = user_data;
    return 0;
}

/// One-shot poll: one CQE when `fd` is ready, at once if it is ready already. 0 or -EBUSY.
static inline int clinux_uring_poll_oneshot(struct clinux_uring *ring, int fd, unsigned events,
                                            uint64_t user_data) {
    struct io_uring_sqe *sqe = clinux_uring_get_sqe(ring);
    if (!sqe) return -EBUSY;
    sqe->opcode = IORING_OP_POLL_ADD;
    sqe->fd = fd;
    sqe->poll32_events = events;
    sqe->user_data = user_data;
    return 0;
}

/// Where one accept request has the kernel write its peer's address.
struct clinux_accept_address {
    struct sockaddr_storage address;
    socklen_t length;
};

/// One accept (one connection, non-blocking and close-on-exec, its descriptor in `res`),
/// its peer's address written to `*peer`. Several can wait on one listener: the kernel
/// wakes one per connection. 0 or -EBUSY.
static inline int clinux_uring_accept(struct clinux_uring *ring, int fd, struct clinux_accept_address *peer,
                                      uint64_t user_data) {
    struct io_uring_sqe *sqe = clinux_uring_get_sqe(ring);
    if (!sqe) return -EBUSY;
    peer->length = sizeof peer->address;
    sqe->opcode = IORING_OP_ACCEPT;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)&peer->address;
    sqe->addr2 = (uint64_t)(uintptr_t)&peer->length;
    sqe->accept_flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
    sqe->user_data = user_data;
    return 0;
}

/// Cancels every request of this ring on descriptor `fd` (5.19). 0 or -EBUSY.
static inline int clinux_uring_cancel_fd(struct clinux_uring *ring, int fd, uint64_t user_data) {
    struct io_uring_sqe *sqe = clinux_uring_get_sqe(ring);
    if (!sqe) return -EBUSY;
    sqe->opcode = IORING_OP_ASYNC_CANCEL;
    sqe->fd = fd;
    sqe->cancel_flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL;
    sqe->user_data = user_data;
    return 0;
}

/// Cancels the request(s) whose user_data is `target`; the cancel's own CQE carries
/// `user_data`. 0 or -EBUSY.
static inline int clinux_uring_cancel(struct clinux_uring *ring, uint64_t target, uint64_t user_data) {
    struct io_uring_sqe *sqe = clinux_uring_get_sqe(ring);
    if (!sqe) return -EBUSY;
    sqe->opcode = IORING_OP_ASYNC_CANCEL;
    sqe->fd = -1;
    sqe->addr = target;
    sqe->cancel_flags = IORING_ASYNC_CANCEL_ALL;
    sqe->user_data = user_data;
    return 0;
}

/// Completions ready to read, from `*head` on (the caller reads them with
/// clinux_uring_cqe_at, then releases them with clinux_uring_cq_advance).
static inline unsigned clinux_uring_cq_ready(const struct clinux_uring *ring) {
    return __atomic_load_n(ring->cq_tail, __ATOMIC_ACQUIRE) - *ring->cq_head;
}

static inline struct io_uring_cqe *clinux_uring_cqe_at(const struct clinux_uring *ring, unsigned index) {
    return &ring->cqes[(*ring->cq_head + index) & ring->cq_mask];
}

static inline void clinux_uring_cq_advance(struct clinux_uring *ring, unsigned count) {
    __atomic_store_n(ring->cq_head, *ring->cq_head + count, __ATOMIC_RELEASE);
}

// MARK: Receives and sends in the ring (Reactor+RingIO.swift)

/// Whether the kernel knows the opcodes the ring's receives and sends use (RECV, SEND,
/// SENDMSG, CLOSE): 0, or -errno (-EOPNOTSUPP for a missing opcode).
static inline int clinux_uring_probe_ring_io(struct clinux_uring *ring) {
    size_t size = sizeof(struct io_uring_probe) + 256 * sizeof(struct io_uring_probe_op);
    struct io_uring_probe *probe = (struct io_uring_probe *)calloc(1, size);
    if (!probe) return -ENOMEM;
    int r = (int)syscall(__NR_io_uring_register, ring->fd, IORING_REGISTER_PROBE, probe, 256);
    if (r < 0) { r = -errno; free(probe); return r; }
    int ops[] = { IORING_OP_RECV, IORING_OP_SEND, IORING_OP_SENDMSG, IORING_OP_CLOSE };
    for (unsigned i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (ops[i] > probe->last_op || !(probe->ops[ops[i]].flags & IO_URING_OP_SUPPORTED)) {
            free(probe);
            return -EOPNOTSUPP;
        }
    }
    free(probe);
    return 0;
}

/// A provided-buffer ring (IORING_REGISTER_PBUF_RING, 5.19): `count` buffers of `size`
/// bytes, from which the kernel picks one per receive completion of group `group`.
struct clinux_buffer_ring {
    struct io_uring_buf_ring *entries;
    size_t entries_size;
    unsigned char *memory;
    size_t memory_size;
    unsigned count, size;
    unsigned short tail;
    unsigned short group;
};

/// Hands buffer `id` (back) to the kernel; visible to it at the next publish.
static inline void clinux_buffer_ring_add(struct clinux_buffer_ring *ring, unsigned short id) {
    struct io_uring_buf *entry = &ring->entries->bufs[ring->tail & (ring->count - 1)];
    entry->addr = (uint64_t)(uintptr_t)(ring->memory + (size_t)id * ring->size);
    entry->len = ring->size;
    entry->bid = id;
    ring->tail++;
}

static inline void clinux_buffer_ring_publish(struct clinux_buffer_ring *ring) {
    __atomic_store_n(&ring->entries->tail, ring->tail, __ATOMIC_RELEASE);
}

/// Registers a ring of `count` (a power of two, at most 32768) buffers of `size` bytes
/// as group `group`, every buffer handed to the kernel. 0, or -errno (EINVAL: the kernel
/// has no PBUF_RING).
static inline int clinux_buffer_ring_setup(struct clinux_uring *uring, struct clinux_buffer_ring *ring,
                                           unsigned count, unsigned size, unsigned short group) {
    memset(ring, 0, sizeof *ring);
    if (count == 0 || (count & (count - 1)) != 0 || count > 32768) return -EINVAL;
    ring->entries_size = count * sizeof(struct io_uring_buf);
    void *entries = mmap(NULL, ring->entries_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (entries == MAP_FAILED) return -errno;
    ring->memory_size = (size_t)count * size;
    void *memory = mmap(NULL, ring->memory_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) { int e = errno; munmap(entries, ring->entries_size); return -e; }
    ring->entries = (struct io_uring_buf_ring *)entries;
    ring->memory = (unsigned char *)memory;
    ring->count = count;
    ring->size = size;
    ring->group = group;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)entries;
    reg.ring_entries = count;
    reg.bgid = group;
    int r = (int)syscall(__NR_io_uring_register, uring->fd, IORING_REGISTER_PBUF_RING, &reg, 1);
    if (r < 0) {
        r = -errno;
        munmap(memory, ring->memory_size);
        munmap(entries, ring->entries_size);
        memset(ring, 0, sizeof *ring);
        return r;
    }
    for (unsigned id = 0; id < count; id++) clinux_buffer_ring_add(ring, (unsigned short)id);
    clinux_buffer_ring_publish(ring);
    return 0;
}

/// Frees the buffers; after the ring that used them is closed.
static inline void clinux_buffer_ring_free(struct clinux_buffer_ring *ring) {
    if (ring->memory) munmap(ring->memory, ring->memory_size);
    if (ring->entries) munmap(ring->entries, ring->entries_size);
    memset(ring, 0, sizeof *ring);
}

static inline const unsigned char *clinux_buffer_ring_bytes(const struct clinux_buffer_ring *ring, unsigned short id) {
    return ring->memory + (size_t)id * ring->size;
}

/// A multishot receive (6.0) into buffers of group `group`: one CQE per arrival, with the
/// buffer's id in its flags, until it ends (no IORING_CQE_F_MORE): at the end of input
/// (res 0), an error, a cancel, or no buffer left (-ENOBUFS; nothing was taken from the
/// socket). 0 or -EBUSY.
static inline int clinux_uring_recv_multishot(struct clinux_uring *ring, int fd, unsigned short group,
                                              uint64_t user_data) {
    struct io_uring_sqe *sqe = clinux_uring_get_sqe(ring);
    if (!sqe) return -EBUSY;
    sqe->opcode = IORING_OP_RECV;
    sqe->fd = fd;
    sqe->ioprio = IORING_RECV_MULTISHOT;
    sqe->flags = IOSQE_BUFFER_SELECT;
    sqe->buf_group = group;
    sqe->user_data = user_data;
    return 0;
}

/// One send of `length` bytes at `bytes` (which must stay valid until its CQE); the CQE
/// says how many went, maybe fewer. 0 or -EBUSY.
static inline int clinux_uring_send(struct clinux_uring *ring, int fd, const void *bytes, size_t length,
                                    uint64_t user_data) {
    struct io_uring_sqe *sqe = clinux_uring_get_sqe(ring);
    if (!sqe) return -EBUSY;
    sqe->opcode = IORING_OP_SEND;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)bytes;
    sqe->len = (unsigned)length;
    sqe->msg_flags = MSG_NOSIGNAL;
    sqe->user_data = user_data;
    return 0;
}

/// One sendmsg of `message` (it and its buffers valid until the CQE). 0 or -EBUSY.
static inline int clinux_uring_sendmsg(struct clinux_uring *ring, int fd, const struct msghdr *message,
                                       uint64_t user_data) {
    struct io_uring_sqe *sqe = clinux_uring_get_sqe(ring);
    if (!sqe) return -EBUSY;
    sqe->opcode = IORING_OP_SENDMSG;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)message;
    sqe->len = 1;
    sqe->msg_flags = MSG_NOSIGNAL;
    sqe->user_data = user_data;
    return 0;
}

/// Closes `fd` in the ring, after the SQEs filled before it: its number stays taken
/// until then, so no socket opened meanwhile can receive their sends. 0 or -EBUSY.
static inline int clinux_uring_close(struct clinux_uring *ring, int fd, uint64_t user_data) {
    struct io_uring_sqe *sqe = clinux_uring_get_sqe(ring);
    if (!sqe) return -EBUSY;
    sqe->opcode = IORING_OP_CLOSE;
    sqe->fd = fd;
    sqe->user_data = user_data;
    return 0;
}
#endif
