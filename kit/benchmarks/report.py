"""What a benchmark run found, written out: ``results/report.md`` (targets, figures without a
target, the load table, import-time contributors, notes), ``results/results.json`` (every figure),
``results/chart.png`` (throughput per level) and the console summary ending ``bench: N of M
targets met``."""

from __future__ import annotations

import json
from dataclasses import asdict

from harness import RESULTS, ROOT, Results


def write_report(results: Results) -> None:
    m = results.machine
    lines = [
        "# Benchmark report",
        "",
        f"- Machine: {m['cores']} cores, {m['cpu']}; Python {m['python']}; {m['platform']}",
        f"- Run: {m['date_utc']}; load generator, servers and clients share this machine.",
        f"- Settings: {json.dumps(results.settings)}",
        "",
        "## Targets",
        "",
        "| benchmark | figure | baseline | target | met |",
        "|---|---|---|---|---|",
    ]
    for t in results.targets:
        met = "n/a" if t.met is None else ("yes" if t.met else "**no**")
        lines.append(f"| {t.name} | {t.figure} | {t.baseline} | {t.target} | {met} |")
    met_count = sum(1 for t in results.targets if t.met)
    lines += ["", f"**bench: {met_count} of {len(results.targets)} targets met**", ""]
    if results.info:
        lines += ["## Figures without a target", "", "| figure | value |", "|---|---|"]
        lines += [f"| {name} | {value} |" for name, value in results.info]
        lines.append("")
    if results.load:
        lines += [
            "## Load: `{ user(id) { id displayName } }`",
            "",
            "| server | connections | req/s | p50 ms | p99 ms | errors |",
            "|---|---|---|---|---|---|",
        ]
        for server, levels in results.load.items():
            for level, f in levels.items():
                lines.append(
                    f"| {server} | {level} | {f['rps']:,.0f} | {f['p50_ms']:.2f} | "
                    f"{f['p99_ms']:.2f} | {f['errors']:.0f} |"
                )
        lines += [
            "",
            "gateway and bare: `wrk -t1 -cN`, HTTP keep-alive; grpc: GetUser from 2 Python client "
            "processes (threads inside) with `alvin_grpc.client.create_channel` and the service "
            "token, N calls in flight. The gRPC client is Python, so its own CPU cost is in the "
            "figure.",
            "",
        ]
        if (RESULTS / "chart.png").exists():
            lines += ["![throughput](chart.png)", ""]
    lines += per_hop_lines(results)
    for statement, data in results.figures.get("importtime", {}).items():
        lines += [
            f"## `python -X importtime -c '{statement}'`",
            "",
            f"All imports: {data['total_ms']:.0f} ms; largest (cumulative, depth 0-1):",
            "",
            "| module | cumulative ms | self ms |",
            "|---|---|---|",
        ]
        for row in data["top"]:
            lines.append(f"| {row['module']} | {row['cumulative_ms']:.1f} | {row['self_ms']:.1f} |")
        lines.append("")
    if results.notes:
        lines += ["## Notes", "", *[f"- {note}" for note in results.notes], ""]
    (RESULTS / "report.md").write_text("\n".join(lines))


def write_chart(results: Results) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        results.notes.append("matplotlib not installed: no chart")
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for server, levels in results.load.items():
        if server not in {"gateway", "bare", "grpc"}:
            continue
        ax.plot(list(levels), [f["rps"] for f in levels.values()], marker="o", label=server)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent connections / calls in flight")
    ax.set_ylabel("requests per second")
    ax.set_title(f"user(id) on {results.machine['cores']} cores")
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "chart.png", dpi=100)
    plt.close(fig)


def per_hop_lines(results: Results) -> list[str]:
    """The per-hop table: CPU ms per request of each process, its bare baseline, the ratio."""
    hop = results.figures.get("per_hop")
    if not hop:
        return []
    lines = [
        "## Per hop: CPU ms per `user(id)` request at 8 connections",
        "",
        "| process | stack | bare baseline | ratio |",
        "|---|---|---|---|",
    ]
    for name in ("gateway", "user-service", "postgres"):
        mine, bare = hop["stack"][name], hop["bare"][name]
        ratio = f"{mine / bare:.2f}x" if bare > 0 else "-"
        lines.append(f"| {name} | {mine:.3f} | {bare:.3f} | {ratio} |")
    whole = sum(hop["stack"].values())
    bare_whole = sum(hop["bare"].values())
    lines += [
        f"| whole stack | {whole:.3f} | {bare_whole:.3f} | {whole / max(bare_whole, 1e-9):.2f}x |",
        f"| bare endpoint (fixed answer) | - | {hop['bare endpoint']:.3f} | "
        f"{whole / max(hop['bare endpoint'], 1e-9):.2f}x |",
        "",
        "Baselines: gateway = `bare_gateway.py` (Flask + gunicorn, same workers and threads, the "
        "same GetUser) calling `bare_grpc.py --echo`; user-service = `bare_grpc.py "
        "--database-url` (grpcio + psycopg, the repository's SELECT) behind the bare gateway; "
        "postgres = the same PostgreSQL serving the bare servicer. Profiles: "
        "`profile-gateway.svg`, `profile-user-service.svg` (py-spy).",
        "",
    ]
    if (RESULTS / "per_hop.png").exists():
        lines += ["![per hop](per_hop.png)", ""]
    return lines


def write_per_hop_chart(results: Results) -> None:
    """Stacked bars: CPU ms per request of each process, the stack next to its baselines."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        results.notes.append("matplotlib not installed: no per-hop chart")
        return
    hop = results.figures["per_hop"]
    columns = {"stack": hop["stack"], "bare baselines": hop["bare"]}
    fig, ax = plt.subplots(figsize=(6, 4))
    hops = ("gateway", "user-service", "postgres")
    for i, name in enumerate(hops):
        bottoms = [sum(column[n] for n in hops[:i]) for column in columns.values()]
        ax.bar(list(columns), [c[name] for c in columns.values()], bottom=bottoms, label=name)
    ax.axhline(hop["bare endpoint"], color="grey", linestyle="--", label="bare endpoint")
    ax.set_ylabel("CPU ms per request (8 connections)")
    ax.set_title(f"user(id) per hop on {results.machine['cores']} cores")
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "per_hop.png", dpi=100)
    plt.close(fig)


def print_summary(results: Results) -> None:
    print()
    print(f"machine: {results.machine['cores']} cores, {results.machine['cpu']}")
    if results.load:
        print(f"{'server':<8} {'conn':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
        for server, levels in results.load.items():
            for level, f in levels.items():
                print(
                    f"{server:<8} {level:>4} {f['rps']:>9,.0f} {f['p50_ms']:>8.2f} "
                    f"{f['p99_ms']:>8.2f} {f['errors']:>6.0f}"
                )
        print()
    print(f"{'benchmark':<40} {'figure':<52} {'target':<9} met")
    for t in results.targets:
        met = "n/a" if t.met is None else ("yes" if t.met else "NO")
        print(f"{t.name:<40} {t.figure:<52} {t.target:<9} {met}")
    for statement, data in results.figures.get("importtime", {}).items():
        top = ", ".join(
            f"{r['module'].strip()} {r['cumulative_ms']:.0f} ms" for r in data["top"][1:4]
        )
        print(f"info: importtime `{statement}`: {data['total_ms']:.0f} ms (largest: {top})")
    for name, value in results.info:
        print(f"info: {name}: {value}")
    for note in results.notes:
        print(f"note: {note}")
    print(f"report: {(RESULTS / 'report.md').relative_to(ROOT)}")
    met_count = sum(1 for t in results.targets if t.met)
    print(f"bench: {met_count} of {len(results.targets)} targets met")


def write_json(results: Results) -> None:
    (RESULTS / "results.json").write_text(
        json.dumps(
            {**asdict(results), "targets": [asdict(t) for t in results.targets]},
            indent=2,
            default=str,
        )
    )
