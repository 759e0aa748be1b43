"""scripts/bench's load scenarios: 10,000 concurrent connections (issue 13) and a normal client
under 10,000 slowloris + 10,000 idle keep-alive connections (issue 14).

Kept apart from scripts/bench, which imports it; scripts/bench is a script, not a module, so
its helpers (Proxy, rss_kib, median_spread, …) come in as `h`. The connections come from
scripts/lib/loadclient.c (one thread, epoll), compiled here with the system's `cc` and run on
core 1 beside nginx, as wrk is; the proxies run on core 0, one thread, with the same
descriptor limit (inherited from scripts/bench, which raises it) and `maxconn 30000`.

    c10k          10,000 client connections in a closed loop for --load-seconds: half keep the
                  connection for 10 requests, half send `Connection: close` (a new connection per
                  request, whose latency counts from connect()). req/s, p50/p99/max latency,
                  proxy CPU per request, RSS, descriptors; client CPU to show it is not the limit.
    hostile-load  a normal client (10 keep-alive connections, 200 req/s at fixed times, latency
                  from the scheduled time) alone ("quiet"), then while 10,000 slowloris connections
                  (the request head one byte every 3 s, never finished; `timeout http-request 10s`
                  cuts them and they reconnect) and 10,000 idle keep-alive connections (one
                  request, then silent; `timeout http-keep-alive 300s` keeps them) are held.
                  The normal client runs in a loadclient process of its own, beside the
                  load's (`run_probe_beside_load`).
                  Quiet p99, loaded p99, their ratio (goal ≤ 1.10), RSS before/during/after,
                  descriptors after (5 s after the load left), slowloris cut times.
"""
import contextlib, json, os, subprocess, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOAD_CONNECTIONS = 10_000
# A normal client well below either proxy's capacity (~40,000 req/s here): its p99 then shows
# what the load costs it, not its own queueing.
PROBE_CONNECTIONS, PROBE_RATE = 10, 200
SLOW_INTERVAL_S, HTTP_REQUEST_TIMEOUT = 3, "10s"


def connection_counts(bench):
    """How many connections the descriptor limit allows, at most LOAD_CONNECTIONS each.

    Without CAP_SYS_RESOURCE the hard RLIMIT_NOFILE cannot be raised (20,000 in this project's
    containers) and HAProxy refuses to start with a maxconn it cannot serve with two
    descriptors per connection (client and server side). Every client connection of a run
    must fit in maxconn: beyond it both proxies leave the rest in the kernel's accept queue.
    Fewer connections than asked are said in the notes."""
    most = max_connections(bench) - 100
    active = min(LOAD_CONNECTIONS, most)
    hostile = min(LOAD_CONNECTIONS, (most - PROBE_CONNECTIONS) // 2)  # slowloris + as many idle
    return active // 100 * 100, hostile // 100 * 100


def max_connections(bench):
    """maxconn for both proxies: 30,000 as an operator would set it, or what the descriptors allow."""
    return min(30_000, (bench.fd_limit - 200) // 2)


def note_scaled(bench, key, count, what):
    if count < LOAD_CONNECTIONS:
        bench.notes.append(f"{key}: {count:,} {what} instead of {LOAD_CONNECTIONS:,}, the most the descriptor "
                           f"limit ({bench.fd_limit:,}, hard; raising it needs CAP_SYS_RESOURCE) allows within maxconn "
                           f"{max_connections(bench):,}; raise `ulimit -Hn` to 62,000 for the full count")


def build_client(work):
    """Compiles scripts/lib/loadclient.c into the bench's temp dir; returns its path."""
    path = os.path.join(work, "loadclient")
    if not os.path.exists(path):
        subprocess.run(["cc", "-O2", "-o", path, os.path.join(REPO, "scripts", "lib", "loadclient.c")],
                       check=True, capture_output=True, text=True)
    return path


def load_config(port, backend_port, hostile, maxconn):
    # Operators raise maxconn for such loads (30,000 here when the descriptors allow it):
    # HAProxy's default would queue the connections in the kernel instead, and it refuses to
    # start with a maxconn the descriptor limit cannot serve. Both proxies read the same file.
    timeouts = (f"    timeout http-request {HTTP_REQUEST_TIMEOUT}\n    timeout http-keep-alive 300s\n"
                "    timeout client 300s\n" if hostile else "    timeout client 30s\n")
    return f"""global
    nbthread 1
    maxconn {maxconn}
defaults
    mode http
    maxconn {maxconn}
    timeout connect 5s
    timeout server 30s
{timeouts}frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s1 127.0.0.1:{backend_port}
"""


def runqueue_wait_seconds(pid):
    """Time the process's threads were runnable but waited for a CPU (schedstat; proxyd's
    reactor is not its main thread): on a shared machine it tells how much of a figure is
    other people's load."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[1])
        except (OSError, IndexError, ValueError):
            pass  # a thread that ended meanwhile
    return total / 1e9


def listen_drops():
    """SYNs or handshakes the kernel dropped because a listen queue was full (TcpExt
    ListenDrops, the whole network namespace): the client then waits 1 s for a retransmit.
    A proxy that accepts slowly, or listens with a small backlog, shows here first."""
    lines = [l.split() for l in open("/proc/net/netstat") if l.startswith("TcpExt:")]
    return int(dict(zip(lines[0][1:], lines[1][1:])).get("ListenDrops", 0)) if len(lines) == 2 else 0


class Sampler:
    """Reads /proc for the proxy and the client at the start and the end of the measured window."""

    def __init__(self, h, proxy_pid, client_pid):
        self.h, self.proxy_pid, self.client_pid = h, proxy_pid, client_pid

    def mark(self):
        h = self.h
        return {"t": time.monotonic(), "proxy_cpu": h.cpu_seconds(self.proxy_pid),
                "client_cpu": h.cpu_seconds(self.client_pid), "rss": h.rss_kib(self.proxy_pid),
                "fds": h.fd_count(self.proxy_pid), "proxy_wait": runqueue_wait_seconds(self.proxy_pid),
                "listen_drops": listen_drops()}


@contextlib.contextmanager
def loadclient(bench, port, args):
    """A loadclient process against port on core 1, killed if it is still running at the end."""
    cmd = ["taskset", "-c", "1", bench.load_client, str(port)] + [str(a) for a in args]
    client = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield client
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()


def errors_by_kind(result):
    """A loadclient result's errors by kind and its non-200 answers by status; kinds that did
    not happen are left out."""
    errors = {kind: n for kind, n in result["errors"].items() if n and kind != "status"}
    errors.update({f"HTTP {code}": n for code, n in result.get("statuses", {}).items()})
    return errors


def run_client(bench, h, proxy, port, args, timeout=180):
    """Runs loadclient against port; returns its JSON and /proc figures over its measured window."""
    with loadclient(bench, port, args) as client:
        sampler, start, result = Sampler(h, proxy.pid, client.pid), None, None
        deadline = time.monotonic() + timeout
        for line in client.stdout:  # one line when the window opens, the result when it closes
            line = line.strip()
            if line == "measuring":
                start = sampler.mark()
            elif line.startswith("{"):
                end = sampler.mark()
                result = json.loads(line)
                break
            if time.monotonic() > deadline:
                break
        client.wait(timeout=30)
    if result is None or start is None:
        raise RuntimeError(f"loadclient gave no result: {client.stderr.read().strip()[-300:]}")
    result["errors"] = errors_by_kind(result)
    seconds = end["t"] - start["t"]
    result["proxy_cpu_pct"] = 100 * (end["proxy_cpu"] - start["proxy_cpu"]) / seconds
    result["client_cpu_pct"] = 100 * (end["client_cpu"] - start["client_cpu"]) / seconds
    result["proxy_cpu_us"] = (end["proxy_cpu"] - start["proxy_cpu"]) * 1e6 / max(result["requests"], 1)
    result["listen_drops"] = end["listen_drops"] - start["listen_drops"]
    result["proxy_wait_pct"] = 100 * (end["proxy_wait"] - start["proxy_wait"]) / seconds
    result["rss_during"] = max(start["rss"], end["rss"])
    result["fds_during"] = max(start["fds"], end["fds"])
    return result


def run_probe_beside_load(bench, h, proxy, port, probe, load, hold):
    """The normal client in a process of its own beside the load's.

    One loadclient thread for both would time the load generator, not the proxy: when the
    proxy cuts thousands of slowloris connections at the same mark, the client's own thread
    spends tens of ms reading their ends and reconnecting them, and the probe's requests
    due meanwhile leave late (latency counts from the scheduled time). In its own process
    the probe is woken as soon as its timer or an answer is due. Both processes run on
    core 1, beside nginx; the proxy's figures are sampled over the probe's window."""
    window = 2 + bench.load_seconds
    with loadclient(bench, port, load + ["--hold", hold, "--duration", window + 5]) as loader:
        # The load is up, and past its first cuts, when its window opens.
        if not any(line.strip() == "measuring" for line in loader.stdout):
            raise RuntimeError(f"loadclient (load) gave no window: {loader.stderr.read().strip()[-300:]}")
        result = run_client(bench, h, proxy, port, probe + ["--hold", 2, "--duration", bench.load_seconds])
        load_result = next((json.loads(line) for line in loader.stdout if line.startswith("{")), None)
        loader.wait(timeout=30)
    if load_result is None:
        raise RuntimeError(f"loadclient (load) gave no result: {loader.stderr.read().strip()[-300:]}")
    result["errors"] = h.sum_errors([result["errors"], errors_by_kind(load_result)])
    for key in ("slowloris_cut_after", "slowloris_cuts", "idle_closed", "held_at_end"):
        result[key] = load_result[key]
    return result


def error_count(result):
    return sum(result["errors"].values())


# MARK: - c10k (issue 13)

def c10k(bench, h, key):
    count = connection_counts(bench)[0]
    note_scaled(bench, key, count, "concurrent connections")
    maxconn = max_connections(bench)
    title = f"{count:,} concurrent connections, 50% keep-alive (10 requests each), 100 B"
    bench.load_client = build_client(bench.work)
    samples = {name: [] for name in h.NAMES}
    for r in range(bench.load_rounds):
        for name in (h.NAMES if r % 2 == 0 else h.NAMES[::-1]):
            port = h.free_port()
            proxy = h.Proxy(bench, name, load_config(port, bench.web_port, False, maxconn), port, tag="-c10k")
            try:
                result = run_client(bench, h, proxy, port, [
                    "--active", count, "--keepalive-share", 0.5, "--requests-per-conn", 10,
                    "--hold", 5, "--duration", bench.load_seconds])
            finally:
                proxy.stop()
            samples[name].append(result)
            print(f"  c10k round {r + 1} {name}: {result['rps']:.0f} req/s, p99 {result['active']['p99_ms']:.1f} ms, "
                  f"errors {result['errors']}, proxy CPU {result['proxy_cpu_pct']:.0f} %, "
                  f"client CPU {result['client_cpu_pct']:.0f} %, listen drops {result['listen_drops']}, proxy waited for a CPU {result['proxy_wait_pct']:.0f} %",
                  flush=True)
    row = {"title": title}
    for name in h.NAMES:
        s = samples[name]
        row[name] = {"rps": h.median_spread([x["rps"] for x in s]),
                     "p50": h.median_spread([x["active"].get("p50_ms", float("nan")) for x in s]),
                     "p99": h.median_spread([x["active"].get("p99_ms", float("nan")) for x in s]),
                     "max": h.median_spread([x["active"].get("max_ms", float("nan")) for x in s]),
                     "cpu_us": h.median_spread([x["proxy_cpu_us"] for x in s]),
                     "rss": h.median_spread([x["rss_during"] for x in s]),
                     "fds": h.median_spread([x["fds_during"] for x in s]),
                     "client_cpu": h.median_spread([x["client_cpu_pct"] for x in s]),
                     "wait": h.median_spread([x["proxy_wait_pct"] for x in s]),
                     "drops": h.median_spread([x["listen_drops"] for x in s]),
                     "errors": h.sum_errors(x["errors"] for x in s)}
    bench.results[key] = row
    p, q = row["proxyd"], row["haproxy"]
    print(f"{title}: proxyd {p['rps'][0]:.0f} req/s, p99 {p['p99'][0]:.1f} ms, {p['cpu_us'][0]:.1f} µs/req | "
          f"haproxy {q['rps'][0]:.0f} req/s, p99 {q['p99'][0]:.1f} ms, {q['cpu_us'][0]:.1f} µs/req | "
          f"ratio p99 {h.ratio(p['p99'][0], q['p99'][0]):.2f}", flush=True)


# MARK: - hostile-load (issue 14)

def hostile_load(bench, h, key):
    count = connection_counts(bench)[1]
    note_scaled(bench, key, count, "slowloris + as many idle connections")
    maxconn = max_connections(bench)
    title = (f"normal client ({PROBE_CONNECTIONS} conns, {PROBE_RATE:,} req/s) beside {count:,} slowloris "
             f"+ {count:,} idle keep-alive connections")
    bench.load_client = build_client(bench.work)
    probe = ["--probe", PROBE_CONNECTIONS, "--rate", PROBE_RATE]
    samples = {name: [] for name in h.NAMES}
    for r in range(bench.load_rounds):
        for name in (h.NAMES if r % 2 == 0 else h.NAMES[::-1]):
            port = h.free_port()
            proxy = h.Proxy(bench, name, load_config(port, bench.web_port, True, maxconn), port, tag="-hostile")
            try:
                quiet = run_client(bench, h, proxy, port, probe + ["--hold", 2, "--duration", bench.load_seconds])
                time.sleep(1)
                rss_before, fds_before = h.rss_kib(proxy.pid), h.fd_count(proxy.pid)
                # --hold 12: past the first cut of every slowloris connection (10 s), so the
                # window sees the steady churn of cuts and reconnects.
                loaded = run_probe_beside_load(bench, h, proxy, port, probe, [
                    "--slowloris", count, "--slow-interval", SLOW_INTERVAL_S, "--idle", count], hold=12)
                time.sleep(5)  # the client reset its connections when it exited
                rss_after, fds_after = h.rss_kib(proxy.pid), h.fd_count(proxy.pid)
            finally:
                proxy.stop()
            sample = {"quiet": quiet["probe"].get("p99_ms", float("nan")),
                      "loaded": loaded["probe"].get("p99_ms", float("nan")),
                      "loaded_max": loaded["probe"].get("max_ms", float("nan")),
                      "rss": (rss_before, loaded["rss_during"], rss_after), "fds": (fds_before, loaded["fds_during"], fds_after),
                      "cut_after": loaded["slowloris_cut_after"].get("p50_ms", float("nan")) / 1e3,
                      "cut_max": loaded["slowloris_cut_after"].get("max_ms", float("nan")) / 1e3,
                      "cuts": loaded["slowloris_cuts"], "idle_closed": loaded["idle_closed"] + loaded["probe_closed"],
                      "held": loaded["held_at_end"], "cpu_pct": loaded["proxy_cpu_pct"],
                      "wait": max(quiet["proxy_wait_pct"], loaded["proxy_wait_pct"]),
                      "errors": h.sum_errors([quiet["errors"], loaded["errors"]]),
                      "late": quiet["probe_late"] + loaded["probe_late"]}
            sample["ratio"] = h.ratio(sample["loaded"], sample["quiet"])
            samples[name].append(sample)
            print(f"  hostile-load round {r + 1} {name}: p99 quiet {sample['quiet']:.2f} ms, loaded {sample['loaded']:.2f} ms "
                  f"({sample['ratio']:.2f}×), RSS KiB {sample['rss']}, fds {sample['fds']}, slowloris cut after "
                  f"{sample['cut_after']:.1f} s (max {sample['cut_max']:.1f}), idle closed {sample['idle_closed']}, "
                  f"held {sample['held']}, errors {sample['errors']}, proxy waited for a CPU up to {sample['wait']:.0f} %",
                  flush=True)
    row = {"title": title, "count": count}
    for name in h.NAMES:
        s = samples[name]
        middle = sorted(s, key=lambda x: x["ratio"])[len(s) // 2]  # RSS and fds of the median round
        row[name] = {k: h.median_spread([x[k] for x in s]) for k in ("quiet", "loaded", "ratio", "cut_after", "cpu_pct", "wait")}
        row[name].update({"rss": middle["rss"], "fds": middle["fds"], "cut_max": max(x["cut_max"] for x in s),
                          "idle_closed": sum(x["idle_closed"] for x in s), "late": sum(x["late"] for x in s),
                          "errors": h.sum_errors(x["errors"] for x in s)})
    bench.results[key] = row
    p, q = row["proxyd"], row["haproxy"]
    print(f"{title}: p99 loaded/quiet proxyd {p['ratio'][0]:.2f}× ({p['quiet'][0]:.2f} → {p['loaded'][0]:.2f} ms), "
          f"haproxy {q['ratio'][0]:.2f}× ({q['quiet'][0]:.2f} → {q['loaded'][0]:.2f} ms)", flush=True)


# MARK: - Goals and report

def goals(results, h):
    out = []
    row = results.get("c10k")
    if row:
        p, q = row["proxyd"]["p99"][0], row["haproxy"]["p99"][0]
        r = h.ratio(p, q)
        out.append((f"p99 at {LOAD_CONNECTIONS:,} concurrent connections, 50% keep-alive", "≤ HAProxy's",
                    f"{h.fmt_ratio(r)}× ({p:.1f} vs {q:.1f} ms; {row['title'].split(' ')[0]} connections)", r <= 1.0))
    else:
        out.append((f"p99 at {LOAD_CONNECTIONS:,} concurrent connections, 50% keep-alive", "≤ HAProxy's", "not measured", None))
    row = results.get("hostile-load")
    goal = f"Normal client's p99 beside {LOAD_CONNECTIONS:,} slowloris + {LOAD_CONNECTIONS:,} idle connections"
    if row:
        p = row["proxyd"]
        out.append((goal, "≤ 1.10× its quiet p99",
                    f"{h.fmt_ratio(p['ratio'][0])}× ({p['quiet'][0]:.2f} → {p['loaded'][0]:.2f} ms; HAProxy "
                    f"{h.fmt_ratio(row['haproxy']['ratio'][0])}×; {row['count']:,} + {row['count']:,} connections)",
                    p["ratio"][0] <= 1.10))
    else:
        out.append((goal, "≤ 1.10× its quiet p99", "not measured", None))
    return out


def report_lines(bench, h):
    r, lines = bench.results, []
    if "c10k" not in r and "hostile-load" not in r:
        return lines
    lines += ["", "## Under load", "",
              f"scripts/lib/loadclient.c (one thread, epoll, on core 1 beside nginx) against each proxy started "
              f"fresh with `maxconn 30000`; {bench.load_rounds} alternating round(s) of {bench.load_seconds} s "
              "measured after the connections are up and a hold; medians (min..max)."]
    row = r.get("c10k")
    if row:
        lines += ["", f"**{row['title']}**: closed loop; the close half's latency counts from connect(). "
                  "Client CPU: the load client's share of core 1 (nginx shares that core). Run-queue wait: the share "
                  "of the window the proxy was runnable but waited for its core (/proc/PID/schedstat); above a few % "
                  "the machine was busy with something else. Listen drops: connections the kernel dropped in the window "
                  "for a full accept queue (TcpExt ListenDrops; each costs its client a 1 s retransmit).", "",
                  "| proxy | req/s | p50 ms | p99 ms | max ms | CPU µs/req | RSS KiB | descriptors | client CPU % "
                  "| run-queue wait % | listen drops | errors |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name in h.NAMES:
            x = row[name]
            lines.append(f"| {h.LABEL[name]} | {h.fmt_spread(x['rps'])} | {h.fmt_spread(x['p50'], 1)} | {h.fmt_spread(x['p99'], 1)} "
                         f"| {h.fmt_spread(x['max'], 1)} | {h.fmt_spread(x['cpu_us'], 1)} | {x['rss'][0]:.0f} | {x['fds'][0]:.0f} "
                         f"| {x['client_cpu'][0]:.0f} | {x['wait'][0]:.0f} | {x['drops'][0]:.0f} | {h.error_text(x['errors'])} |")
        p, q = row["proxyd"], row["haproxy"]
        lines.append(f"| ratio | {h.fmt_ratio(h.ratio(p['rps'][0], q['rps'][0]))} | {h.fmt_ratio(h.ratio(p['p50'][0], q['p50'][0]))} "
                     f"| {h.fmt_ratio(h.ratio(p['p99'][0], q['p99'][0]))} | {h.fmt_ratio(h.ratio(p['max'][0], q['max'][0]))} "
                     f"| {h.fmt_ratio(h.ratio(p['cpu_us'][0], q['cpu_us'][0]))} | {h.fmt_ratio(h.ratio(p['rss'][0], q['rss'][0]))} | | | | | |")
    row = r.get("hostile-load")
    if row:
        lines += ["", f"**{row['title']}**: slowloris heads one byte every {SLOW_INTERVAL_S} s, never finished, cut by "
                  f"`timeout http-request {HTTP_REQUEST_TIMEOUT}` and reconnected; the idle ones kept by `timeout "
                  "http-keep-alive 300s`. p99 of the normal client (latency from each request's scheduled time) alone, "
                  "then with the load held; RSS KiB and descriptors before the load → during → 5 s after it left "
                  "(median round).", "",
                  "| proxy | quiet p99 ms | loaded p99 ms | loaded / quiet | slowloris cut after s (max) | RSS KiB | "
                  "descriptors | proxy CPU % | run-queue wait % | idle closed | errors |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for name in h.NAMES:
            x = row[name]
            lines.append(f"| {h.LABEL[name]} | {h.fmt_spread(x['quiet'], 2)} | {h.fmt_spread(x['loaded'], 2)} "
                         f"| {h.fmt_spread(x['ratio'], 2)} | {x['cut_after'][0]:.1f} ({x['cut_max']:.1f}) "
                         f"| {' → '.join(map(str, x['rss']))} | {' → '.join(map(str, x['fds']))} | {x['cpu_pct'][0]:.0f} "
                         f"| {x['wait'][0]:.0f} | {x['idle_closed']} | {h.error_text(x['errors'])} |")
    return lines
