"""Two explorer replicas behind nginx on loopback (deploy/nginx.conf), with sticky sessions.

Checks that each client address always reaches the same replica, that both replicas get
clients, and that sessions through the balancer work without an error; prints the figures.
nginx comes from Debian (`apt-get install nginx-light`; installed here when run as root).

Usage: python bench/replicas.py [--sessions 16] [--actions 10]
"""
import argparse
import asyncio
import collections
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from testkit import ROOT
from testkit.browser import free_port, serve_process
from testkit.load import crowd, make_home, warm_up

CHECKPOINTS = ["checkpoints/mnist-mlp-z2.pt", "checkpoints/small-z5.pt"]
CLIENTS = [f"127.0.0.{k}" for k in range(2, 10)]  # distinct loopback client addresses


def nginx_binary() -> str:
    found = shutil.which("nginx") or (Path("/usr/sbin/nginx").exists() and "/usr/sbin/nginx")
    if not found:
        print("==> installing nginx-light (Debian)")
        subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light"], check=True, stdout=subprocess.DEVNULL)
        found = shutil.which("nginx") or "/usr/sbin/nginx"
    return found


def upstream_of(url: str, client: str) -> str:
    """Which replica answers a request from `client` (nginx's X-Upstream header)."""
    import http.client
    host, port = url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(client, 0))
    conn.request("GET", "/_stcore/health")
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.getheader("X-Upstream")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sessions", type=int, default=16)
    p.add_argument("--actions", type=int, default=10)
    args = p.parse_args()
    nginx = nginx_binary()
    home = make_home(Path(tempfile.mkdtemp(prefix="vae-replicas-")))
    prefix = Path(tempfile.mkdtemp(prefix="vae-nginx-"))
    secret = secrets.token_hex(16)  # one cookie secret for all replicas
    with ExitStack() as stack:
        replicas = [stack.enter_context(serve_process(env={
            "VAE_EXPLORER_HOME": str(home), "MALLOC_ARENA_MAX": "2", "STREAMLIT_SERVER_COOKIE_SECRET": secret}))
            for _ in range(2)]
        urls = [u for u, _ in replicas]
        for u in urls:
            asyncio.run(warm_up(u, CHECKPOINTS))  # imports and caches, as on a server that has been up a while
        listen = f"127.0.0.1:{free_port()}"
        conf = (ROOT / "deploy" / "nginx.conf").read_text()
        conf = conf.replace("@PREFIX@", str(prefix)).replace("@LISTEN@", listen).replace(
            "@REPLICAS@", "\n".join(f"        server {u.split('//')[1]};" for u in urls))
        (prefix / "nginx.conf").write_text(conf)
        proc = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"])
        stack.callback(proc.terminate)
        url = f"http://{listen}"
        for _ in range(50):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        routes = {c: {upstream_of(url, c) for _ in range(5)} for c in CLIENTS}
        sticky = all(len(r) == 1 for r in routes.values())
        per_replica = collections.Counter(next(iter(r)) for r in routes.values())
        print(f"replicas {', '.join(urls)} behind nginx on {url}")
        print(f"sticky: {sticky} (each of {len(CLIENTS)} client addresses x 5 requests reached one replica); "
              f"clients per replica: {dict(per_replica)}")
        started = time.monotonic()
        res = asyncio.run(crowd(url, args.sessions, args.actions, (0.3, 1.0), CHECKPOINTS, addresses=CLIENTS))
        print(f"{args.sessions} sessions x {args.actions} actions through nginx in {time.monotonic() - started:.0f} s: "
              f"{len(res.errors)} errors")
        for action, s in res.summary().items():
            print(f"  {action:26s} median {s['median_ms']:7.0f} ms   p95 {s['p95_ms']:7.0f} ms   (n={s['n']})")
        for line in sorted(set(res.errors))[:10]:
            print(f"  error: {line}")
        if not sticky or len(per_replica) < 2 or res.errors:
            sys.exit(1)


if __name__ == "__main__":
    main()
