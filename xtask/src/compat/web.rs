//! Web apps: wait until the app is ready (a log line or an open port, like Microsoft's smoke
//! tests), send the manifest's requests over loopback and check status and body, then stop it
//! (its stop request, else SIGTERM, and SIGKILL if it does not go).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Child;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::manifest::{parse_request_line, WebSettings};
use crate::process::kill_group;

/// A free loopback port for the app to listen on.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// One conversation with a started web app.
pub struct Session<'a> {
    pub port: u16,
    pub settings: &'a WebSettings,
    pub deadline: Instant,
}

/// An HTTP response as the runner saw it.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Session<'_> {
    /// Waits for readiness, sends every request, stops the app. Returns the transcript; an error
    /// names the first problem (not ready, wrong status, body mismatch).
    pub fn drive(&self, child: &mut Child, lines: &Receiver<String>) -> Result<String> {
        let result = self.ready(child, lines).and_then(|()| self.requests());
        let stopped = self.stop(child);
        let transcript = result?;
        stopped?;
        Ok(transcript)
    }

    fn ready(&self, child: &mut Child, lines: &Receiver<String>) -> Result<()> {
        let ready_line = match &self.settings.ready_line {
            Some(p) => Some(regex::Regex::new(p)?),
            None => None,
        };
        loop {
            if let Some(status) = child.try_wait()? {
                bail!("the app exited ({status}) before it was ready");
            }
            if Instant::now() >= self.deadline {
                bail!("the app was not ready before its timeout");
            }
            match &ready_line {
                Some(re) => match lines.recv_timeout(Duration::from_millis(50)) {
                    Ok(line) if re.is_match(line.trim_end()) => return Ok(()),
                    Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => {
                        bail!("the app closed its output before it was ready")
                    }
                },
                None => {
                    let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
                    if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    fn requests(&self) -> Result<String> {
        let mut transcript = String::new();
        let mut problems = Vec::new();
        for r in &self.settings.requests {
            let response = request(self.port, &r.method, &r.path, &r.body, self.deadline)?;
            transcript.push_str(&format!(
                "> {} {}\n< {}\n{}\n",
                r.method, r.path, response.status, response.body
            ));
            if response.status != r.status {
                problems.push(format!(
                    "{} {} answered {} (expected {})",
                    r.method, r.path, response.status, r.status
                ));
            }
            if let Some(needle) = &r.body_contains {
                if !response.body.contains(needle.as_str()) {
                    problems.push(format!(
                        "{} {}: body does not contain `{needle}`",
                        r.method, r.path
                    ));
                }
            }
        }
        if !problems.is_empty() {
            bail!("{}", problems.join("; "));
        }
        Ok(transcript)
    }

    fn stop(&self, child: &mut Child) -> Result<()> {
        if let Some(line) = &self.settings.stop_request {
            let (method, path) = parse_request_line(line)?;
            // The app may close the connection as it goes; its exit is what counts.
            let _ = request(self.port, &method, &path, "", self.deadline);
        } else {
            kill_group(child, libc::SIGTERM);
        }
        let grace = Instant::now() + Duration::from_secs(10);
        while Instant::now() < grace.min(self.deadline) {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        kill_group(child, libc::SIGKILL);
        bail!("the app did not stop within 10 s and was killed")
    }
}

/// Sends one HTTP/1.1 request to 127.0.0.1:`port` and reads the whole response.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
    deadline: Instant,
) -> Result<Response> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100));
    let mut stream = TcpStream::connect_timeout(&addr, left)
        .with_context(|| format!("{method} {path}: cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(left))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()))
        .with_context(|| format!("{method} {path}: cannot send"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("{method} {path}: no complete response"))?;
    parse_response(&raw).with_context(|| format!("{method} {path}: malformed response"))
}

/// Parses a `Connection: close` HTTP/1.1 response, with a Content-Length or chunked body.
pub fn parse_response(raw: &[u8]) -> Result<Response> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line `{status_line}`"))?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        body = dechunk(&body)?;
    }
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("chunk size line without end")?;
        let size_text = String::from_utf8_lossy(&data[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .with_context(|| format!("bad chunk size `{size_text}`"))?;
        data = &data[end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            bail!("chunk of {size} bytes is cut short");
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
}
