"""Real nmap against a listener on 127.0.0.1 (loopback only: never any other address)."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.config import NetworkConfig
from auditor.sources.network import NmapSource

pytestmark = pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")
NOW = datetime(2026, 11, 28, tzinfo=UTC)


@pytest.fixture
def listener() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


@pytest.mark.parametrize("privileged", [False, True])
def test_sweep_finds_open_port(listener: int, privileged: bool) -> None:
    if privileged and os.geteuid() != 0:
        pytest.skip("SYN scan needs root")
    config = NetworkConfig(name="lo", targets=("127.0.0.1",), ports=(listener, closed_port()))
    result = NmapSource(config, privileged=privileged).collect(NOW)
    assert result.ok, result.error
    (obs,) = result.observations
    assert obs.identifiers[0] == "ip:127.0.0.1"
    assert [p["port"] for p in obs.attributes["open_ports"]] == [listener]
    assert result.details["scan_type"].startswith("syn" if privileged else "connect")


def test_bad_target_fails_the_source_not_the_run() -> None:
    config = NetworkConfig(name="lo", targets=("127.0.0.1", "--script=x"), ports=(22,))
    result = NmapSource(config).collect(NOW)
    assert not result.ok and result.observations == ()
    assert result.error is not None and "looks like an option" in result.error


def test_imported_xml_and_a_missing_file(tmp_path: Path) -> None:
    fixtures = Path(__file__).parent.parent / "fixtures" / "nmap"
    config = NetworkConfig(
        name="import",
        nmap_xml=(fixtures / "loopback-syn.xml", fixtures / "truncated.xml", tmp_path / "no.xml"),
    )
    result = NmapSource(config).collect(NOW)
    assert [o.identifiers[0] for o in result.observations] == ["ip:127.0.0.1"]
    assert not result.ok
    assert any("partial result" in e for e in result.errors)
    assert any("no.xml: cannot read nmap XML" in e for e in result.errors)


NOBODY = 65534
SWEEP_AS_NOBODY = """
import json, sys
from datetime import UTC, datetime
from auditor.config import NetworkConfig
from auditor.sources.network import NmapSource
config = NetworkConfig(name="lo", targets=("127.0.0.1",), ports=(int(sys.argv[1]),))
result = NmapSource(config).collect(datetime.now(UTC))
print(json.dumps({"ok": result.ok, "error": result.error, "details": dict(result.details),
    "open": [p["port"] for o in result.observations for p in o.attributes["open_ports"]]}))
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setcap") is None or shutil.which("setpriv") is None,
    reason="needs root, setcap and setpriv to run a sweep as an unprivileged user",
)
def test_unprivileged_sweep_with_a_capable_nmap_is_a_syn_scan(listener: int) -> None:
    """`setcap cap_net_raw,cap_net_admin+eip` on nmap, as docs/install.md says: an auditor
    running as nobody then sweeps with SYN packets (nmap told --privileged), not connect."""
    import json
    import subprocess
    import sys
    import tempfile

    def sweep(nmap_dir: str) -> dict[str, object]:
        env = {"PATH": f"{nmap_dir}:/usr/bin:/bin", "HOME": "/nonexistent"}
        run = subprocess.run(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
             sys.executable, "-c", SWEEP_AS_NOBODY, str(listener)],
            capture_output=True, text=True, timeout=120, env=env,
            cwd=str(Path(__file__).resolve().parents[2]),
        )  # fmt: skip
        if run.returncode != 0:
            pytest.skip(f"this interpreter cannot run as nobody here: {run.stderr[-300:]}")
        result: dict[str, object] = json.loads(run.stdout)
        return result

    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        nmap = Path(tmp) / "nmap"
        shutil.copy(shutil.which("nmap") or "", nmap)
        nmap.chmod(0o755)
        plain = sweep(tmp)
        assert plain["ok"] and plain["open"] == [listener], plain
        assert str(plain["details"]["scan_type"]).startswith("connect")  # type: ignore[index]
        subprocess.run(["setcap", "cap_net_raw,cap_net_admin+eip", str(nmap)], check=True)
        capable = sweep(tmp)
        assert capable["ok"] and capable["open"] == [listener], capable
        scan_type = str(capable["details"]["scan_type"])  # type: ignore[index]
        assert scan_type.startswith(f"syn (file capabilities cap_net_raw,cap_net_admin on {nmap}")


@pytest.mark.parametrize("privileged", [False, True])
def test_direct_recheck_of_a_host_the_sweep_missed(listener: int, privileged: bool) -> None:
    # The re-check's own nmap run (-Pn, 3 retries), connect and SYN alike, on loopback.
    from auditor.recheck import RecheckPlan, run_recheck

    if privileged and os.geteuid() != 0:
        pytest.skip("SYN scan needs root")
    closed = closed_port()
    plan = RecheckPlan({"127.0.0.1": "lo"}, (listener, closed), targets=("127.0.0.0/8",))
    result = run_recheck(plan, NOW, privileged=privileged)
    assert result.error is None, result.error
    assert all("-Pn" in a and "--max-retries 3" in a for a in result.arguments)
    (seen,) = result.observations
    assert seen.identifiers == ("ip:127.0.0.1",) and seen.alive
    assert [p["port"] for p in seen.attributes["open_ports"]] == [listener]
    assert seen.attributes["closed_ports"] == [closed]  # a reset is an answer too
