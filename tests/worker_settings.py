"""Settings for a worker process in tests whose provider is the recording adapter."""

from config.settings import *  # noqa: F403

SYNC_ADAPTERS = {"imap": "tests.fakes.recording.RecordingAdapter"}
