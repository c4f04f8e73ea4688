"""`animegan stylize --ray`, `animegan video --ray` and `animegan.distributed` on a real 2-node Ray
cluster on this machine.

The cluster (``ray.cluster_utils.Cluster``: 2 nodes × 1 CPU) is built once for the module (one module,
so the two pytest-xdist workers never wait on each other for Ray). Every
node uses 127.0.0.2 as its IP (Ray would otherwise advertise the machine's outward address), and
the plain run checks with ``ss`` that every connection of the cluster and the command stays in
127.0.0.0/8. Photos are crops of the bundled sample photos, written as PNG and JPEG.
"""

from __future__ import annotations

import ipaddress
import json
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


def _big_copies(photos: Path, big: Path) -> Path:
    """Larger copies of the photos (and the corrupt file): a run long enough to hit in its middle."""
    for rel in _files(photos):
        target = big / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith("corrupt.jpg"):
            target.write_bytes((photos / rel).read_bytes())
        else:
            Image.open(photos / rel).resize((320, 256)).save(target, quality=92)
    return big


def _assert_every_output_once(returncode: int, stderr: str, out: Path, local_out: Path) -> None:
    """A run that lost a worker or a node mid-way: every good photo written once under its own name,
    the corrupt one reported in one line, exit code 1, no temporary file left."""
    assert returncode == 1, stderr
    assert f"done {N_PHOTOS}, skipped 0 (already there), failed 1" in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "corrupt.jpg" in errors[0], stderr
    assert _files(out) == _files(local_out)
    assert _temp_files(out) == []


def test_sigkill_of_a_worker_mid_run_still_writes_every_output_once(
        cluster, photos: Path, local_out: Path, tiny_weights: Path, tmp_path: Path) -> None:
    big = _big_copies(photos, tmp_path / "big")
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
    _assert_every_output_once(process.returncode, stderr, out, local_out)


def _run_removing_a_node(cluster, args: list[str], progress) -> tuple[int, int, str]:
    """Run the command ``args`` and remove the cluster's non-head node (its raylet, its actor, its object
    store) as soon as ``progress()`` returns a count of finished items (None: not yet); then put a node
    back, as the module's later tests expect two. Returns (items finished at the removal, exit code, stderr)."""
    doomed = next(iter(cluster.worker_nodes))
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    at_removal, stderr = None, ""
    try:
        deadline = time.monotonic() + 180
        while at_removal is None and process.poll() is None and time.monotonic() < deadline:
            finished = progress()
            if finished is not None:
                cluster.remove_node(doomed, allow_graceful=False)
                at_removal = finished
            time.sleep(0.02)
        _, stderr = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
        if at_removal is not None:
            cluster.add_node(num_cpus=1, node_ip_address=NODE_IP)
            cluster.wait_for_nodes()
    assert at_removal is not None, f"the run ended before a node could be removed:\n{stderr}"
    return at_removal, process.returncode, stderr


def test_removing_a_whole_node_mid_run_still_writes_every_output_once(
        cluster, photos: Path, local_out: Path, tiny_weights: Path, tmp_path: Path) -> None:
    big = _big_copies(photos, tmp_path / "big")
    out = tmp_path / "out"

    def written() -> int | None:  # outputs so far, once both actors are up
        if len(_stylize_worker_pids()) < 2 or not out.exists():
            return None
        return sum(1 for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")) or None

    at_removal, returncode, stderr = _run_removing_a_node(
        cluster, _cli(str(big), "-o", str(out), "--model", str(tiny_weights), "--precision", "fp32",
                      "--ray", cluster.address, "--workers", "2"), written)
    assert at_removal < N_PHOTOS, "the node was removed after the last output: nothing was left to move"
    _assert_every_output_once(returncode, stderr, out, local_out)


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


# ---- object-store URIs (pyarrow.fs): tested with local file:// URIs ------------------------------


def _uri(path: Path) -> str:
    return path.resolve().as_uri()


def test_file_uris_in_and_out_on_ray_equal_local_report_bad_input_and_rerun_skips_all(
        cluster, photos: Path, local_out: Path, tiny_weights: Path, tmp_path: Path) -> None:
    few = tmp_path / "few"  # the subfolder's photos and the corrupt file: enough to plan, fail and skip
    for rel in _files(photos):
        if rel.startswith("trip/") or rel == "corrupt.jpg":
            (few / rel).parent.mkdir(parents=True, exist_ok=True)
            (few / rel).write_bytes((photos / rel).read_bytes())
    n_few = len(_files(few)) - 1
    out = tmp_path / "anime out"  # a space: percent-encoded in the URI
    args = _cli(_uri(few), "-o", _uri(out), "--model", str(tiny_weights), "--precision", "fp32",
                "--ray", cluster.address, "--workers", "2")
    run = subprocess.run(args, check=False, capture_output=True, text=True, timeout=240)
    assert run.returncode == 1, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, run.stderr
    assert errors[0].startswith(f"error: {_uri(few)}/corrupt.jpg: not a decodable image ("), run.stderr
    assert f"done {n_few}, skipped 0 (already there), failed 1" in run.stderr, run.stderr
    # the same names, subfolders mirrored, no temp object left
    assert _files(out) == [r for r in _files(local_out) if r.startswith("trip/")] == _files(few)[1:]
    for rel in _files(out):
        assert _max_abs_diff(out / rel, local_out / rel) <= 1, rel

    rerun = subprocess.run(args, check=False, capture_output=True, text=True, timeout=240)
    assert rerun.returncode == 1, rerun.stderr
    assert f"done 0, skipped {n_few} (already there), failed 1" in rerun.stderr, rerun.stderr
    assert sum(line.startswith("error:") for line in rerun.stderr.splitlines()) == 1


def test_stylize_files_with_uris_writes_through_the_filesystem(cluster, photos: Path, tiny_weights: Path,
                                                                tmp_path: Path) -> None:
    import ray

    from animegan.distributed import stylize_files

    out = tmp_path / "out"
    pairs = [(_uri(photos / "p01.png"), _uri(out) + "/deep/a.png"),  # URI in, URI out (folders created)
             (str(photos / "p02.jpg"), _uri(out) + "/b.jpg"),  # a path in, a URI out
             (_uri(photos / "p03.png"), str(out / "c.png")),  # a URI in, a path out
             (_uri(photos / "missing.jpg"), _uri(out) + "/d.jpg")]
    ray.init(address=cluster.address, _node_ip_address=NODE_IP, logging_level="ERROR")
    try:
        results = stylize_files(pairs, model=tiny_weights, workers=1, precision="fp32")
    finally:
        ray.shutdown()
    assert [r.status for r in results] == ["done", "done", "done", "failed"], results
    assert results[0].output == _uri(out) + "/deep/a.png"
    assert results[3].error == f"{_uri(photos / 'missing.jpg')}: no such file"
    assert _files(out) == ["b.jpg", "c.png", "deep/a.png"]
    assert Image.open(out / "deep" / "a.png").size == Image.open(photos / "p01.png").size


def test_a_uri_without_ray_is_one_line(photos: Path, tiny_weights: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["stylize", _uri(photos), "-o", str(tmp_path / "out"),
                                      "--model", str(tiny_weights)])
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"error: {_uri(photos)}: object-store URIs (s3://, gs://, file://) are "
                                     "supported with --ray only (add --ray local to run on this machine)")
    assert not (tmp_path / "out").exists()


def test_uri_helpers_write_atomically_list_and_sweep(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow.fs")
    from animegan.distributed import storage
    from animegan.errors import InputError

    base = _uri(tmp_path)
    storage.write_bytes(base + "/x/a.jpg", b"first")
    storage.write_bytes(base + "/x/a.jpg", b"second")  # replaces whole, through a temporary object
    assert (tmp_path / "x" / "a.jpg").read_bytes() == b"second" and _files(tmp_path) == ["x/a.jpg"]
    items, errors = storage.discover([base + "/x", base + "/nothing", "nosuch://bucket/a.jpg"])
    assert items == [(base + "/x/a.jpg", "a.jpg")]
    assert [str(e) for e in errors] == [
        f"{base}/nothing: no such file or folder",
        ("nosuch://bucket/a.jpg: cannot open this location (Unrecognized filesystem type in URI: "
         "nosuch://bucket/a.jpg)")]
    with pytest.raises(InputError, match=r"is a file, not a folder"):
        storage.check_writable(base + "/x/a.jpg", label="-o out")

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a killed worker's temporary object, and a live writer's (left alone)
    orphan = tmp_path / "x" / f".a.abcd1234.{dead.pid}.part.jpg"
    orphan.write_bytes(b"half")
    live = tmp_path / "x" / f".a.abcd5678.{os.getpid()}.part.jpg"
    live.write_bytes(b"writing")
    assert storage.sweep_temps([base + "/x/a.jpg"]) == [base + "/x/" + orphan.name]
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == sorted(["a.jpg", live.name])


def test_uri_inputs_and_outputs_are_planned_as_paths_are(tmp_path: Path) -> None:
    """One planner: a file:// URI tree plans like the same folder given as a path (names, subfolders,
    the output prefix left out of discovery, overwrites refused across the two spellings)."""
    pytest.importorskip("pyarrow.fs")
    from animegan.distributed import storage
    from animegan.errors import InputError
    from animegan.io.discovery import discover_inputs, plan_outputs

    photos = tmp_path / "photos"
    for rel in ["a.jpg", "sub/b c.PNG", "scan.tiff", "anime/a.jpg", ".hidden.jpg"]:
        (photos / rel).parent.mkdir(parents=True, exist_ok=True)
        (photos / rel).write_bytes(b"x")
    by_uri = discover_inputs([_uri(photos)], exclude=[_uri(photos / "anime")], expand_uri=storage.expand)
    by_path = discover_inputs([str(photos)], exclude=[photos / "anime"])
    assert by_uri.errors == by_path.errors == []
    rels = ["a.jpg", "scan.tiff", "sub/b c.PNG"]
    into_itself = discover_inputs([_uri(photos)], exclude=[_uri(photos)], expand_uri=storage.expand)
    assert [i.relative.as_posix() for i in into_itself.items] == ["a.jpg", "anime/a.jpg", "scan.tiff", "sub/b c.PNG"]
    assert sorted(i.relative.as_posix() for i in by_uri.items) == sorted(i.relative.as_posix() for i in by_path.items) == rels

    out = tmp_path / "anime out"
    planned, errors = plan_outputs(by_uri.items, _uri(out), "_x")
    assert errors == []
    assert sorted(target for _, target in planned) == [  # percent-encoded, TIFF -> PNG, own spelling kept
        _uri(out) + "/a_x.jpg", _uri(out) + "/scan_x.png", _uri(out) + "/sub/b%20c_x.PNG"]
    assert sorted(target for _, target in planned) == sorted(
        p.as_uri() for _, p in plan_outputs(by_path.items, out, "_x")[0])
    for items, where in [(by_uri.items, str(photos)), (by_path.items, _uri(photos))]:  # in and out the same folder
        with pytest.raises(InputError, match="would overwrite this input; pass --suffix"):
            plan_outputs(items, where)
    assert storage.kind(_uri(photos)) == "folder" and storage.kind(_uri(photos / "a.jpg")) == "file"
    assert storage.kind(_uri(photos / "nothing")) is None


# ---- video: a generated clip with AAC audio cut into chunks of whole GOPs ---------------------------
# The clip is 160×120 at 25 fps with a keyframe every 12 frames, so ``--chunk-seconds 0.4`` gives one
# chunk per GOP.

GOP = 12



@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """2 s, 50 frames, a keyframe every 12 frames (5 GOPs), stereo AAC."""
    pytest.importorskip("av")
    from animegan.video.samples import write_clip

    return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", width=160, height=120, seconds=2.0, gop=GOP)


@pytest.fixture(scope="module")
def local_video(clip: Path, tiny_weights: Path, tmp_path_factory) -> Path:
    """The plain local `animegan video` conversion (lossless x264): what the cluster must reproduce."""
    out = tmp_path_factory.mktemp("local") / "local.mp4"
    result = CliRunner().invoke(app, ["video", str(clip), "-o", str(out), "--model", str(tiny_weights),
                                      "--precision", "fp32", "--crf", "0"])
    assert result.exit_code == 0, result.stderr
    return out


def _video_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "animegan", "video", *args]


def _frames(path: Path) -> tuple[list[float], np.ndarray]:
    """Presentation times (seconds) and RGB frames of the video stream."""
    import av

    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return [float(f.pts * f.time_base) for f in frames], np.stack([f.to_ndarray(format="rgb24") for f in frames])


def _audio_packets(path: Path) -> list[bytes]:
    import av

    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


def _chunk_worker_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if b"VideoChunkWorker" in Path(f"/proc/{entry}/cmdline").read_bytes():
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def _records(parts: Path) -> list[Path]:
    return sorted(parts.glob("seg-*.json")) if parts.is_dir() else []


def test_keyframes_are_found_without_decoding_and_chunks_are_whole_gops(clip: Path) -> None:
    from animegan.video.chunks import keyframe_times, plan_chunks
    from animegan.video.options import VideoOptions
    from animegan.video.source import open_source

    source = open_source(clip)
    frame = source.frame_duration
    assert keyframe_times(source) == [i * GOP * frame for i in range(5)]
    bounds = [(c.start, c.end) for c in plan_chunks(source, VideoOptions(), 0.4)]
    assert bounds == [(None, 12 * frame), (12 * frame, 24 * frame), (24 * frame, 36 * frame),
                      (36 * frame, 48 * frame), (48 * frame, None)]
    # GOPs are merged up to the target length, and a range keeps only the keyframes inside it
    assert len(plan_chunks(source, VideoOptions(), 1.0)) == 2
    assert [(c.start, c.end) for c in plan_chunks(source, VideoOptions(start=0.6, end=1.5), 0.3)] == [
        (None, 24 * frame), (24 * frame, 36 * frame), (36 * frame, None)]


def test_video_on_ray_equals_local_keeps_audio_and_stays_on_loopback(
        cluster, clip: Path, local_video: Path, tiny_weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "ray.mp4"
    watch = _SocketWatch()
    watch.start()
    try:
        run = subprocess.run(_video_cli(str(clip), "-o", str(out), "--model", str(tiny_weights), "--precision", "fp32",
                                  "--crf", "0", "--ray", cluster.address, "--workers", "2", "--chunk-seconds", "0.4"),
                             check=False, capture_output=True, text=True, timeout=240)
    finally:
        watch.stop.set()
        watch.join()
    assert run.returncode == 0, run.stderr
    said = " ".join(run.stderr.split())  # rich wraps lines at the terminal's width
    assert f"wrote {out} (50 frames, 160×120, audio aac copied" in said, run.stderr
    times, pixels = _frames(out)
    local_times, local_pixels = _frames(local_video)
    assert times == local_times and len(times) == 50  # same frames at the same timestamps
    # lossless x264 (--crf 0) on both sides: the same stylized pixels, within fp32's rounding
    assert np.abs(pixels.astype(np.int16) - local_pixels.astype(np.int16)).max() <= 1
    assert _audio_packets(out) == _audio_packets(clip)  # the audio copied once, byte for byte
    assert not out.with_name(out.name + ".parts").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ray.mp4"]  # no temporary file left
    assert watch.connections, "ss saw no connection of the cluster during the run"
    outside = [line for line in watch.connections if not all(_is_loopback(f) for f in line.split()[3:5])]
    assert outside == [], outside


def test_resume_after_the_driver_is_killed_redoes_only_the_missing_chunks(
        cluster, tiny_weights: Path, local_video: Path, tmp_path: Path) -> None:
    from animegan.video.samples import write_clip

    # a longer, larger clip (10 GOPs) so the run is still going when the driver is killed
    long_clip = write_clip(tmp_path / "long.mp4", width=320, height=240, seconds=4.8, gop=GOP)
    out = tmp_path / "out.mp4"
    parts = out.with_name(out.name + ".parts")
    args = _video_cli(str(long_clip), "-o", str(out), "--model", str(tiny_weights), "--precision", "fp32",
                "--ray", cluster.address, "--workers", "1", "--chunk-seconds", "0.4", "--batch-size", "1")
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while process.poll() is None and time.monotonic() < deadline and len(_records(parts)) < 2:
        time.sleep(0.02)
    assert process.poll() is None, f"the run ended before the driver could be killed:\n{process.communicate()[1]}"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not out.exists()
    deadline = time.monotonic() + 60  # Ray stops the job's actors once its driver is gone
    while _chunk_worker_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _chunk_worker_pids()
    finished = {}
    for record in _records(parts):
        segment = parts / json.loads(record.read_text())["file"]
        finished[segment.name] = (segment.stat().st_ino, segment.stat().st_mtime_ns)
    assert 2 <= len(finished) < 10, finished

    # the rerun, from Python to watch it: at each finished chunk, the segments kept from before the kill
    # are still the same files (inode and mtime), and only the missing chunks' frames are stylized
    from animegan.distributed import stylize_video_on_ray
    from animegan.video.options import VideoOptions

    seen: list[dict] = []

    def progress(done: int, total: int | None) -> None:
        seen.append({name: ((parts / name).stat().st_ino, (parts / name).stat().st_mtime_ns) for name in finished})

    kept_frames = sum(json.loads(r.read_text())["frames"] for r in _records(parts))
    result = stylize_video_on_ray(long_clip, out, tiny_weights, VideoOptions(resume=True, batch_size=1),
                                  address=cluster.address, workers=1, precision="fp32", chunk_seconds=0.4,
                                  progress=progress)
    assert seen and all(snapshot == finished for snapshot in seen)
    assert result.frames == 120 and result.stylized == 120 - kept_frames
    times, _ = _frames(out)
    assert len(times) == 120 and times == sorted(set(times))
    assert _audio_packets(out) == _audio_packets(long_clip)
    assert not parts.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4", "out.mp4"]


def test_removing_a_whole_node_mid_video_still_writes_every_frame_once(cluster, tiny_weights: Path,
                                                                        tmp_path: Path) -> None:
    from animegan.video.samples import write_clip

    long_clip = write_clip(tmp_path / "long.mp4", width=320, height=240, seconds=4.8, gop=GOP)  # 10 GOPs
    out = tmp_path / "out.mp4"
    parts = out.with_name(out.name + ".parts")

    def finished_chunks() -> int | None:  # chunks recorded so far, once both actors are converting
        return (len(_records(parts)) or None) if len(_chunk_worker_pids()) >= 2 else None

    at_removal, returncode, stderr = _run_removing_a_node(
        cluster, _video_cli(str(long_clip), "-o", str(out), "--model", str(tiny_weights), "--precision", "fp32",
                            "--ray", cluster.address, "--workers", "2", "--chunk-seconds", "0.4",
                            "--batch-size", "1"), finished_chunks)
    assert at_removal < 10, "the node was removed after the last chunk: nothing was left to move"
    assert returncode == 0, stderr
    times, _ = _frames(out)
    assert len(times) == 120 and times == sorted(set(times))  # every frame once, in order
    assert _audio_packets(out) == _audio_packets(long_clip)
    assert not parts.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4", "out.mp4"]


def test_ray_with_temporal_is_refused_in_one_line(clip: Path, tiny_weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(app, ["video", str(clip), "-o", str(out), "--model", str(tiny_weights),
                                      "--ray", "local", "--temporal"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --ray and --temporal: "), result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("make", ["text", "missing"])
def test_bad_input_with_ray_is_one_line_and_writes_nothing(make: str, tiny_weights: Path, tmp_path: Path) -> None:
    src = tmp_path / "notes.mp4"
    if make == "text":
        src.write_text("not a video at all\n")
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(app, ["video", str(src), "-o", str(out), "--model", str(tiny_weights),
                                      "--ray", "local"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    expected = "not a readable video" if make == "text" else "no such file or folder"
    assert len(lines) == 1 and str(src) in lines[0] and expected in lines[0], result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == (["notes.mp4"] if make == "text" else [])


def test_video_actor_sizes_without_ray_are_refused(clip: Path, tiny_weights: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["video", str(clip), "-o", str(tmp_path / "o.mp4"), "--model",
                                      str(tiny_weights), "--workers", "2"])
    assert result.exit_code == 1
    assert result.stderr.strip() == ("error: --workers, --cpus-per-worker, --gpus-per-worker and --chunk-seconds "
                                     "are for --ray: add --ray")
    assert list(tmp_path.iterdir()) == []
