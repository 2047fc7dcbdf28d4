"""The audit log: read it, verify it, sign its head, export it for offline verification.

Every change appends a hash-chained record in the transaction of the change
(:mod:`modelyard.store.audit` says how records and their hashes are made). This module:

* :meth:`AuditStore.records` lists them (filters: ``target``, ``action``, ``actor``, ``since``);
* :meth:`AuditStore.verify` recomputes every hash and link, compares the head row and every
  signed checkpoint, and names the first broken record (edited, missing, rewritten or
  truncated);
* :meth:`AuditStore.checkpoint` signs the chain head with this server's Ed25519 key (a file under
  the yard's home, made on first use, mode 0600) as a C2SP signed note in the tlog-checkpoint
  format (``modelyard.audit/<log id>``, the number of records, the head hash in base64, the time;
  then ``— <key name> <base64(key id || signature)>``). A model server, a ``modelyard server``
  (every ``audit_checkpoint_interval`` seconds) or ``modelyard audit checkpoint`` make them;
* :func:`export` writes ``records.jsonl``, ``checkpoints.jsonl``, ``head.json`` and the public
  key (``public_key.txt``: the signed-note verifier key; ``public_key.pem``), and
  :func:`verify_export` checks such a folder offline, with no database.

Anyone holding the database can rewrite rows, recompute the hashes and the head row, and delete
checkpoints; what they cannot do is sign a checkpoint with a key they do not have, or change an
exported checkpoint. So keep exports (or at least the checkpoints and the public key) somewhere
the database's administrators cannot write.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field

from ..clock import parse_time
from ..errors import InvalidParameter, NotFound
from ..store.audit import GENESIS, canonical_json, format_time, record_hash
from ..store.base import DomainStore
from ..store.schema.audit import AuditCheckpointRow, AuditHeadRow, AuditRecordRow
from ..transport import endpoint

__all__ = [
    "AuditHead",
    "AuditKey",
    "AuditPublicKey",
    "AuditRecord",
    "AuditStore",
    "AuditVerification",
    "Checkpoint",
    "export",
    "key_path",
    "load_key",
    "verify_chain",
    "verify_export",
]

_LOG = AuditRecordRow.__table__
_HEAD = AuditHeadRow.__table__
_CHECKPOINTS = AuditCheckpointRow.__table__
_BATCH = 5000
_MAX_LIMIT = 10_000
_ED25519 = b"\x01"  # the signed-note signature type of Ed25519
_DASH = "\u2014"


# ---- entities ----------------------------------------------------------------------------------
class AuditRecord(BaseModel):
    """One record. ``before``/``after`` are the canonical JSON texts that were hashed (or None);
    :meth:`state` parses them."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    before: str | None = None
    after: str | None = None
    prev_hash: str
    hash: str

    def state(self, which: str = "after") -> Any:
        text = self.before if which == "before" else self.after
        return None if text is None else json.loads(text)

    def recomputed_hash(self) -> str:
        return record_hash(seq=self.seq, at=self.at, actor=self.actor, action=self.action,
                           target=self.target, before=self.before, after=self.after,
                           prev=self.prev_hash)


class AuditHead(BaseModel):
    """The head row: this log's id, its number of records and the last hash."""

    log_id: str
    seq: int
    hash: str

    @property
    def origin(self) -> str:
        return f"modelyard.audit/{self.log_id}"


class Checkpoint(BaseModel):
    """A signed note of the head at ``size`` records."""

    size: int
    head_hash: str
    key_id: str
    note: str
    created_at: datetime


class AuditPublicKey(BaseModel):
    """A checkpoint key: its signed-note ``name``, ``key_id`` (hex), verifier key ``vkey``
    (``name+keyid+base64``) and PEM."""

    name: str
    key_id: str
    vkey: str
    pem: str


class AuditVerification(BaseModel):
    """What :meth:`AuditStore.verify` found. ``first_broken`` is the seq of the first record
    that is not as written (None when the log is intact); ``problems`` lists what is wrong,
    the first one first."""

    ok: bool
    records: int
    head_seq: int | None = None
    head_hash: str | None = None
    checkpoints: int = 0
    first_broken: int | None = None
    problems: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        if self.ok:
            return (f"audit log intact: {self.records} records, {self.checkpoints} signed "
                    f"checkpoints verified, head {str(self.head_hash)[:16]}")
        return f"audit log broken at record {self.first_broken}: {self.problems[0]}"


# ---- signing keys --------------------------------------------------------------------------------
def key_path(home: Path) -> Path:
    """Where a yard home keeps its checkpoint key."""
    return Path(home) / "audit" / "checkpoint-ed25519.pem"


@dataclass(frozen=True)
class AuditKey:
    """An Ed25519 key that signs checkpoints under the signed-note key ``name``."""

    private: Any  # cryptography's Ed25519PrivateKey

    def public_bytes(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.private.public_key().public_bytes(  # type: ignore[no-any-return]
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def public(self, name: str) -> AuditPublicKey:
        from cryptography.hazmat.primitives import serialization

        raw = self.public_bytes()
        kid = _key_id(name, raw)
        pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        vkey = f"{name}+{kid.hex()}+{base64.b64encode(_ED25519 + raw).decode()}"
        return AuditPublicKey(name=name, key_id=kid.hex(), vkey=vkey, pem=pem)

    def sign(self, body: str, name: str) -> str:
        """``body`` (ending in a newline) as a signed note."""
        signature = self.private.sign(body.encode("utf-8"))
        kid = _key_id(name, self.public_bytes())
        return f"{body}\n{_DASH} {name} {base64.b64encode(kid + signature).decode()}\n"


def load_key(home: Path) -> AuditKey:
    """The home's checkpoint key, generated on first use (file mode 0600, folder 0700). Two
    processes starting at once end up with the same key (the file is linked into place only
    if it does not exist yet)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = key_path(home)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic, and refuses to replace a key another process made
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidParameter(f"{path} must hold an Ed25519 private key.", field="key")
    return AuditKey(key)


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + _ED25519 + public).digest()[:4]


def _parse_vkey(vkey: str) -> tuple[str, bytes, bytes]:
    """(name, key id, raw Ed25519 public key) of a signed-note verifier key."""
    try:
        name, kid_hex, data = vkey.strip().split("+", 2)
        raw = base64.b64decode(data, validate=True)
        kid = bytes.fromhex(kid_hex)
    except ValueError as exc:
        raise InvalidParameter(
            f"A verifier key must look like 'name+keyid+base64'. Got {vkey!r} instead.",
            field="key") from exc
    if raw[:1] != _ED25519 or len(raw) != 33 or _key_id(name, raw[1:]) != kid:
        raise InvalidParameter(f"{vkey!r} is not a valid Ed25519 verifier key.", field="key")
    return name, kid, raw[1:]


def _checkpoint_body(origin: str, size: int, head_hash: str, at: datetime) -> str:
    root = base64.b64encode(bytes.fromhex(head_hash)).decode()
    return f"{origin}\n{size}\n{root}\ntime {format_time(at)}\n"


def _verify_note(note: str, vkeys: Iterable[str]) -> tuple[str, int, str] | str:
    """(origin, size, head hash hex) of a note signed by one of ``vkeys``; else why not."""
    body, sep, signatures = note.partition("\n\n")
    if not sep:
        return "it is not a signed note (no blank line before the signatures)"
    body += "\n"
    known = {}
    for vkey in vkeys:
        name, kid, raw = _parse_vkey(vkey)
        known[(name, kid)] = raw
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    verified = False
    for line in signatures.splitlines():
        if not line.startswith(_DASH + " "):
            continue
        try:
            name, sig = line[2:].rsplit(" ", 1)
            blob = base64.b64decode(sig, validate=True)
        except ValueError:
            continue
        raw = known.get((name, blob[:4]))
        if raw is None:
            continue  # an unknown key: ignored, as signed-note verifiers do
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(blob[4:], body.encode("utf-8"))
            verified = True
        except InvalidSignature:
            return "its signature does not verify (the note was changed after it was signed)"
    if not verified:
        return "it is not signed by a trusted key"
    lines = body.splitlines()
    try:
        return lines[0], int(lines[1]), base64.b64decode(lines[2]).hex()
    except (IndexError, ValueError):
        return "its body is not a checkpoint (origin, size, hash)"


# ---- verification --------------------------------------------------------------------------------
def verify_chain(records: Iterable[AuditRecord], checkpoints: Iterable[Checkpoint],
                 vkeys: Iterable[str], head: AuditHead | None = None) -> AuditVerification:
    """Verify records (in seq order) against their hashes and links, the head row (if given)
    and the checkpoints signed by ``vkeys``; name the first broken record."""
    checkpoints = sorted(checkpoints, key=lambda c: c.size)
    vkeys = list(vkeys)
    wanted = {c.size for c in checkpoints}
    seen: dict[int, str] = {}
    found: list[tuple[int, str]] = []  # (seq, problem)

    def broken(seq: int, problem: str) -> None:
        found.append((seq, problem))

    expected, prev, last = 1, GENESIS, 0
    for r in records:
        if r.seq != expected:
            gap = (f"records {expected}..{r.seq - 1} are" if r.seq - 1 > expected
                   else f"record {expected} is")
            broken(expected, f"{gap} missing: the log goes from {expected - 1} to {r.seq}.")
            break
        if r.recomputed_hash() != r.hash:
            broken(r.seq, f"record {r.seq} ({r.action} {r.target} by {r.actor} at "
                          f"{format_time(r.at)}) was changed after it was written: its "
                          "contents do not match its hash.")
            break
        if r.prev_hash != prev:
            if r.seq == 1:
                broken(1, "record 1 does not start the chain: its prev_hash is not the genesis.")
            else:
                broken(r.seq - 1, f"record {r.seq - 1} was rewritten, removed or moved: its "
                                  f"hash is no longer the one record {r.seq} chained to.")
            break
        if r.seq in wanted:
            seen[r.seq] = r.hash
        prev, last, expected = r.hash, r.seq, r.seq + 1
    intact = not found
    if intact and head is not None and (head.seq, head.hash) != (last, prev):
        if head.seq > last:
            broken(last + 1, f"records {last + 1}..{head.seq} are missing: the head row says "
                             f"the log has {head.seq} records, it ends at {last} (truncated).")
        else:
            broken(min(head.seq + 1, last), f"the head row (record {head.seq}, "
                                            f"{head.hash[:16]}) does not match the last record "
                                            f"({last}, {prev[:16]}).")
    origin = head.origin if head is not None else None
    for c in checkpoints:
        when = format_time(c.created_at)
        checked = _verify_note(c.note, vkeys)
        if isinstance(checked, str):
            broken(c.size, f"the checkpoint of {c.size} records signed at {when}: {checked}.")
            continue
        note_origin, size, head_hash = checked
        if (size, head_hash) != (c.size, c.head_hash) or (origin and note_origin != origin):
            broken(c.size, f"the checkpoint of {c.size} records signed at {when} does not say "
                           "what its row says (origin, size or hash).")
        elif intact and c.size > last:
            broken(last + 1, f"the checkpoint signed at {when} covers {c.size} records; the "
                             f"log ends at {last}: records {last + 1}..{c.size} were removed "
                             "(truncated).")
        elif c.size in seen and seen[c.size] != c.head_hash:
            broken(c.size, f"record {c.size} is not the one the checkpoint signed at {when} "
                           "covers: history before it was rewritten.")
    found.sort(key=lambda item: item[0])
    return AuditVerification(
        ok=not found, records=last, head_seq=head.seq if head else None,
        head_hash=head.hash if head else prev, checkpoints=len(checkpoints),
        first_broken=found[0][0] if found else None, problems=[p for _, p in found],
    )


# ---- the store -------------------------------------------------------------------------------------
def _record(row: Any) -> AuditRecord:
    return AuditRecord(seq=row.seq, at=row.at, actor=row.actor, action=row.action,
                       target=row.target, before=row.before, after=row.after,
                       prev_hash=row.prev_hash, hash=row.hash)


def _checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(size=row.size, head_hash=row.head_hash, key_id=row.key_id, note=row.note,
                      created_at=row.created_at)


class AuditStore(DomainStore):
    """The audit log over the database (``yard.backend.audit``); ``modelyard audit …`` and
    ``/api/v1/audit/…``. Reading and verifying need ``read``; signing a checkpoint ``admin``."""

    @endpoint("GET", "/audit/records", permission="read")
    def records(self, target: str | None = None, action: str | None = None,
                actor: str | None = None, since: datetime | None = None,
                after_seq: int = 0, limit: int = 100, newest_first: bool = False,
                before_seq: int | None = None) -> list[AuditRecord]:
        """Records in seq order (or newest first), filtered by ``target`` (exact, or a prefix
        ending in ``*``), ``action``, ``actor`` and ``since``; ``after_seq`` pages on (and
        ``before_seq``, newest first, back)."""
        if not isinstance(limit, int) or not 0 < limit <= _MAX_LIMIT:
            raise InvalidParameter(f"limit must be 1 to {_MAX_LIMIT}. Got {limit!r} instead.",
                                   field="limit")
        query = sa.select(_LOG).where(_LOG.c.seq > after_seq)
        if before_seq is not None:
            query = query.where(_LOG.c.seq < before_seq)
        if target:
            if target.endswith("*"):
                prefix = target[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                query = query.where(_LOG.c.target.like(prefix + "%", escape="\\"))
            else:
                query = query.where(_LOG.c.target == target)
        if action:
            query = query.where(_LOG.c.action == action)
        if actor:
            query = query.where(_LOG.c.actor == actor)
        if since is not None:
            query = query.where(_LOG.c.at >= parse_time(since, field="since"))
        order = _LOG.c.seq.desc() if newest_first else _LOG.c.seq
        with self.db.read() as conn:
            return [_record(r) for r in conn.execute(query.order_by(order).limit(limit))]

    @endpoint("GET", "/audit/head", permission="read")
    def head(self) -> AuditHead:
        """The head of the chain: this log's id, its number of records, the last hash."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(_HEAD).where(_HEAD.c.id == 1)).first()
        if row is None:
            raise NotFound("The audit log has no head row: it was removed from the database.",
                           field="head")
        return AuditHead(log_id=row.log_id, seq=row.seq, hash=row.hash)

    @endpoint("GET", "/audit/checkpoints", permission="read")
    def checkpoints(self) -> list[Checkpoint]:
        """Every signed checkpoint, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(_CHECKPOINTS).order_by(_CHECKPOINTS.c.id)).all()
        return [_checkpoint(r) for r in rows]

    @endpoint("GET", "/audit/public-key", permission="read")
    def public_key(self) -> AuditPublicKey:
        """The key this server signs checkpoints with (made on first use)."""
        return load_key(self.settings.home).public(self.head().origin)

    @endpoint("POST", "/audit/checkpoints", status_code=201, permission="admin")
    def checkpoint(self) -> Checkpoint | None:
        """Sign the current head with this server's key (None for an empty log; the latest
        checkpoint when the head has not moved since)."""
        head = self.head()
        if head.seq == 0:
            return None
        key = load_key(self.settings.home)
        public = key.public(head.origin)
        with self.db.read() as conn:
            latest = conn.execute(
                sa.select(_CHECKPOINTS).where(_CHECKPOINTS.c.key_id == public.key_id)
                .order_by(_CHECKPOINTS.c.size.desc()).limit(1)).first()
        if latest is not None and latest.size >= head.seq:
            return _checkpoint(latest)
        now = self.clock.now()
        note = key.sign(_checkpoint_body(head.origin, head.seq, head.hash, now), head.origin)
        with self.db.write() as conn:
            conn.execute(_CHECKPOINTS.insert().values(
                size=head.seq, head_hash=head.hash, key_id=public.key_id, note=note,
                created_at=now))
        return Checkpoint(size=head.seq, head_hash=head.hash, key_id=public.key_id, note=note,
                          created_at=now)

    @endpoint("GET", "/audit/verify", permission="read")
    def verify(self, keys: list[str] | None = None) -> AuditVerification:
        """Recompute the whole chain (in batches: memory stays flat), compare the head row and
        every checkpoint signed by this server's key or one of ``keys`` (verifier keys), and
        name the first broken record."""
        trusted = list(keys or [])
        if key_path(self.settings.home).exists():
            trusted.append(self.public_key().vkey)
        head: AuditHead | None
        try:
            head = self.head()
        except NotFound:
            head = None
        result = verify_chain(self._all_records(), self.checkpoints(), trusted, head)
        if head is None:
            result.ok = False
            result.first_broken = result.first_broken or 1
            result.problems.insert(0, "the head row (audit_head) was removed.")
        return result

    def _all_records(self) -> Iterator[AuditRecord]:
        after = 0
        while True:
            with self.db.read() as conn:
                rows = conn.execute(sa.select(_LOG).where(_LOG.c.seq > after)
                                    .order_by(_LOG.c.seq).limit(_BATCH)).all()
            if not rows:
                return
            for row in rows:
                yield _record(row)
            after = rows[-1].seq


# ---- export ----------------------------------------------------------------------------------------
def _write_lines(path: Path, items: Iterable[BaseModel]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for item in items:
            fh.write(canonical_json(item.model_dump(mode="json")) + "\n")
            n += 1
    return n


def export(store: Any, folder: Path, *, sign: bool = True) -> dict[str, Any]:
    """Write the whole log to ``folder`` for offline verification: ``records.jsonl`` (one
    record per line, as stored), ``checkpoints.jsonl``, ``head.json``, ``public_key.txt`` (the
    verifier key) and ``public_key.pem``. ``store`` is ``yard.backend.audit`` (local or
    remote); with ``sign`` the current head is signed first."""
    folder.mkdir(parents=True, exist_ok=True)
    if sign:
        store.checkpoint()
    head = store.head()

    def pages() -> Iterator[AuditRecord]:
        after = 0
        while True:
            batch = store.records(after_seq=after, limit=_MAX_LIMIT)
            if not batch:
                return
            yield from batch
            after = batch[-1].seq

    n = _write_lines(folder / "records.jsonl", pages())
    checkpoints = store.checkpoints()
    _write_lines(folder / "checkpoints.jsonl", checkpoints)
    (folder / "head.json").write_text(canonical_json(head.model_dump()) + "\n")
    key = store.public_key()
    (folder / "public_key.txt").write_text(key.vkey + "\n")
    (folder / "public_key.pem").write_text(key.pem)
    return {"folder": str(folder), "records": n, "checkpoints": len(checkpoints),
            "head": head.hash, "key": key.vkey}


def verify_export(folder: Path, keys: Iterable[str] = ()) -> AuditVerification:
    """Verify an exported folder with no database. ``keys``: the verifier keys to trust (get
    them from the server out of band); none given, the folder's own ``public_key.txt`` is used,
    which proves the records match the checkpoints but not who signed them."""
    folder = Path(folder)
    trusted = list(keys) or (folder / "public_key.txt").read_text().split()

    def records() -> Iterator[AuditRecord]:
        with open(folder / "records.jsonl", encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield AuditRecord.model_validate_json(line)

    checkpoints = [Checkpoint.model_validate_json(line)
                   for line in (folder / "checkpoints.jsonl").read_text().splitlines()
                   if line.strip()]
    head = AuditHead.model_validate_json((folder / "head.json").read_text())
    return verify_chain(records(), checkpoints, trusted, head)
