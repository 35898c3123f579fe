"""One process of the two-process DistributedDataParallel test (started by torchrun from
tests/test_protocol.py). Trains meso4 on a toy frame table and writes, after every
epoch, a hash of this process's parameters, so the test can check they stay identical."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pandas as pd
import torch

from forgebench.detectors import training
from forgebench.detectors.distributed import dist_info, init_distributed


def main(run_dir: str, frames_path: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    info, device = init_distributed(torch.device("cpu"))
    assert info.world_size == 2, info
    real_epoch = training._train_epoch

    def hashed_epoch(model, *args, **kwargs):
        loss = real_epoch(model, *args, **kwargs)
        h = hashlib.sha256()
        for k, v in sorted(model.module.named_parameters()):  # BatchNorm buffers: rank 0's at each forward
            h.update(k.encode() + v.detach().cpu().numpy().tobytes())
        Path(out_dir).parent.mkdir(parents=True, exist_ok=True)
        with open(Path(out_dir).parent / f"rank{dist_info().rank}.txt", "a") as f:
            f.write(h.hexdigest() + "\n")
        return loss

    training._train_epoch = hashed_epoch
    settings = training.TrainSettings(epochs=2, batch_size=8, image_size=64, augment=True, patience=None)
    frames = pd.read_parquet(frames_path)
    training.train_and_evaluate("meso4", settings, frames, Path(run_dir), Path(out_dir), device, 0, "toyswap", progress=False)
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:4])
