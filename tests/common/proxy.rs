//! A fault-injecting HTTP proxy between keepsake and the S3 server. It
//! reads each request whole, and for requests matching a rule answers with
//! an S3 error instead of forwarding, resets the connection before or after
//! forwarding (the second loses the answer of a request the server
//! applied), delays it, or passes on only the first bytes of the answer's
//! body and then closes or stalls. Everything else goes through unchanged,
//! bytes as signed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};

/// What happens to a matching request.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Answer with this HTTP status and S3 error code; nothing is forwarded.
    Status(u16, &'static str),
    /// Close the connection before forwarding: the server never sees it.
    ResetBefore,
    /// Forward, wait for the server's answer, then close without passing
    /// it on: the server applied what the client thinks failed.
    ResetAfter,
    /// Forward after this delay.
    Delay(Duration),
    /// Pass on the answer's head and this many body bytes, then close.
    /// Answers no longer than that pass whole and do not count.
    Truncate(usize),
    /// Pass on the answer's head and this many body bytes, then hang.
    /// Answers no longer than that pass whole and do not count.
    Stall(usize),
}

struct Rule {
    method: &'static str,
    target: String,
    /// Matching requests that still pass before the fault applies.
    skip: usize,
    remaining: usize,
    fault: Fault,
}

impl Rule {
    /// The rule's target is found in the request's; a trailing `$` makes
    /// it match only at the end.
    fn matches(&self, target: &str) -> bool {
        match self.target.strip_suffix('$') {
            Some(end) => target.ends_with(end),
            None => target.contains(&self.target),
        }
    }
}

/// Faults at random: each request gets one with probability `per_mille`
/// in a thousand, drawn from a fixed seed so that a run can be replayed.
struct Chaos {
    seed: u64,
    per_mille: u64,
}

impl Chaos {
    /// The next number of a xorshift sequence.
    fn next(&mut self) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed
    }

    fn draw(&mut self) -> Option<Fault> {
        if self.next() % 1000 >= self.per_mille {
            return None;
        }
        Some(match self.next() % 5 {
            0 => Fault::Status(500, "InternalError"),
            1 => Fault::Status(503, "SlowDown"),
            2 => Fault::ResetBefore,
            3 => Fault::ResetAfter,
            _ => Fault::Delay(Duration::from_millis(300)),
        })
    }
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    chaos: Option<Chaos>,
    /// `METHOD target` of every request seen.
    seen: Vec<String>,
    injected: usize,
}

impl State {
    /// The fault for a request, and the rule it came from.
    fn fault_for(&mut self, method: &str, target: &str) -> Option<(Fault, usize)> {
        self.seen.push(format!("{method} {target}"));
        if let Some(fault) = self.chaos.as_mut().and_then(Chaos::draw) {
            self.injected += 1;
            return Some((fault, usize::MAX));
        }
        let index = self
            .rules
            .iter()
            .position(|r| r.remaining > 0 && r.method == method && r.matches(target))?;
        if self.rules[index].skip > 0 {
            self.rules[index].skip -= 1;
            return None;
        }
        self.rules[index].remaining -= 1;
        self.injected += 1;
        Some((self.rules[index].fault, index))
    }

    /// Gives back a fault that did not apply.
    fn refund(&mut self, index: usize) {
        if let Some(rule) = self.rules.get_mut(index) {
            rule.remaining += 1;
        }
        self.injected -= 1;
    }
}

/// A running proxy; it lives as long as the test's runtime.
#[derive(Clone)]
pub struct Proxy {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Proxy {
    /// Starts a proxy to the test S3 server.
    pub async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = super::s3_url().trim_start_matches("http://").to_string();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let _ = serve(client, &upstream, &state).await;
                });
            }
        });
        Proxy { url, state }
    }

    /// Applies `fault` to the next `times` requests with `method` whose
    /// target (path and query) contains `target` (ends with it, if it ends
    /// in `$`).
    pub fn inject(&self, method: &'static str, target: &str, times: usize, fault: Fault) {
        self.inject_after(0, method, target, times, fault);
    }

    /// Like [`Proxy::inject`], once `skip` matching requests have passed.
    pub fn inject_after(
        &self,
        skip: usize,
        method: &'static str,
        target: &str,
        times: usize,
        fault: Fault,
    ) {
        self.state.lock().unwrap().rules.push(Rule {
            method,
            target: target.to_string(),
            skip,
            remaining: times,
            fault,
        });
    }

    /// From now on, every request gets a random fault (a 500, a 503
    /// SlowDown, a reset before or after forwarding, a delay) with
    /// probability `per_mille` / 1000, drawn from `seed`.
    pub fn chaos(&self, seed: u64, per_mille: u64) {
        self.state.lock().unwrap().chaos = Some(Chaos {
            seed: seed.max(1),
            per_mille,
        });
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> usize {
        self.state.lock().unwrap().injected
    }

    /// Every request seen so far, as `METHOD target`.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().seen.clone()
    }

    /// How many requests with `method` and a target containing `target`
    /// were seen.
    pub fn seen(&self, method: &str, target: &str) -> usize {
        let prefix = format!("{method} ");
        self.state
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|r| r.starts_with(&prefix) && r.contains(target))
            .count()
    }
}

/// A request or response head: its first line and headers, raw.
struct Head {
    raw: Vec<u8>,
    first: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn read_head<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> std::io::Result<Option<Head>> {
    let mut raw = Vec::new();
    loop {
        let before = raw.len();
        if reader.read_until(b'\n', &mut raw).await? == 0 {
            return Ok(None);
        }
        if raw[before..] == *b"\r\n" && before > 0 {
            break;
        }
    }
    let text = String::from_utf8_lossy(&raw).to_string();
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Some(Head {
        raw,
        first,
        headers,
    }))
}

/// A body as it travels: by length, chunked, or (answers only) to the end.
async fn read_body<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    head: &Head,
    to_end: bool,
) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if let Some(length) = head.header("content-length") {
        let length: usize = length.parse().unwrap_or(0);
        body.resize(length, 0);
        reader.read_exact(&mut body).await?;
    } else if head
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let start = body.len();
            reader.read_until(b'\n', &mut body).await?;
            let line = String::from_utf8_lossy(&body[start..]).to_string();
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    let at = body.len();
                    reader.read_until(b'\n', &mut body).await?;
                    if body[at..] == *b"\r\n" || body.len() == at {
                        return Ok(body);
                    }
                }
            }
            let at = body.len();
            body.resize(at + size + 2, 0);
            reader.read_exact(&mut body[at..]).await?;
        }
    } else if to_end {
        reader.read_to_end(&mut body).await?;
    }
    Ok(body)
}

async fn serve(client: TcpStream, upstream: &str, state: &Mutex<State>) -> std::io::Result<()> {
    let (client_read, mut client_write) = client.into_split();
    let mut client_read = BufReader::new(client_read);
    let mut server: Option<BufReader<TcpStream>> = None;
    loop {
        let Some(request) = read_head(&mut client_read).await? else {
            return Ok(());
        };
        if request
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            client_write
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await?;
        }
        let body = read_body(&mut client_read, &request, false).await?;
        let mut words = request.first.split(' ');
        let method = words.next().unwrap_or_default().to_string();
        let target = words.next().unwrap_or_default().to_string();
        let found = state.lock().unwrap().fault_for(&method, &target);
        let mut fault = found.map(|(fault, _)| fault);
        match fault {
            Some(Fault::Status(status, code)) => {
                let xml = format!(
                    "<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>injected</Message></Error>"
                );
                let answer = format!(
                    "HTTP/1.1 {status} Injected\r\nContent-Type: application/xml\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                    xml.len()
                );
                client_write.write_all(answer.as_bytes()).await?;
                return client_write.shutdown().await;
            }
            Some(Fault::ResetBefore) => return Ok(()),
            Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
            _ => {}
        }
        if server.is_none() {
            server = Some(BufReader::new(TcpStream::connect(upstream).await?));
        }
        let up = server.as_mut().expect("connected");
        up.get_mut().write_all(&request.raw).await?;
        up.get_mut().write_all(&body).await?;
        let answer = loop {
            let Some(answer) = read_head(up).await? else {
                return Ok(());
            };
            if !answer.first.contains(" 100 ") {
                break answer;
            }
        };
        let status: u16 = answer
            .first
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let no_body = method == "HEAD" || status == 204 || status == 304;
        let answer_body = if no_body {
            Vec::new()
        } else {
            read_body(up, &answer, true).await?
        };
        if let (Some(Fault::Truncate(n) | Fault::Stall(n)), Some((_, index))) = (fault, found)
            && answer_body.len() <= n
        {
            state.lock().unwrap().refund(index);
            fault = None;
        }
        let closes = answer
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || (!no_body
                && answer.header("content-length").is_none()
                && answer.header("transfer-encoding").is_none());
        match fault {
            Some(Fault::ResetAfter) => return Ok(()),
            Some(Fault::Truncate(n)) => {
                client_write.write_all(&answer.raw).await?;
                client_write
                    .write_all(&answer_body[..n.min(answer_body.len())])
                    .await?;
                return Ok(());
            }
            Some(Fault::Stall(n)) => {
                client_write.write_all(&answer.raw).await?;
                client_write
                    .write_all(&answer_body[..n.min(answer_body.len())])
                    .await?;
                return hang(client_read.into_inner()).await;
            }
            _ => {
                client_write.write_all(&answer.raw).await?;
                client_write.write_all(&answer_body).await?;
            }
        }
        if closes {
            server = None;
        }
    }
}

/// Holds the connection open until the client closes it.
async fn hang(mut client: OwnedReadHalf) -> std::io::Result<()> {
    let mut sink = [0u8; 1024];
    while client.read(&mut sink).await? > 0 {}
    Ok(())
}
