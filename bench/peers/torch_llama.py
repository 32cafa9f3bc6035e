"""Plain PyTorch peer for `npm run bench -- model`: the same Llama computation as lmforge's, written directly on
torch tensors (Debian's python3-torch has no transformers), measured in a fresh process per task so peak RSS is the
task's own.

usage: python3 torch_llama.py TASK THREADS
  TASK: forward-1x512 forward-4x256 lora-step full-step generate (batch 1) generate-b8 (8 prompts of 32 tokens)
prints one JSON line: {"task", "tokens_per_s", "seconds", "peak_rss_mb", "threads"}
"""
import json
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F
import torch.utils.checkpoint

V, C, FF, L, H, KVH = 49152, 576, 1536, 30, 9, 3
D = C // H
EPS, THETA = 1e-5, 100000.0


def rms_norm(x, w):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS))


def rope_tables(positions):
    inv = 1.0 / (THETA ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
    freqs = positions[..., None].float() * inv  # [B, T, D/2]
    emb = torch.cat([freqs, freqs], -1)
    return emb.cos()[:, :, None, :], emb.sin()[:, :, None, :]


def rotate_half(x):
    x1, x2 = x[..., : D // 2], x[..., D // 2 :]
    return torch.cat([-x2, x1], -1)


class Lora(torch.nn.Module):
    def __init__(self, base, r=8, alpha=16):
        super().__init__()
        self.base = base
        self.a = torch.nn.Parameter(torch.empty(r, base.in_features).uniform_(-1 / math.sqrt(base.in_features), 1 / math.sqrt(base.in_features)))
        self.b = torch.nn.Parameter(torch.zeros(base.out_features, r))
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + (x @ self.a.t() @ self.b.t()) * self.scaling


class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        lin = lambda i, o: torch.nn.Linear(i, o, bias=False)
        self.q, self.k, self.v, self.o = lin(C, H * D), lin(C, KVH * D), lin(C, KVH * D), lin(H * D, C)
        self.gate, self.up, self.down = lin(C, FF), lin(C, FF), lin(FF, C)
        self.n1 = torch.nn.Parameter(torch.ones(C))
        self.n2 = torch.nn.Parameter(torch.ones(C))

    def forward(self, x, cos, sin, cache=None):
        b, t, _ = x.shape
        h = rms_norm(x, self.n1)
        q = self.q(h).view(b, t, H, D)
        k = self.k(h).view(b, t, KVH, D)
        v = self.v(h).view(b, t, KVH, D)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], 1)
                v = torch.cat([cache["v"], v], 1)
            cache["k"], cache["v"] = k, v
        s = k.shape[1]
        qh = q.transpose(1, 2)  # [B, H, T, D]
        kh = k.transpose(1, 2).repeat_interleave(H // KVH, 1)
        vh = v.transpose(1, 2).repeat_interleave(H // KVH, 1)
        scores = qh @ kh.transpose(-1, -2) / math.sqrt(D)
        mask = torch.ones(t, s, dtype=torch.bool).tril(s - t)
        scores = scores.masked_fill(~mask, float("-inf"))
        a = (scores.softmax(-1) @ vh).transpose(1, 2).reshape(b, t, H * D)
        x = x + self.o(a)
        h = rms_norm(x, self.n2)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(V, C)
        self.layers = torch.nn.ModuleList([Layer() for _ in range(L)])
        self.norm = torch.nn.Parameter(torch.ones(C))
        for p in self.parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, std=0.02)

    def forward(self, ids, positions, caches=None, checkpointing=False):
        cos, sin = rope_tables(positions)
        x = self.emb(ids)
        for i, layer in enumerate(self.layers):
            if checkpointing:
                # recompute each layer in the backward, as HF's gradient_checkpointing does
                x = torch.utils.checkpoint.checkpoint(layer, x, cos, sin, use_reentrant=False)
            else:
                x = layer(x, cos, sin, None if caches is None else caches[i])
        return rms_norm(x, self.norm) @ self.emb.weight.t()  # tied head


def add_lora(model):
    for p in model.parameters():
        p.requires_grad_(False)
    for layer in model.layers:
        for name in ["q", "k", "v", "o", "gate", "up", "down"]:
            setattr(layer, name, Lora(getattr(layer, name)))


def step(model, opt, b, t):
    ids = torch.randint(0, V, (b, t))
    pos = torch.arange(t).expand(b, t)
    logits = model(ids, pos)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def main():
    task, threads = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = Model()
    if task.startswith("forward"):
        b, t = (1, 512) if task == "forward-1x512" else (4, 256)
        ids = torch.randint(0, V, (b, t))
        pos = torch.arange(t).expand(b, t)
        with torch.no_grad():
            model(ids, pos)
            reps, t0 = 3, time.perf_counter()
            for _ in range(reps):
                model(ids, pos)
        secs = (time.perf_counter() - t0) / reps
        tokens = b * t
    elif task in ("lora-step", "full-step"):
        if task == "lora-step":
            add_lora(model)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-4)
        step(model, opt, 1, 512)
        reps, t0 = 2, time.perf_counter()
        for _ in range(reps):
            step(model, opt, 1, 512)
        secs = (time.perf_counter() - t0) / reps
        tokens = 512
    elif task in ("sft-accum", "sft-accum-ckpt"):
        # LoRA SFT: batch 4 as 4 accumulated micro-batches of 1 x 512, loss summed over tokens and divided by the
        # accumulated token count, clipping at 1.0, AdamW; gradient checkpointing per layer for -ckpt.
        add_lora(model)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-4)
        ckpt = task.endswith("ckpt")

        def update():
            micro = [torch.randint(0, V, (1, 512)) for _ in range(4)]
            total = 4 * 511
            for ids in micro:
                logits = model(ids, torch.arange(512)[None], checkpointing=ckpt)
                loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1), reduction="sum") / total
                loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)

        update()
        reps, t0 = 2, time.perf_counter()
        for _ in range(reps):
            update()
        secs = (time.perf_counter() - t0) / reps
        tokens = 4 * 512
    elif task in ("generate", "generate-b8"):
        # Greedy decoding with a KV cache: prefill the 32-token prompts, then 127 single-token steps (128 new tokens
        # per row). Prompts share one length, so no padding is involved.
        b = 8 if task == "generate-b8" else 1
        prompt = torch.randint(0, V, (b, 32))
        with torch.no_grad():
            t0 = time.perf_counter()
            caches = [{} for _ in range(L)]
            logits = model(prompt, torch.arange(32).expand(b, 32), caches)
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            for i in range(127):
                logits = model(nxt, torch.full((b, 1), 32 + i), caches)
                nxt = logits[:, -1].argmax(-1, keepdim=True)
            secs = time.perf_counter() - t0
        tokens = 128 * b
    else:
        raise SystemExit(f"unknown task {task}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"task": task, "tokens_per_s": tokens / secs, "seconds": secs, "peak_rss_mb": rss, "threads": threads}))


if __name__ == "__main__":
    main()
