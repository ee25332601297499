//! TEMPORARY (perf work): dumps the Debug view of parse() over a fixed corpus.
use std::io::Write;
use std::path::Path;

fn fill(template: &str, vals: &dyn Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let k: String = chars.by_ref().take_while(|c| *c != '}').collect();
                out.push_str(&vals(&k));
            }
            c => out.push(c),
        }
    }
    out
}

fn main() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(base.join("templates"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".eml.tmpl"))
        .collect();
    names.sort();
    let value_sets: Vec<Box<dyn Fn(&str) -> String>> = vec![
        Box::new(|k: &str| match k {
            "to" => "groups@example.com, other@gmail.com".into(),
            "subject" => "Frogs".into(),
            "email_from" => "Sylvie Lelitre <test.sylvie.lelitre@agrolait.com>".into(),
            "return_path" => "<whatever-2a840@postmaster.twitter.com>".into(),
            "msg_id" => "<1198923581.41972151344608186760.JavaMail@agrolait.com>".into(),
            "date" => "Fri, 10 Aug 2012 14:16:26 +0000".into(),
            "email_to" | "delivered_to" => "groups@example.com".into(),
            "content" => "SGVsbG8gV29ybGQ=".into(),
            "pdf_mime" => "application/pdf".into(),
            _ => String::new(),
        }),
        Box::new(|k: &str| {
            match k {
            "to" | "email_to" | "delivered_to" => "sales@bench.test".into(),
            "subject" => "=?utf-8?q?Undeliverable=3A_x?=".into(),
            "email_from" => "\"Doe, John\" <MAILER-DAEMON@x.example>, b@c.example".into(),
            "return_path" => "<>".into(),
            "msg_id" => "<a b\r\n c@d>".into(),
            "extra" => "In-Reply-To: <x@y>\nReferences: <r1@y>\n <r2@y>\nX-Failed-Recipients: z@q.example\nAuto-Submitted: auto-replied".into(),
            "cc" => "c1@x.example, =?utf-8?b?w6k=?= <c2@x.example>".into(),
            "references" => "<p@q> <r@s>".into(),
            "charset" => "iso-8859-1".into(),
            "content" => "SGVs!bG8=".into(),
            "pdf_mime" => "pdf".into(),
            "extra_html" => "<img src=\"cid:x\"/>".into(),
            "date" => "garbage".into(),
            _ => "v".into(),
        }
        }),
    ];
    for n in &names {
        let text = std::fs::read_to_string(base.join("templates").join(n)).unwrap();
        inputs.push((format!("{n}/raw"), text.clone().into_bytes()));
        for (i, vals) in value_sets.iter().enumerate() {
            inputs.push((format!("{n}/{i}"), fill(&text, vals.as_ref()).into_bytes()));
        }
    }
    let mut bn: Vec<_> = std::fs::read_dir(base.join("bounces/emails"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    bn.sort();
    for p in bn {
        inputs.push((p.display().to_string(), std::fs::read(&p).unwrap()));
    }
    // Variants: CRLF, truncations, mutations (deterministic LCG).
    let originals = inputs.clone();
    let mut seed: u64 = 0x1234_5678;
    let mut rnd = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for (name, raw) in &originals {
        let mut crlf = Vec::new();
        for &b in raw {
            if b == b'\n' {
                crlf.push(b'\r');
            }
            crlf.push(b);
        }
        inputs.push((format!("{name}/crlf"), crlf));
        for k in 0..6 {
            let mut m = raw.clone();
            if m.is_empty() {
                continue;
            }
            match k {
                0 => {
                    let at = rnd() % m.len();
                    m.truncate(at);
                }
                1 => {
                    for _ in 0..8 {
                        let at = rnd() % m.len();
                        m[at] = (rnd() % 256) as u8;
                    }
                }
                2 => {
                    let at = rnd() % m.len();
                    let len = (rnd() % 200).min(m.len() - at);
                    m.drain(at..at + len);
                }
                3 => {
                    let at = rnd() % m.len();
                    let ins = [
                        b"\n--".as_slice(),
                        b"=?utf-8?b?",
                        b"\n\n",
                        b"Content-Type: multipart/mixed; boundary=x\n",
                        b"\r",
                        b":",
                    ][rnd() % 6];
                    m.splice(at..at, ins.iter().copied());
                }
                4 => {
                    let a = rnd() % m.len();
                    let b = rnd() % m.len();
                    let (a, b) = (a.min(b), a.max(b));
                    let chunk = m[a..b].to_vec();
                    m.splice(b..b, chunk);
                }
                _ => {
                    for b in m.iter_mut() {
                        if b.is_ascii_lowercase() && rnd() % 7 == 0 {
                            *b = b.to_ascii_uppercase();
                        }
                    }
                }
            }
            inputs.push((format!("{name}/mut{k}"), m));
        }
    }
    for i in 0..3000 {
        let len = rnd() % 1500;
        let alphabet = b"ab:\n\r -=?<>@;\"/\\.Content-Type: multipart/report; boundary=b\n--b\nFrom MAILER-DAEMON\nbase64 quoted-printable 550 5.1.1 ";
        let m: Vec<u8> = (0..len)
            .map(|_| {
                if rnd() % 20 == 0 {
                    (rnd() % 256) as u8
                } else {
                    alphabet[rnd() % alphabet.len()]
                }
            })
            .collect();
        inputs.push((format!("random{i}"), m));
    }
    let out = std::env::args().nth(1).expect("output path");
    let mut f = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    for (name, raw) in &inputs {
        writeln!(f, "== {name}\n{:#?}", postern_mime::parse(raw)).unwrap();
    }
    eprintln!("{} inputs", inputs.len());
}
