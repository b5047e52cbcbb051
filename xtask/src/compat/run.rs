//! Running one app on one runtime: a private directory, a fixed environment, the exact framework
//! version in a generated runtimeconfig, a timeout that kills the whole process group, and the
//! output captured for comparison.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::manifest::App;
use super::runtime::Runtime;
use super::web;

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// Scrubbed stdout, followed for web apps by the HTTP transcript.
    pub output: String,
    pub stderr: String,
    /// The exit code; 128 + signal when a signal ended the process.
    pub exit_code: i32,
    pub timed_out: bool,
    pub duration: Duration,
    /// Problems found while talking to a web app (readiness, status, body).
    pub web_problems: Vec<String>,
}

/// Everything a run needs besides the app and the runtime.
pub struct RunContext<'a> {
    /// The directory holding `<app>/<app>.dll`.
    pub binaries: &'a Path,
    /// Where private per-run directories are made.
    pub work_dir: &'a Path,
    /// Extra environment from the user (`--env`), e.g. `CLR_ICU_VERSION_OVERRIDE`.
    pub extra_env: &'a [(String, String)],
}

/// The fixed environment every app starts with: no variable of the caller leaks in.
fn isolation_env(run_dir: &Path, runtime: &Runtime) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let mut set = |k: &str, v: &str| {
        env.insert(k.to_string(), v.to_string());
    };
    set("PATH", "/usr/local/bin:/usr/bin:/bin");
    set("HOME", &run_dir.join("home").to_string_lossy());
    set("TMPDIR", &run_dir.join("tmp").to_string_lossy());
    set("TZ", "UTC");
    set("LANG", "en_US.UTF-8");
    set("LC_ALL", "en_US.UTF-8");
    set("DOTNET_ROOT", &runtime.root.to_string_lossy());
    set("DOTNET_MULTILEVEL_LOOKUP", "0");
    set("DOTNET_CLI_TELEMETRY_OPTOUT", "1");
    set("DOTNET_NOLOGO", "1");
    set("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "0");
    // No network but loopback: every HTTP client honours these, and port 9 (discard) refuses.
    for proxy in [
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        set(proxy, "http://127.0.0.1:9");
    }
    set("no_proxy", "localhost,127.0.0.1,::1");
    set("NO_PROXY", "localhost,127.0.0.1,::1");
    env
}

/// Writes the runtimeconfig that pins the exact framework versions and forbids roll-forward,
/// keeping the app's own `configProperties`.
fn write_runtimeconfig(app: &App, binary: &Path, runtime: &Runtime, path: &Path) -> Result<()> {
    let own = binary.with_extension("runtimeconfig.json");
    let mut properties = serde_json::Map::new();
    if own.is_file() {
        let text = std::fs::read_to_string(&own)
            .with_context(|| format!("cannot read {}", own.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", own.display()))?;
        if let Some(p) = value
            .pointer("/runtimeOptions/configProperties")
            .and_then(|p| p.as_object())
        {
            properties = p.clone();
        }
    }
    properties.extend(app.manifest.runtime_config.clone());
    let frameworks: Vec<serde_json::Value> = app
        .manifest
        .frameworks
        .iter()
        .map(|f| serde_json::json!({ "name": f, "version": runtime.framework_version(f).unwrap_or_default() }))
        .collect();
    let config = serde_json::json!({
        "runtimeOptions": { "rollForward": "Disable", "frameworks": frameworks, "configProperties": properties }
    });
    crate::atomic::write(path, serde_json::to_string_pretty(&config)?)
}

/// Runs `app` on `runtime` and captures what it did. Errors only for problems of the runner's
/// environment (cannot create a directory, cannot start the muxer); an app that fails is a result.
pub fn run_app(app: &App, runtime: &Runtime, ctx: &RunContext) -> Result<RunOutput> {
    let binary = std::path::absolute(binary_path(ctx.binaries, app))?;
    std::fs::create_dir_all(ctx.work_dir)
        .with_context(|| format!("cannot create {}", ctx.work_dir.display()))?;
    let run_dir = tempfile::Builder::new()
        .prefix(&format!("{}-{}-", app.name, runtime.version))
        .tempdir_in(ctx.work_dir)
        .with_context(|| {
            format!(
                "cannot create a run directory in {}",
                ctx.work_dir.display()
            )
        })?;
    for sub in ["home", "tmp"] {
        std::fs::create_dir_all(run_dir.path().join(sub))?;
    }
    let runtimeconfig = run_dir
        .path()
        .join(format!("{}.runtimeconfig.json", app.name));
    write_runtimeconfig(app, &binary, runtime, &runtimeconfig)?;

    let port = match &app.manifest.web {
        Some(_) => Some(web::free_port()?),
        None => None,
    };
    let (env, args) = environment_and_args(app, runtime, ctx, run_dir.path(), port);

    let sh = crate::process::shell()?;
    sh.change_dir(run_dir.path());
    // Supervised (timeout, web session, process group), so started by hand from the `Cmd`.
    let mut command = Command::from(
        sh.cmd(runtime.muxer())
            .arg("exec")
            .arg("--runtimeconfig")
            .arg(&runtimeconfig)
            .arg(&binary)
            .args(&args)
            .env_clear()
            .envs(&env),
    );
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout kills everything the app started.
        .process_group(0);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {}", runtime.muxer().display()))?;
    let captured = Captured::start(&mut child)?;
    let deadline = started + Duration::from_secs(app.manifest.timeout_secs);

    let mut web_problems = Vec::new();
    let mut transcript = String::new();
    if let (Some(settings), Some(port)) = (&app.manifest.web, port) {
        let session = web::Session {
            port,
            settings,
            deadline,
        };
        match session.drive(&mut child, &captured.lines) {
            Ok(t) => transcript = t,
            Err(e) => web_problems.push(format!("{e:#}")),
        }
    }
    let (status, timed_out) = wait_until(&mut child, deadline)?;
    // Whatever the app left running in its group goes too.
    crate::process::kill_group(&child, libc::SIGKILL);
    let (raw, stderr) = captured.finish();
    let duration = started.elapsed();
    let mut output = scrub(app, &raw, run_dir.path(), port);
    if app.manifest.web.is_some() {
        output.push_str("=== HTTP ===\n");
        output.push_str(&transcript);
    }
    let exit_code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Ok(RunOutput {
        output,
        stderr,
        exit_code,
        timed_out,
        duration,
        web_problems,
    })
}

/// The app's environment (isolated, then the runner's and the manifest's additions, and the web
/// port) and its arguments with `{port}` filled in.
fn environment_and_args(
    app: &App,
    runtime: &Runtime,
    ctx: &RunContext,
    run_dir: &Path,
    port: Option<u16>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut env = isolation_env(run_dir, runtime);
    env.extend(ctx.extra_env.iter().cloned());
    env.extend(app.manifest.env.clone());
    if let (Some(web), Some(port)) = (&app.manifest.web, port) {
        env.insert(web.port_env.clone(), port.to_string());
    }
    let args = app
        .manifest
        .args
        .iter()
        .map(|a| match port {
            Some(p) => a.replace("{port}", &p.to_string()),
            None => a.clone(),
        })
        .collect();
    (env, args)
}

/// A running app's output, read by two threads so that neither pipe fills: its stdout line by
/// line (for a web session to watch) and in full, and its stderr in full.
struct Captured {
    /// Each stdout line as it comes.
    lines: mpsc::Receiver<String>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stdout_reader: std::thread::JoinHandle<()>,
    stderr_reader: std::thread::JoinHandle<Vec<u8>>,
}

impl Captured {
    fn start(child: &mut Child) -> Result<Captured> {
        let (lines_tx, lines) = mpsc::channel::<String>();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stdout_reader = {
            let pipe = child.stdout.take().context("no stdout pipe")?;
            let sink = Arc::clone(&stdout);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(pipe);
                let mut line = Vec::new();
                while reader
                    .read_until(b'\n', &mut line)
                    .map(|n| n > 0)
                    .unwrap_or(false)
                {
                    sink.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&line);
                    let _ = lines_tx.send(String::from_utf8_lossy(&line).into_owned());
                    line.clear();
                }
            })
        };
        let stderr_reader = {
            let mut pipe = child.stderr.take().context("no stderr pipe")?;
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                buf
            })
        };
        Ok(Captured {
            lines,
            stdout,
            stdout_reader,
            stderr_reader,
        })
    }

    /// Waits for the pipes to close (the app and its group are gone); stdout and stderr.
    fn finish(self) -> (String, String) {
        let _ = self.stdout_reader.join();
        let stderr = self.stderr_reader.join().unwrap_or_default();
        let stdout = self.stdout.lock().unwrap_or_else(|e| e.into_inner());
        (
            String::from_utf8_lossy(&stdout).into_owned(),
            String::from_utf8_lossy(&stderr).into_owned(),
        )
    }
}

/// Waits for the child until `deadline`; past it, kills the process group.
fn wait_until(child: &mut Child, deadline: Instant) -> Result<(std::process::ExitStatus, bool)> {
    loop {
        if let Some(status) = child.try_wait().context("cannot wait for the app")? {
            return Ok((status, false));
        }
        if Instant::now() >= deadline {
            crate::process::kill_group(child, libc::SIGKILL);
            let status = child.wait().context("cannot wait for the killed app")?;
            return Ok((status, true));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Replaces what legitimately varies: the private directory, the port, the manifest's patterns.
fn scrub(app: &App, raw: &str, run_dir: &Path, port: Option<u16>) -> String {
    let mut text = raw.replace("\r\n", "\n");
    let dir = run_dir.to_string_lossy();
    text = text.replace(&*dir, "<RUNDIR>");
    if let Some(p) = port {
        text = text.replace(&format!(":{p}"), ":<PORT>");
    }
    for s in &app.manifest.scrubs {
        if let Ok(re) = regex::Regex::new(&s.pattern) {
            text = re.replace_all(&text, s.replace.as_str()).into_owned();
        }
    }
    text
}

/// The binary the runner expects for `app` in a prebuilt directory.
pub fn binary_path(binaries: &Path, app: &App) -> PathBuf {
    binaries.join(&app.name).join(format!("{}.dll", app.name))
}
