"""A plain-PyTorch MultiResNet + SCAdaCos + Mixup, our own code after the spec's description
(shared/spec/frontends-and-training.md §2, §4, §5.4, §6.1) as the same-run baseline of
`npm run bench -- --only train`. It is a timing reference: the layer shapes (and so the
parameter counts) equal asdkit's native model; initialisation and RNG streams are PyTorch's
defaults and are not meant to match asdkit bit for bit.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

SR = 16000


class SE(nn.Module):
    """Squeeze-and-excitation (§4.2): channel means -> c//16 -> ReLU -> c -> sigmoid gate."""

    def __init__(self, c: int):
        super().__init__()
        self.fc1 = nn.Linear(c, c // 16, bias=False)
        self.fc2 = nn.Linear(c // 16, c, bias=False)

    def forward(self, x):
        squeezed = x.mean(dim=tuple(range(2, x.dim())))
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(squeezed))))
        return x * gate.view(gate.shape[0], gate.shape[1], *([1] * (x.dim() - 2)))


class FFTBranch(nn.Module):
    """§2.3 + §4.3: |rfft| of the whole clip, three strided conv1d + SE, then an MLP aggregate."""

    def __init__(self, length: int, emb: int = 128):
        super().__init__()
        lf = length // 2 + 1
        layers = []
        c_in = 1
        for k, s in ((256, 64), (64, 32), (16, 4)):
            layers += [nn.Conv1d(c_in, 128, k, stride=s, bias=False), nn.ReLU(), SE(128)]
            lf = (lf - k) // s + 1
            c_in = 128
        self.convs = nn.Sequential(*layers)
        mlp = [nn.Linear(128 * lf, 128, bias=False), nn.BatchNorm1d(128, affine=False), nn.ReLU()]
        for _ in range(4):
            mlp += [nn.Linear(128, 128, bias=False), nn.BatchNorm1d(128, affine=False), nn.ReLU()]
        mlp.append(nn.Linear(128, emb, bias=False))
        self.mlp = nn.Sequential(*mlp)

    def forward(self, wave):
        spec = torch.fft.rfft(wave).abs().unsqueeze(1)
        return self.mlp(self.convs(spec).flatten(1))


class LinearSTFT(nn.Module):
    """§2.2, linear branch: zero-padded centring, periodic Hann, window-normalised magnitude,
    power 1, bins 200–8000 Hz, no log."""

    def __init__(self, n_fft: int, hop: int, f_min: float = 200.0, f_max: float = 8000.0):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer('window', torch.hann_window(n_fft, periodic=True))
        freqs = torch.linspace(0, SR // 2, n_fft // 2 + 1, dtype=torch.float32)
        self.lo = int(torch.searchsorted(freqs, torch.tensor([f_min]), right=False))
        self.hi = int(torch.searchsorted(freqs, torch.tensor([f_max]), right=True))
        self.scale = float(self.window.pow(2).sum().sqrt())

    def bins(self) -> int:
        return self.hi - self.lo

    def forward(self, wave):
        x = F.pad(wave, (self.n_fft // 2, self.n_fft // 2))
        spec = torch.stft(x, self.n_fft, self.hop, window=self.window, center=False, return_complex=True)
        return spec[:, self.lo:self.hi].abs() / self.scale


class ResBlock(nn.Module):
    """§4.4 residual block: pre-BN; the skip starts from the normalised input."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn_in = nn.BatchNorm2d(c_in, affine=False)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn_mid = nn.BatchNorm2d(c_out, affine=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.se = SE(c_out)
        self.skip = None
        if stride == 2:
            self.skip = nn.Sequential(nn.MaxPool2d(3, stride=2, padding=1), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x):
        xb = self.bn_in(x)
        r = self.se(self.conv2(F.relu(self.bn_mid(self.conv1(F.relu(xb))))))
        return (xb if self.skip is None else self.skip(xb)) + r


class STFTBranch(nn.Module):
    """§4.4: STFT -> per-bin BN -> ResNet stem and stages 2–5 -> max over time -> BN -> Linear."""

    def __init__(self, n_fft: int, hop: int, emb: int = 128):
        super().__init__()
        self.stft = LinearSTFT(n_fft, hop)
        n_bins = self.stft.bins()
        self.bn_freq = nn.BatchNorm1d(n_bins, affine=False)
        self.stem = nn.Sequential(
            nn.Conv2d(1, 16, 7, stride=2, bias=False), nn.BatchNorm2d(16, affine=False), nn.ReLU(), nn.MaxPool2d(3, stride=2)
        )
        blocks = [ResBlock(16, 16, 1), ResBlock(16, 16, 1)]
        for c_in, c_out in ((16, 32), (32, 64), (64, 128)):
            blocks += [ResBlock(c_in, c_out, 2), ResBlock(c_out, c_out, 1)]
        self.blocks = nn.Sequential(*blocks)
        h = (n_bins - 7) // 2 + 1
        h = (h - 3) // 2 + 1
        for _ in range(3):
            h = (h - 1) // 2 + 1
        self.agg_bn = nn.BatchNorm1d(128 * h, affine=False)
        self.agg = nn.Linear(128 * h, emb, bias=False)

    def forward(self, wave):
        x = self.bn_freq(self.stft(wave)).unsqueeze(1)
        x = self.blocks(self.stem(x))
        x = x.amax(dim=-1).flatten(1)
        return self.agg(self.agg_bn(x))


class MultiResNet(nn.Module):
    """§4.1: FFT branch then one STFT branch per (n_fft, hop), embeddings concatenated."""

    def __init__(self, length: int, stfts, emb: int = 128):
        super().__init__()
        self.branches = nn.ModuleList([FFTBranch(length, emb)] + [STFTBranch(n, h, emb) for n, h in stfts])
        self.embed_size = emb * len(self.branches)

    def forward(self, wave):
        return torch.cat([b(wave) for b in self.branches], dim=1)


NETWORKS = {
    'dual': [(1024, 512)],
    'multi': [(256, 128), (1024, 512), (4096, 2048)],
}


class SCAdaCos(nn.Module):
    """§5.4, fixed scale: W (E × C·K) Xavier-uniform, class c owns columns c·K … c·K+K−1;
    loss = mean_b −Σ_c y_bc · ln Σ_k softmax(s·cos)[c·K+k]."""

    def __init__(self, embed_size: int, n_classes: int, k: int = 16, trainable: bool = True):
        super().__init__()
        self.k = k
        self.W = nn.Parameter(torch.empty(embed_size, n_classes * k), requires_grad=trainable)
        nn.init.xavier_uniform_(self.W)
        self.s = nn.Parameter(torch.tensor(math.sqrt(2.0) * math.log(n_classes * k - 1)), requires_grad=False)

    def forward(self, x, y):
        cos = F.normalize(x, dim=1, eps=1e-12) @ F.normalize(self.W, dim=0, eps=1e-12)
        p = torch.softmax(self.s * cos, dim=1)
        p_class = p.view(p.shape[0], -1, self.k).sum(dim=2)
        return -(y * torch.log(p_class)).sum(dim=1).mean()


def mixup(wave, onehot, prob: float = 0.5):
    """§6.1: λ ~ U(0,1) per sample, one permutation, Bernoulli(prob) mask; waves and labels alike."""
    b = wave.shape[0]
    lam = torch.rand(b)
    perm = torch.randperm(b)
    mask = (torch.rand(b) < prob).float()

    def mix(t):
        shape = (b,) + (1,) * (t.dim() - 1)
        lt, mt = lam.view(shape), mask.view(shape)
        return mt * (lt * t + (1 - lt) * t[perm]) + (1 - mt) * t

    return mix(wave), mix(onehot)


def counts(extractor: nn.Module, head: nn.Module):
    """Same fields as asdkit's `counts()`: trainable / frozen parameter elements, buffer elements
    (BN running stats and counters, STFT windows), embedding size."""
    params = list(extractor.parameters()) + list(head.parameters())
    return {
        'trainable': sum(p.numel() for p in params if p.requires_grad),
        'frozen': sum(p.numel() for p in params if not p.requires_grad),
        'buffers': sum(b.numel() for b in extractor.buffers()) + sum(b.numel() for b in head.buffers()),
        'embedSize': extractor.embed_size,
    }


def forward_macs(extractor: nn.Module, samples: int) -> dict:
    """Multiply-accumulates of one clip's forward pass through the extractor's Conv1d, Conv2d and
    Linear layers, counted with forward hooks from the shapes they see (output elements × the
    inputs each one sums over). FFTs, BatchNorm, pooling and elementwise ops are not counted:
    they are a few per cent of the arithmetic and not matrix products."""
    per_layer = {'conv1d': 0, 'conv2d': 0, 'linear': 0}

    def hook(kind):
        def count(m, inputs, out):
            if kind == 'linear':
                per_layer[kind] += out.numel() * m.in_features
            else:
                k = 1
                for d in m.kernel_size:
                    k *= d
                per_layer[kind] += out.numel() * (m.in_channels // m.groups) * k

        return count

    kinds = {nn.Conv1d: 'conv1d', nn.Conv2d: 'conv2d', nn.Linear: 'linear'}
    handles = [m.register_forward_hook(hook(kinds[type(m)])) for m in extractor.modules() if type(m) in kinds]
    was_training = extractor.training
    extractor.eval()
    try:
        with torch.inference_mode():
            extractor(torch.zeros(1, samples))
    finally:
        extractor.train(was_training)
        for h in handles:
            h.remove()
    return {'total': sum(per_layer.values()), **per_layer}
