"""Write the demo fine-tuning sets deterministically: `python data/make_demo.py`.

dates: free-form English dates -> ISO 8601 (YYYY-MM-DD), scored by exact match; base SmolLM2 gets most
wrong (month arithmetic, ordinals, two-digit days), a default LoRA run learns it in minutes on a CPU.
sentiment: short product-review sentences with a positive/negative label for the encoder classifier.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
INSTRUCTION = "Rewrite the date as YYYY-MM-DD."


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# Surface forms of one date; each takes (day, month index 0-11, year).
STYLES = [
    lambda d, m, y: f"{MONTHS[m]} {d}, {y}",
    lambda d, m, y: f"{d} {MONTHS[m]} {y}",
    lambda d, m, y: f"{_ordinal(d)} of {MONTHS[m]}, {y}",
    lambda d, m, y: f"{MONTHS[m][:3]} {d} {y}",
    lambda d, m, y: f"{d}-{MONTHS[m][:3]}-{y}",
    lambda d, m, y: f"{MONTHS[m]} the {_ordinal(d)}, {y}",
]


def date_example(rng: random.Random) -> dict:
    """One prompt/response pair; the prompt ends where the answer starts."""
    y, m = rng.randint(1950, 2049), rng.randrange(12)
    d = rng.randint(1, DAYS_IN_MONTH[m])
    text = rng.choice(STYLES)(d, m, y)
    answer = f"{y:04d}-{m + 1:02d}-{d:02d}"
    prompt = f"{INSTRUCTION}\nDate: {text}\nAnswer:"
    return {"prompt": prompt, "response": " " + answer, "reference": answer}


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def make_dates(n_train: int = 1200, n_heldout: int = 100, seed: int = 20261123) -> None:
    rng = random.Random(seed)
    seen, rows = set(), []
    while len(rows) < n_train + n_heldout:
        ex = date_example(rng)
        if ex["prompt"] not in seen:  # held-out prompts never appear in training
            seen.add(ex["prompt"])
            rows.append(ex)
    write_jsonl(HERE / "demo_dates_train.jsonl", [{"prompt": r["prompt"], "response": r["response"]}
                                                  for r in rows[:n_train]])
    write_jsonl(HERE / "demo_dates_heldout.jsonl", rows[n_train:])


PRODUCTS = ["headphones", "blender", "backpack", "desk lamp", "kettle", "keyboard", "tent", "umbrella",
            "camera", "phone case", "office chair", "toaster", "bike light", "water bottle", "printer",
            "jacket", "sofa", "monitor", "charger", "coffee grinder"]
POSITIVE = ["works perfectly", "exceeded my expectations", "is sturdy and well made", "was worth every penny",
            "arrived early and works great", "is a joy to use", "feels solid and reliable", "does exactly what I "
            "wanted", "is the best purchase I made this year", "still looks new after months"]
NEGATIVE = ["broke after two days", "was a waste of money", "stopped working within a week",
            "feels cheap and flimsy", "arrived damaged", "is far too loud", "never charged properly",
            "fell apart quickly", "is a disappointment", "leaks and smells odd"]
OPENERS = ["The {p} {v}.", "My new {p} {v}.", "Honestly, this {p} {v}.", "I have to say the {p} {v}.",
           "After a month of use, the {p} {v}."]


def make_sentiment(n_train: int = 400, n_heldout: int = 100, seed: int = 7) -> None:
    """text/label rows; closers agree with the label so the text never contradicts itself."""
    rng = random.Random(seed)
    good_closers = {"positive": ["", " Would buy again.", " Five stars.", " Recommended."],
                    "negative": ["", " I returned it.", " One star.", " Avoid."]}
    rows, seen = [], set()
    while len(rows) < n_train + n_heldout:
        label = rng.choice(["positive", "negative"])
        verb = rng.choice(POSITIVE if label == "positive" else NEGATIVE)
        text = rng.choice(OPENERS).format(p=rng.choice(PRODUCTS), v=verb) + rng.choice(good_closers[label])
        if text not in seen:
            seen.add(text)
            rows.append({"text": text, "label": label})
    write_jsonl(HERE / "demo_sentiment_train.jsonl", rows[:n_train])
    write_jsonl(HERE / "demo_sentiment_heldout.jsonl", rows[n_train:])


if __name__ == "__main__":
    make_dates()
    make_sentiment()
