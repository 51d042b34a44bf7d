"""`m3r livebench`: generate answers to LiveBench questions, score answers, download the questions."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from robustness.commands.argtypes import iso_date, positive_int, seed

QUESTIONS_HELP = (
    "folder in LiveBench's layout: <category>/<task>/question.jsonl (or one category or task folder); "
    "default: $M3R_DATA_DIR/livebench, else the Hugging Face Hub"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "livebench",
        help="LiveBench out-of-distribution evaluation: generate answers, score them, download questions",
        description="LiveBench instruction following, coding and typos: answers from a model, scores by "
        "LiveBench's rules (coding runs in a sandbox).",
    )
    verbs = p.add_subparsers(dest="livebench_command", metavar="VERB", title="verbs", required=True)

    g = verbs.add_parser("generate", help="answer questions with a model (greedy, chat template), resumable")
    g.add_argument("--model", default="smollm2-135m-instruct", help="model folder, GGUF file, Hub id or built-in name")
    _question_args(g)
    g.add_argument("--n", type=positive_int, help="at most N questions per task, drawn with --seed (default: all)")
    g.add_argument("--seed", type=seed, default=0, help="seed of the --n draw (default: 0)")
    g.add_argument(
        "--max-new-tokens", type=positive_int, default=512, help="answer length budget in tokens (default: 512)"
    )
    g.add_argument("--batch-size", type=positive_int, default=8, help="prompts per generation batch (default: 8)")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    g.add_argument("--dtype", default="auto", help="auto, float32, bfloat16 or float16 (default: auto)")
    g.add_argument("--out", required=True, help="answers file (JSON lines); answers already there are skipped")
    g.set_defaults(handler=run_generate)

    s = verbs.add_parser("score", help="score an answers file by LiveBench's rules (no model needed)")
    _question_args(s)
    s.add_argument("--answers", required=True, help='JSON lines, one {"question_id": ..., "answer": ...} per line')
    s.add_argument("--workers", type=positive_int, default=2, help="coding questions scored at once (default: 2)")
    s.add_argument("--json", action="store_true", help="print one JSON object: per_question, per_task, overall")
    s.set_defaults(handler=run_score)

    d = verbs.add_parser("download", help="write the Hub's questions as a local LiveBench folder (needs network)")
    d.add_argument("--out", required=True, help="folder to write <category>/<task>/question.jsonl into")
    d.add_argument(
        "--category",
        action="append",
        choices=("instruction_following", "coding", "language"),
        help="category to download (repeatable; default: all three)",
    )
    d.set_defaults(handler=run_download)


def _question_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--questions", metavar="DIR", help=QUESTIONS_HELP)
    p.add_argument("--hub", action="store_true", help="read the questions from the Hugging Face Hub")
    p.add_argument(
        "--task",
        action="append",
        help="task to use (repeatable or comma-separated): paraphrase, simplify, story_generation, summarize, "
        "LCB_generation, coding_completion, typos (default: all tasks found)",
    )
    p.add_argument(
        "--release-date", type=iso_date, help="LiveBench release (YYYY-MM-DD): only questions live at that release"
    )


def _tasks(args: argparse.Namespace) -> list[str] | None:
    if not args.task:
        return None
    return [t.strip() for item in args.task for t in item.split(",") if t.strip()]


def _load(args: argparse.Namespace) -> Any:
    from robustness.livebench.questions import load_questions

    return load_questions(args.questions, _tasks(args), args.release_date, hub=args.hub)


def run_generate(args: argparse.Namespace) -> int:
    from robustness.livebench.answers import read_answers
    from robustness.livebench.generate import generate_answers, model_generator
    from robustness.livebench.questions import subset
    from robustness.models import load_model

    questions = subset(_load(args), args.n, args.seed)
    read_answers(args.out, missing_ok=True)  # a folder or a malformed answers file, refused before the model loads
    loaded = load_model(args.model, device=args.device, dtype=args.dtype)
    generator = model_generator(loaded, args.max_new_tokens, batch_size=args.batch_size)

    def progress(done: int, total: int) -> None:
        print(f"\ranswered {done}/{total}", end="", file=sys.stderr, flush=True)

    extra = {"model": args.model, "max_new_tokens": args.max_new_tokens}
    report = generate_answers(questions, generator, args.out, args.batch_size, extra, progress)
    if report.generated:
        print(file=sys.stderr)
    print(f"{report.generated} answers written to {args.out} ({report.skipped} already there)")
    return 0


def run_score(args: argparse.Namespace) -> int:
    from robustness.errors import UserError
    from robustness.livebench.answers import read_answers
    from robustness.livebench.results import score_answers

    questions = _load(args)
    answers = read_answers(args.answers)
    summary = score_answers(questions, answers, workers=args.workers)
    if not summary.per_question:
        raise UserError(
            f"none of the {len(answers)} answers in {args.answers} is to one of the {len(questions)} questions read"
        )
    if args.json:
        print(json.dumps(summary.to_json()))
        return 0
    for task, stats in summary.per_task().items():
        print(f"{task:<20} {stats['mean']:.3f}  ({stats['n']:.0f} questions)")
    print(f"{'overall':<20} {summary.overall:.3f}  ({len(summary.per_question)} questions)")
    if summary.missing_answers or summary.unknown_answers:
        print(f"({summary.missing_answers} questions without an answer, {summary.unknown_answers} unknown answers)")
    return 0


def run_download(args: argparse.Namespace) -> int:
    from robustness.livebench.download import download_questions
    from robustness.livebench.questions import HUB_DATASETS

    counts = download_questions(args.out, args.category or tuple(HUB_DATASETS))
    for name, n in counts.items():
        print(f"{name}: {n} questions")
    return 0
