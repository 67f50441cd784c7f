"""Settings of SyncKit (``config.section(SyncSettings)``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mnwd.config import Section, Setting, positive_float, positive_int

__all__ = ["SyncSettings"]


@dataclass(frozen=True)
class SyncSettings(Section):
    max_batch: int
    max_mutation_bytes: int
    max_push_bytes: int
    max_blob_bytes: int
    quota_bytes: int
    tombstone_days: int
    max_waiting_pushes: int
    max_uploads: int
    upload_idle_timeout: float

    SETTINGS: ClassVar[tuple[Setting, ...]] = (
        Setting("max_batch", "MNWD_SYNC_MAX_BATCH", "1000", "Most mutations in one sync push.", positive_int),
        Setting(
            "max_mutation_bytes",
            "MNWD_SYNC_MAX_MUTATION_BYTES",
            "65536",
            "Largest `data` of one sync mutation, in bytes of JSON.",
            positive_int,
        ),
        Setting(
            "max_push_bytes",
            "MNWD_SYNC_MAX_PUSH_BYTES",
            "8388608",
            "Largest sync push request body, in bytes.",
            positive_int,
        ),
        Setting(
            "max_blob_bytes", "MNWD_SYNC_MAX_BLOB_BYTES", "104857600", "Largest sync blob, in bytes.", positive_int
        ),
        Setting(
            "quota_bytes",
            "MNWD_SYNC_QUOTA_BYTES",
            "1073741824",
            "Blob storage each user may use, in bytes (users.max_file_override_bytes raises it per user).",
            positive_int,
        ),
        Setting(
            "tombstone_days",
            "MNWD_SYNC_TOMBSTONE_DAYS",
            "30",
            "Days a DELETE stays in the sync log before compaction may drop it.",
            positive_int,
        ),
        Setting(
            "max_waiting_pushes",
            "MNWD_SYNC_MAX_WAITING_PUSHES",
            "4",
            "Most pushes to one stream (app, user) this daemon runs at once; more are answered 429.",
            positive_int,
        ),
        Setting(
            "max_uploads",
            "MNWD_SYNC_MAX_UPLOADS",
            "4",
            "Most blob uploads one user may have in progress on this daemon at once; more are answered 429.",
            positive_int,
        ),
        Setting(
            "upload_idle_timeout",
            "MNWD_SYNC_UPLOAD_IDLE_TIMEOUT",
            "30",
            "Seconds a blob upload's body may stall before the upload is dropped (408) and its staged bytes removed.",
            positive_float,
        ),
    )
