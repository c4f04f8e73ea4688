"""In-process checks: settings validation, the offered models, the bounded model cache, the request timeout."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from server_helpers import encoded, make_model, photo

from animegan.errors import ConfigError, ModelError
from animegan.server import ServerSettings, create_app
from animegan.server.registry import ModelRegistry


@pytest.mark.parametrize(("changes", "needle"), [
    ({"concurrency": 0}, "concurrency 0"), ({"queue_length": -1}, "queue length -1"),
    ({"max_upload_bytes": 10}, "max upload bytes 10"), ({"api_key": "short"}, "API key"),
    ({"allowed_models": ()}, "allowed models"), ({"request_timeout": 0}, "request timeout 0"),
])
def test_bad_settings_are_refused_with_the_setting_named(changes: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        ServerSettings().with_changes(**changes)


def test_default_settings_bind_loopback_only() -> None:
    assert ServerSettings().host == "127.0.0.1"


def test_allowed_models_must_exist_and_default_must_be_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="weights file not found"):
        ModelRegistry(ServerSettings(allowed_models=(str(tmp_path / "missing.safetensors"),)))
    with pytest.raises(ConfigError, match="no-such-style"):
        ModelRegistry(ServerSettings(allowed_models=("no-such-style",)))
    model = make_model(tmp_path)
    with pytest.raises(ConfigError, match="default model 'hayao': not among the allowed models"):
        ModelRegistry(ServerSettings(allowed_models=(str(model),), default_model="hayao"))


def test_zoo_models_are_offered_with_their_status_when_none_are_listed() -> None:
    registry = ModelRegistry(ServerSettings())
    described = {m["name"]: m for m in registry.describe()}
    assert registry.default in described and described[registry.default]["default"] is True
    assert all(isinstance(m["available"], bool) for m in described.values())
    # a zoo model whose weights are not on this machine is refused with the zoo's advice, not downloaded
    missing = next((n for n, m in described.items() if not m["available"]), None)
    if missing is not None:
        with pytest.raises(ModelError):
            registry.get(missing)


def test_model_cache_keeps_only_the_most_recent_models(tmp_path: Path) -> None:
    a, b = make_model(tmp_path, "alpha"), make_model(tmp_path, "beta")
    registry = ModelRegistry(ServerSettings(allowed_models=(str(a), str(b)), model_cache_size=1, device="cpu"))
    assert [m["name"] for m in registry.describe()] == ["alpha", "beta"]
    assert registry.describe()[0]["style"] == "alpha" and registry.default == "alpha"
    first = registry.get("alpha")
    assert registry.get("alpha") is first and registry.cached_names() == ["alpha"]
    registry.get("beta")
    assert registry.cached_names() == ["beta"]
    assert registry.get(str(a)) is not first  # reloaded after eviction (and found by its path)
    with pytest.raises(ModelError, match="not offered by this server"):
        registry.get("gamma")


def test_request_timeout_is_504_and_the_slot_is_freed_when_the_work_ends(tmp_path: Path) -> None:
    settings = ServerSettings(allowed_models=(str(make_model(tmp_path)),), request_timeout=0.001, device="cpu",
                              concurrency=1, queue_length=0)
    app = create_app(settings)

    async def scenario() -> tuple[int, str, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post("/api/v1/stylize", files={"image": ("a.png", encoded(photo(128, 128)))})
            for _ in range(600):  # the abandoned work still finishes and releases its slot
                if app.state.ctx.pool.admission.in_flight == 0:
                    break
                await asyncio.sleep(0.05)
            return response.status_code, response.json()["detail"], app.state.ctx.pool.admission.in_flight

    status, detail, in_flight = asyncio.run(scenario())
    app.state.ctx.pool.shutdown()
    app.state.ctx.jobs.shutdown()
    assert status == 504 and "request timeout" in detail
    assert in_flight == 0


def test_every_output_side_is_capped_at_the_servers_max_side_limit(tmp_path: Path) -> None:
    settings = ServerSettings(allowed_models=(str(make_model(tmp_path)),), device="cpu", max_side_limit=48)
    app = create_app(settings)

    async def scenario() -> list[tuple[int, str]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            sent = [({}, photo(128, 64)), ({}, photo(40, 20)), ({"max_side": "32"}, photo(128, 64)),
                    ({"max_side": "64"}, photo(128, 64))]
            out = []
            for fields, img in sent:
                response = await client.post("/api/v1/stylize", files={"image": ("a.png", encoded(img))}, data=fields)
                out.append((response.status_code, response.headers.get("x-image-size") or response.json()["detail"]))
            return out

    try:
        results = asyncio.run(scenario())
    finally:
        app.state.ctx.pool.shutdown()
        app.state.ctx.jobs.shutdown()
    assert results[:3] == [(200, "48x24"), (200, "40x20"), (200, "32x16")]
    assert results[3][0] == 422 and results[3][1] == "max_side 64: over this server's limit of 48"
