//! Hostile messages, generated: each is built to make a parser do deep, wide or long work, or
//! to hold bytes a careless decoder trips on (issue 18, point 3). The tests send them through
//! the parser (postern-mime) and through SMTP into the binary; each must be stored or refused
//! with a reason, never panic, never be lost after a `250`.

/// The start of every hostile message: a From, a To, a Subject naming the case, a Message-ID.
fn head(case: &str, to: &str) -> String {
    format!(
        "From: Hostile <hostile@customer.test>\r\nTo: {to}\r\nSubject: hostile {case}\r\n\
         Message-ID: <hostile-{case}@customer.test>\r\nMIME-Version: 1.0\r\n"
    )
}

/// Multiparts nested `depth` levels deep, a text part at the bottom.
pub fn nested(depth: usize, to: &str) -> Vec<u8> {
    let mut out = head("nested", to);
    for level in 0..depth {
        out.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n"
        ));
    }
    out.push_str("Content-Type: text/plain\r\n\r\nthe bottom\r\n");
    for level in (0..depth).rev() {
        out.push_str(&format!("--b{level}--\r\n"));
    }
    out.into_bytes()
}

/// A message with `count` extra header fields.
pub fn many_headers(count: usize, to: &str) -> Vec<u8> {
    let mut out = head("headers", to);
    for i in 0..count {
        out.push_str(&format!("X-Filler-{i}: {i}\r\n"));
    }
    out.push_str("\r\nbody\r\n");
    out.into_bytes()
}

/// One header field `bytes` long, on one line.
pub fn long_header_line(bytes: usize, to: &str) -> Vec<u8> {
    let mut out = head("long-line", to).into_bytes();
    out.extend_from_slice(b"X-Long: ");
    out.resize(out.len() + bytes, b'a');
    out.extend_from_slice(b"\r\n\r\nbody\r\n");
    out
}

/// A multipart of `parts` small text parts.
pub fn many_parts(parts: usize, to: &str) -> Vec<u8> {
    let mut out = head("parts", to);
    out.push_str("Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n");
    for i in 0..parts {
        out.push_str(&format!(
            "--p\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n"
        ));
    }
    out.push_str("--p--\r\n");
    out.into_bytes()
}

/// A text part and an attachment whose base64 is broken (bad letters, bad padding, cut).
pub fn broken_base64(to: &str) -> Vec<u8> {
    let mut out = head("base64", to);
    out.push_str(
        "Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n--p\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         aGVsbG8g!!!d29y*bGQ=x=\r\n===\r\nQQ\r\n--p\r\n\
         Content-Type: application/pdf; name=\"broken.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"broken.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nJVBERi0x%%%LjQK====Cg\r\n--p--\r\n",
    );
    out.into_bytes()
}

/// Parts in charsets nobody knows, and an encoded word in one.
pub fn unknown_charsets(to: &str) -> Vec<u8> {
    let mut out = format!(
        "From: =?x-no-such-charset?B?SGVsbG8=?= <hostile@customer.test>\r\nTo: {to}\r\n\
         Subject: =?klingon-8?Q?hostile_charset?=\r\n\
         Message-ID: <hostile-charset@customer.test>\r\nMIME-Version: 1.0\r\n"
    );
    out.push_str(
        "Content-Type: multipart/alternative; boundary=\"p\"\r\n\r\n--p\r\n\
         Content-Type: text/plain; charset=x-unknown-42\r\n\r\nplain \u{e9}\r\n--p\r\n\
         Content-Type: text/html; charset=\"\"\r\n\r\n<p>html</p>\r\n--p--\r\n",
    );
    out.into_bytes()
}

/// NUL bytes in a header value, in the body, and in an attachment's name.
pub fn nul_bytes(to: &str) -> Vec<u8> {
    // In the Subject too (the record's name), and in a From name.
    let mut out = head("nul\0subject", to)
        .replace("From: Hostile", "From: Host\0ile")
        .into_bytes();
    out.extend_from_slice(b"X-Nul: a\0b\r\n");
    out.extend_from_slice(
        b"Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n--p\r\n\
          Content-Type: text/plain\r\n\r\nbefore\0after\r\n--p\r\n\
          Content-Type: application/octet-stream; name=\"a\0b.bin\"\r\n\
          Content-Disposition: attachment; filename=\"a\0b.bin\"\r\n\r\n\0\0\0\r\n--p--\r\n",
    );
    out
}
