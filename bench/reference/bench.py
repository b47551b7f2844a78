"""Same-run PyTorch baseline for `npm run bench -- --only train` (bench/train.ts runs it).

Times, per network (dual: FFT + STFT 1024; multi: FFT + STFT 256/1024/4096):
  * a training step: Mixup(0.5) + forward + SCAdaCos loss (K 16, trainable centres) + backward
    + AdamW step (lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01) on a batch already
    in memory (no data loading);
  * an inference batch: eval-mode extractor forward under torch.inference_mode();
  * with --bf16, both under torch.autocast('cpu', dtype=torch.bfloat16) (forward and loss;
    backward and AdamW outside, as PyTorch recommends).
Each network's result also has `macs`: the multiply-accumulates of one clip's forward pass
through its Conv1d/Conv2d/Linear layers, counted with forward hooks (multiresnet.forward_macs).
Warm-up iterations are dropped; medians are reported. Prints one JSON object on stdout
(progress on stderr).

  python3 bench/reference/bench.py [--threads 2] [--batch 64] [--samples 288000] [--classes 187]
      [--steps 3] [--infer-steps 3] [--warmup 1] [--nets dual,multi] [--counts-only] [--bf16]
      [--trace PREFIX]  (Chrome traces of the timed train steps: PREFIX-<net>.json; compare with
                         ours via ASDKIT_PROFILE_OPS and bench/op-table.mjs)
      [--serve]         (commands on stdin, for bench/interleaved.ts: see serve())
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import contextlib  # noqa: E402

from multiresnet import NETWORKS, MultiResNet, SCAdaCos, counts, forward_macs, mixup  # noqa: E402


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def synthetic_batch(batch: int, samples: int, n_classes: int, seed: int):
    """Noise + two tones per clip (like bench/train.ts's set), random labels, one-hot targets."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(samples, dtype=torch.float64) / 16000.0
    waves = torch.empty(batch, samples)
    for i in range(batch):
        f1, f2 = 100 + 37 * (i % 29), 1000 + 113 * (i % 17)
        w = 0.2 * torch.sin(2 * torch.pi * f1 * t) + 0.1 * torch.sin(2 * torch.pi * f2 * t)
        waves[i] = w.float() + 0.05 * (torch.rand(samples, generator=g) - 0.5)
    labels = torch.randint(0, n_classes, (batch,), generator=g)
    return waves, torch.nn.functional.one_hot(labels, n_classes).float()


def summary(ts):
    return {'median': statistics.median(ts), 'min': min(ts), 'max': max(ts), 'times': ts}


class Served:
    """One network with its head, AdamW and synthetic batch (seeded): built by bench_network, and
    kept in memory by --serve, whose train step and inference batch it times on request."""

    def __init__(self, key: str, args):
        torch.manual_seed(0)
        self.extractor = MultiResNet(args.samples, NETWORKS[key])
        self.head = SCAdaCos(self.extractor.embed_size, args.classes, k=16, trainable=True)
        params = list(self.extractor.parameters()) + list(self.head.parameters())
        self.opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
        self.wave, self.onehot = synthetic_batch(args.batch, args.samples, args.classes, seed=1)
        self.counts = counts(self.extractor, self.head)

    def train(self, n: int):
        self.extractor.train()
        self.head.train()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            w, y = mixup(self.wave, self.onehot, 0.5)
            loss = self.head(self.extractor(w), y)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            ts.append(time.perf_counter() - t0)
            if not torch.isfinite(loss):
                raise RuntimeError(f'non-finite loss {loss.item()}')
        return ts

    def infer(self, n: int):
        self.extractor.eval()
        ts = []
        with torch.inference_mode():
            for _ in range(n):
                t0 = time.perf_counter()
                self.extractor(self.wave)
                ts.append(time.perf_counter() - t0)
        return ts


def bench_network(key: str, args) -> dict:
    s = Served(key, args)
    extractor, head, opt, wave, onehot = s.extractor, s.head, s.opt, s.wave, s.onehot
    out = {'key': key, 'counts': s.counts, 'macs': forward_macs(extractor, args.samples)}
    if args.counts_only:
        return out
    autocast = (lambda: torch.autocast('cpu', dtype=torch.bfloat16)) if args.bf16 else contextlib.nullcontext

    fwd, bwd, step, total = [], [], [], []
    extractor.train()
    head.train()
    trace = None
    for i in range(args.warmup + args.steps):
        if args.trace and i == args.warmup:
            trace = torch.autograd.profiler.profile()
            trace.__enter__()
        t0 = time.perf_counter()
        with autocast():
            w, y = mixup(wave, onehot, 0.5)
            loss = head(extractor(w), y)
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if not torch.isfinite(loss):
            raise RuntimeError(f'{key}: non-finite loss {loss.item()}')
        log(f'    · pytorch{" bf16" if args.bf16 else ""} {key} train step {i + 1}/{args.warmup + args.steps}: {t3 - t0:.3f} s (loss {loss.item():.3f})')
        if i >= args.warmup:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
            step.append(t3 - t2)
            total.append(t3 - t0)
    if trace is not None:
        trace.__exit__(None, None, None)
        trace.export_chrome_trace(f'{args.trace}-{key}.json')
    out['train'] = summary(total)
    out['train']['forward'] = statistics.median(fwd)
    out['train']['backward'] = statistics.median(bwd)
    out['train']['adamw'] = statistics.median(step)
    del opt

    extractor.eval()
    infer = []
    with torch.inference_mode(), autocast():
        for i in range(args.warmup + args.infer_steps):
            t0 = time.perf_counter()
            e = extractor(wave)
            dt = time.perf_counter() - t0
            assert e.shape == (args.batch, extractor.embed_size)
            log(f'    · pytorch{" bf16" if args.bf16 else ""} {key} inference batch {i + 1}/{args.warmup + args.infer_steps}: {dt:.3f} s')
            if i >= args.warmup:
                infer.append(dt)
    out['infer'] = summary(infer)
    out['peakRssMiB'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def serve(args) -> None:
    """--serve: one command per stdin line, one JSON line back — `net <key>` (build it; reply its
    counts), `train <n>` / `infer <n>` (reply the n times in s), `quit`. bench/interleaved.ts
    alternates these with our own steps, so both sides are timed minutes apart at most."""
    current = None
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(' ')
        if cmd == 'quit':
            break
        if cmd == 'net':
            current = None
            current = Served(arg, args)
            reply = {'counts': current.counts, 'torch': torch.__version__, 'threads': torch.get_num_threads()}
        elif cmd in ('train', 'infer'):
            reply = {'times': getattr(current, cmd)(int(arg))}
        else:
            reply = {'error': f'unknown command {line.strip()!r}'}
        reply['peakRssMiB'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(reply), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--threads', type=int, default=0, help='torch.set_num_threads (0: leave the default)')
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--samples', type=int, default=288000, help='clip length (18 s at 16 kHz)')
    p.add_argument('--classes', type=int, default=187, help='dcase2023 `main` label set')
    p.add_argument('--steps', type=int, default=3, help='timed training steps')
    p.add_argument('--infer-steps', type=int, default=3, help='timed inference batches')
    p.add_argument('--warmup', type=int, default=1, help='dropped iterations before each timing')
    p.add_argument('--nets', default='dual,multi')
    p.add_argument('--counts-only', action='store_true', help='only build the networks and print their counts')
    p.add_argument('--bf16', action='store_true', help="forward and loss under torch.autocast('cpu', dtype=torch.bfloat16)")
    p.add_argument('--trace', default='', help='write Chrome traces of the timed train steps to PREFIX-<net>.json')
    p.add_argument('--serve', action='store_true', help='take commands on stdin (see serve())')
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.serve:
        serve(args)
        return
    nets = [n for n in args.nets.split(',') if n]
    for n in nets:
        if n not in NETWORKS:
            p.error(f'unknown network {n!r} (choose from {", ".join(NETWORKS)})')
    result = {
        'torch': torch.__version__,
        'threads': torch.get_num_threads(),
        'ldPreload': os.environ.get('LD_PRELOAD', ''),
        'mallocConf': os.environ.get('MALLOC_CONF', ''),
        'batch': args.batch,
        'samples': args.samples,
        'classes': args.classes,
        'precision': 'bf16' if args.bf16 else 'fp32',
        'networks': [bench_network(n, args) for n in nets],
    }
    print(json.dumps(result))


if __name__ == '__main__':
    main()
