from __future__ import annotations

import os
from pathlib import Path

import pytest

from animegan.errors import InputError
from animegan.io.discovery import (
    IMAGE_EXTENSIONS,
    InputItem,
    discover_inputs,
    list_images,
    output_extension,
    output_path,
    plan_outputs,
)


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for rel in ["a.jpg", "b.PNG", "notes.txt", "sub/c.jpeg", "sub/deeper/d.webp", "sub/.hidden.jpg",
                ".cache/e.jpg", "other/a.jpg", "scan.tiff"]:
        _touch(root / rel)
    return root


def _rels(found) -> list[str]:
    return [item.relative.as_posix() for item in found.items]


def test_folder_is_walked_recursively_with_relative_paths_kept(tree: Path) -> None:
    found = discover_inputs([str(tree)])
    assert found.errors == []
    assert _rels(found) == ["a.jpg", "b.PNG", "scan.tiff", "other/a.jpg", "sub/c.jpeg", "sub/deeper/d.webp"]
    assert all(item.path is not None and item.path.is_file() for item in found.items)


def test_hidden_files_folders_and_non_images_are_skipped_in_walks(tree: Path) -> None:
    names = {item.path.name for item in discover_inputs([str(tree)]).items}
    assert ".hidden.jpg" not in names and "e.jpg" not in names and "notes.txt" not in names


def test_explicit_file_is_taken_whatever_its_extension(tree: Path) -> None:
    found = discover_inputs([str(tree / "notes.txt"), str(tree / "sub" / "c.jpeg")])
    assert found.errors == []
    assert _rels(found) == ["notes.txt", "c.jpeg"]


def test_missing_path_is_one_error_and_other_inputs_still_found(tree: Path) -> None:
    found = discover_inputs([str(tree / "nope.jpg"), str(tree / "a.jpg")])
    assert _rels(found) == ["a.jpg"]
    assert len(found.errors) == 1
    assert "nope.jpg" in str(found.errors[0]) and "no such file" in str(found.errors[0])


def test_empty_folder_is_an_error_naming_it(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    _touch(empty / "readme.txt")
    found = discover_inputs([str(empty)])
    assert found.items == []
    assert len(found.errors) == 1 and "empty" in str(found.errors[0]) and "no images" in str(found.errors[0])


def test_list_images_finds_what_a_walk_finds_sorted_by_path(tree: Path) -> None:
    # training, calibration and evaluation folders are read with the same rules as `stylize DIR`
    walked = sorted(item.path for item in discover_inputs([str(tree)]).items)
    assert list_images(tree) == walked
    assert [p.relative_to(tree).as_posix() for p in walked] == [
        "a.jpg", "b.PNG", "other/a.jpg", "scan.tiff", "sub/c.jpeg", "sub/deeper/d.webp"]
    assert [p.name for p in list_images(tree, recursive=False)] == ["a.jpg", "b.PNG", "scan.tiff"]
    assert list_images(tree, limit=2) == walked[:2] and list_images(tree, limit=0) == walked


def test_list_images_of_an_empty_or_missing_folder_is_an_error_naming_it(tmp_path: Path) -> None:
    _touch(tmp_path / "empty" / "notes.txt")
    _touch(tmp_path / "empty" / "sub" / "deep.png")
    with pytest.raises(InputError) as info:
        list_images(tmp_path / "empty", recursive=False)
    assert str(info.value) == f"{tmp_path / 'empty'}: no images found ({', '.join(IMAGE_EXTENSIONS)})"
    assert [p.name for p in list_images(tmp_path / "empty")] == ["deep.png"]
    for missing in (tmp_path / "nowhere", tmp_path / "empty" / "notes.txt"):
        with pytest.raises(InputError, match=f"^{missing}: not a folder$"):
            list_images(missing)


def test_recursive_glob_mirrors_folders_below_the_pattern_root(tree: Path) -> None:
    found = discover_inputs([str(tree / "**" / "*.jp*g")])
    assert found.errors == []
    assert _rels(found) == ["a.jpg", "other/a.jpg", "sub/c.jpeg"]


def test_relative_glob_and_no_match(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    found = discover_inputs(["sub/*/*.webp", "*.gif"])
    assert _rels(found) == ["deeper/d.webp"]
    assert len(found.errors) == 1 and "*.gif" in str(found.errors[0])


def test_glob_matching_a_folder_walks_it(tree: Path) -> None:
    found = discover_inputs([str(tree / "su?")])
    assert _rels(found) == ["sub/c.jpeg", "sub/deeper/d.webp"]


def test_same_file_named_twice_is_processed_once(tree: Path) -> None:
    found = discover_inputs([str(tree / "a.jpg"), str(tree), str(tree / "*.jpg")])
    assert [item.path.resolve() for item in found.items].count((tree / "a.jpg").resolve()) == 1


def test_output_folder_inside_input_folder_is_not_walked(tree: Path) -> None:
    out = tree / "anime"
    _touch(out / "a.jpg")
    found = discover_inputs([str(tree)], exclude=[out])
    assert not any("anime" in item.relative.parts for item in found.items)
    found = discover_inputs([str(tree / "**" / "*.jpg")], exclude=[out])
    assert not any("anime" in item.relative.parts for item in found.items)


def test_stdin_must_be_the_only_input(tree: Path) -> None:
    found = discover_inputs(["-"])
    assert len(found.items) == 1 and found.items[0].is_stdin and str(found.items[0]) == "<stdin>"
    found = discover_inputs(["-", str(tree / "a.jpg")])
    assert found.items == [] and "only input" in str(found.errors[0])


@pytest.mark.parametrize(("name", "ext", "expected"), [
    ("x.jpg", "auto", ".jpg"), ("x.JPEG", "auto", ".JPEG"), ("x.png", "auto", ".png"),
    ("x.webp", "auto", ".webp"), ("x.tiff", "auto", ".png"), ("x.bmp", "auto", ".png"),
    ("x.png", "jpg", ".jpg"), ("x.jpg", "PNG", ".png"), ("x.jpg", ".webp", ".webp"), ("x.jpg", "jpeg", ".jpg"),
])
def test_output_extension(name: str, ext: str, expected: str) -> None:
    assert output_extension(InputItem(Path(name), Path(name)), ext) == expected


def test_stdin_output_defaults_to_png_and_unknown_ext_is_refused() -> None:
    assert output_extension(InputItem(None, Path("stdin")), "auto") == ".png"
    with pytest.raises(InputError, match="^ext gif: unknown format") as info:
        output_extension(InputItem(Path("a.jpg"), Path("a.jpg")), "gif")
    assert info.value.as_flag().startswith("--ext gif: unknown format")


def test_output_path_mirrors_subfolders_and_adds_suffix(tmp_path: Path) -> None:
    item = InputItem(tmp_path / "in" / "sub" / "c.jpeg", Path("sub/c.jpeg"))
    assert output_path(item, tmp_path / "out", "_anime", "png") == tmp_path / "out" / "sub" / "c_anime.png"
    assert output_path(item, tmp_path / "out") == tmp_path / "out" / "sub" / "c.jpeg"


def test_plan_refuses_to_overwrite_inputs_without_suffix(tree: Path) -> None:
    found = discover_inputs([str(tree)])
    with pytest.raises(InputError, match="--suffix"):
        plan_outputs(found.items, tree)
    planned, errors = plan_outputs(found.items, tree, suffix="_anime")
    assert errors == [] and len(planned) == len(found.items)
    assert all(out.stem.endswith("_anime") for _, out in planned)


def test_plan_refuses_a_hard_link_to_the_input(tmp_path: Path) -> None:
    src = _touch(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    os.link(src, out / "a.png")  # the same file under the output name, as a case-insensitive disk would be
    with pytest.raises(InputError, match="would overwrite this input"):
        plan_outputs(discover_inputs([str(src)]).items, out)


def test_rerun_into_the_input_folder_leaves_earlier_outputs_out(tree: Path) -> None:
    _touch(tree / "a_anime.jpg")
    _touch(tree / "sub" / "c_anime.jpeg")
    found = discover_inputs([str(tree)])
    assert "a_anime.jpg" in _rels(found)
    planned, errors = plan_outputs(found.items, tree, suffix="_anime")
    assert errors == []
    assert sorted(item.relative.as_posix() for item, _ in planned) == [
        "a.jpg", "b.PNG", "other/a.jpg", "scan.tiff", "sub/c.jpeg", "sub/deeper/d.webp"]
    assert (tree / "a_anime.jpg") in [out for _, out in planned]


def test_plan_reports_colliding_outputs_instead_of_overwriting(tmp_path: Path) -> None:
    a = _touch(tmp_path / "x" / "a.jpg")
    b = _touch(tmp_path / "y" / "a.jpg")
    c = _touch(tmp_path / "x" / "a.png")
    found = discover_inputs([str(a), str(b), str(c)])
    planned, errors = plan_outputs(found.items, tmp_path / "out", ext="png")
    assert [item.path for item, _ in planned] == [a]
    assert len(errors) == 2 and all("a.png" in str(e) for e in errors)
    assert str(b) in str(errors[0]) and str(a) in str(errors[0])
