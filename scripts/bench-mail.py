#!/usr/bin/env python3
"""A realistic ~100 KiB message for scripts/bench-smtp.sh (smtp-source -F FILE): a reply with a
text part, an HTML part and a 66 KB attachment of incompressible bytes (a scanned PDF, a photo),
base64-encoded as mail clients send it. smtp-source's own -l bodies are one repeated character:
they compress a hundredfold, real mail does not. No Message-ID: smtp-source sends the same file
every time, and Postern would take the copies for duplicates (it derives one from the content
and its Received header, unique per transaction).

Usage: bench-mail.py OUT
"""
import base64
import random
import sys
import textwrap

rng = random.Random(42)
words = ("order invoice delivery customer account payment shipment warehouse quantity price "
         "discount contract renewal support ticket request update schedule meeting report "
         "quarter budget review approval signature attached please find below regards thanks "
         "the a of to and for with on in from by this that your our we you is are").split()


def paragraph(n):
    return " ".join(rng.choice(words) for _ in range(n)).capitalize() + "."


paras = [paragraph(rng.randint(30, 70)) for _ in range(14)]
text = "\r\n\r\n".join(textwrap.fill(p, 72).replace("\n", "\r\n") for p in paras)
html = ("<html><head><style>p{font-family:Arial,sans-serif;font-size:14px;color:#333}</style>"
        "</head><body>" + "".join(
            f'<p style="margin:0 0 12px 0">{p}</p>'
            f'<table><tr><td class="cell">{rng.randint(1000, 9999)}</td>'
            f'<td class="cell">{paragraph(6)}</td></tr></table>\r\n' for p in paras)
        + "</body></html>")
attachment = base64.encodebytes(rng.randbytes(66_000)).decode().replace("\n", "\r\n")
message = f"""From: "Alice Customer" <bench@client.anchor.test>\r
To: <rcpt@gateway.test>\r
Subject: Re: order 4711, signed contract attached\r
Date: Fri, 04 Dec 2026 10:00:00 +0000\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary="mixed-b"\r
\r
--mixed-b\r
Content-Type: multipart/alternative; boundary="alt-b"\r
\r
--alt-b\r
Content-Type: text/plain; charset=utf-8\r
\r
{text}\r
--alt-b\r
Content-Type: text/html; charset=utf-8\r
Content-Transfer-Encoding: 8bit\r
\r
{html}\r
--alt-b--\r
--mixed-b\r
Content-Type: application/pdf; name="contract.pdf"\r
Content-Disposition: attachment; filename="contract.pdf"\r
Content-Transfer-Encoding: base64\r
\r
{attachment}--mixed-b--\r
"""
with open(sys.argv[1], "w", newline="") as f:
    f.write(message)
