"""The one error hierarchy of modelyard.

    ModelyardError
    ├── NotFound(ModelyardError, LookupError)        unknown experiment, run, model, version, alias, blob …
    ├── AlreadyExists(ModelyardError)                a name or version that must be unique
    ├── InvalidParameter(ModelyardError, ValueError) bad input: says what was expected and what was got
    │   ├── FilterSyntaxError                        a search filter that does not parse (points at the token)
    │   ├── SchemaMismatch                           data that does not match a signature or dataset schema
    │   └── UnsafeModelError                         a model file that would load untrusted code
    ├── NotFittedError(ModelyardError, ValueError, AttributeError)
    ├── IntegrityError(ModelyardError)               stored bytes whose digest does not match
    ├── StepFailed(ModelyardError)                   a pipeline step raised (the run keeps what completed)
    ├── ValidationRequired(ModelyardError)           a protected alias moved to an unvalidated version
    ├── ApprovalRequired(ModelyardError)             a four-eyes alias moved without an approved request (409)
    ├── NotReproducible(ModelyardError)              a logged prediction the model version does not give again
    ├── Unauthorized(ModelyardError, PermissionError)  no or a bad token (401)
    │   └── Forbidden                                a principal without the permission (403)
    ├── WriteConflict(ModelyardError)                a deadlock/serialization failure left after retries (409)
    └── RemoteError(ModelyardError)                  a server answered with an error we cannot map

Only the HTTP faces (``api/``, ``serving/``) map these to status codes; every error carries
an optional ``field`` naming the input that was wrong.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "AlreadyExists",
    "ApprovalRequired",
    "FilterSyntaxError",
    "Forbidden",
    "IntegrityError",
    "InvalidParameter",
    "ModelyardError",
    "NotFittedError",
    "NotFound",
    "NotReproducible",
    "RemoteError",
    "SchemaMismatch",
    "StepFailed",
    "Unauthorized",
    "UnsafeModelError",
    "ValidationRequired",
    "WriteConflict",
    "did_you_mean",
]


class ModelyardError(Exception):
    """Base class of every error modelyard raises on purpose."""

    code = "error"
    status_code = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str | None]:
        return {"error": self.code, "message": self.message, "field": self.field}


class NotFound(ModelyardError, LookupError):
    code = "not_found"
    status_code = 404


class AlreadyExists(ModelyardError):
    code = "already_exists"
    status_code = 409


class InvalidParameter(ModelyardError, ValueError):
    code = "invalid_parameter"
    status_code = 422


class FilterSyntaxError(InvalidParameter):
    code = "filter_syntax"
    status_code = 400


class SchemaMismatch(InvalidParameter):
    code = "schema_mismatch"
    status_code = 422


class UnsafeModelError(InvalidParameter):
    code = "unsafe_model"
    status_code = 422


class NotFittedError(ModelyardError, ValueError, AttributeError):
    code = "not_fitted"
    status_code = 409


class IntegrityError(ModelyardError):
    code = "integrity"
    status_code = 500


class StepFailed(ModelyardError):
    """A step of a pipeline run failed: the run is ``failed``, the steps that depend on it are
    skipped, completed outputs are kept (``modelyard pipelines resume RUN`` goes on)."""

    code = "step_failed"
    status_code = 500


class ValidationRequired(ModelyardError):
    """A protected alias may only point at a version whose latest validation report passed
    (or be moved with an override and a reason)."""

    code = "validation_required"
    status_code = 409


class ApprovalRequired(ModelyardError):
    """A four-eyes alias moves only when a second person approves a promotion request, and a
    request can no longer be approved when what it was bound to changed."""

    code = "approval_required"
    status_code = 409


class NotReproducible(ModelyardError):
    """The exact model version does not give the logged output for the logged input again, so
    an explanation of it would explain something else."""

    code = "not_reproducible"
    status_code = 409


class Unauthorized(ModelyardError, PermissionError):
    code = "unauthorized"
    status_code = 401


class Forbidden(Unauthorized):
    """Authenticated, but the principal lacks the permission the operation needs."""

    code = "forbidden"
    status_code = 403


class WriteConflict(ModelyardError):
    """The database aborted a write that collided with a concurrent one (a deadlock or a
    serialization failure) and retrying did not get it through: nothing was written."""

    code = "write_conflict"
    status_code = 409


class RemoteError(ModelyardError):
    code = "remote"
    status_code = 502


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` naming the closest of ``choices`` to a mistyped ``value``, or an
    empty string when none is close (for the end of an error message)."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


_BY_CODE = {
    cls.code: cls
    for cls in (
        ApprovalRequired,
        NotFound,
        AlreadyExists,
        InvalidParameter,
        FilterSyntaxError,
        SchemaMismatch,
        UnsafeModelError,
        NotFittedError,
        IntegrityError,
        StepFailed,
        ValidationRequired,
        NotReproducible,
        Unauthorized,
        Forbidden,
        WriteConflict,
        RemoteError,
    )
}


def from_dict(payload: dict[str, object], status_code: int = 500) -> ModelyardError:
    """Rebuild the error a server sent (``{"error", "message", "field"}``) on the client side."""
    cls = _BY_CODE.get(str(payload.get("error")), RemoteError)
    field = payload.get("field")
    err = cls(str(payload.get("message", "")), field=str(field) if field is not None else None)
    return err
