//! A tampering proxy for the GitHub answer fuzz tests: it forwards every request to a local
//! server that speaks GitHub's protocol (tests/github_server, the fake GitHub of tests/github.rs)
//! and hands the answer back, except one chosen answer whose status, headers or body it mutates
//! with the shared harness ([`super::fuzz::mutate`]) — what a broken proxy, a truncated transfer
//! or an API change would give the real client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use arbtest::arbitrary::{self, Unstructured};

/// Headers the client reads, or that a bad answer could carry.
const HEADERS: &[&str] = &[
    "retry-after",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "link",
    "content-type",
    "x-accepted-github-permissions",
];

/// Header values GitHub's answers do not hold but a broken server might.
const HEADER_VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "-1",
    "99999999999999999999",
    "soon",
    "Wed, 21 Oct 2015 07:28:00 GMT",
    "<https://elsewhere.example/repos/x/y/pulls?page=2>; rel=\"next\"",
    "<>; rel=next",
    "rel=\"next\"",
    "<http://127.0.0.1:9/>; rel=\"last\", garbage",
    "text/html",
];

const STATUSES: &[u16] = &[
    200, 201, 204, 301, 304, 401, 403, 404, 409, 422, 429, 500, 502,
];

/// One answer as the proxy relays it.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What to do to which answer.
#[derive(Default)]
struct Plan {
    /// Requests relayed so far.
    relayed: usize,
    /// (the index of the request whose answer is mutated, the mutation's random bytes)
    tamper: Option<(usize, Vec<u8>)>,
    /// Whether the planned mutation was made.
    tampered: bool,
}

/// The proxy: a local HTTP server (127.0.0.1, random port) and the thread answering it.
pub struct Proxy {
    server: Arc<tiny_http::Server>,
    plan: Arc<Mutex<Plan>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Relays to the server at `upstream` (`http://127.0.0.1:port`).
    pub fn start(upstream: &str) -> Proxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let plan = Arc::new(Mutex::new(Plan::default()));
        let (s, p) = (server.clone(), plan.clone());
        let thread = std::thread::spawn(move || {
            while let Ok(request) = s.recv() {
                relay(request, &upstream, &p);
            }
        });
        Proxy {
            server,
            plan,
            thread: Some(thread),
        }
    }

    /// The API root to give the client.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.server_addr().to_ip().unwrap())
    }

    /// Mutates the answer to the `nth` request from now (0: the next one) with `data`.
    pub fn tamper(&self, nth: usize, data: Vec<u8>) {
        let mut plan = self.plan.lock().unwrap();
        plan.tamper = Some((plan.relayed + nth, data));
        plan.tampered = false;
    }

    /// Ends the planned mutation; true when it was made (the request came).
    pub fn finish(&self) -> bool {
        let mut plan = self.plan.lock().unwrap();
        plan.tamper = None;
        std::mem::take(&mut plan.tampered)
    }

    /// Requests relayed so far.
    pub fn relayed(&self) -> usize {
        self.plan.lock().unwrap().relayed
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn relay(mut request: tiny_http::Request, upstream: &str, plan: &Mutex<Plan>) {
    let mut body = Vec::new();
    let _ = request.as_reader().read_to_end(&mut body);
    // The original Host goes along, so the links a server builds lead back through the proxy.
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method(), request.url());
    for h in request.headers() {
        let name = h.field.as_str().as_str();
        if !name.eq_ignore_ascii_case("connection") && !name.eq_ignore_ascii_case("content-length")
        {
            head.push_str(&format!("{name}: {}\r\n", h.value.as_str()));
        }
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut answer = forward(upstream, head.as_bytes(), &body);
    {
        let mut plan = plan.lock().unwrap();
        let index = plan.relayed;
        plan.relayed += 1;
        if let Some((at, data)) = &plan.tamper {
            if *at == index {
                let _ = mutate_answer(&mut Unstructured::new(data), &mut answer);
                plan.tampered = true;
            }
        }
    }
    let mut response = tiny_http::Response::from_data(answer.body).with_status_code(answer.status);
    for (k, v) in &answer.headers {
        if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            response.add_header(h);
        }
    }
    let _ = request.respond(response);
}

/// Sends one request and reads the whole answer (the connection closes after it).
fn forward(upstream: &str, head: &[u8], body: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(upstream).unwrap();
    // One write: a head and a body in two would wait out Nagle's algorithm and a delayed ACK.
    stream.set_nodelay(true).unwrap();
    stream.write_all(&[head, body].concat()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let text = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = text.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let mut headers = Vec::new();
    let mut chunked = false;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.eq_ignore_ascii_case("chunked");
        } else if !["content-length", "connection", "date", "server"]
            .iter()
            .any(|h| k.eq_ignore_ascii_case(h))
        {
            headers.push((k.to_string(), v.to_string()));
        }
    }
    let mut body = raw[split + 4..].to_vec();
    if chunked {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&data[..end])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

/// One to three changes: the body mutated, a header replaced (by a value GitHub never sends or a
/// mutation of the one it sent), or another status.
fn mutate_answer(u: &mut Unstructured<'_>, answer: &mut Answer) -> arbitrary::Result<()> {
    for _ in 0..u.int_in_range(1..=3)? {
        match u.int_in_range(0..=3)? {
            0 | 1 => answer.body = super::fuzz::mutate(u, &answer.body)?,
            2 => {
                let name = *u.choose(HEADERS)?;
                let sent = answer
                    .headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone());
                let value = match (sent, u.arbitrary::<bool>()?) {
                    (Some(v), true) => {
                        String::from_utf8_lossy(&super::fuzz::mutate(u, v.as_bytes())?).into_owned()
                    }
                    _ => u.choose(HEADER_VALUES)?.to_string(),
                };
                answer
                    .headers
                    .retain(|(k, _)| !k.eq_ignore_ascii_case(name));
                // Only what can travel in a header line.
                let value: String = value
                    .chars()
                    .filter(|c| c.is_ascii() && (!c.is_ascii_control() || *c == '\t'))
                    .collect();
                answer.headers.push((name.to_string(), value));
            }
            _ => answer.status = *u.choose(STATUSES)?,
        }
    }
    Ok(())
}
