"""Load test of the portal: signed-in users browsing and acting against `ascn serve` on loopback.

    python benchmarks/portal_load.py [--size M] [--users 50] [--seconds 60] [--think 1.0] [--workers 2] [--db-url ADMIN_URL]

Builds a database of the size with benchmarks/network.py's builder on a fresh PostgreSQL database
(ADMIN_URL, default $ASCN_TEST_POSTGRES_URL), starts `ascn serve --workers N` in a process, signs
every user in through the real mailed link, then lets them work for a bounded time: each opens
"My work", opens one of its deliverables, and fires a trigger it offers (a real POST with the
session's CSRF token), pausing between pages as people do (`--think` seconds on average, 0 for
a closed loop that measures capacity). Reports p50/p95/p99 latency per page and the errors, then checks the audit
trail: every act the clients saw succeed is in history exactly once, and `audit verify` is clean.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from email import policy
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.network import NOW, build, fresh_database  # noqa: E402

SECRET = "load-test-secret-" + "0" * 32
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
DELIVERABLE_LINK = re.compile(r'href="/deliverables/([^"?]+)"')
TRIGGER = re.compile(r'name="trigger" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def users(count: int, cities: list[str]) -> list[str]:
    """Mostly CSCOs (who act on their city's deliverables), some NRs and one ASEC officer."""
    nrs = [f"nr@{c}.example" for c in ("th", "vn", "id", "my", "ph", "sg", "kh", "la", "mm", "bn")]
    chosen = ["officer@asec.example", *nrs[: max(1, count // 6)]]
    wanted = max(count - len(chosen), 0)
    step = max(len(cities) // max(wanted, 1), 1)  # spread over the member states
    chosen += [f"csco@{slug}.example" for slug in cities[::step][:wanted]]
    return chosen[:count]


def link_for(outbox: Path, address: str) -> str:
    for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns, reverse=True):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if address in str(message["To"]):
            text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            found = re.search(r"/signin/[A-Za-z0-9_-]+", text)
            if found:
                return found.group(0)
    raise RuntimeError(f"no sign-in link for {address}")


async def sign_in(client: Any, outbox: Path, address: str) -> None:
    page = await client.get("/")
    asked = await client.post("/signin", data={"email": address, "csrf": CSRF.search(page.text).group(1)})  # type: ignore[union-attr]
    if asked.status_code != 200:
        raise RuntimeError(f"asking a sign-in link for {address} answered {asked.status_code}")
    link = link_for(outbox, address)
    confirm = await client.get(link)
    done = await client.post(link, data={"csrf": CSRF.search(confirm.text).group(1)})  # type: ignore[union-attr]
    if done.status_code != 303:
        raise RuntimeError(f"sign-in of {address} answered {done.status_code}")


async def work(
    client: Any, until: float, think: float, timings: dict[str, list[float]], errors: list[str], acts: list[Any]
) -> None:
    rng = random.Random(id(client))

    async def pause() -> None:
        if think:
            await asyncio.sleep(rng.uniform(0.5, 1.5) * think)

    while time.monotonic() < until:
        await pause()
        started = time.perf_counter()
        try:
            mine = await client.get("/")
            timings["my work"].append(time.perf_counter() - started)
            if mine.status_code != 200:
                errors.append(f"GET / {mine.status_code}")
                continue
            ids = DELIVERABLE_LINK.findall(mine.text)
            if not ids:
                continue
            target = rng.choice(ids[:20])
            await pause()
            started = time.perf_counter()
            page = await client.get(f"/deliverables/{target}")
            timings["deliverable"].append(time.perf_counter() - started)
            if page.status_code != 200:
                errors.append(f"GET /deliverables/{target} {page.status_code}")
                continue
            triggers = [t for t in TRIGGER.findall(page.text) if t not in ("opt_out",)]
            if not triggers:
                continue
            trigger = rng.choice(triggers)
            await pause()
            form = {"csrf": CSRF.search(page.text).group(1), "trigger": trigger, "note": "load test"}  # type: ignore[union-attr]
            started = time.perf_counter()
            acted = await client.post(f"/deliverables/{target}/advance", data=form)
            timings["act"].append(time.perf_counter() - started)
            if acted.status_code == 303:
                acts.append((target, trigger))
            elif acted.status_code >= 500:
                errors.append(f"POST {target} {trigger} {acted.status_code}")
            else:  # a rule or a race refused it, in the page (4xx): the engine's answer, not an error
                timings["act refused"].append(acted.status_code)
        except Exception as error:  # transport errors count
            errors.append(f"{type(error).__name__}: {error}")


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}

    def at(q: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"n": len(ordered), "p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99)}


def check_history(config: Path, acts: list[Any]) -> dict[str, Any]:
    from ascn_workflow.app import App
    from ascn_workflow.config import load_config
    from ascn_workflow.maintenance import audit_verify

    app = App(load_config(config, explicit=True))
    with app.store.transaction(write=False) as tx:
        rows = tx.rows("SELECT deliverable_id, trigger, seq FROM history WHERE channel = 'web'")
    stored: dict[tuple[str, str], int] = defaultdict(int)
    for deliverable_id, trigger, _seq in rows:
        stored[(deliverable_id, trigger)] += 1
    seen: dict[tuple[str, str], int] = defaultdict(int)
    for act in acts:
        seen[(act[0], act[1])] += 1
    audit = audit_verify(app)
    return {
        "acts_seen_by_clients": len(acts),
        "web_history_rows": len(rows),
        "lost": sum(max(0, n - stored.get(k, 0)) for k, n in seen.items()),
        "duplicated_or_unexplained": sum(max(0, n - seen.get(k, 0)) for k, n in stored.items()),
        "audit_problems": len(audit["problems"]),
    }


async def run_load(url: str, outbox: Path, who: list[str], seconds: float, think: float) -> dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=len(who) * 2)
    clients = [httpx.AsyncClient(base_url=url, timeout=30, limits=limits) for _ in who]
    try:
        for start in range(0, len(who), 10):  # sign in ten at a time
            await asyncio.gather(
                *(
                    sign_in(c, outbox, a)
                    for c, a in zip(clients[start : start + 10], who[start : start + 10], strict=True)
                )
            )
        timings: dict[str, list[float]] = defaultdict(list)
        errors: list[str] = []
        acts: list[Any] = []
        until = time.monotonic() + seconds
        began = time.perf_counter()
        await asyncio.gather(*(work(c, until, think, timings, errors, acts) for c in clients))
        elapsed = time.perf_counter() - began
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    pages = {k: percentiles(v) for k, v in timings.items() if k != "act refused"}
    requests = sum(len(v) for k, v in timings.items() if k != "act refused") + len(timings.get("act refused", []))
    return {
        "users": len(who),
        "think_seconds": think,
        "seconds": round(elapsed, 1),
        "requests": requests,
        "requests_per_second": round(requests / elapsed, 1),
        "pages": pages,
        "acts_refused_in_page": len(timings.get("act refused", [])),
        "errors": len(errors),
        "error_samples": errors[:5],
        "acts": acts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="M", choices=["S", "M", "L"])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--think", type=float, default=1.0, help="Mean pause between pages (0: closed loop).")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db-url", default=os.environ.get("ASCN_TEST_POSTGRES_URL"), help="PostgreSQL admin URL")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()
    if not args.db_url:
        sys.exit("portal_load: give --db-url postgresql+psycopg://… (or set ASCN_TEST_POSTGRES_URL)")
    with tempfile.TemporaryDirectory() as tmp, fresh_database(args.db_url) as db_url:
        folder = Path(tmp)
        started = time.perf_counter()
        config = build(folder, args.size, db_url)
        built = time.perf_counter() - started
        port = free_port()
        with config.open("a") as handle:
            handle.write(f'\n[web]\nbase_url = "http://127.0.0.1:{port}"\n')
        from ascn_workflow.app import App
        from ascn_workflow.config import load_config

        with App(load_config(config, explicit=True)).store.transaction(write=False) as tx:
            cities = [c.slug for c in tx.cities(members=True)]
        who = users(args.users, cities)
        env = {**os.environ, "ASCN_CONFIG": str(config), "ASCN_WEB_SECRET": SECRET, "ASCN_NOW": NOW.isoformat()}
        server = subprocess.Popen(
            [sys.executable, "-m", "ascn_workflow", "serve", "--port", str(port), "--workers", str(args.workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(folder / "serve.log").open("wb"),
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait(url, server)
            result = asyncio.run(run_load(url, folder / "outbox", who, args.seconds, args.think))
        except Exception:
            log = (folder / "serve.log").read_text(errors="replace").splitlines()
            print("ascn serve's last lines:", *log[-20:], sep="\n", file=sys.stderr)
            raise
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        acts = result.pop("acts")
        result["history"] = check_history(config, acts)
        result["size"] = args.size
        result["workers"] = args.workers
        result["build_seconds"] = round(built, 1)
    print(json.dumps(result, indent=1))
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


def _wait(url: str, server: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("ascn serve exited")
        try:
            if httpx.get(url + "/framework.json", timeout=5).status_code in (200, 404):
                return
        except httpx.TransportError:
            time.sleep(0.3)
    raise RuntimeError("ascn serve did not start")


def table(result: dict[str, Any]) -> str:
    lines = ["| page | requests | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|---|"]
    for page, p in result["pages"].items():
        lines.append(f"| {page} | {p['n']} | {p.get('p50_ms')} | {p.get('p95_ms')} | {p.get('p99_ms')} |")
    h = result["history"]
    lines.append("")
    lines.append(
        f"{result['users']} users (think {result['think_seconds']} s), {result['seconds']} s, "
        f"{result['requests_per_second']} requests/s, "
        f"{result['errors']} errors, {result['acts_refused_in_page']} acts refused in the page; "
        f"history: {h['acts_seen_by_clients']} acts seen, {h['web_history_rows']} web rows, {h['lost']} lost, "
        f"{h['duplicated_or_unexplained']} duplicated, {h['audit_problems']} audit problems"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
