"""DNS rebinding: the web chat answers only to Host names it knows, unless told otherwise."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from ui_fixtures import free_port, newsdesk, server_env, stop, wait_for_http

# isort: split
from newsdesk_ui.hosts import KnownHosts, host_names, host_of


def test_a_rebinding_host_name_is_refused_and_a_configured_one_answered(
        tmp_path: Path, sample_index: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = server_env(tmp_path) | {"NEWSDESK_ALLOWED_HOSTS": "intranet.example.net"}
    process = newsdesk("serve", "--index-dir", str(sample_index), "--port", str(port),
                       "--allowed-host", "news.example.org", cwd=tmp_path, env=env)
    try:
        wait_for_http(url, process)
        with httpx.Client(timeout=30) as client:
            def get(host: str, path: str = "config", **headers: str) -> httpx.Response:
                return client.get(url + path, headers={"Host": host, **headers})

            evil = get("evil.example.com", Origin="http://evil.example.com")
            assert evil.status_code == 400
            assert evil.text == ("newsdesk does not answer to the host name 'evil.example.com'; "
                                 "start `newsdesk serve` with --allowed-host NAME (or set "
                                 "NEWSDESK_ALLOWED_HOSTS) to allow it\n")
            assert '"api_prefix"' not in evil.text  # nothing of the app reaches that page
            assert get("evil.example.com", "gradio_api/info").status_code == 400
            for host in (f"127.0.0.1:{port}", f"localhost:{port}", "News.Example.org",
                         f"intranet.example.net:{port}", f"{socket.gethostname()}:{port}"):
                assert get(host).status_code == 200, host
    finally:
        stop(process)


def test_host_headers_are_read_as_browsers_send_them() -> None:
    assert host_of("Example.org:8080") == "example.org"
    assert host_of("[::1]:7860") == "::1" and host_of("::1") == "::1"
    assert host_of("example.org.") == "example.org" and host_of("") == ""
    known = KnownHosts(app=None, names=host_names("127.0.0.1", ["news.example.org"]))  # type: ignore[arg-type]
    assert known.allows("news.example.org:443") and known.allows("10.1.2.3:7860")
    assert known.allows("[fe80::1]:7860") and known.allows("localhost")
    assert not known.allows("evil.example.com") and not known.allows(None)
    assert not known.allows("news.example.org.evil.example.com")
    assert KnownHosts(app=None, names=host_names("127.0.0.1", ["*"])).allows("any.example")  # type: ignore[arg-type]
