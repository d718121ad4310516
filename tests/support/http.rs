//! Tiny blocking HTTP/1.1 client (`Connection: close`) over `std::net::TcpStream`.

use super::*;

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// In order received; names as sent.
    pub headers: Vec<(String, String)>,
    /// Decoded from chunked transfer encoding if needed (never decompressed).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Body as UTF-8 (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Body as JSON.
    pub fn json(&self) -> Result<Json, String> {
        Json::parse(&self.text())
    }
}

/// The value of the first header called `name` (case-insensitive).
pub fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Timeouts for connect, each read and each write.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

pub fn http_get(url: &str) -> Result<HttpResponse, String> {
    http_request("GET", url, &[], b"")
}

pub fn http_put(url: &str, body: &[u8]) -> Result<HttpResponse, String> {
    http_request("PUT", url, &[], body)
}

pub fn http_post(url: &str, body: &[u8]) -> Result<HttpResponse, String> {
    http_request("POST", url, &[], body)
}

pub fn http_delete(url: &str) -> Result<HttpResponse, String> {
    http_request("DELETE", url, &[], b"")
}

/// Sends one request to an `http://host:port/path?query` URL and reads the whole response.
/// `Host`, `Content-Length` and `Connection: close` are added; `headers` may add others
/// (e.g. `Accept`, `Content-Type`). `Err` only for transport failures, any status is `Ok`.
/// For `HEAD`, `body` holds whatever the server sent after the headers.
pub fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("only http:// URLs are supported: {url}"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = hostport
        .to_socket_addrs()
        .map_err(|e| format!("resolve {hostport}: {e}"))?
        .next()
        .ok_or_else(|| format!("no address for {hostport}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(HTTP_TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(HTTP_TIMEOUT))
        .map_err(|e| e.to_string())?;

    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n");
    for (k, v) in headers {
        write!(req, "{k}: {v}\r\n").unwrap();
    }
    if !body.is_empty() || matches!(method, "PUT" | "POST") {
        write!(req, "Content-Length: {}\r\n", body.len()).unwrap();
    }
    req.push_str("\r\n");
    let mut raw_req = req.into_bytes();
    raw_req.extend_from_slice(body);
    stream
        .write_all(&raw_req)
        .and_then(|_| stream.flush())
        .map_err(|e| format!("{method} {url}: write: {e}"))?;

    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("{method} {url}: read: {e}"))?;
    parse_response(&raw, method == "HEAD").map_err(|e| format!("{method} {url}: {e}"))
}

/// `head_request`: the answer to a `HEAD`, whose framing headers describe a body that is not sent;
/// its `body` is then every byte that followed the headers (empty from a correct server).
fn parse_response(raw: &[u8], head_request: bool) -> Result<HttpResponse, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers in response")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|e| format!("header not UTF-8: {e}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("empty response")?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line: {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    if head_request {
        // No body to frame: keep whatever came, so a test can assert there was none.
    } else if chunked {
        body = dechunk(&body)?;
    } else if let Some(len) =
        find_header(&headers, "content-length").and_then(|v| v.parse::<usize>().ok())
    {
        // With `Connection: close` the body is all that follows: exactly `len` bytes.
        if body.len() != len {
            return Err(format!(
                "body of {} bytes, Content-Length says {len}",
                body.len()
            ));
        }
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunk header")?;
        let size_str = std::str::from_utf8(&b[..eol]).map_err(|e| e.to_string())?;
        let size_str = size_str.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size_str, 16).map_err(|e| format!("bad chunk size: {e}"))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size + 2 {
            return Err("chunk truncated".into());
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for query strings).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            write!(out, "%{b:02X}").unwrap();
        }
    }
    out
}

/// Runs an instant PromQL query against a Prometheus [`Server`]; returns `data.result`
/// (an array of `{"metric": {...}, "value": [ts, "v"]}`), or `Err` with the body on failure.
pub fn prometheus_query(prom: &Server, promql: &str) -> Result<Vec<Json>, String> {
    let url = format!("{}/api/v1/query?query={}", prom.url(), url_encode(promql));
    let r = http_get(&url)?;
    let v = r.json().map_err(|e| format!("{e}: {}", r.text()))?;
    if r.status != 200 || v.get("status").and_then(Json::as_str) != Some("success") {
        return Err(format!("HTTP {}: {}", r.status, r.text()));
    }
    v.at(&["data", "result"])
        .and_then(Json::as_array)
        .map(<[Json]>::to_vec)
        .ok_or_else(|| format!("no data.result: {}", r.text()))
}
