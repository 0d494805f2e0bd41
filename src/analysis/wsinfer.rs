//! WSInfer model folders taken as they are: `model.onnx` beside a WSInfer-zoo `config.json`
//! (spec_version 1.0). The patch size and spacing become the grid, the transform list (Resize,
//! ToTensor, Normalize) the preprocessing; the network's outputs are logits over `class_names`.
//! WSInfer has no notion of which class is the risk, so it is chosen: by the caller (a flag, the
//! GUI), else by a side file [`RISK_CLASS_FILE`] beside `config.json`.

use std::path::Path;

use serde::Deserialize;

use super::model::{ChannelOrder, ModelError, ModelMeta, OutputKind};

/// `{"risk_class": "tumor"}` beside a WSInfer `config.json`.
pub const RISK_CLASS_FILE: &str = "sentinel-risk-class.json";

#[derive(Debug, Deserialize)]
struct Config {
    spec_version: String,
    architecture: String,
    num_classes: usize,
    class_names: Vec<String>,
    patch_size_pixels: u32,
    spacing_um_px: f64,
    transform: Vec<Transform>,
}

#[derive(Debug, Deserialize)]
struct Transform {
    name: String,
    #[serde(default)]
    arguments: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RiskClassFile {
    risk_class: String,
}

/// Whether `dir` holds a WSInfer model (and no `model.json` of ours, which would win).
pub fn is_wsinfer(dir: &Path) -> bool {
    !dir.join("model.json").is_file() && dir.join("config.json").is_file()
}

/// The metadata of the WSInfer model in `dir`, with the risk class `risk_class` (else the side
/// file's); returns it and the files it was read from.
pub fn load(
    dir: &Path,
    risk_class: Option<&str>,
) -> Result<(ModelMeta, Vec<std::path::PathBuf>), ModelError> {
    let path = dir.join("config.json");
    let bytes = std::fs::read(&path).map_err(|source| ModelError::Io {
        path: path.clone(),
        source,
    })?;
    let config: Config = serde_json::from_slice(&bytes).map_err(|e| ModelError::Json {
        path: path.clone(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let field = |field: &'static str, message: String| ModelError::Field {
        path: path.clone(),
        field,
        message,
    };
    if config.spec_version != "1.0" {
        return Err(field(
            "spec_version",
            format!("{:?}: only WSInfer spec 1.0 is known", config.spec_version),
        ));
    }
    if config.num_classes != config.class_names.len() {
        return Err(field(
            "num_classes",
            format!(
                "{} but class_names lists {}",
                config.num_classes,
                config.class_names.len()
            ),
        ));
    }
    if config.num_classes < 2 {
        return Err(field(
            "num_classes",
            "a single-output model has no class probabilities to read a risk from".into(),
        ));
    }
    if config.patch_size_pixels == 0 {
        return Err(field("patch_size_pixels", "must be positive".into()));
    }
    if !(config.spacing_um_px.is_finite() && config.spacing_um_px > 0.0) {
        return Err(field("spacing_um_px", "must be a positive number".into()));
    }
    let mut size = config.patch_size_pixels;
    let (mut mean, mut std, mut to_tensor) = ([0.0f32; 3], [1.0f32; 3], false);
    for (i, t) in config.transform.iter().enumerate() {
        let bad = |m: String| field("transform", format!("[{i}] {}: {m}", t.name));
        match t.name.as_str() {
            "Resize" => {
                let s = &t.arguments["size"];
                size = match (s.as_u64(), s.as_array()) {
                    (Some(n), _) => n,
                    (None, Some(a)) if a.len() == 2 && a[0] == a[1] => a[0].as_u64().unwrap_or(0),
                    _ => 0,
                }
                .try_into()
                .ok()
                .filter(|&n: &u32| n > 0)
                .ok_or_else(|| bad("\"size\" must be a positive whole number (square)".into()))?;
            }
            "ToTensor" => to_tensor = true,
            "Normalize" => {
                let three = |key: &str| -> Result<[f32; 3], ModelError> {
                    let v: Vec<f32> = t.arguments[key]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_f64())
                                .map(|x| x as f32)
                                .collect()
                        })
                        .unwrap_or_default();
                    <[f32; 3]>::try_from(v)
                        .map_err(|_| bad(format!("\"{key}\" must be three numbers")))
                };
                mean = three("mean")?;
                std = three("std")?;
            }
            other => {
                return Err(bad(format!(
                    "{other:?} is not supported (Resize, ToTensor and Normalize are)"
                )));
            }
        }
    }
    if !to_tensor {
        return Err(field(
            "transform",
            "no ToTensor: pixel scaling is undefined".into(),
        ));
    }
    let side = dir.join(RISK_CLASS_FILE);
    let mut files = vec![path.clone()];
    let risk_class = match risk_class {
        Some(r) => r.to_owned(),
        None if side.is_file() => {
            let bytes = std::fs::read(&side).map_err(|source| ModelError::Io {
                path: side.clone(),
                source,
            })?;
            files.push(side.clone());
            serde_json::from_slice::<RiskClassFile>(&bytes)
                .map_err(|e| ModelError::Json {
                    path: side.clone(),
                    line: e.line(),
                    column: e.column(),
                    message: e.to_string(),
                })?
                .risk_class
        }
        None => {
            return Err(ModelError::RiskClassNeeded {
                path,
                classes: config.class_names,
            });
        }
    };
    let name = dir.file_name().map_or_else(
        || "WSInfer model".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let meta = ModelMeta {
        name,
        version: format!("WSInfer {} ({})", config.spec_version, config.architecture),
        input_size: size,
        // The patch is read at `spacing` and resized to `size`: the input's own µm/px.
        mpp: config.spacing_um_px * f64::from(config.patch_size_pixels) / f64::from(size),
        channel_order: ChannelOrder::Rgb,
        mean,
        std,
        classes: config.class_names,
        risk_class,
        output: OutputKind::Logits,
        cpu_variant: None,
        calibration: None,
        threshold: None,
    };
    meta.check(&path)?;
    Ok((meta, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(transform: &str) -> String {
        format!(
            r#"{{"spec_version": "1.0", "architecture": "resnet34", "num_classes": 2,
            "class_names": ["notumor", "tumor"], "patch_size_pixels": 350, "spacing_um_px": 0.25,
            "transform": {transform}}}"#
        )
    }

    const ZOO: &str = r#"[{"name": "Resize", "arguments": {"size": 224}}, {"name": "ToTensor"},
        {"name": "Normalize", "arguments": {"mean": [0.7238, 0.5716, 0.6779], "std": [0.112, 0.1459, 0.1089]}}]"#;

    fn folder(config: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("dir");
        std::fs::write(d.path().join("config.json"), config).expect("write");
        d
    }

    #[test]
    fn a_zoo_config_becomes_the_grid_and_the_preprocessing() {
        let d = folder(&config(ZOO));
        assert!(is_wsinfer(d.path()));
        let (m, files) = load(d.path(), Some("tumor")).expect("load");
        assert_eq!(m.input_size, 224);
        // 350 px at 0.25 µm/px resized to 224: 0.390625 µm per input pixel, 87.5 µm per tile.
        assert!((m.mpp - 0.390625).abs() < 1e-12);
        assert_eq!(m.mean, [0.7238, 0.5716, 0.6779]);
        assert_eq!(m.output, OutputKind::Logits);
        assert_eq!(m.risk_index(), Some(1));
        assert_eq!(files, vec![d.path().join("config.json")]);
    }

    #[test]
    fn the_risk_class_comes_from_the_caller_or_the_side_file_or_is_asked_for() {
        let d = folder(&config(ZOO));
        match load(d.path(), None) {
            Err(ModelError::RiskClassNeeded { classes, .. }) => {
                assert_eq!(classes, ["notumor", "tumor"]);
            }
            other => panic!("expected a request for the risk class, got {other:?}"),
        }
        std::fs::write(d.path().join(RISK_CLASS_FILE), r#"{"risk_class": "tumor"}"#)
            .expect("write");
        let (m, files) = load(d.path(), None).expect("side file");
        assert_eq!((m.risk_class.as_str(), files.len()), ("tumor", 2));
        let e = load(d.path(), Some("necrosis")).expect_err("unknown class");
        assert!(e.to_string().contains("risk_class"), "{e}");
    }

    #[test]
    fn bad_configs_name_the_field() {
        let cases = [
            (
                config(r#"[{"name": "ToTensor"}, {"name": "CenterCrop"}]"#),
                "transform`: [1] CenterCrop",
            ),
            (
                config(
                    r#"[{"name": "Resize", "arguments": {"size": [224, 200]}}, {"name": "ToTensor"}]"#,
                ),
                "[0] Resize",
            ),
            (
                config(r#"[{"name": "Resize", "arguments": {"size": 224}}]"#),
                "ToTensor",
            ),
            (
                config(ZOO).replace("\"num_classes\": 2", "\"num_classes\": 3"),
                "num_classes",
            ),
            (config(ZOO).replace("\"1.0\"", "\"2.0\""), "spec_version"),
            (config(ZOO).replace("0.25", "-1"), "spacing_um_px"),
            (
                config(ZOO).replace("\"std\": [0.112, 0.1459, 0.1089]", "\"std\": [1]"),
                "\"std\" must be three",
            ),
        ];
        for (text, want) in cases {
            let d = folder(&text);
            let e = load(d.path(), Some("tumor")).expect_err(want);
            assert!(e.to_string().contains(want), "{e} (wanted {want})");
        }
    }
}
