#![allow(missing_docs)]
#[test]
fn debug() {
    let dir = format!("{}/tests/bounces", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(format!("{dir}/expected.jsonl")).unwrap();
    let mut rows: std::collections::BTreeMap<String, usize> = Default::default();
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        *rows
            .entry(v["file"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let mut more = 0;
    let mut fewer = 0;
    for (f, n) in &rows {
        let raw = std::fs::read(format!("{dir}/emails/{f}")).unwrap();
        let m = postern_mime::parse(&raw).unwrap();
        let r: Vec<String> = m
            .dsn
            .recipients
            .iter()
            .map(|r| format!("{}[{:?},{}]", r.address, r.source, r.status))
            .collect();
        if r.len() > *n {
            more += 1;
        }
        if r.len() < *n {
            fewer += 1;
        }
        println!(
            "{f} rows={n} ids={} {}",
            m.dsn.original_message_ids.len(),
            r.join(" ")
        );
    }
    println!("more={more} fewer={fewer}");
}
