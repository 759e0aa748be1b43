/// Cuts the configuration loader off from the machine, for the fuzz targets (Fuzz/,
/// `scripts/fuzz`): a generated configuration may name any file (`errorfile /dev/zero`,
/// `crt /etc/shadow`) or host name, and fuzzing must neither read the first nor wait for
/// DNS on the second. Isolated, every path is missing and only numeric addresses
/// resolve. Nothing else sets it: daemons and tests always see the real files.
enum LoaderIsolation {
    nonisolated(unsafe) static var enabled = false
}
