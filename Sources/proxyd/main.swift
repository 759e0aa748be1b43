print("proxyd: not built yet")
