"""The demo's story: a year of a lender's loan applications, run through the whole product.

1. A year of applications (``loans.generate_year``): a gradual drift all year, a broker
   channel that changes who applies and who defaults two months before the end. A loan's
   outcome is known weeks after the month it was made in.
2. Data versions: each month is appended to ``loans`` (and a quarter of it to
   ``loans_holdout``) when its outcomes were known, recorded with ``ingested_at`` (backfills).
3. Two candidate models trained with ``run_training`` on the 180 days known when the model
   server goes live, each validated by the model's suite as of that day; the better one
   becomes ``production`` (a protected alias), the other ``challenger``.
4. ``modelyard serve`` as a real process: champion answering, challenger in shadow, every
   prediction logged.
5. The last months' applications replayed over HTTP, month by month; each month's outcomes
   arrive after the next month (``feedback`` on the logged predictions and a dataset append);
   a monitor run per month; the broker month opens a drift alert.
6. ``modelyard scheduler`` as a real process runs the retrain policy on that alert: train on
   the last 120 days known now, validate against production, canary on the live endpoint while
   the last month's traffic flows, promote.
7. A backtest of retraining policies over the year; one prediction traced and explained; the
   audit chain verified and signed; the model card, monitoring and backtest HTML reports.
"""

from __future__ import annotations

import shlex
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..governance.card import card_tag
from .loans import FEATURES, generate_year, month_bounds
from .processes import Process, free_port

__all__ = ["Story", "StoryOptions"]

ENTRY = "modelyard.examples.loans:train"
CANDIDATES = {
    "gbm": {"kind": "gbm", "max_depth": 3, "learning_rate": 0.1, "max_iter": 100, "seed": 7},
    "linear": {"kind": "linear", "C": 1.0, "seed": 7},
}
SUITE = textwrap.dedent("""\
    holdout: {dataset: loans_holdout, last: 100d}  # fresh labelled rows kept out of training
    label: default
    against: production
    checks:
      - {type: metric, metric: roc_auc, min: 0.65}
      - {type: metric, metric: accuracy, min: 0.6}
      - {type: champion, metric: roc_auc, max_regression: 0.05, confidence: 0.9}
      - {type: signature}
      - {type: latency, p95_ms: 1000, batch: 1, repeats: 20}
""")
CARD = {
    "purpose": "Probability that a consumer loan application defaults; the credit committee "
               "declines above 0.5.",
    "owner": "credit-risk",
    "intended_use": "Consumer loan applications of the direct and broker channels.",
    "limitations": "Generated data (modelyard demo). Not for business loans; retrained when "
                   "the applicant mix drifts.",
}
BACKTEST_POLICIES = ["never", "every:8w", "drift:0.5", "performance:roc_auc<0.75"]


@dataclass
class StoryOptions:
    """Sizes of the story. ``per_month``: applications a month; ``replay``: the last months
    sent through the model server; ``batch``: records per request; ``label_lag``: days after
    a month's end when its outcomes are known; ``backtest_every``: the backtest's step."""

    per_month: int = 2000
    replay: int = 4
    batch: int = 20
    label_lag: int = 21
    backtest_every: str = "4w"
    seed: int = 0

    @classmethod
    def quick(cls) -> StoryOptions:
        return cls(per_month=700, batch=20, backtest_every="8w")


@dataclass
class Month:
    index: int
    start: datetime
    end: datetime
    rows: pd.DataFrame
    ids: list[str] = field(default_factory=list)
    sent: tuple[datetime, datetime] | None = None
    labelled: bool = False
    figures: dict[str, Any] = field(default_factory=dict)


class Story:
    """One run of the story on a yard (``run()`` returns its facts, also printed)."""

    def __init__(self, yard: Any, home: Path, options: StoryOptions, *,
                 console: Console | None = None) -> None:
        self.yard = yard
        self.home = home
        self.o = options
        self.console = console or Console()
        self.reports = home / "reports"
        self.facts: dict[str, Any] = {"stages": []}
        self.processes: list[Process] = []
        self.model_server: Process | None = None
        self.model_url = ""
        self.scheduler: Process | None = None

    # ---- helpers ---------------------------------------------------------------------------
    @contextmanager
    def stage(self, title: str) -> Iterator[None]:
        n = len(self.facts["stages"]) + 1
        self.console.rule(f"[bold]{n} · {title}")
        started = time.perf_counter()
        yield
        took = time.perf_counter() - started
        self.facts["stages"].append((title, took))
        self.console.print(f"[dim]({took:.1f} s)[/dim]")

    def command(self, text: str) -> None:
        """A command for the user to paste: alone on its line, exactly as it runs."""
        self.console.print(f"  {text}", markup=False, highlight=False, soft_wrap=True)

    def cli(self, *args: str) -> str:
        return shlex.join(["modelyard", "--home", str(self.home), *args])

    def start(self, args: list[str], name: str) -> Process:
        proc = Process(["--home", str(self.home), *args], self.home / "logs" / f"{name}.log")
        self.processes.append(proc)
        return proc

    def close(self, keep: bool = False) -> None:
        for proc in reversed(self.processes):
            if not keep:
                proc.stop()

    # ---- the story -------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self.reports.mkdir(parents=True, exist_ok=True)
        self.now = self.yard.clock.now().replace(microsecond=0)
        self.months = self.data()
        self.history()
        self.candidates()
        self.serve()
        self.replay()
        self.retrain()
        self.aftermath()
        self.backtest()
        self.trace()
        self.audit()
        self.summary()
        return self.facts

    def data(self) -> list[Month]:
        with self.stage("a year of loan applications, outcomes known weeks later"):
            frames = generate_year(self.o.per_month, end=self.now, seed=self.o.seed,
                                   sudden=12 - self.o.replay + 2)
            months = [Month(i, lo, hi, frame) for i, ((lo, hi), frame)
                      in enumerate(zip(month_bounds(self.now), frames, strict=True))]
            table = Table("month", "applications", "default rate", "median income",
                          "60-month terms", "grade E", box=None)
            for m in months:
                r = m.rows
                table.add_row(f"{m.start:%Y-%m-%d}", f"{len(r):,}", f"{r.default.mean():.0%}",
                              f"{r.income.median():,.0f}", f"{(r.term == '60m').mean():.0%}",
                              f"{(r.grade == 'E').mean():.0%}")
            self.console.print(table)
            self.console.print(f"Gradual drift all year; a broker channel opens on "
                               f"{months[-self.o.replay + 2].start:%Y-%m-%d} (poorer, younger "
                               "applicants on longer terms, defaulting for other reasons).")
        self.sudden = months[-self.o.replay + 2]
        return months

    def known_at(self, m: Month) -> datetime:
        """When a month's outcomes were known: ``label_lag`` days after it ended (not later
        than now)."""
        return min(m.end + timedelta(days=self.o.label_lag), self.yard.clock.now())

    def ingest(self, m: Month) -> Any:
        """Append month ``m`` (three quarters to ``loans``, a quarter to ``loans_holdout``)
        as known when its outcomes came in."""
        rows = m.rows.sample(frac=1.0, random_state=m.index)
        cut = len(rows) * 3 // 4
        train, holdout = rows.iloc[:cut].sort_values("ts"), rows.iloc[cut:].sort_values("ts")
        at = self.known_at(m)
        if m.index == 0:
            dv = self.yard.datasets.add(
                "loans", train, time_column="ts", ingested_at=at,
                description="Loan applications; default = 1 if the loan defaulted")
            self.yard.datasets.add("loans_holdout", holdout, time_column="ts", ingested_at=at,
                                   description="Labelled applications kept out of training")
            self.yard.datasets.describe("loans", "income", description="Yearly gross income",
                                        unit="USD", owner="credit-risk",
                                        sensitivity="confidential")
            self.yard.datasets.describe("loans", "loan_amount", description="Principal lent",
                                        unit="USD", owner="credit-risk")
        else:
            dv = self.yard.datasets.append("loans", train, ingested_at=at)
            self.yard.datasets.append("loans_holdout", holdout, ingested_at=at)
        m.labelled = True
        return dv

    def history(self) -> None:
        first_replayed = self.months[-self.o.replay]
        with self.stage("dataset versions: one a month, backfilled with ingested_at"):
            known = [m for m in self.months if self.known_at(m) <= first_replayed.start]
            for m in known:
                dv = self.ingest(m)
            shared = len({f.digest for f in dv.fragments}) - 1
            self.console.print(
                f"{dv.ref}: {dv.n_rows:,} rows in {len(dv.fragments)} fragments (each append "
                f"stored only its month; {shared} reused), months {known[0].start:%Y-%m} to "
                f"{known[-1].start:%Y-%m} as known {self.o.label_lag} days after each ended")
            then = self.yard.datasets.as_of("loans", known[len(known) // 2].end
                                            + timedelta(days=self.o.label_lag))
            self.console.print(f"time travel: as_of({then.as_of:%Y-%m-%d}) → "
                               f"{then.count():,} rows, the data as known that day")
        self.live_at = first_replayed.start  # the model server goes live that day

    def candidates(self) -> None:
        from ..automation.retrain import run_training

        with self.stage("two candidate models, validated by the model's suite"):
            window = self.yard.datasets.window("loans", self.live_at - timedelta(days=180),
                                               self.live_at, as_of=self.live_at)
            self.yard.validation.set_suite("loans", yaml=SUITE)
            reports = {}
            versions = {}
            for kind, params in CANDIDATES.items():
                mv = run_training(self.yard, ENTRY, model_name="loans", data={"train": window},
                                  params=params)
                versions[kind] = mv
                reports[kind] = self.yard.validation.run(mv.ref, as_of=self.live_at)
            table = Table("candidate", "version", "trained on", "holdout AUC", "accuracy",
                          "latency p95", "report", box=None)
            for kind, mv in versions.items():
                checks = {c.name: c for c in reports[kind].checks}
                table.add_row(kind, mv.ref, f"{window.count():,} rows",
                              _fmt(checks["metric:roc_auc"].value),
                              _fmt(checks["metric:accuracy"].value),
                              f"{_fmt(_value(checks, 'latency'), 1)} ms",
                              reports[kind].status)
            self.console.print(table)
            passed = [k for k in versions if reports[k].passed]
            if not passed:
                raise RuntimeError("no candidate passed the validation suite: "
                                   + "; ".join(f"{k}: {reports[k].failures}" for k in versions))
            best = max(passed, key=lambda k: _value({c.name: c for c in reports[k].checks},
                                                    "metric:roc_auc") or 0.0)
            other = next(k for k in versions if k != best)
            champion, challenger = versions[best], versions[other]
            self.yard.models.set_alias("loans", "production", champion.version,
                                       reason=f"best holdout AUC of the candidates ({best})")
            self.yard.models.set_alias("loans", "challenger", challenger.version,
                                       reason="runner-up, kept in shadow")
            self.yard.validation.protect("loans", "production")
            for key, text in CARD.items():  # the card's editable fields (tags card.<field>)
                self.yard.models.set_tag("loans", card_tag(key), text)
            self.yard.models.journal(
                "loans", f"{best} chosen over {other} on the holdout; {other} stays in shadow.",
                version=champion.version)
            self.console.print(f"loans@production → {champion.ref} ({best}), loans@challenger → "
                               f"{challenger.ref}; production is protected: only a version "
                               "whose latest report passed may take it")
        self.champion, self.challenger = champion, challenger
        self.champion_params = CANDIDATES[best]
        self.facts.update(champion=champion.ref, challenger=challenger.ref)

    def serve(self) -> None:
        with self.stage("model server: champion answers, challenger in shadow"):
            config = self.home / "endpoints.yaml"
            config.write_text(yaml.safe_dump({"endpoints": [{
                "name": "loans", "routes": [{"name": "champion", "model": "loans@production"}],
                "shadows": [{"name": "challenger", "model": "loans@challenger"}],
                # income is confidential in the data dictionary, so the log would hash it;
                # monitoring its drift and explaining a prediction need the value
                "privacy": {"columns": {"income": "keep"}}}]}))
            port = free_port()
            self.model_server = self.start(
                ["serve", "--config", str(config), "--port", str(port),
                 "--poll-interval", "0.5"], "model-server")
            # the scheduler starts now too (it finds nothing to do until the policy is on)
            self.scheduler = self.start(["scheduler", "--interval", "0.5"], "scheduler")
            self.model_url = f"http://127.0.0.1:{port}"
            self.model_server.wait_http(f"{self.model_url}/readyz")
            self.console.print(f"model server at {self.model_url} (every prediction logged "
                               "durably before its answer):")
            self.command(self.model_server.command)
            self.console.print("income is confidential in the data dictionary: the log would "
                               "keep only a keyed hash; this endpoint keeps it (privacy.columns),"
                               " since drift and explanations need the value")
            self.console.print("scheduler (retrain policies, unattended):")
            self.command(self.scheduler.command)
            self.yard.monitoring.configure("loans", window="1h")  # reference: the training data
            self.yard.monitoring.alert_rule("loans drift", metric="drift_share", op=">=",
                                            threshold=0.5, endpoint="loans", window="1h",
                                            cooldown="1h")
            self.yard.automation.policy(
                "loans-retrain", model="loans", endpoint="loans", entry_point=ENTRY,
                params=self.champion_params, data={"train": {"dataset": "loans", "last": "90d"}},
                triggers=[{"type": "alert", "metric": "drift_share", "cooldown": "1h"}],
                deploy={"mode": "canary", "endpoint": "loans", "alias": "production",
                        "steps": [50, 100], "interval_s": 1, "min_requests": 5,
                        "latency_slack_ms": 2000},
                poll="0.5s", retries=0, enabled=False)
            self.console.print("monitor: drift against each version's training data; alert "
                               "'loans drift' at drift share >= 0.5; policy 'loans-retrain' (on "
                               "once outcomes of a changed month are in): on that alert, train "
                               "on the last 90 days, validate, canary 50% → 100%, promote")

    def send(self, client: httpx.Client, m: Month, progress: Progress, *,
             until: Any = None) -> None:
        """Send month ``m``'s applications; with ``until``, keep cycling through them until
        ``until()`` is true (a canary needs traffic to decide on)."""
        records = m.rows[FEATURES].to_dict(orient="records")
        task = progress.add_task(f"{m.start:%Y-%m} traffic", total=len(records))
        t0 = self.yard.clock.now()
        i, answered = 0, 0
        models: dict[str, int] = {}
        deadline = time.monotonic() + 600  # a canary decides within minutes, or the job fails
        while i < len(records) or (until is not None and not until()
                                   and time.monotonic() < deadline):
            k = i % len(records)
            chunk = records[k:k + self.o.batch]
            try:
                reply = client.post("/predict/loans", json={"records": chunk})
            except httpx.TransportError as exc:
                assert self.model_server is not None
                raise self.model_server.lost(exc) from exc
            reply.raise_for_status()
            body = reply.json()
            if i < len(records):
                m.ids.extend(body["ids"])
                progress.update(task, advance=len(chunk))
            models[body["model"]] = models.get(body["model"], 0) + len(chunk)
            answered += len(chunk)
            i += len(chunk)
        m.sent = (t0, self.yard.clock.now())
        m.figures["answered"] = answered
        m.figures["models"] = models

    def deliver(self, m: Month) -> None:
        """Month ``m``'s outcomes come in: labels for its logged predictions, and its rows
        appended to the datasets as known today."""
        if m.ids:
            labels = [int(v) for v in m.rows["default"].tolist()]
            self.yard.monitoring.feedback(m.ids, labels)
        self.ingest(m)

    def monitor(self, m: Month, *, alerts: bool) -> Any:
        assert m.sent is not None
        # the window ends now at the latest: alert rules only read runs whose window has ended
        # (a run ending a second in the future would be left out of the evaluation it triggers)
        end = min(m.sent[1] + timedelta(seconds=1), self.yard.clock.now())
        return self.yard.monitoring.run("loans", start=m.sent[0] - timedelta(seconds=1),
                                        end=end, alerts=alerts)

    def replay(self) -> None:
        replayed = self.months[-self.o.replay:-1]
        with self.stage(f"{len(replayed)} months of applications over HTTP; outcomes weeks "
                        "later; monitoring"):
            table = Table("month", "applications", "drift share", "drifted features",
                          "estimated acc.", "realised AUC (weeks later)", box=None)
            with httpx.Client(base_url=self.model_url, timeout=60) as client, \
                    _progress(self.console) as progress:
                for j, m in enumerate(replayed):
                    self.send(client, m, progress)
                    previous = self.months[m.index - 1]
                    if not previous.labelled:
                        self.deliver(previous)
                        if previous.sent is not None:  # realised performance, now known
                            done = self.monitor(previous, alerts=False)
                            previous.figures["auc"] = _champion(done).performance.get("roc_auc")
                    result = self.monitor(m, alerts=True)
                    m.figures["result"] = result
                    if j == len(replayed) - 1:  # this month's outcomes before the retrain
                        self.deliver(m)
                        m.figures["auc"] = _champion(self.monitor(m, alerts=False)
                                                     ).performance.get("roc_auc")
            for m in replayed:
                g = _champion(m.figures["result"])
                drifted = [f.feature for f in g.drift.features if f.drifted]
                table.add_row(f"{m.start:%Y-%m}", f"{len(m.ids):,}", f"{g.drift.drift_share:.2f}",
                              ", ".join(drifted) or "-", _fmt(g.estimated.get("estimated_accuracy")),
                              _fmt(m.figures.get("auc")))
            self.console.print(table)
            opened = self.yard.monitoring.alerts(state="open", endpoint="loans")
            for alert in opened:
                self.console.print(f"[red]ALERT[/red] {alert.message}")
            self.facts["alerts"] = [a.message for a in opened]
            self.facts["alert_ids"] = [a.id for a in opened]

    def retrain(self) -> None:
        last = self.months[-1]
        with self.stage("the retrain policy: train, validate, canary, promote"):
            scheduler = self.scheduler
            assert scheduler is not None
            self.yard.automation.enable("loans-retrain")
            self.console.print(f"the outcomes of {self.sudden.start:%Y-%m} are in: policy "
                               "'loans-retrain' switched on; the scheduler picks the open drift "
                               "alert up")

            def job() -> Any:
                jobs = self.yard.automation.jobs(policy="loans-retrain")
                return jobs[-1] if jobs else None

            with self.console.status("training and validating…") as status:
                def deploying() -> bool:
                    j = job()
                    if j is not None:
                        status.update(f"job {j.id[:8]}: {j.status} ({j.stage})")
                    return j is not None and (j.done or j.stage not in ("train", "validate",
                                                                        None, "queued"))
                scheduler.wait_for(deploying, "deploying a retrained model", timeout=900)
            with httpx.Client(base_url=self.model_url, timeout=60) as client, \
                    _progress(self.console) as progress:
                self.send(client, last, progress,
                          until=lambda: (job() is not None and job().done))
            scheduler.wait_for(lambda: job().done, "finishing the job", timeout=300)
            scheduler.stop()
            done = self.yard.automation.job(job().id)
            self.facts["job"] = {"status": done.status, "trigger": done.trigger,
                                 "model_version": done.model_version,
                                 "report": self.yard.validation.report(done.report_id).status
                                 if done.report_id else None,
                                 "canary": (done.deploy or {}).get("canary_status")}
            self.facts["production"] = self.yard.models.get("loans@production").ref
            steps = " → ".join(f"{s['action']} {s.get('percent', '')}".strip()
                               for s in (done.deploy or {}).get("steps", []))
            self.console.print(
                f"job {done.id[:8]} ({done.trigger}: {done.reason.get('message', '')}): "
                f"trained {done.model_version}, validation {self.facts['job']['report']}, "
                f"canary {steps or '-'}: {done.status}")
            self.console.print(f"loans@production is now {self.facts['production']}; the "
                               f"traffic of {last.start:%Y-%m} was answered by "
                               + ", ".join(f"{k} ({v:,} rows)"
                                           for k, v in last.figures["models"].items()))
            if done.status != "succeeded":
                failures = self.yard.validation.report(done.report_id).failures \
                    if done.report_id else []
                self.console.print(f"[red]the retrain job did not succeed[/red]: "
                                   f"{done.error or ''} "
                                   + "; ".join(f"{c.name}: {c.message}" for c in failures))

    def aftermath(self) -> None:
        last = self.months[-1]
        with self.stage("the last month's outcomes; the monitoring report"):
            self.deliver(last)
            result = self.monitor(last, alerts=False)
            table = Table("version", "route", "rows", "labelled", "drift share", "AUC",
                          "accuracy", box=None)
            for g in result.groups:
                table.add_row(f"loans/{g.model_version}", ("shadow " if g.shadow else "")
                              + str(g.route), f"{g.n_rows:,}", f"{g.n_labeled:,}",
                              f"{g.drift.drift_share:.2f}", _fmt(g.performance.get("roc_auc")),
                              _fmt(g.performance.get("accuracy")))
            self.console.print(table)
            self.facts["last_month"] = {f"loans/{g.model_version}":
                                        g.performance.get("roc_auc") for g in result.groups
                                        if not g.shadow}
            first = self.months[-self.o.replay]
            assert first.sent is not None and last.sent is not None
            path = self.reports / "monitoring.html"
            self.yard.monitoring.report("loans", start=first.sent[0] - timedelta(seconds=1),
                                        end=self.yard.clock.now(), path=str(path))
            self.facts["monitoring_report"] = str(path)
            self.console.print(f"monitoring report: {path}")

    def backtest(self) -> None:
        with self.stage("a backtest: which retraining policy would have done best"):
            start = self.months[3].start
            end = self.months[-1].end
            with _progress(self.console) as progress:
                task = progress.add_task("backtest", total=None)
                result = self.yard.backtest(
                    self.champion.ref, start=start, end=end, every=self.o.backtest_every,
                    policies=BACKTEST_POLICIES, label="default", metric="roc_auc",
                    knowledge="as_of", executor="serial",
                    progress=lambda n: progress.update(task, advance=n))
            table = Table("policy", "mean AUC", "worst window", "retrains", box=None)
            for s in result.summary:
                table.add_row(s.policy, _fmt(s.mean), _fmt(getattr(s, "worst", None)),
                              str(s.retrains))
            self.console.print(table)
            path = self.reports / "backtest.html"
            result.to_html(path)
            self.facts["backtest"] = {s.policy: s.mean for s in result.summary}
            self.facts["backtest_report"] = str(path)
            self.console.print(f"backtest report: {path} (stored as run {result.run_id[:12]})")

    def trace(self) -> None:
        with self.stage("one prediction traced and explained"):
            last = self.months[-1]
            production = self.facts.get("production")
            record = None
            for pid in last.ids[::-1]:
                record = self.yard.predictions.get(pid)
                if f"{record.model_name}/{record.model_version}" == production:
                    break
            assert record is not None
            trace = self.yard.trace(record.id)
            self.facts["trace"] = {"prediction": record.id, "model": trace.model.ref,
                                   "explained": trace.explanation is not None,
                                   "explanation_error": trace.explanation_error}
            run = trace.run
            self.console.print(f"prediction {record.id} → {trace.model.ref} → run "
                               f"{run.id[:12] if run else '-'} (job "
                               f"{(run.tags.get('modelyard.job', '-') if run else '-')[:8]}) → "
                               + ", ".join(f"{d.dataset}/{d.version}" for d in trace.datasets))
            self.console.print(f"validation: {', '.join(r.status for r in trace.validation)}; "
                               f"alias moves: {len(trace.alias_history)}")
            e = trace.explanation
            if e is not None:
                self.console.print(
                    f"explanation ({e.method}): p(default) = {_fmt(e.probability, 2)}; "
                    + ", ".join(f"{a.feature}={_short(a.value)} ({a.attribution:+.2f})"
                                for a in e.top(3)))
            else:
                self.console.print(f"[yellow]no explanation[/yellow]: {trace.explanation_error}")
            self.command(self.cli("trace", record.id))

    def audit(self) -> None:
        with self.stage("the audit chain, and the model card"):
            self.yard.backend.audit.checkpoint()
            result = self.yard.backend.audit.verify()
            self.console.print(result.summary())
            self.facts["audit"] = {"ok": result.ok, "records": result.records}
            card = self.yard.card("loans@production")
            path = self.reports / "model-card.html"
            path.write_text(card.to_html(), encoding="utf-8")
            self.facts["model_card"] = str(path)
            self.console.print(f"model card: {path}")

    def summary(self) -> None:
        self.console.rule("[bold]summary")
        table = Table("stage", "seconds", box=None)
        for title, took in self.facts["stages"]:
            table.add_row(title, f"{took:.1f}")
        self.console.print(table)
        job = self.facts.get("job", {})
        facts = Table("fact", "value", box=None)
        facts.add_row("production at the start", self.facts["champion"])
        facts.add_row("alerts open after the broker month", str(len(self.facts["alert_ids"])))
        facts.add_row("retrain job", f"{job.get('status')} → {job.get('model_version')} "
                      f"(validation {job.get('report')}, canary {job.get('canary')})")
        facts.add_row("production at the end", self.facts["production"])
        facts.add_row("backtest mean AUC", ", ".join(f"{k} {v:.3f}" for k, v
                                                     in self.facts["backtest"].items()))
        facts.add_row("audit log", "intact" if self.facts["audit"]["ok"] else "BROKEN")
        self.console.print(facts)
        self.console.print("Reports:")
        for key in ("monitoring_report", "backtest_report", "model_card"):
            self.console.print(f"  {self.facts[key]}", markup=False, highlight=False)
        self.console.print("Look around from the command line:")
        for args in (("jobs", "list"), ("monitor", "alerts"), ("lineage", "loans@production"),
                     ("audit", "verify")):
            self.command(self.cli(*args))


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)


def _champion(result: Any) -> Any:
    """The group of the version answering on the main route (not the shadow)."""
    answering = [g for g in result.groups if not g.shadow]
    return max(answering, key=lambda g: g.n_rows)


def _value(checks: dict[str, Any], name: str) -> float | None:
    for key, check in checks.items():
        if key.startswith(name):
            return None if check.value is None else float(check.value)
    return None


def _short(value: Any) -> str:
    return f"{value:,.2f}" if isinstance(value, float) else str(value)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{float(value):.{digits}f}"
