"""Is the evidence in the pixels? A tiny CNN tells exercises and mistakes apart from QEVD-SIM clips.

Trains a small 2D CNN (16 grayscale frames stacked as channels, 56x40 pixels, ~0.2 M parameters)
on the train clips of a QEVD-SIM data root and scores it on the test clips, whose participants
(bodies, clothes, rooms) are disjoint from the train ones. It never sees landmarks or labels
other than the clip's: everything it learns comes from rendered pixels. Reports

- exercise accuracy (coarse label, 17 exercises + "general"),
- mistake recognition on the clips that show a mistake (the predicted fine-grained class is the
  right mistake of that exercise), and good-form vs mistake accuracy on normal-tempo clips,

each beside the chance level of always predicting the most frequent class.

    .venv/bin/livefit data synth --preset small --out /tmp/small
    .venv/bin/python benchmarks/synth_separability.py /tmp/small \
        [--out benchmarks/results/synth_separability.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from livefit.data.clips import Clip, load_clips, load_labels

T, H, W, STRIDE = 16, 56, 40, 3  # frames, pixels, frame stride (30 fps -> 10 fps, 1.6 s)


def decode(clip: Clip) -> np.ndarray:
    """All frames of a clip, grayscale and downscaled: ``[N, H, W]`` uint8."""
    import av

    with av.open(str(clip.video)) as src:
        frames = [
            cv2.resize(f.to_ndarray(format="gray"), (W, H), interpolation=cv2.INTER_AREA)
            for f in src.decode(video=0)
        ]
    return np.stack(frames)


def load_or_decode(clips: list[Clip], cache: Path | None) -> list[np.ndarray]:
    """Decoded frames of every clip, from ``cache`` when it holds the same clips."""
    ids = np.array([c.clip_id for c in clips])
    if cache is not None and cache.is_file():
        data = np.load(cache)
        if np.array_equal(data["ids"], ids):
            return np.split(data["frames"], data["offsets"][1:-1])
    frames = [decode(c) for c in clips]
    if cache is not None:
        offsets = np.cumsum([0] + [len(f) for f in frames])
        np.savez(cache, ids=ids, frames=np.concatenate(frames), offsets=offsets)
    return frames


def window(frames: np.ndarray, start: int) -> np.ndarray:
    idx = np.clip(start + STRIDE * np.arange(T), 0, len(frames) - 1)
    return frames[idx]


class TinyCNN(nn.Module):
    def __init__(self, n_ex: int, n_fine: int):
        super().__init__()

        def block(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU())

        self.body = nn.Sequential(
            block(T, 32),
            nn.MaxPool2d(2),
            block(32, 64),
            nn.MaxPool2d(2),
            block(64, 96),
            nn.MaxPool2d(2),
            block(96, 128),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.ex_head = nn.Linear(128, n_ex)
        self.fine_head = nn.Linear(128, n_fine)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.body(x)  # x: (B, T, H, W) -> (B, 128)
        return self.ex_head(z), self.fine_head(z)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-train", type=int, default=0, help="use at most this many train clips")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--cache", type=Path, default=None, help="npz of decoded frames (reused)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    labels = load_labels(args.root)
    ex_ix, fine_ix, flip = labels.exercise_index, labels.fine_index, labels.flip_ids()
    t0 = time.time()
    train_clips = load_clips(args.root, "train")
    if args.max_train:
        train_clips = train_clips[: args.max_train]
    test_clips = load_clips(args.root, "test")
    frames_all = load_or_decode(train_clips + test_clips, args.cache)
    train = list(zip(frames_all[: len(train_clips)], train_clips, strict=True))
    test = list(zip(frames_all[len(train_clips) :], test_clips, strict=True))
    t_decode = time.time() - t0
    model = TinyCNN(len(labels.exercises), len(labels.fine_grained))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = args.epochs * ((len(train) + 63) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    ce = nn.CrossEntropyLoss()
    t0 = time.time()
    for _ in range(args.epochs):
        order = rng.permutation(len(train))
        model.train()
        for b in range(0, len(order), 64):
            xs, ys_ex, ys_fine = [], [], []
            for i in order[b : b + 64]:
                frames, clip = train[i]
                start = int(rng.integers(0, max(1, len(frames) - STRIDE * (T - 1))))
                x = window(frames, start).astype(np.float32)
                fine = fine_ix[clip.frame_labels[min(start + STRIDE * T // 2, len(frames) - 1)]]
                if rng.random() < 0.5:  # horizontal flip with left/right labels swapped
                    x, fine = x[:, :, ::-1], int(flip[fine])
                x = x * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20)  # brightness jitter
                xs.append(x)
                ys_ex.append(ex_ix[clip.exercise])
                ys_fine.append(fine)
            x = torch.from_numpy(np.stack(xs)) / 128.0 - 1.0  # (B, T, H, W)
            ex_logits, fine_logits = model(x)
            loss = ce(ex_logits, torch.tensor(ys_ex)) + ce(fine_logits, torch.tensor(ys_fine))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    t_train = time.time() - t0
    model.eval()
    ex_true, ex_pred, fine_true, fine_pred, clips = [], [], [], [], []
    with torch.no_grad():
        for frames, clip in test:
            start = max(0, (len(frames) - STRIDE * (T - 1)) // 2)
            x = torch.from_numpy(window(frames, start).astype(np.float32))[None] / 128.0 - 1.0
            e, f = model(x)
            ex_true.append(ex_ix[clip.exercise])
            ex_pred.append(int(e.argmax()))
            fine_true.append(clip.frame_labels[min(start + STRIDE * T // 2, len(frames) - 1)])
            fine_pred.append(labels.fine_grained[int(f.argmax())])
            clips.append(clip)
    ex_true_a, ex_pred_a = np.array(ex_true), np.array(ex_pred)
    mistakes = set(labels.mistakes)

    def is_mistake(label: str) -> bool:
        return label.split(" - ", 1)[1] in mistakes

    mk = [i for i, c in enumerate(fine_true) if is_mistake(c)]
    # Normal-tempo exercise clips that are either good form or a mistake (not a stretch side).
    normal = [
        i
        for i, c in enumerate(clips)
        if c.exercise != "general"
        and c.attributes.get("tempo") == "normal"
        and not fine_true[i].endswith((" arm", " leg"))
    ]
    binary_true = np.array([is_mistake(fine_true[i]) for i in normal])
    binary_pred = np.array([is_mistake(fine_pred[i]) for i in normal])
    # Balanced accuracy: mistakes outnumber good-form clips, so plain accuracy would reward
    # always answering "mistake".
    recall_mistake = float(np.mean(binary_pred[binary_true])) if binary_true.any() else 0.0
    recall_good = float(np.mean(~binary_pred[~binary_true])) if (~binary_true).any() else 0.0
    majority_ex = Counter(ex_true).most_common(1)[0][1] / len(ex_true)
    mk_counts = Counter(fine_true[i] for i in mk)
    result = {
        "data": str(args.root),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs, "
        f"{args.threads} torch thread(s)",
        "train_clips": len(train),
        "test_clips": len(test),
        "participants_disjoint": not (
            {c.participant for _, c in train} & {c.participant for _, c in test}
        ),
        "input": f"{T} grayscale frames x {H}x{W} px, stride {STRIDE} at 30 fps",
        "epochs": args.epochs,
        "exercise_accuracy": round(float(np.mean(ex_true_a == ex_pred_a)), 4),
        "exercise_chance_majority": round(majority_ex, 4),
        "mistake_clips": len(mk),
        "mistake_exact_accuracy": round(
            float(np.mean([fine_pred[i] == fine_true[i] for i in mk])), 4
        )
        if mk
        else None,
        "mistake_chance_majority": round(mk_counts.most_common(1)[0][1] / len(mk), 4)
        if mk
        else None,
        "good_vs_mistake_clips": len(normal),
        "good_vs_mistake_share_of_mistakes": round(float(binary_true.mean()), 4),
        "good_vs_mistake_balanced_accuracy": round(0.5 * (recall_mistake + recall_good), 4),
        "good_vs_mistake_chance_balanced": 0.5,
        "recall_mistake": round(recall_mistake, 4),
        "recall_good_form": round(recall_good, 4),
        "seconds": {"decode": round(t_decode, 1), "train": round(t_train, 1)},
    }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
