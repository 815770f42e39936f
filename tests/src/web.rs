//! The web app from outside: `liaison --home H ui` as a process, and a
//! small HTTP/1.1 client that sends exactly the headers a test asks for
//! (a browser library would fix Host and Origin itself, and the security
//! tests need to forge them).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use crate::Person;

/// A running `liaison ui`, killed on drop.
#[derive(Debug)]
pub struct UiProcess {
    child: Child,
    /// The URL it printed (with its launch token).
    pub url: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl UiProcess {
    /// What it wrote to standard error so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The path and query of the launch URL (`/login?token=...`).
    pub fn login_path(&self) -> String {
        let rest = self.url.strip_prefix("http://").expect("an http URL");
        rest[rest.find('/').expect("a path")..].to_owned()
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM it (as Ctrl-C would stop it) and wait for it to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        self.child.wait().expect("wait for liaison ui")
    }
}

impl Drop for UiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Person {
    /// Start `liaison --home H ui --listen 127.0.0.1:0 --no-browser ARGS`
    /// (unlocked with the test passphrase, or locked) and read the URL it
    /// prints first.
    pub fn start_ui(&self, unlocked: bool, args: &[&str]) -> UiProcess {
        let mut all = vec!["ui", "--listen", "127.0.0.1:0", "--no-browser"];
        all.extend_from_slice(args);
        let mut cmd = self.command(&all);
        if !unlocked {
            cmd.env_remove("LIAISON_PASSPHRASE");
        }
        let mut child = cmd
            .env("LIAISON_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn liaison ui");
        let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[ui] {line}");
                shared.lock().unwrap().push(line);
            }
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            for line in lines.map_while(Result::ok) {
                eprintln!("[ui stdout] {line}");
            }
        });
        let Ok(url) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            panic!(
                "liaison ui printed no URL within 60 s:\n{}",
                log.lock().unwrap().join("\n")
            );
        };
        let addr = url
            .strip_prefix("http://")
            .and_then(|r| r.split('/').next())
            .unwrap_or_else(|| panic!("the first line is not an http URL: {url}"))
            .to_owned();
        UiProcess {
            child,
            url,
            addr,
            log,
        }
    }
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers, names in lower case, in order.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
    /// The body, as sent.
    pub bytes: Vec<u8>,
}

impl HttpResponse {
    /// The first header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of the first `<input name="NAME" value="...">` of the page.
    pub fn input_value(&self, name: &str) -> Option<String> {
        let at = self.body.find(&format!("name=\"{name}\" value=\""))?;
        let rest = &self.body[at + name.len() + 15..];
        Some(rest[..rest.find('"')?].to_owned())
    }

    /// Every `value` of `<input ... name="NAME" value="...">` on the page.
    pub fn input_values(&self, name: &str) -> Vec<String> {
        let pat = format!("name=\"{name}\" value=\"");
        self.body
            .match_indices(&pat)
            .filter_map(|(at, _)| {
                let rest = &self.body[at + pat.len()..];
                Some(rest[..rest.find('"')?].to_owned())
            })
            .collect()
    }
}

/// Send one request to `addr` (`127.0.0.1:PORT`) and read the whole
/// answer. `headers` are sent as given; a Host header is added only if
/// they have none.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> HttpResponse {
    request_bytes(
        addr,
        method,
        path,
        headers,
        body.map(str::as_bytes).unwrap_or_default(),
    )
}

/// [`request`] with a body of any bytes.
pub fn request_bytes(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the web app");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if method != "GET" && method != "HEAD" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the HTTP answer");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut rest = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("an HTTP status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        rest = dechunk(&rest);
    }
    HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&rest).into_owned(),
        bytes: rest,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..eol])
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        out.extend_from_slice(&b[start..start + size]);
        b = &b[start + size + 2..];
    }
}

/// A browser as the app sees one: a session cookie, the language cookie,
/// and requests from the app's own origin.
#[derive(Debug, Clone)]
pub struct Browser {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// `NAME=VALUE` of the session cookie, once issued.
    pub session: Option<String>,
    /// `liaison_lang=...`, once chosen.
    pub lang: Option<String>,
    /// `liaison_tz=...`, once chosen.
    pub tz: Option<String>,
}

impl Browser {
    /// A browser without cookies for the app at `addr`.
    pub fn new(addr: &str) -> Browser {
        Browser {
            addr: addr.to_owned(),
            session: None,
            lang: None,
            tz: None,
        }
    }

    fn cookies(&self) -> String {
        [self.session.clone(), self.lang.clone(), self.tz.clone()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, r: &HttpResponse) {
        for (k, v) in &r.headers {
            if k == "set-cookie" {
                let pair = v.split(';').next().unwrap_or_default().to_owned();
                if pair.starts_with("liaison_session_") {
                    self.session = Some(pair);
                } else if pair.starts_with("liaison_lang=") {
                    self.lang = Some(pair);
                } else if pair.starts_with("liaison_tz=") {
                    // An empty value clears it (Max-Age=0).
                    self.tz = (pair != "liaison_tz=").then_some(pair);
                }
            }
        }
    }

    /// GET `path` with the cookies held (redirects are not followed).
    pub fn get(&mut self, path: &str) -> HttpResponse {
        let cookies = self.cookies();
        let r = request(&self.addr, "GET", path, &[("Cookie", &cookies)], None);
        self.keep_cookies(&r);
        r
    }

    /// POST the form `fields` to `path` from the app's origin.
    pub fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> HttpResponse {
        let cookies = self.cookies();
        let origin = format!("http://{}", self.addr);
        let body = form(fields);
        let r = request(
            &self.addr,
            "POST",
            path,
            &[
                ("Cookie", &cookies),
                ("Origin", &origin),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            Some(&body),
        );
        self.keep_cookies(&r);
        r
    }
}

impl Browser {
    /// POST `fields` and `files` ((field, file name, content)) to `path`
    /// as `multipart/form-data`, from the app's origin.
    pub fn post_files(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &[u8])],
    ) -> HttpResponse {
        self.post_files_with(path, fields, files, &[])
    }

    /// [`Browser::post_files`] with more headers (such as the one the
    /// app's script sends with a progress bar).
    pub fn post_files_with(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &[u8])],
        more: &[(&str, &str)],
    ) -> HttpResponse {
        let boundary = "liaison-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (k, v) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        for (k, name, content) in files {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let cookies = self.cookies();
        let origin = format!("http://{}", self.addr);
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let mut headers = vec![
            ("Cookie", cookies.as_str()),
            ("Origin", origin.as_str()),
            ("Content-Type", content_type.as_str()),
        ];
        headers.extend_from_slice(more);
        let r = request_bytes(&self.addr, "POST", path, &headers, &body);
        self.keep_cookies(&r);
        r
    }
}

/// `application/x-www-form-urlencoded` of `fields`.
pub fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A photo, 8 by 8 pixels (a real PNG: a page must be able to show it).
pub const PHOTO: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x08, 0x08, 0x02, 0x00, 0x00, 0x00, 0x4b, 0x6d, 0x29,
    0xdc, 0x00, 0x00, 0x00, 0x11, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x38, 0xa0, 0xa0, 0x80,
    0x15, 0x31, 0x0c, 0x2d, 0x09, 0x00, 0x2a, 0x3f, 0x40, 0x01, 0x78, 0xe6, 0xd5, 0x63, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];
