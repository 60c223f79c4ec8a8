"""Config files that name a ``"base"`` (``livefit.config.load_config``): deep merge, chains,
cycles and missing bases refused naming the file, overrides still checked field by field, and
the resolved config (no ``"base"``) is what ``save_config`` writes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from livefit.config import (
    ConfigError,
    config_to_dict,
    load_config,
    merge_config,
    read_config_dict,
    save_config,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@dataclass(frozen=True)
class Inner:
    a: int = 1
    b: tuple[int, ...] = (1, 2)
    c: str = "c"


@dataclass(frozen=True)
class Outer:
    name: str = "outer"
    inner: Inner = field(default_factory=Inner)
    maybe: Inner | None = None
    sizes: tuple[int, ...] = ()


def write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_merge_objects_key_by_key_and_replace_everything_else() -> None:
    base = {"x": 1, "d": {"a": 1, "b": [1, 2], "deep": {"p": 1, "q": 2}}, "n": None, "o": {"k": 1}}
    over = {"x": 2, "d": {"b": [3], "deep": {"q": 5}}, "n": {"k": 2}, "o": None, "new": [1]}
    merged = merge_config(base, over)
    assert merged == {
        "x": 2,  # a scalar replaces
        "d": {"a": 1, "b": [3], "deep": {"p": 1, "q": 5}},  # objects merge at any depth
        "n": {"k": 2},  # an object over null: the object
        "o": None,  # null over an object: null
        "new": [1],
    }
    assert base["d"]["b"] == [1, 2] and base["d"]["deep"] == {"p": 1, "q": 2}  # inputs unchanged


def test_a_file_states_only_what_differs_from_its_base(tmp_path: Path) -> None:
    write(tmp_path / "base.json", {"name": "b", "inner": {"a": 5, "b": [7, 8, 9]}, "sizes": [1]})
    leaf = write(tmp_path / "leaf.json", {"base": "base.json", "inner": {"b": [4]}})
    cfg = load_config(Outer, leaf)
    assert cfg == Outer(name="b", inner=Inner(a=5, b=(4,)), sizes=(1,))
    data, bases = read_config_dict(leaf)
    assert "base" not in data and bases == [tmp_path / "base.json"]


def test_a_chain_of_bases_resolves_nearest_last(tmp_path: Path) -> None:
    write(tmp_path / "root.json", {"name": "root", "inner": {"a": 1, "c": "root"}})
    write(tmp_path / "mid" / "mid.json", {"base": "../root.json", "inner": {"a": 2}})
    leaf = write(
        tmp_path / "mid" / "sub" / "leaf.json", {"base": "../mid.json", "inner": {"c": "leaf"}}
    )
    assert load_config(Outer, leaf) == Outer(name="root", inner=Inner(a=2, c="leaf"))


def test_the_saved_config_is_the_resolved_one(tmp_path: Path) -> None:
    write(tmp_path / "base.json", {"name": "b", "inner": {"a": 3}})
    leaf = write(tmp_path / "leaf.json", {"base": "base.json", "sizes": [2]})
    cfg = load_config(Outer, leaf)
    save_config(cfg, tmp_path / "saved.json")
    saved = json.loads((tmp_path / "saved.json").read_text())
    assert "base" not in saved and saved == config_to_dict(cfg)
    assert saved["inner"] == {"a": 3, "b": [1, 2], "c": "c"} and saved["sizes"] == [2]
    assert load_config(Outer, tmp_path / "saved.json") == cfg


def test_a_cycle_of_bases_is_refused_naming_the_file(tmp_path: Path) -> None:
    one = write(tmp_path / "one.json", {"base": "two.json"})
    write(tmp_path / "two.json", {"base": "one.json"})
    with pytest.raises(ConfigError, match=r"two\.json: base 'one\.json' makes a cycle"):
        load_config(Outer, one)
    self_loop = write(tmp_path / "self.json", {"base": "./self.json"})
    with pytest.raises(ConfigError, match=r"self\.json: base './self\.json' makes a cycle"):
        load_config(Outer, self_loop)


def test_a_missing_base_is_refused_naming_the_file(tmp_path: Path) -> None:
    leaf = write(tmp_path / "leaf.json", {"base": "nowhere.json"})
    with pytest.raises(ConfigError) as err:
        load_config(Outer, leaf)
    assert str(err.value).startswith(f"{leaf}: base config ")
    assert "nowhere.json is missing" in str(err.value)
    folder = write(tmp_path / "folder.json", {"base": "."})
    with pytest.raises(ConfigError, match=r"folder\.json: base config .* is a folder"):
        load_config(Outer, folder)


@pytest.mark.parametrize("base", [3, "", None, ["a.json"]])
def test_a_base_that_is_not_a_path_is_refused(tmp_path: Path, base: object) -> None:
    leaf = write(tmp_path / "leaf.json", {"base": base})
    with pytest.raises(ConfigError, match=r"leaf\.json: field base must be a path"):
        load_config(Outer, leaf)


def test_a_base_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    (tmp_path / "list.json").write_text("[1, 2]")
    leaf = write(tmp_path / "leaf.json", {"base": "list.json"})
    with pytest.raises(ConfigError, match=r"list\.json: expected an object .*the base of .*leaf"):
        load_config(Outer, leaf)


def test_an_override_is_still_checked_with_its_dotted_field(tmp_path: Path) -> None:
    write(tmp_path / "base.json", {"name": "b"})
    typo = write(tmp_path / "typo.json", {"base": "base.json", "inner": {"aa": 1}})
    with pytest.raises(
        ConfigError,
        match=r"typo\.json \(base: .*base\.json\): unknown Inner "
        r"field\(s\) \['aa'\] at inner",
    ):
        load_config(Outer, typo)
    wrong = write(tmp_path / "wrong.json", {"base": "base.json", "inner": {"a": "2"}})
    with pytest.raises(ConfigError, match=r'field inner\.a must be an int, got "2"'):
        load_config(Outer, wrong)
    nested = write(tmp_path / "nested.json", {"base": "base.json", "inner": {"base": "x.json"}})
    with pytest.raises(ConfigError, match=r"unknown Inner field\(s\) \['base'\] at inner"):
        load_config(Outer, nested)  # only the top level names a base
    repeated = tmp_path / "repeated.json"
    repeated.write_text('{"base": "base.json", "name": "a", "name": "b"}')
    with pytest.raises(ConfigError, match=r"repeated\.json: the key 'name' appears twice"):
        load_config(Outer, repeated)


def test_shipped_stage3_configs_build_on_their_stage2_config() -> None:
    from livefit.train.coach_stage import CoachStageConfig

    for scale in ("tiny", "embedded", "paper"):
        path = CONFIGS / "coach" / f"{scale}_long_range.json"
        assert json.loads(path.read_text())["base"] == f"{scale}_clips.json"
        long_range = load_config(CoachStageConfig, path)
        clips = load_config(CoachStageConfig, CONFIGS / "coach" / f"{scale}_clips.json")
        assert (clips.stage, long_range.stage) == ("clips", "long_range")
        assert long_range.engine == clips.engine and long_range.clip_items == clips.clip_items
