print("vrrpd: not built yet")
