//! The new text of a reply: [`stripped_text`] takes the plain text of an incoming message and
//! returns it without the quoted history and without the signature, keeping inline replies
//! whole.
//!
//! What is recognised, line by line (a line is *quoted* when it starts with `>` after optional
//! white space, unless it is the `>:` that ends a wrapped header; quoted lines are never read
//! as markers):
//!
//! * **History that is not `>`-quoted** (Outlook, webmails, clients that lost the quoting): the
//!   text is cut at the first of
//!   - an "original message" rule: `-----Original Message-----`, `----- Original Message -----`
//!     and its localised forms (`Ursprüngliche Nachricht`, `Message d'origine`,
//!     `Mensaje original`, `Messaggio originale`, `Oorspronkelijk bericht`, `Mensagem original`,
//!     `Ursprungligt meddelande`, `Oprindelig meddelelse`, `Opprinnelig melding`,
//!     `Wiadomość oryginalna`, `Исходное сообщение`, `Původní zpráva`, …);
//!   - a header block: a `From:` line and at least two more header lines (`Sent:`, `Date:`,
//!     `To:`, `Cc:`, `Subject:`) in the same paragraph, also bold (`*From:*`) and localised
//!     (`De :`/`Envoyé :`/`À :`/`Objet :`, `Von:`/`Gesendet:`/`An:`/`Betreff:`,
//!     `De:`/`Enviado el:`/`Para:`/`Asunto:`, Dutch, Italian, Portuguese, Nordic, Polish,
//!     Russian, Czech, Finnish, Hungarian, Turkish…);
//!   - a rule of underscores (Outlook's `________________________________`) whose next line is
//!     a `From:` line;
//!   - an attribution header (below) that is *not* followed by `>`-quoted lines, when it
//!     carries a digit and starts like one (`On`, `Le`, `Am`, `El`, `Op`, `Il`, `In data`,
//!     `Em`, `Den`, `W dniu`, a weekday or a date) or gives an address; also Gmail's
//!     verb-less "30.09.2017, 18.30, Name <a@b>:" and Zoho's "---- On … wrote ----".
//!
//!   A header block right under a forwarded message's title ("---------- Forwarded message
//!   ---------", "Begin forwarded message:") is not history: what the author forwards stays.
//! * **A trailing `>`-quoted block**, with the attribution header just above it: the quoted
//!   lines (and the blank lines between them) at the end of the text are dropped. A quote
//!   that the author answers below is *kept*, with its attribution: an inline or
//!   bottom-posted reply stays whole, only what follows the author's last own line goes. An
//!   unquoted line squeezed between a long quoted line and another quoted line is the rest
//!   of a quoted line that a client wrapped without its `>`, and goes with the quote.
//! * **Attribution headers** ("On `<date>`, `<name>` wrote:"), on one line or wrapped over two
//!   or three, as Gmail, Apple Mail and Thunderbird write them in English, French
//!   ("Le … a écrit :"), German ("Am … schrieb …:"), Spanish ("El … escribió:"), Dutch
//!   ("Op … schreef …:", "… het volgende geschreven:"), Italian ("Il … ha scritto:"),
//!   Portuguese ("Em … escreveu:"), Swedish, Danish and Norwegian ("… skrev …:"), Polish
//!   ("… napisał(a):", "W dniu … pisze:", "Wiadomość napisana przez …:"), Russian
//!   ("… написал:", "… пишет:", and Gmail's verb-less "пн, 2 апр. 2012 г. в 18:26, Name
//!   <a@b>:"), Czech, Finnish, Hungarian, Turkish, Chinese and Japanese; Thunderbird's bare
//!   "Name wrote:" just above a quote.
//! * **Signatures**: everything from the first unquoted `-- ` (or bare `--`) line or mobile
//!   line ("Sent from my iPhone", "Get Outlook for iOS", "Envoyé de mon iPhone", "Von meinem
//!   iPhone gesendet", "Gesendet von Outlook für Android", "Enviado desde mi iPhone" and other
//!   languages); a last line naming another app ("Sent with Spark", "Sent from TypeApp"); a
//!   last `-Name` sign-off paragraph; a mailing-list footer (a rule of underscores followed by
//!   at most a few lines with an address or a link).
//!
//! Removing a signature may uncover a quote (a signature below the history), and removing a
//! quote may uncover a signature, so the trailing steps repeat until nothing changes. The
//! result is always the first lines of the input (trailing `\r` removed), trimmed, and
//! stripping it again changes nothing. Each line is read a bounded number of times, with
//! `regex` (no backtracking), so long or hostile input costs linear time.
//!
//! Not recognised, on purpose or for now: a forwarded message's content (kept, see above); a
//! reply and an attribution on one line ("reply On … wrote:"); attribution headers with blank
//! lines inside; HTML (give this the text part, or the text made from the HTML); signatures
//! and closings without a delimiter ("Regards,\nJoe" stays); a bottom-posted reply keeps the
//! quote it answers (talon, for one, drops it).
//!
//! Written here rather than taken from crates.io: the only reply-parser crate,
//! `email_reply_parser` 0.1.2 (checked with `cargo info`), has one release (2024), a
//! placeholder repository URL, depends on the backtracking `fancy-regex`, and ports GitHub's
//! English-only Ruby patterns ("On … wrote:", "Sent from my"), with no Outlook localisations
//! and none of the languages above. The patterns here are our own; the measurement against
//! public fixtures (GitHub's email_reply_parser, Crisp's email-reply-parser, Mailgun's talon)
//! is in `tests/reply_corpus.rs`.

use std::sync::LazyLock;

use regex::Regex;

/// The new text of a reply: `text` without its trailing quoted history and without its
/// signature, trimmed. Inline replies are kept whole: a quote the author answers below stays,
/// only what comes after the author's last own line goes. Text with no quote and no signature
/// comes back unchanged (trimmed, with `\r\n` turned into `\n`).
pub fn stripped_text(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    let end = reply_end(&lines);
    lines[..end].join("\n").trim().to_owned()
}

/// How many lines, from the top, are the author's reply. Each step only moves `end` up, and
/// each line is read a bounded number of times: the signature delimiter and the first line
/// of text are found once, before the loop.
fn reply_end(lines: &[&str]) -> usize {
    let history = history_start(lines).unwrap_or(lines.len());
    let mut end = (0..history)
        .find(|&i| is_signature_delimiter(lines[i]))
        .unwrap_or(history);
    let first_text = (0..end).find(|&i| !is_blank(lines[i]));
    loop {
        end = trim_end(lines, end);
        let next =
            trailing_quote_start(lines, end).or_else(|| signature_end(lines, end, first_text));
        match next {
            Some(n) if n < end => end = n,
            _ => return end,
        }
    }
}

/// `end` moved up over trailing blank lines and rules (`----`, `____`, `====`).
fn trim_end(lines: &[&str], mut end: usize) -> usize {
    while end > 0 && (is_blank(lines[end - 1]) || is_rule(lines[end - 1])) {
        end -= 1;
    }
    end
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// A line starting with `>`, except the `>:` that ends a wrapped header ("… <a@b\n>:").
fn is_quoted(line: &str) -> bool {
    let t = line.trim();
    t.starts_with('>') && !matches!(t, ">:" | "> :")
}

/// A line made only of two or more `-`, `_` or `=` (after trimming).
fn is_rule(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 2 && t.chars().all(|c| matches!(c, '-' | '_' | '='))
}

/// The first line of an unquoted history: an "original message" rule, a header block that
/// is not a forward, an underscore rule above a `From:` line, or an attribution header not
/// followed by a quote; or the dashed title just above any of them ("-------- Oprindelig
/// besked --------" above a `Fra:` block).
fn history_start(lines: &[&str]) -> Option<usize> {
    let i = (0..lines.len()).find(|&i| {
        let line = lines[i];
        !is_quoted(line)
            && !is_blank(line)
            && (ORIGINAL_MESSAGE.is_match(line)
                || DASHED_ATTRIBUTION.is_match(line)
                || (header_block_at(lines, i) && !forwarded_at(lines, i))
                || underscore_above_from(lines, i)
                || unquoted_attribution_at(lines, i))
    })?;
    let above = trim_blank_end(lines, i);
    let titled = above > 0 && DASHED_TITLE.is_match(lines[above - 1]);
    Some(if titled { above - 1 } else { i })
}

/// Whether the paragraph starting at `i` is a header block: a `From:` line and at least two
/// other header lines among its first ten lines (continuation lines of a long `To:` may sit
/// between them).
fn header_block_at(lines: &[&str], i: usize) -> bool {
    if !HEADER_FIELD.is_match(lines[i]) {
        return false;
    }
    let (mut from, mut others) = (false, 0);
    for line in lines[i..].iter().take(10).take_while(|l| !is_blank(l)) {
        if FROM_FIELD.is_match(line) {
            from = true;
        } else if HEADER_FIELD.is_match(line) {
            others += 1;
        }
    }
    from && others >= 2
}

/// Whether the header block at `i` is a forwarded message's ("---------- Forwarded message
/// ---------", "Begin forwarded message:" just above): content the author sends on, kept.
fn forwarded_at(lines: &[&str], i: usize) -> bool {
    let above = trim_blank_end(lines, i);
    above > 0 && FORWARDED.is_match(lines[above - 1])
}

/// Outlook's underscore rule (ten or more `_`) whose next non-blank line is a `From:` line.
fn underscore_above_from(lines: &[&str], i: usize) -> bool {
    let t = lines[i].trim();
    t.len() >= 10
        && t.chars().all(|c| c == '_')
        && next_non_blank(lines, i + 1).is_some_and(|j| FROM_FIELD.is_match(lines[j]))
}

fn next_non_blank(lines: &[&str], from: usize) -> Option<usize> {
    (from..lines.len()).find(|&j| !is_blank(lines[j]))
}

/// An attribution header that starts at `i`, carries a digit and is followed by unquoted
/// text (or nothing): the history below it lost its quoting. With a verb it must start with
/// an intro word or a date, or give an address ("In 2020 my colleague wrote:" above a
/// citation is the author's); without one (a date, a time and `<address>:`) it must give an
/// address.
fn unquoted_attribution_at(lines: &[&str], i: usize) -> bool {
    let intro = INTRO_WORD.is_match(lines[i])
        || lines[i]
            .trim_start()
            .starts_with(|c: char| c.is_ascii_digit());
    (1..=3).any(|k| {
        if i + k > lines.len() || !header_lines_ok(&lines[i..i + k]) {
            return false;
        }
        let text = joined(&lines[i..i + k]);
        let address = text.contains('@');
        let header =
            (is_attribution(&text) && (intro || address)) || (DATE_ONLY.is_match(&text) && address);
        header
            && text.contains(|c: char| c.is_ascii_digit())
            && !next_non_blank(lines, i + k).is_some_and(|j| is_quoted(lines[j]))
    })
}

/// Lines that can make up a header: none blank, none quoted, none very long.
fn header_lines_ok(lines: &[&str]) -> bool {
    lines
        .iter()
        .all(|l| !is_blank(l) && !is_quoted(l) && l.len() <= 300)
}

fn joined(lines: &[&str]) -> String {
    lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ")
}

/// Whether a line starts like an attribution header: an intro word, a weekday before a
/// number, or a number.
fn starts_like_header(line: &str) -> bool {
    INTRO_WORD.is_match(line) || DATE_START.is_match(line)
}

/// An attribution with a verb: "… wrote:", "Am … schrieb …:" and their kin.
fn is_attribution(text: &str) -> bool {
    VERB_AT_END.is_match(text)
        || VERB_IN_MIDDLE.is_match(text)
        || POLISH_APPLE.is_match(text)
        || WROTE_NO_COLON.is_match(text)
}

/// Where the quoted block that ends the text (before `end`) starts, with the attribution
/// header above it; `None` when the text does not end with a quoted line.
fn trailing_quote_start(lines: &[&str], end: usize) -> Option<usize> {
    if end == 0 || !is_quoted(lines[end - 1]) {
        return None;
    }
    let mut start = end - 1;
    while start > 0 && {
        let prev = lines[start - 1];
        is_quoted(prev) || is_blank(prev) || is_lazy_continuation(lines, start - 1)
    } {
        start -= 1;
    }
    while is_blank(lines[start]) {
        start += 1;
    }
    let above = trim_blank_end(lines, start);
    Some(attribution_ending_at(lines, above).unwrap_or(start))
}

/// An unquoted line squeezed between two quoted lines, below a long one: the rest of a quoted
/// line that a client wrapped without its `>` ("> … Nullam pharetra d\nignissim odio?\n>").
/// An inline answer usually has blank lines around it, or follows a short question.
fn is_lazy_continuation(lines: &[&str], i: usize) -> bool {
    i > 0
        && i + 1 < lines.len()
        && !is_blank(lines[i])
        && is_quoted(lines[i - 1])
        && lines[i - 1].trim_end().chars().count() >= 60
        && is_quoted(lines[i + 1])
}

fn trim_blank_end(lines: &[&str], mut end: usize) -> usize {
    while end > 0 && is_blank(lines[end - 1]) {
        end -= 1;
    }
    end
}

/// The first line of an attribution header whose last line is `end - 1`, just above a quote:
/// the longest one (one to three lines) that starts like a header ("On …", a weekday, a
/// date, a name above its wrapped `<address>`), so "On 1 May,\nat 10:18, Ann\n<a@b> wrote:"
/// is taken whole; it stops at an intro word ("On", "Le", "Am"…), so a line of the author's
/// above "On … wrote:" stays; else the last line alone when it is a header ("Ann wrote:").
fn attribution_ending_at(lines: &[&str], end: usize) -> Option<usize> {
    let is_header = |s: usize| {
        let part = &lines[s..end];
        let text = joined(part);
        header_lines_ok(part) && (is_attribution(&text) || DATE_ONLY.is_match(&text))
    };
    let mut best = None;
    for s in (1..=3.min(end)).map(|k| end - k) {
        let start = starts_like_header(lines[s]) || name_above_address(lines, s);
        if start && is_header(s) {
            best = Some(s);
            if INTRO_WORD.is_match(lines[s]) {
                break;
            }
        }
    }
    best.or_else(|| (end > 0 && is_header(end - 1)).then(|| end - 1))
}

/// A short line that is not a sentence, above a line starting with `<`: a name whose address
/// was wrapped ("Megan\n<m@example.com> ezt írta …:").
fn name_above_address(lines: &[&str], s: usize) -> bool {
    let name = lines[s].trim();
    name.chars().count() <= 60
        && !name.ends_with(['.', '!', '?', ':'])
        && lines
            .get(s + 1)
            .is_some_and(|l| l.trim_start().starts_with('<'))
}

/// A `-- ` (or bare `--`) line, or a mobile signature: what follows is signature or history.
fn is_signature_delimiter(line: &str) -> bool {
    line.trim_end() == "--" || MOBILE_SIGNATURE.is_match(line.trim())
}

/// Where a signature at the end of the text (before `end`) starts: the last line when it is
/// an app's line ("Sent with Spark"), a mailing-list footer, or a `-Name` sign-off paragraph
/// below some text (`first_text`: the first non-blank line).
fn signature_end(lines: &[&str], end: usize, first_text: Option<usize>) -> Option<usize> {
    let last = (0..end).rev().find(|&i| !is_blank(lines[i]))?;
    if SENT_WITH_APP.is_match(lines[last].trim()) {
        return Some(last);
    }
    if let Some(i) = list_footer_start(lines, end) {
        return Some(i);
    }
    let sign_off = last > 0
        && is_blank(lines[last - 1])
        && first_text.is_some_and(|f| f < last)
        && SIGN_OFF.is_match(lines[last].trim_end());
    sign_off.then_some(last)
}

/// A mailing-list footer: an unquoted rule of ten or more underscores among the last eight
/// lines before `end`, followed by lines that give an address or a link.
fn list_footer_start(lines: &[&str], end: usize) -> Option<usize> {
    let i = (end.saturating_sub(8)..end).rev().find(|&i| {
        let t = lines[i].trim();
        t.len() >= 10 && t.chars().all(|c| c == '_')
    })?;
    let below = &lines[i + 1..end];
    below
        .iter()
        .any(|l| l.contains('@') || l.contains("://"))
        .then_some(i)
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid pattern")
}

/// `words` as the alternatives of a regex group.
fn one_of(words: &[&str]) -> String {
    words.join("|")
}

/// The titles of Outlook's "-----Original Message-----" rule and its localised forms.
const ORIGINAL_TITLES: &[&str] = &[
    "original message",
    "reply message",
    "ursprüngliche nachricht",
    "originalnachricht",
    "antwort nachricht",
    "message d'origine",
    "message original",
    "mensaje original",
    "oprindelig besked",
    "mensagem original",
    "messaggio originale",
    "oorspronkelijk bericht",
    "origineel bericht",
    "ursprungligt meddelande",
    "originalmeddelande",
    "oprindelig meddelelse",
    "opprinnelig melding",
    "opprinneleg melding",
    "alkuperäinen viesti",
    "wiadomość oryginalna",
    "oryginalna wiadomość",
    "původní zpráva",
    "pôvodná správa",
    "eredeti üzenet",
    "orijinal mesaj",
    "özgün ileti",
    "исходное сообщение",
    "оригинальное сообщение",
    "原始邮件",
    "原始郵件",
    "元のメッセージ",
];

/// "-----Original Message-----" and its localised forms ([`ORIGINAL_TITLES`]), between rules
/// of dashes (or `_`, `=`, `*`).
static ORIGINAL_MESSAGE: LazyLock<Regex> = LazyLock::new(|| {
    let titles = one_of(ORIGINAL_TITLES);
    regex(&format!(
        r"(?i)^\s*[-_=*]{{2,}}\s*(?:{titles})\s*[-_=*]{{2,}}\s*$"
    ))
});

/// The name of the `From:` field in the header blocks of Outlook, AOL, Yahoo, Zimbra, in
/// English, French, German, Dutch, Italian, Nordic languages, Polish, Russian, Finnish,
/// Hungarian, Turkish, Czech, Chinese and Japanese.
const FROM_NAMES: &[&str] = &[
    "from",
    "de",
    "von",
    "van",
    "da",
    "från",
    "fra",
    "frå",
    "od",
    "от",
    "lähettäjä",
    "feladó",
    "kimden",
    "odesílatel",
    "发件人",
    "寄件者",
    "差出人",
];

/// The `From:` field of a header block, bold (`*From:*`) or not.
static FROM_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    let names = one_of(FROM_NAMES);
    regex(&format!(
        r"(?i)^\s*\*{{0,2}}\s*(?:{names})\s*\*{{0,2}}\s*[:：]"
    ))
});

/// The other fields of a header block (`Sent:`, `Date:`, `To:`, `Cc:`, `Subject:`), in the
/// languages of [`FROM_NAMES`].
const FIELD_NAMES: &[&str] = &[
    "sent",
    "date",
    "to",
    "cc",
    "bcc",
    "subject",
    "reply-to",
    "envoyé(?: le)?",
    "à",
    "a",
    "objet",
    "sujet",
    "copie à",
    "cci",
    "message du",
    "gesendet",
    "datum",
    "an",
    "betreff",
    "enviado(?: el)?",
    "fecha",
    "para",
    "asunto",
    "verzonden",
    "aan",
    "onderwerp",
    "inviato",
    "data",
    "oggetto",
    "assunto",
    "skickat",
    "till",
    "ämne",
    "sendt",
    "til",
    "emne",
    "dato",
    "wysłano",
    "wysłane",
    "do",
    "temat",
    "отправлено",
    "дата",
    "кому",
    "копия",
    "тема",
    "lähetetty",
    "vastaanottaja",
    "aihe",
    "elküldve",
    "címzett",
    "tárgy",
    "gönderildi",
    "tarih",
    "kime",
    "konu",
    "odesláno",
    "komu",
    "předmět",
    "发送时间",
    "收件人",
    "主题",
    "送信日時",
    "宛先",
    "件名",
];

/// Any field of a header block, bold or not.
static HEADER_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    let names = one_of(FROM_NAMES) + "|" + &one_of(FIELD_NAMES);
    regex(&format!(
        r"(?i)^\s*\*{{0,2}}\s*(?:{names})\s*\*{{0,2}}\s*[:：]"
    ))
});

/// How an attribution header starts when not with an intro word: a weekday abbreviation
/// before a number, or a number (a date).
static DATE_START: LazyLock<Regex> = LazyLock::new(|| regex(r"^\s*(?:\p{L}{1,4}\.?,?\s+\d|\d)"));

/// The word an attribution header starts with: "On", "Le", "Am", "El", "Op", "Il giorno",
/// "In data", "Em", "Den", "På", "W dniu", "Dnia", "Dne", "Kun", "Wiadomość napisana przez".
static INTRO_WORD: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)^\s*(?:on|le|am|el|op|il|il giorno|in data|em|den|på|w dniu|dnia|dne|kun|wiadomość napisana przez)\s",
    )
});

/// The verbs that end an attribution: "… wrote:", "… a écrit :", "… escribió:", "… ha
/// scritto:", "… escreveu:", "… het volgende geschreven:", "… napisał(a):", "… pisze:",
/// "… napsal:", "… kirjoitti:", "… írta:", "… şunu yazdı:", "… написал:", "… пишет:",
/// "…写道：".
const VERBS_AT_END: &[&str] = &[
    r"\bwrote",
    r"\bwrites",
    r"\ba [ée]crit",
    r"\bescribi[óo]",
    r"\bescreveu",
    r"\bha scritto",
    r"\bgeschreven",
    r"\bnapisa[łl](?:\(a\)|a)?",
    r"\bpisze",
    r"\bnapsal(?:\(a\)|a)?",
    r"\bkirjoitti",
    r"\b[íi]rta",
    r"\byazd[ıi]",
    r"написал(?:\(а\)|а)?",
    "пишет",
    "写道",
    "寫道",
];

/// A header that ends with its verb ([`VERBS_AT_END`]) and a colon.
static VERB_AT_END: LazyLock<Regex> = LazyLock::new(|| {
    let verbs = one_of(VERBS_AT_END);
    regex(&format!(r"(?i)(?:{verbs})\s*[:：]\s*$"))
});

/// A header whose verb comes before the name: "Am … schrieb Name <a@b>:", "Op … schreef …:",
/// "Den … skrev …:", "Name ezt írta (időpont: …):".
static VERB_IN_MIDDLE: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)(?:\bschrieb|\bschreef|\bskrev|\bezt írta)\b.*[:：]\s*$"));

/// "… Name <a@b> wrote" without its colon.
static WROTE_NO_COLON: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)[\w.+-]+@[\w.-]+>?\s*(?:wrote|writes)\s*$"));

/// Zoho's attribution between dashes: "---- On Wed, 24 Feb 2021 14:02:50 +0530 a@b wrote ----".
static DASHED_ATTRIBUTION: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)^\s*-{2,}\s*(?:on|le|am|el|op|il|em|den)\s.*\d.*\b(?:wrote|a [ée]crit|schrieb|escribi[óo]|schreef|ha scritto|escreveu|skrev)\b.*-{2,}\s*$",
    )
});

/// The titles of a forwarded message between dashes ("---------- Forwarded message
/// ---------"), in the languages of [`ORIGINAL_TITLES`].
const FORWARDED_TITLES: &[&str] = &[
    "forwarded message",
    "message transféré",
    "weitergeleitete nachricht",
    "mensaje reenviado",
    "doorgestuurd bericht",
    "messaggio inoltrato",
    "mensagem encaminhada",
    "vidarebefordrat meddelande",
    "videresendt (?:meddelelse|melding|besked)",
    "przekazana wiadomość",
    "wiadomość przekazana",
    "пересылаемое сообщение",
    "välitetty viesti",
    "přeposlaná zpráva",
    "továbbított üzenet",
    "iletilen mesaj",
];

/// Apple Mail's line above a forwarded message ("Begin forwarded message:").
const FORWARDED_LINES: &[&str] = &[
    "begin forwarded message",
    "début du message réexpédié",
    "anfang der weitergeleiteten nachricht",
    "inicio del mensaje reenviado",
];

/// The title of a forwarded message.
static FORWARDED: LazyLock<Regex> = LazyLock::new(|| {
    let (titles, lines) = (one_of(FORWARDED_TITLES), one_of(FORWARDED_LINES));
    regex(&format!(
        r"(?i)^\s*(?:[-_=*]{{2,}}\s*(?:{titles})\s*[-_=*]{{2,}}|(?:{lines})\s*:)\s*$"
    ))
});

/// A title between dashes ("-------- Oprindelig besked --------") above a header block.
static DASHED_TITLE: LazyLock<Regex> = LazyLock::new(|| regex(r"^\s*-{2,}\s*[^-\s][^-]*-{2,}\s*$"));

/// Apple Mail in Polish: "Wiadomość napisana przez Name <a@b> w dniu 2.04.2012, o godz. 18:26:".
static POLISH_APPLE: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)^\s*wiadomość napisana przez .*[:：]\s*$"));

/// A verb-less header just above a quote: a date with a time, a name and `<address>:` (Gmail
/// in Russian and Japanese, and its "2014-10-17 11:28 GMT+03:00 Name <a@b>:").
static DATE_ONLY: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)^\s*(?:\p{L}{1,12}\.?,?\s+)?\d.*\d{1,2}[:.]\d{2}.*>\s*[:：]\s*$"));

/// The line a phone or a mail app adds: "Sent from my iPhone", "Sent from Mail for Windows",
/// "Get Outlook for iOS", "Envoyé à partir de Outlook pour iOS", "Von meinem iPhone
/// gesendet", "Gesendet von Outlook für Android", and the same in Spanish, Portuguese, Dutch,
/// Italian, Nordic languages, Polish, Russian, Finnish and Czech, with an optional `<link>`.
/// The device is one to five words, so a sentence ("Sent from my desk, is much easier…") is
/// not one. What follows such a line is signature or history.
const MOBILE_FORMS: &[&str] = &[
    "sent from my {device}",
    "sent from (?:mail|outlook|yahoo mail|aol|samsung|proton ?mail|gmail)(?: {device})?",
    "get outlook for (?:ios|android)",
    "envoyé (?:de|depuis|à partir de|avec) (?:mon )?{device}",
    "von meinem {device} gesendet",
    "gesendet (?:von|mit) (?:meinem )?{device}",
    "enviado (?:desde|do|de|con) (?:mi |meu |o meu )?{device}",
    "(?:verzonden|verstuurd) (?:vanaf|met|van) (?:mijn )?{device}",
    "inviato (?:da|dal) (?:mio )?{device}",
    "skickat från (?:min )?{device}",
    "sendt fra (?:min )?{device}",
    "wysłane z (?:mojego )?{device}",
    "отправлено (?:с|из) (?:моего )?{device}",
    "lähetetty {device}",
    "odesláno z (?:mého )?{device}",
];

/// A device or app name: one to five words.
const DEVICE: &str = r"[\w'’®+-]+(?: [\w'’®+-]+){0,4}";

/// A whole line that is one of [`MOBILE_FORMS`], with an optional `<link>`.
static MOBILE_SIGNATURE: LazyLock<Regex> = LazyLock::new(|| {
    let forms = one_of(MOBILE_FORMS).replace("{device}", DEVICE);
    regex(&format!(r"(?i)^(?:{forms})\.?(?:\s*<[^>]*>)?$"))
});

/// An app's line, counted only as the last line: "Sent with Spark", "Sent via BlueMail",
/// "Sent from TypeApp<link>" (one to four words: "Sent from a magnificent torch of pixels"
/// is the author's own).
static SENT_WITH_APP: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?i)^sent (?:from|with|via) [\w'’®+-]+(?: [\w'’®+-]+){0,3}\.?(?:\s*<[^>]*>)?$")
});

/// A last paragraph that is only "-Name" or "-- Name" (one to three words).
static SIGN_OFF: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(?:-{1,2}|-- )\p{L}[\p{L}\p{M}.']*(?: [\p{L}\p{M}.']+){0,2}$"));

#[cfg(test)]
mod tests;
