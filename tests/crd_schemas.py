"""Strict checks of custom resources against their CRDs, for tests/test_kubernetes.py.

No package on PyPI, npm or Debian ships the Prometheus Operator's or KEDA's CRD OpenAPI
schemas as data (looked for: PyPI, the npm registry, `apt-cache search`; the npm packages
@kubernetes-models/keda and @kubernetes-models/prometheus-operator ship them only compiled
into JavaScript validators). What PyPI does ship is the cloudcoil model packages:
pydantic models generated from the published CRDs (`cloudcoil-models-keda` 2.16.1.0 from
KEDA 2.16.1's CRDs, `cloudcoil-models-prometheus-operator` 0.80.1.0 from the operator's
v0.80.1 CRDs; the version is the package's). They carry the CRDs' field names, types,
enums and required fields, so validating with them checks what the API server's
structural schema checks. Pydantic ignores unknown fields, and so does the API server (it
prunes them silently), so :func:`unknown_fields` walks the models to reject any field the
CRD does not have, as ``kubectl apply --validate=strict`` does.

Two things no CRD describes, because the CRD leaves them free-form maps, are written down
here from KEDA's documentation of the kafka scaler (keda.sh/docs/2.15/scalers/apache-kafka),
clearly labelled: the trigger's metadata keys and the TriggerAuthentication parameters.
"""

from __future__ import annotations

import types
import typing
from typing import Any

import pydantic
from cloudcoil.models.keda import v1alpha1 as keda
from cloudcoil.models.prometheus_operator import v1 as monitoring

__all__ = ["KAFKA_AUTH_PARAMETERS", "KAFKA_TRIGGER_METADATA", "MODELS", "check", "unknown_fields"]

# (apiVersion, kind) -> the model generated from that CRD.
MODELS: dict[tuple[str, str], type[pydantic.BaseModel]] = {
    ("monitoring.coreos.com/v1", "PodMonitor"): monitoring.PodMonitor,
    ("monitoring.coreos.com/v1", "PrometheusRule"): monitoring.PrometheusRule,
    ("keda.sh/v1alpha1", "ScaledObject"): keda.ScaledObject,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): keda.TriggerAuthentication,
}

# WRITTEN DOWN FROM KEDA'S DOCS (kafka scaler, 2.13-2.15), not from a schema: the trigger
# `metadata` keys of `type: kafka`, with the allowed values where the docs list them
# (None: any string).
KAFKA_TRIGGER_METADATA: dict[str, frozenset[str] | None] = {
    "bootstrapServers": None,
    "consumerGroup": None,
    "topic": None,
    "lagThreshold": None,
    "activationLagThreshold": None,
    "offsetResetPolicy": frozenset({"latest", "earliest"}),
    "allowIdleConsumers": frozenset({"true", "false"}),
    "scaleToZeroOnInvalidOffset": frozenset({"true", "false"}),
    "excludePersistentLag": frozenset({"true", "false"}),
    "limitToPartitionsWithLag": frozenset({"true", "false"}),
    "version": None,
    "partitionLimitation": None,
    "sasl": frozenset({"plaintext", "scram_sha256", "scram_sha512", "gssapi", "oauthbearer",
                       "none"}),
    "tls": frozenset({"enable", "disable"}),
    "unsafeSsl": frozenset({"true", "false"}),
}

# WRITTEN DOWN FROM KEDA'S DOCS (kafka scaler, "Authentication Parameters"): the
# parameters a TriggerAuthentication may give the kafka scaler.
KAFKA_AUTH_PARAMETERS = frozenset({
    "sasl", "username", "password", "tls", "ca", "cert", "key", "keyPassword", "unsafeSsl",
    "oauthTokenEndpointUri", "scopes", "oauthExtensions", "realm", "kerberosConfig",
    "keytab", "kerberosServiceName", "kerberosDisableFAST", "awsRegion",
})


def _models_in(annotation: Any) -> list[type[pydantic.BaseModel]]:
    """The pydantic models a field of this annotation may hold (directly or in a list)."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, typing.List):  # noqa: UP006
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []  # scalars, and dicts: free-form maps in the CRD too


def _fields(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """JSON name -> annotation of a model's fields (a RootModel's: those of its root)."""
    if issubclass(model, pydantic.RootModel):
        return {name: ann for m in _models_in(model.model_fields["root"].annotation)
                for name, ann in _fields(m).items()}
    return {(field.alias or name): field.annotation for name, field in model.model_fields.items()}


def unknown_fields(model: type[pydantic.BaseModel], data: Any, path: str = "") -> list[str]:
    """Paths in ``data`` of fields that ``model`` (and so the CRD) does not have."""
    if isinstance(data, list):
        return [p for i, item in enumerate(data) for p in unknown_fields(model, item,
                                                                          f"{path}[{i}]")]
    if not isinstance(data, dict):
        return []
    fields = _fields(model)
    if not fields:  # a model with no declared fields is a free-form object
        return []
    found = []
    for key, value in data.items():
        where = f"{path}.{key}" if path else key
        if key not in fields:
            found.append(where)
            continue
        candidates = _models_in(fields[key])
        if candidates:
            # A union of models: the value is fine if any of them knows all its fields.
            misses = [unknown_fields(m, value, where) for m in candidates]
            found += min(misses, key=len)
    return found


def check(document: dict[str, Any]) -> list[str]:
    """Problems of one custom resource against its CRD model: [] when it conforms."""
    model = MODELS.get((document.get("apiVersion", ""), document.get("kind", "")))
    if model is None:
        return [f"no CRD model for {document.get('apiVersion')} {document.get('kind')}"]
    problems = [f"unknown field {p}" for p in unknown_fields(model, document)]
    try:
        model.model_validate(document)
    except pydantic.ValidationError as exc:
        problems += [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    return problems
