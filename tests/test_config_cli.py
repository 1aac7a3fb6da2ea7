"""Settings precedence and the CLI's behaviour on user errors (one sentence, exit 2)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from streamproc.config import load_settings
from streamproc.errors import ConfigError

from .conftest import run_cli


def test_flags_beat_environment_beat_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "streamproc.yaml"
    cfg.write_text("broker: file:1\nmetrics_port: 1111\ndetection:\n  reference_size: 500\n")
    monkeypatch.setenv("STREAMPROC_METRICS_PORT", "2222")
    monkeypatch.setenv("STREAMPROC_DETECTION__BLOCK_SIZE", "8")
    s = load_settings(cfg, broker="flag:1")
    assert (s.broker, s.metrics_port) == ("flag:1", 2222)
    assert (s.detection.reference_size, s.detection.block_size) == (500, 8)


def test_toml_and_per_model_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text('[models.fraud]\nfalse_alarm_budget = 1e6\ntask = "classification"\n')
    dc = load_settings(cfg).detection_config()
    assert dc.settings_for("fraud").budget.events == 1e6
    assert dc.settings_for("other").budget.events == 100_000
    assert dc.task_for("fraud") == "classification"


@pytest.mark.parametrize(
    ("text", "message"),
    [("detection:\n  reference_size: 10\n", "detection.reference_size: Input should be greater"),
     ("partitions: many\n", "partitions: Input should be a valid integer"),
     ("unknown_setting: 1\n", "unknown_setting: Extra inputs are not permitted"),
     ("- a\n- b\n", "must hold a mapping")],
)
def test_bad_config_names_the_setting(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(cfg)


def test_river_detectors_are_configured_per_model(tmp_path: Path) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        "detection:\n  detectors: [{river: drift.KSWIN, params: {alpha: 0.001}}]\n"
        "models:\n  m1:\n    detectors:\n"
        "      - {river: river.drift.binary.DDM, signals: [performance]}\n"
        "      - {river: drift.PageHinkley, calibrate: true, features: [x]}\n"
    )
    dc = load_settings(cfg).detection_config()
    assert [(d.name, d.params) for d in dc.settings_for("other").river_detectors] == [
        ("river.drift.KSWIN", (("alpha", 0.001),))]
    ddm, ph = dc.settings_for("m1").river_detectors
    assert (ddm.name, ddm.binary, ph.name, ph.calibrate, ph.features) == (
        "river.drift.binary.DDM", True, "river.drift.PageHinkley", True, frozenset({"x"}))


@pytest.mark.parametrize(
    ("detector", "message"),
    [("{river: drift.Nope}", "River detector 'drift.Nope' is not supported; use one of: "
                             "drift.ADWIN"),
     ("{river: drift.KSWIN, params: {alpha: 7}}",
      "River detector drift.KSWIN rejects params {'alpha': 7}: Alpha must be between 0 and 1"),
     ("{river: drift.KSWIN, params: {nope: 1}}", "rejects params {'nope': 1}"),
     ("{river: drift.binary.DDM, calibrate: true}", "calibrate: true is available for"),
     ("{river: drift.KSWIN, calibrate: true, params: {alpha: 0.1}}",
      "streamproc chooses alpha; remove it from params"),
     ("{river: drift.binary.DDM, signals: [feature]}", "its signals must include performance")],
)
def test_bad_river_detector_is_one_sentence_and_exit_2(
    tmp_path: Path, detector: str, message: str
) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(f"detection:\n  detectors: [{detector}]\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(cfg)
    result = run_cli("worker", "--config", str(cfg))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_cli_reports_user_errors_in_one_line(tmp_path: Path) -> None:
    result = run_cli("worker", "--config", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"streamproc worker: error: config file {tmp_path / 'missing.yaml'} does not exist; "
        "pass an existing YAML or TOML file"
    ]


def test_cli_reports_an_unreachable_broker(tmp_path: Path) -> None:
    env = {**os.environ, "STREAMPROC_BROKER_TIMEOUT_SECONDS": "2"}
    result = run_cli("worker", "--broker", "127.0.0.1:1", "--metrics-port", "0", env=env)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("streamproc worker: error: cannot reach a Kafka broker at 127.0.0.1:1")
    assert "Traceback" not in result.stderr


def test_faust_engine_reports_an_unreachable_broker_in_one_line() -> None:
    env = {**os.environ, "STREAMPROC_BROKER_TIMEOUT_SECONDS": "2", "STREAMPROC_ENGINE": "faust"}
    result = run_cli("worker", "--broker", "127.0.0.1:1", "--metrics-port", "0", env=env)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("streamproc worker: error: cannot reach a Kafka broker at 127.0.0.1:1")
    assert "Traceback" not in result.stderr


def test_engine_setting_names_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().engine == "librdkafka"
    monkeypatch.setenv("STREAMPROC_ENGINE", "kafka-streams")
    with pytest.raises(ConfigError, match="engine: Input should be 'librdkafka' or 'faust'"):
        load_settings()


def test_backtest_pipe_prints_onset_and_detection() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 50_000), rng.normal(0.5, 1, 10_000)])
    result = run_cli("backtest", "--stdin", stdin="\n".join(f"{v:.6f}" for v in x) + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "50004 50079\n"  # onset: the change point within the blocks


def test_backtest_pipe_names_a_bad_line() -> None:
    result = run_cli("backtest", "--stdin", stdin="1\n2\nthree\n")
    assert result.returncode == 2
    assert "line 3 of stdin is 'three', not a number" in result.stderr


def test_backtest_file_writes_table_json_and_plots(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rows = ["timestamp,age,income,plan"]
    for i in range(12_000):
        income = rng.lognormal(10, 0.5) * (1.5 if i >= 8_000 else 1.0)
        rows.append(f"{1.7e9 + i},{rng.normal(40, 8):.3f},{income:.2f},"
                    f"{rng.choice(['a', 'b', 'c'])}")
    data = tmp_path / "events.csv"
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    result = run_cli("backtest", str(data), "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert "income" in result.stdout and "12,000 rows" in result.stdout
    found = json.loads((out / "detections.json").read_text())
    assert [(a["feature"], a["detector"]) for a in found] == [("income", "cusum")]
    assert 8_000 <= found[0]["position"] < 8_200
    png = out / "model__feature__income.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_per_model_feature_seasons_are_validated(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("models:\n  m1:\n    feature_seasonality: {temperature: often}\n")
    with pytest.raises(ConfigError, match=r"models\.m1\.feature_seasonality: .*'often'"):
        load_settings(cfg)


def test_defaults_and_bounds_come_from_the_core() -> None:
    from streamproc.config import DetectionSettings, Settings
    from streamproc.core import LIMITS

    for name, field in DetectionSettings.model_fields.items():
        if name in LIMITS:
            assert field.default == LIMITS[name].default, name
    assert Settings.model_fields["join_window_seconds"].default == LIMITS[
        "join_window_seconds"].default


def test_backtest_says_what_it_could_not_see(tmp_path: Path) -> None:
    """Rows before a monitor could detect are not reported as 'no drift': the table
    names the monitors that never completed a reference, monitors.json lists them all,
    and pipe mode says on stderr which values were tested."""
    rng = np.random.default_rng(5)
    rows = ["x,rare"] + [f"{rng.normal():.4f},{'' if i < 2100 else rng.normal():}"
                         for i in range(3000)]
    data = tmp_path / "short.csv"
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    result = run_cli("backtest", str(data), "--output", str(out), "--no-plots")
    assert result.returncode == 0, result.stderr
    assert "No drift detected from row 1,000 of the model's events on" in result.stdout
    assert "feature rare: never completed its first reference" in result.stdout
    coverage = {(c["signal"], c["name"]): c for c in
                json.loads((out / "monitors.json").read_text())}
    assert coverage[("feature", "x")]["detectable_from"] == 1000
    assert coverage[("feature", "rare")]["detectable_from"] is None

    piped = run_cli("backtest", "--stdin", stdin="\n".join(str(v) for v in range(40)) + "\n")
    assert piped.returncode == 0
    assert "never completed its first reference (40 values" in piped.stderr


def test_backtest_takes_references_down_to_32_values() -> None:
    rng = np.random.default_rng(6)
    x = np.concatenate([rng.normal(0, 1, 200), rng.normal(6, 1, 200)])
    text = "\n".join(f"{v:.5f}" for v in x) + "\n"
    result = run_cli("backtest", "--stdin", "--reference-size", "32", stdin=text)
    assert result.returncode == 0, result.stderr
    onset, detected = (int(v) for v in result.stdout.split("\n")[0].split())
    assert 195 <= onset <= 205 and 200 <= detected < 260
    assert "tested values 32 to 399" in result.stderr  # a half-window of 16: too short
    refused = run_cli("backtest", "--stdin", "--reference-size", "31", stdin=text)
    assert refused.returncode == 2
    assert "reference_size must be >= 32, got 31" in refused.stderr


def test_model_bounds_from_yaml_and_environment(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text("max_models: 2000\nmodel_idle_seconds: 86400\nmodels: {fraud: {}}\n")
    dc = load_settings(cfg).detection_config()
    assert (dc.max_models, dc.model_idle_seconds, dc.listed_models) == (
        2000, 86400.0, frozenset({"fraud"}))
    monkeypatch.setenv("STREAMPROC_MAX_MODELS", "30")
    monkeypatch.setenv("STREAMPROC_MODEL_IDLE_SECONDS", "0")
    s = load_settings(cfg)
    assert (s.max_models, s.model_idle_seconds) == (30, 0.0)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [("STREAMPROC_MAX_MODELS", "0", "max_models: Input should be greater than or equal to 1"),
     ("STREAMPROC_MAX_MODELS", "lots", "max_models: Input should be a valid integer"),
     ("STREAMPROC_MODEL_IDLE_SECONDS", "-1",
      "model_idle_seconds: Input should be greater than or equal to 0")],
)
def test_bad_model_bounds_are_one_sentence_and_exit_2(name: str, value: str,
                                                     message: str) -> None:
    result = run_cli("worker", "--metrics-port", "0", env={**os.environ, name: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr
