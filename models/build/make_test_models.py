"""Builds small deterministic ONNX models for Sentinel's tests (run in the project venv).

    make_test_models.py OUT_DIR

writes two model directories (model.onnx + model.json):
  OUT_DIR/mean-red     risk = mean red value of the tile (0..1), i.e. a known function of the pixels
  OUT_DIR/wrong-shape  a one-channel 64 px input that contradicts its model.json (must be rejected)
  OUT_DIR/mean-red-wsinfer  mean-red as a WSInfer folder (config.json, logits, no risk class)
"""
import json
import sys
from pathlib import Path

import onnx
from onnx import TensorProto, helper

OPSET = 17


def mean_red(size):
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])
    probs = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])
    consts = [
        helper.make_tensor("starts", TensorProto.INT64, [1], [0]),
        helper.make_tensor("ends", TensorProto.INT64, [1], [1]),
        helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
        helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        helper.make_tensor("unsq", TensorProto.INT64, [1], [1]),
    ]
    nodes = [
        helper.make_node("Slice", ["image", "starts", "ends", "axes"], ["red"]),
        helper.make_node("ReduceMean", ["red"], ["m"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Unsqueeze", ["m", "unsq"], ["m2"]),
        helper.make_node("Sub", ["one", "m2"], ["rest"]),
        helper.make_node("Concat", ["rest", "m2"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(nodes, "mean_red", [image], [probs], initializer=consts)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)


def mean_red_logits(size):
    """The mean-red model as a WSInfer network: logits whose softmax is mean-red's output."""
    model = mean_red(size)
    g = model.graph
    for node in g.node:
        if node.output[0] == "probabilities":
            node.output[0] = "p"
    g.initializer.append(helper.make_tensor("eps", TensorProto.FLOAT, [], [1e-7]))
    g.node.extend([
        helper.make_node("Max", ["p", "eps"], ["p_safe"]),
        helper.make_node("Log", ["p_safe"], ["logits"]),
    ])
    del g.output[:]
    g.output.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2]))
    return model


def wrong_shape():
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 64, 64])
    probs = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["m"], axes=[2, 3], keepdims=0),
        helper.make_node("Concat", ["m", "m"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(nodes, "wrong_shape", [image], [probs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)


def write(dir_, model, meta):
    dir_.mkdir(parents=True, exist_ok=True)
    onnx.checker.check_model(model)
    onnx.save(model, dir_ / "model.onnx")
    (dir_ / "model.json").write_text(json.dumps(meta, indent=2))


def main():
    out = Path(sys.argv[1])
    size = 64
    meta = {
        "name": "mean-red (test)",
        "version": "1",
        "input_size": size,
        "mpp": 0.5,
        "channel_order": "RGB",
        "mean": [0.0, 0.0, 0.0],
        "std": [1.0, 1.0, 1.0],
        "classes": ["other", "red"],
        "risk_class": "red",
        "output": "probabilities",
    }
    write(out / "mean-red", mean_red(size), meta)
    write(out / "wrong-shape", wrong_shape(), meta)
    # The same function as a WSInfer folder taken as it is: config.json in WSInfer-zoo form (a
    # 128 px patch at 0.25 µm/px resized to 64 px: 0.5 µm per input pixel), logits out, no risk
    # class named (tests choose it by flag or side file).
    wsinfer = out / "mean-red-wsinfer"
    wsinfer.mkdir(parents=True, exist_ok=True)
    logits = mean_red_logits(size)
    onnx.checker.check_model(logits)
    onnx.save(logits, wsinfer / "model.onnx")
    (wsinfer / "config.json").write_text(json.dumps({
        "spec_version": "1.0",
        "architecture": "mean-red",
        "num_classes": 2,
        "class_names": ["other", "red"],
        "patch_size_pixels": 2 * size,
        "spacing_um_px": 0.25,
        "transform": [
            {"name": "Resize", "arguments": {"size": size}},
            {"name": "ToTensor"},
            {"name": "Normalize", "arguments": {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}},
        ],
    }, indent=2))
    # The bundled model's input (224 px at 0.5 µm/px) at almost no inference cost: with it,
    # `sentinel bench analysis --model DIR/mean-red-224` shows the pipeline where decoding bounds
    # it, as on a fast GPU.
    write(out / "mean-red-224", mean_red(224), {**meta, "name": "mean-red 224 (bench)", "input_size": 224})


if __name__ == "__main__":
    main()
