"""One process of the two-process DistributedDataParallel test (started by torchrun from
tests/test_protocol.py). Trains meso4 on a toy frame table and writes, after every
epoch, a hash of this process's parameters, so the test can check they stay identical."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pandas as pd
import torch
from toy_data import with_files

from forgebench.detectors import TrainSettings, dist_info, init_distributed
from forgebench.detectors import _training as training
from forgebench.protocol import ProtocolSettings
from forgebench.stages import DetectorFiles
from forgebench.stages.train import TrainJob, train_unit


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
    settings = TrainSettings(epochs=2, batch_size=8, image_size=64, augment=True, patience=None)
    frames = with_files(pd.read_parquet(frames_path), Path(run_dir))
    job = TrainJob("meso4", settings, ProtocolSettings(), "toyswap", None, DetectorFiles(Path(out_dir)), 0)
    train_unit(job, frames, device, progress=False)
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:4])
