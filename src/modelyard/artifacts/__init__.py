"""Content-addressed blobs on any fsspec URL."""

from .store import ArtifactStore, open_artifact_store

__all__ = ["ArtifactStore", "open_artifact_store"]
