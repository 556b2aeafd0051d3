"""A peer for bench/train_bench.py: the same WaveGAN step written in PyTorch.

What a user would otherwise pick: the same generator (dense projection, five stride-4
transposed convolutions of length 25, ReLU, tanh) and critic (five stride-4
convolutions, LeakyReLU 0.2, phase shuffle of radius 2 after the first four), the same
WGAN-GP step (5 critic updates with the gradient penalty, 1 generator update, Adam
1e-4, betas 0.5/0.9), in PyTorch's native channels-first layout. Not a dependency of
the product: it runs in a separate environment with torch (see README, Benchmarks).

Usage: python bench/torch_peer.py --model-size 16 --batch-size 16 --steps 3 [--device cuda]
Prints one JSON line: seconds per generator step and this process's fp32 matmul rate.
On CUDA, TensorFloat-32 is allowed for matmuls and convolutions, as TensorFlow does by default.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch
from torch import nn
from torch.nn import functional as F

SLICE_LEN, LATENT, KERNEL, STRIDE, RADIUS, D_UPDATES, GP_LAMBDA = 16384, 100, 25, 4, 2, 5, 10.0


class Generator(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.d = d
        self.project = nn.Linear(LATENT, 16 * 16 * d)
        channels = [16 * d, 8 * d, 4 * d, 2 * d, d, 1]
        # padding 11 + output_padding 1: each layer multiplies the length by exactly 4
        self.ups = nn.ModuleList(nn.ConvTranspose1d(a, b, KERNEL, STRIDE, padding=11, output_padding=1)
                                 for a, b in zip(channels, channels[1:]))

    def forward(self, z):
        x = F.relu(self.project(z).view(-1, 16 * self.d, 16))
        for i, up in enumerate(self.ups):
            x = up(x)
            x = torch.tanh(x) if i == len(self.ups) - 1 else F.relu(x)
        return x


def phase_shuffle(x):
    phase = int(torch.randint(-RADIUS, RADIUS + 1, ()))
    padded = F.pad(x, (RADIUS, RADIUS), mode="reflect")
    return padded[:, :, RADIUS - phase:RADIUS - phase + x.shape[2]]


class Discriminator(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        channels = [1, d, 2 * d, 4 * d, 8 * d, 16 * d]
        self.convs = nn.ModuleList(nn.Conv1d(a, b, KERNEL, STRIDE, padding=11)
                                   for a, b in zip(channels, channels[1:]))
        self.output = nn.Linear(16 * 16 * d, 1)

    def forward(self, x):
        for i, conv in enumerate(self.convs):
            x = F.leaky_relu(conv(x), 0.2)
            if i < 4:
                x = phase_shuffle(x)
        return self.output(x.flatten(1))[:, 0]


def train_step(G, D, g_opt, d_opt, real_batches, batch):
    device = real_batches[0].device
    for real in real_batches:
        z = torch.rand(batch, LATENT, device=device) * 2 - 1
        with torch.no_grad():
            fake = G(z)
        alpha = torch.rand(batch, 1, 1, device=device)
        mixed = (real + alpha * (fake - real)).requires_grad_(True)
        grads, = torch.autograd.grad(D(mixed).sum(), mixed, create_graph=True)
        penalty = (grads.flatten(1).norm(dim=1) - 1).square().mean()
        d_loss = D(fake).mean() - D(real).mean() + GP_LAMBDA * penalty
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
    z = torch.rand(batch, LATENT, device=device) * 2 - 1
    g_loss = -D(G(z)).mean()
    g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    g_opt.step()
    return float(g_loss.detach())


def matmul_gflops(device: str, repeats: int = 10) -> float:
    n = 8192 if device == "cuda" else 2048
    a = torch.randn(n, n, device=device)
    a @ a
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        float((a @ a).sum())  # the sum brings one number back: the device has finished
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / sorted(times)[len(times) // 2] / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-size", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count())
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    G, D = Generator(args.model_size).to(args.device), Discriminator(args.model_size).to(args.device)
    g_opt = torch.optim.Adam(G.parameters(), 1e-4, betas=(0.5, 0.9))
    d_opt = torch.optim.Adam(D.parameters(), 1e-4, betas=(0.5, 0.9))
    data = torch.rand(args.batch_size * 4, 1, SLICE_LEN, device=args.device) - 0.5
    batches = [data[i * args.batch_size:(i + 1) * args.batch_size] for i in range(4)]
    real_batches = [batches[k % 4] for k in range(D_UPDATES)]
    train_step(G, D, g_opt, d_opt, real_batches, args.batch_size)  # warm-up
    start = time.perf_counter()
    for _ in range(args.steps):
        train_step(G, D, g_opt, d_opt, real_batches, args.batch_size)
    seconds = (time.perf_counter() - start) / args.steps
    print(json.dumps({"torch": torch.__version__, "device": args.device, "s_per_step": seconds,
                      "matmul_gflop_s": matmul_gflops(args.device)}))


if __name__ == "__main__":
    main()
