#ifndef PROXYD_CLINUX_H
#define PROXYD_CLINUX_H
// Kernel interfaces that Glibc's module map does not expose to Swift.
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/if_ether.h>
#include <linux/if_arp.h>
#include <netpacket/packet.h>
#include <net/if.h>
#endif
