use mail_parser::{MessageParser, PartType, Message};
fn dump(m: &Message, indent: usize) {
    for (i, p) in m.parts.iter().enumerate() {
        let ct = p.headers.iter().find(|h| h.name.as_str().eq_ignore_ascii_case("content-type")).map(|h| format!("{:?}", h.value)).unwrap_or_default();
        let kind = match &p.body { PartType::Text(t) => format!("Text({:?})", &t.chars().take(60).collect::<String>()), PartType::Html(t)=> format!("Html({:?})", &t.chars().take(60).collect::<String>()), PartType::Binary(b)=>format!("Bin({})", b.len()), PartType::InlineBinary(b)=>format!("IBin({})", b.len()), PartType::Message(_)=>"Msg".into(), PartType::Multipart(v)=>format!("Multi{:?}", v)};
        println!("{:indent$}{} off {}/{}/{} enc_problem={} {} ct={}", "", i, p.offset_header, p.offset_body, p.offset_end, p.is_encoding_problem, kind, &ct[..ct.len().min(200)], indent=indent);
        if let PartType::Message(mm) = &p.body { dump(mm, indent+4); }
    }
}
#[test]
fn scratch() {
    let dir = std::env::var("SCRATCH").unwrap_or("/tmp/scratch".into());
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files {
        let raw = std::fs::read(&f).unwrap();
        println!("===== {}", f.display());
        let m = MessageParser::new().with_mime_headers().parse(&raw).unwrap();
        dump(&m, 0);
    }
}
