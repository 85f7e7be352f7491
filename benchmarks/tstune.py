"""Quick in-process harness used to choose ``tsclass`` defaults on the UCR/UEA battery.

Not the user path (that is ``benchmarks/tsbattery.py``): a plain training loop with the
recipe's model (:class:`rnnkit.recipes.models.SeriesClassifier`) and normalisation, a fixed
schedule, test accuracy at the end. Options are ``key=value`` overrides of :data:`BASE`::

    python benchmarks/tstune.py GunPoint,ArrowHead cell=gru epochs=100 conv_channels=0
"""

from __future__ import annotations

import math
import sys
import time
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
from benchmarks.tsbattery import load_split  # noqa: E402
from rnnkit.recipes.models import SeriesClassifier  # noqa: E402

BASE = dict(cell="lstm", hidden_size=64, num_layers=1, bidirectional=True, dropout=0.2, conv_channels=64,
            conv_kernel=7, pool="mean", norm="auto", rnn_steps=64, epochs=150, lr=3e-3, wd=1e-2, batch=16,
            noise=0.0, seed=0, min_stride=1)


def normalise(seqs, how, stats=None):
    """The recipe's normalisation (:func:`rnnkit.recipes.tsclass.normalise`), statistics from the first call."""
    from rnnkit.data.seriesnorm import channel_stats, normalise as one, resolve_mode

    how = resolve_mode(how, seqs[0].shape[1])
    stats = stats if stats is not None else channel_stats(seqs, how)
    return [one(s, how, *stats) for s in seqs], stats


def pad(seqs):
    T = max(len(s) for s in seqs)
    x = torch.zeros(len(seqs), T, seqs[0].shape[1])
    for i, s in enumerate(seqs):
        x[i, :len(s)] = torch.from_numpy(s)
    return x, torch.tensor([len(s) for s in seqs])


def run(name, cfg):
    (xtr, ytr), (xte, yte) = load_split(name)
    classes = sorted(set(ytr))
    ytr = torch.tensor([classes.index(v) for v in ytr]); yte = torch.tensor([classes.index(v) for v in yte])
    ntr, stats = normalise(xtr, cfg.norm)
    nte, _ = normalise(xte, cfg.norm, stats)
    Xtr, Ltr = pad(ntr); Xte, Lte = pad(nte)
    tmax = Xtr.shape[1]
    stride = max(cfg.min_stride, math.ceil(tmax / cfg.rnn_steps)) if cfg.conv_channels else 1
    torch.manual_seed(cfg.seed)
    model = SeriesClassifier(cfg, len(classes), input_size=Xtr.shape[2], stride=stride)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.wd)
    n = len(Xtr); bs = cfg.batch
    steps = cfg.epochs * math.ceil(n / bs)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)  # as the recipe's --lr-schedule cosine
    g = torch.Generator().manual_seed(cfg.seed)
    t0 = time.time()
    for ep in range(cfg.epochs):
        model.train(); perm = torch.randperm(n, generator=g); tot = 0.0
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            x = Xtr[idx]
            if cfg.noise:
                x = x + cfg.noise * torch.randn(x.shape, generator=g) * (torch.arange(x.shape[1])[None, :, None] < Ltr[idx][:, None, None])
            loss = F.cross_entropy(model(x, Ltr[idx])[0], ytr[idx])
            opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step(); sched.step()
            tot += float(loss.detach()) * len(idx)
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(Xte[i:i + 128], Lte[i:i + 128])[0].argmax(1) for i in range(0, len(Xte), 128)])
    return float((pred == yte).float().mean()), time.time() - t0, tot / n, stride


if __name__ == "__main__":
    torch.set_num_threads(2)
    names = sys.argv[1].split(",")
    over = dict(a.split("=", 1) for a in sys.argv[2:])
    cfg = dict(BASE)
    for k, v in over.items():
        cfg[k] = type(BASE[k])(v) if not isinstance(BASE[k], bool) else v.lower() in ("1", "true")
    cfg = SimpleNamespace(**cfg)
    accs = []
    for name in names:
        acc, t, loss, stride = run(name, cfg)
        accs.append(acc)
        print(f"{name:18s} acc {acc:.4f}  train_loss {loss:.3f}  stride {stride}  {t:.0f}s  {' '.join(sys.argv[2:])}", flush=True)
    print(f"MEAN {np.mean(accs):.4f} {' '.join(sys.argv[2:])}", flush=True)
