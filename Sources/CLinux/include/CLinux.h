#ifndef PROXYD_CLINUX_H
#define PROXYD_CLINUX_H
// Kernel interfaces that Glibc's module map does not expose to Swift.
// Order matters: glibc's <net/if.h> and <netpacket/packet.h> come before the kernel
// headers, and <linux/if_arp.h> is replaced by glibc's <net/if_arp.h>, because the kernel
// versions redefine IFF_* and sockaddr_ll and the module would not build.
#include <sys/socket.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netpacket/packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/if_ether.h>
#include "CLinuxCapabilities.h"
#include "CLinuxVRRP.h"
#include "CLinuxSupervisor.h"
#include "CLinuxReactor.h"
#include "CLinuxUring.h"
#endif
