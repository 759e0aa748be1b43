public enum VRRPCoreVersion { public static let string = "0.1" }
