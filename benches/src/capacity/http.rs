//! A minimal blocking HTTP/1.1 GET over `std::net`, with timeouts on
//! connect, write and every read: enough for `/healthz` and `/metrics` on
//! loopback without pulling an HTTP client and a runtime into the harness.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, bail};

/// Largest response accepted.
const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

/// `GET path` on `addr`; the body of a `200` answer.
pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: text/plain\r\n\r\n"
    )
    .with_context(|| format!("sending GET {path}"))?;
    let mut response = Vec::new();
    stream
        .take(MAX_RESPONSE_BYTES)
        .read_to_end(&mut response)
        .with_context(|| format!("reading the answer to GET {path}"))?;
    parse_response(&response).with_context(|| format!("GET http://{addr}{path}"))
}

/// The body of a `200` response (`Content-Length`, chunked, or until close).
fn parse_response(response: &[u8]) -> anyhow::Result<String> {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = std::str::from_utf8(&response[..split]).context("headers are not UTF-8")?;
    let body = &response[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    if code != "200" {
        bail!("answered {status:?}");
    }
    let header = |name: &str| {
        lines
            .clone()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(body)?
    } else if let Some(length) = header("content-length") {
        let length: usize = length.parse().context("bad Content-Length")?;
        body.get(..length)
            .context("body shorter than Content-Length")?
            .to_vec()
    } else {
        body.to_vec()
    };
    String::from_utf8(body).context("body is not UTF-8")
}

/// Decodes a chunked body.
fn dechunk(mut body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("chunk size line not terminated")?;
        let size_text = std::str::from_utf8(&body[..line_end]).context("chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .with_context(|| format!("chunk size {size_text:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(body.get(..size).context("chunk shorter than announced")?);
        body = body.get(size + 2..).context("chunk not terminated")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_content_length_body_is_cut_at_its_length() {
        let r = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nokEXTRA";
        assert_eq!(parse_response(r).ok().as_deref(), Some("ok"));
    }

    #[test]
    fn a_chunked_body_is_reassembled() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(r).ok().as_deref(), Some("abcde"));
    }

    #[test]
    fn a_status_other_than_200_is_an_error() {
        let r = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";
        assert!(parse_response(r).is_err());
        assert!(parse_response(b"garbage").is_err());
    }
}
