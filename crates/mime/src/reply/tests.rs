//! Unit tests of `stripped_text`: each recognised form, in several languages, and what must
//! stay; property tests on arbitrary text.

use super::*;
use proptest::prelude::*;

/// `stripped_text` of `text` is `expected`, with a message naming the case.
#[track_caller]
fn check(text: &str, expected: &str) {
    assert_eq!(stripped_text(text), expected, "input:\n{text}");
}

#[test]
fn text_without_quote_or_signature_is_unchanged() {
    let text = "Hello,\n\nSee you tomorrow at 10:30.\n\n  - bring the slides\n\nAnn";
    check(text, text);
    check("  \n\nHello\n\n\n", "Hello");
    check("Hello\r\nWorld\r\n", "Hello\nWorld");
    check("", "");
    check(" \n\t\n", "");
}

#[test]
fn trailing_quote_goes_with_its_attribution() {
    let header = "On Mon, Apr 2, 2012 at 6:26 PM, Megan One <m@example.com> wrote:";
    check(
        &format!("Thanks!\n\n{header}\n\n> Hi\n> there\n>"),
        "Thanks!",
    );
    check(&format!("Thanks!\n{header}\n> Hi"), "Thanks!");
    // Apple Mail quotes its own header.
    check(
        "Hello\n> On 22 Aug 2015, at 19:21, Adam <a@example.com> wrote:\n>\n> Hi there!\n",
        "Hello",
    );
    // A quote without any header.
    check("Yes.\n\n> Can you come?", "Yes.");
    // Thunderbird's bare "Name wrote:".
    check(
        "Fine by me.\n\nMegan One wrote:\n> Shall we?",
        "Fine by me.",
    );
}

#[test]
fn wrapped_attributions_go_whole() {
    check(
        "I get it.\n\nOn Dec 16, 2011, at 12:47 PM, Corey Donohoe\n<reply@example.com>\nwrote:\n\n> Was this fixed?",
        "I get it.",
    );
    check(
        ":+1:\r\n\r\nOn Tue, Sep 25, 2012 at 8:59 AM, Chris Wanstrath\r\n<n@example.com>wrote:\r\n\r\n> Steps 0-2 are in prod.\r\n",
        ":+1:",
    );
    check(
        "New.\n\nOn Nov 21, 2014,\nat 10:18,\nJohn Doe <john@example.com> wrote:\n\n> Ok.",
        "New.",
    );
    check(
        "Hej\n\ntir. 18. apr. 2017 kl. 13:09 skrev Test user <test@example.com\n>:\n\n> Ok. Thanks.",
        "Hej",
    );
    // A line of the author's just above the header stays.
    check(
        "At 5 then.\nOn Mon, 2 May 2022, Bob <b@example.com> wrote:\n> When?",
        "At 5 then.",
    );
}

/// Gmail, Apple Mail and Thunderbird attributions in several languages.
const ATTRIBUTIONS: &[&str] = &[
    "Le lun. 2 avr. 2012 à 18:26, Megan <m@example.com> a écrit :",
    "Le 02/04/2012 à 18:26, Megan a écrit :",
    "Am Mo., 2. Apr. 2012 um 18:26 Uhr schrieb Megan <m@example.com>:",
    "Am 02.04.2012 um 18:26 schrieb Megan:",
    "El lun., 2 abr. 2012 a las 18:26, Megan (<m@example.com>) escribió:",
    "Op ma 2 apr. 2012 om 18:26 schreef Megan <m@example.com>:",
    "Op 2 apr. 2012 om 18:26 heeft Megan <m@example.com> het volgende geschreven:",
    "Il giorno lun 2 apr 2012 alle ore 18:26 Megan <m@example.com> ha scritto:",
    "Em seg., 2 de abr. de 2012 às 18:26, Megan <m@example.com> escreveu:",
    "Den mån 2 apr. 2012 kl 18:26 skrev Megan <m@example.com>:",
    "Den man. 2. apr. 2012 kl. 18.26 skrev Megan <m@example.com>:",
    "man. 2. apr. 2012 kl. 18:26 skrev Megan <m@example.com>:",
    "pon., 2 kwi 2012 o 18:26 Megan <m@example.com> napisał(a):",
    "W dniu 02.04.2012 o 18:26, Megan pisze:",
    "Wiadomość napisana przez Megan <m@example.com> w dniu 02.04.2012, o godz. 18:26:",
    "пн, 2 апр. 2012 г. в 18:26, Megan <m@example.com>:",
    "02.04.2012 18:26, Megan пишет:",
    "02.04.2012 14:20 пользователь \"Megan\" <m@example.com> написал:",
    "po 2. 4. 2012 v 18:26 odesílatel Megan <m@example.com> napsal:",
    "ma 2.4.2012 klo 18.26 Megan (m@example.com) kirjoitti:",
    "Megan <m@example.com> ezt írta (időpont: 2012. ápr. 2., H, 18:26):",
    "2013.02.08. 7:31 keltezéssel, \"Megan\" írta:",
    "Megan <m@example.com>, 2 Nis 2012 Pzt, 18:26 tarihinde şunu yazdı:",
    "Megan <m@example.com> 于2012年4月2日周一 下午6:26写道：",
    "2012年4月2日(月) 18:26 Megan <m@example.com>:",
];

#[test]
fn attributions_in_several_languages() {
    for header in ATTRIBUTIONS {
        check(&format!("Merci\n\n{header}\n\n> Salut\n> toi\n"), "Merci");
        // Wrapped before the address, as Gmail does past 80 columns.
        if let Some((name, address)) = header.split_once(" <") {
            let wrapped = format!("Merci\n\n{name}\n<{address}\n> Salut");
            check(&wrapped, "Merci");
        }
    }
}

#[test]
fn attribution_above_unquoted_history_cuts() {
    let history = "\n\nVeniam laborum mlkshk kale chips.\nNormcore mumblecore.";
    for header in [
        "Op 13-02-2014 3:18 schreef Julius Caesar <pantheon@example.com>:",
        "On Tue, Apr 11, 2017 at 10:07 PM, John Smith <js@example.com> wrote:",
        "On Wed, 14 Nov 2018 08:14:43 -0200 John Doe <john@example.com> wrote",
        "In data 11 ottobre 2017 21:11:31 \"John Doe\" <jd@example.com> ha scritto:",
        "ср, 30 апр. 2025 г. в 15:19, John Doe <doe@example.com>:",
        "30.09.2017, 18.30, \"John - Doe\" <jd@example.com>:",
        "2014-10-17 11:28 GMT+03:00 Postmaster <postmaster@example.com>:",
        "---- On Wed, 24 Feb 2021 14:02:50 +0530 john@example.com wrote ----",
    ] {
        check(
            &format!("Lorem{history}\n\n{header}{history}"),
            &format!("Lorem{history}"),
        );
    }
}

#[test]
fn lines_that_only_look_like_attributions_stay() {
    for text in [
        "On your remote host you can run:\n\n     telnet 127.0.0.1 52698\n\nThen try.",
        "Blah-blah-blah\nOn blah-blah-blah",
        "On the other hand, we should be careful.\nOn average, this works.",
        "Here are timestamps:\n\n2024-01-15 14:30:25\n15.01.2024 14:30\n\nJust content.",
        "See https://example.com/on-date-someone-wrote: it is good.",
        "In 2020 my colleague wrote:\n\nWe should ship it.\n\nI still agree.",
    ] {
        check(text, text);
    }
}

#[test]
fn original_message_rules_cut() {
    for rule in [
        "-----Original Message-----",
        "----- Original Message -----",
        "-----Ursprüngliche Nachricht-----",
        "-----Message d'origine-----",
        "-----Mensaje original-----",
        "-----Messaggio originale-----",
        "-----Oorspronkelijk bericht-----",
        "-----Mensagem original-----",
        "-----Ursprungligt meddelande-----",
        "-----Oprindelig meddelelse-----",
        "-------- Oprindelig besked --------",
        "-----Opprinnelig melding-----",
        "-----Wiadomość oryginalna-----",
        "-----Исходное сообщение-----",
        "-----Původní zpráva-----",
    ] {
        check(&format!("Reply\n\n\n{rule}\nSome old text\n\nHi"), "Reply");
    }
}

#[test]
fn outlook_header_blocks_cut() {
    for block in [
        "From: CRM <crm@example.com>\nSent: Friday, 23 March 2012 5:08 p.m.\nTo: John\nSubject: Hi",
        "*From:* Sync Team [mailto:noreply@example.com]\n*Sent:* Thursday, February 09, 2012 1:36 PM\n*To:* jow@example.com\n*Subject:* Updated!",
        "De : Company <q@example.com>\nEnvoyé : jeudi 15 décembre 2016 09:35\nÀ : someone@example.fr\nObjet : Question",
        "Von: John Doe <service@example.de>\nGesendet: Donnerstag, 23. März 2023 17:11\nAn: John Doe <service@example.de>\nBetreff: AW: Hi there!",
        "De: Ana <ana@example.es>\nEnviado el: lunes, 2 de abril de 2012 18:26\nPara: Luis\nAsunto: Hola",
        "Van: Company [mailto:q@example.com]\nVerzonden: maandag 5 december 2016 17:00\nAan: someone@example.nl\nOnderwerp: Vraag",
        "Da: Company <q@example.com>\nInviato: martedì 3 gennaio 2017 10:35\nA: someone@example.it\nOggetto: Domanda",
        "From: bob <bob@example.com>\nTo: a <a@example.com>; b <b@example.com>;\n  c <c@example.com>\nSent: Mon, Apr 2, 2012 5:49 pm\nSubject: Test",
    ] {
        check(&format!("Reply\n\n{block}\n\nThe old message."), "Reply");
        check(
            &format!("Reply\n________________________________\n{block}\n\n> Old"),
            "Reply",
        );
    }
    // Outlook's rule above a lone From: line.
    check(
        "Reply\n\n________________________________\nFrom: Ann <a@example.com>\nOld text",
        "Reply",
    );
}

#[test]
fn fields_in_the_text_are_not_a_header_block() {
    for text in [
        "To: all staff\nSubject: lunch\n\nLet's eat at noon.",
        "From: the kitchen\nThe soup is ready.",
        "I parse mail that comes from: john@example.com and from: jane@example.com",
    ] {
        check(text, text);
    }
}

#[test]
fn forwarded_messages_are_kept() {
    let text = "See below.\n\n---------- Forwarded message ---------\nFrom: John <j@example.com>\nDate: Mon, Dec 15, 2024 at 3:00 PM\nSubject: Update\nTo: Team <t@example.com>\n\nThe forwarded content.";
    check(text, text);
    let apple = "FYI\n\nBegin forwarded message:\n\nFrom: John <j@example.com>\nSubject: Update\nDate: 15 December 2024 at 15:00:00 CET\nTo: Team <t@example.com>\n\nContent.";
    check(apple, apple);
}

#[test]
fn inline_replies_are_kept_whole() {
    let kept = "On Tue, Apr 29, 2014 at 4:22 PM, Dev <dev@example.com> wrote:\n\n> Question one?\n\nAnswer one.\n\n> Question two?\n> (really)\n\nAnswer two.";
    check(
        &format!(
            "{kept}\n\n> Thanks,\n> Dev\n>\n> On Mon, 28 Apr 2014, Tim <t@example.com> wrote:\n> > hi\n\n--\nTim"
        ),
        kept,
    );
    // Bottom-posted: the quote the author answers stays.
    let bottom = "Megan One wrote:\n> Shall we meet?\n\nYes, at noon.";
    check(bottom, bottom);
    // Answers without blank lines around them, after short questions.
    let tight = "> Are you coming?\nYes\n> Bringing food?\nNo";
    check(tight, tight);
    check(&format!("{tight}\n> And drinks?"), tight);
}

#[test]
fn quoted_lines_wrapped_without_their_mark_stay_in_the_quote() {
    let text = "Reply\n\nOn Thu, 8 Dec 2016, Company <q@example.com> wrote:\n> Lorem ipsum dolor sit amet, consectetur adipiscing elit. Nullam pharetra d\nignissim odio?\n>\n> Bye";
    check(text, "Reply");
}

#[test]
fn signature_delimiters_cut() {
    check("Hi\n\n-- \nJoe\nAcme Corp", "Hi");
    check("Hi\n--\nJoe", "Hi");
    check(
        "this is an email with a correct -- signature.\n\n-- \nrick",
        "this is an email with a correct -- signature.",
    );
    // A signature above the quoted history, and a quote above the signature.
    check(
        "Hi\n\n-- \nJoe\n\nOn 1 May 2020, Ann <a@example.com> wrote:\n> q",
        "Hi",
    );
    check("Hi\n\n> q\n\n-- \nJoe", "Hi");
    // Not delimiters.
    for text in [
        "And here is a fix -- this is not a signature.",
        "Points:\n-- first point\n-- second point\n\nThanks!",
        "Here is my analysis:\n----\n1. Faster\n----\nThat is all.",
    ] {
        check(text, text);
    }
}

#[test]
fn mobile_signatures_cut() {
    for signature in [
        "Sent from my iPhone",
        "Sent from my Verizon Wireless BlackBerry",
        "Sent from my Wiko RIDGE FAB 4G",
        "Sent from Mail for Windows 10",
        "Sent from Yahoo Mail on Android",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Get Outlook for Android",
        "Envoyé de mon iPhone",
        "Envoyé à partir de Outlook pour iOS<https://aka.ms/o0ukef>",
        "Von meinem iPhone gesendet",
        "Gesendet von Outlook für Android<https://aka.ms/AAb9ysg>",
        "Enviado desde mi iPhone",
        "Enviado do meu iPhone",
        "Verzonden vanaf mijn iPhone",
        "Inviato da iPhone",
        "Skickat från min iPhone",
        "Sendt fra min iPhone",
        "Wysłane z mojego iPhone'a",
        "Отправлено с iPhone",
    ] {
        check(&format!("Sounds good\n\n{signature}"), "Sounds good");
        check(
            &format!("Sounds good\n\n{signature}\n\nOld unquoted text"),
            "Sounds good",
        );
    }
    // Other apps' lines count only as the last line.
    for signature in [
        "Sent with Spark",
        "Sent from TypeApp<http://www.typeapp.com/r?b=2621>",
    ] {
        check(&format!("Sounds good\n\n{signature}"), "Sounds good");
        let text = format!("Sounds good\n\n{signature}\n\nMore of my text");
        check(&text, &text);
    }
    for text in [
        "Here is another email\n\nSent from my desk, is much easier then my mobile phone.",
        "The notification was sent from my iPhone app to all users.",
        "I get proper rendering as well.\n\nSent from a magnificent torch of pixels",
    ] {
        check(text, text);
    }
}

#[test]
fn sign_offs_and_list_footers_go() {
    check(
        "Oh thanks.\n\nThat helps.\n\n-Abhishek Kona\n\n",
        "Oh thanks.\n\nThat helps.",
    );
    check(
        "How do I clear a bucket?\n\n_______________________________________________\nriak-users mailing list\nriak-users@example.com\nhttp://lists.example.com/listinfo/riak-users",
        "How do I clear a bucket?",
    );
    // Bullets and closings stay.
    for text in [
        "Buy:\n- milk\n- eggs",
        "Buy:\n\n-milk\n-eggs",
        "Thanks,\nJoe",
        "-Joe",
    ] {
        check(text, text);
    }
}

#[test]
fn long_and_hostile_input_is_linear() {
    let mut text = String::from("Top\n\nOn 1 May 2020, Ann <a@example.com> wrote:\n");
    text.push_str(&">".repeat(200_000));
    text.push('\n');
    for i in 0..50_000 {
        text.push_str(&format!("> line {i} On 1 May 2020, X wrote:\n"));
    }
    check(&text, "Top");
    // Sign-offs and quotes taking turns: each step of the loop removes one.
    let turns = "\n\n-Ann\n\n> q".repeat(20_000);
    check(&format!("Top{turns}"), "Top");
    // An attribution above unquoted text: all history.
    check(&"On 1 May 2020, Ann wrote:\n".repeat(20_000), "");
    let fields = "To: x\nSubject: y\n".repeat(20_000);
    check(&fields, fields.trim());
}

/// Lines that the splitter reads as markers, mixed with text.
fn reply_line() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec![
            "",
            " ",
            ">",
            "> quoted",
            ">> deeper",
            "Answer.",
            "-- ",
            "--",
            "-Joe",
            "On 1 May 2020, Ann <a@example.com> wrote:",
            "On 1 May 2020, Ann",
            "<a@b.c>",
            "wrote:",
            ">:",
            "Am 2.4.2012 schrieb Megan:",
            "-----Original Message-----",
            "From: A <a@b.c>",
            "Sent: today",
            "To: B",
            "Subject: s",
            "________________",
            "Sent from my iPhone",
            "Sent with Spark",
            "---------- Forwarded message ---------",
            "\r",
            "The soup is ready.",
            "x@y.z",
            "http://list.example.com",
        ])
        .prop_map(str::to_owned),
        "[ -~éß>\\-\r]{0,12}",
    ]
}

proptest! {
    #[test]
    fn never_panics_on_any_text(text in any::<String>()) {
        let _ = stripped_text(&text);
    }

    #[test]
    fn the_result_is_a_trimmed_prefix_of_the_lines(
        lines in proptest::collection::vec(reply_line(), 0..30),
    ) {
        let text = lines.join("\n");
        let out = stripped_text(&text);
        let input: Vec<&str> = text
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .collect();
        // Every output line appears in the input, in order.
        let mut from = 0;
        for line in out.lines() {
            let found = input[from..].iter().position(|l| l.contains(line));
            prop_assert!(found.is_some(), "{line:?} not in the input after line {from}");
            from += found.unwrap_or_default() + 1;
        }
        // More precisely: the output is the first lines of the input, trimmed.
        prop_assert!(
            (0..=input.len()).any(|k| input[..k].join("\n").trim() == out),
            "not a prefix: {out:?}"
        );
    }

    #[test]
    fn stripping_twice_changes_nothing(lines in proptest::collection::vec(reply_line(), 0..30)) {
        let once = stripped_text(&lines.join("\n"));
        prop_assert_eq!(stripped_text(&once), once);
    }
}
