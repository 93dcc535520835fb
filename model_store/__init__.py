"""The trained digit recognizers, their records, and which one the app serves.

A store is a directory holding, for each model, ``NAME.keras`` and ``NAME.json`` (the
record of how it was trained and how well it does), plus a ``current`` file naming the
model the app serves. The committed store lives in ``model_store/models``;
``$DIGIT_MODEL_STORE`` points the app and training at another one.

Publishing is atomic (see `publish`): a reader sees either the previous model or the
whole new one, whenever the publishing process dies.
"""

from model_store.store import (
    CURRENT_FILE,
    STORE_ENV,
    ModelStoreError,
    StoredModel,
    current_name,
    default_store,
    list_records,
    load,
    load_current,
    publish,
    read_record,
)

__all__ = [
    "CURRENT_FILE",
    "STORE_ENV",
    "ModelStoreError",
    "StoredModel",
    "current_name",
    "default_store",
    "list_records",
    "load",
    "load_current",
    "publish",
    "read_record",
]
