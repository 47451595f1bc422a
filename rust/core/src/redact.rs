//! Credentials kept out of text: the user and password of any URL in a
//! message (`http://user:pw@host`) and the placeholder that replaces them.
//! Both the error type (whose messages may quote a URL) and the options
//! (whose `Debug` output must not show one) use it, so it sits below both.

/// What a credential is replaced with in messages and `Debug` output.
pub const REDACTED: &str = "<redacted>";

/// Where the userinfo (`user:pw`) of each URL in `text` lies: the bytes
/// between a `scheme://` and the last `@` of the authority that follows.
pub(crate) fn userinfo_spans(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("://") {
        let start = from + found + 3;
        let scheme = text[..from + found]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        let authority_len = text[start..]
            .find(|c: char| "/?#\"'<>`".contains(c) || c.is_whitespace())
            .unwrap_or(text.len() - start);
        if let Some(at) = text[start..start + authority_len].rfind('@') {
            if scheme && at > 0 {
                spans.push(start..start + at);
            }
        }
        from = start;
    }
    spans
}

/// `text` with the user and password of every URL in it replaced:
/// `http://user:pw@host/x` becomes `http://<redacted>@host/x`.
pub fn redact_userinfo(text: &str) -> String {
    let spans = userinfo_spans(text);
    if spans.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut kept = 0;
    for span in spans {
        out.push_str(&text[kept..span.start]);
        out.push_str(REDACTED);
        kept = span.end;
    }
    out.push_str(&text[kept..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_redacted_in_any_text() {
        let cases = [
            (
                "GET http://user:pw@127.0.0.1:9/b/k failed",
                "GET http://<redacted>@127.0.0.1:9/b/k failed",
            ),
            ("s3://bucket/key@v2", "s3://bucket/key@v2"),
            (
                "see (https://a@b) and ftp://c:d@e/f",
                "see (https://<redacted>@b) and ftp://<redacted>@e/f",
            ),
            (
                "mailto:x@y.z, url=\"http://u:p@h?q=a@b\"",
                "mailto:x@y.z, url=\"http://<redacted>@h?q=a@b\"",
            ),
            ("no url here: a://", "no url here: a://"),
            ("http://@host", "http://@host"),
        ];
        for (text, want) in cases {
            assert_eq!(redact_userinfo(text), want, "{text}");
        }
    }
}
