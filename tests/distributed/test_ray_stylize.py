"""`animegan stylize --ray` and `animegan.distributed` on a real 2-node Ray cluster on this machine.

The cluster (``ray.cluster_utils.Cluster``: 2 nodes × 1 CPU) is built once for the module. Every
node uses 127.0.0.2 as its IP (Ray would otherwise advertise the machine's outward address), and
the plain run checks with ``ss`` that every connection of the cluster and the command stays in
127.0.0.0/8. Photos are crops of the bundled sample photos, written as PNG and JPEG.
"""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from animegan.cli.main import app
from animegan.resources import sample_photos

NODE_IP = "127.0.0.2"
N_PHOTOS = 20


def _have_ray() -> bool:
    try:
        import ray.cluster_utils
        import ray.data  # noqa: F401
    except ImportError:
        return False
    return True


needs_ray = pytest.mark.skipif(not _have_ray(), reason='the ray extra is not installed: pip install "animegan[ray]"')


@pytest.fixture(scope="module")
def cluster(ray_turn):
    if not _have_ray():
        pytest.skip('the ray extra is not installed: pip install "animegan[ray]"')
    with ray_turn():
        yield from _cluster()


def _cluster():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from ray.cluster_utils import Cluster

    health = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
              "health_check_timeout_ms": 500, "health_check_failure_threshold": 4}
    built = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "node_ip_address": NODE_IP, "include_dashboard": False, "_system_config": health})
    built.add_node(num_cpus=1, node_ip_address=NODE_IP)
    built.wait_for_nodes()
    yield built
    built.shutdown()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """20 small real photos (crops of the bundled samples), PNG and JPEG, one subfolder, one corrupt file."""
    folder = tmp_path_factory.mktemp("photos")
    sources = [Image.open(path).convert("RGB") for path in sample_photos()]
    for i in range(N_PHOTOS):
        image = sources[i % len(sources)]
        w, h = image.size
        side = min(w, h) // (2 + i % 3)
        left, top = (i * 37) % (w - side), (i * 53) % (h - side)
        crop = image.crop((left, top, left + side, top + side)).resize((48 + 8 * (i % 3), 40 + 8 * (i % 4)))
        target = folder / ("trip" if i % 5 == 0 else "") / f"p{i:02d}.{'png' if i % 2 else 'jpg'}"
        target.parent.mkdir(exist_ok=True)
        crop.save(target, quality=92)
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    return folder


@pytest.fixture(scope="module")
def local_out(photos: Path, tiny_weights: Path, tmp_path_factory) -> Path:
    """The plain local `animegan stylize` output: what the cluster must reproduce."""
    out = tmp_path_factory.mktemp("local") / "out"
    result = CliRunner().invoke(app, ["stylize", str(photos), "-o", str(out), "--model", str(tiny_weights),
                                      "--precision", "fp32"])
    assert result.exit_code == 1, result.stderr  # the corrupt file
    return out


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".part" in p.name or p.name.startswith(".")]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "animegan", "stylize", *args]


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return found


def _is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]").split("%")[0]
    host = host.removeprefix("::ffff:")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # "*" or anything else that is not one loopback address


class _SocketWatch(threading.Thread):
    """Polls ``ss -tnp`` while a run goes on: the TCP connections of this process's descendants."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.connections: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            ours = _descendants(os.getpid())
            listing = subprocess.run(["ss", "-tnpH"], check=False, capture_output=True, text=True).stdout
            for line in listing.splitlines():
                if {int(pid) for pid in re.findall(r"pid=(\d+)", line)} & ours:
                    self.connections.append(line)
            self.stop.wait(0.3)


def _stylize_worker_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if b"StylizeWorker" in cmdline:
                pids.append(int(entry))
    return pids


def _max_abs_diff(a: Path, b: Path) -> int:
    x = np.asarray(Image.open(a).convert("RGB"), dtype=np.int16)
    y = np.asarray(Image.open(b).convert("RGB"), dtype=np.int16)
    assert x.shape == y.shape, (a, x.shape, y.shape)
    return int(np.abs(x - y).max())


def test_cli_on_ray_equals_local_reports_bad_input_stays_on_loopback_and_resumes(
        cluster, photos: Path, local_out: Path, tiny_weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = _cli(str(photos), "-o", str(out), "--model", str(tiny_weights), "--precision", "fp32",
                "--ray", cluster.address, "--workers", "2")
    watch = _SocketWatch()
    watch.start()
    try:
        run = subprocess.run(args, check=False, capture_output=True, text=True, timeout=240)
    finally:
        watch.stop.set()
        watch.join()
    assert run.returncode == 1, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "corrupt.jpg" in errors[0] and "not a decodable image" in errors[0], run.stderr
    assert f"done {N_PHOTOS}, skipped 0 (already there), failed 1" in run.stderr, run.stderr
    assert _files(out) == _files(local_out) and len(_files(out)) == N_PHOTOS
    for rel in _files(out):  # the same pixels as the local command, within 1/255 at fp32
        assert _max_abs_diff(out / rel, local_out / rel) <= 1, rel
    assert _temp_files(out) == []
    # every connection of the cluster and the command, seen while it ran, stays in 127.0.0.0/8
    assert watch.connections, "ss saw no connection of the cluster during the run"
    outside = [line for line in watch.connections
               if not all(_is_loopback(field) for field in line.split()[3:5])]
    assert outside == [], outside

    rerun = subprocess.run(args, check=False, capture_output=True, text=True, timeout=240)
    assert rerun.returncode == 1  # the corrupt input is still reported
    assert f"done 0, skipped {N_PHOTOS} (already there), failed 1" in rerun.stderr, rerun.stderr
    assert sum(line.startswith("error:") for line in rerun.stderr.splitlines()) == 1


def test_sigkill_of_a_worker_mid_run_still_writes_every_output_once(
        cluster, photos: Path, local_out: Path, tiny_weights: Path, tmp_path: Path) -> None:
    # larger copies of the photos so the run lasts long enough to kill a worker in the middle of it
    big = tmp_path / "big"
    for rel in _files(photos):
        target = big / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith("corrupt.jpg"):
            target.write_bytes((photos / rel).read_bytes())
        else:
            Image.open(photos / rel).resize((320, 256)).save(target, quality=92)
    out = tmp_path / "out"
    process = subprocess.Popen(_cli(str(big), "-o", str(out), "--model", str(tiny_weights), "--precision",
                                    "fp32", "--ray", cluster.address, "--workers", "2"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 180
    while killed is None and process.poll() is None and time.monotonic() < deadline:
        written = [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")] if out.exists() else []
        workers = _stylize_worker_pids()
        if written and workers:  # a worker has started writing: kill one now
            killed = workers[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.02)
    _, stderr = process.communicate(timeout=240)
    assert killed is not None, f"the run ended before a worker could be killed:\n{stderr}"
    assert process.returncode == 1, stderr
    assert f"done {N_PHOTOS}, skipped 0 (already there), failed 1" in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "corrupt.jpg" in errors[0], stderr
    assert _files(out) == _files(local_out)  # every output, once, under its own name
    assert _temp_files(out) == []


def test_worker_class_in_a_users_own_pipeline(cluster, photos: Path, tiny_weights: Path, tmp_path: Path) -> None:
    import ray
    import ray.data

    from animegan import __version__
    from animegan.distributed import StylizeWorker

    rows = [{"input": str(photos / "p01.png"), "output": str(tmp_path / "a.png"), "tag": "mine"},
            {"input": str(photos / "corrupt.jpg"), "output": str(tmp_path / "b.png"), "tag": "mine"}]
    ray.init(address=cluster.address, _node_ip_address=NODE_IP, logging_level="ERROR")
    try:
        result = ray.data.from_items(rows).map_batches(
            StylizeWorker, fn_constructor_kwargs={"model": str(tiny_weights), "precision": "fp32",
                                                  "driver_version": __version__},
            compute=ray.data.ActorPoolStrategy(size=1), num_cpus=1, batch_size=2).take_all()
    finally:
        ray.shutdown()
    by_input = {Path(row["input"]).name: row for row in result}
    assert by_input["p01.png"]["status"] == "done" and Path(by_input["p01.png"]["output"]).is_file()
    assert by_input["corrupt.jpg"]["status"] == "failed"
    assert "corrupt.jpg" in by_input["corrupt.jpg"]["error"] and not (tmp_path / "b.png").exists()
    assert all(row["tag"] == "mine" and row["worker_pid"] > 0 for row in result)  # own columns kept


def test_a_worker_with_another_animegan_version_refuses(cluster, photos: Path, tiny_weights: Path,
                                                        tmp_path: Path, monkeypatch) -> None:
    import ray

    import animegan
    from animegan.distributed import DistributedError, stylize_files

    # the driver says it is another version (two installs cannot coexist here): every worker refuses
    monkeypatch.setattr(animegan, "__version__", "0.0.0-driver")
    ray.init(address=cluster.address, _node_ip_address=NODE_IP, logging_level="ERROR")
    try:
        with pytest.raises(DistributedError, match=r"has animegan \S+, the driver has 0.0.0-driver") as caught:
            stylize_files([(photos / "p01.png", tmp_path / "a.png")], model=tiny_weights, workers=1)
    finally:
        ray.shutdown()
    assert "\n" not in str(caught.value) and "\x1b" not in str(caught.value)  # one plain line
    assert not (tmp_path / "a.png").exists()


def test_without_ray_the_flag_names_the_extra(tmp_path: Path, photos: Path, tiny_weights: Path) -> None:
    # an interpreter where `import ray` fails as it does when the extra is not installed
    code = ("import sys; sys.modules['ray'] = None; from animegan.cli.main import main; "
            f"sys.argv = ['animegan', 'stylize', {str(photos / 'p01.png')!r}, '-o', {str(tmp_path / 'o')!r}, "
            f"'--model', {str(tiny_weights)!r}, '--ray', 'local']; main()")
    run = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert run.stderr.strip().splitlines() == [
        'error: --ray (stylizing on a Ray cluster) needs the \'ray\' package: pip install "animegan[ray]"'], run.stderr
    assert not (tmp_path / "o").exists()


def test_a_killed_writers_temp_file_is_swept_at_the_end_and_live_ones_stay(tmp_path: Path) -> None:
    from animegan.io.atomic import sweep_temps_of

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a worker that died mid-write: its PID is gone, its temporary file stays behind
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.jpg").write_bytes(b"done")
    orphan = out / f".a.abcd1234.{dead.pid}.part.jpg"  # written during this run (newer than this process)
    orphan.write_bytes(b"half")
    live = out / f".b.abcd1234.{os.getpid()}.part.jpg"  # a live writer's: not ours to remove
    live.write_bytes(b"writing")
    other = out / f".c.abcd1234.{dead.pid}.part.jpg"  # another run's output name: left alone
    other.write_bytes(b"half")
    assert sweep_temps_of([out / "a.jpg", out / "b.jpg"]) == [orphan]
    assert sorted(p.name for p in out.iterdir()) == sorted(["a.jpg", live.name, other.name])


def test_a_worker_larger_than_the_cluster_is_refused_in_one_line(cluster, photos: Path, tiny_weights: Path,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = subprocess.run(_cli(str(photos / "p01.png"), "-o", str(out), "--model", str(tiny_weights),
                              "--ray", cluster.address, "--cpus-per-worker", "4"),
                         check=False, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert errors == [("error: one worker needs 4 CPU and 0 GPU, but the cluster has 2 CPU, 0 GPU in all: "
                       "lower --cpus-per-worker/--gpus-per-worker or add nodes")], run.stderr
    assert not out.exists() or _files(out) == []


@pytest.mark.parametrize("extra", [["--workers", "2"], ["--gpus-per-worker", "0.5"]])
def test_actor_sizes_without_ray_are_refused(extra: list[str], photos: Path, tiny_weights: Path,
                                             tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["stylize", str(photos / "p01.png"), "-o", str(tmp_path / "out"),
                                      "--model", str(tiny_weights), *extra])
    assert result.exit_code == 1
    assert result.stderr.strip() == ("error: --workers, --cpus-per-worker and --gpus-per-worker size the actors "
                                     "of --ray: add --ray")
    assert not (tmp_path / "out").exists()
