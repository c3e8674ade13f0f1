"""Where the loss comes from: server FP32 -> the same quantized artifact on the controller -> the board.

For every quantized variant the controller runs the very file pushed to the board (onnxruntime
for .onnx, the controller's LiteRT interpreter for .tflite) over the eval set (edgeeval/reference,
cached like the server baseline by model and dataset sha256). Quantization loss (fp32 -> controller) and
device/runtime loss (controller -> board) are then separate numbers; a board that loses
accuracy the controller does not is flagged.
"""

from __future__ import annotations

DEVICE_LOSS_PT = 0.5          # board below the controller-quantized accuracy by more than this: flagged
DEVICE_MIN_AGREEMENT = 0.99   # or top-1 agreement board vs controller-quantized below this
DEVICE_MIN_COSINE = 0.99      # or the mean cosine board vs controller below this (every model kind:
                              # embeddings and regressors have no labels and no top-1)


def loss_chain(scoring: dict, labels, baseline: dict | None, controller: dict | None,
               device: dict | None) -> dict:
    """{quantization_drop_pt, device_drop_pt, device_fidelity, device_loss_flag, controller_top1, reason}.

    `scoring` names the scored outputs (evaluate/scoring.py); accuracy reads the predicted label
    when there is one, else the argmax of the scores; fidelity reads the scored output.
    """
    from .accuracy import accuracy_of
    from .fidelity import fidelity, label_fidelity
    from .scoring import output_kind, predictions
    from .scoring import primary as scored

    primary = scored(scoring)
    out = {"quantization_drop_pt": None, "device_drop_pt": None, "controller_top1": None,
           "device_fidelity": None, "device_loss_flag": None, "reason": None,
           "device_loss_reasons": [],
           "thresholds": {"device_drop_pt": DEVICE_LOSS_PT, "top1_agreement": DEVICE_MIN_AGREEMENT,
                          "cosine_mean": DEVICE_MIN_COSINE}}
    why = []
    if controller is None or primary not in controller:
        out["reason"] = "no controller run of the quantized artifact"
        return out
    if device is not None and primary in device:
        try:
            kind = label_fidelity if output_kind(controller[primary]) == "label" else fidelity
            f = kind(controller[primary], device[primary])
            out["device_fidelity"] = {k: f.get(k) for k in ("cosine_mean", "cosine_min", "max_abs_error",
                                                              "top1_agreement")}
        except ValueError as e:
            why.append(f"device vs controller: {e}")
    else:
        why.append("no device outputs")
    if labels is not None:
        c = accuracy_of(predictions(controller, scoring), labels)
        out["controller_top1"] = c
        if baseline is not None and primary in baseline:
            out["quantization_drop_pt"] = round((accuracy_of(predictions(baseline, scoring), labels) - c) * 100.0, 9)
        if device is not None and primary in device:
            out["device_drop_pt"] = round((c - accuracy_of(predictions(device, scoring), labels)) * 100.0, 9)
    else:
        why.append("the eval set has no labels: accuracy drops unknown")
    fid = out["device_fidelity"] or {}
    agree, cos = fid.get("top1_agreement"), fid.get("cosine_mean")
    flags = out["device_loss_reasons"]
    if out["device_drop_pt"] is not None and out["device_drop_pt"] > DEVICE_LOSS_PT:
        flags.append(f"accuracy {out['device_drop_pt']:.2f} pt below the controller (limit {DEVICE_LOSS_PT})")
    if agree is not None and agree < DEVICE_MIN_AGREEMENT:
        flags.append(f"top-1 agreement with the controller {agree:.4f} (limit {DEVICE_MIN_AGREEMENT})")
    if cos is not None and cos < DEVICE_MIN_COSINE:
        flags.append(f"mean cosine to the controller {cos:.4f} (limit {DEVICE_MIN_COSINE})")
    if out["device_drop_pt"] is not None or agree is not None or cos is not None:
        out["device_loss_flag"] = bool(flags)
    out["reason"] = "; ".join(why) or None
    return out
