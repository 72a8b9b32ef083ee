"""Which hosts `lab run` may load-test: exact names only, look-alikes refused."""

from __future__ import annotations

import pytest

from lab.errors import EXIT_BAD_INPUT, LabError
from lab.target_safety import LAB_SERVICE_NAMES, check_target


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1"),
        ("http://127.8.9.10/", "127.8.9.10"),
        ("http://localhost:8000", "localhost"),
        ("http://LOCALHOST:8000/path", "localhost"),
        ("http://[::1]:8000", "::1"),
        ("http://app:8000", "app"),
        ("https://locust-master:8089", "locust-master"),
        ("http://APP:8000", "app"),
    ],
)
def test_lab_hosts_are_allowed_and_named(url: str, host: str) -> None:
    assert check_target(url) == host


def test_every_lab_service_name_is_allowed() -> None:
    for name in LAB_SERVICE_NAMES:
        assert check_target(f"http://{name}:1234/") == name


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://localhost.example.com:8000", "localhost.example.com"),
        ("http://localhost.evil.com", "localhost.evil.com"),
        ("http://mylocalhost", "mylocalhost"),
        ("http://app.localhost", "app.localhost"),
        ("http://app.evil", "app.evil"),
        ("http://evil-app", "evil-app"),
        ("http://prometheus.example.com", "prometheus.example.com"),
        ("http://127.0.0.1.nip.io:8000", "127.0.0.1.nip.io"),
        ("http://127.example.com", "127.example.com"),
        ("http://0x7f000001/", "0x7f000001"),
        ("http://10.0.0.5:8000", "10.0.0.5"),
        ("http://[::ffff:10.0.0.5]/", "::ffff:10.0.0.5"),
        ("https://shop.example.com", "shop.example.com"),
    ],
)
def test_look_alikes_and_other_hosts_are_refused(url: str, host: str) -> None:
    with pytest.raises(LabError, match="--allow-target") as refused:
        check_target(url)
    assert f"{host!r}" in refused.value.message
    assert refused.value.exit_code == EXIT_BAD_INPUT


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1@shop.example.com",
        "http://127.0.0.1:8000@shop.example.com/",
        "http://shop.example.com@127.0.0.1:8000",  # loopback in the end, but say what you mean
        "http://127.0.0.1:8000\\@shop.example.com",
        "http://user:secret@localhost:8000",
    ],
)
def test_urls_with_user_info_are_refused(url: str) -> None:
    with pytest.raises(LabError, match="user info") as refused:
        check_target(url)
    assert refused.value.exit_code == EXIT_BAD_INPUT
    with pytest.raises(LabError):
        check_target(url, ["shop.example.com", "127.0.0.1", "localhost"])


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:8000",
        "https://shop.example.com",
        "http://app.example.com",
        "http://192.168.1.1",
    ],
)
def test_other_hosts_need_their_exact_name_allowed(url: str) -> None:
    host = url.split("//")[1].split(":")[0].split("/")[0]
    assert check_target(url, [host]) == host
    assert check_target(url, [host.upper()]) == host
    for near_miss in (host + ".evil", "example.com", host[:-1], "evil." + host):
        with pytest.raises(LabError, match="--allow-target"):
            check_target(url, [near_miss])


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "127.0.0.1:8000", "http://", "file:///etc"])
def test_target_must_be_an_http_url(url: str) -> None:
    with pytest.raises(LabError, match="not an http"):
        check_target(url)


def test_refusals_say_what_to_do() -> None:
    with pytest.raises(LabError) as refused:
        check_target("http://127.0.0.1\\.evil.com/")  # clients disagree on this host
    assert refused.value.message == (
        "target 'http://127.0.0.1\\\\.evil.com/' carries user info or a backslash: "
        "give the host alone, such as http://127.0.0.1:8000"
    )
