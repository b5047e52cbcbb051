//! The declared shapes of every `--json` output: each output type is registered once (name and
//! version), printed through [`to_json`] with its `schema_version`, and has a JSON Schema
//! generated from the Rust type and checked in under `schemas/` (`cargo xtask schemas --check`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Value};

/// The field every JSON document carries: the version of its schema.
pub const VERSION_FIELD: &str = "schema_version";

/// Where the schemas are checked in, relative to the repository root.
pub const DIR: &str = "schemas";

/// A type printed as a command's `--json` output.
pub trait JsonOutput: Serialize + JsonSchema {
    /// The schema's file stem: `schemas/<NAME>.schema.json`.
    const NAME: &'static str;
    /// Raised on every change a consumer could notice (a field removed, renamed or retyped);
    /// consumers compare it before they read the rest.
    const VERSION: u32;
}

/// A document as printed: the version first, then the output's own fields.
#[derive(Serialize, JsonSchema)]
struct Versioned<'a, T: JsonOutput> {
    schema_version: u32,
    #[serde(flatten)]
    body: &'a T,
}

/// `value` as the pretty JSON document a command prints with `--json`.
pub fn to_json<T: JsonOutput>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(&Versioned {
        schema_version: T::VERSION,
        body: value,
    })
    .with_context(|| format!("cannot serialise the `{}` output", T::NAME))
}

/// The JSON Schema of `T`'s printed document.
pub fn schema<T: JsonOutput + 'static>() -> Value {
    // The serialize contract: a field skipped when empty is optional, as printed.
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let mut schema = generator
        .into_root_schema_for::<Versioned<'static, T>>()
        .to_value();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("title".into(), Value::String(T::NAME.to_string()));
        obj.insert(
            "description".into(),
            Value::String(format!(
                "The `--json` output `{}`, version {} (generated from the Rust types by `cargo xtask schemas`; do not edit).",
                T::NAME,
                T::VERSION
            )),
        );
        if let Some(Value::Object(props)) = obj.get_mut("properties") {
            props.insert(
                VERSION_FIELD.into(),
                json!({
                    "description": "The version of this document's schema; raised on every incompatible change.",
                    "const": T::VERSION,
                }),
            );
        }
    }
    schema
}

/// One registered output.
pub struct Output {
    pub name: &'static str,
    pub version: u32,
    /// Generates its schema.
    pub schema: fn() -> Value,
}

impl Output {
    /// Its file under the repository root.
    pub fn path(&self, root: &Path) -> PathBuf {
        root.join(DIR).join(format!("{}.schema.json", self.name))
    }

    /// The file's exact text (pretty, newline at the end).
    pub fn text(&self) -> String {
        let mut text = serde_json::to_string_pretty(&(self.schema)()).expect("a schema serialises");
        text.push('\n');
        text
    }
}

/// Registers output types: `Type => "name", version;` implements [`JsonOutput`] and lists the
/// type in [`outputs`]. Adding an output is one line here (and `schemars::JsonSchema` in its
/// derive).
macro_rules! outputs {
    ($($ty:ty => $name:literal, $version:literal;)*) => {
        $(
            impl JsonOutput for $ty {
                const NAME: &'static str = $name;
                const VERSION: u32 = $version;
            }
        )*
        /// Every registered output, in file-name order.
        pub fn outputs() -> Vec<Output> {
            let mut all = vec![$(Output { name: $name, version: $version, schema: schema::<$ty> },)*];
            all.sort_by_key(|o| o.name);
            all
        }
    };
}

outputs! {
    crate::advisories::status::StatusReport => "advisories", 1;
    crate::advisories::SyncReport => "advisories-sync", 1;
    crate::advisories::plan::Plan => "advisories-plan", 1;
    crate::apicompat::report::Report => "apicompat", 1;
    crate::backport::Document<'_> => "backport", 1;
    crate::backport::AbortReport => "backport-abort", 1;
    crate::bench::Results => "bench", 1;
    crate::official_build::Report => "build", 1;
    crate::bump::Report => "bump", 1;
    crate::backport::CherryReport => "cherry", 1;
    crate::compat::report::Report => "compat", 1;
    crate::nuget_feed::Report => "feed", 1;
    crate::nuget_feed::verify::Report => "feed-verify", 1;
    crate::init::Report => "init", 1;
    crate::patches::ExportSummary => "patches-export", 1;
    crate::patches::ApplyReport => "patches-apply", 1;
    crate::patches::VerifySummary => "patches-verify", 1;
    crate::pipelines::CheckReport => "pipelines-check", 1;
    crate::pipelines::rehearse::Report => "pipelines-rehearse", 1;
    crate::package::Report => "package", 1;
    crate::release::Report => "release", 1;
    crate::release::authenticode::Report => "release-authenticode", 1;
    crate::release::authenticode::VerifyReport => "release-authenticode-verify", 1;
    crate::repository::Report => "repo", 1;
    crate::repository::verify::Report => "repo-verify", 1;
    crate::release::sign::Report => "release-sign", 1;
    crate::release::verify::Report => "release-verify", 1;
}

/// A checked-in schema that is missing, stale or no longer generated.
#[derive(Debug, Serialize)]
pub struct Drift {
    pub file: PathBuf,
    pub problem: String,
}

/// Compares `root/schemas/` with the generated schemas.
pub fn check(root: &Path) -> Result<Vec<Drift>> {
    let mut drift = Vec::new();
    let all = outputs();
    for output in &all {
        let path = output.path(root);
        match std::fs::read_to_string(&path) {
            Ok(text) if text == output.text() => {}
            Ok(_) => drift.push(Drift {
                file: path,
                problem: format!(
                    "differs from the schema generated from the Rust type of `{}`",
                    output.name
                ),
            }),
            Err(_) => drift.push(Drift {
                file: path,
                problem: format!("missing: the schema of `{}` is not checked in", output.name),
            }),
        }
    }
    let dir = root.join(DIR);
    if dir.is_dir() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let path = entry?.path();
            let registered = all.iter().any(|o| o.path(root) == path);
            if !registered {
                drift.push(Drift {
                    file: path,
                    problem: "no registered output has this schema: delete it or register the output in xtask/src/schemas.rs".into(),
                });
            }
        }
    }
    drift.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(drift)
}

/// Writes every generated schema into `root/schemas/` (atomically, only changed files) and
/// removes schema files no output has any more; returns the files written or removed.
pub fn write(root: &Path) -> Result<Vec<PathBuf>> {
    let mut touched = Vec::new();
    for d in check(root)? {
        match outputs().iter().find(|o| o.path(root) == d.file) {
            Some(output) => crate::atomic::write(&d.file, output.text())?,
            None => std::fs::remove_file(&d.file)
                .with_context(|| format!("cannot remove {}", d.file.display()))?,
        }
        touched.push(d.file);
    }
    Ok(touched)
}
