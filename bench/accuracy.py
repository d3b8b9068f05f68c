"""Detection-accuracy benchmark: run every shipped lab scenario with real agents, score each run
against its ground truth, and write the table into ``docs/accuracy.md``.

    python bench/accuracy.py [--backend netns|loopback] [--only NAME ...] [--workdir DIR]
    python bench/accuracy.py --rescore DIR      # score the runs already in DIR, run nothing

Default backend: ``netns`` when root, else ``loopback``. Each run leaves its agents' configs,
stores, measurements and ``result.json`` in ``WORKDIR/<scenario>`` (``netwatch lab score`` reads
them). Only the part of ``docs/accuracy.md`` between the runs' backend's markers
(``accuracy:netns:begin``/``accuracy:netns:end``, likewise ``loopback``) is rewritten, so the other
backend's table and the hand-written reading around them stay.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from netwatch.cli_lab import default_backend
from netwatch.lab.backend import BACKENDS, make_backend
from netwatch.lab.run import RESULT_FILE, Interrupted, RunResult, run_scenario
from netwatch.lab.scenario import load_scenario, shipped_scenarios
from netwatch.lab.score import Score, score_run
from netwatch.lab.score_report import problems, table

DOC = Path(__file__).resolve().parent.parent / "docs" / "accuracy.md"


def markers(backend: str) -> tuple[str, str]:
    """The comments around ``backend``'s generated section of the results file."""
    return f"<!-- accuracy:{backend}:begin -->", f"<!-- accuracy:{backend}:end -->"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=BACKENDS, default=default_backend())
    parser.add_argument("--only", nargs="*", default=[], help="scenario names (default: all shipped)")
    parser.add_argument("--workdir", type=Path, help="where runs go (default: a fresh temporary folder)")
    parser.add_argument("--rescore", type=Path, help="score the runs in this folder; run nothing")
    parser.add_argument("--output", type=Path, default=DOC)
    args = parser.parse_args()
    paths = [p for p in shipped_scenarios() if not args.only or p.stem in args.only]
    if args.rescore is not None:
        workdir, command = args.rescore, " ".join(["python bench/accuracy.py", *sys.argv[1:]])
    else:
        workdir = args.workdir or Path(tempfile.mkdtemp(prefix="netwatch-accuracy-"))
        command = " ".join(["python bench/accuracy.py", *sys.argv[1:]])
        for path in paths:
            scenario = load_scenario(path)
            print(f"== {scenario.name} ({scenario.duration_s:g} s) on {args.backend}", flush=True)
            backend = make_backend(args.backend, scenario.build_topology())
            try:
                run_scenario(scenario, backend, workdir / scenario.name, source=str(path),
                             say=lambda line: print(line, flush=True))
            except Interrupted:  # SIGTERM/SIGHUP: the run tore down; stop the benchmark too
                raise
            except Exception as exc:  # one broken run must not cost the others; it has no result
                print(f"{scenario.name}: run failed: {exc}", flush=True)
    runs: list[tuple[Score, RunResult]] = []
    for path in paths:
        if (workdir / path.stem / RESULT_FILE).exists():
            result = RunResult.load(workdir / path.stem)
            runs.append((score_run(load_scenario(path), result), result))
    section = report(runs, command, workdir)
    print(section)
    backends = {result.backend for _, result in runs}
    if len(backends) != 1:
        print(f"{args.output} not written: runs of {len(backends)} backends, need one", file=sys.stderr)
        return 1
    write_section(args.output, section, *markers(backends.pop()))
    return 0


def report(runs: list[tuple[Score, RunResult]], command: str, workdir: Path) -> str:
    backends = sorted({result.backend for _, result in runs})
    lines = [
        f"Measured {datetime.now(UTC).strftime('%Y-%m-%d %H:%M')} UTC with `{command}` on the "
        f"{', '.join(backends)} backend ({os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}); runs kept in `{workdir}`.",
        "",
        table([score for score, _ in runs]),
        "Problems, per scenario (scenario seconds; errors positive = late):",
        "",
    ]
    for score, result in runs:
        found = problems(score, result)
        lines.append(f"- **{score.scenario}**: " + ("none" if not found else ""))
        lines += [f"  - {line}" for line in found]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str, begin: str, end: str) -> None:
    """Replace the text between ``begin`` and ``end`` (appended to the file, which is created if
    need be, when the markers are not there yet)."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Detection accuracy\n"
    if begin not in text:
        text = f"{text.rstrip()}\n\n{begin}\n{end}\n"
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    path.write_text(f"{head}{begin}\n{section}{end}{tail}", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
