"""Same-run PyTorch baseline of a whole dis_spec_scac_trainable run (bench/recipe.ts runs it).

Plain PyTorch, the work a minimal script would do for the recipe on a formatted DCASE folder:
  1. decode every train and test WAV (stdlib `wave`, 16-bit mono 16 kHz) into memory, each clip
     tiled or cropped to --sec seconds;
  2. train the dual-branch MultiResNet + SCAdaCos (16 trainable centres) for --epochs epochs:
     shuffled batches of --batch, Mixup 0.5, AdamW (lr 1e-3, weight decay 0.01);
     class = (machine, section, attribute string of the file name), like ASDKit's `main` labels;
  3. embed every train and test clip (eval mode, torch.inference_mode());
  4. score: per machine, each test clip's cosine distance to its nearest train embedding (k-NN,
     k = 1), and the AUC of normal vs anomaly.
Prints one JSON object (seconds per stage, total, AUCs) on stdout; progress on stderr.

  python3 bench/reference/recipe.py --root DIR/formatted/dcase2023/raw [--epochs 2] [--sec 18]
      [--batch 64] [--threads 2] [--seed 0]
"""
import argparse
import json
import os
import sys
import time
import wave

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from multiresnet import NETWORKS, MultiResNet, SCAdaCos, mixup  # noqa: E402

SR = 16000


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def read_clip(path: str, samples: int) -> np.ndarray:
    with wave.open(path, 'rb') as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ValueError(f'{path}: expected 16-bit mono')
        x = np.frombuffer(w.readframes(w.getnframes()), dtype='<i2').astype(np.float32) / 32768.0
    if len(x) >= samples:
        return x[:samples]
    return np.tile(x, -(-samples // len(x)))[:samples]


def listing(root: str, split: str):
    out = []
    for machine in sorted(os.listdir(root)):
        d = os.path.join(root, machine, split)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if name.endswith('.wav'):
                out.append((machine, name, os.path.join(d, name)))
    return out


def label_of(machine: str, name: str) -> str:
    # section_00_source_train_normal_0000_<attributes>.wav
    parts = name[:-4].split('_')
    return f'{machine}/{parts[1]}/{"_".join(parts[6:])}'


def auc(scores: np.ndarray, anomalous: np.ndarray) -> float:
    pos, neg = scores[anomalous], scores[~anomalous]
    if len(pos) == 0 or len(neg) == 0:
        return float('nan')
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--root', required=True)
    p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--sec', type=float, default=18)
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--threads', type=int, default=0)
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    samples = int(args.sec * SR)
    t_start = time.perf_counter()
    times = {}

    t0 = time.perf_counter()
    train, test = listing(args.root, 'train'), listing(args.root, 'test')
    if not train or not test:
        raise SystemExit(f'{args.root}: no <machine>/train and <machine>/test WAVs')
    x_train = torch.from_numpy(np.stack([read_clip(f, samples) for _, _, f in train]))
    x_test = torch.from_numpy(np.stack([read_clip(f, samples) for _, _, f in test]))
    names = sorted({label_of(m, n) for m, n, _ in train})
    index = {n: i for i, n in enumerate(names)}
    y = torch.tensor([index[label_of(m, n)] for m, n, _ in train])
    onehot = torch.nn.functional.one_hot(y, len(names)).float()
    times['decode'] = time.perf_counter() - t0
    log(f'  · pytorch recipe: {len(train)} train + {len(test)} test clips, {len(names)} classes, decoded in {times["decode"]:.1f} s')

    t0 = time.perf_counter()
    extractor = MultiResNet(samples, NETWORKS['dual'])
    head = SCAdaCos(extractor.embed_size, len(names), k=16, trainable=True)
    opt = torch.optim.AdamW(list(extractor.parameters()) + list(head.parameters()), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    extractor.train()
    head.train()
    g = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        order = torch.randperm(len(train), generator=g)
        for b in range(0, len(train), args.batch):
            idx = order[b:b + args.batch]
            w, t = mixup(x_train[idx], onehot[idx], 0.5)
            loss = head(extractor(w), t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        log(f'  · pytorch recipe: epoch {epoch + 1}/{args.epochs} loss {loss.item():.3f} ({time.perf_counter() - t0:.1f} s)')
    times['train'] = time.perf_counter() - t0

    t0 = time.perf_counter()
    extractor.eval()
    with torch.inference_mode():
        e_train = torch.cat([extractor(x_train[b:b + args.batch]) for b in range(0, len(train), args.batch)])
        e_test = torch.cat([extractor(x_test[b:b + args.batch]) for b in range(0, len(test), args.batch)])
    times['extract'] = time.perf_counter() - t0

    t0 = time.perf_counter()
    aucs = {}
    a = torch.nn.functional.normalize(e_train, dim=1)
    q = torch.nn.functional.normalize(e_test, dim=1)
    for machine in sorted({m for m, _, _ in test}):
        tr = torch.tensor([m == machine for m, _, _ in train])
        te = torch.tensor([m == machine for m, _, _ in test])
        score = (1 - q[te] @ a[tr].T).min(dim=1).values.numpy()
        anomalous = np.array(['_anomaly_' in n for m, n, _ in test if m == machine])
        aucs[machine] = auc(score, anomalous)
    times['score'] = time.perf_counter() - t0
    times['total'] = time.perf_counter() - t_start
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'ldPreload': os.environ.get('LD_PRELOAD', ''),
                      'train': len(train), 'test': len(test), 'classes': len(names), 'epochs': args.epochs, 'seconds': times, 'auc': aucs}))


if __name__ == '__main__':
    main()
