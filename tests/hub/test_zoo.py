"""The zoo: shipped data, name resolution, cache hits, downloads from a local server, imports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from http_helpers import QuietHandler, closed_port, serve_folder

from animegan.errors import DownloadError, ModelError
from animegan.hub import cache, zoo
from animegan.hub.download import git_blob_sha1
from animegan.hub.loading import load_generator_file
from animegan.hub.weights import ModelInfo, save_weights
from animegan.nn import GENERATORS, build_generator

#: the styles whose weights ship inside the package (the lite one is distilled from shinkai)
SHIPPED = ("hayao", "shinkai", "paprika", "shinkai_lite")

PUBLISHED = {  # REFERENCE.md section 2
    "face_paint_512_v2": ("face_paint_512_v2.pt", "d75102f8f201ddaf8dbe6b913b1a97585b55f838"),
    "face_paint_512_v1": ("face_paint_512_v1.pt", "19c1a1da4d9580186109a2b055d91044e5127de6"),
    "celeba_distill": ("celeba_distill.pt", "3b7ea61b02254980831cc3bc77af30666dbc999c"),
    "paprika_official": ("paprika.pt", "58086c9db9fc7a9e5c2876ca31b8079599352643"),
}


@pytest.fixture
def server(tmp_path):
    """(base URL, served folder, request log) of a real HTTP server on 127.0.0.1."""
    root = tmp_path / "served"
    root.mkdir()
    requests: list[str] = []

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

    with serve_folder(root, Handler) as url:
        yield url, root, requests


def _test_zoo(package_root: Path, payload: bytes, url: str = "https://example.invalid/w/tiny.pt") -> zoo.Zoo:
    return zoo.Zoo.from_dict({"default": "bundled_style", "models": [
        {"name": "bundled_style", "arch": "animeganv2", "bundled": "animegan/weights/bundled_style.safetensors"},
        {"name": "tiny", "aliases": ["tiny_alias"], "arch": "animeganv2", "style": "test",
         "files": [{"filename": "tiny.pt", "url": url, "git_blob_sha1": git_blob_sha1(payload),
                    "size": len(payload)}]},
    ]}, package_root=package_root)


# -- the shipped zoo ----------------------------------------------------------------------------

def test_shipped_zoo_has_the_published_weights_with_their_git_blob_ids():
    for name, (filename, blob) in PUBLISHED.items():
        entry = zoo.get_entry(name)
        assert entry.arch == "animeganv2" and entry.downloadable and len(entry.files) == 1
        (f,) = entry.files
        assert f.filename == filename and f.git_blob_sha1 == blob
        assert f.url == f"https://github.com/bryandlee/animegan2-pytorch/raw/main/weights/{filename}"
        assert "non-commercial" in entry.licence
    face = zoo.get_entry("face_paint_512_v2")
    assert (face.face, face.size) == (True, 512)


def test_shipped_default_styles_are_bundled_and_the_default_is_one_of_them():
    for style in SHIPPED:
        entry = zoo.get_entry(style)
        assert entry.bundled == f"animegan/weights/{style}.safetensors" and not entry.files
    assert zoo.get_entry(zoo.default_model_name()).bundled
    names = [n for e in zoo.list_models() for n in (e.name, *e.aliases)]
    assert len(names) == len(set(names))
    assert all(e.arch in GENERATORS for e in zoo.list_models())


def test_shipped_style_files_are_small_fp16_students_with_provenance_and_terms():
    """What ships in the wheel: a few MB per style, fp16 on disk, a card and research-use terms."""
    from safetensors import safe_open

    weights = Path(zoo.__file__).resolve().parents[1] / "weights"
    for style in SHIPPED:
        path = weights / f"{style}.safetensors"
        assert path.stat().st_size < 8_000_000, (style, path.stat().st_size)
        with safe_open(str(path), framework="pt") as f:
            assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}  # noqa: SIM118 (not iterable)
        model, info = load_generator_file(path)
        assert info.arch == "cartoongan" and info.style == style
        assert zoo.get_entry(style).config == info.config  # what `models list` says is what loads
        assert info.config["base_channels"] < 64  # a student, not the teacher's full width
        provenance = json.loads(info.provenance)
        assert provenance["method"] == "distillation" and provenance["steps"] > 0
        assert "research use" in info.licence
        assert (weights / f"{style}.md").is_file()
        x = torch.zeros(1, 3, 32, 32)
        with torch.no_grad():
            y = model(x)
        assert y.shape == x.shape and torch.isfinite(y).all()


def test_names_are_case_and_dash_insensitive_and_default_is_an_alias():
    assert zoo.get_entry("Face-Paint-512-V2").name == "face_paint_512_v2"
    assert zoo.get_entry("face").name == "face_paint_512_v2"
    assert zoo.get_entry("default").name == zoo.default_model_name()


def test_unknown_name_lists_the_known_names():
    with pytest.raises(ModelError) as info:
        zoo.resolve_model("no_such_style")
    message = str(info.value)
    assert "unknown model 'no_such_style'" in message
    assert "face_paint_512_v2" in message and "shinkai" in message


def test_cartoongan_teachers_explain_how_to_import_them():
    with pytest.raises(ModelError, match=r"animegan models import PATH --name cartoongan_shinkai --arch cartoongan"):
        zoo.resolve_model("cartoongan_shinkai")


def test_existing_file_resolves_to_itself_and_a_missing_path_says_not_found(tmp_path):
    weights = tmp_path / "mine.safetensors"
    weights.write_bytes(b"x")
    assert zoo.resolve_model(str(weights)) == weights
    assert zoo.resolve_model(weights) == weights
    with pytest.raises(ModelError, match="nowhere.pt: weights file not found"):
        zoo.resolve_model(str(tmp_path / "nowhere.pt"))


@pytest.mark.parametrize("name", ["student.ort", "model.ONNX", "checkpoint.bin", "g.pth"])
def test_a_missing_file_of_any_loadable_kind_is_not_found_rather_than_an_unknown_name(name):
    # every kind the loaders accept (.ort is ONNX Runtime's mobile format, .bin a PyTorch state dict)
    with pytest.raises(ModelError, match=rf"^{name}: weights file not found$"):
        zoo.resolve_model(name)


def test_cache_dir_follows_animegan_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMEGAN_HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home"
    assert cache.models_dir() == tmp_path / "home" / "models"
    monkeypatch.delenv("ANIMEGAN_HOME")
    assert cache.cache_dir().name == "animegan"


# -- bundled files ------------------------------------------------------------------------------

def test_missing_bundled_weights_give_one_clear_line(tmp_path):
    z = _test_zoo(tmp_path, b"x")
    assert z.status(z.get_entry("bundled_style")) == "missing"
    with pytest.raises(ModelError) as info:
        z.resolve_model(None)
    message = str(info.value)
    assert message.startswith("model 'bundled_style': its bundled weights "
                              "animegan/weights/bundled_style.safetensors are not in this installation")
    assert "\n" not in message


def test_bundled_weights_resolve_when_present(tmp_path):
    z = _test_zoo(tmp_path, b"x")
    bundled = tmp_path / "animegan" / "weights" / "bundled_style.safetensors"
    bundled.parent.mkdir(parents=True)
    bundled.write_bytes(b"weights")
    assert z.resolve_model("bundled_style") == bundled
    assert z.resolve_model(None) == bundled
    assert z.status(z.get_entry("bundled_style")) == "bundled"


# -- downloads through the zoo --------------------------------------------------------------------

def test_zoo_download_lands_in_the_cache_and_later_hits_need_no_server(server, tmp_path):
    base, root, requests = server
    payload = b"tiny weights" * 1000
    (root / "tiny.pt").write_bytes(payload)
    z = _test_zoo(tmp_path, payload, url=f"{base}/tiny.pt")
    entry = z.get_entry("tiny_alias")
    assert z.status(entry) == "not downloaded"
    with pytest.raises(ModelError, match=r"not downloaded: run `animegan models download tiny`"):
        z.resolve_model("tiny", download=False)
    seen = []
    path = z.resolve_model("tiny", progress=lambda name, done, total: seen.append((name, done, total)))
    assert path == cache.models_dir() / "tiny.pt" and path.read_bytes() == payload
    assert seen[-1] == ("tiny.pt", len(payload), len(payload))
    assert z.status(entry) == "cached" and requests == ["/tiny.pt"]
    (root / "tiny.pt").unlink()
    assert z.resolve_model("tiny", download=False) == path
    assert requests == ["/tiny.pt"]


def test_hand_placed_file_is_verified_on_first_use(tmp_path):
    payload = b"published bytes"
    z = _test_zoo(tmp_path, payload)
    dest = cache.models_dir() / "tiny.pt"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(payload)
    assert z.resolve_model("tiny", download=False) == dest
    assert cache.is_marked_verified(dest, f"git:{git_blob_sha1(payload)}")
    dest.write_bytes(b"published byteZ")  # same size, different content: the marker no longer holds
    with pytest.raises(ModelError) as info:
        z.resolve_model("tiny", download=False)
    assert f"expected {git_blob_sha1(payload)}, got {git_blob_sha1(b'published byteZ')}" in str(info.value)


def test_corrupt_cache_file_is_downloaded_again(server, tmp_path):
    base, root, requests = server
    payload = b"good weights" * 10
    (root / "tiny.pt").write_bytes(payload)
    z = _test_zoo(tmp_path, payload, url=f"{base}/tiny.pt")
    dest = cache.models_dir() / "tiny.pt"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"bad")
    assert z.resolve_model("tiny") == dest and dest.read_bytes() == payload
    assert requests == ["/tiny.pt"]


def test_mirror_env_redirects_shipped_downloads_and_bad_checksums_leave_nothing(server, monkeypatch):
    base, root, requests = server
    (root / "face_paint_512_v2.pt").write_bytes(b"not the published weights")
    monkeypatch.setenv("ANIMEGAN_ZOO_URL_BASE", base + "/")
    with pytest.raises(DownloadError) as info:
        zoo.resolve_model("face_paint_512_v2")
    message = str(info.value)
    assert requests == ["/face_paint_512_v2.pt"]
    assert "expected d75102f8f201ddaf8dbe6b913b1a97585b55f838, got " in message
    assert git_blob_sha1(b"not the published weights") in message
    assert not any(cache.models_dir().iterdir())


def test_offline_message_names_url_destination_and_import(monkeypatch):
    base = f"http://127.0.0.1:{closed_port()}/mirror"
    monkeypatch.setenv("ANIMEGAN_ZOO_URL_BASE", base)
    with pytest.raises(ModelError) as info:
        zoo.resolve_model("paprika_official")
    message = str(info.value)
    assert message.startswith(f"model 'paprika_official': cannot download {base}/paprika.pt (")
    assert f"put it at {cache.models_dir() / 'paprika.pt'}" in message
    assert "`animegan models import PATH --name paprika_official`" in message
    assert "\n" not in message


# -- imports ----------------------------------------------------------------------------------------

@pytest.fixture
def tiny_weights(tmp_path) -> Path:
    torch.manual_seed(0)
    model = build_generator("animeganv2", {})
    path = tmp_path / "trained.safetensors"
    save_weights(path, model, ModelInfo(arch="animeganv2", style="watercolour", licence="MIT"))
    return path


def test_import_makes_the_model_resolvable_by_name(tiny_weights):
    entry = zoo.shipped_zoo().import_model(tiny_weights, "My-Style")
    assert entry.name == "my_style" and entry.source == "imported" and entry.style == "watercolour"
    path = zoo.resolve_model("my_style")
    assert path == cache.models_dir() / "my_style.safetensors"
    model, info = load_generator_file(path)
    original, _ = load_generator_file(tiny_weights)
    assert info.provenance == "imported from trained.safetensors"
    for key, value in original.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)
    listed = {e.name: e for e in zoo.list_models()}
    assert listed["my_style"].source == "imported"
    assert zoo.shipped_zoo().status(listed["my_style"]) == "imported"
    index = json.loads(cache.index_path().read_text())
    assert index["models"]["my_style"]["file"] == "my_style.safetensors"


def test_import_refuses_clashes_and_bad_names(tiny_weights):
    z = zoo.shipped_zoo()
    z.import_model(tiny_weights, "mine")
    with pytest.raises(ModelError, match="already imported; add --force"):
        z.import_model(tiny_weights, "mine")
    z.import_model(tiny_weights, "mine", style="other", force=True)
    assert z.get_entry("mine").style == "other"
    with pytest.raises(ModelError, match="'shinkai' is a bundled model"):
        z.import_model(tiny_weights, "shinkai")
    with pytest.raises(ModelError, match="not the published 'face_paint_512_v2' weights"):
        z.import_model(tiny_weights, "face")
    with pytest.raises(ModelError, match="not a usable model name"):
        z.import_model(tiny_weights, "../evil")
    with pytest.raises(ModelError, match="holds a 'animeganv2' generator, not 'cartoongan'"):
        z.import_model(tiny_weights, "other", arch="cartoongan")


def test_import_rejects_weights_that_do_not_fit(tmp_path):
    path = tmp_path / "broken.safetensors"
    state = build_generator("animeganv2", {}).state_dict()
    state.pop("out_layer.0.weight")
    save_weights(path, state, ModelInfo(arch="animeganv2"))
    with pytest.raises(ModelError, match="1 missing keys"):
        zoo.shipped_zoo().import_model(path, "broken")
    assert not cache.index_path().exists()


def test_remove_deletes_imported_files_and_the_index_entry(tiny_weights):
    z = zoo.shipped_zoo()
    z.import_model(tiny_weights, "mine")
    removed = z.remove("mine")
    assert removed == [cache.models_dir() / "mine.safetensors"] and not removed[0].exists()
    with pytest.raises(ModelError, match="unknown model 'mine'"):
        z.get_entry("mine")


def test_corrupt_index_is_reported_with_its_path():
    cache.models_dir().mkdir(parents=True)
    cache.index_path().write_text("{not json")
    with pytest.raises(ModelError, match="index.json: the imported-models index is corrupt"):
        zoo.list_models()


def test_cartoongan_teacher_imports_under_its_zoo_name(shared_data):
    pytest.importorskip("animegan.hub.importers")
    folder = shared_data / "teachers" / "cartoongan" / "shinkai"
    if not folder.is_dir():
        pytest.skip("CartoonGAN teacher weights are not in ../shared/data")
    z = zoo.shipped_zoo()
    assert z.status(z.get_entry("cartoongan_shinkai")) == "import only"
    z.import_model(folder, "cartoongan_shinkai", arch="cartoongan")
    assert z.status(z.get_entry("cartoongan_shinkai")) == "imported"
    _model, info = load_generator_file(zoo.resolve_model("cartoongan_shinkai"))
    assert info.arch == "cartoongan" and info.style == "shinkai"
    assert "research" in info.licence


def test_import_converts_a_foreign_pt_state_dict(tmp_path):
    pytest.importorskip("animegan.hub.importers")
    torch.manual_seed(1)
    model = build_generator("animeganv2", {})
    source = tmp_path / "someone_elses.pt"
    torch.save(model.state_dict(), source)
    entry = zoo.shipped_zoo().import_model(source, "foreign")
    path = zoo.resolve_model("foreign")
    assert path.suffix == ".safetensors" and entry.arch == "animeganv2"
    loaded, _ = load_generator_file(path)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_every_shipped_download_declares_its_size_or_a_cap():
    """A mirror cannot make a zoo download fill the disk: each file has an exact size or a max_size."""
    for entry in zoo.list_models():
        for f in entry.files:
            cap = f.size or f.max_size
            assert cap is not None and 0 < cap <= 64 << 20, (entry.name, f.filename)
