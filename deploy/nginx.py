"""deploy/nginx.conf rendered for nginx on this machine, in front of API processes on loopback
(`scripts/replicated/run.sh`, tests/test_balancer.py): the same template compose's `lb` fills,
wrapped in a main config of its own that keeps every file nginx writes in one folder, so it
runs beside any system nginx, as any user.

    python -m deploy.nginx FOLDER LISTEN ROUTE=HOST:PORT [ROUTE=HOST:PORT ...]

writes FOLDER/nginx.conf (start it with `nginx -p FOLDER -c FOLDER/nginx.conf -e
FOLDER/error.log`) and FOLDER/trado.conf. Each ROUTE is that API process's EVENT_STREAM_ROUTE.
The access log names the process each request reached (`upstream=`) and how it was chosen
(`route=`: trado_api, any process; trado_api_<route>, the one a graphql-sse token names), which
tells a test or an operator how the load spread.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template

TEMPLATE = Path(__file__).with_name("nginx.conf")
ROUTE = re.compile(r"^[A-Za-z0-9]{1,16}$")  # settings.Settings.event_stream_route, not empty

MAIN = """\
# Written by `python -m deploy.nginx`: nginx in front of Trado's API processes on this machine.
worker_processes 1;
pid {folder}/nginx.pid;
daemon off;  # the caller holds the master's pid and stops it

events {{
    worker_connections 4096;
}}

http {{
    log_format trado '$remote_addr "$request" $status upstream=$upstream_addr '
                     'route=$trado_upstream request_time=$request_time';
    access_log {folder}/access.log trado;
    client_body_temp_path {folder}/temp/body;
    proxy_temp_path {folder}/temp/proxy;
    fastcgi_temp_path {folder}/temp/fastcgi;
    uwsgi_temp_path {folder}/temp/uwsgi;
    scgi_temp_path {folder}/temp/scgi;
    include {folder}/trado.conf;
}}
"""


@dataclass(frozen=True)
class ApiProcess:
    route: str  # its EVENT_STREAM_ROUTE
    address: str  # host:port


def parse_process(argument: str) -> ApiProcess:
    route, _, address = argument.partition("=")
    if not ROUTE.match(route) or ":" not in address:
        raise ValueError(f"expected ROUTE=HOST:PORT (route: letters and digits), got {argument!r}")
    return ApiProcess(route, address)


def render(listen: str, processes: list[ApiProcess]) -> str:
    """The template filled for `processes`; nginx's own `$variables` stay as they are."""
    if len({p.route for p in processes}) != len(processes):
        raise ValueError("each API process needs a route of its own")
    values = {
        "TRADO_LISTEN": listen,
        "TRADO_API_SERVERS": "\n    ".join(f"server {p.address};" for p in processes),
        "TRADO_STREAM_UPSTREAMS": "\n".join(
            f"upstream trado_api_{p.route} {{ server {p.address}; keepalive 8; }}"
            for p in processes
        ),
        "TRADO_STREAM_ROUTES": "\n    ".join(
            f"~^{p.route}\\. trado_api_{p.route};" for p in processes
        ),
    }
    return Template(TEMPLATE.read_text()).safe_substitute(values)


def write(folder: Path, listen: str, processes: list[ApiProcess]) -> Path:
    """FOLDER/nginx.conf and what it includes; returns the main config's path."""
    folder = folder.resolve()
    (folder / "temp").mkdir(parents=True, exist_ok=True)
    (folder / "trado.conf").write_text(render(listen, processes))
    main = folder / "nginx.conf"
    main.write_text(MAIN.format(folder=folder))
    return main


def main(arguments: list[str]) -> int:
    if len(arguments) < 3:  # noqa: PLR2004 (folder, listen, one process at least)
        print(__doc__, file=sys.stderr)
        return 2
    folder, listen, *processes = arguments
    print(write(Path(folder), listen, [parse_process(p) for p in processes]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
