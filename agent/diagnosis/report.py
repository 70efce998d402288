"""Putting a `Diagnosis` into words: the JSON contract (`protocol.report.DiagnosisReport`) and the
human-readable text the CLI prints. Both use the same rendered summaries."""

from __future__ import annotations

from agent.diagnosis import texts
from agent.diagnosis.rules import Diagnosis, Judgement
from agent.i18n import Lang, Text
from protocol.report import DiagnosisReport, Finding

_MARK = {"ok": "✓", "warn": "!", "fail": "✗", "skipped": "-"}


def render_judgement(judgement: Judgement, lang: Lang) -> str:
    fields = {k: v.render(lang) if isinstance(v, Text) else v for k, v in judgement.fields.items()}
    return judgement.text.render(lang, **fields)


def build_report(diagnosis: Diagnosis, lang: Lang, duration_ms: int) -> DiagnosisReport:
    findings = [
        Finding(
            check=j.check,
            status=j.status,
            code=j.code,
            summary=render_judgement(j, lang),
            evidence=j.evidence,
            repair=j.repair,
        )
        for j in diagnosis.judgements
    ]
    return DiagnosisReport(
        verdict=diagnosis.verdict,
        root_cause=diagnosis.root_cause,
        findings=findings,
        interface=diagnosis.interface,
        duration_ms=max(0, duration_ms),
        lang=lang,
    )


def headline(diagnosis: Diagnosis, lang: Lang) -> str:
    """The verdict and the root cause in plain words, one line (the rescue screen shows it in both
    languages, so it is rendered from the judgements, not from a report in one language)."""
    words = texts.VERDICT[diagnosis.verdict].render(lang)
    cause = next(
        (j for j in diagnosis.judgements if j.status == "fail" and j.code == diagnosis.root_cause), None
    )
    if diagnosis.root_cause is not None and cause is not None:
        return texts.HEADLINE.render(lang, verdict=words, cause=render_judgement(cause, lang))
    return words


def root_cause_finding(report: DiagnosisReport) -> Finding | None:
    if report.root_cause is None:
        return None
    return next((f for f in report.findings if f.status == "fail" and f.code == report.root_cause), None)


def render_text(report: DiagnosisReport, lang: Lang) -> str:
    """A few lines for a person: the verdict, the cause in plain words, then every check."""
    lines = [texts.VERDICT[report.verdict].render(lang)]
    cause = root_cause_finding(report)
    if cause is not None:
        lines.append(f"{texts.ROOT_CAUSE_LABEL.render(lang)} [{cause.code}]: {cause.summary}")
    elif report.verdict == "ok":
        lines.append(texts.NO_ROOT_CAUSE.render(lang))
    lines.append("")
    for finding in report.findings:
        code = f" [{finding.code}]" if finding.code else ""
        lines.append(f" {_MARK[finding.status]} {finding.check:<15}{code} {finding.summary}")
    lines.append(f"({report.interface or '-'}, {report.duration_ms} ms)")
    return "\n".join(lines)
