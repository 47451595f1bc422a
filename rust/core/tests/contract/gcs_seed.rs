//! Writing `gs://` test objects with fake-gcs-server's own JSON upload API
//! (`POST /upload/storage/v1/b/BUCKET/o?uploadType=media&name=KEY`), as
//! `tests/conftest.py` does: the emulator refuses object_store's uploads.
//! One plain HTTP/1.1 request on a loopback socket; no client library.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Store `data` as the object `uri` (`gs://bucket/key`) on the emulator
/// that `STORAGE_EMULATOR_HOST` names; panics on any failure.
pub fn upload(uri: &str, data: &[u8]) {
    let (bucket, key) = uri
        .strip_prefix("gs://")
        .and_then(|rest| rest.split_once('/'))
        .unwrap_or_else(|| panic!("not a gs:// object URI: {uri}"));
    let host = std::env::var("STORAGE_EMULATOR_HOST").expect("STORAGE_EMULATOR_HOST is set");
    let authority = host.trim_start_matches("http://").trim_end_matches('/');
    assert!(
        authority.starts_with("127.0.0.1:"),
        "STORAGE_EMULATOR_HOST={host:?} is not on 127.0.0.1"
    );
    let head = format!(
        "POST /upload/storage/v1/b/{bucket}/o?uploadType=media&name={} HTTP/1.1\r\n\
         Host: {authority}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        percent_encode(key),
        data.len()
    );
    let mut stream = TcpStream::connect(authority)
        .unwrap_or_else(|e| panic!("connecting to fake-gcs-server at {authority}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    stream.write_all(head.as_bytes()).expect("request head");
    stream.write_all(data).expect("request body");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("response");
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.lines().next().unwrap_or_default();
    assert!(
        status.starts_with("HTTP/1.1 200"),
        "uploading {uri} to fake-gcs-server failed: {}",
        &answer[..answer.len().min(500)]
    );
}

/// Every byte but the unreserved ones (`A-Z a-z 0-9 - . _ ~`) as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}
