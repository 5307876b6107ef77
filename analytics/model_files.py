"""Trained model files: written atomically under ``TRENDY_MODEL_DIR`` with their sha256, and loaded back checked
against it (a tampered or missing file is refused), keeping the newest used ones in the process's memory."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import joblib
from django.conf import settings
from django.utils.translation import gettext as _

from analytics.errors import AnalysisError


def model_dir() -> Path:
    return Path(settings.TRENDY_MODEL_DIR)


def write_model_file(path: Path, payload: dict[str, Any]) -> str:
    """Write the payload atomically (a temporary file, then a rename); returns the file's sha256."""
    buffer = io.BytesIO()
    joblib.dump(payload, buffer, compress=3)
    data = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


LOADED_MAX = 24  # model files kept in a process's memory (the newest used); each is a few MB to tens of MB
_loaded: OrderedDict[tuple[str, int], dict[str, Any]] = OrderedDict()
_loaded_lock = threading.Lock()


def load(row: Any) -> dict[str, Any]:
    """A stored model version's file (a RegimeModel's or a ForecastModel's), checked against its sha256; kept per
    process."""
    key = (row._meta.label, row.id)
    with _loaded_lock:
        if key in _loaded:
            _loaded.move_to_end(key)
            return _loaded[key]
    try:
        data = (model_dir() / row.path).read_bytes() if row.path else b""
    except OSError:
        data = b""
    if hashlib.sha256(data).hexdigest() != row.sha256:
        raise AnalysisError(
            _("The file of model version %(version)d is missing or does not match its checksum.")
            % {"version": row.version},
            code="model_corrupt",
        )
    payload = joblib.load(io.BytesIO(data))
    with _loaded_lock:
        _loaded[key] = payload
        while len(_loaded) > LOADED_MAX:
            _loaded.popitem(last=False)
    return payload
