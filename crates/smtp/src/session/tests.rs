use super::*;

/// Feeds `chunks` to a primed receiver; the body once the end is seen.
fn receive(chunks: &[&[u8]]) -> Option<Vec<u8>> {
    let (mut receiver, mut body) = start_data();
    for chunk in chunks {
        let mut it = chunk.iter();
        if receiver.ingest(&mut it, &mut body) {
            body.drain(..2);
            return Some(body);
        }
    }
    None
}

#[test]
fn data_ends_at_crlf_dot_crlf_only() {
    /// Reads of the data, and the body once the end is seen.
    type Case<'a> = (&'a [&'a [u8]], Option<&'a [u8]>);
    let table: &[Case] = &[
        (
            &[b"Subject: x\r\n\r\nhi\r\n.\r\n"],
            Some(b"Subject: x\r\n\r\nhi\r\n"),
        ),
        // empty message, and a first line that starts with a dot
        (&[b".\r\n"], Some(b"")),
        (&[b"..x\r\n.\r\n"], Some(b".x\r\n")),
        (&[b"a\r\n..\r\n.\r\n"], Some(b"a\r\n.\r\n")),
        // the end split over reads, at every place
        (&[b"a\r", b"\n.\r\n"], Some(b"a\r\n")),
        (&[b"a\r\n", b".\r\n"], Some(b"a\r\n")),
        (&[b"a\r\n.", b"\r\n"], Some(b"a\r\n")),
        (&[b"a\r\n.\r", b"\n"], Some(b"a\r\n")),
        // SMTP smuggling: a bare LF or a bare CR around the dot is not the end
        (&[b"a\n.\r\nMAIL FROM:<x@y>\r\n"], None),
        (&[b"a\r.\r\nMAIL FROM:<x@y>\r\n"], None),
        (&[b"a\r\n.\nMAIL FROM:<x@y>\r\n"], None),
        (&[b"a\n.\nMAIL FROM:<x@y>\r\n"], None),
        (&[b"a\r\n.\rMAIL FROM:<x@y>\r\n"], None),
        (&[b"\n.\r\n"], None),
        (
            &[b"a\n.\r\nRCPT TO:<x@y>\r\n", b"\r\n.\r\n"],
            Some(b"a\n.\r\nRCPT TO:<x@y>\r\n\r\n"),
        ),
    ];
    for (chunks, want) in table {
        let got = receive(chunks);
        assert_eq!(got.as_deref(), *want, "{chunks:?}");
    }
}

/// Why `start_data` primes the receiver: on its own, smtp-proto 0.2.5's `DataReceiver`
/// does not see the start of the data as the start of a line.
#[test]
fn smtp_proto_receiver_alone_misses_the_first_line() {
    let mut receiver = DataReceiver::new();
    let mut body = Vec::new();
    assert!(!receiver.ingest(&mut b".\r\n".iter(), &mut body));
    assert_eq!(body, b".\r\n");
}

#[test]
fn queue_ids_differ() {
    let a = queue_id();
    assert_eq!(a.len(), 16);
    assert_ne!(a, queue_id());
}
