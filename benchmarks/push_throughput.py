"""Upload time of a 100 MB file: edgeeval's SSHTransport.put_file vs OpenSSH scp, same sshd board.

Times `put_file` (the upload itself, on an already-open connection, as in a deploy) against a
whole `scp` run (which also connects: ~50-70 ms of its figure). Rounds are interleaved, the
remote copy is deleted before each one. Value = median(edgeeval) / median(scp); target <= 1.0.
The board directory is on tmpfs (/dev/shm) when present so disk writeback noise hits neither side.

    python benchmarks/push_throughput.py [--rounds 3] [--mb 100]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeeval.testing.sshd import SSHDLab  # noqa: E402
from edgeeval.transport.ssh import SSHTransport, resolve_target  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mb", type=int, default=100)
    args = ap.parse_args()
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=base, prefix="edgeeval-push-") as tmp, SSHDLab(tmp, create_user=os.geteuid() == 0) as lab:
        board = lab.start_board("bench")
        src = Path(tmp) / "payload.bin"
        with open(src, "wb") as f:
            for _ in range(args.mb):
                f.write(os.urandom(1 << 20))
        remote = str(board.board_dir / "payload.bin")
        target = resolve_target("bench", "bench", lab.ssh_config_path)
        scp = ["scp", "-q", "-F", str(lab.ssh_config_path), "-o", "BatchMode=yes", str(src), f"bench:{remote}"]
        cipher = subprocess.run(["ssh", "-F", str(lab.ssh_config_path), "-G", "bench"], capture_output=True,
                                text=True).stdout
        scp_cipher = next((ln.split()[1].split(",")[0] for ln in cipher.splitlines() if ln.startswith("ciphers ")), "?")
        ours, theirs = [], []
        with SSHTransport(target) as tr:
            tr.run(["true"])
            for i in range(args.rounds):
                tr.remove(remote)
                t0 = time.perf_counter()
                tr.put_file(str(src), remote)
                ours.append(time.perf_counter() - t0)
                assert os.path.getsize(remote) == src.stat().st_size
                os.unlink(remote)
                t0 = time.perf_counter()
                subprocess.run(scp, check=True)
                theirs.append(time.perf_counter() - t0)
                print(f"round {i + 1}: edgeeval put_file {ours[-1]:.3f} s, scp {theirs[-1]:.3f} s", flush=True)
            our_cipher = tr._t.local_cipher
    value = statistics.median(ours) / statistics.median(theirs)
    print(json.dumps({"metric": "push_100mb_time_ratio_vs_scp", "value": round(value, 3), "target": "<=1.0",
                      "edgeeval_s": [round(x, 3) for x in ours], "scp_s": [round(x, 3) for x in theirs],
                      "cipher": {"edgeeval": our_cipher, "scp": scp_cipher}, "timed": "put_file",
                      "mb": args.mb, "board_dir_fs": "tmpfs" if base else "tmp"}))


if __name__ == "__main__":
    main()
