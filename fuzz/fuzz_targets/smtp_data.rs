//! smtp-proto's DATA and BDAT readers as the session feeds them: the same bytes given whole or
//! cut in two at any place must give the same message and the same end (a reader that depends
//! on where a read ends would let a sender smuggle an end of data across TCP segments).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_proto::request::receiver::{BdatReceiver, DataReceiver, RequestReceiver};

/// The message DATA reads from `pieces`, and how many bytes of input it took.
fn data(pieces: &[&[u8]]) -> (Vec<u8>, Option<usize>) {
    let mut receiver = DataReceiver::new();
    let mut message = Vec::new();
    let mut taken = 0;
    for piece in pieces {
        let mut iter = piece.iter();
        let done = receiver.ingest(&mut iter, &mut message);
        taken += piece.len() - iter.as_slice().len();
        if done {
            return (message, Some(taken));
        }
    }
    (message, None)
}

fuzz_target!(|input: &[u8]| {
    let Some((&cut, bytes)) = input.split_first() else {
        return;
    };
    let at = usize::from(cut) * bytes.len() / 256;
    let whole = data(&[bytes]);
    let split = data(&[&bytes[..at], &bytes[at..]]);
    assert_eq!(whole, split, "DATA does not depend on where a read ends");
    if let Some(end) = whole.1 {
        // smtp-proto ends DATA at CRLF . CR* CRLF; the session refuses (and closes on) an end
        // with a bare CR, found here first: `session::bare_cr_end`, test
        // `end_of_data_with_a_bare_cr_is_refused_and_closes`.
        let before_crlf = bytes[..end - 2].iter().rposition(|&b| b != b'\r');
        let dot = before_crlf.map(|i| bytes[i]);
        assert_eq!(dot, Some(b'.'), "DATA ends only at a line of one dot");
        let line_start = before_crlf.unwrap_or(0);
        assert!(
            line_start == 0 || bytes[..line_start].ends_with(b"\r\n"),
            "that line starts after CRLF"
        );
        if !bytes[..end].ends_with(b"\r\n.\r\n") {
            assert_eq!(whole.0.last(), Some(&b'\r'), "the session can tell a bare CR end");
        }
    }
    // BDAT of the first byte's size: exactly that many bytes, whatever they hold.
    let size = usize::from(cut);
    let mut bdat = BdatReceiver::new(size, false);
    let mut message = Vec::new();
    let mut iter = bytes.iter();
    let done = bdat.ingest(&mut iter, &mut message);
    assert_eq!(done, bytes.len() >= size);
    assert_eq!(message, bytes[..size.min(bytes.len())]);
    // Commands: any bytes, never a panic.
    let mut requests = RequestReceiver::default();
    let mut iter = bytes.iter();
    while !iter.as_slice().is_empty() {
        let before = iter.as_slice().len();
        let _ = requests.ingest(&mut iter);
        if iter.as_slice().len() == before {
            break;
        }
    }
});
