public enum ProxyCoreVersion { public static let string = "0.1" }
