//! The model contract: a directory with `model.onnx` and `model.json`. The metadata says how to feed
//! the network and how to read it; loading checks the ONNX graph against it and names the field
//! that disagrees, so any compatible model drops in without code changes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::runtime::{self, RuntimeError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// Raw scores: a softmax is applied.
    Logits,
    /// Already probabilities.
    Probabilities,
}

/// `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelMeta {
    pub name: String,
    pub version: String,
    /// Square input edge, pixels.
    pub input_size: u32,
    /// Microns per pixel the model was trained at.
    pub mpp: f64,
    pub channel_order: ChannelOrder,
    /// Pixel values are divided by 255, then `(x - mean) / std` per channel (in `channel_order`).
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub classes: Vec<String>,
    /// The class whose probability is the "risk" shown in the heatmap.
    pub risk_class: String,
    pub output: OutputKind,
    /// A smaller or faster ONNX file in the same directory (e.g. INT8) that the CPU runs instead of
    /// `model.onnx`, unless full precision is asked for. Only for a variant that passed the
    /// per-tile agreement rule of `models/build/agreement.py`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_variant: Option<String>,
    /// Maps the risk class's raw probability to the risk shown and thresholded. Absent: the raw
    /// probability is the risk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// The default operating threshold on the (calibrated) risk and what it means, as measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<OperatingPoint>,
}

/// How a raw class probability becomes the risk score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase", deny_unknown_fields)]
pub enum Calibration {
    /// Platt scaling on the logit: `risk = sigmoid(a * logit(p) + b)`.
    Platt { a: f64, b: f64 },
}

/// Where scores clamp before the logit: a softmax output of exactly 0 or 1 stays finite.
const LOGIT_EPS: f64 = 1e-7;

impl Calibration {
    pub fn apply(&self, p: f32) -> f32 {
        match *self {
            Calibration::Platt { a, b } => {
                let p = f64::from(p).clamp(LOGIT_EPS, 1.0 - LOGIT_EPS);
                let z = a * (p / (1.0 - p)).ln() + b;
                (1.0 / (1.0 + (-z).exp())) as f32
            }
        }
    }
}

/// A default threshold with the figures that justify it (shown in the legend and summaries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatingPoint {
    pub value: f32,
    /// E.g. "0.56: 89% sensitivity (95% CI 76%-95%), 93% specificity (82%-98%) on 89 Camelyon16
    /// patches, leave-one-slide-out".
    pub meaning: String,
}

/// A threshold for models that state none: even odds on the raw probability.
pub const UNCALIBRATED_THRESHOLD: f32 = 0.5;

/// One tile's output: the risk (calibrated where the model says how) and the raw class probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TileScore {
    pub risk: f32,
    pub raw: f32,
}

/// Where inference runs. `Auto` tries TensorRT, then CUDA, then the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Device {
    #[default]
    Auto,
    Cpu,
    Cuda,
    Tensorrt,
}

/// The execution provider a loaded model runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Cpu,
    Cuda,
    TensorRt,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
            Provider::TensorRt => "tensorrt",
        }
    }
}

/// How to load a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Intra-op threads for the CPU provider.
    pub threads: usize,
    pub device: Device,
    /// Run `model.onnx` on the CPU even where `cpu_variant` names a faster file.
    pub full_precision: bool,
}

impl LoadOptions {
    pub fn cpu(threads: usize) -> Self {
        Self {
            threads,
            device: Device::Cpu,
            full_precision: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid model.json at line {line}, column {column}: {message}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: field `{field}`: {message}")]
    Field {
        path: PathBuf,
        field: &'static str,
        message: String,
    },
    #[error(
        "{path}: a WSInfer model does not say which class is the risk: choose one of {classes:?} (--risk-class NAME, or {file} beside config.json with {{\"risk_class\": NAME}})",
        file = super::wsinfer::RISK_CLASS_FILE
    )]
    RiskClassNeeded { path: PathBuf, classes: Vec<String> },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("{path}: ONNX Runtime cannot load the model: {message}")]
    Onnx { path: PathBuf, message: String },
    #[error("{path}: inference failed: {message}")]
    Inference { path: PathBuf, message: String },
}

impl ModelMeta {
    /// Reads and checks `model.json` on its own (no ONNX Runtime needed).
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.into(),
            source,
        })?;
        let meta: ModelMeta = serde_json::from_slice(&bytes).map_err(|e| ModelError::Json {
            path: path.into(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        meta.check(path)?;
        Ok(meta)
    }

    /// The metadata of the model folder `dir`: its `model.json`, or a WSInfer `config.json` read
    /// as one (risk class `risk_class`, else its side file). Returns the metadata files too: with
    /// the ONNX file, they are what a stored result depends on.
    pub fn load_dir(
        dir: &Path,
        risk_class: Option<&str>,
    ) -> Result<(Self, Vec<PathBuf>), ModelError> {
        if super::wsinfer::is_wsinfer(dir) {
            return super::wsinfer::load(dir, risk_class);
        }
        let json = dir.join("model.json");
        let meta = Self::load(&json)?;
        match risk_class {
            Some(r) if r != meta.risk_class => Err(ModelError::Field {
                path: json,
                field: "risk_class",
                message: format!(
                    "is {:?}; another risk class ({r:?}) is chosen only for WSInfer folders",
                    meta.risk_class
                ),
            }),
            _ => Ok((meta, vec![json])),
        }
    }
}

/// What a stored result of a model depends on: SHA-256 (hex) over its ONNX file and metadata
/// files, and the risk class where the caller chose it (a WSInfer folder).
pub fn model_hash(
    onnx: &Path,
    meta_files: &[PathBuf],
    chosen_risk_class: Option<&str>,
) -> std::io::Result<String> {
    let mut files = vec![onnx];
    files.extend(meta_files.iter().map(PathBuf::as_path));
    let hash = super::result::files_hash(&files)?;
    Ok(match chosen_risk_class {
        None => hash,
        Some(r) => {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(hash.as_bytes());
            h.update(b"\0risk_class\0");
            h.update(r.as_bytes());
            h.finalize().iter().map(|b| format!("{b:02x}")).collect()
        }
    })
}

impl ModelMeta {
    /// The risk class the caller chose for the folder `dir` where it decides what the model
    /// computes: in a WSInfer folder (where it overrides the side file); a `model.json` names its own.
    pub fn chosen_risk_class<'a>(dir: &Path, risk_class: Option<&'a str>) -> Option<&'a str> {
        risk_class.filter(|_| super::wsinfer::is_wsinfer(dir))
    }

    pub(crate) fn check(&self, path: &Path) -> Result<(), ModelError> {
        let field = |field: &'static str, message: String| ModelError::Field {
            path: path.into(),
            field,
            message,
        };
        if self.input_size == 0 || self.input_size > 4096 {
            return Err(field(
                "input_size",
                format!("{} is not a usable tile size", self.input_size),
            ));
        }
        if !(self.mpp.is_finite() && self.mpp > 0.0) {
            return Err(field(
                "mpp",
                format!("{} is not a positive number of microns", self.mpp),
            ));
        }
        if let Some(s) = self.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(field(
                "std",
                format!("{s} would divide by zero or flip the sign"),
            ));
        }
        if self.classes.len() < 2 {
            return Err(field(
                "classes",
                "a classifier needs at least two classes".into(),
            ));
        }
        if let Some(v) = &self.cpu_variant {
            let plain = Path::new(v).file_name().is_some_and(|n| n == v.as_str());
            if !plain || !v.ends_with(".onnx") {
                return Err(field(
                    "cpu_variant",
                    format!("{v:?} must be the name of an .onnx file beside model.json"),
                ));
            }
        }
        if let Some(Calibration::Platt { a, b }) = self.calibration
            && !(a.is_finite() && a > 0.0 && b.is_finite())
        {
            return Err(field(
                "calibration",
                format!(
                    "a = {a}, b = {b}: a must be positive (risk rises with the probability) and both finite"
                ),
            ));
        }
        if let Some(t) = &self.threshold
            && !(t.value.is_finite() && t.value > 0.0 && t.value < 1.0)
        {
            return Err(field(
                "threshold",
                format!("{} is not a threshold strictly between 0 and 1", t.value),
            ));
        }
        if self.risk_index().is_none() {
            return Err(field(
                "risk_class",
                format!(
                    "{:?} is not one of the classes {:?}",
                    self.risk_class, self.classes
                ),
            ));
        }
        Ok(())
    }

    /// The default threshold on the risk: the model's stated operating point, else 0.5.
    pub fn default_threshold(&self) -> f32 {
        self.threshold
            .as_ref()
            .map_or(UNCALIBRATED_THRESHOLD, |t| t.value)
    }

    /// What `threshold` means for this model, where the model states it (only for its own
    /// operating point: another value was not measured).
    pub fn threshold_meaning(&self, threshold: f32) -> Option<&str> {
        self.threshold
            .as_ref()
            .filter(|t| t.value == threshold)
            .map(|t| t.meaning.as_str())
    }

    /// The risk for a raw probability of the risk class.
    pub fn calibrate(&self, raw: f32) -> f32 {
        self.calibration.map_or(raw, |c| c.apply(raw))
    }

    /// Index of the risk class among the outputs.
    pub fn risk_index(&self) -> Option<usize> {
        self.classes.iter().position(|c| c == &self.risk_class)
    }

    /// Converts an RGBA tile of `input_size`² pixels into the model's NCHW float input (appended to
    /// `out`, so a batch is built by calling this once per tile).
    pub fn normalise_into(&self, rgba: &[u8], out: &mut Vec<f32>) {
        let n = (self.input_size * self.input_size) as usize;
        debug_assert_eq!(rgba.len(), n * 4);
        let order: [usize; 3] = match self.channel_order {
            ChannelOrder::Rgb => [0, 1, 2],
            ChannelOrder::Bgr => [2, 1, 0],
        };
        for (plane, &src) in order.iter().enumerate() {
            let (m, s) = (self.mean[plane], self.std[plane]);
            out.extend(
                rgba.chunks_exact(4)
                    .map(|px| (f32::from(px[src]) / 255.0 - m) / s),
            );
        }
    }
}

/// A loaded, checked model.
pub struct Model {
    pub dir: PathBuf,
    pub meta: ModelMeta,
    /// The ONNX file that runs (`model.onnx` or the CPU variant).
    pub onnx: PathBuf,
    /// `model.json`, or a WSInfer folder's `config.json` (and risk-class file).
    pub meta_files: Vec<PathBuf>,
    /// The risk class the caller chose, where it decides it (see [`model_hash`]).
    chosen_risk_class: Option<String>,
    pub provider: Provider,
    session: ort::session::Session,
    input_name: String,
}

impl Model {
    /// Loads `dir/model.json` and its ONNX file on the first provider that `options.device` allows
    /// and that works here, and checks that graph and metadata agree.
    pub fn load(dir: &Path, options: LoadOptions) -> Result<Self, ModelError> {
        Self::load_with(dir, None, options)
    }

    /// [`Model::load`] with the risk class chosen here (a WSInfer folder names none).
    pub fn load_with(
        dir: &Path,
        risk_class: Option<&str>,
        options: LoadOptions,
    ) -> Result<Self, ModelError> {
        let (meta, meta_files) = ModelMeta::load_dir(dir, risk_class)?;
        let env = runtime::environment()?;
        let candidates: &[Provider] = match options.device {
            Device::Auto => &[Provider::TensorRt, Provider::Cuda, Provider::Cpu],
            Device::Cpu => &[Provider::Cpu],
            Device::Cuda => &[Provider::Cuda],
            Device::Tensorrt => &[Provider::TensorRt],
        };
        let mut last = None;
        for &provider in candidates {
            let onnx = match (&meta.cpu_variant, provider) {
                (Some(v), Provider::Cpu) if !options.full_precision => dir.join(v),
                _ => dir.join("model.onnx"),
            };
            if !onnx.is_file() {
                return Err(ModelError::Io {
                    path: onnx,
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                });
            }
            match session_on(env, provider, &onnx, options.threads) {
                Ok(session) => {
                    let input_name = check_graph(&session, &meta, &onnx)?;
                    tracing::info!("{}: running on {}", onnx.display(), provider.name());
                    return Ok(Self {
                        dir: dir.to_path_buf(),
                        meta,
                        onnx,
                        meta_files,
                        chosen_risk_class: ModelMeta::chosen_risk_class(dir, risk_class)
                            .map(str::to_owned),
                        provider,
                        session,
                        input_name,
                    });
                }
                Err(e) => {
                    tracing::info!("{}: {} unavailable: {e}", onnx.display(), provider.name());
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| ModelError::Onnx {
            path: dir.join("model.onnx"),
            message: "no execution provider to try".into(),
        }))
    }

    /// What a stored result of this model depends on (see [`model_hash`]).
    pub fn hash(&self) -> std::io::Result<String> {
        model_hash(
            &self.onnx,
            &self.meta_files,
            self.chosen_risk_class.as_deref(),
        )
    }

    /// Runs a batch (`count` tiles, NCHW, from [`ModelMeta::normalise_into`]) and returns the risk
    /// of each tile (calibrated where the model says how).
    pub fn risk(&mut self, batch: &[f32], count: usize) -> Result<Vec<f32>, ModelError> {
        Ok(self
            .scores(batch, count)?
            .into_iter()
            .map(|s| s.risk)
            .collect())
    }

    /// Like [`Model::risk`], with each tile's raw class probability beside its risk.
    pub fn scores(&mut self, batch: &[f32], count: usize) -> Result<Vec<TileScore>, ModelError> {
        let s = self.meta.input_size as usize;
        let error = |message: String| ModelError::Inference {
            path: self.onnx.clone(),
            message,
        };
        let input = ndarray::ArrayView4::from_shape((count, 3, s, s), batch)
            .map_err(|e| error(e.to_string()))?;
        let tensor =
            ort::value::TensorRef::from_array_view(input).map_err(|e| error(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(|e| error(e.to_string()))?;
        let scores = outputs[0]
            .try_extract_array::<f32>()
            .map_err(|e| error(e.to_string()))?;
        let classes = self.meta.classes.len();
        let risk = self.meta.risk_index().unwrap_or(0);
        let flat: Vec<f32> = scores.iter().copied().collect();
        if flat.len() != count * classes {
            return Err(error(format!(
                "expected {} scores, got {}",
                count * classes,
                flat.len()
            )));
        }
        Ok(flat
            .chunks_exact(classes)
            .map(|row| {
                let raw = match self.meta.output {
                    OutputKind::Probabilities => row[risk],
                    OutputKind::Logits => softmax_at(row, risk),
                };
                TileScore {
                    risk: self.meta.calibrate(raw),
                    raw,
                }
            })
            .collect())
    }
}

/// A session for `onnx` on `provider`; an error if the provider is missing from this ONNX Runtime
/// (e.g. CUDA with the CPU-only package) or cannot start (no GPU, no driver).
fn session_on(
    env: &ort::environment::Environment,
    provider: Provider,
    onnx: &Path,
    threads: usize,
) -> Result<ort::session::Session, ModelError> {
    let onnx_error = |message: String| ModelError::Onnx {
        path: onnx.to_path_buf(),
        message,
    };
    let builder = ort::session::Session::builder(env)
        .map_err(|e| onnx_error(e.to_string()))?
        .with_intra_threads(threads.max(1))
        .map_err(|e| onnx_error(e.to_string()))?
        // The tile readers share these cores: idle workers that spin between runs take their
        // time (decode-bound runs measured 240 tiles/s with spinning, 313 without).
        .with_intra_op_spinning(false)
        .map_err(|e| onnx_error(e.to_string()))?;
    let mut builder = match provider {
        Provider::Cpu => builder,
        Provider::Cuda => builder
            .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
            .map_err(|e| onnx_error(format!("CUDA: {e}")))?,
        Provider::TensorRt => builder
            .with_execution_providers([ort::ep::TensorRT::default().build().error_on_failure()])
            .map_err(|e| onnx_error(format!("TensorRT: {e}")))?,
    };
    builder
        .commit_from_file(onnx)
        .map_err(|e| onnx_error(e.to_string()))
}

fn softmax_at(row: &[f32], i: usize) -> f32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
    (row[i] - max).exp() / sum
}

/// Checks the graph's single input ([N, 3, size, size] float) and first output ([N, classes] float)
/// against the metadata; returns the input's name.
fn check_graph(
    session: &ort::session::Session,
    meta: &ModelMeta,
    onnx: &Path,
) -> Result<String, ModelError> {
    let field = |field: &'static str, message: String| ModelError::Field {
        path: onnx.into(),
        field,
        message,
    };
    let [input] = session.inputs() else {
        return Err(field(
            "input_size",
            format!(
                "the graph has {} inputs; one image input is expected",
                session.inputs().len()
            ),
        ));
    };
    let shape = input
        .dtype()
        .tensor_shape()
        .ok_or_else(|| field("input_size", "the input is not a tensor".into()))?;
    if input.dtype().tensor_type() != Some(ort::value::TensorElementType::Float32) {
        return Err(field(
            "input_size",
            format!("input `{}` is not float32", input.name()),
        ));
    }
    let dims: &[i64] = shape;
    let size = i64::from(meta.input_size);
    let fits = |d: i64, want: i64| d == want || d < 0;
    if dims.len() != 4 || !fits(dims[1], 3) {
        return Err(field(
            "channel_order",
            format!(
                "input `{}` has shape {dims:?}; expected [N, 3, H, W]",
                input.name()
            ),
        ));
    }
    if !fits(dims[2], size) || !fits(dims[3], size) {
        return Err(field(
            "input_size",
            format!("is {size} but input `{}` has shape {dims:?}", input.name()),
        ));
    }
    let output = session
        .outputs()
        .first()
        .ok_or_else(|| field("classes", "the graph has no output".into()))?;
    let out_dims: &[i64] = output
        .dtype()
        .tensor_shape()
        .ok_or_else(|| field("classes", "the output is not a tensor".into()))?;
    let classes = meta.classes.len() as i64;
    if out_dims.len() != 2 || !fits(out_dims[1], classes) {
        return Err(field(
            "classes",
            format!(
                "lists {classes} classes but output `{}` has shape {out_dims:?}",
                output.name()
            ),
        ));
    }
    Ok(input.name().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> ModelMeta {
        ModelMeta {
            name: "t".into(),
            version: "1".into(),
            input_size: 2,
            mpp: 0.5,
            channel_order: ChannelOrder::Rgb,
            mean: [0.5, 0.0, 0.0],
            std: [0.5, 1.0, 1.0],
            classes: vec!["normal".into(), "tumour".into()],
            risk_class: "tumour".into(),
            output: OutputKind::Probabilities,
            cpu_variant: None,
            calibration: None,
            threshold: None,
        }
    }

    #[test]
    fn normalisation_is_planar_and_follows_channel_order() {
        let rgba = [
            255, 0, 51, 255, 0, 255, 0, 255, 255, 255, 255, 255, 0, 0, 0, 255,
        ];
        let mut out = Vec::new();
        meta().normalise_into(&rgba, &mut out);
        assert_eq!(out.len(), 12);
        // R plane: (1 - 0.5) / 0.5 = 1, (0 - 0.5) / 0.5 = -1.
        assert_eq!(&out[..4], &[1.0, -1.0, 1.0, -1.0]);
        assert_eq!(&out[4..8], &[0.0, 1.0, 1.0, 0.0]);
        let mut bgr = meta();
        bgr.channel_order = ChannelOrder::Bgr;
        bgr.mean = [0.0; 3];
        bgr.std = [1.0; 3];
        let mut out = Vec::new();
        bgr.normalise_into(&rgba, &mut out);
        assert!((out[0] - 0.2).abs() < 1e-6, "first plane is blue");
    }

    #[test]
    fn bad_metadata_names_the_field() {
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("model.json");
        let mut m = meta();
        m.risk_class = "metastasis".into();
        std::fs::write(&p, serde_json::to_vec(&m).expect("json")).expect("write");
        let e = ModelMeta::load(&p).expect_err("risk class not in classes");
        assert!(
            matches!(
                e,
                ModelError::Field {
                    field: "risk_class",
                    ..
                }
            ),
            "{e}"
        );
        let mut m = meta();
        m.std = [1.0, 0.0, 1.0];
        std::fs::write(&p, serde_json::to_vec(&m).expect("json")).expect("write");
        assert!(matches!(
            ModelMeta::load(&p),
            Err(ModelError::Field { field: "std", .. })
        ));
        std::fs::write(&p, b"{\n  \"name\": \"x\",\n  oops\n}").expect("write");
        match ModelMeta::load(&p) {
            Err(ModelError::Json { line, .. }) => assert_eq!(line, 3),
            other => panic!("expected a JSON error with its line, got {other:?}"),
        }
    }

    #[test]
    fn platt_calibration_is_monotone_and_matches_the_formula() {
        let c = Calibration::Platt { a: 0.5, b: 1.0 };
        // logit(0.2) = ln(0.25); 0.5 * ln(0.25) + 1 = 1 - ln 2.
        let want = 1.0 / (1.0 + (-(1.0 - 2f64.ln())).exp());
        assert!((f64::from(c.apply(0.2)) - want).abs() < 1e-6);
        // Probabilities of exactly 0 and 1 stay finite and ordered.
        let (lo, hi) = (c.apply(0.0), c.apply(1.0));
        assert!(lo.is_finite() && hi.is_finite() && lo < c.apply(0.2) && c.apply(0.2) < hi);
        let mut m = meta();
        assert_eq!(m.calibrate(0.3), 0.3, "no calibration: the raw probability");
        m.calibration = Some(c);
        assert_eq!(m.calibrate(0.2), c.apply(0.2));
    }

    #[test]
    fn calibration_and_threshold_are_checked() {
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("model.json");
        let mut m = meta();
        m.calibration = Some(Calibration::Platt { a: -1.0, b: 0.0 });
        std::fs::write(&p, serde_json::to_vec(&m).expect("json")).expect("write");
        assert!(matches!(
            ModelMeta::load(&p),
            Err(ModelError::Field {
                field: "calibration",
                ..
            })
        ));
        let mut m = meta();
        m.threshold = Some(OperatingPoint {
            value: 1.5,
            meaning: "x".into(),
        });
        std::fs::write(&p, serde_json::to_vec(&m).expect("json")).expect("write");
        assert!(matches!(
            ModelMeta::load(&p),
            Err(ModelError::Field {
                field: "threshold",
                ..
            })
        ));
        m.threshold = Some(OperatingPoint {
            value: 0.56,
            meaning: "0.56: measured".into(),
        });
        assert_eq!(m.default_threshold(), 0.56);
        assert_eq!(m.threshold_meaning(0.56), Some("0.56: measured"));
        assert_eq!(
            m.threshold_meaning(0.5),
            None,
            "another value was not measured"
        );
        assert_eq!(meta().default_threshold(), UNCALIBRATED_THRESHOLD);
    }

    #[test]
    fn softmax_picks_the_class() {
        let p = softmax_at(&[0.0, (3.0f32).ln()], 1);
        assert!((p - 0.75).abs() < 1e-6);
    }
}
