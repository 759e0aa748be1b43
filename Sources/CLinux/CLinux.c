// Header-only target; this file exists because SwiftPM needs one source per C target.
