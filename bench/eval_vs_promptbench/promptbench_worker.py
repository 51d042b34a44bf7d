"""PromptBench's side of bench_attacks.py; runs with the PromptBench venv's python (see setup_promptbench.py).

    .venv-promptbench/bin/python promptbench_worker.py SPEC.json RESULT.json

SPEC names the model folder, the rows (sentences and labels), the prompt, the label words, the words that may not
be attacked, the runs ([attack, seed] pairs) and a folder for TextAttack's cache and NLTK's stopword list. Each run
calls promptbench.prompt_attack.Attack with PromptBench's default evaluation loop as eval_func: one sample at a
time, wrapped in the model's chat template, greedy generation of 20 tokens, read with OutputProcess.cls.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import sys
import time
import types
from pathlib import Path
from typing import Any


def _offline_shims(cache: Path, stopwords_file: Path) -> None:
    """What `from promptbench.prompt_attack import Attack` needs offline (flair cannot be installed beside
    transformers 5; TextAttack downloads NLTK data on first import unless its post-install marker exists)."""
    flair = types.ModuleType("flair")
    data = types.ModuleType("flair.data")
    models = types.ModuleType("flair.models")

    class Sentence:  # only part-of-speech tagging uses flair; DeepWordBug and StressTest never tag
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("flair stand-in: part-of-speech tagging is not available")

    class Tokenizer:
        pass

    class SequenceTagger:
        @classmethod
        def load(cls, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("flair stand-in: no tagger")

    data.Sentence, data.Tokenizer, models.SequenceTagger = Sentence, Tokenizer, SequenceTagger  # type: ignore[attr-defined]
    flair.data, flair.models, flair.device = data, models, "cpu"  # type: ignore[attr-defined]
    sys.modules.update({"flair": flair, "flair.data": data, "flair.models": models})

    ta_cache = cache / "textattack"
    ta_cache.mkdir(parents=True, exist_ok=True)
    (ta_cache / "post_install_check_3").touch()
    os.environ["TA_CACHE_DIR"] = str(ta_cache)
    stop = cache / "nltk_data" / "corpora" / "stopwords"
    stop.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(stopwords_file, stop / "english")
    os.environ["NLTK_DATA"] = str(cache / "nltk_data")


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    _offline_shims(Path(spec["cache"]), Path(spec["stopwords_file"]))
    start = time.perf_counter()
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with contextlib.redirect_stdout(io.StringIO()):
        import promptbench as pb
        from promptbench.prompt_attack import Attack
    import_s = time.perf_counter() - start

    tok = AutoTokenizer.from_pretrained(spec["model"])
    lm = AutoModelForCausalLM.from_pretrained(spec["model"], dtype=getattr(torch, spec["dtype"])).eval()
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    dataset = [{"content": s, "label": y} for s, y in zip(spec["sentences"], spec["labels"], strict=True)]
    label_ids = {word: i for i, word in enumerate(spec["label_words"])}
    calls = 0
    predictions: dict[str, list[int]] = {}

    def model_input(prompt: str, row: dict[str, Any]) -> str:
        text = pb.InputProcess.basic_format(prompt, row)
        return str(tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                           add_generation_prompt=True))  # fmt: skip

    def eval_func(prompt: str, dataset: list[dict[str, Any]], model: Any) -> float:
        """PromptBench's default loop, one sample at a time."""
        nonlocal calls
        calls += 1
        preds, labels = [], []
        with torch.inference_mode():
            for row in dataset:
                ids = tok(model_input(prompt, row), return_tensors="pt", add_special_tokens=False)
                out = model.generate(**ids, max_new_tokens=spec["max_new_tokens"], do_sample=False, pad_token_id=pad)
                raw = tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
                preds.append(pb.OutputProcess.cls(raw, lambda w: label_ids.get(w, -1)))
                labels.append(row["label"])
        predictions[prompt] = preds
        return float(pb.Eval.compute_cls_accuracy(preds, labels))

    runs = []
    for attack_name, seed in spec["runs"]:
        random.seed(seed)  # PromptBench has no seed; TextAttack's character edits draw from numpy's global RNG
        np.random.seed(seed)
        torch.manual_seed(seed)
        calls = 0
        predictions.clear()
        with contextlib.redirect_stdout(io.StringIO()):  # it prints the modifiable words at every step
            attack = Attack(lm, attack_name, dataset, spec["prompt"], eval_func, spec["unmodifiable_words"], False)
            start = time.perf_counter()
            out = attack.attack()
            seconds = time.perf_counter() - start
        print(f"promptbench {attack_name} seed {seed}: {seconds:.1f} s, {calls} evaluations", file=sys.stderr)
        runs.append({
            "attack": attack_name,
            "seed": seed,
            "seconds": seconds,
            "evaluations": calls,
            "clean_accuracy": out["original score"],
            "attacked_accuracy": out["attacked score"],
            "attacked_prompt": out["attacked prompt"],
            "clean_predictions": predictions.get(spec["prompt"]),
            "attacked_predictions": predictions.get(out["attacked prompt"]),
        })  # fmt: skip
    result = {
        "import_seconds": import_s,
        "torch_threads": torch.get_num_threads(),
        "model_inputs": [model_input(spec["prompt"], row) for row in dataset],
        "runs": runs,
    }
    Path(sys.argv[2]).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
