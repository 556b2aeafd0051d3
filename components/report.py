"""The quality report: one folder (index.html + media/) a person opens to see and hear a model.

It shows the metric table (real audio beside generated), metric curves over
training steps, spectrograms of real and generated clips, audio players for
generated clips (per class for conditional models) next to their nearest real
neighbours in the judge's embedding, the judge's confusion matrices and, from a
pipeline run, the blessing decision and its reason. Everything is a relative link
inside the folder, so it can be copied, served or attached as it is.
"""
from __future__ import annotations

import html
import json
import os
import shutil

import numpy as np

from models.audio import write_wav

REPORT_FILE = "index.html"
MEDIA = "media"
TABLE_METRICS = (("inception_score", "IS", "{:.2f}"), ("inception_score_ratio", "IS / real", "{:.2f}"),
                 ("label_accuracy", "label acc.", "{:.2f}"), ("frechet_distance", "FD", "{:.3g}"),
                 ("ndb", "NDB", "{:d}"), ("nn_distance_to_train", "NN to train", "{:.3g}"),
                 ("nn_distance_among_samples", "NN among", "{:.3g}"), ("silent_fraction", "silent", "{:.0%}"),
                 ("clipped_fraction", "clipped", "{:.0%}"), ("rms_db", "RMS dB", "{:.1f}"),
                 ("floor_db", "floor dB", "{:.1f}"), ("voiced_fraction", "voiced", "{:.2f}"))
CURVES = ("frechet_distance", "inception_score_ratio", "label_accuracy", "ndb_fraction")
# What the critic's TensorBoard scalars show of memorising: the class head's loss on real training clips
# falling towards 0, G's class loss and the real-minus-generated gap rising, r_t nearing 1.
TRAINING_SIGNALS = (("d_real_minus_fake", "critic: real minus generated score"),
                    ("d_real_sign", "r_t: critic's sign on real clips"),
                    ("d_class_loss", "class head's loss, real training clips"),
                    ("g_class_loss", "G's class loss"), ("augment_p", "augmentation probability"))
PLAYERS_PER_CLASS = 2
SPECTROGRAM_FFT = 256
SPECTROGRAM_DB_RANGE = (-120, -20)  # power spectral density, dB: silence to loud speech


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, folder: str, name: str) -> str:
    fig.savefig(os.path.join(folder, MEDIA, name), dpi=80, bbox_inches="tight")
    _plt().close(fig)
    return f"{MEDIA}/{name}"


def plot_curves(history: list, folder: str):
    """Evaluation metrics over training steps (models.selection's history)."""
    names = [n for n in CURVES if any(n in e for e in history)]
    if len(history) < 1 or not names:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3))
    steps = [e["step"] for e in history]
    for ax, name in zip(np.atleast_1d(axes), names):
        ax.plot(steps, [e.get(name, np.nan) for e in history], marker=".", label="judge")
        if name == "label_accuracy" and any("critic_label_accuracy" in e for e in history):
            # Far above the judge's: G satisfies the critic's class head with cues no listener hears.
            ax.plot(steps, [e.get("critic_label_accuracy", np.nan) for e in history], marker=".",
                    label="critic's class head")
            ax.legend(fontsize="small")
        ax.set_title(name)
        if name == "frechet_distance":  # falls by orders of magnitude: linear hides all after the start
            ax.set_yscale("log")
        else:
            ax.ticklabel_format(axis="y", useOffset=False)
        ax.set_xlabel("generator step")
        ax.grid(alpha=0.3)
    return _save(fig, folder, "curves.png")


def plot_spectrograms(real, generated, sample_rate: int, folder: str, name: str = "spectrograms.png"):
    """Real (top) and generated (bottom) spectrograms, one column per class, each (clips, titles).

    Linear frequency from 0 to Nyquist and one dB colour scale for every panel, so pitch
    harmonics, and energy in a band where the real audio has none, show at a glance.
    """
    from matplotlib import mlab
    plt = _plt()
    n = min(len(real[0]), len(generated[0]), 10)
    fig, axes = plt.subplots(2, n, figsize=(1.8 * n, 4.4), squeeze=False, sharey=True)
    for row, (label, (clips, titles)) in enumerate((("real", real), ("generated", generated))):
        for i in range(n):
            mono = np.asarray(clips[i], np.float64).reshape(len(clips[i]), -1).mean(axis=1)
            power, freqs, times = mlab.specgram(mono, NFFT=SPECTROGRAM_FFT, Fs=sample_rate,
                                                noverlap=SPECTROGRAM_FFT * 3 // 4)
            axes[row, i].imshow(10 * np.log10(power + 1e-12), origin="lower", aspect="auto", cmap="magma",
                                vmin=SPECTROGRAM_DB_RANGE[0], vmax=SPECTROGRAM_DB_RANGE[1],
                                extent=[times[0], times[-1], freqs[0] / 1000, freqs[-1] / 1000])
            axes[row, i].set_xticks([])
            axes[row, i].set_title(titles[i], fontsize=9)
        axes[row, 0].set_ylabel(f"{label}\nkHz")
    return _save(fig, folder, name)


def plot_confusion(matrix, labels: list, title: str, name: str, folder: str):
    plt = _plt()
    matrix = np.asarray(matrix, float)
    fig, ax = plt.subplots(figsize=(1 + 0.45 * len(labels), 1 + 0.4 * len(labels)))
    ax.imshow(matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("judged as")
    ax.set_ylabel("real class" if "real" in title else "generated for")
    ax.set_title(title)
    return _save(fig, folder, name)


def _table(metrics: dict) -> str:
    rows = [(name, metrics[name]) for name in ("real_train", "real_eval", "candidate", "generated", "baseline")
            if isinstance(metrics.get(name), dict)]
    columns = [c for c in TABLE_METRICS if any(c[0] in m for _, m in rows)]
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in columns)
    body = ""
    for name, m in rows:
        cells = "".join(f"<td>{fmt.format(m[key]) if key in m else '–'}</td>" for key, _, fmt in columns)
        body += f"<tr><th>{html.escape(name.replace('_', ' '))}</th>{cells}</tr>"
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def _players(folder, generated, labels, reference, label_names) -> str:
    """Generated clips with their nearest real training neighbours, as <audio> elements."""
    _, gen_embedding = reference.embed(generated)
    nearest = np.argmin(((gen_embedding[:, None] - reference.train_embedding[None]) ** 2).sum(-1), axis=1)
    cards = []
    for i, clip in enumerate(generated):
        name = label_names[labels[i]] if labels is not None and label_names else f"clip {i}"
        write_wav(os.path.join(folder, MEDIA, f"generated_{i}.wav"), clip, reference.sample_rate)
        write_wav(os.path.join(folder, MEDIA, f"nearest_{i}.wav"), reference.real_train[nearest[i]],
                  reference.sample_rate)
        cards.append(f'<div class="card"><b>{html.escape(str(name))}</b><br>generated<br>'
                     f'<audio controls preload="none" src="{MEDIA}/generated_{i}.wav"></audio><br>nearest real<br>'
                     f'<audio controls preload="none" src="{MEDIA}/nearest_{i}.wav"></audio></div>')
    return '<div class="cards">' + "".join(cards) + "</div>"


def _one_per_class(audio, labels, label_names: list):
    """(clips, titles): the first clip of each class (conditional), else the first ten."""
    if labels is None or not label_names or np.all(labels < 0):
        return audio[:10], [""] * min(len(audio), 10)
    rows = [int(np.flatnonzero(labels == k)[0]) for k in range(len(label_names)) if np.any(labels == k)]
    return audio[rows], [str(label_names[labels[i]]) for i in rows]


def _pick_players(audio, labels, num_classes: int):
    if labels is None:
        return audio[:8], None
    rows = [i for k in range(num_classes) for i in np.flatnonzero(labels == k)[:PLAYERS_PER_CLASS]]
    return audio[rows], labels[rows]


def read_training_scalars(log_dir: str, tags) -> dict:
    """{tag: (steps, values)} of the run's TensorBoard scalars (every event file of the folder)."""
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util
    events = event_accumulator.EventAccumulator(log_dir, size_guidance={event_accumulator.TENSORS: 0})
    events.Reload()
    found = events.Tags().get("tensors", [])
    return {tag: ([e.step for e in events.Tensors(tag)],
                  [float(tensor_util.make_ndarray(e.tensor_proto)) for e in events.Tensors(tag)])
            for tag in tags if tag in found}


def plot_training_signals(run_dir: str, folder: str):
    """The critic's training scalars over steps, raw and as a running mean (None without logs)."""
    log_dir = os.path.join(run_dir, "logs")
    scalars = read_training_scalars(log_dir, [tag for tag, _ in TRAINING_SIGNALS]) if os.path.isdir(log_dir) else {}
    if not scalars:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(scalars), figsize=(4 * len(scalars), 3))
    for ax, (tag, title) in zip(np.atleast_1d(axes), [t for t in TRAINING_SIGNALS if t[0] in scalars]):
        steps, values = (np.asarray(v) for v in scalars[tag])
        order = np.argsort(steps, kind="stable")
        steps, values = steps[order], values[order]
        window = max(1, len(values) // 40)
        ax.plot(steps, values, color="0.8", linewidth=0.8)
        ax.plot(steps[window - 1:], np.convolve(values, np.ones(window) / window, mode="valid"))
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel("generator step")
        ax.grid(alpha=0.3)
    return _save(fig, folder, "training_signals.png")


def write_report(out_dir: str, title: str, model_dir: str, reference, metrics: dict, run_dir: str = "",
                 model_shown: str = "") -> str:
    """Writes <out_dir>/index.html and its media; returns the page's path. model_shown: how the page
    names the model (default model_dir; a committed report names it relative to the repository)."""
    from models.generate import sample_clips
    from models.export import exported_config
    from models.selection import HISTORY_FILE
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(os.path.join(out_dir, MEDIA))
    audio, labels = sample_clips(model_dir, 64, seed=3)
    label_names = reference.judge.label_names if reference.judge is not None else []
    # Each set of labels by its own names: the model's, the span's, the judge's may differ.
    model_names = exported_config(model_dir).label_names or label_names
    real_names = reference.label_names or label_names
    sections = [f"<h1>{html.escape(title)}</h1>"]
    if "blessed" in metrics:
        verdict = "BLESSED" if metrics["blessed"] else "NOT BLESSED"
        sections.append(f'<p class="verdict {verdict.split()[0].lower()}">{verdict}: '
                        f'{html.escape(metrics["reason"])}</p>')
    judge = metrics.get("judge", reference.describe())
    accuracy = f", accuracy on real eval audio {judge['eval_accuracy']:.3f}" if "eval_accuracy" in judge else ""
    same = " (too few held-out slices: real eval is the train set)" if judge.get("eval_is_train") else ""
    sections.append(f"<p>Judge: {html.escape(judge['kind'])}{accuracy}; {judge['num_real_train']} real train and "
                    f"{judge['num_real_eval']} real eval slices{same}; NDB over {judge['ndb_bins']} bins. "
                    f"Model: <code>{html.escape(model_shown or model_dir)}</code></p>")
    sections.append("<h2>Metrics</h2>" + _table(metrics) + HOW_TO_READ)
    history = metrics.get("history")
    if history is None and run_dir and os.path.exists(os.path.join(run_dir, HISTORY_FILE)):
        with open(os.path.join(run_dir, HISTORY_FILE)) as f:
            history = json.load(f)
    if history:
        best = metrics.get("best") or {}
        note = f" Best: step {best['step']} ({html.escape(best['reason'])})." if best.get("step") is not None else ""
        sections.append(f"<h2>During training</h2><p>{len(history)} evaluations.{note}</p>"
                        f'<img alt="metric curves" src="{plot_curves(history, out_dir)}">')
    signals = plot_training_signals(run_dir, out_dir) if run_dir else None
    if signals:
        sections.append(f"<h3>The critic while training</h3>{SIGNALS_NOTE}"
                        f'<img alt="critic training signals" src="{signals}">')
    players_audio, players_labels = _pick_players(audio, labels, len(model_names))
    spectrograms = plot_spectrograms(_one_per_class(reference.real_train, reference.train_labels, real_names),
                                     _one_per_class(audio, labels, model_names), reference.sample_rate, out_dir)
    sections.append(f'<h2>Spectrograms</h2><p>One clip per class, real above generated: linear frequency, 0 to '
                    f'{reference.sample_rate / 2000:g} kHz, one colour scale ({SPECTROGRAM_DB_RANGE[0]} to '
                    f'{SPECTROGRAM_DB_RANGE[1]} dB) for all.</p><img alt="spectrograms" src="{spectrograms}">')
    sections.append("<h2>Listen</h2>" + _players(out_dir, players_audio, players_labels, reference, model_names))
    if reference.judge is not None:
        confusion = [plot_confusion(reference.judge.info["confusion"], label_names, "judge on real eval audio",
                                    "confusion_real.png", out_dir)]
        if labels is not None:
            probs, _ = reference.judge.predict(audio)
            matrix = np.zeros([len(label_names)] * 2)
            np.add.at(matrix, (labels, np.argmax(probs, axis=1)), 1)
            confusion.append(plot_confusion(matrix, label_names, "judge on generated audio",
                                            "confusion_generated.png", out_dir))
        sections.append("<h2>Judge</h2>" + "".join(f'<img alt="confusion matrix" src="{c}">' for c in confusion))
    path = os.path.join(out_dir, REPORT_FILE)
    with open(path, "w") as f:
        f.write(PAGE.format(title=html.escape(title), body="\n".join(sections)))
    return path


HOW_TO_READ = """<p class="note">How to read: a perfect model scores like <i>real eval</i>.
IS (inception score) and label accuracy: higher is better; compare IS only as the ratio to real eval
(IS / real), since it depends on the judge. FD (Fr&eacute;chet distance in the judge's embedding) and
NDB (bins whose share differs from real audio): lower is better. NN to train near 0 means copying;
NN among near 0 means the clips all sound alike.</p>"""

SIGNALS_NOTE = """<p class="note">From the run's TensorBoard scalars (grey: as logged; blue: running mean).
A critic that memorises its training clips shows it here before the metrics fall: its class head's loss
on real training clips heads for 0, G's class loss and the real-minus-generated gap climb, and r_t (losses
dcgan and hinge) nears 1.</p>"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }}
img {{ max-width: 100%; }} .cards {{ display: flex; flex-wrap: wrap; gap: 10px; }}
.card {{ border: 1px solid #ddd; border-radius: 6px; padding: 8px; font-size: 0.85em; }}
.card audio {{ width: 210px; }} .verdict {{ font-weight: bold; padding: 8px; border-radius: 6px; }}
.verdict.blessed {{ background: #e3f6e3; }} .verdict.not {{ background: #fbe4e4; }}
.note {{ color: #555; font-size: 0.9em; max-width: 900px; }}
</style></head><body>
{body}
</body></html>
"""
